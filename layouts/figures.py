"""Plotly figures of the portal, built from plain data: one look for every plot.

Times arrive as UTC and are drawn as UK wall-clock time (axis titled so). Every figure has a
title, axes with units, hover with time and value, and a legend; long series are drawn with
WebGL (``Scattergl``). ``uirevision`` keeps the user's zoom when a figure is redrawn with new
data (live updates, detail fetched after a zoom).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.tariffs import LONDON

COLOURS = ("#2c7be5", "#e63757", "#00a388", "#f6a609", "#6b5eae", "#39afd1")
#: Traces of at least this many points are drawn with WebGL. Above every plot's own cut
#: (app.asset_view.MAX_POINTS, 2,000), so the asset page draws SVG: its eight figures with
#: fifteen WebGL traces took Chromium without a GPU (software GL) seconds to draw, and a
#: browser keeps only so many WebGL contexts alive at once.
WEBGL_FROM = 5000
TIME_AXIS = "Time (UK)"
# Not "responsive": with it, Dash sizes the graph to its container and drops the figure's own
# height, so after a resize the taller figures collapsed to the container's minimum height.
CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


@dataclass(frozen=True)
class Trace:
    """One line to draw: its name, unit, UTC times and values."""

    name: str
    unit: str
    ts: pd.DatetimeIndex
    values: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit not in DIMENSIONLESS else self.name


#: units that say "a pure number": no "(1)" after a name
DIMENSIONLESS = ("", "1")
#: about how wide a character of an axis title is, in pixels (plotly's default 14 px font)
TITLE_CHAR_PX = 8


def fitted_title(text: str, pixels: float) -> str:
    """``text`` broken into lines (``<br>``) at spaces so that none is longer than ``pixels``
    (a panel's height, for a vertical axis title): the panels of a stacked plot are short, and
    a long title runs into its neighbour's."""
    width = max(8, int(pixels / TITLE_CHAR_PX))
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def uk_times(ts: pd.DatetimeIndex) -> list[str]:
    """UTC times as UK wall-clock ISO strings (what the browser draws, without shifting)."""
    if len(ts) == 0:
        return []
    local = ts.tz_convert(LONDON).tz_localize(None)
    return list(np.datetime_as_string(local.to_numpy(dtype="datetime64[ms]"), unit="ms"))


def values_list(values: np.ndarray) -> list[float | None]:
    """Plain floats (None for gaps): patchable by live updates, unlike base64 typed arrays."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


def line(trace: Trace, colour: str, **kwargs: Any) -> go.Scatter | go.Scattergl:
    return _styled(trace, colour, x=uk_times(trace.ts), y=values_list(trace.values), **kwargs)


def _styled(trace: Trace, colour: str, **kwargs: Any) -> go.Scatter | go.Scattergl:
    """The trace's line without its points unless given (see :func:`_with_points`)."""
    kind = go.Scattergl if len(trace.ts) >= WEBGL_FROM else go.Scatter
    return kind(
        name=trace.label, mode="lines", line={"color": colour, "width": 1.5},
        hovertemplate=f"%{{x|%d %b %Y %H:%M}}<br>%{{y:.4g}} {trace.unit}<extra>{trace.name}</extra>",
        **kwargs,
    )


def _with_points(figure: go.Figure, traces: Sequence[Trace]) -> dict[str, Any]:
    """``figure``, built with a pointless trace for each of ``traces`` in order, as the dict
    Dash sends, with each trace's points put in as plain lists.

    Plotly validates every point of a trace it is given element by element, and validates and
    copies them again when the trace is added to a figure: for the main plot's three traces of
    2,000 points that was 25 of the figure's 47 ms, more than reading the data. The points are
    already clean (:func:`uk_times`, :func:`values_list`), so they skip it; the JSON sent is
    the same.
    """
    out = figure.to_plotly_json()
    for entry, trace in zip(out["data"], traces, strict=True):
        entry["x"], entry["y"] = uk_times(trace.ts), values_list(trace.values)
    return out


_AXIS = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "ticks": "", "title": {"standoff": 15},
         "zerolinecolor": "#EBF0F8", "automargin": True, "zerolinewidth": 2}
#: plotly's "plotly_white" look, only the parts these figures use. Named, the whole template
#: (every trace type's colour scales) is validated into each figure and sent with it: 7 KB and
#: about 10 ms a figure, eight times on the asset page.
LOOK = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
                   "hoverlabel": {"align": "left"}, "colorway": list(COLOURS),
                   "xaxis": _AXIS, "yaxis": _AXIS}}


