"""The endpoints of /api/v1. Each is a thin layer over a plain function of ``app/``: the same
rules, queries and bulk path the portal, the workers and the CLI use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from apiflask import APIBlueprint
from flask import request
from sqlalchemy.orm import Session

from app import catalog
from app.alerts import AcknowledgeRefused, AlertNotFound, acknowledge, find_alert, page_alerts
from app.api import schemas as s
from app.api.errors import ApiError, not_found, responses
from app.api.forecasts import UnknownTarget, latest_issue
from app.api.security import READ, WRITE, auth, current
from app.db.base import utcnow
from app.db.models import Asset, MeterReading
from app.ingest import IngestError, write_sensor_readings
from app.meters import meters_page
from app.model_registry import AssetNotFound
from app.performance import asset_performance
from app.plant.catalogue import NotInCatalogue
from app.plant.catalogue import get_asset as owned_asset
from app.plant.status import latest_status
from app.readings import MeterNotFound, ReadingRefused, save_reading
from app.series import load_series
from app.simulation import Fault, simulate_asset
from app.simulation import write as write_simulation
from app.web.context import db_session, twin

bp = APIBlueprint("api", __name__, tag="Energy Twin")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


# -- assets and sensors -----------------------------------------------------------------------
# The catalogue (listing, reading and changing sites, assets and sensors) is app/api/catalogue.py.


def _asset(asset_id: int) -> catalog.AssetInfo:
    try:
        return catalog.get_asset(db_session(), current().supplier_id, asset_id)
    except AssetNotFound:
        raise not_found("asset", asset_id) from None


@bp.get("/assets/<id:asset_id>/latest")
@bp.auth_required(auth, roles=READ)
@bp.input(s.PageQuery, location="query", arg_name="query")
@bp.output(s.LatestPage)
@bp.doc(responses=responses())
def latest(asset_id: int, query: s.PageQuery) -> dict[str, Any]:
    """Latest value of each sensor of an asset."""
    sensors = _asset(asset_id).sensors
    chosen = sensors[query.offset:query.offset + query.per_page]
    values = catalog.latest_values(twin().db.sensors_engine, chosen)
    items = [{"sensor_id": v.sensor.id, "name": v.sensor.name, "unit": v.sensor.unit,
              "ts": v.ts, "value": v.value} for v in values]
    return s.Page.of(items, query, len(sensors))


@bp.get("/sensors/<id:sensor_id>/readings")
@bp.auth_required(auth, roles=READ)
@bp.input(s.RangeQuery, location="query", arg_name="query")
@bp.output(s.RangeOut)
@bp.doc(responses=responses())
def sensor_range(sensor_id: int, query: s.RangeQuery) -> dict[str, Any]:
    """A sensor's readings over a time range, paged or downsampled.

    Readings in [start, end). Without ``max_points``: the stored readings, oldest first,
    ``limit`` a page; ask again from ``next_start``. With it: the whole range cut to at most
    ``max_points`` points (hourly min/max envelopes for long ranges), in one response."""
    try:
        catalog.get_sensor(db_session(), current().supplier_id, sensor_id)
    except catalog.SensorNotFound:
        raise not_found("sensor", sensor_id) from None
    out: dict[str, Any] = {"sensor_id": sensor_id, "start": query.start, "end": query.end}
    db = twin().db
    if query.max_points is not None:
        series = load_series(db, sensor_id, query.start, query.end, max_points=query.max_points)
        stamps = series.ts.to_pydatetime().tolist()
        out.update(resolution=series.resolution, downsampled=series.downsampled, next_start=None,
                   items=[{"ts": t, "value": v} for t, v in zip(stamps, series.values.tolist())])
        return out
    rows, next_start = catalog.sensor_readings(db.sensors_engine, sensor_id, query.start,
                                               query.end, limit=query.limit)
    out.update(resolution="raw", downsampled=False, next_start=next_start,
               items=[{"ts": t, "value": v} for t, v in rows])
    return out


@bp.post("/sensor-readings")
@bp.auth_required(auth, roles=WRITE)
@bp.input(s.SensorBatchIn, location="json", arg_name="batch")
@bp.output(s.SensorBatchOut, status_code=201)
@bp.doc(responses=responses(400, 403, 413))
def post_sensor_readings(batch: s.SensorBatchIn) -> dict[str, Any]:
    """Store a batch of sensor readings (all or nothing).

    Up to 10,000 readings of the supplier's sensors. Every row is checked before any is
    stored: one bad row (a field out of range, a sensor that is not the token's supplier's, a
    time too far in the future) refuses the whole batch with a 422 listing the rows and
    fields. A re-sent reading (same sensor and time) replaces the stored value, so a retried
    request stores nothing twice. Stored through the same bulk path as file imports."""
    rows = batch.readings
    ids = np.fromiter((r["sensor_id"] for r in rows), dtype=np.int64, count=len(rows))
    stamps = np.fromiter(((r["ts"] - EPOCH) // MICROSECOND for r in rows), dtype=np.int64,
                         count=len(rows))
    _check_rows(ids, stamps)
    frame = pd.DataFrame({
        "sensor_id": ids,
        "ts": pd.to_datetime(stamps, unit="us", utc=True),
        "value": np.fromiter((r["value"] for r in rows), dtype=np.float64, count=len(rows)),
    })
    try:
        with twin().db.sensors_engine.begin() as conn:
            result = write_sensor_readings(conn, frame, chunk_rows=s.MAX_BATCH_ROWS)
    except IngestError as exc:  # the schema admits nothing it refuses; kept as a safety net
        raise ApiError(422, "validation_error", str(exc)) from None
    return {"stored": result.rows, "sensors": len(np.unique(ids)),
            "first_ts": EPOCH + int(stamps.min()) * MICROSECOND,
            "last_ts": EPOCH + int(stamps.max()) * MICROSECOND}


def _check_rows(ids: np.ndarray, stamps: np.ndarray) -> None:
    """The checks the schema cannot make: the sensors are the supplier's, the clock is sane."""
    owned = catalog.owned_sensor_ids(db_session(), current().supplier_id, np.unique(ids).tolist())
    unknown = ~np.isin(ids, np.fromiter(owned, dtype=np.int64, count=len(owned)))
    horizon = (utcnow() - EPOCH + timedelta(seconds=twin().settings.api.max_future_s)) // MICROSECOND
    future = stamps > horizon
    bad = np.flatnonzero(unknown | future)
    if not len(bad):
        return
    errors = [
        {"field": f"readings.{row}.sensor_id", "row": int(row), "code": "unknown_sensor",
         "message": f"no sensor {int(ids[row])} for this token's supplier"} if unknown[row] else
        {"field": f"readings.{row}.ts", "row": int(row), "code": "future",
         "message": "the time is in the future (is the device's clock right?)"}
        for row in bad[:100]
    ]
    raise ApiError(422, "validation_error",
                   f"{len(bad)} row(s) refused, nothing stored; first: {errors[0]['field']}: "
                   f"{errors[0]['message']}", errors, total=len(bad))


