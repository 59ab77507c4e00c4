"""The asset page: every plot reads the range and channels the user chose, for their supplier.

The main plot (up to three sensors on one time axis) fetches detail again when the user zooms
(its ``relayoutData``) and appends new readings every few seconds with a ``Patch``, so the
user's zoom and the rest of the figure stay as they are.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, Patch, State, dcc, no_update
from flask_login import current_user

from app.alerts import page_alerts
from app.anomalies import residual_view
from app.asset_view import (
    AssetInfo,
    Channel,
    asset_info,
    channel_series,
    forecast_view,
    model_key,
    parse_model_key,
    pipeline_batches,
)
from app.db.base import utcnow
from app.model_registry import AssetNotFound
from app.plant.status import latest_status
from app.series import load_tail
from app.tariffs import LONDON
from app.web.context import db_session, twin
from callbacks.formatting import when
from layouts import asset as page
from layouts import figures, ids

log = logging.getLogger(__name__)

SPANS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7),
         "30d": timedelta(days=30), "1y": timedelta(days=365)}
_X_RANGE = re.compile(r"^xaxis\d*\.range\[(0|1)\]$")
MAX_STACKED = 3
#: the longest range the expectation plot models (30 days of minute readings take about 2 s)
MAX_EXPECTATION_DAYS = 30
#: open alerts of the asset read to find its newest drift (an asset has a handful at most)
OPEN_ALERTS_READ = 200


def _info(asset_id: Any) -> AssetInfo | None:
    try:
        return asset_info(db_session(), twin().db.sensors_engine, current_user.supplier_id, int(asset_id))
    except (AssetNotFound, TypeError, ValueError):
        return None


def _uk(text: str) -> datetime:
    """A time the browser sent (UK wall clock, as the axes show) as UTC."""
    moment = pd.Timestamp(text).to_pydatetime()
    return (moment.replace(tzinfo=LONDON) if moment.tzinfo is None else moment).astimezone(timezone.utc)


def chosen_range(info: AssetInfo, preset: str | None, custom_start: str | None,
                 custom_end: str | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC. Presets end at the asset's newest reading (so a quiet asset still
    shows its last day), custom ranges are whole UK days."""
    if preset == "custom" and custom_start and custom_end:
        start = _uk(custom_start[:10])
        end = _uk(custom_end[:10]) + timedelta(days=1)
        if end > start:
            return start, end
    latest = info.last_ts or utcnow()
    end = latest + timedelta(microseconds=1)  # the newest reading itself is in range
    return end - SPANS.get(preset or "1d", SPANS["1d"]), end


def zoomed_range(relayout: dict[str, Any] | None) -> tuple[datetime, datetime] | None | bool:
    """The x range the user zoomed to; ``True`` for "zoomed back out"; ``None`` for a relayout
    that is not about the time axis (a legend click, the first autosize)."""
    if not relayout:
        return None
    if any(k.startswith("xaxis") and k.endswith("autorange") for k in relayout):
        return True
    bounds: dict[str, str] = {}
    for key_, value in relayout.items():
        found = _X_RANGE.match(key_)
        if found:
            bounds[found.group(1)] = value
        elif re.match(r"^xaxis\d*\.range$", key_) and isinstance(value, list) and len(value) == 2:
            bounds = {"0": value[0], "1": value[1]}
    if "0" in bounds and "1" in bounds:
        try:
            start, end = _uk(str(bounds["0"])), _uk(str(bounds["1"]))
        except (ValueError, TypeError):
            return None
        return (start, end) if end > start else None
    return None


def _trace(info: AssetInfo, channel: Channel, start: datetime, end: datetime) -> tuple[figures.Trace, Any]:
    data = channel_series(twin().db, info, channel, start, end)
    return figures.Trace(channel.name.replace("_", " ").capitalize(), channel.unit, data.ts, data.values), data


def _options(channels: tuple[Channel, ...]) -> list[dict[str, str]]:
    return [{"label": f"{c.label}{' · calculation' if c.kind == 'calculation' else ''}", "value": c.key}
            for c in channels]


