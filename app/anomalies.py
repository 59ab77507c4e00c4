"""Anomaly detection: an asset's readings -> findings (episodes) -> alerts.

Detecting
    :func:`detect` is pure: it runs the asset type's ``anomaly_rules`` (:mod:`app.twins.rules`)
    over a frame of readings (a column per sensor, UTC index). Each rule marks the readings
    that break it; a run of consecutive marked readings counts when it lasts as long as the
    rule asks (a stopped flow: 5 minutes; a spike: at most ``anomaly.spike_max_minutes``).
    Runs of one rule less than ``anomaly.merge_gap_minutes`` apart are one *episode*, so a
    value that hovers around its limit is one finding, not one per reading.

Classifying (each finding's ``classification``; its message ends with the reason, in words):
    1. ``sensor_error`` - a flat line (the reading unchanged, to the last digit, for
       ``anomaly.flat_minutes``: a working sensor always varies a little); a spike (a jump, or
       a reading outside what the sensor can read, that comes straight back within minutes:
       nothing physical with any inertia does that); sensors that disagree with the type's
       physics (a tank's pressure and level; a boiler's flue temperature, water temperature
       and firing; a pipeline's flows whose pressure drop says no water is lost between them);
       a stored water temperature below its setpoint while the thermostat leaves the heater
       off (the water is not cold: the thermometer reads low).
    2. ``leakage`` - less flows out than in (an imbalance), a store losing more than its meters
       account for (a balance), a reading below what the physics expects where the type says
       that means a leak (a sealed boiler's pressure); a level below its limit that fell while
       the outflow sensor (the rule's ``drawn_by``) showed nothing drawn; a stored water
       temperature below its setpoint further than the water drawn in the hours before can
       cool it (cold water is replacing water that leaks).
    3. ``overuse`` - what the asset uses (the type's ``uses``: fuel, torque, water drawn, heat
       passed) above what it is expected to use at that time of day and week
       (:class:`~app.twins.rules.Overuse`, by a CUSUM on the usual expectation).
    4. ``other`` - anything else outside its limits (a temperature above its setpoint, a flow
       that stopped, a low level while water was being drawn, a use above its rated limit, a
       store below its setpoint because more is drawn than the heater can reheat).

    And the model-based ``drift`` (:class:`~app.twins.rules.Drift`, on every sensor:
    ``sensor_error``), whose findings carry the change point, when the CUSUM noticed it and how
    far it departed.
    The first that applies wins. Leakage is critical; otherwise the rule says the severity
    (``critical`` or ``warning``; ``warning`` unless the type says otherwise). Then sensor errors explain other findings away: a finding
    that lies within a flat line or a spike of a sensor its rule reads is dropped (a stuck level
    sensor reading 0.1 is not also a low level, nor a tank losing water), and so is one of
    another class that lies within any other sensor error (sensors that disagree) whose rule
    reads a sensor its rule reads.

Recording
    :func:`record_alerts` stores findings as ``alerts`` rows: a finding of the same asset,
    sensor and kind that overlaps an alert, or starts within the merge gap of its end, continues
    that alert (its span grows, its text is the newest) instead of adding a row, so re-running
    a range or detecting batch after batch never duplicates an alert. :func:`run_detection`
    reads an asset's readings for a range (in the pipeline's batches, each with enough history
    before it for the rolling checks), detects and records; the pipeline runs it after each
    ``calculate``. New alerts are ``open`` with ``notified_at`` unset, so the alert emails
    (app/mail/requests.py) pick them up.

Alert lifecycle: ``open`` (raised, nobody has looked) -> ``acknowledged`` (someone has taken it:
who, when, comment; see app/alerts.py) -> ``closed``, which detection sets once an
acknowledged alert's episode is over: a run has covered the merge gap after its end without
the anomaly coming back. An alert nobody acknowledged stays open, however long ago it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app import plain_text
from app.db import Database
from app.db.base import utcnow
from app.db.models import Alert, Asset, Sensor
from app.twins import AssetType, asset_type
from app.changes import statistics
from app.expectations import Expectations, derive_with
from app.twins.rules import (
    Balance,
    Check,
    Drift,
    Expected,
    FlatLine,
    Imbalance,
    Overuse,
    Rule,
    RuleContext,
    Spike,
    Threshold,
    label,
    watch,
)
from settings import AnomalySettings, Settings

log = logging.getLogger(__name__)

CLASSIFICATIONS = ("leakage", "sensor_error", "overuse", "other")
SEVERITIES = ("critical", "warning")
#: Readings further apart than this many intervals break a run (the data has a hole).
HOLE_INTERVALS = 2.5
#: When an alert is still open at the start of a run, the run re-reads back to the alert's
#: start (so its text describes the whole episode), but never further than this.
MAX_REREAD = timedelta(days=2)
#: A heater drawing at least this share of its rating is on.
HEATER_ON = 0.8
#: How far back the water drawn counts when explaining why a stored temperature fell.
DRAW_LOOKBACK = timedelta(hours=3)
#: How long after an overload its sensors' departures are put down to it (recovery).
OVERLOAD_AFTERMATH = timedelta(hours=2)
#: The sensor readings' usual spacing (the pipeline's nominal interval).
NOMINAL_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Finding:
    """One anomaly episode: what (``kind``, from the rule), on which sensor, from the first to
    the last reading that broke the rule, how bad, which class, and the text people read."""

    kind: str
    sensor: str
    start: datetime
    end: datetime
    severity: str
    classification: str
    message: str
    #: when the rule had seen enough to raise it (a run long enough, a CUSUM past its
    #: threshold): what the delay from a fault to its alert is measured to
    noticed: datetime | None = None
    #: a model-based finding's largest departure, in standard deviations
    strength: float | None = None


# -- detecting ----------------------------------------------------------------------------


def _anomaly(settings: Settings | AnomalySettings) -> AnomalySettings:
    return settings.anomaly if isinstance(settings, Settings) else settings


def reading_interval(frame: pd.DataFrame) -> pd.Timedelta:
    """The frame's usual spacing of readings (the median), one minute when it cannot tell."""
    if len(frame.index) < 2:
        return pd.Timedelta(NOMINAL_INTERVAL)
    step = pd.Series(frame.index).diff().median()
    return step if pd.notna(step) and step > pd.Timedelta(0) else pd.Timedelta(NOMINAL_INTERVAL)