def _finish(figure: go.Figure, title: str, *, height: int, revision: str) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        template=LOOK,
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        # Shown even for one trace (plotly hides a lone trace's legend): it names what is drawn.
        showlegend=True,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="x unified",
        uirevision=revision,
    )
    return figure


def empty(title: str, message: str, *, height: int = 300) -> go.Figure:
    """A figure that says what is missing and how to get it, instead of blank axes."""
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                          font={"size": 14, "color": "#6e84a3"})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _finish(figure, title, height=height, revision=title)


def stacked(traces: Sequence[Trace], title: str, *, revision: str,
            row_height: int = 200) -> dict[str, Any]:
    """One panel per trace, sharing the time axis (zooming one zooms all). A figure dict: the
    asset page's main plot, where the cost of building it counts (see :func:`_with_points`)."""
    figure = make_subplots(rows=len(traces), cols=1, shared_xaxes=True, vertical_spacing=0.04)
    for row, trace in enumerate(traces, start=1):
        figure.add_trace(_styled(trace, COLOURS[(row - 1) % len(COLOURS)]), row=row, col=1)
        figure.update_yaxes(title_text=fitted_title(trace.label, 0.85 * row_height), row=row, col=1)
    figure.update_xaxes(title_text=TIME_AXIS, row=len(traces), col=1)
    figure = _finish(figure, title, height=80 + row_height * len(traces), revision=revision)
    return _with_points(figure, traces)


def single(trace: Trace, title: str, *, revision: str) -> dict[str, Any]:
    figure = go.Figure(_styled(trace, COLOURS[0]))
    figure.update_xaxes(title_text=TIME_AXIS)
    figure.update_yaxes(title_text=trace.label)
    return _with_points(_finish(figure, title, height=360, revision=revision), [trace])


