"""The meters page: the supplier's TOTAL, the meters grid, and the reading modal.

Components only; ``callbacks.meters`` fills them. Amounts arrive formatted: sorting and
filtering happen on the server, so the grid needs no formatting code in the browser.
"""

from __future__ import annotations

from collections.abc import Iterable

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import email_form, ids

PATH = "/meters"
TITLE = "Meters · Energy Twin"
PAGE_SIZE = 50
EXPLANATIONS_BLOCK = f"{ids.READING_LOWER_MEANS}-block"  # the causes offered, hidden when none

_TEXT = {"filter": "agTextColumnFilter", "filterParams": {"filterOptions": ["contains", "equals", "startsWith"], "maxNumConditions": 1}}
_NUMBER = {"filter": "agNumberColumnFilter", "filterParams": {"filterOptions": ["greaterThan", "lessThan", "inRange", "equals"], "maxNumConditions": 1}, "type": "rightAligned"}

# The key columns first, so a laptop screen shows them all: Meter (pinned, so it stays in view
# when the grid scrolls sideways on a phone), Customer, Fuel, the last reading, when it was read
# and the costs. Then the rest, reached by scrolling the grid. Widths fit their longest value
# ("28 Nov 2026 14:05", "£12,345.67") with the header's sort and menu icons; Address takes what
# is left on a wide screen.
COLUMNS = [
    {"field": "serial", "headerName": "Meter", "pinned": "left", "width": 130, "minWidth": 110,
     "lockPinned": True, **_TEXT},
    {"field": "customer", "headerName": "Customer", "width": 170, "minWidth": 130, **_TEXT},
    {"field": "fuel", "headerName": "Fuel", "width": 110, **_TEXT},
    {"field": "last_value", "headerName": "Last reading", "width": 150, **_NUMBER},
    {"field": "last_read_at", "headerName": "Read on", "width": 170, "minWidth": 170, "filter": False},
    {"field": "period_cost", "headerName": "Cost this period", "width": 155, **_NUMBER},
    {"field": "cost_to_date", "headerName": "Cost to date", "width": 140, **_NUMBER},
    {"field": "period_kwh", "headerName": "kWh this period", "width": 150, **_NUMBER},
    {"field": "last_kind", "headerName": "Type", "width": 105, **_TEXT},
    {"field": "tariff", "headerName": "Tariff", "width": 105, **_TEXT},
    {"field": "address", "headerName": "Address", "flex": 1, "minWidth": 240, **_TEXT},
]


def paged_grid(grid_id: str, columns: list[dict[str, object]], height: str, **options: object) -> dag.AgGrid:
    """A grid whose rows the server sends a page of :data:`PAGE_SIZE` at a time, sorted and
    filtered there (the infinite row model): the Meters page's and a meter's readings."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowModelType="infinite",
        defaultColDef={"sortable": True, "resizable": True, "floatingFilter": True},
        dashGridOptions={"pagination": True, "paginationPageSize": PAGE_SIZE, "paginationPageSizeSelector": False,
                         "cacheBlockSize": PAGE_SIZE, "maxBlocksInCache": 4, **options},
        getRowId="params.data.id",
        style={"height": height},
    )


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.METERS_SAVED, data=0),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H1("Meters", className="h3"),
                            html.P("Select a meter and enter its reading; costs follow the "
                                   "supplier's dated tariffs.", className="text-muted mb-0"),
                        ],
                        md=7,
                    ),
                    dbc.Col(html.Div(id=ids.METERS_TOTAL), md=5),
                ],
                className="mb-3 align-items-end",
            ),
            html.Div(
                [
                    dbc.Button("Enter reading", id=ids.METERS_ENTER, color="primary",
                               disabled=True, className="me-2"),
                    dbc.Button("Costs and history", id=ids.METERS_OPEN, color="secondary", outline=True,
                               disabled=True, className="me-2"),
                    email_form.toggle("page", disabled=True, className="me-2"),
                    html.Span("Select a meter in the grid first.", id=ids.METERS_NOTICE,
                              className="text-muted small"),
                    email_form.form("page"),
                ],
                className="mb-2",
            ),
            paged_grid(ids.METERS_GRID, COLUMNS, "560px",
                       rowSelection={"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}),
            reading_modal(),
            saved_toast(),
        ]
    )


def saved_toast() -> dbc.Toast:
    """The confirmation of a saved reading: it stays until dismissed (the next save replaces it),
    so it can be read after the modal has closed."""
    return dbc.Toast(
        id=ids.READING_TOAST,
        header="Reading saved",
        icon="success",
        is_open=False,
        dismissable=True,
        duration=None,
        # Bottom right, clear of the TOTAL it changed; opaque, over the grid.
        className="reading-toast bg-white shadow",
        style={"position": "fixed", "bottom": "1rem", "right": "1rem", "width": "min(24rem, 92vw)",
               "zIndex": 1090},
    )


def saved_message(serial: str, reading: str, read_on: str, period: str | None) -> list[html.P]:
    """The toast's words: which meter, the reading with its unit, and the period it closed."""
    lines = [html.P([html.Strong(f"Meter {serial}: "), f"{reading} read on {read_on}."],
                    className="mb-1")]
    lines.append(html.P(period or "The meter's first reading: there is no period to price yet.",
                        className="mb-0"))
    return lines


