"""Outages of the broker and of the database (issue #9, items 3 and 4), on real servers that
this test alone owns, so that the shared Redis and PostgreSQL never stop:

* the broker is a private ``redis-server`` on a free port, killed with SIGKILL and started
  again on the same port, with a real worker (``python -m app worker``) running across it;
* the database is the real PostgreSQL behind a TCP proxy in this process: "down" closes every
  proxied connection and refuses new ones, "back" accepts again. That is what a restart of
  the server looks like to the app.

The app is built once per test and never restarted: it must recover by itself.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from app import create_app
from app.api_tokens import create_token
from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import EmailLog, Job, MeterReading, WorkerHeartbeat
from app.queue import TaskQueue
from tests.conftest import (
    AuthActions,
    DashCaller,
    Tenant,
    add_meter,
    add_plant,
    add_tenant,
    make_settings,
)
from tests.mail_support import PatternCaller, free_port
from tests.test_pipeline_workers import wait_for

# What an error body must never show a user or a client. /healthz is for operators: it names
# the server that does not answer and why (passwords hidden), never a traceback.
LEAKS = ("Traceback", 'File "', "OperationalError", "psycopg", "sqlalchemy", "kombu", "redis.exceptions")
HEALTH_LEAKS = LEAKS[:2]
# The longest a request may take while a server is down (healthz waits 2 s for the broker).
ANSWER_WITHIN_S = 5.0


def timed(call: Callable[[], TestResponse]) -> tuple[TestResponse, float]:
    began = time.monotonic()
    response = call()
    return response, time.monotonic() - began


def assert_calm(response: TestResponse, status: int, leaks: tuple[str, ...] = LEAKS) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    for leak in leaks:
        assert leak not in body, f"{leak!r} in the body: {body[:500]}"
    return body


# -- the broker ---------------------------------------------------------------------------


class RedisServer:
    """A private ``redis-server``, no persistence, on one port for its whole life."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        log = (self.log_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for(lambda: self._answers(client), 10, "the private Redis to answer")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def private_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    """Runs where the live Redis tests run (``TWIN_TEST_REDIS_URL``), on a server of its own."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "app", "worker", "--concurrency", "1"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.mark.redis
