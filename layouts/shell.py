"""The app shell: navigation bar with the pages the signed-in user's role can open, and the page
container. Built for each page load (Dash calls :func:`shell` per request), so a role change
shows in the menu at the next load."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask import has_request_context
from flask_login import current_user

import layouts
from layouts import ids

#: The menu: (label, path) of the pages people go to from anywhere.
MENU = (
    ("Overview", "/"),
    ("Board", "/board"),
    ("Alerts", "/alerts"),
    ("Meters", "/meters"),
    ("Models", "/models"),
    ("What-if", "/whatif"),
    ("Emails", "/emails"),
    ("Admin", "/admin"),
)


def menu(role: str | None) -> list[tuple[str, str]]:
    """The menu entries ``role`` may open (none but Overview's way home for no role)."""
    return [(name, path) for name, path in MENU
            if layouts.may_open(role, layouts.role_for_path(path))]


def _role() -> str | None:
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return current_user.role


def navbar(role: str | None = None) -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(name, href=path, active="exact")) for name, path in menu(role)]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Energy Twin", href="/"),
                # On a phone the links fold behind a menu button instead of filling the screen.
                dbc.NavbarToggler(id=ids.NAV_TOGGLE, n_clicks=0),
                dbc.Collapse(dbc.Nav(
                    [
                        *links,
                        dbc.NavItem(dbc.NavLink("Sign out", href="/logout", external_link=True)),
                    ],
                    id=ids.NAV_MENU,
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
            navbar(_role()),
            dbc.Container(dash.page_container, fluid=True),
        ]
    )
