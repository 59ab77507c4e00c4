"""Worker faults (issue #9, item 2): a hundred pipeline and email tasks on real Celery workers
and the real Redis and PostgreSQL, while workers are killed with SIGKILL in the middle of a
task, twice. Every task completes, the calculations equal a clean run's, and every email
arrives exactly once.

Both kills land inside a task on purpose, not at a random moment:

* the first kills the pool process (the main worker process survives) while it is in an SMTP
  session that the server holds at MAIL, so the email's row is claimed ("sending") and nothing
  was accepted. The task comes back at once (``reject_on_worker_lost``); its copy must wait
  for the dead claim to go stale (``app.mail.delivery.stale_after``) and then send it once;
* the second kills the whole worker (main and pool process) while a calculation waits on a
  row lock this test holds on the asset's ``pipeline_state``, inside the batch's transaction;
  a new worker must get the lost task back from Redis after ``broker.visibility_timeout_s``.

The one moment no SMTP sender can make safe (killed after the server's "250 OK", before the
row says "sent"; see ``app.mail.delivery``) is not aimed at.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from app import pipeline
from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import Alert, Calculation, EmailLog, PipelineState, SensorRollup
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.mail.requests import request_summary
from app.twins import asset_type
from settings import Settings, load_settings
from tests.conftest import add_plant, utc
from tests.mail_support import NOW, Sink, build_estate, smtp_server
from tests.test_pipeline_workers import Workers, wait_for, worker_env
from workers.celery_app import create_celery

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

VISIBILITY_S = 6
SETTINGS: dict[str, dict[str, Any]] = {
    # Small, so that a task lost with its worker comes back within this test's time.
    "broker": {"visibility_timeout_s": VISIBILITY_S},
    # timeout_s 2: a held SMTP session is still open when the kill lands; a claim then goes
    # stale after 4 x 2 + 30 = 38 s (app.mail.delivery.stale_after).
    "smtp": {"timeout_s": 2, "retry_backoff_s": 1, "retry_backoff_max_s": 2, "max_attempts": 50},
}
CALCULATIONS = 44
EMAILS = 56  # two estates: 4 meters x 2 periods x 2 recipients, 3 accounts x 2 periods x 2
KILL_CHILD_AFTER = 10  # messages received before the SMTP server holds the next session
LOCKED_CALCULATION = 30  # the calculation (0-based, in queue order) the whole worker dies in


@dataclass
class HoldingSink(Sink):
    """A :class:`Sink` that says when a session is being held at MAIL."""

    held: threading.Event = field(default_factory=threading.Event)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.holding.is_set():
            self.held.set()
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


class QueueWorkers(Workers):
    """``celery -A workers.celery_app worker`` processes on this test's own queue, each in its
    own process group. The queue is unique so that no other worker on the shared Redis takes
    these tasks (it would run them against its own database)."""

    def __init__(self, env: dict[str, str], queue: str, log_dir: Path) -> None:
        super().__init__(env, log_dir)
        self.queue = queue

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes)
        log = (self.log_dir / f"worker{number}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", self.queue,
             "--concurrency", "1", "--loglevel", "INFO", "-n", f"reliability{number}-{self.queue}@%h",
             "--without-gossip", "--without-mingle"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def pool_children(self, process: subprocess.Popen[bytes]) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def received(self) -> Counter[str]:
        """How many times each task id was delivered to a worker, from the workers' logs."""
        pattern = re.compile(r"Task twin\.[\w.]+\[([0-9a-f-]{36})\] received")
        counts: Counter[str] = Counter()
        for path in self.log_dir.glob("worker*.log"):
            counts.update(pattern.findall(path.read_text(errors="replace")))
        return counts


@dataclass
class World:
    settings: Settings
    database: Database
    env: dict[str, str]
    queue: str


