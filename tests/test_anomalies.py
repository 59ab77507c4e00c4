"""Anomaly detection and alerts: each rule on hand-made frames, classification, episodes,
recording (merging, never duplicating), detection over stored readings and from the pipeline,
the Alerts page through Dash's real endpoint, and precision and recall on simulated faults.

Hand-made frames are 1-minute readings from T0 of a test asset type whose rules are chosen per
test; every expected time, duration and class below was worked out by hand from the frame.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from app.alerts import (
    AcknowledgeRefused,
    AlertNotFound,
    acknowledge,
    find_alert,
    list_alerts,
    open_counts,
)
from app.anomalies import (
    Finding,
    close_finished,
    detect,
    reading_interval,
    record_alerts,
    rule_context,
    run_detection,
)
from app.db import Database
from app.db.models import Alert, AuditLog, User
from app.detection_score import Score, evaluate
from app.generator import SignalSpec
from app.pipeline import calculate
from app.simulation import Fault, simulate, write
from app.twins import ASSET_TYPES, SIMULATED_TYPES
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import AtMostFor, Expected, FlatLine, Imbalance, Spike, Threshold
from settings import Settings
from tests.conftest import AuthActions, DashCaller, add_plant, dash_as, make_settings, utc

T0 = utc(2026, 3, 2, 8)
MINUTE = timedelta(minutes=1)
SIGNAL = SignalSpec(0, 1)


def at(minute: float) -> datetime:
    return T0 + minute * MINUTE


def kind_with(*rules: Any, sensors: dict[str, tuple[str, float, float]] | None = None) -> AssetType:
    """A test asset type with the given rules; sensors name -> (unit, normal min, normal max)."""
    sensors = sensors or {"temperature": ("°C", 58.0, 62.0), "level": ("fraction", 0.2, 1.0),
                          "flow": ("L/min", 0.0, 2.0), "power": ("kW", 0.0, 0.04),
                          "inlet_flow": ("m³/h", 0.0, 50.0), "outlet_flow": ("m³/h", 0.0, 50.0)}
    return AssetType(
        name="tester", label="Tester", description="",
        sensors=tuple(SensorSpec(n, u, lo, hi, SIGNAL) for n, (u, lo, hi) in sensors.items()),
        calculate=lambda wide, carry, parameters: (wide, carry),
        default_parameters={"setpoint_c": 60.0}, anomaly_rules=tuple(rules),
    )


STATIC = {
    "temperature": {"setpoint_band": 2.0},
    "level": {"low": 0.2},
    "power": {"high": 0.04},
    "flow": {"at_most": 0.001, "for_minutes": 5},
    "outlet_flow": {"imbalance": 0.05, "for_minutes": 10},
}


def anomaly_settings(tmp_path: Any, **anomaly: Any) -> Settings:
    overrides = {f"anomaly__{key}": value for key, value in anomaly.items()}
    return make_settings(tmp_path, anomaly__static={"tester": STATIC}, **overrides)


def quiet(minutes: int = 240, seed: int = 3) -> pd.DataFrame:
    """A healthy dispenser-like asset: every sensor inside its limits, with a little noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(T0, periods=minutes, freq="1min")
    return pd.DataFrame({
        "temperature": 60 + rng.normal(0, 0.2, minutes),
        "level": np.linspace(0.9, 0.6, minutes) + rng.normal(0, 0.002, minutes),
        "flow": np.where(np.arange(minutes) % 4 == 0, 1.2, 0.3) + rng.normal(0, 0.01, minutes),
        "power": 0.02 + rng.normal(0, 0.001, minutes),
        "inlet_flow": 20 + rng.normal(0, 0.2, minutes),
        "outlet_flow": 20 + rng.normal(0, 0.2, minutes),
    }, index=index)


def spans(found: list[Finding]) -> list[tuple[str, str, datetime, datetime, str]]:
    return [(f.kind, f.sensor, f.start, f.end, f.classification) for f in found]


# -- each rule ------------------------------------------------------------------------------


def test_a_healthy_asset_raises_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kind = kind_with(Threshold("temperature", "setpoint"), Threshold("level", "low", drawn_by="flow"),
                  Threshold("power", "high", consumption=True), AtMostFor("flow"),
                  Imbalance("inlet_flow", "outlet_flow"), FlatLine("temperature"), Spike("temperature"))
    assert detect(kind, {}, quiet(), anomaly_settings(tmp_path)) == []


def test_a_consumption_above_its_rated_limit_is_one_limit_episode_not_overuse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Overuse is judged against what the asset is expected to use (tests/test_drift_and_overuse.py)
    frame = quiet()
    frame.iloc[100:120, frame.columns.get_loc("power")] = 0.055  # minutes 100..119
    found = detect(kind_with(Threshold("power", "high", consumption=True)), {}, frame, anomaly_settings(tmp_path))
    assert spans(found) == [("high", "power", at(100), at(119), "other")]
    assert found[0].severity == "warning"
    assert found[0].message == ("Power above 40 W for 20 minutes (highest 55 W): above its "
                                "rated limit (overuse is judged against expected use) (other cause)")