@bp.get("/assets/<id:asset_id>/metrics")
@bp.auth_required(auth, roles=READ)
@bp.input(s.MetricsQuery, location="query", arg_name="query")
@bp.output(s.MetricsOut)
@bp.doc(responses=responses())
def metrics(asset_id: int, query: s.MetricsQuery) -> dict[str, Any]:
    """Performance metrics of an asset over a time range.

    Availability, performance, quality, OEE, energy per litre and the rest (see
    docs/metrics.md), with their bands; ranges longer than the configured maximum are measured
    over their newest days (``shortened``)."""
    context = twin()
    try:
        result = asset_performance(context.db, context.settings, current().supplier_id, asset_id,
                                   query.start, query.end)
    except AssetNotFound:
        raise not_found("asset", asset_id) from None
    return {"asset_id": asset_id, "start": result.start, "end": result.end,
            "shortened": result.shortened, "readings": result.readings,
            "alert_episodes": result.episodes, "metrics": [m.as_dict() for m in result.metrics]}


def _owned(session: Session, asset_id: int) -> Asset:
    """The token's supplier's asset (retired or not), as the catalogue holds it."""
    try:
        return owned_asset(session, current().supplier_id, asset_id)
    except NotInCatalogue:
        raise not_found("asset", asset_id) from None


