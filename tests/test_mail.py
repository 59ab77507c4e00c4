"""Emails written to the outbox (no SMTP server configured): cost summaries that agree with the
portal to the penny, alert emails and digests, monthly summaries, the email log's idempotency,
and the portal's "Email summary" forms, Emails page and .eml downloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, select, text

from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import Alert, EmailLog, MeterReading, User
from app.mail.delivery import deliver
from app.mail.requests import queue_alert_emails, queue_monthly_summaries, request_summary
from app.meters import meters_page, supplier_totals
from app.readings import open_period_start, save_reading
from app.summaries import SummaryNotFound
from app.tariffs import format_pounds, to_pence
from settings import Settings
from tests.billing_data import add_priced_meter
from tests.conftest import AuthActions, Tenant, add_meter, add_plant, make_settings, utc
from tests.mail_support import (
    LEAKED,
    NOW,
    Estate,
    Parts,
    PatternCaller,
    add_alerts,
    build_estate,
    log_rows,
    parse,
    set_contacts,
    summary_parts,
)
from workers.celery_app import beat_schedule

# -- cost summaries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Summaries:
    database: Database
    settings: Settings
    estate: Estate

    def send(self, meter: str, scope: str = "meter", period: str = "month_to_date") -> dict[str, Parts]:
        """Ask for a summary as the operator, deliver it to the outbox; recipient -> its parts."""
        with self.database.Session() as session, session.begin():
            rows = request_summary(session, self.settings, supplier_id=self.estate.supplier_id,
                                   user_id=self.estate.operator_id, user_email=self.estate.operator_email,
                                   meter_id=self.estate.meters[meter], scope=scope,
                                   period_name=period, now=NOW)
        out = {}
        for row in rows:
            assert deliver(self.database, self.settings, row.log_id, NOW) == "sent"
            (entry,) = log_rows(self.database, EmailLog.id == row.log_id)
            assert entry.message_path, "with no SMTP server the message is a file in the outbox"
            out[row.recipient] = summary_parts(parse(Path(entry.message_path).read_bytes()))
        return out

    def operators(self, meter: str, scope: str = "meter", period: str = "month_to_date") -> Parts:
        return self.send(meter, scope, period)[self.estate.operator_email]

    def readings(self, *meters: str) -> list[MeterReading]:
        """The meters' readings in the open period, as the portal counts them."""
        ids = [self.estate.meters[m] for m in meters]
        with self.database.Session() as session:
            return list(session.scalars(
                select(MeterReading).where(MeterReading.meter_id.in_(ids),
                                           MeterReading.read_at >= open_period_start(NOW))
                .order_by(MeterReading.read_at, MeterReading.meter_id)))

    def portal_cost_this_period(self, *meters: str) -> str:
        """The meters grid's "Cost this period", summed exactly and rounded once."""
        ids = {self.estate.meters[m] for m in meters}
        with self.database.Session() as session:
            rows, _ = meters_page(session, self.estate.supplier_id, start=0, end=100, now=NOW)
        return format_pounds(sum((r.period_cost_p for r in rows if r.id in ids), Decimal(0)))


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Summaries]:
    settings = make_settings(tmp_path_factory.mktemp("summaries"))
    database = Database(settings)
    upgrade(database.engine)
    yield Summaries(database, settings, build_estate(database, settings))
    database.engine.dispose()


def pence(pounds: str) -> int:
    return to_pence(Decimal(pounds.replace("£", "").replace(",", "")) * 100)


