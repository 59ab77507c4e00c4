"""What each part of the asset page shows, for the logged-in user's supplier: the functions
both the page's first draw (one request for everything, ``callbacks.asset``) and each control's
own callback call.

A :class:`Page` holds one request's asset facts and the series it has read, so the first draw
reads a channel once however many plots show it.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pandas as pd
from cachetools import TTLCache
from flask_login import current_user

from app import plain_text
from app import series as series_
from app.alerts import page_alerts
from app.anomalies import residual_view
from app.asset_view import (
    MAX_POINTS,
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
from app.tariffs import LONDON
from app.web.context import db_session, twin
from callbacks.formatting import when
from layouts import asset as page
from layouts import figures

T = TypeVar("T")

SPANS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7),
         "30d": timedelta(days=30), "1y": timedelta(days=365)}
_X_RANGE = re.compile(r"^xaxis\d*\.range\[(0|1)\]$")
MAX_STACKED = 3
#: points a trace of the main plot (the page's width) and of the smaller plots may have: about
#: two a pixel. Every point is parsed and drawn by the browser: the whole page was 1.1 MB of
#: JSON with 2,000 a trace everywhere.
MAIN_POINTS = MAX_POINTS
CARD_POINTS = 800
#: the expectation plot's readings and expectation lines (its blocks carry the drift check)
EXPECTATION_POINTS = 1000
#: the longest range the expectation plot models (each day is fitted on the week before it)
MAX_EXPECTATION_DAYS = 7
#: open alerts of the asset read to find its newest drift (an asset has a handful at most)
OPEN_ALERTS_READ = 200


#: What the expectation plot (per-day fits) and the Performance card compute, for a few minutes,
#: by asset, range and the asset's newest reading: switching between ranges that show the same
#: days (7 days, 30, a year: the expectation shows the last 7 of each), or a second visit
#: before new readings arrive, does not fit them again. New readings change the key; alerts are
#: raised from new readings, so they do too. Per web process.
_COMPUTED: TTLCache[tuple[Any, ...], Any] = TTLCache(maxsize=256, ttl=300)
_COMPUTED_LOCK = threading.Lock()


_DATABASES = itertools.count()


def remembered(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or what it returned for ``key`` within the last few minutes, against this
    app's database (several apps share a process in the tests, and ids repeat across them)."""
    database = twin().db.__dict__.setdefault("_remembered_as", next(_DATABASES))
    key = (database, *key)
    with _COMPUTED_LOCK:
        if key in _COMPUTED:
            return _COMPUTED[key]  # type: ignore[no-any-return]
    value = compute()  # outside the lock: requests for other keys go on meanwhile
    with _COMPUTED_LOCK:
        _COMPUTED[key] = value
    return value


def asset(asset_id: Any) -> AssetInfo | None:
    """The facts of the user's supplier's asset ``asset_id``; None for any other id."""
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


@dataclass
class Page:
    """One request's view of an asset: its facts, the range shown, and the series read so far."""

    info: AssetInfo
    preset: str | None
    start: datetime
    end: datetime
    _read: dict[tuple[str, datetime, datetime], series_.Series] = field(default_factory=dict)

    @classmethod
    def of(cls, info: AssetInfo, preset: str | None, custom_start: str | None = None,
           custom_end: str | None = None) -> Page:
        return cls(info, preset, *chosen_range(info, preset, custom_start, custom_end))

    def series(self, channel: Channel, start: datetime | None = None, end: datetime | None = None,
               points: int = CARD_POINTS) -> series_.Series:
        """The channel over [start, end) (the page's range by default) in at most ``points``,
        read once a request."""
        span = (channel.key, start or self.start, end or self.end)
        if span not in self._read:  # read once at the most any plot draws, thinned for the others
            self._read[span] = channel_series(twin().db, self.info, channel, span[1], span[2], MAIN_POINTS)
        return series_.thinned(self._read[span], points)

    def trace(self, channel: Channel, start: datetime | None = None, end: datetime | None = None,
              points: int = CARD_POINTS) -> tuple[figures.Trace, series_.Series]:
        data = self.series(channel, start, end, points)
        return figures.Trace(channel.words, channel.unit, data.ts, data.values), data

    def revision(self, *parts: Any) -> str:
        return ":".join(str(p) for p in (self.info.id, *parts))