@pytest.fixture
def world(tmp_path: Path, redis_url: str, postgres_url: str) -> Iterator[World]:
    """Settings shared by this process and its workers: PostgreSQL, Redis, this test's SMTP."""
    env = worker_env(tmp_path, SETTINGS, TWIN_BROKER_URL=redis_url, TWIN_DATABASE_URL=postgres_url)
    settings = load_settings(environ=env)
    database = Database(settings)
    upgrade(database.engine)
    yield World(settings, database, env, f"reliability-{uuid.uuid4().hex[:12]}")
    database.engine.dispose()


def drivetrains(database: Database, count: int) -> list[int]:
    """``count`` drivetrains of one supplier, each with the same three hours of 1-minute data."""
    kind = asset_type("drivetrain")
    start = utc(2024, 11, 20, 6)
    supplier_id = None
    assets = []
    for number in range(count):
        plant = add_plant(database, [s.name for s in kind.sensors], asset_type="drivetrain",
                          name=f"Wind farm {number}", supplier_id=supplier_id)
        supplier_id = plant.supplier_id
        for sensor_id, spec in zip(plant.sensor_ids, kind.sensors, strict=True):
            for frame in generate_chunks(spec.signal, sensor_id, start, start + timedelta(hours=3),
                                         timedelta(minutes=1), seed=11):
                write_sensor_readings(database.engine, frame)
        assets.append(plant.asset_id)
    return assets


def summary_rows(database: Database, settings: Settings) -> list[int]:
    """The email-log rows of every cost summary two estates can ask for."""
    ids = []
    for _ in range(2):
        estate = build_estate(database, settings)
        with database.Session() as session, session.begin():
            for meter_id in estate.meters.values():
                for scope in ("meter", "account"):
                    for period in ("month_to_date", "last_month"):
                        ids += [r.log_id for r in request_summary(
                            session, settings, supplier_id=estate.supplier_id,
                            user_id=estate.operator_id, user_email=estate.operator_email,
                            meter_id=meter_id, scope=scope, period_name=period, now=NOW)
                            if r.to_queue]
    return ids


def outcome(database: Database, asset_id: int) -> tuple[int, int, int, Any]:
    """What an asset's calculation left: calculation, rollup and alert rows, and the watermark."""
    from app.db.models import Sensor

    with database.Session() as session:
        sensors = select(Sensor.id).where(Sensor.asset_id == asset_id)
        return (
            session.scalar(select(func.count()).select_from(Calculation).where(Calculation.asset_id == asset_id)),
            session.scalar(select(func.count()).select_from(SensorRollup).where(SensorRollup.sensor_id.in_(sensors))),
            session.scalar(select(func.count()).select_from(Alert).where(Alert.asset_id == asset_id)),
            session.scalar(select(PipelineState.watermark).where(PipelineState.asset_id == asset_id)),
        )


def waiting_on_a_lock(engine) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")))


