"""The navigation bar's menu button on narrow screens (in the browser: no server round trip)."""

from __future__ import annotations

import dash
from dash import Input, Output, State

from layouts import ids


def register(app: dash.Dash) -> None:
    # Opens and closes on the button; closes again when the page changes.
    app.clientside_callback(
        """function (clicks, path, isOpen) {
            const trigger = dash_clientside.callback_context.triggered.map(t => t.prop_id)[0] || "";
            return trigger.startsWith("nav-toggle") ? !isOpen : false;
        }""",
        Output(ids.NAV_COLLAPSE, "is_open"),
        Input(ids.NAV_TOGGLE, "n_clicks"),
        Input(ids.URL, "pathname"),
        State(ids.NAV_COLLAPSE, "is_open"),
    )