def options(channels: tuple[Channel, ...]) -> list[dict[str, str]]:
    return [{"label": f"{c.label}{' · calculation' if c.kind == 'calculation' else ''}", "value": c.key}
            for c in channels]


# -- the header and the pickers' first choices -------------------------------------------------


def header(info: AssetInfo) -> Any:
    if info.last_ts:
        extent = f"Data from {when(info.first_ts)} to {when(info.last_ts)}."
    elif info.sensors:
        extent = ("No data yet: the plots fill in as readings arrive from the plant, the REST "
                  "API or a file import.")
    else:
        extent = "No sensors yet: an admin adds the sensors it reports in the plant catalogue."
    status = latest_status(db_session(), info.id)
    edit = f"/admin/catalogue?asset={info.id}" if current_user.role == "admin" else None
    return page.header(info.name, info.site_name, info.type_label, info.description, extent,
                       page.status_line(status.level, status.text, when(status.at, "") or None), edit)


def drifting_sensor(info: AssetInfo) -> str | None:
    """The sensor of the asset's newest open drift alert, if it has one: what a user who
    came from that alert wants explained."""
    names = {c.name for c in info.sensors}
    rows, _ = page_alerts(db_session(), current_user.supplier_id, offset=0, limit=OPEN_ALERTS_READ,
                          status="open", asset_id=info.id)
    newest = max((r for r in rows if r.kind == "drift" and r.sensor in names),
                 key=lambda r: (r.started_at, r.id), default=None)
    return newest.sensor if newest else None


@dataclass(frozen=True)
class Choices:
    """Each picker's options and first value on the asset's page."""

    sensors: list[str]
    single: str | None
    pair: tuple[str | None, str | None]
    target: str | None
    expectation: str | None
    batch: int | None


def first_choices(info: AssetInfo, batches: list[Any]) -> Choices:
    sensors = [c.key for c in info.sensors]
    second = info.sensors[1].key if len(info.sensors) > 1 else (sensors[0] if sensors else None)
    return Choices(
        sensors=sensors[:MAX_STACKED],
        single=info.calculations[0].key if info.calculations else (sensors[0] if sensors else None),
        pair=(sensors[0] if sensors else None, second),
        target=model_key(*info.models[0]) if info.models else None,
        expectation=(drifting_sensor(info) or info.sensors[0].name) if info.sensors else None,
        batch=batches[0].id if batches else None,
    )


# -- the plots ------------------------------------------------------------------------------------


def stacked(view: Page, keys: list[str] | None, zoom: tuple[datetime, datetime] | bool = False
            ) -> tuple[Any, dict[str, Any] | None]:
    """The main plot (up to three sensors on one time axis) and the view store for the live
    updates and the CSV; ``zoom`` a range the user zoomed to."""
    info = view.info
    if not info.sensors:
        return figures.empty("Sensors", "This asset has no sensors yet."), None
    channels = [c for c in (info.channel(k) for k in (keys or [])[:MAX_STACKED]) if c is not None]
    if not channels:
        return figures.empty("Sensors", "Choose up to three sensors above."), None
    zoomed = isinstance(zoom, tuple)
    start, end = zoom if isinstance(zoom, tuple) else (view.start, view.end)
    traces, last = [], {}
    points = 0
    for channel in channels:
        trace, data = view.trace(channel, start, end, MAIN_POINTS)
        traces.append(trace)
        points += data.raw_points
        if len(data.ts):
            last[channel.key] = data.ts[-1].isoformat()
    if points == 0:
        return figures.empty("Sensors", "No readings in this range. Choose a longer range, "
                             "or wait for the plant to send data."), None
    label = "zoomed" if zoomed else dict((o["value"], o["label"]) for o in page.RANGES).get(view.preset or "1d", "")
    figure = figures.stacked(traces, f"{info.name}: sensors, {label.lower()} ({points:,} readings)",
                             revision=view.revision(view.preset, view.start.isoformat(), ",".join(keys or [])))
    store = {"asset": info.id, "start": start.isoformat(), "end": end.isoformat(),
             "channels": [c.key for c in channels], "last": last,
             "live": view.preset != "custom" and not zoomed}
    return figure, store