def test_the_setpoint_band_is_read_around_the_assets_own_setpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame["temperature"] += 5  # 65 C: fine for an asset set to 65, 5 C off for one set to 60
    frame.iloc[50:60, frame.columns.get_loc("temperature")] = 61.5
    kind = kind_with(Threshold("temperature", "setpoint"))
    found = detect(kind, {"setpoint_c": 65.0}, frame, anomaly_settings(tmp_path))
    assert spans(found) == [("off_setpoint", "temperature", at(50), at(59), "other")]
    assert "more than 2 °C from the 65 °C setpoint for 10 minutes (at worst 3.5 °C below)" in found[0].message
    # Set to 60, the asset is 5 C off except minutes 50-59 (1.5 C off): two episodes 11 minutes apart
    found = detect(kind, {}, frame, anomaly_settings(tmp_path))
    assert [(f.start, f.end) for f in found] == [(at(0), at(49)), (at(60), at(239))]


def test_a_low_level_that_fell_while_nothing_was_drawn_is_leakage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[180:, frame.columns.get_loc("flow")] = 0.0
    frame.iloc[180:, frame.columns.get_loc("level")] = np.linspace(0.3, 0.1, 60)  # below 0.2 from 210
    found = detect(kind_with(Threshold("level", "low", drawn_by="flow")), {}, frame, anomaly_settings(tmp_path))
    (leak,) = found
    first_low = 180 + int(np.argmax(np.linspace(0.3, 0.1, 60) < 0.2))
    assert (leak.kind, leak.start, leak.end, leak.classification, leak.severity) == (
        "low", at(first_low), at(239), "leakage", "critical")
    assert "kept falling while flow showed nothing drawn" in leak.message


def test_a_low_level_while_water_is_being_drawn_is_not_leakage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[180:, frame.columns.get_loc("level")] = np.linspace(0.3, 0.1, 60)  # flow still drawn
    (low,) = detect(kind_with(Threshold("level", "low", drawn_by="flow")), {}, frame, anomaly_settings(tmp_path))
    assert (low.classification, low.severity) == ("other", "warning")
    assert "drawn faster than it was refilled" in low.message