def rule_context(kind: AssetType, parameters: Mapping[str, Any], settings: AnomalySettings,
                 interval: pd.Timedelta, frame: pd.DataFrame | None = None) -> RuleContext:
    """What ``kind``'s rules check a frame with; with the ``frame``, what the twin expects of
    each of its sensors there (the model-based rules' :class:`Expectations`)."""
    merged = {**kind.default_parameters, **parameters}
    normal = {spec.name: (spec.normal_min, spec.normal_max) for spec in kind.sensors}
    expectations = None
    if frame is not None:
        physics: dict[str, tuple[Any, ...]] = {name: tuple(models)
                                                for name, models in kind.expectations.items()}
        for rule in kind.anomaly_rules:
            if isinstance(rule, Expected):
                physics[rule.sensor] = (*physics.get(rule.sensor, ()), rule.model)
        expectations = Expectations(frame, settings.residuals, interval,
                                    tuple(spec.name for spec in kind.sensors), normal, physics,
                                    merged, derive_with(kind.calculate, merged))
    return RuleContext(
        parameters=merged,
        settings=settings,
        static={**kind.limits, **settings.static.get(kind.name, {})},
        units={**kind.calculations, **{spec.name: spec.unit for spec in kind.sensors}},
        normal=normal,
        interval=interval,
        expectations=expectations,
    )


def model_rules(kind: AssetType) -> tuple[Rule, ...]:
    """The model-based rules every asset gets without code of its own: a drift check on each
    sensor, and an overuse check on each use its type declares."""
    consumption = set(kind.uses.values())
    return (*(Drift(spec.name, consumption=spec.name in consumption) for spec in kind.sensors),
            *(Overuse(name, sensor) for name, sensor in kind.uses.items()))


