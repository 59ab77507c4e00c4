"""Email over a real SMTP server (aiosmtpd, started by each test on a free local port): what
arrives, who it goes to, refusals and retries, TLS and login, exactly-once delivery when tasks
are duplicated, and a batch sent by a real Celery worker while the server goes down and comes
back."""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from app.db import Database
from app.db.migrate import upgrade
from app.db.models import EmailLog, Supplier
from app.mail.delivery import RetryLater, backoff_s, deliver
from app.mail.requests import queue_alert_emails, queue_monthly_summaries, request_summary
from app.mail.transport import SmtpTarget
from app.meters import meters_page
from app.tariffs import format_pounds
from settings import Settings, SettingsError
from tests.conftest import AuthActions, DashCaller, add_plant, make_settings, utc
from tests.mail_support import (
    NOW,
    Sink,
    add_alerts,
    build_estate,
    free_port,
    log_rows,
    set_contacts,
    smtp_server,
    start_smtp,
    summary_parts,
)
from tests.test_workers import wait_for
from workers.celery_app import create_celery

# -- SMTP URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.test", SmtpTarget("mail.example.test", 25, "none")),
    ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525, "none")),
    ("smtp://relay.test:25?starttls=1", SmtpTarget("relay.test", 25, "starttls")),
    ("smtp+starttls://user%40corp:p%40ss%3Aword@mail.test",
     SmtpTarget("mail.test", 587, "starttls", "user@corp", "p@ss:word")),
    ("smtps://billing:secret@mail.test", SmtpTarget("mail.test", 465, "ssl", "billing", "secret")),
    ("SMTPS://mail.test:4650", SmtpTarget("mail.test", 4650, "ssl")),
])
def test_an_smtp_url_names_the_host_port_security_and_login(url: str, expected: SmtpTarget) -> None:
    assert SmtpTarget.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://mail.test", "mail.test:25", "smtp://", "smtp://:25", "imap://mail.test"])
def test_a_malformed_smtp_url_is_a_settings_error(url: str) -> None:
    with pytest.raises(SettingsError, match="smtp.url must look like"):
        SmtpTarget.from_url(url)


# -- one message, end to end --------------------------------------------------------------


def smtp_settings(home: Path, url: str, **overrides: object) -> Settings:
    return make_settings(home, smtp__url=url, smtp__timeout_s=2, smtp__retry_backoff_s=0.5,
                         smtp__retry_backoff_max_s=2, **overrides)


