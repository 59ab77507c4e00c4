"""The estate page: the supplier's customers, meters, sites and assets, and how fresh their data is.

The layout is empty cards; ``callbacks.estate`` fills them for the logged-in user's supplier.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

PATH = "/"
TITLE = "Estate · Energy Twin"


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Estate", className="h3"),
            html.P("Your customers' meters and your plant, with the time of the latest data.",
                   className="text-muted"),
            dbc.Spinner(html.Div(id=ids.ESTATE_SUMMARY), color="primary"),
            html.H2("Sites", className="h4 mt-4"),
            html.Div(id=ids.ESTATE_SITES),
        ]
    )