def single(view: Page, key_: str | None) -> Any:
    channel = view.info.channel(key_)
    if channel is None:
        return figures.empty("One channel", "Choose a sensor or a calculation above.")
    trace, data = view.trace(channel)
    if not len(data.ts):
        # <br>: the card is half the page wide and the words are not wrapped for it.
        return figures.empty(channel.label, "No data in this range." + (
            "<br>Calculations appear after the pipeline has run."
            if channel.kind == "calculation" else ""))
    return figures.single(trace, trace.label, revision=view.revision(key_, view.preset))


def calculations(view: Page) -> Any:
    if not view.info.calculations:
        return figures.empty("Calculations", "This asset has no calculations:<br>formulas added "
                             "in the plant catalogue appear here.")
    traces = [t for t, data in (view.trace(c) for c in view.info.calculations) if len(data.ts)]
    if not traces:
        return figures.empty("Calculations", "No calculation results in this range yet:<br>the "
                             "pipeline calculates new readings on its schedule<br>(or run "
                             "`twin pipeline run --asset ID`).")
    return figures.stacked(traces, "Calculation results", revision=view.revision("calcs", view.preset),
                           row_height=170)


def pair(view: Page, key_a: str | None, key_b: str | None) -> tuple[Any, Any]:
    a, b = view.info.channel(key_a), view.info.channel(key_b)
    if a is None or b is None:
        blank = figures.empty("Two channels", "Choose two channels above.")
        return blank, blank
    (left, left_data), (right, right_data) = view.trace(a), view.trace(b)
    if not len(left_data.ts) and not len(right_data.ts):
        blank = figures.empty("Two channels", "No data in this range.")
        return blank, blank
    revision = view.revision(key_a, key_b, view.preset)
    return (figures.side_by_side(left, right, f"{left.name} and {right.name}", revision=revision),
            figures.dual_axis(left, right, f"{left.name} against {right.name}, two axes", revision=revision))


def forecast(view: Page, key_: str | None) -> tuple[Any, Any]:
    """The forecast plot of the model slot ``key_`` and the facts beside it."""
    info = view.info
    slot = parse_model_key(key_)
    if slot is None or slot not in info.models:
        return figures.empty("Forecast", "No model trained yet. Models are trained on the "
                             "pipeline's schedule, or by an admin on the Models page."), None
    target, mode = slot
    found = forecast_view(twin().db, current_user.supplier_id, twin().settings.pipeline.resample_minutes,
                          info, target, mode, view.start, view.end + timedelta(hours=2))  # forecasts run ahead
    models = [[f"{m.target.replace('_', ' ')} · {m.mode}", m.served.method_label, m.served.horizon_label,
               m.shown.status] for m in found.models]
    channel = next((c for c in info.channels if c.name == target), None)
    words = channel.words if channel else target.replace("_", " ")
    if not len(found.ts):
        return (figures.empty(f"Forecast of {words.lower()}", "No forecasts in this range: choose a "
                              "longer range, or wait for the next scheduled forecast."),
                page.forecast_details([], models))
    unit = channel.unit if channel else ""
    title = (f"Forecast of {words.lower()} against actual values" if mode == "forecast"
             else f"Surrogate estimate of {words.lower()} from the sensors against calculated values")
    figure = figures.forecast(found.ts, found.predicted, found.lower, found.upper, found.actual, words, unit,
                              title, revision=view.revision(key_, view.preset))
    rows: list[tuple[str, str]] = []
    if found.served is not None:
        rows += [("Model", f"v{found.served.version} ({found.served.status}), {mode}, "
                           f"{found.served.method_label}"),
                 ("Horizon", found.served.horizon_label), ("Against the baselines", found.served.verdict)]
    if found.metrics is not None:
        m = found.metrics
        compared = "each time's forecast made furthest ahead" if mode == "forecast" else "estimates"
        rows += [("Points compared in this window", f"{m.n:,} ({compared})"),
                 ("Mean absolute error", plain_text.quantity(m.mae, unit)),
                 ("Root mean square error", plain_text.quantity(m.rmse, unit)), ("Mean absolute % error", f"{m.mape:.1%}"),
                 ("Inside the prediction interval", "—" if m.coverage is None else f"{m.coverage:.0%}")]
    else:
        rows.append(("This window", "no actual values to compare with yet"))
    if found.latest_validation is not None:
        v = found.latest_validation
        rows.append(("Latest scheduled validation", f"{v.disposition} on {when(v.window_to)}: {v.reason}"))
    if found.truncated:
        rows.append(("Note", "the newest forecasts of this range only; choose a shorter range for all"))
    return figure, page.forecast_details(rows, models)


