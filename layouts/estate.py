"""The Overview page ("/"): the supplier's figures, every asset by how worrying it is, and the
sites.

The layout is empty containers; ``callbacks.estate`` fills them for the logged-in user's supplier
with the builders below.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component

from app.health import AssetHealth, SiteHealth
from layouts import ids
from layouts.health import badge, no_sites

PATH = "/"
TITLE = "Overview · Energy Twin"

#: formats a UTC time for display, or says there is none (``callbacks.formatting.when``)
When = Callable[[datetime | None], str]

# Columns that only fit a wide screen; on a phone the concerns say the same in words, and the
# health badge moves into the asset's cell.
WIDE = "d-none d-lg-table-cell"
MEDIUM = "d-none d-md-table-cell"


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Overview", className="h3"),
            html.P("Your customers' meters and your plant: which assets need attention first, "
                   "and why.", className="text-muted"),
            dbc.Spinner(html.Div(id=ids.ESTATE_SUMMARY), color="primary"),
            html.Div(id=ids.ESTATE_SITES),
        ]
    )


def stat(label: str, value: str, note: str = "") -> dbc.Col:
    """One figure of the stats row, with its label and a note under it."""
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(label, className="text-muted small"),
                    html.Div(value, className="fs-3 fw-semibold"),
                    html.Div(note, className="small text-muted"),
                ]
            ),
            className="shadow-sm h-100",
        ),
        xs=6, lg=3, className="mb-3",
    )


def _alerts(asset: AssetHealth) -> str:
    parts = []
    if asset.open_alerts_critical:
        parts.append(f"{asset.open_alerts_critical} critical")
    if asset.open_alerts_warning:
        parts.append(f"{asset.open_alerts_warning} warning")
    return ", ".join(parts) or "None"


#: Units that mean "a pure number" (app/twins: the drivetrain's wear is one)
UNITLESS = ("", "1", "fraction", None)


def damage_text(asset: AssetHealth) -> str:
    """The asset's damage figure in words with its unit, and against its limit: e.g.
    "Wear index 20.7 (no unit) · no limit set", "Time above rated temperature 3.2 h · 85 %
    of its limit"; "—" without one."""
    if asset.damage is None:
        return "—" if asset.damage_label is None else "Not calculated yet"
    if asset.damage_unit in UNITLESS:
        text = f"{asset.damage_label} index {asset.damage:,.3g} (no unit)"
    else:
        text = f"{asset.damage_label} {asset.damage:,.3g} {asset.damage_unit}"
    if asset.damage_fraction is not None:
        return text + f" · {asset.damage_fraction * 100:.0f} % of its limit"
    return text + " · no limit set"


def _damage(asset: AssetHealth) -> html.Td:
    # What the figure is, under it: a bare number means nothing to a reader.
    meaning = [html.Div(asset.damage_meaning.capitalize() + ".", className="text-muted")] \
        if asset.damage_meaning and asset.damage is not None else []
    return html.Td([html.Div(damage_text(asset)), *meaning], className=WIDE)


def _concerns(asset: AssetHealth) -> html.Td:
    if not asset.concerns:
        return html.Td("No concerns", className="text-muted")
    words = [c.words for c in asset.details] or asset.concerns
    return html.Td(html.Ul([html.Li(w) for w in words], className="mb-0 ps-3"))


def concerns_table(assets: list[AssetHealth], when: When) -> dbc.Card:
    """Every asset, worst first (as given), each with its health and the reasons in words."""
    head = html.Tr([
        html.Th("Health", className=MEDIUM), html.Th("Asset"), html.Th("Concerns"),
        html.Th("Open alerts", className=WIDE), html.Th("Forecasts", className=WIDE),
        html.Th("Damage", className=WIDE), html.Th("Latest data", className=WIDE),
    ])
    rows = [
        html.Tr([
            html.Td(badge(a.level), className=MEDIUM),
            html.Td([
                html.Div(badge(a.level), className="d-md-none mb-1"),
                dcc.Link(a.name, href=f"/assets/{a.id}", className="fw-semibold"),
                html.Div(f"{a.site_name} · {a.type_label}", className="small text-muted"),
            ]),
            _concerns(a),
            html.Td(_alerts(a), className=WIDE),
            html.Td(a.forecast_words or a.model_status, className=WIDE),
            _damage(a),
            html.Td(when(a.latest_reading_at), className=WIDE),
        ])
        for a in assets
    ]
    if not rows:
        body: Component = dbc.CardBody(
            "Your sites have no assets yet. An administrator adds assets to a site, with their "
            "sensors; their health shows here as soon as they exist.", className="text-muted")
    else:
        body = dbc.Table([html.Thead(head), html.Tbody(rows)], hover=True, responsive=True,
                         className="mb-0 align-middle small")
    return dbc.Card(
        [dbc.CardHeader(html.Strong("Assets by concern"), className="bg-white"), body],
        className="shadow-sm mb-4",
    )


def _count(site: SiteHealth, level: str) -> int:
    return sum(1 for a in site.assets if a.level == level)


def site_cards(sites: list[SiteHealth]) -> dbc.Row:
    """One small card per site: where it is and how many of its assets are at each level."""
    cards = []
    for site in sites:
        if site.assets:
            counts = [html.Span([badge(level), f" {_count(site, level)}"], className="me-3 text-nowrap")
                      for level in ("red", "amber", "green") if _count(site, level)]
            body = [html.Div(counts, className="mb-1"),
                    html.Div(f"{len(site.assets)} assets, "
                             f"{sum(a.sensors for a in site.assets)} sensors", className="small text-muted")]
        else:
            body = [html.Div("No assets yet: an administrator adds them to this site.",
                             className="small text-muted")]
        cards.append(dbc.Col(dbc.Card([
            dbc.CardHeader([html.Strong(site.name),
                            html.Span(f" · {site.location}" if site.location else "", className="text-muted")],
                           className="bg-white"),
            dbc.CardBody(body),
        ], className="shadow-sm h-100"), xs=12, md=6, xl=4, className="mb-3"))
    return dbc.Row(cards)


def plant(sites: list[SiteHealth], assets: list[AssetHealth], when: When) -> list[Component]:
    """The plant part of the page: assets by concern, then the sites."""
    if not sites:
        return [no_sites("No sites yet.", "The plant's health shows here")]
    return [
        concerns_table(assets, when),
        html.H2("Sites", className="h4"),
        html.P(["The ", dcc.Link("Board view", href="/board"), " draws each site as a picture."],
               className="text-muted small"),
        site_cards(sites),
    ]
