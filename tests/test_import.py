"""File import of sensor and meter readings: columns by header, time zones, refused lines by line
number, the supplier's own sensors and meters only, idempotent re-imports, the CLI and a worker."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select

from app import import_jobs
from app.db import Database
from app.db.migrate import upgrade
from app.db.models import Job, MeterReading, SensorReading, SensorRollup
from app.importer import (
    ImportFileError,
    guess_mapping,
    import_meters,
    import_sensors,
    resolve_mapping,
)
from app.queue import TaskQueue
from settings import TariffSettings
from tests.conftest import add_meter, add_plant, add_tenant, make_settings, utc
from tests.test_cli import invoke, twin
from tests.test_workers import wait_for
from workers.celery_app import create_celery

TARIFFS = TariffSettings()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def stored(db: Database, sensor_id: int | None = None) -> list[tuple[int, datetime, float]]:
    with db.Session() as session:
        query = select(SensorReading.sensor_id, SensorReading.ts, SensorReading.value)
        if sensor_id is not None:
            query = query.where(SensorReading.sensor_id == sensor_id)
        return [tuple(r) for r in session.execute(query.order_by(SensorReading.sensor_id, SensorReading.ts))]


def refused_lines(report) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(r.line, r.field) for r in report.refusals]


# -- columns by header ------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    (["Sensor ID", "Time", "Reading"], {"sensor_id": "Sensor ID", "ts": "Time", "value": "Reading"}),
    (["TIMESTAMP", "sensor", "VALUE"], {"sensor_id": "sensor", "ts": "TIMESTAMP", "value": "VALUE"}),
    (["asset_name", "Sensor", "DateTime", "value"],
     {"asset": "asset_name", "sensor": "Sensor", "ts": "DateTime", "value": "value"}),
    (["Site", "Asset", "Tag", "ts", "val", "notes"],
     {"site": "Site", "asset": "Asset", "sensor": "Tag", "ts": "ts", "value": "val"}),
])
def test_sensor_columns_are_found_by_their_common_names_in_any_case(headers, expected) -> None:  # type: ignore[no-untyped-def]
    assert guess_mapping("sensors", headers) == expected


def test_meter_columns_are_found_by_their_common_names() -> None:
    assert guess_mapping("meters", ["MSN", "Read Date", "Meter Reading", "Read Type", "Comment"]) == {
        "serial": "MSN", "read_at": "Read Date", "value": "Meter Reading", "kind": "Read Type",
        "reason": "Comment"}


def test_an_explicit_mapping_overrides_the_guess_and_is_what_is_read(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    sensor = plant.sensor_ids[0]
    path = write(tmp_path / "a.csv", "id,ts,logged,value,corrected\n"
                                     f"{sensor},2024-10-01T00:00:00Z,2024-10-01T06:00:00Z,1.0,2.0\n")
    report = import_sensors(db, path, supplier_id=plant.supplier_id,
                            mapping={"ts": "logged", "value": "corrected"})
    assert report.mapping == {"sensor_id": "id", "ts": "logged", "value": "corrected"}
    assert stored(db) == [(sensor, utc(2024, 10, 1, 6), 2.0)]


def test_missing_columns_are_named_with_the_headers_found(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    path = write(tmp_path / "a.csv", "Zeit,Wert,Fühler\n2024-10-01T00:00:00Z,1,5\n")
    with pytest.raises(ImportFileError) as caught:
        import_sensors(db, path, supplier_id=plant.supplier_id)
    message = str(caught.value)
    assert "no column for sensor_id" in message and "ts (the time of the reading" in message
    assert "'Zeit', 'Wert', 'Fühler'" in message
    with pytest.raises(ImportFileError, match="the file has no column 'When'"):
        resolve_mapping("sensors", ("sensor_id", "ts", "value"), {"ts": "When"})
    assert stored(db) == []


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\n\n  \n", "the file is empty"),
    (b"3,2024-10-01T00:00:00Z,1.5\n4,2024-10-01T00:01:00Z,2\n", "looks like readings"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a spreadsheet (Excel)"),
    (b"sensor_id,ts,value\n\x00\x01\x02", "not text"),
    ("sensor_id,ts,value\n".encode("utf-16"), "UTF-16"),
    ("sensor_id,ts,value °C\n1,2024-10-01T00:00:00Z,1\n".encode("cp1252"), "not UTF-8 text (byte 20"),
])
def test_a_file_that_cannot_be_read_is_refused_whole_with_a_reason(db: Database, tmp_path: Path,
                                                                    content: bytes, message: str) -> None:
    plant = add_plant(db, 1)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        import_sensors(db, path, supplier_id=plant.supplier_id)


def test_a_byte_order_mark_and_semicolons_are_understood(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    path = tmp_path / "excel.csv"
    path.write_bytes(f"\ufeffSensor_ID;Timestamp;Value\r\n{plant.sensor_ids[0]};2024-10-01T00:00:00Z;1.5\r\n"
                     .encode("utf-8"))
    report = import_sensors(db, path, supplier_id=plant.supplier_id)
    assert report.stored == 1 and report.refused_rows == 0


# -- time zones -------------------------------------------------------------------------------


def test_offsets_are_honoured_and_naive_times_are_uk_clock_time(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    s = plant.sensor_ids[0]
    path = write(tmp_path / "tz.csv", "sensor_id,ts,value\n"
                 f"{s},2024-07-01T12:00:00Z,1\n"          # 2: UTC
                 f"{s},2024-07-01 12:00:00+02:00,2\n"     # 3: Paris summer time
                 f"{s},2024-07-01 15:00,3\n"              # 4: BST (UTC+1)
                 f"{s},2024-12-01 15:00,4\n"              # 5: GMT
                 f"{s},2024-10-27 01:30,5\n"              # 6: happens twice: refused
                 f"{s},2024-10-27T01:30:00+01:00,6\n"     # 7: the first 01:30, said so
                 f"{s},2024-03-31 01:30,7\n"              # 8: never happens: refused
                 f"{s},31/12/2024 23:30,8\n")             # 9: UK day first
    report = import_sensors(db, path, supplier_id=plant.supplier_id)
    assert refused_lines(report) == [(6, "ts"), (8, "ts")]
    assert "happens twice in Europe/London (the clocks go back)" in report.refusals[0].message
    assert "does not exist in Europe/London (the clocks go forward)" in report.refusals[1].message
    assert [(ts, v) for _, ts, v in stored(db)] == [
        (utc(2024, 7, 1, 10), 2.0), (utc(2024, 7, 1, 12), 1.0), (utc(2024, 7, 1, 14), 3.0),
        (utc(2024, 10, 27, 0, 30), 6.0), (utc(2024, 12, 1, 15), 4.0), (utc(2024, 12, 31, 23, 30), 8.0)]


def test_naive_times_can_be_read_as_utc(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    s = plant.sensor_ids[0]
    path = write(tmp_path / "utc.csv", f"sensor_id,ts,value\n{s},2024-10-27 01:30,5\n{s},2024-07-01 15:00,3\n")
    report = import_sensors(db, path, supplier_id=plant.supplier_id, tz="UTC")
    assert report.refused_rows == 0
    assert [ts for _, ts, _ in stored(db)] == [utc(2024, 7, 1, 15), utc(2024, 10, 27, 1, 30)]
    with pytest.raises(ImportFileError, match="unknown time zone 'Mars/Olympus'"):
        import_sensors(db, path, supplier_id=plant.supplier_id, tz="Mars/Olympus")


# -- refused lines --------------------------------------------------------------------------


def test_refused_lines_are_reported_by_line_and_column_and_the_others_are_stored(
        db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 1)
    s = plant.sensor_ids[0]
    lines = ["sensor_id,ts,value"] + [f"{s},2024-10-01T00:{m:02d}:00Z,{m}" for m in range(30)]
    lines[5] = ""                                        # line 6: blank, skipped
    lines[8] = f"{s},2024-10-01T00:07:00Z,1,234"         # line 9: an unquoted comma
    lines[12] = f"{s},yesterday,3"                       # line 13
    lines[17] = f"{s},2024-10-01T00:16:00Z,abc"          # line 18
    lines[23] = f"{s},2024-10-01T00:22:00Z,NaN"          # line 24 (in the sixth chunk of 4)
    lines[27] = f"{s},2024-10-01T00:26:00Z,"             # line 28
    lines[29] = f"{s},2099-01-01T00:00:00Z,1"            # line 30: in the future
    path = write(tmp_path / "r.csv", "\n".join(lines) + "\n")
    report = import_sensors(db, path, supplier_id=plant.supplier_id, chunk_rows=4,
                            refused_path=tmp_path / "refused.csv")
    assert refused_lines(report) == [(9, "(line)"), (13, "ts"), (18, "value"), (24, "value"),
                                     (28, "value"), (30, "ts")]
    messages = {r.line: r.message for r in report.refusals}
    assert "has 4 fields where the header has 3" in messages[9]
    assert messages[13].startswith("'yesterday' is not a date and time")
    assert messages[18].startswith("'abc' is not a number")
    assert messages[24] == "'NaN' is not a finite number"
    assert messages[28] == "is empty: give the reading"
    assert messages[30] == "'2099-01-01T00:00:00Z' is in the future"
    assert (report.lines, report.stored, report.refused_rows) == (29, 23, 6)
    assert len(stored(db)) == 23
    with (tmp_path / "refused.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "field", "message", "sensor_id", "ts", "value"]
    assert [r[0] for r in rows[1:]] == ["9", "13", "18", "24", "28", "30"]
    assert rows[3][3:] == [str(s), "2024-10-01T00:16:00Z", "abc"]


def test_another_suppliers_sensor_is_refused_like_an_unknown_one(db: Database, tmp_path: Path) -> None:
    mine = add_plant(db, ["torque"], name="North")
    theirs = add_plant(db, ["torque"], name="South")
    path = write(tmp_path / "x.csv", "sensor_id,ts,value\n"
                 f"{mine.sensor_ids[0]},2024-10-01T00:00:00Z,1\n"
                 f"{theirs.sensor_ids[0]},2024-10-01T00:00:00Z,2\n"
                 f"99999,2024-10-01T00:00:00Z,3\n")
    report = import_sensors(db, path, supplier_id=mine.supplier_id)
    assert [r.message for r in report.refusals] == [
        f"no sensor with id '{theirs.sensor_ids[0]}' at North Energy",
        "no sensor with id '99999' at North Energy"]
    assert stored(db) == [(mine.sensor_ids[0], utc(2024, 10, 1), 1.0)]


def test_sensors_named_by_asset_and_sensor_within_the_supplier(db: Database, tmp_path: Path) -> None:
    north = add_plant(db, ["torque", "speed"], name="North")
    south = add_plant(db, ["torque"], name="South", supplier_id=north.supplier_id)  # also "Turbine 1"
    add_plant(db, ["oil_temperature"], name="Elsewhere")  # another supplier's Turbine 1
    path = write(tmp_path / "n.csv", "asset,sensor,ts,value\n"
                 "Turbine 1,speed,2024-10-01T00:00:00Z,1\n"        # the only speed sensor
                 "Turbine 1,torque,2024-10-01T00:00:00Z,2\n"       # on two sites: refused
                 "turbine  1,SPEED,2024-10-01T00:01:00Z,3\n"       # case and spaces do not matter
                 "Turbine 1,oil_temperature,2024-10-01T00:00:00Z,4\n"
                 "Pump 3,flow,2024-10-01T00:00:00Z,5\n")
    report = import_sensors(db, path, supplier_id=north.supplier_id)
    assert [(r.line, r.message) for r in report.refusals] == [
        (3, "assets named 'Turbine 1' are on several sites (North, South): add a site column to say which"),
        (5, "asset 'Turbine 1' has no sensor 'oil_temperature' (its sensors: speed, torque)"),
        (6, "North Energy has no asset named 'Pump 3'")]
    assert [(s, v) for s, _, v in stored(db)] == [(north.sensor_ids[1], 1.0), (north.sensor_ids[1], 3.0)]
    with_site = write(tmp_path / "s.csv", "site,asset,sensor,ts,value\nSouth,Turbine 1,torque,2024-10-01T00:00:00Z,9\n")
    assert import_sensors(db, with_site, supplier_id=north.supplier_id).stored == 1
    assert stored(db, south.sensor_ids[0]) == [(south.sensor_ids[0], utc(2024, 10, 1), 9.0)]


def test_a_reimport_changes_nothing_and_a_corrected_file_replaces_values(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 2)
    rows = [f"{s},2024-10-01 {h:02d}:{m:02d},{h + m / 100}" for s in plant.sensor_ids
            for h in range(3) for m in range(0, 60, 10)]
    path = write(tmp_path / "a.csv", "sensor_id,ts,value\n" + "\n".join(rows) + "\n")
    first = import_sensors(db, path, supplier_id=plant.supplier_id, chunk_rows=7)
    before = stored(db)
    again = import_sensors(db, path, supplier_id=plant.supplier_id, chunk_rows=7)
    assert first.stored == again.stored == 36 and stored(db) == before
    corrected = write(tmp_path / "b.csv", "sensor_id,ts,value\n" + rows[0].rsplit(",", 1)[0] + ",42.5\n")
    import_sensors(db, corrected, supplier_id=plant.supplier_id)
    after = stored(db)
    assert len(after) == 36 and after[0][2] == 42.5 and after[1:] == before[1:]
    with db.Session() as session:  # the plots' hourly rollups follow the import
        assert session.scalar(select(func.sum(SensorRollup.n))) == 36


@pytest.mark.postgres
def test_sensor_readings_import_idempotently_on_postgresql(pg_db: Database, tmp_path: Path) -> None:
    plant = add_plant(pg_db, 1)
    s = plant.sensor_ids[0]
    path = write(tmp_path / "a.csv", "sensor_id,ts,value\n" + "".join(
        f"{s},2024-10-27 0{h}:{m:02d},{h}.{m}\n" for h in range(3) for m in (0, 30)))
    first = import_sensors(pg_db, path, supplier_id=plant.supplier_id)
    assert refused_lines(first) == [(4, "ts"), (5, "ts")]  # 01:00 and 01:30 happen twice that night
    again = import_sensors(pg_db, path, supplier_id=plant.supplier_id)
    assert first.stored == again.stored == 4 and len(stored(pg_db)) == 4
    assert stored(pg_db)[0][1] == utc(2024, 10, 26, 23)  # 00:00 BST


# -- meter readings -------------------------------------------------------------------------


def meter_file(path: Path, body: str) -> Path:
    return write(path, "MSN,Read Date,Reading,Type,Reason\n" + body)


def test_meter_readings_follow_the_modals_rules_in_time_order(any_db: Database, tmp_path: Path) -> None:
    alpha, beta = add_tenant(any_db, "Alpha Energy"), add_tenant(any_db, "Beta Power")
    meter = add_meter(any_db, alpha.supplier_id, serial="E1", previous=(utc(2024, 9, 1), "1000"))
    add_meter(any_db, beta.supplier_id, serial="B7", previous=(utc(2024, 9, 1), "1"))
    path = meter_file(tmp_path / "m.csv",
                      "E1,2024-10-15 09:00,1080,A,\n"             # 2: after line 3 in time
                      "E1,2024-10-01 09:00,1050,E,\n"             # 3
                      "E1,2099-01-01 00:00,1200,A,\n"             # 4: in the future
                      "E1,2024-08-01 00:00,900,A,\n"              # 5: before the previous reading
                      "E1,2024-10-20 00:00,1234567,A,\n"          # 6: more digits than the register
                      "E1,2024-10-25 00:00,1080,A,\n"             # 7: no advance, no reason
                      "E1,2024-10-26 00:00,1080,A,Meter stuck\n"  # 8: no advance, with a reason
                      "B7,2024-10-01 00:00,5,A,\n"                # 9: another supplier's meter
                      "E1,2024-10-27 12:00,1101,X,\n")            # 10: no such kind
    report = import_meters(any_db, path, supplier_id=alpha.supplier_id, tariff_settings=TARIFFS)
    assert refused_lines(report) == [(4, "Read Date"), (5, "Read Date"), (6, "Reading"), (7, "Reading"),
                                     (9, "MSN"), (10, "Type")]
    messages = {r.line: r.message for r in report.refusals}
    assert messages[4] == "The reading's date and time is in the future."
    assert messages[5].startswith("The reading must be dated after the previous reading")
    assert messages[6] == "This meter's register has 6 digits; the reading has more."
    assert messages[7].startswith("Confirm with a reason to save")
    assert messages[9] == "Alpha Energy has no meter with serial 'B7'"
    assert (report.lines, report.stored, report.already_stored, report.refused_rows) == (9, 3, 0, 6)
    with any_db.Session() as session:
        saved = session.execute(select(MeterReading.read_at, MeterReading.value, MeterReading.kind,
                                       MeterReading.source, MeterReading.reason)
                                .where(MeterReading.meter_id == meter, MeterReading.source == "import")
                                .order_by(MeterReading.read_at)).all()
    assert [(r.value, r.kind, r.reason) for r in saved] == [
        (Decimal("1050"), "estimated", None), (Decimal("1080"), "actual", None),
        (Decimal("1080"), "actual", "Meter stuck")]
    assert saved[0].read_at == utc(2024, 10, 1, 8)  # 09:00 BST

    again = import_meters(any_db, path, supplier_id=alpha.supplier_id, tariff_settings=TARIFFS)
    assert (again.stored, again.already_stored, again.refused_rows) == (0, 3, 6)
    with any_db.Session() as session:
        assert session.scalar(select(func.count()).select_from(MeterReading)
                              .where(MeterReading.meter_id == meter)) == 4


def test_a_viewer_cannot_import_meter_readings(db: Database, tmp_path: Path) -> None:
    alpha = add_tenant(db, "Alpha Energy")
    path = meter_file(tmp_path / "m.csv", "E1,2024-10-15 09:00,1100,A,\n")
    with pytest.raises(PermissionError):
        import_meters(db, path, supplier_id=alpha.supplier_id, tariff_settings=TARIFFS, role="viewer")


# -- the CLI --------------------------------------------------------------------------------


def test_twin_import_sensors_end_to_end_with_exit_status_and_refused_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert invoke(["db", "upgrade"], home).exit_code == 0
    database = Database(make_settings(home))
    plant = add_plant(database, ["torque"])
    s = plant.sensor_ids[0]
    bad = write(tmp_path / "bad.csv", f"id,when,v\n{s},2024-10-01T00:02:00Z,3\n{s},2024-10-01T00:03:00Z,x\n")
    report = tmp_path / "refused.csv"
    result = twin("import", "sensors", str(bad), "--map", "ts=when", "--map", "value=v",
                  "--refused-report", str(report), env={"TWIN_HOME": str(home)})
    assert result.returncode == 4, result.stderr
    assert ("bad.csv (North Farm Energy, sensors): 2 lines read, 1 stored, 1 refused (the other lines "
            "are stored)") in result.stdout
    assert "line 3, v: 'x' is not a number" in result.stdout
    with report.open(encoding="utf-8", newline="") as handle:
        refused = list(csv.reader(handle))
    assert refused[0] == ["line", "field", "message", "id", "when", "v"]
    assert refused[1][:2] == ["3", "v"] and refused[1][3:] == [str(s), "2024-10-01T00:03:00Z", "x"]
    assert "sensors read" in result.stderr  # the progress bar

    good = write(tmp_path / "good.csv", f"sensor,time,reading\n{s},2024-10-01T00:00:00Z,1\n")
    result = invoke(["import", "sensors", str(good)], home)
    assert result.exit_code == 0 and "1 line read, 1 stored, 0 refused in " in result.output
    missing = invoke(["import", "sensors", str(bad)], home)
    assert missing.exit_code == 1
    assert missing.output.startswith("twin: error: no column for ts") and "'when'" in missing.output
    add_tenant(database, "Beta Power")
    result = invoke(["import", "sensors", str(good)], home)
    assert result.exit_code == 1 and "--supplier is needed: there are 2 suppliers" in result.output
    assert invoke(["import", "sensors", str(good), "--supplier", "North Farm Energy"], home).exit_code == 0
    with database.Session() as session:
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 2
    database.engine.dispose()


# -- the workers ----------------------------------------------------------------------------


def test_an_uploaded_file_is_imported_by_a_real_worker_and_its_job_keeps_the_report(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = Database(settings)
    upgrade(db.engine)
    plant = add_plant(db, ["torque"])
    s = plant.sensor_ids[0]
    data = f"sensor_id,ts,value\n{s},2024-10-01T00:00:00Z,1\n{s},not a time,2\n".encode()
    staged = import_jobs.stage_upload(settings, plant.supplier_id, "torque.csv", data)
    assert staged.columns == ("sensor_id", "ts", "value") and len(staged.rows) == 2
    with start_worker(create_celery(settings), pool="solo", perform_ping_check=False, shutdown_timeout=10):
        job_id = import_jobs.submit(db, settings, TaskQueue(settings), supplier_id=plant.supplier_id,
                                    user_id=None, role="admin", kind="sensors", token=staged.token,
                                    filename=staged.filename, mapping={}, tz="Europe/London")
        state = wait_for(lambda: (one := import_jobs.job_state(db, settings, plant.supplier_id, job_id))
                         and not one.running and one, timeout_s=60)
    assert state.status == "done", state.message
    assert state.message == "torque.csv: 2 lines read, 1 stored, 1 refused (the other lines are stored)"
    assert [(r.line, r.field) for r in state.report.refusals] == [(3, "ts")]
    refused = import_jobs.refused_csv(db, settings, plant.supplier_id, job_id)
    assert refused is not None and "not a time" in refused.read_text()
    with db.Session() as session:
        job = session.get_one(Job, job_id)
        assert job.kind == "import" and job.target == "sensors" and job.task_id and job.progress == 100
    assert stored(db) == [(s, utc(2024, 10, 1), 1.0)]
    assert not (settings.home_dir / "imports" / str(job_id) / "upload.csv").exists()
    # Another supplier sees neither the job nor its refused lines; a finished job is not rerun.
    other = add_tenant(db, "Beta Power")
    assert import_jobs.job_state(db, settings, other.supplier_id, job_id) is None
    assert import_jobs.refused_csv(db, settings, other.supplier_id, job_id) is None
    assert import_jobs.run_job(db, settings, job_id) == "skipped"
    db.engine.dispose()


def test_a_staged_upload_of_another_supplier_cannot_be_imported(db: Database, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = add_tenant(db, "Alpha Energy"), add_tenant(db, "Beta Power")
    staged = import_jobs.stage_upload(settings, alpha.supplier_id, "a.csv", b"sensor_id,ts,value\n1,2024-10-01,1\n")

    class NoQueue:
        def send(self, *_args: object) -> str:
            raise AssertionError("nothing may be queued")

    with pytest.raises(ImportFileError, match="no longer available"):
        import_jobs.submit(db, settings, NoQueue(), supplier_id=beta.supplier_id, user_id=None,  # type: ignore[arg-type]
                           role="admin", kind="sensors", token=staged.token, filename="a.csv",
                           mapping={}, tz="UTC")
    with pytest.raises(PermissionError):
        import_jobs.submit(db, settings, NoQueue(), supplier_id=alpha.supplier_id, user_id=None,  # type: ignore[arg-type]
                           role="operator", kind="sensors", token=staged.token, filename="a.csv",
                           mapping={}, tz="UTC")
    with pytest.raises(ImportFileError, match="not a valid upload|no longer available"):
        import_jobs.submit(db, settings, NoQueue(), supplier_id=alpha.supplier_id, user_id=None,  # type: ignore[arg-type]
                           role="admin", kind="sensors", token="../../etc/passwd", filename="a.csv",
                           mapping={}, tz="UTC")
    with pytest.raises(ImportFileError):
        import_jobs.stage_upload(settings, alpha.supplier_id, "x.xlsx", b"PK\x03\x04rest")
