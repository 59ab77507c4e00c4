"""Page layouts. Each page module exposes PATH, TITLE and ``layout``; they are registered here,
after the Dash app exists (Dash requires that order)."""

from __future__ import annotations

import dash

from layouts import admin, estate, meters, models

PAGES = (estate, meters, models, admin)


def register_pages() -> None:
    for page in PAGES:
        dash.register_page(page.__name__, path=page.PATH, title=page.TITLE, layout=page.layout)