CASES = {  # the meters (all in one summary) of each case, and the scope it is asked for
    "actual and estimated readings": (("electricity",), "meter"),
    "a gas meter": (("gas",), "meter"),
    "only an opening reading": (("opening_only",), "meter"),
    "no readings in the period": (("no_readings",), "meter"),
    "an account of two meters": (("electricity", "gas"), "account"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_summary_totals_equal_the_portals_cost_this_period_to_the_penny(summaries: Summaries,
                                                                        case: str) -> None:
    meters, scope = CASES[case]
    parts = summaries.operators(meters[0], scope)
    readings = summaries.readings(*meters)
    energy = to_pence(sum((r.energy_p or Decimal(0) for r in readings), Decimal(0)))
    standing = to_pence(sum((r.standing_p or Decimal(0) for r in readings), Decimal(0)))
    assert parts.figure("TOTAL") == parts.html_total == summaries.portal_cost_this_period(*meters)
    assert pence(parts.figure("Energy cost")) == energy
    assert pence(parts.figure("Standing charge")) == standing
    assert energy + standing + pence(parts.figure("VAT")) == pence(parts.figure("TOTAL"))


@pytest.mark.parametrize("case", list(CASES))
def test_no_part_of_a_summary_renders_none_nan_or_undefined(summaries: Summaries, case: str) -> None:
    meters, scope = CASES[case]
    parts = summaries.operators(meters[0], scope)
    leaked = LEAKED.findall(parts.everything())
    assert not leaked, f"{case}: {leaked}"


def test_a_meter_summary_lists_each_reading_with_its_date_and_whether_actual_or_estimated(
        summaries: Summaries) -> None:
    parts = summaries.operators("electricity")
    lines = {line[:17]: line for line in parts.text.splitlines() if " Nov 2024 " in line[:12]}
    assert sorted(lines) == ["10 Nov 2024 09:00", "15 Nov 2024 09:00", "20 Nov 2024 09:00"]
    assert "actual" in lines["10 Nov 2024 09:00"] and "advance 100.000 kWh" in lines["10 Nov 2024 09:00"]
    assert "actual" in lines["15 Nov 2024 09:00"] and "advance 55.500 kWh" in lines["15 Nov 2024 09:00"]
    assert "estimated" in lines["20 Nov 2024 09:00"] and "advance 44.500 kWh" in lines["20 Nov 2024 09:00"]
    assert "3 reading(s): 2 actual, 1 estimated" in parts.text
    assert "1–21 November 2024" in parts.text and "Estimated" in parts.html
    assert "E-MAIL-1" in str(parts.message["Subject"]) and "November 2024" in str(parts.message["Subject"])


def test_the_csv_attachment_has_one_row_per_reading_with_its_advance_and_cost(summaries: Summaries) -> None:
    parts = summaries.operators("electricity", "account")
    readings = summaries.readings("electricity", "gas")
    serial = {summaries.estate.meters["electricity"]: "E-MAIL-1", summaries.estate.meters["gas"]: "G-MAIL-1"}
    assert [(row["meter"], row["read_at_uk"], row["kind"]) for row in parts.csv_rows] == [
        ("E-MAIL-1", "2024-11-10 09:00", "actual"), ("G-MAIL-1", "2024-11-10 09:00", "actual"),
        ("E-MAIL-1", "2024-11-15 09:00", "actual"), ("G-MAIL-1", "2024-11-18 09:00", "actual"),
        ("E-MAIL-1", "2024-11-20 09:00", "estimated"),
    ]
    for row, reading in zip(parts.csv_rows, readings, strict=True):
        assert row["meter"] == serial[reading.meter_id]
        assert Decimal(row["reading"]) == reading.value and Decimal(row["advance"]) == reading.advance
        assert row["unit"] == ("m³" if row["meter"] == "G-MAIL-1" else "kWh")
        assert pence(row["total_gbp"]) == to_pence(reading.total_p)
    assert sum(pence(row["total_gbp"]) for row in parts.csv_rows) == pytest.approx(
        pence(parts.figure("TOTAL")), abs=len(parts.csv_rows))  # each row rounded on its own
    assert parts.csv_name.endswith(".csv")


def test_an_opening_reading_is_listed_without_an_advance_or_a_cost(summaries: Summaries) -> None:
    parts = summaries.operators("opening_only")
    assert "opening reading" in parts.text and "opening reading" in parts.html
    (row,) = parts.csv_rows
    assert (row["read_at_uk"], row["reading"], row["advance"], row["total_gbp"]) == (
        "2024-11-12 09:00", "4000.000", "", "")
    assert parts.figure("TOTAL") == "£0.00"


def test_a_period_without_readings_says_so_and_costs_nothing(summaries: Summaries) -> None:
    parts = summaries.operators("no_readings")
    assert "No readings were taken in this period" in parts.text
    assert parts.csv_rows == [] and parts.figure("TOTAL") == "£0.00"


def test_a_summary_goes_to_the_user_and_to_the_billing_contact(summaries: Summaries) -> None:
    sent = summaries.send("gas")
    assert set(sent) == {summaries.estate.operator_email, summaries.estate.billing_email}
    for recipient, parts in sent.items():
        assert parts.message["To"] == recipient
        assert parts.chart.startswith(b"\x89PNG\r\n\x1a\n") and f"cid:{parts.chart_cid}" in parts.html


def test_asking_again_with_nothing_new_sends_nothing_twice_and_a_new_reading_makes_a_new_summary(
        summaries: Summaries) -> None:
    estate = summaries.estate
    meter = add_priced_meter(summaries.database, estate.supplier_id, serial="E-MAIL-9")

    def ask() -> list[str]:
        with summaries.database.Session() as session, session.begin():
            return [r.state for r in request_summary(
                session, summaries.settings, supplier_id=estate.supplier_id, user_id=estate.operator_id,
                user_email=estate.operator_email, meter_id=meter, scope="meter",
                period_name="month_to_date", now=NOW)]

    assert ask() == ["new", "new"]
    assert ask() == ["pending", "pending"]  # not sent yet: on its way, not queued again
    for entry in log_rows(summaries.database, EmailLog.meter_id == meter):
        assert deliver(summaries.database, summaries.settings, entry.id, NOW) == "sent"
    assert ask() == ["sent", "sent"]
    with summaries.database.Session() as session, session.begin():
        save_reading(session, supplier_id=estate.supplier_id, user_id=estate.operator_id, role="operator",
                     meter_id=meter, value_text="1100", read_at=utc(2024, 11, 21, 9),
                     tariff_settings=summaries.settings.tariffs, now=NOW)
    assert ask() == ["new", "new"]
    assert len(log_rows(summaries.database, EmailLog.meter_id == meter)) == 4


def test_a_summary_of_another_suppliers_meter_is_refused_and_logs_nothing(summaries: Summaries) -> None:
    other = build_estate(summaries.database, summaries.settings)
    before = len(log_rows(summaries.database))
    with summaries.database.Session() as session, pytest.raises(SummaryNotFound):
        request_summary(session, summaries.settings, supplier_id=summaries.estate.supplier_id,
                        user_id=summaries.estate.operator_id, user_email=summaries.estate.operator_email,
                        meter_id=other.meters["electricity"], scope="account",
                        period_name="month_to_date", now=NOW)
    assert len(log_rows(summaries.database)) == before


# -- monthly summaries --------------------------------------------------------------------


def test_monthly_summaries_go_to_each_billing_contact_once_however_often_they_are_queued(
        summaries: Summaries) -> None:
    december = utc(2024, 12, 1, 7)
    with summaries.database.Session() as session, session.begin():
        first = queue_monthly_summaries(session, summaries.settings, december)
    with summaries.database.Session() as session, session.begin():
        assert queue_monthly_summaries(session, summaries.settings, december) == []
    for log_id in first:
        assert deliver(summaries.database, summaries.settings, log_id, december) == "sent"
    with summaries.database.Session() as session, session.begin():
        assert queue_monthly_summaries(session, summaries.settings, december + timedelta(hours=6)) == []
    ours = [e for e in log_rows(summaries.database, EmailLog.kind == "summary.monthly")
            if e.supplier_id == summaries.estate.supplier_id]
    assert [e.recipient for e in ours] == [summaries.estate.billing_email]
    parts = summary_parts(parse(Path(ours[0].message_path or "").read_bytes()))
    with summaries.database.Session() as session:
        # The portal's TOTAL for the period, seen while November was the open period.
        portal = supplier_totals(session, summaries.estate.supplier_id, utc(2024, 11, 30, 12)).period_p
    assert parts.figure("TOTAL") == format_pounds(portal)
    assert "November 2024" in str(parts.message["Subject"]) and not LEAKED.findall(parts.everything())


# -- alerts -------------------------------------------------------------------------------

T0 = utc(2024, 11, 21, 8)


@pytest.fixture
def plant(db: Database):  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["vibration", "bearing_temperature"])
    set_contacts(db, plant.site_id, "maint@northfarm.test; ops@northfarm.test, not-an-address")
    return plant


def alert_round(db: Database, settings: Settings, now) -> list[EmailLog]:  # type: ignore[no-untyped-def]
    with db.Session() as session, session.begin():
        ids = queue_alert_emails(session, settings, now)
    for log_id in ids:
        assert deliver(db, settings, log_id, now) == "sent"
    return log_rows(db, EmailLog.id.in_(ids))


def test_an_alert_is_emailed_to_each_maintenance_contact_of_its_site(db, settings, plant) -> None:  # type: ignore[no-untyped-def]
    add_alerts(db, plant.site_id, plant.asset_id, [plant.sensor_ids[0]], started_at=T0)
    sent = alert_round(db, settings, T0)
    assert sorted(e.recipient for e in sent) == ["maint@northfarm.test", "ops@northfarm.test"]
    for entry in sent:
        message = parse(Path(entry.message_path or "").read_bytes())
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert message["To"] == entry.recipient
        assert message["Subject"] == "[WARNING] Turbine 1 at North Farm: spike"
        assert "vibration" in body and "of the spike is out of range" in body and "21 Nov 2024 08:00" in body
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert not LEAKED.findall(body + html + str(message["Subject"]))
    assert alert_round(db, settings, T0 + timedelta(minutes=1)) == []  # notified once


def test_the_same_alert_within_the_rearm_period_is_not_emailed_again(db, settings, plant) -> None:  # type: ignore[no-untyped-def]
    vibration, temperature = plant.sensor_ids
    add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=T0)
    assert len(alert_round(db, settings, T0)) == 2
    later = T0 + timedelta(minutes=settings.anomaly.rearm_minutes - 5)
    (repeat,) = add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=later)
    assert alert_round(db, settings, later) == []
    with db.Session() as session:
        assert session.get(Alert, repeat).notified_at is not None  # judged, not left waiting
    # Another sensor, or another kind on the same sensor, is another alert.
    add_alerts(db, plant.site_id, plant.asset_id, [temperature], started_at=later)
    add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=later, kind="drift")
    assert len(alert_round(db, settings, later)) == 4


