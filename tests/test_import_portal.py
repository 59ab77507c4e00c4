"""The import page's callbacks: an admin uploads, checks the columns, imports through the
workers' job and reads the report; nobody else can do any of it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from app import import_jobs
from app.db import Database
from app.db.models import Job, SensorReading
from app.web.context import EXTENSION_KEY
from layouts import importer as page
from tests.conftest import Tenant, add_plant, dash_as


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


def outputs(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return {f"{k}.{p}": v for k, props in response.get_json()["response"].items() for p, v in props.items()}


def upload(call, name: str, content: str):  # type: ignore[no-untyped-def]
    data = "data:text/csv;base64," + base64.b64encode(content.encode()).decode()
    return call(f"{page.STAGED}.data", {f"{page.UPLOAD}.contents": data, f"{page.UPLOAD}.filename": name})


class RecordingQueue:
    """Stands in for the broker: records what the portal queues (the worker half is
    ``import_jobs.run_job``, called by the test)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def send(self, name: str, *args: Any) -> str:
        self.sent.append((name, args))
        return f"task-{len(self.sent)}"


def recording(app, monkeypatch) -> RecordingQueue:  # type: ignore[no-untyped-def]
    """The app's queue swapped for a :class:`RecordingQueue`."""
    queue = RecordingQueue()
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, replace(app.extensions[EXTENSION_KEY], queue=queue))
    return queue


@pytest.fixture
def plant_of_alpha(db: Database, tenants: tuple[Tenant, Tenant]):  # type: ignore[no-untyped-def]
    return add_plant(db, ["torque", "speed"], supplier_id=tenants[0].supplier_id)


def test_an_admin_uploads_maps_imports_and_reads_the_report(app, client, db, tenants, plant_of_alpha,  # type: ignore[no-untyped-def]
                                                            monkeypatch) -> None:
    queue = recording(app, monkeypatch)
    call = dash_as(client, tenants[0], "admin")
    assert "up to 12.5 MB here" in text_of(call(f"{page.UPLOAD_LIMIT}.children", {"url.pathname": page.PATH}))
    torque = plant_of_alpha.sensor_ids[0]
    content = ("Asset,Tag,Time,Reading\n"
               "Turbine 1,torque,2024-10-01 10:00,1.5\n"
               "Turbine 1,torque,2024-10-27 01:30,2\n"
               "Turbine 1,nozzle,2024-10-01 10:00,3\n")
    staged = outputs(upload(call, "torque.csv", content))
    assert staged[f"{page.STAGED}.data"]["columns"] == ["Asset", "Tag", "Time", "Reading"]
    assert staged[f"{page.UPLOAD}.contents"] is None  # the same file can be chosen again
    shown = outputs(call(f"{page.PREVIEW}.children", {f"{page.STAGED}.data": staged[f"{page.STAGED}.data"],
                                                        f"{page.KIND}.value": "sensors"}))
    assert shown[f"{page.map_id('asset')}.value"] == "Asset"
    assert shown[f"{page.map_id('sensor')}.value"] == "Tag"
    assert shown[f"{page.map_id('ts')}.value"] == "Time"
    assert shown[f"{page.map_row_id('serial')}.style"] == page.HIDDEN  # a meter field
    assert shown[f"{page.RUN}.disabled"] is False
    assert "2024-10-27 01:30" in json.dumps(shown[f"{page.PREVIEW}.children"])

    values = {f"{page.RUN}.n_clicks": 1, f"{page.KIND}.value": "sensors",
              f"{page.STAGED}.data": staged[f"{page.STAGED}.data"], f"{page.TZ}.value": "Europe/London",
              **{f"{page.map_id(f)}.value": shown[f"{page.map_id(f)}.value"] for f in page.MAP_FIELDS}}
    started = outputs(call(f"{page.JOB}.data", values))
    job_id = started[f"{page.JOB}.data"]
    assert queue.sent == [("twin.import.run", (job_id,))]
    assert started[f"{page.POLL}.disabled"] is False

    # The worker's half, then the page's next poll shows the report.
    settings = app.extensions[EXTENSION_KEY].settings
    assert import_jobs.run_job(db, settings, job_id) == "done"
    polled = outputs(call(f"{page.JOB}.data", {f"{page.POLL}.n_intervals": 1, f"{page.JOB}.data": job_id},
                          changed=f"{page.POLL}.n_intervals"))
    assert polled[f"{page.POLL}.disabled"] is True and polled[f"{page.PROGRESS}.value"] == 100
    report = json.dumps(polled[f"{page.REPORT}.children"], ensure_ascii=False)
    assert "happens twice in Europe/London" in report and "has no sensor 'nozzle'" in report
    assert polled[f"{page.DOWNLOAD_REFUSED}.disabled"] is False
    with db.Session() as session:
        assert session.scalar(select(func.count()).select_from(SensorReading)
                              .where(SensorReading.sensor_id == torque)) == 1
    # After a reload the page shows the latest import again.
    reloaded = outputs(call(f"{page.JOB}.data", {"url.pathname": page.PATH}, changed="url.pathname"))
    assert reloaded[f"{page.JOB}.data"] == job_id and "nozzle" in json.dumps(reloaded[f"{page.REPORT}.children"])
    download = outputs(call(f"{page.DOWNLOAD}.data", {f"{page.DOWNLOAD_REFUSED}.n_clicks": 1,
                                                      f"{page.JOB}.data": job_id}))
    sent = download[f"{page.DOWNLOAD}.data"]
    body = base64.b64decode(sent["content"]).decode() if sent["base64"] else sent["content"]
    assert body.splitlines()[0] == "line,field,message,Asset,Tag,Time,Reading"
    assert [line.split(",")[0] for line in body.splitlines()[1:]] == ["3", "4"]

    # Another supplier's admin sees neither the job nor its refused lines.
    other = dash_as(client, tenants[1], "admin")
    theirs = outputs(other(f"{page.JOB}.data", {f"{page.POLL}.n_intervals": 1, f"{page.JOB}.data": job_id},
                           changed=f"{page.POLL}.n_intervals"))
    assert theirs[f"{page.JOB}.data"] is None and "nozzle" not in json.dumps(theirs)
    assert "content" not in text_of(other(f"{page.DOWNLOAD}.data", {f"{page.DOWNLOAD_REFUSED}.n_clicks": 1,
                                                                     f"{page.JOB}.data": job_id}))