def runs(mask: np.ndarray, index: pd.DatetimeIndex, interval: pd.Timedelta) -> list[tuple[int, int]]:
    """(first, last) positions of each run of consecutive marked readings; a hole in the data
    (readings more than :data:`HOLE_INTERVALS` intervals apart) ends a run."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    stamps = index.as_unit("ns").asi8  # pandas picks the unit per index: compare in one
    hole = interval.as_unit("ns").value * HOLE_INTERVALS
    out: list[tuple[int, int]] = []
    for first, last in zip(starts.tolist(), stops.tolist(), strict=True):
        gaps = np.flatnonzero(np.diff(stamps[first:last + 1]) > hole)
        begin = first
        for gap in gaps.tolist():
            out.append((begin, first + gap))
            begin = first + gap + 1
        out.append((begin, last))
    return out


def episodes(spans: list[tuple[int, int]], index: pd.DatetimeIndex,
             gap: pd.Timedelta) -> list[tuple[int, int]]:
    """Runs (in order) merged when the next starts within ``gap`` of the previous one's end."""
    stamps, most = index.as_unit("ns").asi8, gap.as_unit("ns").value
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and stamps[first] - stamps[merged[-1][1]] <= most:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def _nothing_drawn(context: RuleContext, flow: str) -> float:
    """The flow at or below which nothing is being drawn: the flow's ``at_most`` limit."""
    limits = context.limits(flow)
    return limits.at_most if limits is not None and limits.at_most is not None else 0.0


def _cooling(rule: Threshold, episode: pd.DataFrame, before: pd.DataFrame,
             context: RuleContext) -> tuple[str, str]:
    """Why a stored water temperature fell below its setpoint. Each litre drawn is replaced by
    inlet water: it cools the store by (setpoint - inlet) / litres. If what was drawn in the
    :data:`DRAW_LOOKBACK` before and during the episode cannot cool it as far as it fell (from
    where it was at the start of that time), cold water is replacing water that leaves another
    way (leakage); if it can, water is drawn faster than the heater reheats it (other: a burst
    of draws is not overuse unless it is more than usual, which :class:`Overuse` judges)."""
    assert rule.drawn_by is not None and rule.refill is not None
    if rule.heated_by in episode:
        limits = context.static.get(rule.heated_by)
        rating = limits.high if limits is not None and limits.high is not None else float(
            episode[rule.heated_by].max())
        if float((episode[rule.heated_by] >= HEATER_ON * rating).mean()) < 0.5:
            return ("sensor_error", f"the thermostat left the heater ({label(rule.heated_by).lower()}) "
                                    "off most of the time, so the water is not cold: the sensor reads low")
    inlet, litres = (float(context.parameters[name]) for name in rule.refill)
    setpoint = float(context.parameters[rule.setpoint])
    minutes = context.interval / pd.Timedelta(minutes=1)
    drawn = float(pd.concat([before, episode])[rule.drawn_by].clip(lower=0).sum() * minutes)
    explained = drawn * (setpoint - inlet) / litres
    was = float(before[rule.sensor].iloc[:5].median()) if len(before) else setpoint
    fell = (setpoint if np.isnan(was) else was) - float(episode[rule.sensor].min())
    hours = DRAW_LOOKBACK / timedelta(hours=1)
    if explained < fell:
        return ("leakage", f"only {drawn:.1f} L was drawn in the {hours:g} hours before and during "
                           f"it, which cools the water {explained:.1f} °C, not {fell:.1f} °C: cold "
                           "water is replacing water that leaks")
    return ("other", f"{drawn:.1f} L was drawn in the {hours:g} hours before and during it, "
                     "more than the heater can reheat (whether that is more than usual is the "
                     "overuse check's to say)")


def classify(rule: Rule, episode: pd.DataFrame, context: RuleContext,
             before: pd.DataFrame | None = None) -> tuple[str, str]:
    """(classification, reason in words) of an episode of ``rule``, by the rules in the module
    docstring; ``before`` is the frame's :data:`DRAW_LOOKBACK` before the episode."""
    before = episode.iloc[:0] if before is None else before
    if isinstance(rule, FlatLine):
        return ("sensor_error", "a working sensor always varies a little, so the sensor or its "
                                "wiring has failed")
    if isinstance(rule, Spike):
        return "sensor_error", "nothing physical jumps that far and straight back: a faulty reading"
    if isinstance(rule, Imbalance):
        explained = rule.explain(episode, context.parameters) if rule.explain else None
        return explained or ("leakage", "water is being lost between them")
    if isinstance(rule, Balance):
        return "leakage", "water is leaving through no meter"
    if isinstance(rule, Expected):
        return rule.meaning, rule.because
    if isinstance(rule, Threshold) and rule.bound == "low" and rule.drawn_by in episode:
        level = episode[rule.sensor]
        idle = episode[rule.drawn_by] <= _nothing_drawn(context, rule.drawn_by)
        fell = float(-level.diff().where(idle.shift(1, fill_value=False) & idle).clip(upper=0).sum())
        if idle.mean() >= 0.5 and fell > 0:
            return ("leakage", f"it kept falling while {rule.drawn_by.replace('_', ' ')} showed "
                               "nothing drawn, so the water is leaving another way")
        return "other", "water was drawn faster than it was refilled"
    if isinstance(rule, Drift):
        return ("sensor_error", "it disagrees ever more with what it usually reads and with "
                                "the other sensors: the sensor is drifting")
    if isinstance(rule, Overuse):
        return "overuse", "the asset is using more than it is expected to at this time"
    if isinstance(rule, Threshold) and rule.bound == "high" and rule.consumption:
        return "other", "above its rated limit (overuse is judged against expected use)"
    if isinstance(rule, Threshold) and rule.bound == "setpoint":
        below = float(episode[rule.sensor].mean()) < float(context.parameters.get(rule.setpoint, 0.0))
        if below and rule.drawn_by in episode and rule.refill is not None:
            return _cooling(rule, episode, before, context)
        return "other", "the temperature control is not holding the setpoint"
    return "other", "outside its normal operating limits"