def test_at_most_counts_only_a_stop_of_five_minutes_or_more(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    flow = frame.columns.get_loc("flow")
    frame.iloc[30:34, flow] = 0.0  # 4 readings: 4 minutes
    frame.iloc[100:105, flow] = 0.0005  # 5 readings: 5 minutes, at most 0.001
    found = detect(kind_with(AtMostFor("flow")), {}, frame, anomaly_settings(tmp_path))
    assert spans(found) == [("at_most", "flow", at(100), at(104), "other")]
    assert found[0].message.startswith("Flow at most 0.001 L/min for 5 minutes")


def test_outlet_short_of_inlet_for_the_window_is_a_critical_leak(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[60:85, frame.columns.get_loc("outlet_flow")] *= 0.88  # 12 % lost, minutes 60..84
    found = detect(kind_with(Imbalance("inlet_flow", "outlet_flow")), {}, frame, anomaly_settings(tmp_path))
    (leak,) = found
    assert (leak.kind, leak.sensor, leak.classification, leak.severity) == (
        "imbalance", "outlet_flow", "leakage", "critical")
    # The 10-minute medians prove the loss; the episode is its own short readings, 60..84.
    assert (leak.start, leak.end) == (at(60), at(84))
    assert leak.message == ("Outlet flow 12% below inlet flow for 25 minutes: water is being lost "
                            "between them (leak)")


def test_meter_noise_and_one_wild_reading_are_not_a_leak(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[100, frame.columns.get_loc("outlet_flow")] = 2.0  # one reading 90 % short
    frame.iloc[150:200, frame.columns.get_loc("outlet_flow")] *= 0.98  # 2 %: inside the tolerance
    assert detect(kind_with(Imbalance("inlet_flow", "outlet_flow")), {}, frame, anomaly_settings(tmp_path)) == []


def test_a_reading_repeated_exactly_is_a_stuck_sensor_but_a_resting_zero_is_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[40:70, frame.columns.get_loc("temperature")] = 59.87  # 30 minutes
    frame.iloc[100:110, frame.columns.get_loc("temperature")] = 60.1  # 10 minutes: under 20
    frame.iloc[120:200, frame.columns.get_loc("flow")] = 0.0  # a flow resting at 0
    kind = kind_with(FlatLine("temperature"), FlatLine("flow", resting=(0.0,)))
    found = detect(kind, {}, frame, anomaly_settings(tmp_path))
    assert spans(found) == [("flat_line", "temperature", at(40), at(69), "sensor_error")]
    assert found[0].message.startswith("Temperature stuck at 59.9 °C for 30 minutes: a working sensor")


def test_a_jump_that_comes_back_is_a_spike_but_a_lasting_step_is_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    temperature = frame.columns.get_loc("temperature")
    frame.iloc[90, temperature] = 61.8  # 9 deviations above, for one reading
    frame.iloc[150:153, temperature] = 57.5  # 12 below, for three
    frame.iloc[200:, temperature] += 1.5  # a new level that stays
    settings = anomaly_settings(tmp_path, zscore_threshold=5.0)
    found = detect(kind_with(Spike("temperature")), {}, frame, settings)
    assert spans(found) == [("spike", "temperature", at(90), at(90), "sensor_error"),
                            ("spike", "temperature", at(150), at(152), "sensor_error")]
    assert "jumped to 61.8 °C" in found[0].message and "previous 60 readings" in found[0].message
    assert "came back within 3 minutes" in found[1].message


def test_a_jump_in_the_last_reading_waits_until_it_is_seen_to_come_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[-1, frame.columns.get_loc("temperature")] = 63.0
    assert detect(kind_with(Spike("temperature")), {}, frame, anomaly_settings(tmp_path)) == []


def test_a_spike_longer_than_the_setting_is_not_a_spike(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[100:106, frame.columns.get_loc("temperature")] = 63.0  # 6 minutes, then back
    kind = kind_with(Spike("temperature"))
    assert detect(kind, {}, frame, anomaly_settings(tmp_path, spike_max_minutes=5)) == []
    assert len(detect(kind, {}, frame, anomaly_settings(tmp_path, spike_max_minutes=6))) == 1


# -- episodes and classification --------------------------------------------------------------


def test_breaks_shorter_than_the_merge_gap_are_one_episode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    power = frame.columns.get_loc("power")
    for first in (20, 34, 60):  # 5 readings each; 34 starts 10 min after 24 ends, 60 is 22 after 38
        frame.iloc[first:first + 5, power] = 0.05
    kind = kind_with(Threshold("power", "high", consumption=True))
    found = detect(kind, {}, frame, anomaly_settings(tmp_path, merge_gap_minutes=10))
    assert [(f.start, f.end) for f in found] == [(at(20), at(38)), (at(60), at(64))]
    found = detect(kind, {}, frame, anomaly_settings(tmp_path, merge_gap_minutes=5))
    assert [(f.start, f.end) for f in found] == [(at(20), at(24)), (at(34), at(38)), (at(60), at(64))]


def test_a_hole_in_the_data_ends_a_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[100:140, frame.columns.get_loc("flow")] = 0.0
    holed = frame.drop(frame.index[103:135])  # readings at 100-102 and 135-139: 3 and 5 minutes
    found = detect(kind_with(AtMostFor("flow")), {}, holed, anomaly_settings(tmp_path, merge_gap_minutes=0))
    assert [(f.start, f.end) for f in found] == [(at(135), at(139))]


def test_a_stuck_sensor_explains_the_limit_its_frozen_reading_breaks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[100:160, frame.columns.get_loc("level")] = 0.15  # stuck below the low limit
    kind = kind_with(FlatLine("level"), Threshold("level", "low", drawn_by="flow"))
    found = detect(kind, {}, frame, anomaly_settings(tmp_path))
    assert spans(found) == [("flat_line", "level", at(100), at(159), "sensor_error")]


def test_rules_without_a_limit_in_the_settings_or_a_sensor_in_the_frame_check_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame["power"] = 1.0
    settings = make_settings(tmp_path, anomaly__static={"tester": {}})
    assert detect(kind_with(Threshold("power", "high")), {}, frame, settings) == []
    assert detect(kind_with(Threshold("pressure", "high")), {}, frame, anomaly_settings(tmp_path)) == []


# -- recording alerts ---------------------------------------------------------------------------


def finding(start: float, end: float, *, kind: str = "high", sensor: str = "sensor0",
            severity: str = "warning", classification: str = "overuse", note: str = "") -> Finding:
    return Finding(kind, sensor, at(start), at(end), severity, classification,
                   f"{sensor} {kind} {start:g}-{end:g}{note}")


def alerts_of(database: Database, asset_id: int) -> list[Alert]:
    with database.Session() as session:
        return list(session.scalars(select(Alert).where(Alert.asset_id == asset_id).order_by(Alert.id)))


def record(database: Database, asset_id: int, *found: Finding, gap: float = 10) -> Any:
    with database.Session() as session, session.begin():
        return record_alerts(session, asset_id, list(found), now=at(1000), merge_gap=gap * MINUTE)


def test_a_finding_becomes_an_open_alert_waiting_for_its_email(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0", "sensor1"])
    done = record(any_db, plant.asset_id, finding(10, 25, sensor="sensor1", severity="critical",
                                                 classification="leakage"))
    (alert,) = alerts_of(any_db, plant.asset_id)
    assert done.created == [alert.id] and done.extended == []
    assert (alert.sensor_id, alert.started_at, alert.ended_at, alert.kind, alert.severity,
            alert.classification, alert.message, alert.status, alert.notified_at) == (
        plant.sensor_ids[1], at(10), at(25), "high", "critical", "leakage", "sensor1 high 10-25",
        "open", None)


def test_the_same_episode_recorded_again_adds_nothing_and_changes_nothing(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0"])
    record(any_db, plant.asset_id, finding(10, 25))
    again = record(any_db, plant.asset_id, finding(10, 25), finding(12, 20))
    assert (again.created, again.extended, again.unchanged) == ([], [], 2)
    assert [(a.started_at, a.ended_at) for a in alerts_of(any_db, plant.asset_id)] == [(at(10), at(25))]


def test_an_episode_that_goes_on_extends_its_alert_with_the_newest_text(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0"])
    record(any_db, plant.asset_id, finding(10, 25))
    grown = record(any_db, plant.asset_id, finding(15, 40, severity="critical", note=" worse"))
    follows = record(any_db, plant.asset_id, finding(48, 50))  # 8 minutes after: same episode
    (alert,) = alerts_of(any_db, plant.asset_id)
    assert grown.extended == [alert.id] and follows.extended == [alert.id]
    assert (alert.started_at, alert.ended_at, alert.severity, alert.message) == (
        at(10), at(50), "critical", "sensor0 high 48-50")


def test_a_new_episode_another_sensor_or_kind_is_a_new_alert(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0", "sensor1"])
    record(any_db, plant.asset_id, finding(10, 25))
    record(any_db, plant.asset_id, finding(36, 40),  # 11 minutes after the first ended
           finding(10, 25, sensor="sensor1"), finding(10, 25, kind="spike"))
    alerts = alerts_of(any_db, plant.asset_id)
    assert sorted((a.sensor_id, a.kind, a.started_at) for a in alerts) == [
        (plant.sensor_ids[0], "high", at(10)), (plant.sensor_ids[0], "high", at(36)),
        (plant.sensor_ids[0], "spike", at(10)), (plant.sensor_ids[1], "high", at(10))]


def test_an_acknowledged_alert_keeps_growing_and_closes_once_its_episode_is_over(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0"])
    record(any_db, plant.asset_id, finding(10, 25))
    with any_db.Session() as session, session.begin():
        session.execute(Alert.__table__.update().values(status="acknowledged"))
    record(any_db, plant.asset_id, finding(30, 40))
    with any_db.Session() as session, session.begin():
        assert close_finished(session, plant.asset_id, through=at(49), merge_gap=10 * MINUTE) == 0
        assert close_finished(session, plant.asset_id, through=at(51), merge_gap=10 * MINUTE) == 1
    (alert,) = alerts_of(any_db, plant.asset_id)
    assert (alert.status, alert.ended_at) == ("closed", at(40))
    # a closed episode is not reopened by detection seeing it again; a later one is a new alert
    record(any_db, plant.asset_id, finding(10, 45), finding(70, 75))
    assert [(a.status, a.started_at, a.ended_at) for a in alerts_of(any_db, plant.asset_id)] == [
        ("closed", at(10), at(40)), ("open", at(70), at(75))]


def test_an_open_alert_is_never_closed_by_detection(any_db: Database) -> None:
    plant = add_plant(any_db, ["sensor0"])
    record(any_db, plant.asset_id, finding(10, 25))
    with any_db.Session() as session, session.begin():
        assert close_finished(session, plant.asset_id, through=at(5000), merge_gap=10 * MINUTE) == 0


# -- the Alerts page: its service and its callbacks -------------------------------------------------


def add_alert(database: Database, plant: Any, *, status: str = "open", severity: str = "warning",
              message: str = "Power above 0.04 kW", start: float = 0) -> int:
    with database.Session() as session, session.begin():
        alert = Alert(asset_id=plant.asset_id, sensor_id=plant.sensor_ids[0], started_at=at(start),
                      ended_at=at(start + 20), kind="high", severity=severity,
                      classification="overuse", message=message, status=status)
        session.add(alert)
        session.flush()
        return alert.id


def alert_row(database: Database, alert_id: int) -> Alert:
    with database.Session() as session:
        found = session.get(Alert, alert_id)
        assert found is not None
        return found


def test_open_alerts_are_counted_per_site_of_the_supplier_only(db: Database, tenants: Any) -> None:
    alpha, beta = tenants
    north = add_plant(db, ["power"], name="North", supplier_id=alpha.supplier_id)
    south = add_plant(db, ["power"], name="South", supplier_id=alpha.supplier_id)
    add_plant(db, ["power"], name="Quiet", supplier_id=alpha.supplier_id)
    theirs = add_plant(db, ["power"], name="Theirs", supplier_id=beta.supplier_id)
    for plant, status, severity in [(north, "open", "critical"), (north, "open", "warning"),
                                    (north, "open", "warning"), (north, "acknowledged", "critical"),
                                    (north, "closed", "critical"), (south, "open", "warning"),
                                    (theirs, "open", "critical")]:
        add_alert(db, plant, status=status, severity=severity)
    with db.Session() as session:
        counts = [(c.site, c.critical, c.warning, c.acknowledged, c.open)
                  for c in open_counts(session, alpha.supplier_id)]
    assert counts == [("North", 1, 2, 1, 3), ("South", 0, 1, 0, 1), ("Quiet", 0, 0, 0, 0)]


def test_alerts_are_listed_open_first_then_critical_then_newest(db: Database, tenants: Any) -> None:
    alpha, beta = tenants
    mine = add_plant(db, ["power"], name="North", supplier_id=alpha.supplier_id)
    theirs = add_plant(db, ["power"], name="Theirs", supplier_id=beta.supplier_id)
    made = {
        "closed": add_alert(db, mine, status="closed", severity="critical", start=90),
        "acknowledged": add_alert(db, mine, status="acknowledged", start=80),
        "old warning": add_alert(db, mine, start=10),
        "new warning": add_alert(db, mine, start=50),
        "critical": add_alert(db, mine, severity="critical", start=5),
    }
    add_alert(db, theirs, severity="critical", start=99)
    with db.Session() as session:
        every = [r.id for r in list_alerts(session, alpha.supplier_id)]
        opened = [r.id for r in list_alerts(session, alpha.supplier_id, open_only=True)]
        assert find_alert(session, alpha.supplier_id, made["critical"]) is not None
        assert find_alert(session, beta.supplier_id, made["critical"]) is None
    assert every == [made[k] for k in ("critical", "new warning", "old warning", "acknowledged", "closed")]
    assert opened == every[:3]


def test_acknowledging_records_who_when_and_why_and_audits_it(db: Database, tenants: Any) -> None:
    alpha = tenants[0]
    plant = add_plant(db, ["power"], supplier_id=alpha.supplier_id)
    alert_id = add_alert(db, plant)
    with db.Session() as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.email == alpha.users["operator"][0]))
        acknowledge(session, supplier_id=alpha.supplier_id, user_id=user_id, role="operator",
                    alert_id=alert_id, comment="  Engineer on site at 10:00 ", now=at(30), ip="10.0.0.9")
    row = alert_row(db, alert_id)
    assert (row.status, row.acknowledged_by_id, row.acknowledged_at, row.ack_comment) == (
        "acknowledged", user_id, at(30), "Engineer on site at 10:00")
    with db.Session() as session:
        (audit,) = session.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledged")).all()
        assert (audit.user_id, audit.entity_id, audit.ip, audit.new) == (
            user_id, str(alert_id), "10.0.0.9", {"status": "acknowledged", "comment": "Engineer on site at 10:00"})
        with pytest.raises(AcknowledgeRefused, match="already acknowledged"):
            acknowledge(session, supplier_id=alpha.supplier_id, user_id=user_id, role="admin",
                        alert_id=alert_id, comment="again", now=at(40))


def test_acknowledging_is_refused_to_viewers_without_a_comment_and_across_suppliers(
        db: Database, tenants: Any) -> None:
    alpha, beta = tenants
    theirs = add_alert(db, add_plant(db, ["power"], supplier_id=beta.supplier_id))
    mine = add_alert(db, add_plant(db, ["power"], name="Mine", supplier_id=alpha.supplier_id))
    asked = {"supplier_id": alpha.supplier_id, "user_id": 1, "now": at(30)}
    with db.Session() as session:
        with pytest.raises(PermissionError):
            acknowledge(session, role="viewer", alert_id=mine, comment="mine", **asked)
        with pytest.raises(AlertNotFound):
            acknowledge(session, role="admin", alert_id=theirs, comment="not mine", **asked)
        with pytest.raises(AcknowledgeRefused, match="comment is required"):
            acknowledge(session, role="admin", alert_id=mine, comment="   ", **asked)
        session.rollback()
    assert alert_row(db, theirs).status == alert_row(db, mine).status == "open"


def body(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


def test_the_alerts_page_shows_the_suppliers_alerts_and_site_counts(client, db, tenants) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = tenants
    mine = add_plant(db, ["power"], name="North", supplier_id=alpha.supplier_id)
    add_alert(db, mine, severity="critical", message="Ours: power above 0.04 kW")
    add_alert(db, mine, status="closed", message="Ours, closed")
    add_alert(db, add_plant(db, ["power"], name="Theirs", supplier_id=beta.supplier_id),
              message="Theirs: leak")
    call = dash_as(client, alpha, "operator")
    shown = body(call("alerts-table.children", {"url.pathname": "/alerts", "alerts-filter.value": "open"}))
    assert "Ours: power above 0.04 kW" in shown and "Theirs" not in shown and "Ours, closed" not in shown
    assert f"/assets/{mine.asset_id}" in shown and "alerts-ack-open" in shown and "North" in shown
    every = body(call("alerts-table.children", {"url.pathname": "/alerts", "alerts-filter.value": "all"}))
    assert "Ours, closed" in every and "Theirs" not in every
    viewer = body(dash_as(client, alpha, "viewer")("alerts-table.children", {"alerts-filter.value": "open"}))
    assert "Ours: power above 0.04 kW" in viewer and "alerts-ack-open" not in viewer


def test_acknowledge_through_the_page_and_a_forged_id_of_another_supplier_changes_nothing(
        client, db, tenants) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = tenants
    mine = add_alert(db, add_plant(db, ["power"], name="North", supplier_id=alpha.supplier_id))
    theirs = add_alert(db, add_plant(db, ["power"], name="Theirs", supplier_id=beta.supplier_id))

    def confirm(call: DashCaller, alert_id: int, comment: str) -> str:
        return body(call("alerts-changed.data", {"alerts-ack-confirm.n_clicks": 1,
                                                 "alerts-ack-target.data": alert_id,
                                                 "alerts-ack-comment.value": comment,
                                                 "alerts-changed.data": 4}))

    viewer = confirm(dash_as(client, alpha, "viewer"), mine, "let me")
    assert "can see alerts but not acknowledge them" in viewer
    operator = dash_as(client, alpha, "operator")
    assert "This alert is not available." in confirm(operator, theirs, "forged")
    assert "comment is required" in confirm(operator, mine, "")
    assert alert_row(db, mine).status == alert_row(db, theirs).status == "open"
    done = json.loads(confirm(operator, mine, "Valve replaced"))["response"]
    assert done["alerts-changed"]["data"] == 5 and done["alerts-ack-modal"]["is_open"] is False
    row = alert_row(db, mine)
    assert (row.status, row.ack_comment) == ("acknowledged", "Valve replaced")
    assert alert_row(db, theirs).status == "open"


def test_the_acknowledge_button_opens_the_dialog_for_the_suppliers_own_alert_only(
        client, db, tenants) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = tenants
    mine = add_alert(db, add_plant(db, ["power"], name="North", supplier_id=alpha.supplier_id),
                     message="Ours: power above 0.04 kW")
    theirs = add_alert(db, add_plant(db, ["power"], name="Theirs", supplier_id=beta.supplier_id),
                       message="Theirs: leak")
    call = dash_as(client, alpha, "operator")
    dep = call._callback("alerts-ack-modal.is_open")

    def press(alert_id: int) -> dict[str, Any]:
        button = {"type": "alerts-ack-open", "alert": alert_id}
        # what the renderer sends for an ALL pattern: the list of matching buttons
        payload = {
            "output": dep["output"],
            "outputs": [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
                        for part in dep["output"].strip(".").split("...")],
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}],
                       {"id": "alerts-ack-cancel", "property": "n_clicks", "value": None}],
            "state": [],
            "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
        }
        return json.loads(body(client.post("/_dash-update-component", json=payload)))["response"]

    opened = press(mine)
    assert opened["alerts-ack-modal"]["is_open"] is True and opened["alerts-ack-target"]["data"] == mine
    assert "Ours: power above 0.04 kW" in json.dumps(opened["alerts-ack-summary"])
    forged = press(theirs)
    assert forged["alerts-ack-modal"]["is_open"] is False and forged["alerts-ack-target"]["data"] is None
    assert "Theirs" not in json.dumps(forged)


# -- the asset types' physics in the rules ------------------------------------------------------


def dispenser_kind() -> AssetType:
    return kind_with(Threshold("temperature", "setpoint", drawn_by="flow",
                               refill=("inlet_c", "tank_litres"), heated_by="power"))


DISPENSER = {"setpoint_c": 60.0, "inlet_c": 12.0, "tank_litres": 20.0}


def cooling_frame(*, draws_every: int | None, power: float) -> pd.DataFrame:
    """Four hours: three healthy, then the water falls from 60 to 55 C in the last hour."""
    frame = quiet()
    frame["temperature"] = 60.0 + np.random.default_rng(5).normal(0, 0.05, len(frame))
    frame.iloc[180:, frame.columns.get_loc("temperature")] = np.linspace(60.0, 55.0, 60)
    frame["flow"] = 0.0
    if draws_every:
        frame.iloc[::draws_every, frame.columns.get_loc("flow")] = 0.2  # 0.2 L a draw
    frame["power"] = power
    return frame


def test_a_store_that_cools_with_nothing_drawn_is_leaking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (leak,) = detect(dispenser_kind(), DISPENSER, cooling_frame(draws_every=None, power=0.04),
                     anomaly_settings(tmp_path))
    # below 58 C from minute 180 + 24.x: 5 C over 59 minutes
    assert (leak.kind, leak.classification, leak.severity) == ("off_setpoint", "leakage", "critical")
    assert "only 0.0 L was drawn in the 3 hours before and during it, which cools the water 0.0 °C, " \
           "not 5.0 °C: cold water is replacing water that leaks (leak)" in leak.message


def test_a_store_that_cools_because_so_much_is_drawn_is_not_leaking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a draw every 4 minutes: 60 draws in the 4 hours = 12 L, which cools it 48 x 12 / 20 = 28.8 C
    (used,) = detect(dispenser_kind(), DISPENSER, cooling_frame(draws_every=4, power=0.04),
                     anomaly_settings(tmp_path))
    assert (used.classification, used.severity) == ("other", "warning")
    assert "more than the heater can reheat" in used.message


def test_a_store_below_its_setpoint_with_the_heater_off_has_a_thermometer_reading_low(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (wrong,) = detect(dispenser_kind(), DISPENSER, cooling_frame(draws_every=None, power=0.0),
                      anomaly_settings(tmp_path))
    assert wrong.classification == "sensor_error" and "the sensor reads low" in wrong.message


def test_sensors_that_disagree_explain_away_what_their_readings_would_mean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame["level"] = 0.8 + np.random.default_rng(8).normal(0, 0.002, len(frame))
    frame.iloc[100:160, frame.columns.get_loc("level")] -= 0.2  # the level reads 0.2 low
    # Both rules' "physics" also read the flow: a sensor error of the second explains the first.
    kind = kind_with(
        Expected("level", lambda f, p: f["flow"] * 0 + 0.8, uses=("flow",), meaning="leakage"),
        Expected("power", lambda f, p: f["flow"] * 0 + 0.02, uses=("flow",), bound="both",
                 meaning="sensor_error"),
        sensors={"level": ("fraction", 0.2, 1.0), "flow": ("L/min", 0.0, 2.0), "power": ("kW", 0.0, 0.04)})
    settings = make_settings(tmp_path, anomaly__static={
        "tester": {"level": {"deviation": 0.1}, "power": {"deviation": 0.005}}})
    alone = detect(kind, {}, frame.drop(columns=["power"]), settings)  # the power rule cannot check
    assert [(f.sensor, f.classification, f.start, f.end) for f in alone] == [
        ("level", "leakage", at(100), at(159))]
    frame.iloc[90:170, frame.columns.get_loc("power")] = 0.03  # disagrees around the same time
    found = detect(kind, {}, frame, settings)
    assert [(f.sensor, f.classification, f.start, f.end) for f in found] == [
        ("power", "sensor_error", at(90), at(169))]


def simulated(asset_type_name: str, *faults: Fault, days: float = 2, seed: int = 1) -> Any:
    return simulate(asset_type_name, {}, T0, T0 + timedelta(days=days), seed=seed, faults=faults)


@pytest.mark.parametrize("asset_type_name", sorted(SIMULATED_TYPES))
def test_every_rule_of_every_type_checks_with_the_default_settings_and_a_healthy_run_raises_nothing(
        asset_type_name: str, settings: Settings) -> None:
    kind = ASSET_TYPES[asset_type_name]
    frame = simulated(asset_type_name).frame
    context = rule_context(kind, {}, settings.anomaly, reading_interval(frame))
    assert kind.anomaly_rules, "every type declares its anomaly rules"
    assert all(rule.check(frame, context) is not None for rule in kind.anomaly_rules)
    assert detect(asset_type_name, {}, frame, settings) == []


@pytest.mark.parametrize(("asset_type_name", "fault", "sensor", "kind", "classification"), [
    ("pipeline", Fault("leak", at(600), at(720), magnitude=0.12), "outlet_flow", "imbalance", "leakage"),
    ("pressure_tank", Fault("leak", at(600), at(720), magnitude=0.15), "level", "imbalance", "leakage"),
    ("boiler", Fault("leak", at(600), at(720), magnitude=0.01), "pressure", "deviation", "leakage"),
    ("water_dispenser", Fault("leak", at(600), at(720), magnitude=0.1), "temperature", "off_setpoint",
     "leakage"),
    ("heat_exchanger", Fault("stuck_sensor", at(600), at(700), "cold_outlet_temperature"),
     "cold_outlet_temperature", "flat_line", "sensor_error"),
    ("drivetrain", Fault("spike", at(600), at(601), "oil_temperature", 1.0), "oil_temperature", "spike",
     "sensor_error"),
    ("drivetrain", Fault("overuse", at(600), at(720), magnitude=2.0), "torque", "high", "other"),
])
def test_an_injected_fault_is_found_as_what_it_is_and_nothing_else_is(
        asset_type_name: str, fault: Fault, sensor: str, kind: str, classification: str,
        settings: Settings) -> None:
    found = detect(asset_type_name, {}, simulated(asset_type_name, fault).frame, settings)
    assert [(f.sensor, f.kind, f.classification) for f in found] == [(sensor, kind, classification)]
    assert found[0].start < fault.end and found[0].end >= fault.start


def test_a_flow_meter_that_reads_wrong_is_not_a_pipeline_leak(settings: Settings) -> None:
    drifting = Fault("drift", at(600), at(840), "outlet_flow", -8.0)  # 8 m3/h less each hour
    found = detect("pipeline", {}, simulated("pipeline", drifting).frame, settings)
    assert [(f.sensor, f.kind, f.classification) for f in found] == [("outlet_flow", "imbalance", "sensor_error")]
    assert "the outlet meter reads low" in found[0].message


# -- detection over stored readings, and from the pipeline ---------------------------------------

PIPE_SENSORS = ["inlet_flow", "outlet_flow", "pressure_drop"]
LEAK = Fault("leak", at(600), at(720), magnitude=0.12)


def leaking_pipeline(database: Database) -> Any:
    plant = add_plant(database, PIPE_SENSORS, asset_type="pipeline")
    write(database, plant.asset_id, simulated("pipeline", LEAK, days=1))
    return plant


def test_detection_over_stored_readings_raises_one_alert_and_a_rerun_adds_nothing(any_db: Database) -> None:
    plant = leaking_pipeline(any_db)
    first = run_detection(any_db, any_db.settings, plant.asset_id, T0, T0 + timedelta(days=1), now=at(1500))
    (alert,) = alerts_of(any_db, plant.asset_id)
    assert (first.created, first.extended, first.by_class) == (1, 0, {"leakage": 1})
    assert (alert.kind, alert.classification, alert.severity, alert.sensor_id) == (
        "imbalance", "leakage", "critical", plant.sensor_ids[1])
    assert LEAK.start <= alert.started_at <= LEAK.start + 10 * MINUTE and LEAK.end - 10 * MINUTE <= alert.ended_at < LEAK.end
    again = run_detection(any_db, any_db.settings, plant.asset_id, T0, T0 + timedelta(days=1), now=at(1600))
    assert (again.created, again.extended) == (0, 0) and len(alerts_of(any_db, plant.asset_id)) == 1


def test_a_leak_seen_across_runs_and_batches_is_one_alert_with_the_whole_span(
        tmp_path, any_db: Database) -> None:  # type: ignore[no-untyped-def]
    whole = leaking_pipeline(any_db)
    run_detection(any_db, any_db.settings, whole.asset_id, T0, T0 + timedelta(days=1))
    (reference,) = alerts_of(any_db, whole.asset_id)
    split = add_plant(any_db, PIPE_SENSORS, name="South Farm", asset_type="pipeline")
    write(any_db, split.asset_id, simulated("pipeline", LEAK, days=1))
    small = make_settings(tmp_path, pipeline__batch_seconds=6000, database__url=any_db.settings.database_url)
    run_detection(any_db, small, split.asset_id, T0, at(660))  # the run ends mid-leak
    (partial,) = alerts_of(any_db, split.asset_id)
    assert partial.ended_at is not None and partial.ended_at < at(660)
    second = run_detection(any_db, small, split.asset_id, at(660), T0 + timedelta(days=1))
    (alert,) = alerts_of(any_db, split.asset_id)
    assert second.batches > 5 and (second.created, second.extended) == (0, 1)
    assert (alert.started_at, alert.ended_at) == (reference.started_at, reference.ended_at)
    assert alert.message == reference.message  # re-read from the episode's start: the whole leak


def test_the_pipeline_raises_alerts_for_the_range_it_calculates(db: Database, settings: Settings) -> None:
    plant = leaking_pipeline(db)
    summary = calculate(db, settings, plant.asset_id)
    assert summary.details["anomalies"]["created"] == 1 and "detect" in summary.timings_s
    (alert,) = alerts_of(db, plant.asset_id)
    assert (alert.classification, alert.status, alert.notified_at) == ("leakage", "open", None)
    assert calculate(db, settings, plant.asset_id).decision == "up to date"


# -- settings ------------------------------------------------------------------------------------


def test_the_settings_file_holds_the_anomaly_defaults_including_the_dispensers_static_rules() -> None:
    from settings import AnomalySettings, load_settings

    loaded = load_settings(environ={}).anomaly
    assert loaded == AnomalySettings()
    dispenser = loaded.static["water_dispenser"]
    assert (dispenser["temperature"].setpoint_band, dispenser["level"].low, dispenser["power"].high,
            dispenser["flow"].at_most, dispenser["flow"].for_minutes) == (2.0, 0.2, 0.04, 0.001, 5.0)


# -- precision and recall on simulated faults ------------------------------------------------------


def test_precision_and_recall_on_injected_faults_meet_the_targets(settings: Settings) -> None:
    """bench/anomalies.py on a smaller run: every type, 10 days (20 faults each), one seed."""
    totals = {kind: Score() for kind in ("leak", "stuck_sensor", "spike", "drift", "overuse")}
    for name in sorted(SIMULATED_TYPES):
        for kind, score in evaluate(name, utc(2026, 1, 5), 10, 11, settings.anomaly).items():
            totals[kind].add(score)
    report = {kind: (s.found, s.faults, s.recall, s.right, s.alerts, s.precision) for kind, s in totals.items()}
    print("\nfound, faults, recall, right alerts, alerts, precision:", report)
    for kind in ("leak", "stuck_sensor", "spike"):
        score = totals[kind]
        assert score.faults >= 15, kind
        assert (score.recall or 0) >= 0.9, (kind, score.missed)
        assert (score.precision or 0) >= 0.8, (kind, score.wrong)


def test_the_alerts_page_is_registered_and_builds_with_its_components(client, tenants) -> None:  # type: ignore[no-untyped-def]
    from layouts import PAGES
    from layouts import alerts as page

    assert page in PAGES
    built = json.dumps(page.layout().to_plotly_json(), default=str)
    for part in ("alerts-filter", "alerts-sites", "alerts-table", "alerts-ack-modal", "alerts-ack-comment"):
        assert part in built
    AuthActions(client).login(*tenants[0].users["viewer"])
    assert client.get("/alerts").status_code == 200
