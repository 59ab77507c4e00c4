"""The import page (admins): upload a CSV of sensor or meter readings, check its first lines and
which column is which, choose the time zone, Import; a progress bar while the workers import
it, then what was stored and every refused line.

Components only; ``callbacks.importer`` fills them, for admins only. The page's component ids
are here (not in ``layouts.ids``) with the page that owns them.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.importer import FIELDS, ImportReport
from app.plain_text import file_size

PATH = "/admin/import"
ROLE = "admin"  # the least role that may open the page (layouts.required_role)
TITLE = "Import readings · Energy Twin"

BODY = "import-body"
KIND = "import-kind"
UPLOAD = "import-upload"
UPLOAD_LIMIT = "import-upload-limit"
FILE_NOTE = "import-file-note"
STAGED = "import-staged"
PREVIEW = "import-preview"
TZ = "import-tz"
RUN = "import-run"
JOB = "import-job"
POLL = "import-poll"
PROGRESS = "import-progress"
PROGRESS_TEXT = "import-progress-text"
REPORT = "import-report"
DOWNLOAD_REFUSED = "import-download-refused"
DOWNLOAD = "import-download"

#: Every field either kind of file has, in the order the page lists them.
MAP_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f.name for kind in FIELDS.values() for f in kind))
#: Refused lines listed on the page (the CSV download has them all).
SHOWN_REFUSALS = 200
KIND_OPTIONS = [{"label": "Sensor readings (plant)", "value": "sensors"},
                {"label": "Meter readings (customers)", "value": "meters"}]
TZ_OPTIONS = [{"label": "UK clock time (Europe/London)", "value": "Europe/London"},
              {"label": "UTC", "value": "UTC"}]
HIDDEN = {"display": "none"}


def map_id(field: str) -> str:
    return f"import-map-{field}"


def map_row_id(field: str) -> str:
    return f"import-map-row-{field}"


def _labels(field: str) -> str:
    found = {f.label for kind in FIELDS.values() for f in kind if f.name == field}
    return " / ".join(sorted(found))


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=STAGED),
            dcc.Store(id=JOB),
            dcc.Interval(id=POLL, interval=1000, disabled=True),
            dcc.Download(id=DOWNLOAD),
            html.H1("Import readings", className="h3"),
            html.P("Load sensor or meter readings from a CSV file. Lines that cannot be stored are "
                   "listed by line number and the others are stored; importing the same file again "
                   "changes nothing.", className="text-muted"),
            html.Div(id=BODY, children=sections()),
        ]
    )


def sections() -> list[Any]:
    return [
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("1. The file"), className="bg-white"),
                dbc.CardBody(
                    [
                        dbc.RadioItems(id=KIND, options=KIND_OPTIONS, value="sensors", inline=True,
                                       className="mb-2"),
                        dcc.Upload(
                            id=UPLOAD, accept=".csv,text/csv,text/plain", multiple=False,
                            children=html.Div(["Drop a CSV file here, or ",
                                               html.A("choose one", href="#", className="link-primary")]),
                            className="border border-2 rounded text-center p-4 bg-light",
                            style={"borderStyle": "dashed", "cursor": "pointer"},
                        ),
                        html.Div(id=UPLOAD_LIMIT, className="small text-muted mt-1"),
                        html.Div(id=FILE_NOTE, className="mt-2"),
                    ]
                ),
            ],
            className="shadow-sm mb-3",
        ),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("2. Its first lines, and which column is which"),
                               className="bg-white"),
                dbc.CardBody(
                    [
                        html.Div("Upload a file to see its first lines.", id=PREVIEW,
                                 className="text-muted mb-3"),
                        dbc.Row([_map_row(field) for field in MAP_FIELDS], className="g-2"),
                        dbc.Row(
                            dbc.Col([dbc.Label("Times written without an offset are", html_for=TZ,
                                               className="small mb-0"),
                                     dbc.Select(id=TZ, options=TZ_OPTIONS, value="Europe/London"),
                                     html.Div("A time that the clocks make happen twice or never "
                                              "in UK time is refused: give its offset "
                                              "(e.g. +01:00).", className="small text-muted")],
                                    md=6),
                            className="mt-3",
                        ),
                    ]
                ),
            ],
            className="shadow-sm mb-3",
        ),
        dbc.Row(
            [
                dbc.Col(dbc.Button("Import", id=RUN, color="primary", disabled=True, className="w-100"),
                        xs=12, md=2, className="mb-2"),
                dbc.Col([dbc.Progress(id=PROGRESS, value=0, style={"height": "1.25rem"}),
                         html.Div(id=PROGRESS_TEXT, className="small text-muted mt-1")], xs=12, md=10),
            ],
            className="mb-3",
        ),
        dbc.Card(
            [
                dbc.CardHeader(
                    dbc.Row([dbc.Col(html.Strong("3. What was imported")),
                             dbc.Col(dbc.Button("Download refused lines (CSV)", id=DOWNLOAD_REFUSED,
                                                color="secondary", outline=True, size="sm",
                                                disabled=True), width="auto")],
                            align="center"),
                    className="bg-white"),
                dbc.CardBody(html.Div("Nothing imported yet.", id=REPORT, className="text-muted")),
            ],
            className="shadow-sm mb-3",
        ),
    ]


def _map_row(field: str) -> dbc.Col:
    return dbc.Col(
        [dbc.Label([html.Code(field), " ", html.Span(_labels(field), className="text-muted")],
                   html_for=map_id(field), className="small mb-0"),
         dcc.Dropdown(id=map_id(field), placeholder="(not in the file)", clearable=True)],
        id=map_row_id(field), md=6, style=HIDDEN,
    )


def file_note(filename: str, size: int, columns: tuple[str, ...] | list[str]) -> html.Div:
    count = len(columns)
    return html.Div([html.Strong(filename),
                     f" · {file_size(size)} · {count} column{'s' * (count != 1)}"],
                    className="small")


def upload_limit(limit: int) -> list[object]:
    """What the upload takes here, and the command for larger files (as code, not backticks)."""
    return [f"CSV, UTF-8, up to {file_size(limit)} here. Larger files: ",
            html.Code("twin import sensors FILE.csv"), " (or ", html.Code("twin import meters FILE.csv"),
            ") on the server, which takes any size."]


def preview_table(columns: list[str], rows: list[list[str]]) -> dbc.Table:
    width = len(columns)
    head = html.Thead(html.Tr([html.Th("line", className="text-muted")] + [html.Th(c) for c in columns]))
    body = html.Tbody([html.Tr([html.Td(str(n + 2), className="text-muted")]
                               + [html.Td(v) for v in (row + [""] * width)[:width]])
                       for n, row in enumerate(rows)])
    return dbc.Table([head, body], size="sm", bordered=True, responsive=True, className="mb-0 small")


def problem(text: str) -> dbc.Alert:
    return dbc.Alert(text, color="danger", className="mb-0 py-2")


def _stat(label: str, value: int, colour: str) -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="small text-muted"),
                                          html.Div(f"{value:,}", className=f"h4 mb-0 text-{colour}")],
                                         className="py-2")), xs=6, md=3)


def report_view(report: ImportReport, filename: str) -> html.Div:
    """Counts, then the refused lines: line, column, what is wrong and the line's values."""
    stats = [_stat("Lines read", report.lines, "body"), _stat("Stored", report.stored, "success")]
    if report.kind == "meters":
        stats.append(_stat("Already stored", report.already_stored, "secondary"))
    stats.append(_stat("Refused", report.refused_rows, "danger" if report.refused_rows else "body"))
    how = (f"{filename}: {report.kind} read with {', '.join(f'{k} = {v!r}' for k, v in report.mapping.items())}; "
           f"times without an offset in {report.tz}; {report.seconds:.1f} s.")
    parts: list[Any] = [dbc.Row(stats, className="g-2 mb-2"), html.P(how, className="small text-muted")]
    if report.repeated:
        parts.append(html.P(f"{report.repeated:,} lines repeated the sensor and time of another line: "
                            "the later one is stored.", className="small"))
    if not report.refused_rows:
        parts.append(dbc.Alert("Every line was stored.", color="success", className="mb-0"))
        return html.Div(parts)
    shown = report.refusals[:SHOWN_REFUSALS]
    columns = list(report.mapping.values())
    head = html.Thead(html.Tr([html.Th("Line"), html.Th("Column"), html.Th("Problem")]
                              + [html.Th(c, className="text-muted") for c in columns]))
    body = html.Tbody([html.Tr([html.Td(r.line), html.Td(r.field), html.Td(r.message)]
                               + [html.Td(r.raw.get(c, ""), className="text-muted") for c in columns])
                       for r in shown])
    more = (f"The first {len(shown):,} of {report.problems:,} problems; the download has them all."
            if report.problems > len(shown) else
            "The refused lines were not stored; the other lines were. Correct them and import "
            "the corrected lines (or the whole file again).")
    parts += [html.P(more, className="small"),
              dbc.Table([head, body], size="sm", hover=True, responsive=True, className="mb-0 small")]
    return html.Div(parts)