def _findings(rule: Rule, check: Check, frame: pd.DataFrame, context: RuleContext) -> list[Finding]:
    index = pd.DatetimeIndex(frame.index)
    mask = check.mask.reindex(index, fill_value=False).fillna(False).to_numpy(dtype=bool)
    interval = context.interval
    found = runs(mask, index, interval)
    # Minutes from each run's first reading to the end of its last one's interval.
    stamps = index.as_unit("ns").asi8
    lasts = [(stamps[b] - stamps[a] + interval.as_unit("ns").value) / 60e9 for a, b in found]
    kept = [run for run, minutes in zip(found, lasts, strict=True) if minutes >= check.min_minutes
            and (check.max_minutes is None or minutes <= check.max_minutes)]
    gap = pd.Timedelta(minutes=context.settings.merge_gap_minutes)
    out = []
    for first, last in episodes(kept, index, gap):
        episode = frame.iloc[first:last + 1]
        before = frame.loc[index[first] - DRAW_LOOKBACK:index[first]].iloc[:-1]
        classification, reason = classify(rule, episode, context, before)
        if check.alarms is not None:
            raised = np.flatnonzero(check.alarms.reindex(index[first:last + 1], fill_value=False)
                                    .to_numpy(dtype=bool))
            noticed = index[first + int(raised[0])] if len(raised) else index[last]
        else:
            noticed = min(index[last], index[first] + pd.Timedelta(minutes=check.min_minutes))
        strength = (float(np.nanmax(check.strength.iloc[first:last + 1].to_numpy()))
                    if check.strength is not None else None)
        out.append(Finding(
            kind=rule.kind, sensor=rule.sensor, noticed=noticed.to_pydatetime(), strength=strength,
            start=index[first].to_pydatetime(), end=index[last].to_pydatetime(),
            severity="critical" if classification == "leakage" else rule.severity,
            classification=classification,
            message=(f"{check.describe(episode)}: {reason} "
                     f"({plain_text.classification(classification)})")[:1000],
        ))
    return out


def detect(asset_type_name: str | AssetType, parameters: Mapping[str, Any], frame: pd.DataFrame,
           settings: Settings | AnomalySettings) -> list[Finding]:
    """The anomaly episodes in ``frame`` (a column per sensor, UTC index), by the asset type's
    rules, in time order. Pure: reads and writes nothing."""
    kind = asset_type(asset_type_name) if isinstance(asset_type_name, str) else asset_type_name
    if frame.empty:
        return []
    frame = frame.sort_index()
    context = rule_context(kind, parameters, _anomaly(settings), reading_interval(frame), frame)
    found: list[tuple[Finding, tuple[str, ...]]] = []
    for rule in (*kind.anomaly_rules, *model_rules(kind)):
        check = rule.check(frame, context)
        if check is not None:
            found.extend((f, tuple(rule.reads)) for f in _findings(rule, check, frame, context))
    windows = [limits.for_minutes for limits in context.static.values()]
    margin = timedelta(minutes=context.settings.merge_gap_minutes + max(windows, default=0.0))
    return sorted(explained_away(found, margin), key=lambda f: (f.start, f.sensor, f.kind))


#: Findings that name the faulty sensor itself: they explain every other finding away.
FAULTY_READINGS = ("flat_line", "spike")


