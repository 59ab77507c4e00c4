"""The Board view ("/board"): each site drawn as a plant schematic a non-technical reader
understands at a glance.

Assets are laid out along the flow (``Asset.upstream_id``): the chain's depth runs left to right
(top to bottom on a phone), assets fed by the same one are stacked. Each asset type has its own
simple shape, filled with its health colour and marked with the level's symbol; its name and its
biggest concerns are written next to it and arrows show the flow. An (almost) invisible marker
at each shape's centre carries the asset id: hovering shows the asset, clicking opens its page.

Under the pictures, each site's concerns in a table, worst first: what is wrong in plain words,
what it costs a day, whether it is better or worse than last week, and who looks after it.

Components only; ``callbacks.board`` fills them for the logged-in user's supplier.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from app.health import LEVELS, AssetHealth, Concern, SiteHealth
from app.twins import ASSET_TYPES
from layouts import ids
from layouts.health import LOOKS, badge, no_sites

PATH = "/board"
TITLE = "Board view · Energy Twin"

#: below this window width (Bootstrap's "md") the flow runs top to bottom
NARROW_BELOW = 768
SHAPE_PX = 56  # each asset's shape, in pixels, whatever the figure's size
LINE_PX = 16  # one line of a label, at the labels' size
GAP_PX = 14  # between a label and the shape under it (wide); narrow adds room for an arrow
TITLE_PX = 56
MAX_CONCERNS = 2  # the biggest ones; the asset's page and the Overview list them all
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"


def _rounded(w: float, h: float, r: float) -> list[tuple[str, float, float]]:
    return [("M", -w + r, -h), ("L", w - r, -h), ("Q", w, -h), ("", w, -h + r), ("L", w, h - r),
            ("Q", w, h), ("", w - r, h), ("L", -w + r, h), ("Q", -w, h), ("", -w, h - r),
            ("L", -w, -h + r), ("Q", -w, -h), ("", -w + r, -h), ("Z", 0, 0)]


def _polygon(points: list[tuple[float, float]]) -> list[tuple[str, float, float]]:
    return [("M" if i == 0 else "L", x, y) for i, (x, y) in enumerate(points)] + [("Z", 0, 0)]


# A simple shape per asset type, as path steps around (0, 0) in units of half a shape (all
# symmetric, so it does not matter which way y runs): a board member learns "the hexagon is the
# heat exchanger" once, from the key.
SHAPES: dict[str, list[tuple[str, float, float]]] = {
    "boiler": _polygon([(-0.9, -1), (0.9, -1), (0.9, 1), (-0.9, 1)]),  # a box
    "pressure_tank": _rounded(0.62, 1, 0.6),  # an upright capsule
    "pipeline": _rounded(1.25, 0.42, 0.4),  # a long bar
    "heat_exchanger": _polygon([(math.cos(a) * 1.05, math.sin(a) * 1.05)
                                for a in (i * math.pi / 3 for i in range(6))]),
    "drivetrain": _polygon([(math.cos(a), math.sin(a)) for a in (i * math.pi / 24 for i in range(48))]),
    "water_dispenser": _rounded(0.85, 0.85, 0.5),  # a rounded square
}
DEFAULT_SHAPE = _polygon([(0, -1.1), (1.1, 0), (0, 1.1), (-1.1, 0)])  # a diamond


def _path(asset_type: str) -> str:
    """The type's shape as an SVG path in pixels around its anchor."""
    half = SHAPE_PX / 2
    parts = []
    for command, x, y in SHAPES.get(asset_type, DEFAULT_SHAPE):
        if command == "Z":
            parts.append("Z")
        else:
            parts.append(f"{command}{x * half:.1f},{y * half:.1f}")
    return " ".join(parts)


@dataclass(frozen=True)
class Placed:
    asset: AssetHealth
    depth: int  # steps from the start of its chain
    slot: float  # position among the stacked ones (a parent sits between its children)


