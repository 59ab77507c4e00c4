"""The admin page: the supplier's staff and their roles, API tokens, the billing contact, the
tariff book, and the way to the file import.

Components only; ``callbacks.admin`` fills them, for admins only.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids

PATH = "/admin"
ROLE = "admin"  # the least role that may open the page (layouts.required_role)
TITLE = "Administration · Energy Twin"
ROLE_OPTIONS = [
    {"label": "Admin: users, tariffs, API tokens", "value": "admin"},
    {"label": "Operator: enters readings", "value": "operator"},
    {"label": "Viewer: reads only", "value": "viewer"},
]


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.ADMIN_CHANGED, data=0),
            html.H1("Administration", className="h3"),
            html.P("Staff accounts, the billing contact and the tariff book of your supplier.",
                   className="text-muted"),
            html.Div(id=ids.ADMIN_BODY, children=admin_sections()),
        ]
    )


def admin_sections() -> list[object]:
    return [
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("People"), className="bg-white"),
                dbc.CardBody(
                    [
                        html.Div(id=ids.ADMIN_USERS),
                        html.H2("Change a user", className="h6 mt-3"),
                        dbc.Row(
                            [
                                dbc.Col(dcc.Dropdown(id=ids.ADMIN_USER_SELECT, placeholder="User",
                                                     clearable=False), md=4),
                                dbc.Col(dbc.Select(id=ids.ADMIN_ROLE, options=ROLE_OPTIONS), md=4),
                                dbc.Col(dbc.Switch(id=ids.ADMIN_ACTIVE, label="Active", value=True), md=2,
                                        className="pt-2"),
                                dbc.Col(dbc.Button("Save", id=ids.ADMIN_USER_SAVE, color="primary"), md=2),
                            ],
                            className="g-2",
                        ),
                        html.Div(id=ids.ADMIN_USER_RESULT, className="mt-2"),
                        html.H2("Add a user", className="h6 mt-4"),
                        dbc.Row(
                            [
                                dbc.Col(dbc.Input(id=ids.ADMIN_NEW_EMAIL, type="email",
                                                  placeholder="Email", maxLength=254), md=4),
                                dbc.Col(dbc.Input(id=ids.ADMIN_NEW_NAME, placeholder="Name",
                                                  maxLength=200), md=3),
                                dbc.Col(dbc.Select(id=ids.ADMIN_NEW_ROLE, options=ROLE_OPTIONS,
                                                   value="viewer"), md=3),
                                dbc.Col(dbc.Button("Create", id=ids.ADMIN_NEW_CREATE, color="primary"), md=2),
                            ],
                            className="g-2",
                        ),
                        html.Div(id=ids.ADMIN_NEW_RESULT, className="mt-2"),
                    ]
                ),
            ],
            className="shadow-sm mb-3",
        ),
        tokens_card(),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("Plant catalogue"), className="bg-white"),
                dbc.CardBody([
                    html.P("Add and change your sites, assets and sensors: asset types and their "
                           "parameters, formulas, forecast targets; retire what is taken out of service.",
                           className="small text-muted mb-2"),
                    dbc.Button("Open the catalogue…", href="/admin/catalogue", color="primary",
                               outline=True, size="sm"),
                ]),
            ],
            className="shadow-sm mb-3",
        ),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("Import readings"), className="bg-white"),
                dbc.CardBody([
                    html.P("Load sensor or meter readings from a CSV file: map its columns, "
                           "check every row, see the refused ones by line number.",
                           className="small text-muted mb-2"),
                    dbc.Button("Import a file…", href="/admin/import", color="primary",
                               outline=True, size="sm"),
                ]),
            ],
            className="shadow-sm mb-3",
        ),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("Billing contact"), className="bg-white"),
                dbc.CardBody(
                    [
                        html.P("Copied on every cost summary sent from the portal.",
                               className="small text-muted"),
                        dbc.InputGroup(
                            [
                                dbc.Input(id=ids.ADMIN_BILLING_EMAIL, type="email", maxLength=254),
                                dbc.Button("Save", id=ids.ADMIN_BILLING_SAVE, color="primary"),
                            ]
                        ),
                        html.Div(id=ids.ADMIN_BILLING_RESULT, className="mt-2"),
                    ]
                ),
            ],
            className="shadow-sm mb-3",
        ),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("Tariff book"), className="bg-white"),
                dbc.CardBody(html.Div(id=ids.ADMIN_TARIFFS)),
            ],
            className="shadow-sm mb-3",
        ),
    ]


SCOPE_OPTIONS = [
    {"label": "Read: assets, meters, readings, alerts, metrics", "value": "read"},
    {"label": "Write: also send readings and acknowledge alerts", "value": "write"},
    {"label": "Admin: also changes the catalogue (sites, assets, sensors)", "value": "admin"},
]


def tokens_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.Strong("API tokens"), className="bg-white"),
            dbc.CardBody(
                [
                    html.P(["Devices and other systems use the ", html.A("REST API", href="/api/v1/docs",
                                                                        target="_blank"),
                            " with a bearer token. A token sees only this supplier's estate; "
                            "it is shown once, when it is made, and can be revoked at any time."],
                           className="small text-muted"),
                    html.Div(id=ids.ADMIN_TOKENS),
                    html.H2("Make a token", className="h6 mt-3"),
                    dbc.Row(
                        [
                            dbc.Col(dbc.Input(id=ids.ADMIN_TOKEN_NAME, maxLength=100,
                                              placeholder="Who uses it, e.g. Site A gateway"), md=5),
                            dbc.Col(dbc.Select(id=ids.ADMIN_TOKEN_SCOPE, options=SCOPE_OPTIONS,
                                               value="read"), md=5),
                            dbc.Col(dbc.Button("Create", id=ids.ADMIN_TOKEN_CREATE, color="primary"), md=2),
                        ],
                        className="g-2",
                    ),
                    html.Div(id=ids.ADMIN_TOKEN_RESULT, className="mt-2"),
                    revoke_modal(),
                ]
            ),
        ],
        className="shadow-sm mb-3",
    )


def revoke_modal() -> html.Div:
    """The page's own "Revoke this token?" confirmation (not the browser's: that one cannot be
    styled, read the token's name clearly, or be tested like the rest of the page)."""
    return html.Div([
        dcc.Store(id=ids.ADMIN_REVOKE_TARGET),
        dbc.Modal(
            [
                dbc.ModalHeader(dbc.ModalTitle("Revoke this token?")),
                dbc.ModalBody(html.Div(id=ids.ADMIN_REVOKE_TEXT)),
                dbc.ModalFooter([
                    dbc.Button("Cancel", id=ids.ADMIN_REVOKE_CANCEL, color="secondary", outline=True),
                    dbc.Button("Revoke token", id=ids.ADMIN_REVOKE_CONFIRM, color="danger"),
                ]),
            ],
            id=ids.ADMIN_REVOKE_MODAL, is_open=False,
        ),
    ])