def test_a_cost_summary_arrives_over_smtp_for_the_user_and_the_billing_contact(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as url:
        settings = smtp_settings(tmp_path, url)
        database = Database(settings)
        upgrade(database.engine)
        estate = build_estate(database, settings)
        with database.Session() as session, session.begin():
            rows = request_summary(session, settings, supplier_id=estate.supplier_id,
                                   user_id=estate.operator_id, user_email=estate.operator_email,
                                   meter_id=estate.meters["electricity"], scope="meter",
                                   period_name="month_to_date", now=NOW)
        assert [deliver(database, settings, r.log_id, NOW) for r in rows] == ["sent", "sent"]
    with database.Session() as session:
        grid, _ = meters_page(session, estate.supplier_id, start=0, end=50, now=NOW)
        supplier = session.scalar(select(Supplier.name).where(Supplier.id == estate.supplier_id))
    portal = next(format_pounds(r.period_cost_p) for r in grid if r.id == estate.meters["electricity"])
    assert sorted(r.rcpt_tos for r in sink.received) == sorted([(estate.operator_email,), (estate.billing_email,)])
    sent = log_rows(database)
    assert {r.status for r in sent} == {"sent"} and all(r.message_path is None for r in sent)
    for received in sink.received:
        message = received.message
        parts = summary_parts(message)
        assert message["To"] == received.rcpt_tos[0]
        assert received.mail_from == "no-reply@energytwin.local"
        assert message["Subject"] == f"{supplier}: cost summary for meter E-MAIL-1, 1–21 November 2024 (so far)"
        assert parts.figure("TOTAL") == parts.html_total == portal
        assert [(row["read_at_uk"], row["kind"], row["advance"]) for row in parts.csv_rows] == [
            ("2024-11-10 09:00", "actual", "100.000"), ("2024-11-15 09:00", "actual", "55.500"),
            ("2024-11-20 09:00", "estimated", "44.500")]
        assert parts.chart.startswith(b"\x89PNG\r\n\x1a\n")
        assert f'src="cid:{parts.chart_cid}"' in parts.html
    assert {r.message["Message-ID"] for r in sink.received} == {r.message_id for r in sent}


# -- refusals and retries -----------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One alert email (the cheapest message to render) waiting to be sent."""

    database: Database
    settings: Settings
    supplier_id: int
    log_id: int

    def deliver(self) -> str:
        return deliver(self.database, self.settings, self.log_id, NOW)

    def row(self) -> EmailLog:
        (row,) = log_rows(self.database, EmailLog.id == self.log_id)
        return row


def outgoing(database: Database, settings: Settings, supplier_id: int | None = None) -> Outgoing:
    plant = add_plant(database, ["vibration"], supplier_id=supplier_id)
    set_contacts(database, plant.site_id, "maint@northfarm.test")
    add_alerts(database, plant.site_id, plant.asset_id, [plant.sensor_ids[0]], started_at=NOW)
    with database.Session() as session, session.begin():
        (log_id,) = queue_alert_emails(session, settings, NOW)
    return Outgoing(database, settings, plant.supplier_id, log_id)


@pytest.fixture
def alert_email(tmp_path: Path) -> Iterator[Callable[..., Outgoing]]:
    """Makes an :class:`Outgoing` in a fresh database, sent through the SMTP server at ``url``."""
    made: list[Database] = []

    def make(url: str, **overrides: object) -> Outgoing:
        settings = smtp_settings(tmp_path, url, **overrides)
        made.append(Database(settings))
        upgrade(made[-1].engine)
        return outgoing(made[-1], settings)

    yield make
    for database in made:
        database.engine.dispose()


def test_a_permanent_refusal_fails_at_once_and_the_portal_shows_the_reason(
        tmp_path, client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    sink = Sink(refuse_rcpt="550 5.1.1 mailbox unknown")
    with smtp_server(sink) as url:
        mail = outgoing(db, smtp_settings(tmp_path, url), tenants[0].supplier_id)
        assert mail.deliver() == "failed"
    row = mail.row()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in (row.last_error or "") and "mailbox unknown" in (row.last_error or "")
    assert sink.received == []
    AuthActions(client).login(*tenants[0].users["viewer"])
    page = DashCaller(client)("emails-table.children", {"url.pathname": "/emails"})
    assert page.status_code == 200
    assert "failed" in page.get_data(as_text=True) and "mailbox unknown" in page.get_data(as_text=True)


def test_a_temporary_refusal_is_retried_with_backoff_then_failed_after_max_attempts(alert_email) -> None:  # type: ignore[no-untyped-def]
    sink = Sink(refuse_data="451 4.3.0 try again later")
    with smtp_server(sink) as url:
        mail = alert_email(url, smtp__max_attempts=3)
        waits = []
        for _ in range(2):
            with pytest.raises(RetryLater) as retry:
                mail.deliver()
            waits.append(retry.value.after_s)
            assert mail.row().status == "pending" and "451" in (mail.row().last_error or "")
        assert waits == [0.5, 1.0]  # doubling from smtp.retry_backoff_s
        assert mail.deliver() == "failed"
    row = mail.row()
    assert (row.status, row.attempts) == ("failed", 3) and "try again later" in (row.last_error or "")
    assert sink.received == []


def test_backoff_doubles_up_to_retry_backoff_max_s(tmp_path: Path) -> None:
    settings = smtp_settings(tmp_path, "smtp://127.0.0.1:1")
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_a_server_that_is_down_is_a_temporary_failure(alert_email) -> None:  # type: ignore[no-untyped-def]
    mail = alert_email(f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    with pytest.raises(RetryLater):
        mail.deliver()
    assert mail.row().status == "pending"
    assert "could not reach the SMTP server" in (mail.row().last_error or "")


def test_a_malformed_smtp_url_fails_the_message_with_the_reason(alert_email) -> None:  # type: ignore[no-untyped-def]
    mail = alert_email("smtp//mail.example.test")
    assert mail.deliver() == "failed"
    assert "smtp.url must look like" in (mail.row().last_error or "")


def refuse_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    return AuthResult(success=False, handled=False)


def accept_billing_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"billing", b"s3cret")
    return AuthResult(success=ok, auth_data=auth_data)


def test_a_refused_login_fails_at_once_without_retrying(alert_email) -> None:  # type: ignore[no-untyped-def]
    sink = Sink()
    with smtp_server(sink, authenticator=refuse_login, auth_require_tls=False) as url:
        mail = alert_email(url.replace("smtp://", "smtp://billing:wrong@"))
        assert mail.deliver() == "failed"
    row = mail.row()
    assert (row.status, row.attempts) == ("failed", 1) and "refused the login" in (row.last_error or "")
    assert sink.received == []


@pytest.fixture
def trusted_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A private CA that ssl.create_default_context() trusts (through SSL_CERT_FILE)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def test_starttls_then_login_delivers_over_an_encrypted_session(alert_email, trusted_ca) -> None:  # type: ignore[no-untyped-def]
    sink = Sink()
    with smtp_server(sink, tls_context=server_tls(trusted_ca), require_starttls=True,
                     authenticator=accept_billing_login) as url:
        assert alert_email(url.replace("smtp://", "smtp+starttls://billing:s3cret@")).deliver() == "sent"
    (received,) = sink.received
    assert received.tls and received.login == b"billing"


def test_smtps_delivers_over_tls_from_the_first_byte(alert_email, trusted_ca) -> None:  # type: ignore[no-untyped-def]
    sink = Sink()
    with smtp_server(sink, ssl_context=server_tls(trusted_ca)) as url:
        assert alert_email(url.replace("smtp://", "smtps://")).deliver() == "sent"
    (received,) = sink.received
    assert received.tls


def test_an_untrusted_certificate_is_not_sent_to(alert_email) -> None:  # type: ignore[no-untyped-def]
    sink = Sink()
    with smtp_server(sink, tls_context=server_tls(trustme.CA()), require_starttls=True) as url:
        mail = alert_email(url + "?starttls=1")
        with pytest.raises(RetryLater):
            mail.deliver()
    assert sink.received == [] and "CERTIFICATE_VERIFY_FAILED" in (mail.row().last_error or "")


# -- exactly once -------------------------------------------------------------------------


def test_delivering_the_same_row_twice_sends_one_message(tmp_path: Path, any_db: Database) -> None:
    sink = Sink()
    with smtp_server(sink) as url:
        mail = outgoing(any_db, smtp_settings(tmp_path, url))
        assert mail.deliver() == "sent"
        assert mail.deliver() == "sent"
    assert sink.count() == 1 and mail.row().attempts == 1


def test_two_deliveries_of_the_same_row_at_once_send_one_message(tmp_path: Path, any_db: Database) -> None:
    gate = threading.Event()
    sink = Sink(data_gate=gate)
    with smtp_server(sink) as url:
        mail = outgoing(any_db, smtp_settings(tmp_path, url))
        outcome: list[str] = []
        first = threading.Thread(target=lambda: outcome.append(mail.deliver()))
        first.start()
        try:
            assert sink.in_data.wait(10), "the first delivery never reached DATA"
            # The first copy is in the middle of sending: the second cannot claim the row.
            with pytest.raises(RetryLater, match="another worker is sending"):
                mail.deliver()
        finally:
            gate.set()
            first.join(10)
        assert outcome == ["sent"]
        # The second copy's retry finds the message sent and sends nothing.
        assert mail.deliver() == "sent"
    assert sink.count() == 1 and mail.row().attempts == 1


def test_queueing_the_monthly_summaries_twice_keeps_one_row_per_contact(tmp_path: Path, any_db: Database) -> None:
    settings = make_settings(tmp_path)
    supplier_id = outgoing(any_db, settings).supplier_id
    with any_db.Session() as session, session.begin():
        supplier = session.get(Supplier, supplier_id)
        assert supplier is not None
        supplier.billing_email = "billing@northfarm.test"
    december = utc(2024, 12, 1, 7)
    with any_db.Session() as session, session.begin():
        first = queue_monthly_summaries(session, settings, december)
    with any_db.Session() as session, session.begin():
        second = queue_monthly_summaries(session, settings, december)
    monthly = log_rows(any_db, EmailLog.kind == "summary.monthly")
    assert len(first) == len(monthly) == 1 and second == []


# -- a real worker ------------------------------------------------------------------------


BATCH = 20
STOP_AFTER = 7


@pytest.mark.slow  # a real worker: starting and stopping it takes most of the time
def test_a_batch_sent_by_a_worker_while_the_server_goes_down_arrives_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    settings = smtp_settings(tmp_path, f"smtp://127.0.0.1:{port}", smtp__max_attempts=50,
                             mail__alert_digest_after=BATCH + 1)
    database = Database(settings)
    upgrade(database.engine)
    plant = add_plant(database, ["vibration"])
    set_contacts(database, plant.site_id, "maint@northfarm.test")
    # Twenty alerts of twenty kinds: twenty messages, none a repeat of another.
    for n in range(BATCH):
        add_alerts(database, plant.site_id, plant.asset_id, [plant.sensor_ids[0]], started_at=NOW,
                   kind=f"anomaly_{n:02d}")
    # The server stops only between sessions: after the 7th message's session has QUIT, new
    # sessions are held at MAIL (before any DATA) until the server is gone. Stopping it while
    # a DATA is in flight would test SMTP's own ambiguity (the server may have taken a message
    # whose "250 OK" the client never read), which no sender can resolve; see app.mail.delivery.
    sink = Sink(hold_after=STOP_AFTER)
    controller = start_smtp(sink, port)
    celery = create_celery(settings)
    try:
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            celery.send_task("twin.email.alerts")
            rows = wait_for(lambda: (found := log_rows(database)) and len(found) == BATCH and found)
            for row in rows:  # a duplicate task for every message
                celery.send_task("twin.email.send", args=(row.id,))
            assert sink.holding.wait(30), f"the first {STOP_AFTER} messages never arrived"
            controller.stop()
            controller = None
            assert sink.count() == STOP_AFTER
            # The worker meets the closed port and schedules retries with backoff.
            wait_for(lambda: any(r.attempts > 1 and r.last_error for r in log_rows(database)))
            sink.holding.clear()
            sink.hold_after = None
            controller = start_smtp(sink, port)
            wait_for(lambda: all(r.status == "sent" for r in log_rows(database)), timeout_s=45)
    finally:
        if controller is not None:
            controller.stop()
    rows = log_rows(database)
    received = Counter(str(m["Message-ID"]) for m in sink.messages())
    assert len(rows) == BATCH and sink.count() == BATCH
    assert received == Counter(r.message_id for r in rows)  # each message exactly once
    assert max(r.attempts for r in rows) > 1 and all(r.last_error is None for r in rows)


@pytest.mark.slow  # a real worker: starting and stopping it takes most of the time
def test_monthly_summaries_queued_twice_through_a_worker_are_sent_once(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as url:
        settings = smtp_settings(tmp_path, url)
        database = Database(settings)
        upgrade(database.engine)
        estates = [build_estate(database, settings) for _ in range(2)]
        celery = create_celery(settings)
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            first = celery.send_task("twin.email.monthly")
            second = celery.send_task("twin.email.monthly")
            assert sorted([first.get(timeout=30), second.get(timeout=30)]) == [0, 2]
            wait_for(lambda: sink.count() >= 2 and all(r.status == "sent" for r in log_rows(database)))
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(e.billing_email for e in estates)
    for received in sink.received:
        assert summary_parts(received.message).figure("TOTAL")