def arrange(assets: list[AssetHealth]) -> list[Placed]:
    """Place a site's assets: depth along the flow, slots across it (a tidy tree).

    Each chain starts at an asset with no upstream (or one outside this site); leaves take the
    next free slot in order, and a parent sits midway between its first and last child, so
    the arrows fan out from it. A loop in the data cannot hang the layout: an asset is placed
    once, and assets only reachable through a loop start chains of their own.
    """
    by_id = {a.id: a for a in assets}
    children: dict[int, list[AssetHealth]] = {}
    for a in assets:
        if a.upstream_id in by_id and a.upstream_id != a.id:
            children.setdefault(a.upstream_id, []).append(a)
    placed: dict[int, Placed] = {}
    next_slot = 0.0

    def place(asset: AssetHealth, depth: int) -> float:
        nonlocal next_slot
        placed[asset.id] = Placed(asset, depth, -1)  # claimed: a loop back here stops
        kids = [c for c in children.get(asset.id, []) if c.id not in placed]
        slots = [place(c, depth + 1) for c in kids]
        if slots:
            slot = (slots[0] + slots[-1]) / 2
        else:
            slot, next_slot = next_slot, next_slot + 1
        placed[asset.id] = Placed(asset, depth, slot)
        return slot

    roots = [a for a in assets if a.upstream_id not in by_id or a.upstream_id == a.id]
    for root in roots:
        place(root, 0)
    for a in assets:  # only reachable through a loop
        if a.id not in placed:
            place(a, 0)
    return [placed[a.id] for a in assets]


def _wrap(text: str, width: int) -> str:
    # Names come from people: escaped, so plotly draws them rather than reading tags in them.
    return "<br>".join(escape(line) for line in textwrap.wrap(text, max(width, 10)))


#: The schematic's short label of a concern whose own label is jargon.
SHORT_WORDS = {"forecast": "Forecast being retrained (no action needed)"}


def short_concerns(asset: AssetHealth) -> list[str]:
    """The asset's concerns as short labels a board member reads without help."""
    if not asset.details:
        return asset.concerns
    return [SHORT_WORDS.get(c.kind, c.text) for c in asset.details]


def _label(asset: AssetHealth, width: int) -> str:
    look = LOOKS[asset.level]
    lines = [f"<b>{_wrap(asset.name, width)}</b>"]
    concerns = short_concerns(asset)[:MAX_CONCERNS] or [look.word]
    lines += [f"<span style='color:#444'>{_wrap(c, width)}</span>" for c in concerns]
    if len(asset.concerns) > MAX_CONCERNS:
        lines.append(f"<span style='color:#777'>+{len(asset.concerns) - MAX_CONCERNS} more</span>")
    return "<br>".join(lines)


def _hover(asset: AssetHealth) -> str:
    look = LOOKS[asset.level]
    concerns = "".join(f"<br>• {escape(c)}" for c in short_concerns(asset))
    return (f"<b>{escape(asset.name)}</b><br>{asset.type_label}<br>Health: {look.symbol} {look.word}"
            f"{concerns}<br><i>Click to open</i>")


