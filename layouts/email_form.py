"""The "Email summary" form, used on the meters page and in the reading modal."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

SCOPES = [{"label": "This meter", "value": "meter"}, {"label": "The whole account", "value": "account"}]
PERIODS = [{"label": "This month so far", "value": "month_to_date"}, {"label": "Last month", "value": "last_month"}]


def key(component: str, where: str) -> dict[str, str]:
    return {"type": component, "where": where}


def toggle(where: str, **kwargs: object) -> dbc.Button:
    return dbc.Button("Email summary…", id=key(ids.EMAIL_TOGGLE, where), color="secondary",
                      outline=True, **kwargs)


def form(where: str) -> dbc.Collapse:
    return dbc.Collapse(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div("Email a cost summary to you and to your billing contact.",
                             className="small text-muted mb-2"),
                    dbc.Row(
                        [
                            dbc.Col(dbc.RadioItems(id=key(ids.EMAIL_SCOPE, where), options=SCOPES,
                                                   value="meter", inline=True, className="small"), md="auto"),
                            # As wide as its longest choice: a fixed column cut "This month so far".
                            dbc.Col(dbc.Select(id=key(ids.EMAIL_PERIOD, where), options=PERIODS,
                                               value="month_to_date", size="sm",
                                               style={"minWidth": "11rem"}), xs=12, md="auto"),
                            dbc.Col(dbc.Button("Send", id=key(ids.EMAIL_SEND, where), color="primary",
                                               size="sm"), md="auto"),
                        ],
                        className="g-2 align-items-center",
                    ),
                    html.Div(id=key(ids.EMAIL_RESULT, where), className="mt-2 small"),
                ]
            ),
            className="mt-2",
        ),
        id=key(ids.EMAIL_FORM, where),
        is_open=False,
    )
