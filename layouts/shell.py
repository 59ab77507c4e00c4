"""The app shell: navigation bar with the signed-in user, and the page container."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids


def navbar() -> dbc.Navbar:
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Energy Twin", href="/"),
                # On a phone the links fold behind a menu button instead of filling the screen.
                dbc.NavbarToggler(id=ids.NAV_TOGGLE, n_clicks=0),
                dbc.Collapse(dbc.Nav(
                    [
                        dbc.NavItem(dbc.NavLink("Overview", href="/", active="exact")),
                        dbc.NavItem(dbc.NavLink("Board", href="/board", active="exact")),
                        dbc.NavItem(dbc.NavLink("Alerts", href="/alerts", active="exact")),
                        dbc.NavItem(dbc.NavLink("Meters", href="/meters", active="exact")),
                        dbc.NavItem(dbc.NavLink("Models", href="/models", active="exact")),
                        dbc.NavItem(dbc.NavLink("What-if", href="/whatif", active="exact")),
                        dbc.NavItem(dbc.NavLink("Emails", href="/emails", active="exact")),
                        dbc.NavItem(dbc.NavLink("Admin", href="/admin", active="exact")),
                        dbc.NavItem(dbc.NavLink("Sign out", href="/logout", external_link=True)),
                    ],
                    className="ms-auto",
                    navbar=True,
                ), id=ids.NAV_COLLAPSE, is_open=False, navbar=True),
            ],
            fluid=True,
        ),
        color="primary",
        dark=True,
        expand="lg",
        className="mb-4",
    )


def shell() -> html.Div:
    return html.Div(
        [
            dcc.Location(id=ids.URL),
            navbar(),
            dbc.Container(dash.page_container, fluid=True),
        ]
    )
