"""The calm pages for a place that leads nowhere: an address the portal does not know, a page the
user's role may not open, or a thing (an asset, a meter) that is not theirs or no longer there.

Each is a short message and the ways back, shown inside the portal's frame (menu and header stay),
in place of the page. :func:`not_found` and :func:`no_access` are for any page to return from its
layout or a callback; ``layout`` is the page Dash shows for an unknown address.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids

PATH = "/not-found"
TITLE = "Page not found · Energy Twin"
NO_ACCESS_TITLE = "No access · Energy Twin"

#: Where to go from a dead end: (label, path), pages every role may open.
WAYS_BACK = (("Overview", "/"), ("Meters", "/meters"))


def _notice(heading: str, text: str, element_id: str) -> html.Div:
    links = [dcc.Link(name, href=path, className="btn btn-outline-primary btn-sm me-2")
             for name, path in WAYS_BACK]
    return html.Div(
        dbc.Card(dbc.CardBody([
            html.H1(heading, className="h4"),
            html.P(text, className="text-muted"),
            html.Div(links),
        ]), className="shadow-sm"),
        id=element_id,
        className="mx-auto my-4",
        style={"maxWidth": "36rem"},
    )


def not_found(what: str = "page", text: str | None = None) -> html.Div:
    """A calm "not found" for ``what`` (``"page"``, ``"asset"``, ``"meter"``...): nothing says
    whether it belongs to someone else, so another supplier's id reads as one that never was."""
    return _notice(f"This {what} is not here",
                   text or f"The {what} you asked for does not exist, or is not yours to see. "
                           "Check the address, or go back to one of these:",
                   ids.NOT_FOUND)


def no_access(role: str | None = None) -> html.Div:
    """A calm "you do not have access" for a page the user's role may not open."""
    needs = f" It is for {role}s." if role else ""
    return _notice("You do not have access to this page",
                   f"Your role does not include this page.{needs} Ask an administrator of your "
                   "supplier if you need it, or go back to one of these:",
                   ids.NO_ACCESS)


def layout(**_query: str) -> html.Div:
    return not_found()
