"""The Board view: every site of the logged-in user's supplier drawn as a schematic; a click on
an asset opens its page (only ever for one of the supplier's own assets)."""

from __future__ import annotations

import dash
from dash import ALL, Input, Output, ctx, no_update
from flask_login import current_user

from app.db.base import utcnow
from app.health import estate_health
from app.model_registry import AssetNotFound, owned_asset
from app.web.context import db_session, twin
from layouts import board as page
from layouts import ids


def register(app: dash.Dash) -> None:
    # The figures are laid out for the window's width (top to bottom on a phone), which only
    # the browser knows.
    app.clientside_callback(
        "function(_pathname) { return window.innerWidth; }",
        Output(ids.BOARD_WIDTH, "data"),
        Input(ids.URL, "pathname"),
    )

    @app.callback(Output(ids.BOARD_SITES, "children"), Input(ids.BOARD_WIDTH, "data"))
    def draw(width):  # type: ignore[no-untyped-def]
        sites = estate_health(db_session(), twin().db.sensors_engine, current_user.supplier_id, utcnow())
        return page.board(sites, width if isinstance(width, int) else None)

    @app.callback(
        Output(ids.BOARD_LOCATION, "pathname"),
        Input({"type": ids.BOARD_FIGURE, "site": ALL}, "clickData"),
        prevent_initial_call=True,
    )
    def open_asset(clicks):  # type: ignore[no-untyped-def]
        # Only the figure just clicked counts: the others keep their last clickData.
        clicked = ctx.triggered[0]["value"] if ctx.triggered else None
        try:
            asset_id = int(clicked["points"][0]["customdata"])
        except (TypeError, KeyError, IndexError, ValueError):
            return no_update
        # The id comes from the browser: open it only if it is one of the supplier's assets.
        try:
            asset = owned_asset(db_session(), current_user.supplier_id, asset_id)
        except AssetNotFound:
            return no_update
        return f"/assets/{asset.id}"