def _revision(info: AssetInfo, *parts: Any) -> str:
    return ":".join(str(p) for p in (info.id, *parts))


def drifting_sensor(info: AssetInfo) -> str | None:
    """The sensor of the asset's newest open drift alert, if it has one: what a user who
    came from that alert wants explained."""
    names = {c.name for c in info.sensors}
    rows, _ = page_alerts(db_session(), current_user.supplier_id, offset=0, limit=OPEN_ALERTS_READ,
                          status="open", asset_id=info.id)
    newest = max((r for r in rows if r.kind == "drift" and r.sensor in names),
                 key=lambda r: (r.started_at, r.id), default=None)
    return newest.sensor if newest else None


def expectation_figure(info: AssetInfo | None, sensor: str | None, start: datetime,
                       end: datetime) -> tuple[Any, Any]:
    """The expectation plot of ``sensor`` (a sensor's name) over [start, end), at most its
    last :data:`MAX_EXPECTATION_DAYS`, and the note beneath it."""
    title = "Sensor against expectation"
    channel = next((c for c in info.sensors if c.name == sensor), None) if info else None
    if info is None or channel is None:
        return figures.empty(title, "Choose a sensor above."), None
    shown_days = None
    if end - start > timedelta(days=MAX_EXPECTATION_DAYS):
        start, shown_days = end - timedelta(days=MAX_EXPECTATION_DAYS), MAX_EXPECTATION_DAYS
    settings = twin().settings
    words = channel.name.replace("_", " ")
    try:
        view = residual_view(twin().db, settings, info.id, channel.name, start, end)
    except LookupError:  # the asset was deleted since the page was drawn
        return figures.empty(title, "This asset is not available."), None
    if view is not None and not view.readings["actual"].notna().any():
        return figures.empty(title, f"No readings of {words} in this range."), None
    if view is None or not view.readings["expected"].notna().any():
        days = settings.anomaly.residuals.min_reference_days
        return figures.empty(title, f"Not enough history yet: the twin learns what to expect of {words} "
                                    f"from<br>at least {days:g} days of readings before the range. "
                                    "Choose a later range, or wait for more readings."), None
    name = words[:1].upper() + words[1:]
    figure = figures.expectation(view.readings, view.blocks, view.threshold, name, view.unit,
                                 f"{name}: readings against what the twin expects, and the drift check",
                                 revision=_revision(info, "expectation", sensor, start.isoformat()))
    return figure, page.expectation_note(view.inputs, settings.anomaly.residuals.block_minutes, shown_days)


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ASSET_HEADER, "children"),
        Output(ids.ASSET_SENSORS, "options"),
        Output(ids.ASSET_SENSORS, "value"),
        Output(ids.ASSET_SINGLE_CHANNEL, "options"),
        Output(ids.ASSET_SINGLE_CHANNEL, "value"),
        Output(ids.ASSET_PAIR_A, "options"),
        Output(ids.ASSET_PAIR_A, "value"),
        Output(ids.ASSET_PAIR_B, "options"),
        Output(ids.ASSET_PAIR_B, "value"),
        Output(ids.ASSET_TARGET, "options"),
        Output(ids.ASSET_TARGET, "value"),
        Output(ids.ASSET_BATCH, "options"),
        Output(ids.ASSET_BATCH, "value"),
        Input(ids.ASSET_ID, "data"),
    )
    def setup(asset_id):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        if info is None:
            missing = dbc.Alert("This asset is not available. Choose one on the Overview page.",
                                color="secondary")
            return (missing, [], [], [], None, [], None, [], None, [], None, [], None)
        sensors = [c.key for c in info.sensors]
        if info.last_ts:
            extent = f"Data from {when(info.first_ts)} to {when(info.last_ts)}."
        elif sensors:
            extent = ("No data yet: the plots fill in as readings arrive from the plant, the REST "
                      "API or a file import.")
        else:
            extent = "No sensors yet: an admin adds the sensors it reports in the plant catalogue."
        status = latest_status(db_session(), info.id)
        edit = f"/admin/catalogue?asset={info.id}" if current_user.role == "admin" else None
        everything = _options(info.channels)
        batches = pipeline_batches(db_session(), info)
        second = info.sensors[1].key if len(info.sensors) > 1 else (sensors[0] if sensors else None)
        return (
            page.header(info.name, info.site_name, info.type_label, info.description, extent,
                        page.status_line(status.level, status.text, when(status.at, "") or None), edit),
            _options(info.sensors), sensors[:MAX_STACKED],
            everything, (info.calculations[0].key if info.calculations else (sensors[0] if sensors else None)),
            everything, sensors[0] if sensors else None,
            everything, second,
            [{"label": f"{t.replace('_', ' ')} · {mode}", "value": model_key(t, mode)} for t, mode in info.models],
            model_key(*info.models[0]) if info.models else None,
            [{"label": b.label, "value": b.id} for b in batches], batches[0].id if batches else None,
        )

    @app.callback(
        Output(ids.ASSET_CUSTOM_COLLAPSE, "is_open"),
        Input(ids.ASSET_RANGE, "value"),
    )
    def custom_open(preset: str | None) -> bool:
        return preset == "custom"

    @app.callback(
        Output(ids.ASSET_STACKED, "figure"),
        Output(ids.ASSET_VIEW, "data"),
        Input(ids.ASSET_ID, "data"),
        Input(ids.ASSET_RANGE, "value"),
        Input(ids.ASSET_CUSTOM, "start_date"),
        Input(ids.ASSET_CUSTOM, "end_date"),
        Input(ids.ASSET_SENSORS, "value"),
    )
    def main_plot(asset_id, preset, custom_start, custom_end, keys):  # type: ignore[no-untyped-def]
        return _main_figure(asset_id, preset, custom_start, custom_end, keys, False)

    @app.callback(
        Output(ids.ASSET_STACKED, "figure", allow_duplicate=True),
        Output(ids.ASSET_VIEW, "data", allow_duplicate=True),
        Input(ids.ASSET_STACKED, "relayoutData"),
        State(ids.ASSET_ID, "data"),
        State(ids.ASSET_RANGE, "value"),
        State(ids.ASSET_CUSTOM, "start_date"),
        State(ids.ASSET_CUSTOM, "end_date"),
        State(ids.ASSET_SENSORS, "value"),
        prevent_initial_call=True,
    )
    def zoom_plot(relayout, asset_id, preset, custom_start, custom_end, keys):  # type: ignore[no-untyped-def]
        zoom = zoomed_range(relayout)
        if zoom is None:
            return no_update, no_update
        return _main_figure(asset_id, preset, custom_start, custom_end, keys, zoom)

    def _main_figure(asset_id, preset, custom_start, custom_end, keys, zoom):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        if info is None:
            return figures.empty("Sensors", "This asset is not available."), None
        if not info.sensors:
            return figures.empty("Sensors", "This asset has no sensors yet."), None
        if not keys:
            return figures.empty("Sensors", "Choose up to three sensors above."), None
        channels = [c for c in (info.channel(k) for k in keys[:MAX_STACKED]) if c is not None]
        if not channels:
            return figures.empty("Sensors", "Choose up to three sensors above."), None
        start, end = chosen_range(info, preset, custom_start, custom_end)
        zoomed = isinstance(zoom, tuple)
        if zoomed:
            start, end = zoom  # type: ignore[misc]
        traces, last = [], {}
        points = 0
        for channel in channels:
            trace, data = _trace(info, channel, start, end)
            traces.append(trace)
            points += data.raw_points
            if len(data.ts):
                last[channel.key] = data.ts[-1].isoformat()
        if points == 0:
            return figures.empty("Sensors", "No readings in this range. Choose a longer range, "
                                 "or wait for the plant to send data."), None
        label = "zoomed" if zoomed else dict((o["value"], o["label"]) for o in page.RANGES).get(preset or "1d", "")
        figure = figures.stacked(traces, f"{info.name}: sensors, {label.lower()} ({points:,} readings)",
                                 revision=_revision(info, preset, custom_start, custom_end, ",".join(keys)))
        view = {"asset": info.id, "start": start.isoformat(), "end": end.isoformat(),
                "channels": [c.key for c in channels], "last": last,
                "live": preset != "custom" and not zoomed}
        return figure, view

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
        info = _info(view.get("asset"))
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
        info = _info((view or {}).get("asset"))
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

    range_inputs = (Input(ids.ASSET_ID, "data"), Input(ids.ASSET_RANGE, "value"),
                    Input(ids.ASSET_CUSTOM, "start_date"), Input(ids.ASSET_CUSTOM, "end_date"))

    @app.callback(Output(ids.ASSET_SINGLE, "figure"), *range_inputs, Input(ids.ASSET_SINGLE_CHANNEL, "value"))
    def single_plot(asset_id, preset, custom_start, custom_end, key_):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        channel = info.channel(key_) if info else None
        if info is None or channel is None:
            return figures.empty("One channel", "Choose a sensor or a calculation above.")
        start, end = chosen_range(info, preset, custom_start, custom_end)
        trace, data = _trace(info, channel, start, end)
        if not len(data.ts):
            # <br>: the card is half the page wide and the words are not wrapped for it.
            return figures.empty(channel.label, "No data in this range." + (
                "<br>Calculations appear after the pipeline has run."
                if channel.kind == "calculation" else ""))
        return figures.single(trace, f"{trace.label}", revision=_revision(info, key_, preset))

    @app.callback(Output(ids.ASSET_CALCS, "figure"), *range_inputs)
    def calculations_plot(asset_id, preset, custom_start, custom_end):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        if info is None or not info.calculations:
            return figures.empty("Calculations", "This asset has no calculations:<br>formulas added "
                                 "in the plant catalogue appear here.")
        start, end = chosen_range(info, preset, custom_start, custom_end)
        traces = [t for t, data in (_trace(info, c, start, end) for c in info.calculations) if len(data.ts)]
        if not traces:
            return figures.empty("Calculations", "No calculation results in this range yet:<br>the "
                                 "pipeline calculates new readings on its schedule<br>(or run "
                                 "`twin pipeline run --asset ID`).")
        return figures.stacked(traces, "Calculation results", revision=_revision(info, "calcs", preset),
                               row_height=170)

    @app.callback(Output(ids.ASSET_PAIR, "figure"), Output(ids.ASSET_DUAL, "figure"), *range_inputs,
                  Input(ids.ASSET_PAIR_A, "value"), Input(ids.ASSET_PAIR_B, "value"))
    def pair_plots(asset_id, preset, custom_start, custom_end, key_a, key_b):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        a = info.channel(key_a) if info else None
        b = info.channel(key_b) if info else None
        if info is None or a is None or b is None:
            blank = figures.empty("Two channels", "Choose two channels above.")
            return blank, blank
        start, end = chosen_range(info, preset, custom_start, custom_end)
        (left, left_data), (right, right_data) = _trace(info, a, start, end), _trace(info, b, start, end)
        if not len(left_data.ts) and not len(right_data.ts):
            blank = figures.empty("Two channels", "No data in this range.")
            return blank, blank
        revision = _revision(info, key_a, key_b, preset)
        return (figures.side_by_side(left, right, f"{left.name} and {right.name}", revision=revision),
                figures.dual_axis(left, right, f"{left.name} against {right.name}, two axes", revision=revision))

    @app.callback(Output(ids.ASSET_FORECAST, "figure"), Output(ids.ASSET_FORECAST_METRICS, "children"),
                  *range_inputs, Input(ids.ASSET_TARGET, "value"))
    def forecast_plot(asset_id, preset, custom_start, custom_end, key_):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        slot = parse_model_key(key_)
        if info is None or slot is None or slot not in info.models:
            return figures.empty("Forecast", "No model trained yet. Models are trained on the "
                                 "pipeline's schedule, or by an admin on the Models page."), None
        target, mode = slot
        start, end = chosen_range(info, preset, custom_start, custom_end)
        view = forecast_view(twin().db, current_user.supplier_id, twin().settings.pipeline.resample_minutes,
                             info, target, mode, start, end + timedelta(hours=2))  # forecasts run ahead of the data
        models = [[f"{m.target.replace('_', ' ')} · {m.mode}", m.served.method_label, m.served.horizon_label,
                   m.shown.status] for m in view.models]
        words = target.replace("_", " ")
        if not len(view.ts):
            return (figures.empty(f"Forecast of {words}", "No forecasts in this range: choose a "
                                  "longer range, or wait for the next scheduled forecast."),
                    page.forecast_details([], models))
        channel = next((c for c in info.channels if c.name == target), None)
        unit = channel.unit if channel else ""
        title = (f"Forecast of {words} against actual values" if mode == "forecast"
                 else f"Surrogate estimate of {words} from the sensors against calculated values")
        figure = figures.forecast(view.ts, view.predicted, view.lower, view.upper, view.actual, unit, title,
                                  revision=_revision(info, key_, preset))
        rows: list[tuple[str, str]] = []
        if view.served is not None:
            rows += [("Model", f"v{view.served.version} ({view.served.status}), {mode}, "
                               f"{view.served.method_label}"),
                     ("Horizon", view.served.horizon_label), ("Against the baselines", view.served.verdict)]
        if view.metrics is not None:
            m = view.metrics
            compared = "each time's forecast made furthest ahead" if mode == "forecast" else "estimates"
            rows += [("Points compared in this window", f"{m.n:,} ({compared})"),
                     ("Mean absolute error", f"{m.mae:.4g} {unit}"),
                     ("Root mean square error", f"{m.rmse:.4g} {unit}"), ("Mean absolute % error", f"{m.mape:.1%}"),
                     ("Inside the prediction interval", "—" if m.coverage is None else f"{m.coverage:.0%}")]
        else:
            rows.append(("This window", "no actual values to compare with yet"))
        if view.latest_validation is not None:
            v = view.latest_validation
            rows.append(("Latest scheduled validation",
                         f"{v.disposition} on {when(v.window_to)}: {v.reason}"))
        if view.truncated:
            rows.append(("Note", "the newest forecasts of this range only; choose a shorter range for all"))
        return figure, page.forecast_details(rows, models)

    @app.callback(Output(ids.ASSET_RESIDUAL_SENSOR, "options"), Output(ids.ASSET_RESIDUAL_SENSOR, "value"),
                  Input(ids.ASSET_ID, "data"))
    def expectation_sensors(asset_id):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        if info is None or not info.sensors:
            return [], None
        options = [{"label": c.label, "value": c.name} for c in info.sensors]
        return options, drifting_sensor(info) or info.sensors[0].name

    @app.callback(Output(ids.ASSET_RESIDUALS, "figure"), Output(ids.ASSET_RESIDUAL_NOTE, "children"),
                  *range_inputs, Input(ids.ASSET_RESIDUAL_SENSOR, "value"))
    def expectation_plot(asset_id, preset, custom_start, custom_end, sensor):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        if info is None:
            return figures.empty("Sensor against expectation", "This asset is not available."), None
        return expectation_figure(info, sensor, *chosen_range(info, preset, custom_start, custom_end))

    @app.callback(Output(ids.ASSET_BATCH_GRAPH, "figure"), Input(ids.ASSET_ID, "data"), Input(ids.ASSET_BATCH, "value"))
    def batch_plot(asset_id, batch_id):  # type: ignore[no-untyped-def]
        info = _info(asset_id)
        batch = next((b for b in pipeline_batches(db_session(), info) if b.id == batch_id), None) if info else None
        if info is None or batch is None:
            return figures.empty("Pipeline batch", "No pipeline batches yet: the pipeline records "
                                 "each batch it calculates (see the Models page for its schedule).")
        traces = [t for t, data in (_trace(info, c, batch.start, batch.end + timedelta(microseconds=1))
                                    for c in info.sensors) if len(data.ts)]
        if not traces:
            return figures.empty("Pipeline batch", "The readings of this batch are no longer stored.")
        return figures.stacked(traces, f"Input of batch {batch.label}", revision=_revision(info, "batch", batch.id),
                               row_height=150)