def site_figure(site: SiteHealth, window_width: int | None = None) -> go.Figure:
    """The site's schematic, drawn for a browser window ``window_width`` pixels wide."""
    narrow = window_width is not None and window_width < NARROW_BELOW
    placed = arrange(site.assets)
    depths = max((p.depth for p in placed), default=0) + 1
    slots = max((p.slot for p in placed), default=0) + 1
    columns = slots if narrow else depths
    plot_px = _plot_width(site, window_width)
    # ~6.5 px a character at the labels' size; a label may use most of its column
    chars = int(plot_px / max(columns, 1) * 0.9 / 6.5)

    def xy(p: Placed) -> tuple[float, float]:
        return (p.slot, -p.depth) if narrow else (p.depth, -p.slot)

    fig = go.Figure()
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    positions = {p.asset.id: xy(p) for p in placed}
    labels = {p.asset.id: _label(p.asset, chars) for p in placed}
    # Rows are as tall as the tallest label needs, so no label runs into the shape below it.
    label_px = max(_label_height(text) for text in labels.values()) if labels else 0
    levels_px = label_px + SHAPE_PX / 2 + GAP_PX + (36 if narrow else 0)
    x_px = plot_px / max(columns, 1)
    for p in placed:
        x, y = positions[p.asset.id]
        upstream = p.asset.upstream_id
        if upstream in positions and upstream != p.asset.id:
            ux, uy = positions[upstream]
            annotations.append(dict(
                x=x, y=y, ax=ux, ay=uy, xref="x", yref="y", axref="x", ayref="y", text="",
                showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2.5, arrowcolor="#6c757d",
                standoff=SHAPE_PX / 2 + 6,
                startstandoff=_clearance(labels[upstream], (x - ux) * x_px, (y - uy) * levels_px),
            ))
    for p in placed:
        x, y = positions[p.asset.id]
        look = LOOKS[p.asset.level]
        shapes.append(dict(
            type="path", path=_path(p.asset.asset_type), xref="x", yref="y",
            xsizemode="pixel", ysizemode="pixel", xanchor=x, yanchor=y,
            fillcolor=look.colour, line=dict(color="#343a40", width=2), layer="above",
        ))
        annotations.append(dict(x=x, y=y, xref="x", yref="y", text=f"<b>{look.symbol}</b>",
                                showarrow=False, font=dict(size=22, color=look.ink)))
        annotations.append(dict(
            x=x, y=y, xref="x", yref="y", text=labels[p.asset.id], showarrow=False,
            yanchor="top", yshift=-(SHAPE_PX / 2 + 6), align="center", font=dict(size=12, color="#212529"),
        ))
    fig.add_trace(go.Scatter(
        x=[positions[p.asset.id][0] for p in placed], y=[positions[p.asset.id][1] for p in placed],
        # White at 1 % opacity: invisible on the white paper, yet plotly still hovers and clicks it.
        mode="markers", marker=dict(size=SHAPE_PX, symbol="square", color="rgba(255,255,255,0.01)",
                                    line=dict(width=0)),
        customdata=[p.asset.id for p in placed], hovertext=[_hover(p.asset) for p in placed],
        hoverinfo="text", hoverlabel=dict(bgcolor="white", font=dict(size=13)), showlegend=False,
        name="assets",
    ))
    along = depths if narrow else slots  # rows of the figure
    # Below the last row, room for its labels; above the first, for its shape.
    below_px = max((_label_height(labels[p.asset.id]) - (along - 1 - row) * levels_px
                    for p, row in ((p, p.depth if narrow else p.slot) for p in placed)), default=label_px)
    below = (below_px + 8) / levels_px
    above = (SHAPE_PX / 2 + 10) / levels_px
    height = int(TITLE_PX + (along - 1 + below + above) * levels_px)
    x_span = (-0.5, columns - 0.5)
    fig.update_layout(
        title=dict(text=_title(site), x=0.01, xanchor="left", font=dict(size=17, color="#212529")),
        shapes=shapes, annotations=annotations, height=height,
        margin=dict(l=8, r=8, t=TITLE_PX, b=0), plot_bgcolor="white", paper_bgcolor="white",
        font=dict(family=FONT), hovermode="closest", dragmode=False,
        xaxis=dict(visible=False, range=list(x_span), fixedrange=True),
        yaxis=dict(visible=False, range=[-(along - 1) - below, above], fixedrange=True),
    )
    return fig


def _clearance(label: str, dx_px: float, dy_px: float) -> float:
    """How far along an arrow from an asset's centre it must start to clear the asset's shape
    and the label written under it (an arrow running downwards would cross the label)."""
    shape = SHAPE_PX / 2 + 6
    if dy_px >= 0:
        return shape
    lines = label.split("<br>")
    below = _label_height(label) + 4
    half_width = max(len(re.sub(r"<[^>]+>", "", line)) for line in lines) * 3.4 + 6
    length = math.hypot(dx_px, dy_px)
    through_bottom = below * length / -dy_px
    through_side = half_width * length / abs(dx_px) if dx_px else math.inf
    return max(shape, min(through_bottom, through_side))


def _label_height(label: str) -> float:
    """From an asset's centre to the bottom of the label under it, in pixels."""
    return SHAPE_PX / 2 + 6 + LINE_PX * (label.count("<br>") + 1)


def _title(site: SiteHealth) -> str:
    worrying = sum(1 for a in site.assets if a.level != "green")
    status = "all assets healthy" if not worrying else (
        f"{worrying} of {len(site.assets)} assets need{'s' if worrying == 1 else ''} attention")
    where = f"{site.location} · " if site.location else ""
    return (f"<b>{escape(site.name)}</b><br>"
            f"<span style='font-size:13px;color:#555'>{escape(where)}{status}</span>")


def _columns(site: SiteHealth) -> int:
    """How many of the 12 grid columns a site takes on a wide screen: its chain's length."""
    depth = max((p.depth for p in arrange(site.assets)), default=0) + 1
    return min(12, max(4, 2 * depth))


def _plot_width(site: SiteHealth, window_width: int | None) -> float:
    window = window_width or 1280
    if window < NARROW_BELOW:
        return window - 56  # page and card padding
    return min(window, 1400) * _columns(site) / 12 - 56


