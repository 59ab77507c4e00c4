"""Bring your own plant from the command line: a new user twins a real half-hourly series
starting from an empty database, with the CLI alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import main
from app.db import Database
from app.db.models import AuditLog, Calculation, Prediction, Sensor
from app.plant.status import latest_status
from tests.conftest import make_settings
from tests.public_series import taylor, taylor_csv

pytestmark = pytest.mark.slow


def invoke(home: Path, *args: str, ok: bool = True, **env: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, list(args), env={"TWIN_HOME": str(home), **env})
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"model": {"candidates": ["ridge"]}}))
    invoke(tmp_path, "db", "upgrade")
    invoke(tmp_path, "suppliers", "create", "Northwind Energy")
    return tmp_path


def test_a_new_user_twins_a_real_half_hourly_series_with_the_cli_alone(home: Path) -> None:
    invoke(home, "sites", "create", "--supplier", "Northwind Energy", "--name", "Grid",
           "--location", "Leeds")
    invoke(home, "assets", "create", "--site", "Grid", "--name", "Feeder 7", "--type", "generic")
    invoke(home, "sensors", "create", "--asset", "Feeder 7", "--name", "demand", "--unit", "MW",
           "--min", "0", "--max", "80000")
    invoke(home, "assets", "update", "Feeder 7", "--formula",
           "energy_mwh [MWh] = integrate(demand) / 3600", "--target", "demand")
    csv = home / "taylor.csv"
    csv.write_text(taylor_csv("Feeder 7"))

    imported = invoke(home, "import", "sensors", str(csv))
    assert "4,032 stored" in imported.output
    assert "Feeder 7 / demand every 1,800 s" in imported.output  # the cadence, detected
    assert "30 min" in invoke(home, "sensors", "list", "--asset", "Feeder 7").output

    run = invoke(home, "pipeline", "run", "--supplier", "Northwind Energy")
    assert "calculate: calculated; 4,032 readings" in run.output
    assert "demand: trained v1" in run.output and "2 forecasts" in run.output  # 60 min / 30 min
    assert "status: ok" in run.output

    database = Database(make_settings(home))
    series = taylor()
    with database.Session() as session:
        sensor = session.scalars(select(Sensor)).one()
        assert sensor.interval_s == 1800
        forecasts = session.scalars(select(Prediction).order_by(Prediction.ts)).all()
        energy = session.scalar(select(Calculation.value).where(Calculation.name == "energy_mwh")
                                .order_by(Calculation.ts.desc()).limit(1))
        assert latest_status(session, sensor.asset_id).level == "ok"
        audited = session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action.like("%.create")))
    # Forecasts start where the data ends (the history is from 2000, not from today).
    assert forecasts[0].ts > series.index[-1]
    assert all(f.lower <= f.value <= f.upper for f in forecasts)
    assert series.min() < forecasts[0].value < series.max()
    # integrate(demand) / 3600 by left rectangles: each half hour's demand times 0.5 h
    assert energy == pytest.approx(series.iloc[1:].sum() * 0.5, rel=1e-9)
    assert audited == 3  # site, asset, sensor


def test_mistakes_are_one_line_naming_the_field_and_store_nothing(home: Path) -> None:
    invoke(home, "sites", "create", "--name", "Grid")
    invoke(home, "assets", "create", "--site", "Grid", "--name", "Feeder 7")
    invoke(home, "sensors", "create", "--asset", "Feeder 7", "--name", "demand", "--unit", "MW")
    cases = [
        (["sites", "create", "--name", "Grid"], "already a site called 'Grid'"),
        (["sensors", "create", "--asset", "Feeder 7", "--name", "load", "--unit", "zorkmids"],
         "unit: unknown unit 'zorkmids'"),
        (["assets", "create", "--site", "Grid", "--name", "X", "--type", "windmill"],
         "asset_type: unknown type 'windmill'"),
        (["assets", "update", "Feeder 7", "--formula", "p [kW] = flow * 2"], "unknown name 'flow'"),
        (["assets", "update", "Feeder 7", "--formula", "p [kW] = demand / (2 - 2)"],
         "divides by a constant zero"),
        (["assets", "create", "--site", "Elsewhere", "--name", "Y"], "no site 'Elsewhere'"),
    ]
    for args, message in cases:
        result = invoke(home, *args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
    listing = invoke(home, "assets", "list").output
    assert "Feeder 7" in listing and "X " not in listing and "Y " not in listing


def test_delete_with_history_says_to_retire_and_retire_keeps_it(home: Path) -> None:
    invoke(home, "sites", "create", "--name", "Grid")
    invoke(home, "assets", "create", "--site", "Grid", "--name", "Feeder 7")
    invoke(home, "sensors", "create", "--asset", "Feeder 7", "--name", "demand", "--unit", "MW")
    csv = home / "taylor.csv"
    csv.write_text("\n".join(taylor_csv("Feeder 7").splitlines()[:50]))
    invoke(home, "import", "sensors", str(csv))

    refused = invoke(home, "assets", "delete", "Feeder 7", ok=False)
    assert refused.exit_code == 1 and "retire it instead" in refused.output
    invoke(home, "assets", "retire", "Feeder 7")
    assert "Feeder 7" not in invoke(home, "assets", "list").output
    assert "retired" in invoke(home, "assets", "list", "--retired").output
    # a sensor nobody fed can go
    invoke(home, "sensors", "create", "--asset", "Feeder 7", "--name", "spare", "--unit", "1")
    invoke(home, "sensors", "delete", "spare", "--asset", "Feeder 7")


ESTATE = {
    "sites": [
        {"name": "Grid", "location": "Leeds", "maintenance_emails": ["control@northwind.test"],
         "assets": [
             {"name": "Feeder 6", "type": "generic",
              "sensors": [{"name": "demand", "unit": "MW", "interval_s": 1800}]},
             {"name": "Feeder 7", "type": "generic", "upstream": "Feeder 6",
              "parameters": {"efficiency": 0.9},
              "sensors": [{"name": "flow_m3h", "unit": "m³/h", "interval_s": 60},
                          {"name": "dp_bar", "unit": "bar", "interval_s": 60,
                           "normal_min": 0, "normal_max": 6}],
              "calculations": [{"name": "power_kw", "unit": "kW",
                                "formula": "flow_m3h * dp_bar * 100 / 3.6 / efficiency"}],
              "forecast_targets": ["power_kw"]},
             {"name": "Boiler 1", "type": "boiler", "parameters": {"burner_kw": 500}},
         ]},
    ],
}


def test_catalogue_import_is_idempotent_all_or_nothing_and_exports_what_it_read(home: Path) -> None:
    estate = home / "estate.yaml"
    estate.write_text(yaml.safe_dump(ESTATE))

    first = invoke(home, "catalogue", "import", str(estate))
    assert "created 3 assets" in first.output and "1 site" in first.output
    again = invoke(home, "catalogue", "import", str(estate))
    assert "created" not in again.output and "updated" not in again.output
    exported = yaml.safe_load(invoke(home, "catalogue", "export").output)
    by_name = {a["name"]: a for a in exported["sites"][0]["assets"]}
    feeder = by_name["Feeder 7"]
    assert feeder["upstream"] == "Feeder 6" and feeder["forecast_targets"] == ["power_kw"]
    assert feeder["calculations"][0]["formula"].startswith("flow_m3h * dp_bar")
    boiler = by_name["Boiler 1"]
    assert boiler["parameters"]["burner_kw"] == 500 and len(boiler["sensors"]) == 4

    broken = json.loads(json.dumps(ESTATE))
    broken["sites"][0]["assets"].append({"name": "New", "type": "generic"})  # would be created
    broken["sites"][0]["assets"][1]["sensors"][1]["unit"] = "zorkmids"
    bad = home / "estate.json"
    bad.write_text(json.dumps(broken))
    refused = invoke(home, "catalogue", "import", str(bad), ok=False)
    assert refused.exit_code == 1
    assert "assets[1] 'Feeder 7' > sensors[1] 'dp_bar', unit: unknown unit" in refused.output
    assert "New" not in invoke(home, "assets", "list").output  # all or nothing


def test_an_upstream_cycle_in_a_file_is_refused(home: Path) -> None:
    cyclic = json.loads(json.dumps(ESTATE))
    cyclic["sites"][0]["assets"][0]["upstream"] = "Feeder 7"
    path = home / "cyclic.json"
    path.write_text(json.dumps(cyclic))
    refused = invoke(home, "catalogue", "import", str(path), ok=False)
    assert "upstream: the upstream link makes a cycle" in refused.output
    assert "Feeder" not in invoke(home, "assets", "list").output


@pytest.mark.parametrize("group", ["sites", "assets", "sensors", "catalogue"])
def test_every_catalogue_command_has_help(group: str) -> None:
    commands = {"sites": ["create", "list", "update", "retire", "delete"],
                "assets": ["create", "list", "update", "retire", "delete"],
                "sensors": ["create", "list", "update", "retire", "delete"],
                "catalogue": ["import", "export"]}[group]
    for command in commands:
        result = CliRunner().invoke(main, [group, command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, (group, command)
