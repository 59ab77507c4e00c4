"""The asset page: every plot reads the range and channels the user chose, for their supplier.

A visit draws the whole page in one request (:func:`draw`: the header, every picker's options
and first choice, every plot); after that each control redraws only what it changes, and a
range change redraws every plot of the range, each in its own request so they run side by
side. The main plot (up to three sensors on one time axis) fetches detail again when the user
zooms (its ``relayoutData``) and appends new readings every few seconds with a ``Patch``, so
the user's zoom and the rest of the figure stay as they are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, Patch, State, dcc, no_update

from app.asset_view import channel_series, model_key, pipeline_batches
from app.series import load_tail
from app.tariffs import LONDON
from app.web.context import db_session, twin
from callbacks import asset_figures as show
from callbacks.asset_figures import Page, asset, chosen_range, zoomed_range
from callbacks.metrics import performance
from layouts import asset as page
from layouts import figures, ids
from layouts import metrics as metrics_card
from layouts.not_found import not_found

__all__ = ["chosen_range", "zoomed_range", "register"]

log = logging.getLogger(__name__)

def draw(asset_id: Any, preset: str = page.DEFAULT_RANGE) -> Any:
    """The page's body for ``asset_id`` with every plot drawn for ``preset``; a calm not-found
    for any other id."""
    info = asset(asset_id)
    if info is None:
        return not_found("asset")
    view = Page.of(info, preset)
    batches = pipeline_batches(db_session(), info)
    first = show.first_choices(info, batches)
    stacked, store = show.stacked(view, first.sensors)
    pair, dual = show.pair(view, *first.pair)
    forecast, forecast_notes = show.forecast(view, first.target)
    residuals, residual_note = show.expectation(view, first.expectation)
    tiles, note = performance(view)
    everything = show.options(info.channels)
    pickers = {
        ids.ASSET_SENSORS: (show.options(info.sensors), first.sensors),
        ids.ASSET_SINGLE_CHANNEL: (everything, first.single),
        ids.ASSET_PAIR_A: (everything, first.pair[0]),
        ids.ASSET_PAIR_B: (everything, first.pair[1]),
        ids.ASSET_TARGET: ([{"label": f"{t.replace('_', ' ')} · {mode}", "value": model_key(t, mode)}
                            for t, mode in info.models], first.target),
        ids.ASSET_RESIDUAL_SENSOR: ([{"label": c.label, "value": c.name} for c in info.sensors], first.expectation),
        ids.ASSET_BATCH: ([{"label": b.label, "value": b.id} for b in batches], first.batch),
    }
    drawn = {ids.ASSET_STACKED: stacked, ids.ASSET_SINGLE: show.single(view, first.single),
             ids.ASSET_CALCS: show.calculations(view), ids.ASSET_PAIR: pair, ids.ASSET_DUAL: dual,
             ids.ASSET_FORECAST: forecast, ids.ASSET_RESIDUALS: residuals,
             ids.ASSET_BATCH_GRAPH: show.batch(view, first.batch, batches)}
    notes = {ids.ASSET_FORECAST_METRICS: forecast_notes, ids.ASSET_RESIDUAL_NOTE: residual_note}
    return page.body(show.header(info), drawn, pickers, notes, metrics_card.card(tiles, note), store, preset)


def _page(asset_id: Any, preset: str | None, custom_start: str | None, custom_end: str | None) -> Page | None:
    info = asset(asset_id)
    return None if info is None else Page.of(info, preset, custom_start, custom_end)


GONE = "This asset is not available."


def register(app: dash.Dash) -> None:
    @app.callback(Output(ids.ASSET_BODY, "children"), Input(ids.ASSET_ID, "data"),
                  State(ids.ASSET_FIRST_RANGE, "data"))
    def visit(asset_id, preset):  # type: ignore[no-untyped-def]
        return draw(asset_id, preset if preset in show.SPANS else page.DEFAULT_RANGE)

    # Every callback below is the user's doing: the first draw is done by ``visit``.
    app.clientside_callback(
        "function (preset) { return preset === 'custom'; }",
        Output(ids.ASSET_CUSTOM_COLLAPSE, "is_open"),
        Input(ids.ASSET_RANGE, "value"),
        prevent_initial_call=True,
    )

    range_inputs = (Input(ids.ASSET_RANGE, "value"), Input(ids.ASSET_CUSTOM, "start_date"),
                    Input(ids.ASSET_CUSTOM, "end_date"))
    range_state = (State(ids.ASSET_RANGE, "value"), State(ids.ASSET_CUSTOM, "start_date"),
                   State(ids.ASSET_CUSTOM, "end_date"))
    asset_id = State(ids.ASSET_ID, "data")

    @app.callback(
        Output(ids.ASSET_STACKED, "figure"),
        Output(ids.ASSET_VIEW, "data"),
        *range_inputs, Input(ids.ASSET_SENSORS, "value"), asset_id,
        prevent_initial_call=True,
    )
    def main_plot(preset, custom_start, custom_end, keys, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        if view is None:
            return figures.empty("Sensors", GONE), None
        return show.stacked(view, keys)

    @app.callback(
        Output(ids.ASSET_STACKED, "figure", allow_duplicate=True),
        Output(ids.ASSET_VIEW, "data", allow_duplicate=True),
        Input(ids.ASSET_STACKED, "relayoutData"),
        asset_id, *range_state, State(ids.ASSET_SENSORS, "value"),
        prevent_initial_call=True,
    )
    def zoom_plot(relayout, asset_id_, preset, custom_start, custom_end, keys):  # type: ignore[no-untyped-def]
        zoom = zoomed_range(relayout)
        if zoom is None:
            return no_update, no_update
        view = _page(asset_id_, preset, custom_start, custom_end)
        if view is None:
            return figures.empty("Sensors", GONE), None
        return show.stacked(view, keys, zoom)

    @app.callback(
        Output(ids.ASSET_STACKED, "figure", allow_duplicate=True),
        Output(ids.ASSET_VIEW, "data", allow_duplicate=True),
        Output(ids.ASSET_LIVE_NOTE, "children"),
        Input(ids.ASSET_LIVE, "n_intervals"),
        State(ids.ASSET_VIEW, "data"),
        prevent_initial_call=True,
    )
    def live(_tick, view):  # type: ignore[no-untyped-def]
        if not view:  # nothing drawn (no readings yet, or no sensor chosen): nothing to follow
            return no_update, no_update, ""
        if not view.get("live"):
            return no_update, no_update, "Live updates pause while you look at a custom or zoomed range."
        info = asset(view.get("asset"))
        if info is None:
            return no_update, no_update, no_update
        patch, added = Patch(), 0
        for index, key_ in enumerate(view["channels"]):
            channel = info.channel(key_)
            if channel is None or channel.kind != "sensor" or channel.sensor_id is None or key_ not in view["last"]:
                continue
            tail = load_tail(twin().db, channel.sensor_id, datetime.fromisoformat(view["last"][key_]), limit=500)
            if len(tail.ts) == 0:
                continue
            patch["data"][index]["x"].extend(figures.uk_times(tail.ts))
            patch["data"][index]["y"].extend(figures.values_list(tail.values))
            view["last"][key_] = tail.ts[-1].isoformat()
            added += len(tail.ts)
        note = f"Live · checked {datetime.now(LONDON):%H:%M:%S}" + (f", {added} new readings" if added else "")
        if not added:
            return no_update, no_update, note
        return patch, view, note

    @app.callback(
        Output(ids.ASSET_DOWNLOAD, "data"),
        Input(ids.ASSET_CSV, "n_clicks"),
        State(ids.ASSET_VIEW, "data"),
        prevent_initial_call=True,
    )
    def download(_clicks, view):  # type: ignore[no-untyped-def]
        info = asset((view or {}).get("asset"))
        if info is None:
            return no_update
        start, end = datetime.fromisoformat(view["start"]), datetime.fromisoformat(view["end"])
        columns = {}
        for key_ in view["channels"]:
            channel = info.channel(key_)
            if channel is not None:
                data = channel_series(twin().db, info, channel, start, end)
                columns[channel.label] = pd.Series(data.values, index=data.ts)
        frame = pd.DataFrame(columns)
        frame.index = frame.index.tz_convert(LONDON)
        frame.index.name = "time_uk"
        name = f"{info.name}-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}.csv".replace(" ", "-")
        return dcc.send_data_frame(frame.to_csv, name)

    @app.callback(Output(ids.ASSET_SINGLE, "figure"), *range_inputs, Input(ids.ASSET_SINGLE_CHANNEL, "value"),
                  asset_id, prevent_initial_call=True)
    def single_plot(preset, custom_start, custom_end, key_, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        return figures.empty("One channel", GONE) if view is None else show.single(view, key_)

    @app.callback(Output(ids.ASSET_CALCS, "figure"), *range_inputs, asset_id, prevent_initial_call=True)
    def calculations_plot(preset, custom_start, custom_end, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        return figures.empty("Calculations", GONE) if view is None else show.calculations(view)

    @app.callback(Output(ids.ASSET_PAIR, "figure"), Output(ids.ASSET_DUAL, "figure"), *range_inputs,
                  Input(ids.ASSET_PAIR_A, "value"), Input(ids.ASSET_PAIR_B, "value"), asset_id,
                  prevent_initial_call=True)
    def pair_plots(preset, custom_start, custom_end, key_a, key_b, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        if view is None:
            blank = figures.empty("Two channels", GONE)
            return blank, blank
        return show.pair(view, key_a, key_b)

    @app.callback(Output(ids.ASSET_FORECAST, "figure"), Output(ids.ASSET_FORECAST_METRICS, "children"),
                  *range_inputs, Input(ids.ASSET_TARGET, "value"), asset_id, prevent_initial_call=True)
    def forecast_plot(preset, custom_start, custom_end, key_, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        return (figures.empty("Forecast", GONE), None) if view is None else show.forecast(view, key_)

    @app.callback(Output(ids.ASSET_RESIDUALS, "figure"), Output(ids.ASSET_RESIDUAL_NOTE, "children"),
                  *range_inputs, Input(ids.ASSET_RESIDUAL_SENSOR, "value"), asset_id, prevent_initial_call=True)
    def expectation_plot(preset, custom_start, custom_end, sensor, asset_id_):  # type: ignore[no-untyped-def]
        view = _page(asset_id_, preset, custom_start, custom_end)
        return (figures.empty("Sensor against expectation", GONE), None) if view is None \
            else show.expectation(view, sensor)

    @app.callback(Output(ids.ASSET_BATCH_GRAPH, "figure"), Input(ids.ASSET_BATCH, "value"), asset_id,
                  prevent_initial_call=True)
    def batch_plot(batch_id, asset_id_):  # type: ignore[no-untyped-def]
        info = asset(asset_id_)
        return figures.empty("Pipeline batch", GONE) if info is None else show.batch(Page.of(info, None), batch_id)