def site_card(site: SiteHealth, window_width: int | None) -> dbc.Col:
    """A site's card: its schematic, or what to do when it has no assets."""
    if not site.assets:
        where = f" · {site.location}" if site.location else ""
        body = dbc.CardBody([
            html.H2([site.name, html.Span(where, className="text-muted fw-normal")], className="h6"),
            html.P("No assets on this site yet. An administrator adds them, each with the asset it "
                   "is fed from; the picture draws itself from that.", className="text-muted mb-0"),
        ])
        return dbc.Col(dbc.Card(body, className="shadow-sm h-100"), xs=12, lg=4, className="mb-3")
    figure = site_figure(site, window_width)
    graph = dcc.Graph(
        id={"type": ids.BOARD_FIGURE, "site": site.id}, figure=figure,
        config={"displayModeBar": False, "responsive": True, "scrollZoom": False},
        style={"height": f"{figure.layout.height}px", "cursor": "pointer"},
    )
    return dbc.Col(dbc.Card(dbc.CardBody(graph, className="p-1"), className="shadow-sm h-100"),
                   xs=12, lg=_columns(site), className="mb-3")


def headline(sites: list[SiteHealth]) -> dbc.Alert:
    """One sentence for the whole estate, coloured like its worst asset."""
    assets = [a for s in sites for a in s.assets]
    red = sum(1 for a in assets if a.level == "red")
    amber = sum(1 for a in assets if a.level == "amber")
    if red:
        text, color = f"{red} of {len(assets)} assets need action now" + (
            f", and {amber} more need attention." if amber else "."), "danger"
    elif amber:
        text, color = f"No asset needs action now; {amber} of {len(assets)} need attention.", "warning"
    else:
        text, color = f"All {len(assets)} assets are healthy.", "success"
    return dbc.Alert(text, color=color, className="fw-semibold py-2")


def _icon(asset_type: str) -> html.Img:
    """The type's shape as a small picture, for the key."""
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='-38 -31 76 62'>"
           f"<path d='{_path(asset_type)}' fill='#ced4da' stroke='#343a40' stroke-width='3'/></svg>")
    return html.Img(src="data:image/svg+xml;utf8," + quote(svg), alt="", width=30, height=24,
                    className="me-1")


def legend() -> dbc.Card:
    """What the colours, symbols, shapes and arrows mean."""
    levels = [
        html.Div([badge(level), html.Span(f" {LOOKS[level].meaning}", className="small")],
                 className="me-4 mb-1")
        for level in ("green", "amber", "red")
    ]
    shapes = [html.Span([_icon(t), ASSET_TYPES[t].label], className="me-3 text-nowrap d-inline-block")
              for t in SHAPES if t in ASSET_TYPES]
    return dbc.Card(dbc.CardBody([
        html.Div(levels, className="d-flex flex-wrap"),
        html.Div(shapes + [html.Span("→ arrows show the flow; click an asset to open its page.")],
                 className="small text-muted mt-1"),
    ], className="py-2"), className="mb-3")


def _cost(concern: Concern) -> float:
    return float(concern.impact.pence_per_day or 0) if concern.impact else 0.0


def ranked(site: SiteHealth) -> list[tuple[AssetHealth, Concern]]:
    """Every concern of the site's assets, worst first: by level, then what it costs a day,
    then its weight."""
    pairs = [(a, c) for a in site.assets for c in a.details]
    return sorted(pairs, key=lambda p: (-LEVELS.index(p[1].level), -_cost(p[1]), -p[1].weight, p[0].name))


MEDIUM = "d-none d-md-table-cell"  # shown from Bootstrap's "md" up
TREND_MARKS = {"worse": "▲", "better": "▼", "same": "=", "new": "●"}


def _trend(concern: Concern) -> html.Td:
    if concern.trend is None:
        return html.Td("—", className="text-muted")
    mark = TREND_MARKS[concern.trend.direction]
    tone = {"worse": "text-danger", "better": "text-success"}.get(concern.trend.direction, "")
    return html.Td([html.Span(mark, className=f"me-1 {tone}", **{"aria-hidden": "true"}), concern.trend.text])


def _impact(concern: Concern) -> html.Td:
    """The gist first, in bold when it costs money; the whole story under it."""
    if concern.impact is None:
        return html.Td("Not estimated.", className="text-muted")
    found = concern.impact
    # a figure (money, energy, water) stands out; "no cost" and "not estimated" do not
    figure = found.kwh_per_day or found.headline.startswith("About")
    gist = html.Div(found.gist, className="fw-semibold" + ("" if figure else " text-muted"))
    # "No direct energy cost. Risk: ..." under "No direct energy cost" says it twice
    rest = found.text.removeprefix(found.gist + ". ") if found.gist else found.text
    return html.Td([gist, html.Div(rest, className="text-muted")])


def _owner(site: SiteHealth) -> html.Td:
    found = site.contacts
    if not found:
        return html.Td(site.owner, className="text-muted")
    # one address a line, never broken inside: a reader copies it
    return html.Td([html.Div(a, className="text-nowrap") for a in found])