@bp.get("/assets/<id:asset_id>/status")
@bp.auth_required(auth, roles=READ)
@bp.output(s.StatusOut)
@bp.doc(responses=responses())
def asset_status(asset_id: int) -> dict[str, Any]:
    """The asset's pipeline status.

    What its newest pipeline run did, in one line, and the notes on what keeps part of its
    twin waiting (a missing or silent sensor, a formula that cannot be calculated, a target
    without enough data)."""
    session = db_session()
    asset = _owned(session, asset_id)
    status = latest_status(session, asset.id)
    return {"asset_id": asset.id, "level": status.level, "text": status.text,
            "notes": list(status.notes), "at": status.at}


@bp.get("/assets/<id:asset_id>/forecasts")
@bp.auth_required(auth, roles=READ)
@bp.input(s.ForecastQuery, location="query", arg_name="query")
@bp.output(s.ForecastOut)
@bp.doc(responses=responses())
def asset_forecasts(asset_id: int, query: s.ForecastQuery) -> dict[str, Any]:
    """The newest forecasts of a target.

    The latest issue of the target's active model: each forecast time (oldest first) with its
    value and prediction interval (``lower`` to ``upper``). No items and a null
    ``model_version`` while the target has no model yet; 422 for a name that is neither a
    sensor nor a calculation of the asset."""
    session = db_session()
    asset = _owned(session, asset_id)
    try:
        issue = latest_issue(session, asset, query.target, query.limit)
    except UnknownTarget as exc:
        raise ApiError(422, "validation_error", f"target: {exc}",
                       [{"field": "target", "code": "unknown_target", "message": str(exc)}]
                       ) from None
    return {"asset_id": asset.id, "target": issue.target, "unit": issue.unit,
            "model_version": issue.version, "step_minutes": issue.step_minutes,
            "issued_at": issue.issued_at,
            "items": [{"ts": ts, "value": value, "lower": lower, "upper": upper}
                      for ts, value, lower, upper in issue.rows]}


