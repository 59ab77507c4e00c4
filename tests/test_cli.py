"""The twin command: help everywhere, one clear line for every mistake, real work otherwise."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import main
from app.db import Database
from app.db.models import Sensor, SensorReading, User
from tests.conftest import add_plant, make_settings

COMMANDS = [[], ["run"], ["web"], ["worker"], ["beat"], ["db"], ["db", "upgrade"],
            ["db", "current"], ["seed-demo"], ["generate"], ["users"], ["users", "create"],
            ["suppliers", "create"], ["import"], ["import", "sensors"], ["import", "meters"]]


def twin(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed command in a fresh process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "twin")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_malformed_settings_give_one_line_and_write_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "settings.json"
    bad.write_text('{"database": {"url": 5, }')
    home = tmp_path / "home"
    result = twin("db", "upgrade", env={"TWIN_SETTINGS_FILE": str(bad), "TWIN_HOME": str(home)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twin: error:") and "not valid JSON" in lines[0]
    assert not home.exists()


def test_unknown_settings_key_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "settings.json"
    bad.write_text(json.dumps({"web": {"prot": 1}}))
    result = twin("db", "upgrade", env={"TWIN_SETTINGS_FILE": str(bad), "TWIN_HOME": str(tmp_path / "h")})
    assert result.returncode == 2
    assert "unknown settings key 'web.prot'" in result.stderr


def test_a_database_that_does_not_answer_is_named_without_its_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = "postgresql+psycopg://twin:s3cret@127.0.0.1:1/twin"
    result = twin("db", "upgrade", env={"TWIN_DATABASE_URL": url, "TWIN_HOME": str(home)})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:1/twin" in lines[0] and "TWIN_DATABASE_URL" in lines[0]
    assert "s3cret" not in lines[0] and "Traceback" not in result.stderr
    assert not home.exists()


def test_an_unparseable_database_url_is_explained(tmp_path: Path) -> None:
    result = twin("db", "upgrade", env={"TWIN_DATABASE_URL": "not a url", "TWIN_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "not a valid SQLAlchemy URL" in result.stderr


def test_a_broker_that_does_not_answer_stops_the_worker(tmp_path: Path) -> None:
    env = {"TWIN_HOME": str(tmp_path), "TWIN_BROKER_URL": "redis://127.0.0.1:1/0"}
    assert twin("db", "upgrade", env=env).returncode == 0
    result = twin("worker", env=env)
    assert result.returncode == 3
    assert "broker redis://127.0.0.1:1/0 does not answer" in result.stderr
    assert "TWIN_BROKER_URL" in result.stderr


def test_web_refuses_to_start_without_a_secret_outside_demo_mode(tmp_path: Path) -> None:
    env = {"TWIN_HOME": str(tmp_path)}
    assert twin("db", "upgrade", env=env).returncode == 0
    result = twin("web", env=env)
    assert result.returncode == 2
    assert "TWIN_SECRET_KEY" in result.stderr


def test_commands_on_an_unmigrated_database_say_to_upgrade(tmp_path: Path) -> None:
    result = twin("suppliers", "create", "Acme", env={"TWIN_HOME": str(tmp_path)})
    assert result.returncode == 3
    assert "run `twin db upgrade` first" in result.stderr


def test_seed_demo_runs_only_in_demo_mode(tmp_path: Path) -> None:
    result = twin("seed-demo", env={"TWIN_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "TWIN_DEMO=1" in result.stderr


def invoke(args: list[str], home: Path, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, args, env={"TWIN_HOME": str(home), **env}, catch_exceptions=False)


def test_upgrade_then_suppliers_and_users_are_created(tmp_path: Path) -> None:
    assert "upgraded from empty" in invoke(["db", "upgrade"], tmp_path).output
    assert "already at revision" in invoke(["db", "upgrade"], tmp_path).output
    assert invoke(["suppliers", "create", "Acme Energy"], tmp_path).exit_code == 0
    result = invoke(["users", "create", "--supplier", "Acme Energy", "--email", "Ops@Acme.test",
                     "--role", "operator", "--password", "correct-horse-battery"], tmp_path)
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(main, ["users", "create", "--supplier", "Acme Energy", "--email",
                                        "x@acme.test", "--password", "short"],
                                 env={"TWIN_HOME": str(tmp_path)})
    assert refused.exit_code == 1 and "at least 10 characters" in refused.output
    database = Database(make_settings(tmp_path))
    with database.Session() as session:
        user = session.scalar(select(User).where(User.email == "ops@acme.test"))
        assert user is not None and user.role == "operator"
        assert user.password_hash != "correct-horse-battery"
    assert (tmp_path / "twin_logs.txt").exists()


def test_generate_writes_every_sensor_of_the_asset_through_the_bulk_path(tmp_path: Path) -> None:
    invoke(["db", "upgrade"], tmp_path)
    database = Database(make_settings(tmp_path))
    asset_id = add_plant(database, ["torque", "speed", "oil_temperature"]).asset_id
    args = ["generate", "--asset", str(asset_id), "--from", "2024-10-01", "--to", "2024-10-01T02:00"]
    result = invoke(args, tmp_path)
    assert result.exit_code == 0, result.output
    assert "wrote 360 readings for 3 sensors" in result.output
    invoke(args, tmp_path)  # idempotent: a second run stores nothing new
    with database.Session() as session:
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 360
        torque = session.scalars(select(SensorReading.value).join(Sensor).where(Sensor.name == "torque")).all()
    assert all(0 <= v <= 3000 for v in torque)
    bad = CliRunner().invoke(main, ["generate", "--asset", str(asset_id), "--from", "yesterday",
                                    "--to", "2024-10-02"], env={"TWIN_HOME": str(tmp_path)})
    assert bad.exit_code == 2 and "not an ISO date" in bad.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.slow
def test_run_serves_the_portal_with_a_worker_and_beat_and_stops_cleanly(tmp_path: Path) -> None:
    """What `make run` does, end to end: migrate, seed, serve, work, schedule, Ctrl-C."""
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({
        "broker": {"heartbeat_interval_s": 2},
        "demo_data": {"meters": 4, "meter_history_days": 20, "sensor_history_days": 1},
    }))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update(TWIN_HOME=str(tmp_path / "var"), TWIN_DEMO="1", TWIN_SETTINGS_FILE=str(settings_file))
    proc = subprocess.Popen([sys.executable, "-m", "app", "run", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        status, body = 0, {}
        while time.monotonic() < deadline:
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
                if status == 200 and body["checks"].get("workers", {}).get("status") == "ok":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200 and body["checks"]["workers"]["status"] == "ok", body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
            assert "Sign in" in page.read().decode()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output[-2000:]
    assert "admin@northwind.example" in output  # the demo logins are printed
    assert "Warm shutdown" in output
    # nothing left behind: the worker's and beat's processes have ended with the session
    leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_pipeline_run_calculates_trains_forecasts_and_models_list_shows_it(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from app.generator import generate_chunks
    from app.ingest import write_sensor_readings
    from app.twins import asset_type

    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"pipeline": {"training_days": 3, "min_training_rows": 100},
                                         "model": {"candidates": ["ridge"]}}))
    env = {"TWIN_SETTINGS_FILE": str(settings_file)}
    invoke(["db", "upgrade"], tmp_path, **env)
    database = Database(make_settings(tmp_path))
    kind = asset_type("boiler")
    plant = add_plant(database, [s.name for s in kind.sensors], asset_type="boiler")
    end = datetime(2024, 10, 4, tzinfo=timezone.utc)
    for sensor_id, spec in zip(plant.sensor_ids, kind.sensors, strict=True):
        write_sensor_readings(database.engine, generate_chunks(
            spec.signal, sensor_id, end - timedelta(days=3), end, timedelta(minutes=1), seed=1))
    result = invoke(["pipeline", "run", "--asset", str(plant.asset_id), "--to", "2024-10-04"], tmp_path, **env)
    assert result.exit_code == 0, result.output
    assert "calculate: calculated; 17,280 readings" in result.output  # 3 days x 1440 min x 4 sensors
    assert "water_temperature: trained v1" in result.output and "6 forecasts" in result.output
    listing = invoke(["models", "list"], tmp_path, **env).output
    assert "water_temperature" in listing and "active" in listing
    again = invoke(["pipeline", "run", "--asset", str(plant.asset_id), "--to", "2024-10-04"], tmp_path, **env)
    assert "calculate: up to date" in again.output


def test_beat_refuses_a_broken_schedule_naming_the_entry(tmp_path: Path) -> None:
    broken = tmp_path / "schedule.json"
    broken.write_text(json.dumps({"version": 1, "entries": [
        {"asset_type": "boiler", "target": "water_temperature", "predict": {"every": "often"}}]}))
    env = {"TWIN_HOME": str(tmp_path), "TWIN_SCHEDULE_FILE": str(broken)}
    assert twin("db", "upgrade", env=env).returncode == 0
    result = twin("beat", env=env)
    assert result.returncode == 2
    assert "schedule.json entry 1 (predict): 'every' must look like" in result.stderr