def test_an_alert_that_keeps_repeating_is_emailed_again_once_the_rearm_period_has_passed(
        db, settings, plant) -> None:  # type: ignore[no-untyped-def]
    rearm = timedelta(minutes=settings.anomaly.rearm_minutes)
    vibration = plant.sensor_ids[0]
    add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=T0)
    assert len(alert_round(db, settings, T0)) == 2
    for at in (T0 + rearm / 2, T0 + rearm * 0.9):  # repeats, each within the period of the email
        add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=at)
        assert alert_round(db, settings, at) == []
    # The period counts from the email, not from the last repeat: the problem is still there.
    again = T0 + rearm + timedelta(minutes=5)
    add_alerts(db, plant.site_id, plant.asset_id, [vibration], started_at=again)
    assert len(alert_round(db, settings, again)) == 2


def test_alerts_firing_together_are_one_digest_per_contact(db, settings, plant) -> None:  # type: ignore[no-untyped-def]
    assert settings.mail.alert_digest_after == 3
    other = add_plant(db, ["flow"], name="South Farm", supplier_id=plant.supplier_id)
    set_contacts(db, other.site_id, "south@farm.test")
    ids = add_alerts(db, plant.site_id, plant.asset_id, [*plant.sensor_ids, None], started_at=T0)
    add_alerts(db, other.site_id, other.asset_id, [other.sensor_ids[0]], started_at=T0)
    sent = alert_round(db, settings, T0)
    digests = [e for e in sent if e.kind == "alert.digest"]
    assert sorted(e.recipient for e in digests) == ["maint@northfarm.test", "ops@northfarm.test"]
    assert [(e.kind, e.recipient) for e in sent if e not in digests] == [("alert", "south@farm.test")]
    message = parse(Path(digests[0].message_path or "").read_bytes())
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert message["Subject"] == "3 new alerts at North Farm"
    assert body.count("of the spike is out of range") == len(ids) and not LEAKED.findall(body)