def explained_away(found: list[tuple[Finding, tuple[str, ...]]], margin: timedelta) -> list[Finding]:
    """The findings (each with the sensors its rule reads) without those sensor errors explain
    (see the module docstring), give or take ``margin`` (the longest a rule takes to see a
    fault, and the merge gap).

    First the rules' findings, among themselves: flat lines and spikes explain away what their
    sensor's readings would mean, sensors that disagree what their readings would mean. Then
    the drifts, against the findings left standing: a drift is dropped where a flat line or a
    spike is (a stuck sensor departs from its expectation too, and misleads the expectations
    that read it), where the asset is overloaded or recovering from it (its sensors depart from
    what they read at usual loads), and where there is a leak (a leak moves the sensors as
    drifts would, and is the one to act on) unless the drift is on a meter the leak was judged
    by other than the one its alert is on (a tank's outflow meter reading ever lower looks like
    water leaving through no meter: both alerts stand). Of drifts on several sensors at once,
    the one that departs furthest stands (one sensor fault at a time: the others are misled by
    it). Last, a drift left standing explains away what is not a leak and reads its sensor."""

    def overlaps(finding: Finding, other: Finding) -> bool:
        return other.start - margin <= finding.end and finding.start <= other.end + margin

    def within(finding: Finding, error: Finding) -> bool:
        return error.start - margin <= finding.start and finding.end <= error.end + margin

    rules = [(f, reads) for f, reads in found if f.kind != "drift"]
    readings = [f for f, _ in rules if f.kind in FAULTY_READINGS]
    disagreeing = [(f, set(reads)) for f, reads in rules
                   if f.classification == "sensor_error" and f.kind not in FAULTY_READINGS]

    def explained(finding: Finding, reads: tuple[str, ...]) -> bool:
        if any(error.sensor in reads and within(finding, error) for error in readings):
            return True
        return finding.classification != "sensor_error" and any(
            shared.intersection(reads) and within(finding, error) for error, shared in disagreeing)

    standing = [(f, reads) for f, reads in rules if f.kind in FAULTY_READINGS or not explained(f, reads)]
    leaks = [(f, set(reads)) for f, reads in standing if f.classification == "leakage"]
    overloads = [f for f, _ in standing if f.classification == "overuse"]
    drifts = [f for f, _ in found if f.kind == "drift" and not (
        any(overlaps(f, leak) and (f.sensor not in sensors or f.sensor == leak.sensor)
            for leak, sensors in leaks)
        or any(overlaps(f, error) for error in readings)
        or any(load.start - margin <= f.end and f.start <= load.end + OVERLOAD_AFTERMATH
               for load in overloads))]
    drifts = [f for f in drifts if not any(
        other is not f and overlaps(f, other) and (other.strength or 0.0) > (f.strength or 0.0)
        for other in drifts)]
    return [f for f, reads in standing
            if f.kind in FAULTY_READINGS or f.classification == "leakage"
            or not any(drift.sensor in reads and within(f, drift) for drift in drifts)] + drifts


def lookback(kind: AssetType, settings: AnomalySettings,
             interval: timedelta = NOMINAL_INTERVAL) -> timedelta:
    """How much history before a range the rules need to judge its first reading as they
    would in the middle of the data, plus the merge gap (to join an episode already running).
    Rolling windows count readings, so their span is measured at the slowest sensor's
    ``interval``. The model-based rules need the most: their reference days, and a day for
    the CUSUM to run in before the range."""
    interval = max(interval, NOMINAL_INTERVAL)
    minutes = [settings.zscore_window * interval / timedelta(minutes=1),
               settings.flat_minutes, settings.spike_max_minutes, DRAW_LOOKBACK / timedelta(minutes=1)]
    minutes += [limits.for_minutes for limits in settings.static.get(kind.name, {}).values()]
    rules = timedelta(minutes=max(minutes) + settings.merge_gap_minutes) + 2 * interval
    if not kind.sensors:
        return rules
    # The model-based rules: the CUSUM restarts up to a day and a half before the range (the
    # start of the UTC day before), and each day's model needs the reference days before it.
    return max(rules, timedelta(days=settings.residuals.reference_days + 2))


# -- recording ----------------------------------------------------------------------------


@dataclass
class Recorded:
    """What :func:`record_alerts` did with its findings."""

    created: list[int] = field(default_factory=list)
    extended: list[int] = field(default_factory=list)
    unchanged: int = 0