def total_card(total: str, period: str, meters: int, period_label: str) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div("TOTAL to date", className="text-muted small text-uppercase"),
                html.Div(total, id="supplier-total", className="display-6 fw-semibold"),
                html.Div(f"{meters:,} meters · {period} this billing period ({period_label})",
                         className="small text-muted"),
            ]
        ),
        className="shadow-sm text-end",
    )


def reading_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dcc.Store(id=ids.READING_STORE),
            dcc.Store(id=ids.READING_SETTLED),
            dbc.ModalHeader(dbc.ModalTitle("New meter reading")),
            dbc.ModalBody(
                dbc.Row(
                    [
                        dbc.Col(html.Div(id=ids.READING_DETAILS), lg=5, className="border-end"),
                        dbc.Col(
                            [
                                dbc.Label("New reading", html_for=ids.READING_VALUE,
                                          className="fw-semibold"),
                                dbc.Input(id=ids.READING_VALUE, type="text", inputMode="decimal",
                                          autoComplete="off", placeholder="e.g. 012345",
                                          debounce=False, maxLength=20),
                                html.Div(
                                    [
                                        html.Span("Read at ", className="text-muted"),
                                        html.Span(id=ids.READING_AT_TEXT),
                                        dbc.Button("Back-date", id=ids.READING_BACKDATE, color="link",
                                                   size="sm", className="ms-1 p-0 align-baseline"),
                                    ],
                                    className="small mt-1",
                                ),
                                dbc.Collapse(
                                    dbc.Input(id=ids.READING_AT, type="datetime-local", className="mt-1"),
                                    id=f"{ids.READING_AT}-collapse",
                                    is_open=False,
                                ),
                                # What a warned reading needs (its cause and a reason) comes
                                # right under the input, above the cost table, so it is in view
                                # without scrolling when it appears.
                                dbc.Collapse(
                                    [
                                        html.Div(id=ids.READING_WARNINGS),
                                        html.Div(
                                            [
                                                dbc.Label("What explains it?",
                                                          html_for=ids.READING_LOWER_MEANS,
                                                          className="small fw-semibold mb-1"),
                                                dbc.RadioItems(id=ids.READING_LOWER_MEANS, options=[],
                                                               value=None, className="small mb-2"),
                                            ],
                                            id=EXPLANATIONS_BLOCK,
                                            hidden=True,
                                        ),
                                        dbc.Label("Reason (required to save this reading)",
                                                  html_for=ids.READING_REASON, className="small fw-semibold mb-1"),
                                        dbc.Input(id=ids.READING_REASON, type="text", maxLength=500,
                                                  placeholder="e.g. customer's photo of the meter"),
                                    ],
                                    id=ids.READING_CONFIRM,
                                    is_open=False,
                                    className="mt-2",
                                ),
                                html.Div(id=ids.READING_PREVIEW, className="mt-3"),
                                html.Div(id=ids.READING_RESULT, className="mt-2"),
                                email_form.form("modal"),
                            ],
                            lg=7,
                        ),
                    ]
                )
            ),
            dbc.ModalFooter(
                [
                    email_form.toggle("modal", className="me-auto"),
                    html.Span(id=ids.READING_SAVE_HINT, className="small text-muted text-end me-2",
                              **{"aria-live": "polite"}),
                    dbc.Button("Cancel", id=ids.READING_CANCEL, color="secondary", outline=True),
                    dbc.Button("Save reading", id=ids.READING_SAVE, color="primary", disabled=True),
                ]
            ),
        ],
        id=ids.READING_MODAL,
        is_open=False,
        size="xl",
        backdrop="static",
        scrollable=True,
    )


def details(rows: Iterable[tuple[str, str]]) -> html.Dl:
    """Read-only facts of the meter (nothing here is editable)."""
    items: list[html.Dt | html.Dd] = []
    for label, value in rows:
        items.append(html.Dt(label, className="col-5 text-muted fw-normal small"))
        items.append(html.Dd(value, className="col-7 mb-1 small"))
    return html.Dl(items, className="row mb-0")


def preview(lines: Iterable[tuple[str, str, str]], *, errors: list[str], warnings: list[str],
            notes: Iterable[str] = ()) -> html.Div:
    """The live cost preview (lines of key, label, value), and the problems with the reading;
    ``notes`` say what is still to do (keep typing, choose a cause) before there is a cost."""
    children: list[object] = []
    for message in notes:
        children.append(dbc.Alert(message, color="info", className="py-2 mb-2 reading-note"))
    for message in errors:
        children.append(dbc.Alert(message, color="danger", className="py-2 mb-2 reading-error"))
    for message in warnings:
        children.append(dbc.Alert(message, color="warning", className="py-2 mb-2 reading-warning"))
    rows = [html.Tr([html.Td(label), html.Td(value, className="text-end fw-semibold", id=f"preview-{key}")])
            for key, label, value in lines]
    if rows:
        children.append(dbc.Table(html.Tbody(rows), size="sm", className="mb-0", id="reading-costs"))
    return html.Div(children)


def warning_alerts(messages: Iterable[str]) -> list[dbc.Alert]:
    """Why the reading needs explaining, shown above its cause and reason."""
    return [dbc.Alert(m, color="warning", className="py-2 mb-2 small reading-warning") for m in messages]