def side_by_side(left: Trace, right: Trace, title: str, *, revision: str) -> dict[str, Any]:
    """Two plots on one canvas, each with its own axes."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    for col, (trace, colour) in enumerate(((left, COLOURS[0]), (right, COLOURS[1])), start=1):
        figure.add_trace(_styled(trace, colour), row=1, col=col)
        figure.update_xaxes(title_text=TIME_AXIS, row=1, col=col)
        figure.update_yaxes(title_text=trace.label, row=1, col=col)
    figure = _finish(figure, title, height=380, revision=revision)
    figure.update_layout(hovermode="closest")
    return _with_points(figure, [left, right])


def dual_axis(left: Trace, right: Trace, title: str, *, revision: str) -> dict[str, Any]:
    """Two curves on one plot, each with its own Y axis and unit."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(_styled(left, COLOURS[0]), secondary_y=False)
    figure.add_trace(_styled(right, COLOURS[1]), secondary_y=True)
    figure.update_xaxes(title_text=TIME_AXIS)
    figure.update_yaxes(title_text=left.label, secondary_y=False, title_font={"color": COLOURS[0]})
    # Ticks of its own: synced to the left axis's grid they fall on odd values (2.505, 2.879...).
    figure.update_yaxes(title_text=right.label, secondary_y=True, title_font={"color": COLOURS[1]},
                        showgrid=False, tickmode="auto")
    return _with_points(_finish(figure, title, height=380, revision=revision), [left, right])


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of consecutive True in ``finite``."""
    edges = np.diff(np.concatenate(([0], finite.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def band(x: Sequence[str], lower: np.ndarray, upper: np.ndarray) -> tuple[list[str | None], list[float | None]]:
    """The area between ``lower`` and ``upper`` as closed outlines, one per run of times that
    have both, separated by gaps: drawn with ``fill="toself"`` each run is a ribbon of its own.
    (Two lines filled ``tonexty`` would bridge every gap with a diagonal ribbon.)"""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    xs: list[str | None] = []
    ys: list[float | None] = []
    for start, stop in _runs(np.isfinite(lower) & np.isfinite(upper)):
        times = list(x[start:stop])
        xs += times + times[::-1] + [None]
        ys += upper[start:stop].tolist() + lower[start:stop][::-1].tolist() + [None]
    return xs[:-1], ys[:-1]


def forecast(ts: pd.DatetimeIndex, predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             actual: np.ndarray, quantity: str, unit: str, title: str, *, revision: str) -> go.Figure:
    """Forecast with its prediction interval as a band, the actual values, and the residuals
    (actual minus forecast) beneath on the same time axis. Lines and band break where nothing
    was forecast (NaN rows, see ``app.asset_view``); ``quantity`` names the value for the axis."""
    x = uk_times(ts)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    hover = f"%{{x|%d %b %Y %H:%M}}<br>%{{y:.4g}} {unit}"
    band_x, band_y = band(x, lower, upper)
    if band_x:
        figure.add_trace(go.Scatter(x=band_x, y=band_y, mode="lines", line={"width": 0}, fill="toself",
                                    fillcolor="rgba(44,123,229,0.18)", name="Prediction interval",
                                    hoverinfo="skip"), row=1, col=1)
    interval = np.column_stack((values_list(lower), values_list(upper))).tolist() if band_x else None
    within = f"<br>interval %{{customdata[0]:.4g}} to %{{customdata[1]:.4g}} {unit}" if band_x else ""
    figure.add_trace(go.Scatter(x=x, y=values_list(predicted), mode="lines", name="Forecast", connectgaps=False,
                                customdata=interval, line={"color": COLOURS[0], "width": 2},
                                hovertemplate=hover + within + "<extra>forecast</extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(x=x, y=values_list(actual), mode="lines+markers", name="Actual", connectgaps=False,
                                marker={"size": 4}, line={"color": "#12263f", "width": 1},
                                hovertemplate=hover + "<extra>actual</extra>"), row=1, col=1)
    residuals = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    figure.add_trace(go.Bar(x=x, y=values_list(residuals), name="Residual (actual − forecast)",
                            marker={"color": ["#e63757" if r < 0 else "#00a388" for r in np.nan_to_num(residuals)]},
                            hovertemplate=hover + "<extra>residual</extra>"), row=2, col=1)
    said = f" ({unit})" if unit not in DIMENSIONLESS else ""
    figure.update_yaxes(title_text=quantity + said, row=1, col=1)
    figure.update_yaxes(title_text="Actual − forecast" + said, row=2, col=1)
    figure.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    return _finish(figure, title, height=520, revision=revision)


def periods_and_cumulative(ends: Sequence[str], kwh: Sequence[float], cost_pounds: Sequence[float],
                           cumulative_pounds: Sequence[float], title: str, *, revision: str) -> go.Figure:
    """A meter's periods: energy (bars) and cost (bars) per period, cumulative cost as a line
    on a second axis."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Bar(x=list(ends), y=list(kwh), name="Energy (kWh)", marker={"color": COLOURS[0]},
                            hovertemplate="%{x|%d %b %Y}<br>%{y:,.1f} kWh<extra>energy</extra>"), secondary_y=False)
    figure.add_trace(go.Bar(x=list(ends), y=list(cost_pounds), name="Period cost (£)",
                            marker={"color": COLOURS[3]},
                            hovertemplate="%{x|%d %b %Y}<br>£%{y:,.2f}<extra>period cost</extra>"), secondary_y=False)
    figure.add_trace(go.Scatter(x=list(ends), y=list(cumulative_pounds), name="Cumulative cost (£)",
                                mode="lines+markers", line={"color": COLOURS[1], "width": 2},
                                hovertemplate="%{x|%d %b %Y}<br>£%{y:,.2f}<extra>cumulative</extra>"),
                     secondary_y=True)
    figure.update_xaxes(title_text="Reading date (UK)")
    figure.update_yaxes(title_text="Energy (kWh) · period cost (£)", secondary_y=False)
    # Ticks of its own: synced to the energy axis's grid they fall on odd sums (£145, £289...).
    figure.update_yaxes(title_text="Cumulative cost (£)", secondary_y=True, showgrid=False, rangemode="tozero",
                        tickmode="auto", tickprefix="£", tickformat=",.0f")
    figure = _finish(figure, title, height=420, revision=revision)
    figure.update_layout(barmode="group", hovermode="x unified")
    return figure


def _thinned(values: pd.Series, max_points: int) -> tuple[list[str], list[float | None]]:
    """A UTC-indexed series as points to draw: its gaps (NaN) kept where they are, at most
    about ``max_points`` points (MinMaxLTTB, as the sensor plots are thinned)."""
    from app.series import downsample  # the sensor plots' own thinning, so both look alike

    if len(values) > max_points:
        finite = values[np.isfinite(values.to_numpy(dtype=float))]
        ts, kept, _ = downsample(pd.DatetimeIndex(finite.index).as_unit("ns").asi8,
                                 finite.to_numpy(dtype=float), max_points)
        values = pd.Series(kept, index=pd.to_datetime(ts, unit="ns", utc=True))
    return uk_times(pd.DatetimeIndex(values.index)), values_list(values.to_numpy(dtype=float))