def test_a_site_without_maintenance_contacts_gets_no_alert_email(db, settings, plant) -> None:  # type: ignore[no-untyped-def]
    set_contacts(db, plant.site_id, None)
    add_alerts(db, plant.site_id, plant.asset_id, [plant.sensor_ids[0]], started_at=T0)
    assert alert_round(db, settings, T0) == []
    assert log_rows(db) == []


def test_beat_schedules_the_alert_check_and_the_monthly_summaries_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mail__alert_check_interval_s=45, mail__monthly_summary_cron="30 6 2 * *")
    schedule = beat_schedule(settings, [])
    assert schedule["email-alerts"]["task"] == "twin.email.alerts"
    assert schedule["email-alerts"]["schedule"] == 45.0
    monthly = schedule["email-monthly-summaries"]
    assert monthly["task"] == "twin.email.monthly"
    assert (monthly["schedule"].minute, monthly["schedule"].hour, monthly["schedule"].day_of_month) == (
        {30}, {6}, {2})


# -- the portal ---------------------------------------------------------------------------


@pytest.fixture
def portal_meters(db: Database, tenants: tuple[Tenant, Tenant]) -> tuple[int, int]:
    """One meter per supplier with a reading two days ago."""
    alpha, beta = tenants
    two_days_ago = utcnow() - timedelta(days=2)
    return (add_meter(db, alpha.supplier_id, serial="E-ALPHA-1", previous=(two_days_ago, "1000")),
            add_meter(db, beta.supplier_id, serial="E-BETA-1", previous=(two_days_ago, "5000")))


