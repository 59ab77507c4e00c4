"""Page layouts. Each page module exposes PATH, TITLE and ``layout``, and ROLE when it is not
for every signed-in user; they are registered here, after the Dash app exists (Dash requires
that order).

A page the user's role may not open shows :func:`layouts.not_found.no_access` in its place, and
the menu leaves it out (``layouts.shell``). That is what people see; the protection is on the
server, where each of the page's callbacks checks the role again.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import dash
from flask import has_request_context
from flask_login import current_user

from layouts import (
    admin,
    alerts,
    asset,
    board,
    catalogue,
    emails,
    estate,
    importer,
    meter,
    meters,
    models,
    not_found,
    whatif,
)

PAGES = (estate, board, asset, meters, meter, models, whatif, emails, admin, alerts, importer,
         catalogue)

#: Roles from least to most allowed (``app.web.auth.CurrentUser.can`` orders them the same).
ROLES = ("viewer", "operator", "admin")


def required_role(page: ModuleType) -> str:
    """The least role that may open ``page``: its ROLE; pages under /admin are for admins."""
    return getattr(page, "ROLE", "admin" if page.PATH.startswith("/admin") else "viewer")


def role_for_path(path: str) -> str:
    """The least role that may open the page at ``path`` (a plain path, not a template)."""
    found = next((page for page in PAGES if page.PATH == path), None)
    return "viewer" if found is None else required_role(found)


def may_open(role: str | None, page_role: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(page_role)


def _user_role() -> str | None:
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return current_user.role


def guarded(page: ModuleType) -> Callable[..., Any]:
    """``page.layout``, or the calm "no access" notice for a role that may not open it."""
    role = required_role(page)

    def layout(**kwargs: str) -> Any:
        if not may_open(_user_role(), role):
            return not_found.no_access(role)
        return page.layout(**kwargs)

    return layout


def register_pages() -> None:
    for page in PAGES:
        # A path with <variables> is a template: Dash passes them to ``layout`` as keywords.
        where = {"path_template": page.PATH} if "<" in page.PATH else {"path": page.PATH}
        dash.register_page(page.__name__, title=page.TITLE, layout=guarded(page), **where)
    # Dash shows the page registered under a name ending "not_found_404" for unknown addresses.
    dash.register_page(f"{not_found.__name__}_404", path=not_found.PATH, title=not_found.TITLE,
                       layout=not_found.layout)
