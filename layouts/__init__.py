"""Page layouts. Each page module exposes PATH, TITLE and ``layout``; they are registered here,
after the Dash app exists (Dash requires that order)."""

from __future__ import annotations

import dash

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
    whatif,
)

PAGES = (estate, board, asset, meters, meter, models, whatif, emails, admin, alerts, importer,
         catalogue)


def register_pages() -> None:
    for page in PAGES:
        # A path with <variables> is a template: Dash passes them to ``layout`` as keywords.
        where = {"path_template": page.PATH} if "<" in page.PATH else {"path": page.PATH}
        dash.register_page(page.__name__, title=page.TITLE, layout=page.layout, **where)