def revoke_question(name: str) -> list[object]:
    return ["Revoke the token ", html.Strong(name), "? Anything using it stops working at once; "
            "this cannot be undone."]


def tokens_table(rows: list[tuple[int, bool, tuple[str, ...]]]) -> dbc.Table | html.P:
    """(token id, active, cells) per token; active tokens get a Revoke button, which asks first
    (:func:`revoke_modal`)."""
    if not rows:
        return html.P("No tokens yet.", className="small text-muted mb-0")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Name", "Scope", "Token", "Made by", "Made",
                                                       "Last used", "Status", "")]))
    body = []
    for token_id, active, cells in rows:
        action = dbc.Button("Revoke", id={"type": ids.ADMIN_TOKEN_REVOKE, "index": token_id},
                            color="danger", outline=True, size="sm", n_clicks=0) if active else ""
        body.append(html.Tr([*(html.Td(c) for c in cells), html.Td(action)],
                            className="" if active else "text-muted"))
    return dbc.Table([head, html.Tbody(body)], size="sm", hover=True, responsive=True,
                     className="mb-0")


def users_table(rows: list[tuple[str, ...]]) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th(h) for h in ("Email", "Name", "Role", "Status", "Last sign-in")]))
    return dbc.Table([head, html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                     size="sm", hover=True, responsive=True, className="mb-0")


def tariffs_table(rows: list[tuple[str, ...]]) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th(h) for h in ("Tariff", "Fuel", "Unit rate", "Standing charge",
                                                       "VAT", "Valid from", "Valid to")]))
    return dbc.Table([head, html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                     size="sm", hover=True, responsive=True, className="mb-0")


def admins_only() -> dbc.Alert:
    return dbc.Alert("This page is for your supplier's administrators.", color="secondary")