def test_a_hundred_tasks_survive_two_sigkilled_workers_exactly_once(world: World, tmp_path: Path) -> None:
    settings, database = world.settings, world.database
    started = time.monotonic()
    assets = drivetrains(database, CALCULATIONS + 1)
    reference, assets = assets[0], assets[1:]
    pipeline.calculate(database, settings, reference)  # the clean run, in this process
    clean = outcome(database, reference)
    assert clean[0] > 0 and clean[3] is not None
    locked = assets[LOCKED_CALCULATION]
    with database.Session() as session, session.begin():  # a row for the test to lock
        session.add(PipelineState(asset_id=locked, watermark=None))

    sink = HoldingSink(hold_after=KILL_CHILD_AFTER)
    with smtp_server(sink) as url:
        world.env["TWIN_SMTP_URL"] = url
        settings = load_settings(environ=world.env)
        log_ids = summary_rows(database, settings)
        assert len(log_ids) == EMAILS
        client = create_celery(settings)
        tasks: list[tuple[str, tuple[int, ...]]] = []
        for n in range(max(CALCULATIONS, EMAILS)):  # interleaved: email, calculation, ...
            if n < EMAILS:
                tasks.append(("twin.email.send", (log_ids[n],)))
            if n < CALCULATIONS:
                tasks.append(("twin.calculate", (assets[n],)))
        assert len(tasks) == 100
        lock = create_engine(database.engine.url).connect()
        workers = QueueWorkers(world.env, world.queue, tmp_path)
        try:
            # The test holds the locked asset's pipeline_state row: its calculation waits
            # inside its transaction, after writing its calculations, until the kill.
            lock.begin()
            lock.execute(select(PipelineState).where(PipelineState.asset_id == locked).with_for_update())
            ids = [client.send_task(name, args=args, queue=world.queue).id for name, args in tasks]
            first = workers.start()
            prepared_s = time.monotonic() - started

            # Kill 1: the pool process, in the middle of an SMTP session held at MAIL.
            assert sink.held.wait(60), "no email reached the held SMTP session"
            (child,) = workers.pool_children(first)
            os.kill(child, signal.SIGKILL)
            killed_child_at = utcnow()
            held = [r for r in rows(database) if r.status == "sending"]
            assert len(held) == 1, "the killed email was claimed, not sent"
            assert sink.count() == KILL_CHILD_AFTER
            sink.holding.clear()
            sink.hold_after = None

            # Kill 2: the whole worker, while a calculation waits on the row lock.
            wait_for(lambda: waiting_on_a_lock(database.engine), 60, "the locked calculation to start")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            killed_worker_at = time.monotonic()
            lock.rollback()
            assert outcome(database, locked)[0] == 0, "the killed batch committed nothing"
            workers.start()
            wait_for(lambda: outcome(database, locked)[3] is not None, 60,
                     "the lost calculation to be delivered again")
            redelivered_s = time.monotonic() - killed_worker_at

            def finished() -> bool:
                return all(client.AsyncResult(i).state == "SUCCESS" for i in ids)

            wait_for(finished, 90, "every task to succeed")
            finished_s = time.monotonic() - started
            held_sent_s = (next(r.sent_at for r in rows(database) if r.id == held[0].id)
                           - killed_child_at).total_seconds()
        finally:
            lock.close()
            workers.stop()
            world.env.pop("TWIN_SMTP_URL", None)

    # Every calculation equals the clean run's: nothing lost, nothing twice.
    for asset_id in assets:
        assert outcome(database, asset_id) == clean, f"asset {asset_id}"
    with database.Session() as session:
        duplicates = session.scalar(select(func.count()).select_from(
            select(Calculation.asset_id).group_by(Calculation.asset_id, Calculation.name, Calculation.ts)
            .having(func.count() > 1).subquery()))
    assert duplicates == 0
    # Every email arrived, and each exactly once.
    logged = rows(database)
    assert [r.status for r in logged] == ["sent"] * EMAILS
    received = Counter(str(m["Message-ID"]) for m in sink.messages())
    assert received == Counter(r.message_id for r in logged)
    assert set(received.values()) == {1} and len(received) == EMAILS
    assert next(r for r in logged if r.id == held[0].id).attempts == 2  # the killed try, then one

    deliveries = workers.received()
    assert set(deliveries) == set(ids)
    print(f"\n100 tasks ({CALCULATIONS} calculate, {EMAILS} email.send), setup {prepared_s:.1f} s, "
          f"all succeeded {finished_s:.1f} s after the start; {sum(deliveries.values())} deliveries "
          f"({sum(deliveries.values()) - len(ids)} redeliveries, "
          f"{sum(1 for n in deliveries.values() if n > 1)} tasks delivered more than once); "
          f"lost calculation back {redelivered_s:.1f} s after the worker was killed "
          f"(visibility timeout {VISIBILITY_S} s); the email killed mid-send sent "
          f"{held_sent_s:.1f} s after its kill")


def rows(database: Database) -> list[EmailLog]:
    with database.Session() as session:
        return list(session.scalars(select(EmailLog).order_by(EmailLog.id)))