def expectation(view: Page, sensor: str | None) -> tuple[Any, Any]:
    """The expectation plot of ``sensor`` (a sensor's name) over the page's range, at most its
    last :data:`MAX_EXPECTATION_DAYS`, and the note beneath it."""
    title = "Sensor against expectation"
    info = view.info
    channel = next((c for c in info.sensors if c.name == sensor), None)
    if channel is None:
        return figures.empty(title, "Choose a sensor above."), None
    start, end, shown_days = view.start, view.end, None
    if end - start > timedelta(days=MAX_EXPECTATION_DAYS):
        start, shown_days = end - timedelta(days=MAX_EXPECTATION_DAYS), MAX_EXPECTATION_DAYS
    settings = twin().settings
    words = channel.words.lower()
    try:
        found = remembered(("expectation", info.id, channel.name, start, end, info.last_ts),
                           lambda: residual_view(twin().db, settings, info.id, channel.name, start, end))
    except LookupError:  # the asset was deleted since the page was drawn
        return figures.empty(title, "This asset is not available."), None
    if found is not None and not found.readings["actual"].notna().any():
        return figures.empty(title, f"No readings of {words} in this range."), None
    if found is None or not found.readings["expected"].notna().any():
        days = settings.anomaly.residuals.min_reference_days
        return figures.empty(title, f"Not enough history yet: the twin learns what to expect of {words} "
                                    f"from<br>at least {days:g} days of readings before the range. "
                                    "Choose a later range, or wait for more readings."), None
    figure = figures.expectation(found.readings, found.blocks, found.threshold, channel.words, found.unit,
                                 f"{channel.words}: readings against what the twin expects, and the drift check",
                                 revision=view.revision("expectation", sensor, start.isoformat()),
                                 max_points=EXPECTATION_POINTS)
    return figure, page.expectation_note(found.inputs, settings.anomaly.residuals.block_minutes, shown_days)


def batch(view: Page, batch_id: Any, batches: list[Any] | None = None) -> Any:
    info = view.info
    found = batches if batches is not None else pipeline_batches(db_session(), info)
    chosen = next((b for b in found if b.id == batch_id), None)
    if chosen is None:
        return figures.empty("Pipeline batch", "No pipeline batches yet: the pipeline records "
                             "each batch it calculates (see the Models page for its schedule).")
    traces = [t for t, data in (view.trace(c, chosen.start, chosen.end + timedelta(microseconds=1))
                                for c in info.sensors) if len(data.ts)]
    if not traces:
        return figures.empty("Pipeline batch", "The readings of this batch are no longer stored.")
    return figures.stacked(traces, f"Input of batch {chosen.label}", revision=view.revision("batch", chosen.id),
                           row_height=150)
