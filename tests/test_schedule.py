"""The pipeline's schedule file and the one-beat lease."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from app import leases
from app.db import Database
from app.schedule import SCHEDULE_FILE, ScheduleError, load, parse, slots_for, targets_for

GOOD = {"version": 1, "entries": [
    {"asset_type": "boiler", "target": "water_temperature", "train": {"cron": "15 2 * * *"},
     "predict": {"every": "10m"}},
    {"asset": 7, "target": "accumulated_destruction", "calculate": {"every": "1h"}},
]}


def with_entry(**changes: object) -> dict:
    data = copy.deepcopy(GOOD)
    data["entries"][0].update(changes)
    return data


def test_the_shipped_schedule_is_valid_and_covers_every_asset_type() -> None:
    entries = load()
    assert {e.asset_type for e in entries if e.target is not None} == {
        "boiler", "pressure_tank", "pipeline", "heat_exchanger", "drivetrain", "water_dispenser"}
    # and one entry for the targets each asset's catalogue entry chooses (generic assets)
    assert [e.label for e in entries if e.target is None] == ["catalogue targets"]
    assert json.loads(SCHEDULE_FILE.read_text())["version"] == 1


def test_entries_parse_into_intervals_and_crons() -> None:
    boiler, one_asset = parse(GOOD)
    assert boiler.stages["predict"].every == timedelta(minutes=10)
    assert boiler.stages["train"].cron == ("15", "2", "*", "*", "*")
    assert one_asset.asset_id == 7 and one_asset.stages["calculate"].every == timedelta(hours=1)
    assert targets_for([boiler, one_asset], "boiler", 1) == ["water_temperature"]
    assert targets_for([boiler, one_asset], "drivetrain", 7) == ["accumulated_destruction"]


def test_a_surrogate_entry_is_its_own_slot_beside_the_forecasts() -> None:
    entries = parse({"version": 1, "entries": [
        {"asset_type": "drivetrain", "target": "oil_temperature", "predict": {"every": "10m"}},
        {"asset_type": "drivetrain", "target": "destruction_rate", "mode": "surrogate", "predict": {"every": "10m"}},
    ]})
    assert [e.label for e in entries] == ["drivetrain/oil_temperature", "drivetrain/destruction_rate (surrogate)"]
    assert slots_for(entries, "drivetrain", 6) == [("oil_temperature", "forecast"), ("destruction_rate", "surrogate")]
    # An asset whose catalogue entry chose its own targets forecasts those.
    assert slots_for(entries, "drivetrain", 6, ["speed"]) == [("speed", "forecast")]


@pytest.mark.parametrize(("data", "message"), [
    (with_entry(asset_type="kettle"), "entry 1: unknown asset_type 'kettle'"),
    (with_entry(target="colour"), "entry 1: boiler has no sensor or calculation 'colour'"),
    (with_entry(predict={"every": "10 minutes"}), r"entry 1 \(predict\): 'every' must look like"),
    (with_entry(train={"cron": "every night"}), r"entry 1 \(train\): 'cron' needs five fields"),
    (with_entry(train={"every": "1d", "cron": "0 2 * * *"}), "give exactly one of"),
    (with_entry(asset=3), "entry 1: name either 'asset_type' or 'asset'"),
    (with_entry(retrain={"every": "1d"}), "entry 1: unknown key"),
    (with_entry(mode="guess"), "entry 1: 'mode' is \"forecast\" or \"surrogate\""),
    (with_entry(mode="surrogate"), "entry 1: a surrogate estimates a calculation .* 'water_temperature' is not"),
    ({"entries": []}, r"expected \{\"version\": 1"),
])
def test_a_mistake_names_the_entry_and_the_fix(data: dict, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(data)


def test_only_one_holder_has_the_lease_until_it_lapses(db: Database) -> None:
    ttl = timedelta(seconds=60)
    assert leases.acquire(db, "celery-beat", "beat-a", ttl)
    assert not leases.acquire(db, "celery-beat", "beat-b", ttl)  # a second beat waits
    assert leases.acquire(db, "celery-beat", "beat-a", ttl)  # the holder renews
    leases.release(db, "celery-beat", "beat-a")
    assert leases.acquire(db, "celery-beat", "beat-b", ttl)  # and takes over once released


def test_an_expired_lease_is_taken_over(db: Database) -> None:
    assert leases.acquire(db, "celery-beat", "beat-a", timedelta(seconds=-1))  # already lapsed
    assert leases.acquire(db, "celery-beat", "beat-b", timedelta(seconds=60))
    assert not leases.acquire(db, "celery-beat", "beat-a", timedelta(seconds=60))