def logged_in(client: FlaskClient, tenant: Tenant, role: str) -> PatternCaller:
    AuthActions(client).login(*tenant.users[role])
    return PatternCaller(client)


def click_send(call: PatternCaller, meter_id: int, where: str = "page", scope: str = "meter") -> str:
    response = call.pattern("email-summary-result.children", where, {
        "email-summary-send.n_clicks": 1, "email-summary-scope.value": scope,
        "email-summary-period.value": "month_to_date", "meters-grid.selectedRows": [{"id": str(meter_id)}],
    })
    assert response.status_code == 200
    return json.dumps(response.get_json(), ensure_ascii=False)


def queued_tasks(settings: Settings) -> list[str]:
    """The task messages waiting in the embedded broker."""
    engine = create_engine(settings.broker_url.removeprefix("sqla+"))
    try:
        if not inspect(engine).has_table("kombu_message"):
            return []
        with engine.connect() as conn:
            return [json.loads(payload)["headers"]["task"]
                    for (payload,) in conn.execute(text("SELECT payload FROM kombu_message"))]
    finally:
        engine.dispose()


def test_email_summary_queues_a_message_to_the_user_and_the_billing_contact_and_never_twice(
        client, tenants, portal_meters, db, settings) -> None:  # type: ignore[no-untyped-def]
    alpha = tenants[0]
    call = logged_in(client, alpha, "operator")
    first = click_send(call, portal_meters[0], "page")
    operator, billing = alpha.users["operator"][0], "billing@alphaenergy.test"
    assert f"Queued for {operator}." in first and f"Queued for {billing}." in first
    rows = log_rows(db)
    assert sorted(r.recipient for r in rows) == sorted([operator, billing])
    assert {r.status for r in rows} == {"pending"}
    assert queued_tasks(settings) == ["twin.email.send", "twin.email.send"]
    for row in rows:
        assert deliver(db, settings, row.id, utcnow()) == "sent"
    again = click_send(call, portal_meters[0], "modal")  # the reading modal's form
    assert again.count("Already sent to") == 2 and "Queued" not in again
    assert len(log_rows(db)) == 2 and len(queued_tasks(settings)) == 2