def _concern_item(asset: AssetHealth, concern: Concern, site: SiteHealth) -> dbc.ListGroupItem:
    """One concern as a block of lines, for a phone: a table's columns would be too narrow."""
    def line(label: str, cell: html.Td) -> html.Div:
        return html.Div([html.Span(f"{label}: ", className="fw-semibold"), *cell.children], className="mt-1")

    impact = concern.impact
    return dbc.ListGroupItem([
        html.Div([badge(concern.level), " ",
                  dcc.Link(asset.name, href=f"/assets/{asset.id}", className="fw-semibold")]),
        html.Div(concern.words, className="mt-1"),
        html.Div([html.Span("Impact a day: ", className="fw-semibold"),
                  impact.text if impact else "not estimated."], className="mt-1"),
        line("Trend", _trend(concern)),
        html.Div([html.Span("Owner: ", className="fw-semibold"), site.owner], className="mt-1 text-break"),
    ], className="board-concern small")


def concerns_card(site: SiteHealth, narrow: bool = False) -> dbc.Card:
    """A site's concerns, worst first: what is wrong, its impact a day, its trend, its owner
    (a table; on a phone, a list)."""
    where = f" · {site.location}" if site.location else ""
    header = dbc.CardHeader([html.Strong(site.name), html.Span(where, className="text-muted")],
                            className="bg-white")
    pairs = ranked(site)
    if not pairs:
        body: Any = dbc.CardBody(("All assets healthy: nothing to act on." if site.assets else
                                  "No assets on this site yet."), className="text-muted py-2")
        return dbc.Card([header, body], className="shadow-sm mb-3")
    if narrow:
        items = dbc.ListGroup([_concern_item(a, c, site) for a, c in pairs], flush=True,
                              id={"type": ids.BOARD_CONCERNS, "site": site.id})
        return dbc.Card([header, items], className="shadow-sm mb-3")
    # A window that narrows later gets the badge in the asset's cell: one column fewer to scroll.
    head = html.Thead(html.Tr([html.Th("Health", className=MEDIUM), html.Th("Asset"), html.Th("What is wrong"),
                               html.Th("Estimated impact a day"), html.Th("Trend (this week vs last)"),
                               html.Th("Owner")]))
    rows = [
        html.Tr([
            html.Td(badge(c.level), className=MEDIUM),
            html.Td([html.Div(badge(c.level), className="d-md-none mb-1"),
                     dcc.Link(a.name, href=f"/assets/{a.id}", className="fw-semibold")]),
            html.Td(c.words),
            _impact(c),
            _trend(c),
            _owner(site),
        ], className="board-concern")
        for a, c in pairs
    ]
    table = dbc.Table([head, html.Tbody(rows)], responsive=True, hover=True,
                      className="mb-0 align-middle small", id={"type": ids.BOARD_CONCERNS, "site": site.id})
    return dbc.Card([header, table], className="shadow-sm mb-3")


def concerns_section(ordered: list[SiteHealth], narrow: bool = False) -> html.Div:
    """Every site's concerns table, in the pictures' order."""
    return html.Div([
        html.H2("What needs attention, and does it matter?", className="h4 mt-2"),
        html.P("Costs are estimates from the twin's own measurements, priced at today's unit rate "
               "of your electricity or gas tariff (including VAT): electricity for electric "
               "assets, gas for gas-fired heat. The owner is the site's maintenance contact.",
               className="text-muted small"),
        *[concerns_card(s, narrow) for s in ordered],
    ])


def board(sites: list[SiteHealth], window_width: int | None) -> list[Any]:
    """The whole board: the headline, the legend, one card per site and the sites' concerns."""
    if not sites:
        return [no_sites("Nothing to draw yet.", "The board view draws each of your sites")]
    # The sites most in need first: a reader who only looks at the top sees what matters.
    ordered = sorted(sites, key=lambda s: -max((a.score for a in s.assets), default=-1))
    pictures = dbc.Row([site_card(s, window_width) for s in ordered])
    if window_width is not None and window_width < NARROW_BELOW:
        # On a phone the key would fill the first screen: the pictures come first.
        return [headline(sites), pictures, concerns_section(ordered, narrow=True), legend()]
    return [headline(sites), legend(), pictures, concerns_section(ordered)]


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.BOARD_WIDTH),
            dcc.Location(id=ids.BOARD_LOCATION, refresh="callback-nav"),
            html.H1("Board view", className="h3"),
            dbc.Spinner(html.Div(id=ids.BOARD_SITES), color="primary"),
        ]
    )