@bp.post("/assets/<id:asset_id>/simulations")
@bp.auth_required(auth, roles=READ)
@bp.input(s.SimulationIn, location="json", arg_name="body")
@bp.output(s.SimulationOut)
@bp.doc(responses=responses(400, 403, 413))
def simulate(asset_id: int, body: s.SimulationIn) -> dict[str, Any]:
    """Run the asset's simulator.

    Simulate the asset with its own parameters (physics per asset type, optional injected
    faults), resuming from its stored state. Returns each sensor's summary and its values cut
    to ``max_points``. With ``store`` (a write token), the readings are also written to the
    history through the bulk path (idempotent: a re-run replaces them)."""
    context = twin()
    asset = _asset(asset_id)
    if body.store and not current().allows("write"):
        raise ApiError(403, "forbidden", "store: writing simulated readings needs a write token.")
    hours = (body.end - body.start) / timedelta(hours=1)
    if hours > context.settings.api.max_simulation_hours:
        raise ApiError(422, "validation_error", f"end: a simulation covers at most "
                       f"{context.settings.api.max_simulation_hours:g} hours; this one {hours:g}.",
                       [{"field": "end", "code": "too_long", "message": "range too long"}])
    try:
        faults = [Fault(f.kind, f.start, f.end, f.sensor, f.magnitude) for f in body.faults]
        result = simulate_asset(context.db, asset.id, body.start, body.end,
                                interval_s=body.interval_s, seed=body.seed, faults=faults,
                                resume=body.resume)
    except (ValueError, KeyError) as exc:  # KeyError: a fault's sensor the asset type lacks
        message = str(exc.args[0]) if exc.args else str(exc)
        raise ApiError(422, "validation_error", f"faults: {message}",
                       [{"field": "faults", "code": "invalid_fault", "message": message}]) from None
    stored = write_simulation(context.db, asset.id, result) if body.store else 0
    frame = result.frame
    step = max(1, -(-len(frame) // body.max_points))
    shown = frame.iloc[::step]
    sensors = []
    for name in frame.columns:
        column = frame[name].to_numpy(dtype=float)
        finite = column[np.isfinite(column)]
        sensors.append({
            "name": name,
            "min": float(finite.min()) if len(finite) else None,
            "max": float(finite.max()) if len(finite) else None,
            "mean": float(finite.mean()) if len(finite) else None,
            "last": float(column[-1]) if len(column) and np.isfinite(column[-1]) else None,
            "values": [v if np.isfinite(v) else None for v in shown[name].to_numpy(dtype=float)],
        })
    labels = result.labels.astype(object).where(result.labels.notna(), None)
    return {"asset_id": asset.id, "start": body.start, "end": body.end,
            "interval_s": body.interval_s, "rows": len(frame), "stored": stored,
            "ts": shown.index.to_pydatetime().tolist(), "sensors": sensors,
            "faults": labels.to_dict(orient="records")}


# -- meters -----------------------------------------------------------------------------------


@bp.get("/meters")
@bp.auth_required(auth, roles=READ)
@bp.input(s.PageQuery, location="query", arg_name="query")
@bp.output(s.MeterPage)
@bp.doc(responses=responses())
def list_meters(query: s.PageQuery) -> dict[str, Any]:
    """List meters.

    The supplier's customer meters with their last reading and cost to date."""
    rows, total = meters_page(db_session(), current().supplier_id, start=query.offset,
                              end=query.offset + query.per_page, now=utcnow())
    return s.Page.of([vars(r) for r in rows], query, total)


def _reading_out(reading: Any, duplicate: bool = False) -> dict[str, Any]:
    return {"id": reading.id, "meter_id": reading.meter_id, "read_at": reading.read_at,
            "value": reading.value, "kind": reading.kind, "source": reading.source,
            "flags": [f for f in (reading.flags or "").split(",") if f],
            "advance": reading.advance, "kwh": reading.kwh, "days": reading.days,
            "total_p": reading.total_p, "duplicate": duplicate}


@bp.get("/meters/<id:meter_id>/readings")
@bp.auth_required(auth, roles=READ)
@bp.input(s.PageQuery, location="query", arg_name="query")
@bp.output(s.MeterReadingPage)
@bp.doc(responses=responses())
def meter_readings(meter_id: int, query: s.PageQuery) -> dict[str, Any]:
    """A meter's readings, newest first."""
    try:
        rows, total = catalog.meter_readings(db_session(), current().supplier_id, meter_id,
                                             offset=query.offset, limit=query.per_page)
    except MeterNotFound:
        raise not_found("meter", meter_id) from None
    return s.Page.of([_reading_out(r) for r in rows], query, total)


@bp.post("/meters/<id:meter_id>/readings")
@bp.auth_required(auth, roles=WRITE)
@bp.input(s.MeterReadingIn, location="json", arg_name="body")
@bp.output(s.MeterReadingOut, status_code=201)
@bp.doc(responses={200: "The same reading was already stored", **responses(400, 403, 409, 413)})
def post_meter_reading(meter_id: int, body: s.MeterReadingIn) -> Any:
    """Enter a meter reading (the portal's rules).

    Checked by the same rules as the portal's reading modal (not a number, too many digits,
    in the future, not after the previous reading: 422 with the rule's code), except that a
    device may send readings of past billing periods. A warning (lower than the previous
    reading, no advance, a high advance) needs a ``reason``. Priced under the meter's dated
    tariffs. Sending the same reading again returns it with ``duplicate`` true (200); another
    value at the same time is a 409."""
    context, token = twin(), current()
    # A JSON number keeps its shortest decimal form: 1300 -> "1300", 0.1 -> "0.1", 1e16 -> 17 digits.
    value = body.value if isinstance(body.value, str) else format(Decimal(repr(body.value)), "f")
    session = db_session()
    try:
        saved = save_reading(session, supplier_id=token.supplier_id, user_id=None,
                             role="operator", meter_id=meter_id, value_text=value,
                             read_at=body.read_at, tariff_settings=context.settings.tariffs,
                             kind=body.kind, source="api", reason=body.reason,
                             lower_means=body.lower_means, ip=request.remote_addr)
        session.commit()
    except MeterNotFound:
        session.rollback()
        raise not_found("meter", meter_id) from None
    except ReadingRefused as exc:
        session.rollback()
        problems = exc.problems
        conflict = any(p.code == "duplicate_time" for p in problems)
        field = {"future": "read_at", "before_previous": "read_at", "duplicate_time": "read_at",
                 "reason_required": "reason", "reason_not_text": "reason", "no_tariff": "read_at"}
        raise ApiError(409 if conflict else 422, "conflict" if conflict else "reading_refused",
                       "; ".join(p.message for p in problems),
                       [{"field": field.get(p.code, "value"), "code": p.code, "message": p.message}
                        for p in problems]) from None
    reading = session.get(MeterReading, saved.reading_id)
    return _reading_out(reading, saved.duplicate), 200 if saved.duplicate else 201


# -- alerts -----------------------------------------------------------------------------------


def _alert_out(row: Any) -> dict[str, Any]:
    return vars(row)


@bp.get("/alerts")
@bp.auth_required(auth, roles=READ)
@bp.input(s.AlertQuery, location="query", arg_name="query")
@bp.output(s.AlertPage)
@bp.doc(responses=responses())
def list_alerts(query: s.AlertQuery) -> dict[str, Any]:
    """List alerts.

    Open first, then acknowledged, then closed; critical before warning; newest first."""
    rows, total = page_alerts(db_session(), current().supplier_id, offset=query.offset,
                              limit=query.per_page, status=query.status,
                              asset_id=query.asset_id, site_id=query.site_id)
    return s.Page.of([_alert_out(r) for r in rows], query, total)


@bp.post("/alerts/<id:alert_id>/acknowledge")
@bp.auth_required(auth, roles=WRITE)
@bp.input(s.AcknowledgeIn, location="json", arg_name="body")
@bp.output(s.AlertOut)
@bp.doc(responses=responses(400, 403, 409, 413))
def acknowledge_alert(alert_id: int, body: s.AcknowledgeIn) -> dict[str, Any]:
    """Acknowledge an open alert.

    Marks the alert acknowledged with the comment, in the token's name (shown on the
    portal's Alerts page); 409 when it is already acknowledged or closed."""
    token, session = current(), db_session()
    try:
        acknowledge(session, supplier_id=token.supplier_id, user_id=None, role="operator",
                    alert_id=alert_id, comment=body.comment, now=utcnow(),
                    ip=request.remote_addr, via=f"API token '{token.name}'")
        session.commit()
    except AlertNotFound:
        session.rollback()
        raise not_found("alert", alert_id) from None
    except AcknowledgeRefused as exc:
        session.rollback()
        empty = not body.comment.strip()
        raise ApiError(422 if empty else 409, "validation_error" if empty else "conflict",
                       str(exc), [{"field": "comment", "code": "refused", "message": str(exc)}]
                       ) from None
    row = find_alert(session, token.supplier_id, alert_id)
    return _alert_out(row)