def expectation(readings: pd.DataFrame, blocks: pd.DataFrame, threshold: float, name: str, unit: str,
                title: str, *, revision: str, max_points: int = 2000) -> go.Figure:
    """A sensor against what the twin expects of it, on one time axis in three panels: the
    readings and the expectation (``readings``: ``actual``, ``expected``); the residual's
    block means with a band of one standard deviation either side of zero (``blocks``:
    ``residual``, ``sigma``, sensor units); and the drift check's CUSUM statistics (``blocks``:
    ``upper``, ``lower``, standard deviations) against the alarm ``threshold``."""
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.25, 0.30],
                           vertical_spacing=0.05)
    value = f"%{{x|%d %b %Y %H:%M}}<br>%{{y:.4g}} {unit}"
    for column, label, style in (("actual", f"{name} read", {"color": COLOURS[0], "width": 1.5}),
                                 ("expected", "Expected by the twin", {"color": "#12263f", "width": 1.5,
                                                                        "dash": "dot"})):
        x, y = _thinned(readings[column], max_points)
        kind = go.Scattergl if len(x) >= WEBGL_FROM else go.Scatter
        figure.add_trace(kind(x=x, y=y, mode="lines", name=label, line=style,
                              hovertemplate=value + f"<extra>{column}</extra>"), row=1, col=1)
    x = uk_times(pd.DatetimeIndex(blocks.index))
    sigma = blocks["sigma"].to_numpy(dtype=float)
    figure.add_trace(go.Scatter(x=x, y=values_list(sigma), mode="lines", line={"width": 0}, showlegend=False,
                                name="+1 σ", hoverinfo="skip"), row=2, col=1)
    figure.add_trace(go.Scatter(x=x, y=values_list(-sigma), mode="lines", line={"width": 0}, fill="tonexty",
                                fillcolor="rgba(108,117,125,0.18)", name="±1 σ (usual spread)",
                                hoverinfo="skip"), row=2, col=1)
    figure.add_trace(go.Scatter(x=x, y=values_list(blocks["residual"].to_numpy(dtype=float)), mode="lines",
                                name="Residual (read − expected)", line={"color": COLOURS[1], "width": 1.5},
                                hovertemplate=value + "<extra>residual</extra>"), row=2, col=1)
    figure.add_hline(y=0, line={"color": "#6e84a3", "width": 1}, row=2, col=1)
    sigmas = "%{x|%d %b %Y %H:%M}<br>%{y:.3g} σ"
    for column, label, colour in (("upper", "CUSUM, reading high", COLOURS[2]),
                                  ("lower", "CUSUM, reading low", COLOURS[4])):
        figure.add_trace(go.Scatter(x=x, y=values_list(blocks[column].to_numpy(dtype=float)), mode="lines",
                                    name=label, line={"color": colour, "width": 1.5},
                                    hovertemplate=sigmas + f"<extra>{column}</extra>"), row=3, col=1)
    figure.add_hline(y=threshold, line={"color": "#e63757", "width": 1.5, "dash": "dash"},
                     annotation_text=f"alarm threshold h = {threshold:.1f} σ",
                     annotation_position="top left", annotation_font={"color": "#e63757", "size": 12},
                     row=3, col=1)
    peak = float(np.nanmax(blocks[["upper", "lower"]].to_numpy(dtype=float), initial=0.0))
    ceiling = 4 * threshold
    if peak > ceiling:
        # Past the threshold the alarm has fired; drawn to its peak, the threshold would sit on
        # the axis and the moment it was crossed could not be seen.
        figure.update_yaxes(range=[0, ceiling], row=3, col=1)
        figure.add_annotation(text=f"off the scale: peaks at {peak:,.0f} σ", showarrow=False,
                              xref="x3 domain", yref="y3 domain", x=0.99, y=0.98, xanchor="right",
                              yanchor="top", font={"size": 12, "color": "#6e84a3"})
    else:  # the threshold always in sight, with room for its label
        figure.update_yaxes(range=[0, 1.15 * max(peak, threshold)], row=3, col=1)
    figure.update_yaxes(title_text=f"{name} ({unit})" if unit else name, row=1, col=1)
    figure.update_yaxes(title_text=f"Residual ({unit})" if unit else "Residual", row=2, col=1)
    figure.update_yaxes(title_text="CUSUM (σ)", row=3, col=1)
    figure.update_xaxes(title_text=TIME_AXIS, row=3, col=1)
    figure = _finish(figure, title, height=680, revision=revision)
    # Panel by panel, top to bottom (a filled band would turn plotly's default order around).
    figure.update_layout(legend={"traceorder": "normal"})
    return figure