def _known(session: Session, asset_id: int, findings: list[Finding],
           gap: timedelta) -> dict[tuple[int | None, str], list[Alert]]:
    """The asset's alerts the findings could continue (those within ``gap`` of their span),
    by (sensor id, kind), oldest first: one query however many findings there are."""
    ended = func.coalesce(Alert.ended_at, Alert.started_at)
    rows = session.scalars(
        select(Alert).where(Alert.asset_id == asset_id,
                            Alert.started_at <= max(f.end for f in findings) + gap,
                            ended >= min(f.start for f in findings) - gap)
        .order_by(Alert.started_at, Alert.id)
    ).all()
    known: dict[tuple[int | None, str], list[Alert]] = {}
    for alert in rows:
        known.setdefault((alert.sensor_id, alert.kind), []).append(alert)
    return known


def record_alerts(session: Session, asset_id: int, findings: Iterable[Finding], now: datetime,
                  merge_gap: timedelta = timedelta(minutes=10)) -> Recorded:
    """Store ``findings`` of an asset as alerts in the caller's transaction: each continues the
    newest alert of the same sensor and kind that it overlaps or follows within ``merge_gap``,
    or starts a new open one. A closed alert is not reopened: a finding inside it is known."""
    done = Recorded()
    ordered = sorted(findings, key=lambda f: f.start)
    if not ordered:
        return done
    sensors = dict(session.execute(select(Sensor.name, Sensor.id).where(Sensor.asset_id == asset_id)).all())
    known = _known(session, asset_id, ordered, merge_gap)
    created: list[Alert] = []
    extended: dict[int, Alert] = {}
    for finding in ordered:
        sensor_id = sensors.get(finding.sensor)
        same = known.setdefault((sensor_id, finding.kind), [])
        alert = next((a for a in reversed(same) if a.started_at <= finding.end + merge_gap
                      and (a.ended_at or a.started_at) >= finding.start - merge_gap), None)
        if alert is None:
            alert = Alert(asset_id=asset_id, sensor_id=sensor_id, started_at=finding.start,
                          ended_at=finding.end, kind=finding.kind, severity=finding.severity,
                          classification=finding.classification, message=finding.message,
                          status="open", created_at=now)
            session.add(alert)
            same.append(alert)
            created.append(alert)
            continue
        ended = alert.ended_at or alert.started_at
        if alert.status == "closed" or not (finding.start < alert.started_at or finding.end > ended):
            done.unchanged += 1
            continue
        alert.started_at = min(alert.started_at, finding.start)
        if finding.end > ended:  # the newest text describes the episode so far
            alert.ended_at = finding.end
            alert.message, alert.classification = finding.message, finding.classification
        if finding.severity == "critical":
            alert.severity = "critical"
        if alert.id is not None:
            extended[alert.id] = alert
    session.flush()
    done.created = [a.id for a in created]
    done.extended = list(extended)
    return done