def test_a_viewer_cannot_email_a_summary(client, tenants, portal_meters, db, settings) -> None:  # type: ignore[no-untyped-def]
    body = click_send(logged_in(client, tenants[0], "viewer"), portal_meters[0])
    assert "Your role can view costs but not email them." in body
    assert log_rows(db) == [] and queued_tasks(settings) == []


def test_a_forged_meter_of_another_supplier_reveals_nothing_and_queues_nothing(
        client, tenants, portal_meters, db, settings) -> None:  # type: ignore[no-untyped-def]
    body = click_send(logged_in(client, tenants[0], "operator"), portal_meters[1], scope="account")
    assert "This summary cannot be sent" in body
    assert "E-BETA-1" not in body and "Customer of" not in body and "betapower" not in body
    assert log_rows(db) == [] and queued_tasks(settings) == []


def send_as_owner(db: Database, settings: Settings, tenant: Tenant, meter_id: int) -> list[int]:
    """A meter summary of ``tenant``'s operator, written to the outbox; the log ids."""
    email = tenant.users["operator"][0]
    with db.Session() as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.email == email))
        rows = request_summary(session, settings, supplier_id=tenant.supplier_id, user_id=user_id,
                               user_email=email, meter_id=meter_id, scope="meter",
                               period_name="month_to_date", now=utcnow())
    for row in rows:
        deliver(db, settings, row.log_id, utcnow())
    return [r.log_id for r in rows]


def test_the_emails_page_lists_only_the_suppliers_messages(client, tenants, portal_meters, db,
                                                           settings) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = tenants
    ours = send_as_owner(db, settings, alpha, portal_meters[0])
    send_as_owner(db, settings, beta, portal_meters[1])
    call = logged_in(client, alpha, "viewer")
    response = call("emails-table.children", {"url.pathname": "/emails", "emails-poll.n_intervals": 1})
    body = json.dumps(response.get_json(), ensure_ascii=False)
    assert response.status_code == 200
    assert "operator@alphaenergy.test" in body and "billing@alphaenergy.test" in body
    assert "betapower" not in body and "E-BETA-1" not in body
    assert all(f"/emails/{log_id}.eml" in body for log_id in ours)
    assert "2 sent" in body


def test_an_eml_is_served_to_its_supplier_only(app: Flask, client, tenants, portal_meters, db,
                                               settings) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = tenants
    log_id = send_as_owner(db, settings, alpha, portal_meters[0])[0]
    assert client.get(f"/emails/{log_id}.eml").status_code == 302  # anonymous: to the login form
    assert "/login" in client.get(f"/emails/{log_id}.eml").headers["Location"]
    AuthActions(client).login(*alpha.users["viewer"])
    response = client.get(f"/emails/{log_id}.eml")
    (entry,) = log_rows(db, EmailLog.id == log_id)
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    assert parse(response.data)["Message-ID"] == entry.message_id
    with db.Session() as session, session.begin():  # a row with no file: not sent yet
        pending = EmailLog(idempotency_key="test:pending", supplier_id=alpha.supplier_id, kind="alert",
                           recipient="x@alphaenergy.test", subject="pending", status="pending", attempts=0)
        session.add(pending)
    assert client.get(f"/emails/{pending.id}.eml").status_code == 404
    other = app.test_client()
    AuthActions(other).login(*beta.users["admin"])
    assert other.get(f"/emails/{log_id}.eml").status_code == 404