def test_a_file_without_the_needed_columns_is_not_queued(app, client, tenants, plant_of_alpha,  # type: ignore[no-untyped-def]
                                                         monkeypatch) -> None:
    queue = recording(app, monkeypatch)
    call = dash_as(client, tenants[0], "admin")
    staged = outputs(upload(call, "odd.csv", "Zeit,Wert\n2024-10-01,1\n"))[f"{page.STAGED}.data"]
    body = text_of(call(f"{page.JOB}.data", {f"{page.RUN}.n_clicks": 1, f"{page.KIND}.value": "sensors",
                                              f"{page.STAGED}.data": staged, f"{page.TZ}.value": "UTC"}))
    assert "Not imported: no column for sensor_id" in body and "'Zeit', 'Wert'" in body
    assert queue.sent == []
    binary = text_of(upload(call, "meters.xlsx", "PK\x03\x04 not csv"))
    assert "a spreadsheet (Excel), not CSV" in binary


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_see_the_page_and_forged_requests_do_nothing(app, client, db, tenants, plant_of_alpha,  # type: ignore[no-untyped-def]
                                                                 monkeypatch, role) -> None:
    queue = recording(app, monkeypatch)
    admin = dash_as(client, tenants[0], "admin")
    staged = outputs(upload(admin, "t.csv", f"sensor_id,ts,value\n{plant_of_alpha.sensor_ids[0]},2024-10-01,1\n"))
    token = staged[f"{page.STAGED}.data"]
    call = dash_as(client, tenants[0], role)
    assert "This page is for your supplier's administrators." in text_of(
        call(f"{page.BODY}.children", {"url.pathname": page.PATH}))
    assert "Only administrators can do that." in text_of(upload(call, "t.csv", "sensor_id,ts,value\n1,2024-10-01,1\n"))
    run = text_of(call(f"{page.JOB}.data", {f"{page.RUN}.n_clicks": 1, f"{page.KIND}.value": "sensors",
                                             f"{page.STAGED}.data": token, f"{page.TZ}.value": "UTC"}))
    assert "Only administrators can do that." in run
    assert queue.sent == []
    with db.Session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