def close_finished(session: Session, asset_id: int, through: datetime, merge_gap: timedelta) -> int:
    """Close the asset's acknowledged alerts whose episode is over: detection has covered the
    readings up to ``through``, and nothing continued them within ``merge_gap`` of their end."""
    result = session.execute(
        update(Alert)
        .where(Alert.asset_id == asset_id, Alert.status == "acknowledged",
               func.coalesce(Alert.ended_at, Alert.started_at) < through - merge_gap)
        .values(status="closed")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# -- the pipeline's step --------------------------------------------------------------------


@dataclass
class DetectionSummary:
    """What :func:`run_detection` did, for the pipeline run's summary."""

    findings: int = 0
    created: int = 0
    extended: int = 0
    closed: int = 0
    batches: int = 0
    by_class: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_detection(db: Database, settings: Settings, asset_id: int, start: datetime,
                  end: datetime, now: datetime | None = None) -> DetectionSummary:
    """Detect anomalies in the asset's readings in [start, end) and record them as alerts.

    Reads in the pipeline's batches, each with :func:`lookback` of history before it (and, for
    the first, back to the start of an alert still running at ``start``, at most
    :data:`MAX_REREAD`). Findings that ended before a batch were found with the batch before.
    Idempotent: a second run over the same range adds nothing."""
    from app import pipeline  # the loading lives there; the pipeline imports this module lazily
    from app.plant import twin

    now = now or utcnow()
    summary = DetectionSummary()
    anomaly = settings.anomaly
    gap = timedelta(minutes=anomaly.merge_gap_minutes)
    with db.Session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise LookupError(f"no asset with id {asset_id}")
        model = twin.load(session, asset)
        kind, parameters, sensors = model.kind, dict(asset.parameters or {}), model.sensors
        running = session.scalar(
            select(func.min(Alert.started_at)).where(
                Alert.asset_id == asset_id, Alert.status.in_(("open", "acknowledged")),
                or_(Alert.ended_at.is_(None), Alert.ended_at >= start - gap)))
    if not sensors or not kind.anomaly_rules:
        return summary
    history = lookback(kind, anomaly, model.interval)
    newest: datetime | None = None
    windows = list(pipeline.batch_windows(start, end, pipeline.batch_span(settings, model.interval,
                                                                             model.fastest)))
    for number, (a, b) in enumerate(windows):
        read_from = a - history
        if number == 0 and running is not None:
            read_from = min(read_from, max(running, a - MAX_REREAD))
        frame = pipeline.read_wide(db.sensors_engine, sensors, read_from, b)
        if not frame.empty:
            newest = frame.index[-1].to_pydatetime()
        found = [f for f in detect(kind, parameters, frame, anomaly) if f.end >= a]
        summary.batches += 1
        if not found:
            continue
        with db.Session() as session, session.begin():
            done = record_alerts(session, asset_id, found, now, gap)
        summary.findings += len(found)
        summary.created += len(done.created)
        summary.extended += len(done.extended)
        for finding in found:
            summary.by_class[finding.classification] = summary.by_class.get(finding.classification, 0) + 1
    if newest is not None:  # only as far as the readings reach: a later `end` proves nothing
        with db.Session() as session, session.begin():
            summary.closed = close_finished(session, asset_id, min(end, newest), gap)
    if summary.created or summary.extended:
        log.info("anomalies of asset %s in %s..%s: %s", asset_id, start, end, summary.as_dict())
    return summary


# -- explaining ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidualView:
    """A sensor against what the twin expects of it, for the asset page: readings
    (``actual``, ``expected``: the consistent expectation) on the readings' times, and per
    block of ``anomaly.residuals.block_minutes`` the mean ``residual`` (sensor units), its
    ``sigma``, and the CUSUM statistics ``upper`` and ``lower`` (standard deviations) against
    the ``threshold``."""

    sensor: str
    unit: str
    readings: pd.DataFrame  # actual, expected
    blocks: pd.DataFrame  # residual, sigma, upper, lower
    threshold: float
    inputs: tuple[str, ...]


def residual_view(db: Database, settings: Settings, asset_id: int, sensor: str, start: datetime,
                  end: datetime) -> ResidualView | None:
    """What the drift check saw of ``sensor`` in [start, end): None when the asset has no
    such sensor or too little history for an expectation."""
    from app import pipeline  # the loading lives there; the pipeline imports this module lazily
    from app.plant import twin

    with db.Session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise LookupError(f"no asset with id {asset_id}")
        model = twin.load(session, asset)
    if sensor not in model.sensors.values():
        return None
    anomaly = settings.anomaly
    frame = pipeline.read_wide(db.sensors_engine, model.sensors,
                               start - lookback(model.kind, anomaly, model.interval), end)
    if frame.empty or sensor not in frame:
        return None
    frame = frame.sort_index()
    context = rule_context(model.kind, dict(asset.parameters or {}), anomaly,
                           reading_interval(frame), frame)
    expectation = context.expectations.consistent(sensor) if context.expectations else None
    if expectation is None:
        return None
    watched = watch(expectation, anomaly)  # the drift check's own block means and CUSUM
    upper, lower = statistics((watched.means / watched.sigmas).to_numpy(),
                              anomaly.residuals.cusum_k, watched.threshold)
    middle = pd.to_datetime(watched.blocks, utc=True) + pd.Timedelta(minutes=anomaly.residuals.block_minutes) / 2
    blocks = pd.DataFrame({"residual": watched.means.to_numpy(), "sigma": watched.sigmas.to_numpy(),
                           "upper": upper, "lower": lower}, index=middle)
    keep = pd.Timestamp(start)
    readings = pd.DataFrame({"actual": expectation.actual, "expected": expectation.expected})
    return ResidualView(sensor, context.units.get(sensor, ""), readings.loc[keep:],
                        blocks.loc[keep:], watched.threshold, expectation.inputs)