def test_with_the_broker_down_the_portal_works_and_queued_work_runs_when_it_is_back(
        tmp_path: Path, private_redis: RedisServer) -> None:
    home = tmp_path / "home"
    settings = make_settings(home, broker__url=private_redis.url)
    database = Database(settings)
    upgrade(database.engine)
    alpha = add_tenant(database, "Alpha Energy")
    meter_id = add_meter(database, alpha.supplier_id, serial="E-OUTAGE-1",
                         previous=(utcnow() - timedelta(days=2), "1000"))
    asset_id = add_plant(database, ["water_temperature"], asset_type="boiler", name="Alpha Works",
                         supplier_id=alpha.supplier_id).asset_id
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update(TWIN_HOME=str(home), TWIN_BROKER_URL=private_redis.url, TWIN_SECRET_KEY=settings.secret_key or "")
    server = create_app(settings)
    server.config.update(TESTING=True)
    operator, admin = server.test_client(), server.test_client()
    AuthActions(operator).login(*alpha.users["operator"])
    AuthActions(admin).login(*alpha.users["admin"])
    portal, trainer = PatternCaller(operator), PatternCaller(admin)
    figures: dict[str, float] = {}

    with worker(env, tmp_path / "worker.log"):
        # The worker is up and consuming before the broker goes.
        TaskQueue(settings).send("twin.heartbeat")
        wait_for(lambda: heartbeats(database), 60, "the worker's first heartbeat")
        assert operator.get("/healthz").status_code == 200

        private_redis.kill()
        down_at = time.monotonic()
        health, figures["healthz_down_s"] = timed(lambda: operator.get("/healthz"))
        body = json.loads(assert_calm(health, 503, HEALTH_LEAKS))
        assert body["checks"]["broker"]["status"] == "down" and body["checks"]["database"]["status"] == "ok"

        # Pages load and readings save: neither needs the broker.
        for path in ("/", "/meters", "/emails", "/models"):
            page, figures[f"page {path}"] = timed(lambda path=path: operator.get(path))
            assert_calm(page, 200)
        overview = portal("estate-summary.children", {"url.pathname": "/"})
        assert "Alpha Energy" in assert_calm(overview, 200)
        grid = portal("meters-grid.getRowsResponse", {"meters-grid.getRowsRequest": {
            "startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}})
        assert "E-OUTAGE-1" in assert_calm(grid, 200)
        saved, figures["save_reading_s"] = timed(lambda: portal("reading-result.children", {
            "reading-save.n_clicks": 1, "reading-value.value": "1010", "meters-saved.data": 0,
            "reading-store.data": {"meter_id": meter_id, "opened_at": utcnow().replace(microsecond=0).isoformat()}}))
        assert "Saved." in assert_calm(saved, 200)
        assert readings(database, meter_id) == 2

        # Work asked for meanwhile: the email is kept and said to wait; training says it failed.
        emailed, figures["email_summary_s"] = timed(lambda: portal.pattern(
            "email-summary-result.children", "page", {
                "email-summary-send.n_clicks": 1, "email-summary-scope.value": "meter",
                "email-summary-period.value": "month_to_date",
                "meters-grid.selectedRows": [{"id": str(meter_id)}]}))
        text = assert_calm(emailed, 200)
        assert "The task queue is not answering right now: the message is saved and goes out as " \
               "soon as the workers are back." in text
        assert [r.status for r in email_rows(database)] == ["pending", "pending"]
        emails_page = assert_calm(portal("emails-table.children", {"url.pathname": "/emails"}), 200)
        assert emails_page.count("pending") >= 2
        train = {"models-train.n_clicks": 1, "models-asset.value": asset_id,
                 "models-target.value": "water_temperature", "models-poll.disabled": True}
        trained, figures["train_now_s"] = timed(lambda: trainer("models-progress.value", train,
                                                                changed="models-train.n_clicks"))
        assert "The task queue is not answering; the job was not started. Try again in a moment." \
            in assert_calm(trained, 200)
        assert [(j.status, j.task_id) for j in jobs(database)] == [("failed", None)]
        # Nothing a person does waits on the dead broker: no request comes near the ~30 s a
        # web server or proxy gives up after.
        slow = {k: v for k, v in figures.items() if v > ANSWER_WITHIN_S}
        assert not slow, f"answered after more than {ANSWER_WITHIN_S} s with the broker down: {slow}"

        private_redis.start()
        back_at = time.monotonic()
        figures["broker_down_s"] = back_at - down_at
        wait_for(lambda: operator.get("/healthz").status_code == 200, 10, "/healthz to say ok again")
        figures["healthz_ok_after_s"] = time.monotonic() - back_at

        # The email sweep beat runs every mail.alert_check_interval_s queues messages never
        # attempted for a minute: the minute is made to have passed, then beat's task is sent.
        with database.Session() as session, session.begin():
            session.execute(update(EmailLog).values(created_at=utcnow() - timedelta(minutes=2)))
        TaskQueue(settings).send("twin.email.alerts")
        wait_for(lambda: [r.status for r in email_rows(database)] == ["sent", "sent"], 60,
                 "the waiting emails to be sent once the broker is back")
        figures["emails_sent_after_s"] = time.monotonic() - back_at
        assert [r.attempts for r in email_rows(database)] == [1, 1]
        assert len(list((home / "outbox").glob("*.eml"))) == 2

        # Training asked again reaches the worker, through the web app's own queue client.
        retried = trainer("models-progress.value", train, changed="models-train.n_clicks")
        assert "Waiting for a worker" in assert_calm(retried, 200)
        wait_for(lambda: jobs(database)[-1].status in ("done", "failed"), 60, "the worker to run the training")
        figures["train_ran_after_s"] = time.monotonic() - back_at
        last = jobs(database)[-1]
        assert last.task_id and "task queue" not in (last.message or "")

    print("\nbroker down: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items())
          + f"; the retried training ended {last.status}: {last.message}")


def heartbeats(database: Database) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0


def readings(database: Database, meter_id: int) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(MeterReading)
                              .where(MeterReading.meter_id == meter_id)) or 0


def email_rows(database: Database) -> list[EmailLog]:
    with database.Session() as session:
        return list(session.scalars(select(EmailLog).order_by(EmailLog.id)))


def jobs(database: Database) -> list[Job]:
    with database.Session() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


# -- the database -------------------------------------------------------------------------


class TcpProxy:
    """A TCP proxy to ``upstream`` on a fixed local port; :meth:`down` drops every connection
    and refuses new ones (a database restarting), :meth:`up` accepts again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.connections = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        with self._lock:
            dropped, self._open = self._open, set()
        for sock in dropped:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
                self.connections += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def proxied_postgres(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """A fresh PostgreSQL database, and its URL through a :class:`TcpProxy`."""
    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.up()
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.down()


def requests_of(client: FlaskClient, token: str, meter_id: int) -> dict[str, Callable[[], TestResponse]]:
    """One request of each kind the app serves: portal pages, Dash callbacks, the API, health."""
    bearer = {"Authorization": f"Bearer {token}"}
    dash = DashCaller(client)
    register = itertools.count(1010, 10)  # each post a new, higher reading
    return {
        "page /": lambda: client.get("/"),
        "page /meters": lambda: client.get("/meters"),
        "dash overview": lambda: dash("estate-summary.children", {"url.pathname": "/"}),
        "dash meters grid": lambda: dash("meters-grid.getRowsResponse", {"meters-grid.getRowsRequest": {
            "startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}}),
        "api GET /meters": lambda: client.get("/api/v1/meters", headers=bearer),
        "api POST reading": lambda: client.post(f"/api/v1/meters/{meter_id}/readings", headers=bearer,
                                                json={"value": str(next(register)),
                                                      "read_at": utcnow().isoformat(),
                                                      "reason": "checked on site"}),
        "healthz": lambda: client.get("/healthz"),
    }


@pytest.mark.postgres
def test_with_the_database_down_requests_get_a_calm_503_and_recover_without_a_restart(
        tmp_path: Path, proxied_postgres: tuple[str, TcpProxy]) -> None:
    url, proxy = proxied_postgres
    settings = make_settings(tmp_path, database__url=url)
    database = Database(settings)
    upgrade(database.engine)
    alpha: Tenant = add_tenant(database, "Alpha Energy")
    meter_id = add_meter(database, alpha.supplier_id, serial="E-OUTAGE-1",
                         previous=(utcnow() - timedelta(days=2), "1000"))
    with database.Session() as session, session.begin():
        _, token = create_token(session, supplier_id=alpha.supplier_id, actor_id=None,
                                name="meter gateway", scope="write")
    server = create_app(settings)
    server.config.update(TESTING=True)
    client = server.test_client()
    AuthActions(client).login(*alpha.users["operator"])
    requests = requests_of(client, token, meter_id)
    for name, call in requests.items():
        assert call().status_code in (200, 201), name
    figures: dict[str, dict[str, float]] = {"down": {}, "back": {}, "restarted": {}}

    proxy.down()
    for name, call in requests.items():
        response, figures["down"][name] = timed(call)
        body = assert_calm(response, 503, HEALTH_LEAKS if name == "healthz" else LEAKS)
        if name.startswith("page"):
            assert response.mimetype == "text/html"
            assert "The database is not answering. Please try again in a moment." in body
        elif name == "healthz":
            assert response.get_json()["checks"]["database"]["status"] == "down"
        else:
            assert response.mimetype == "application/json", name
            error = response.get_json()
            assert "database_unavailable" in (error.get("error"), error.get("code")), (name, error)
    # A sign-in needs the database too: the same calm page, not a failed login.
    signin = AuthActions(server.test_client()).login(*alpha.users["viewer"])
    assert "The database is not answering" in assert_calm(signin, 503)

    proxy.up()  # back: the very same app, its pools full of dead connections
    for name, call in requests.items():
        response, figures["back"][name] = timed(call)
        assert response.status_code in (200, 201), (name, response.get_data(as_text=True)[:300])

    # A restart between two requests is not even seen: pre-ping replaces the dead connection.
    proxy.down()
    proxy.up()
    for name, call in requests.items():
        response, figures["restarted"][name] = timed(call)
        assert response.status_code in (200, 201), (name, response.get_data(as_text=True)[:300])
    with database.Session() as session:
        stored = session.scalars(select(MeterReading.value).where(MeterReading.meter_id == meter_id)).all()
    assert len(stored) == 4  # the seed and the three posts that succeeded; none from the outage

    for phase, times in figures.items():
        print(f"\ndatabase {phase}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))
    print(f"proxied connections opened: {proxy.connections}")
