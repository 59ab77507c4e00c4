"""Meter readings (app.readings): the reading rules, pricing the period a reading closes, saving
with its audit row and the meter's summary, tenant isolation and double submissions.

The rules are tested on a hand-built MeterContext (no database); saving on SQLite and on
PostgreSQL (``shared_db``: one database per module and backend, each test with its own
supplier). All times are UTC; "now" is 20 Nov 2024 12:00, so the open billing period began
1 Nov 2024 00:00 (GMT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.db import Database
from app.db.models import AuditLog, Meter, MeterReading
from app.readings import (
    HIGH_EXPLANATIONS,
    LOWER_EXPLANATIONS,
    Assessment,
    MeterContext,
    MeterNotFound,
    PreviousReading,
    ReadingRefused,
    Saved,
    assess,
    load_context,
    open_period_start,
    parse_value,
    refresh_meter_summary,
    save_reading,
    still_missing,
    still_typing,
    supplier_total,
)
from app.tariffs import Rate, period_cost
from settings import Settings, TariffSettings
from tests.billing_data import (
    CAP,
    HISTORY,
    HISTORY_COST,
    PREVIOUS_AT,
    TARIFFS,
    Staff,
    add_priced_meter,
    add_supplier,
)
from tests.conftest import make_settings, utc

NOW = utc(2024, 11, 20, 12)
OPEN_PERIOD_START = utc(2024, 11, 1)
READ_AT = utc(2024, 11, 20, 9)  # 10 days after PREVIOUS_AT
SIX_PLACES = Decimal("0.000001")  # the scale of the pence and kWh columns


# -- helpers ------------------------------------------------------------------------------


def save(
    database: Database,
    staff: Staff,
    meter_id: int,
    value_text: str | None,
    read_at: datetime = READ_AT,
    *,
    role: str = "operator",
    supplier_id: int | None = None,
    tariff_settings: TariffSettings = TARIFFS,
    **options: Any,
) -> Saved:
    """``save_reading`` as the portal calls it, then commit whatever it left in the session,
    even after a refusal: so "stores nothing" means save_reading added nothing."""
    with database.Session() as session:
        try:
            return save_reading(
                session, supplier_id=staff.supplier_id if supplier_id is None else supplier_id,
                user_id=staff.viewer_id if role == "viewer" else staff.operator_id, role=role,
                meter_id=meter_id, value_text=value_text, read_at=read_at,
                tariff_settings=tariff_settings, now=NOW, **options,
            )
        finally:
            session.commit()


def row_counts(database: Database) -> tuple[int, int]:
    """(meter readings, audit rows)."""
    with database.Session() as session:
        return (session.scalar(select(func.count()).select_from(MeterReading)) or 0,
                session.scalar(select(func.count()).select_from(AuditLog)) or 0)


def stored(database: Database, reading_id: int) -> MeterReading:
    with database.Session() as session:
        reading = session.get(MeterReading, reading_id)
        assert reading is not None
        return reading


def meter(database: Database, meter_id: int) -> Meter:
    with database.Session() as session:
        row = session.get(Meter, meter_id)
        assert row is not None
        return row


def audit_rows(database: Database, meter_id: int) -> list[AuditLog]:
    """The meter's ``reading.created`` audit rows."""
    with database.Session() as session:
        return list(session.scalars(select(AuditLog).where(
            AuditLog.action == "reading.created", AuditLog.entity == "meter",
            AuditLog.entity_id == str(meter_id)).order_by(AuditLog.id)))


PREVIOUS = PreviousReading(Decimal(1000), PREVIOUS_AT, "actual")


def context(
    *,
    previous: PreviousReading | None = PREVIOUS,
    register_digits: int = 6,
    expected_kwh_per_day: Decimal | None = None,
    rates: tuple[Rate, ...] = (CAP,),
) -> MeterContext:
    """An electricity meter's context, built by hand for the rules (no database)."""
    return MeterContext(
        meter_id=1, supplier_id=1, serial="E0001", fuel="electricity",
        register_digits=register_digits, tariff_code="STD-E", tariff_name="Standard electricity",
        customer_name="Ann Example", account_number="AC-E0001", address="1 High Street",
        previous=previous, rates=rates, expected_kwh_per_day=expected_kwh_per_day,
        cost_to_date=Decimal(0),
    )


def check(ctx: MeterContext, value_text: str | None, read_at: datetime = READ_AT,
          **options: Any) -> Assessment:
    """``assess`` at NOW with the default tariff settings."""
    return assess(ctx, value_text, read_at, now=NOW, tariff_settings=TARIFFS, **options)


def codes(refused: pytest.ExceptionInfo[ReadingRefused]) -> list[str]:
    return [problem.code for problem in refused.value.problems]


@pytest.fixture
def staff(shared_db: Database) -> Staff:
    return add_supplier(shared_db)


# -- parse_value --------------------------------------------------------------------------

EMPTY = "Enter the reading shown on the meter."
NOT_DIGITS = "The reading must be digits with at most one decimal point (no commas or spaces)."
NOT_FINITE = "The reading must be a number of digits, like 012345."


@pytest.mark.parametrize(("text", "code", "message"), [
    (None, "empty", EMPTY),
    ("", "empty", EMPTY),
    ("   ", "empty", EMPTY),
    ("abc", "not_a_number", NOT_DIGITS),
    ("NaN", "not_a_number", NOT_FINITE),
    ("inf", "not_a_number", NOT_FINITE),
    ("-Infinity", "not_a_number", NOT_FINITE),
    ("-5", "negative", "A meter reading cannot be negative."),
    ("1,234", "not_a_number", NOT_DIGITS),
    ("1 234", "not_a_number", NOT_DIGITS),
    ("1e5", "not_a_number", NOT_DIGITS),
    ("+5", "not_a_number", NOT_DIGITS),
    ("1000000", "too_many_digits", "This meter's register has 6 digits; the reading has more."),
    ("12.3456", "too_precise", "Give at most 3 decimal places."),
])
def test_parse_value_refuses_with_a_message(text: str | None, code: str, message: str) -> None:
    value, problem = parse_value(text, register_digits=6)

    assert value is None
    assert problem is not None
    assert (problem.code, problem.message) == (code, message)


@pytest.mark.parametrize(("text", "value"), [
    ("012345", Decimal(12345)),  # leading zeros, as the register shows them
    (" 1234.5 ", Decimal("1234.5")),
    ("999999.999", Decimal("999999.999")),  # the largest a 6-digit register shows, 3 decimals
    ("0", Decimal(0)),
])
def test_parse_value_accepts_register_digits(text: str, value: Decimal) -> None:
    assert parse_value(text, register_digits=6) == (value, None)


# -- assess: refusals of the time ---------------------------------------------------------


def test_a_reading_in_the_future_is_refused() -> None:
    verdict = check(context(), "1100", NOW + timedelta(minutes=2))

    assert [(p.code, p.message) for p in verdict.errors] == [
        ("future", "The reading's date and time is in the future.")]
    assert verdict.cost is None


def test_a_reading_up_to_a_minute_ahead_is_clock_skew_not_the_future() -> None:
    assert check(context(), "1100", NOW + timedelta(minutes=1)).ok


@pytest.mark.parametrize("read_at", [PREVIOUS_AT, PREVIOUS_AT - timedelta(hours=1)])
def test_a_reading_at_or_before_the_previous_one_is_refused(read_at: datetime) -> None:
    verdict = check(context(), "1100", read_at)

    assert [(p.code, p.message) for p in verdict.errors] == [(
        "before_previous",
        "The reading must be dated after the previous reading (10 Nov 2024 09:00).")]


def test_the_previous_reading_time_is_shown_in_uk_time() -> None:
    previous = PreviousReading(Decimal(1000), utc(2024, 10, 25, 8), "actual")  # 09:00 BST
    verdict = check(context(previous=previous), "1100", utc(2024, 10, 25, 8), staff=False)

    assert [p.message for p in verdict.errors] == [
        "The reading must be dated after the previous reading (25 Oct 2024 09:00)."]


def test_staff_cannot_date_a_reading_before_the_open_billing_period() -> None:
    previous = PreviousReading(Decimal(1000), utc(2024, 10, 20, 9), "actual")
    verdict = check(context(previous=previous), "1100", OPEN_PERIOD_START - timedelta(seconds=1))

    assert [(p.code, p.message) for p in verdict.errors] == [(
        "outside_open_period",
        "Readings can only be dated within the open billing period (from 01 Nov 2024).")]


def test_staff_can_date_a_reading_at_the_start_of_the_open_billing_period() -> None:
    previous = PreviousReading(Decimal(1000), utc(2024, 10, 20, 9), "actual")

    assert check(context(previous=previous), "1100", OPEN_PERIOD_START).ok


def test_device_and_file_readings_may_be_dated_before_the_open_period() -> None:
    previous = PreviousReading(Decimal(1000), utc(2024, 10, 20, 9), "actual")

    assert check(context(previous=previous), "1100", utc(2024, 10, 30, 9), staff=False).ok


def test_a_period_no_tariff_covers_is_refused_naming_the_date() -> None:
    ended = Rate(CAP.unit_rate_p_per_kwh, CAP.standing_charge_p_per_day, CAP.vat_rate, True,
                 date(2024, 10, 1), date(2024, 11, 15))
    verdict = check(context(rates=(ended,)), "1100")

    assert [(p.code, p.message) for p in verdict.errors] == [
        ("no_tariff", "Cannot price this period: no tariff covers 2024-11-15.")]


# -- assess: warnings ---------------------------------------------------------------------


def test_a_lower_reading_is_a_credit_with_a_warning() -> None:
    verdict = check(context(), "990")

    assert verdict.ok
    assert verdict.flags == ["lower_than_previous"]
    assert verdict.warnings[0].message == (
        "The reading is lower than the previous one (1000); it will be recorded as a credit "
        "because it corrects the previous reading.")
    assert (verdict.advance, verdict.kwh) == (Decimal(-10), Decimal(-10))
    assert verdict.cost is not None
    # -10 x 24.50 + 10 x 60.99 = -245.00 + 609.90 = 364.90
    assert verdict.cost.total == Decimal("364.90")


def test_a_lower_reading_after_an_estimate_says_the_estimate_was_high() -> None:
    estimate = PreviousReading(Decimal(1000), PREVIOUS_AT, "estimated")
    verdict = check(context(previous=estimate), "990")

    assert verdict.flags == ["lower_than_previous"]
    assert verdict.warnings[0].message.endswith("because the previous reading was an estimate.")


def test_a_lower_reading_taken_as_a_rollover_adds_the_register_size() -> None:
    previous = PreviousReading(Decimal(9990), PREVIOUS_AT, "actual")
    verdict = check(context(previous=previous, register_digits=4), "0005", lower_means="rollover")

    assert verdict.flags == ["rollover"]
    # 5 + 10**4 - 9990 = 15
    assert verdict.advance == Decimal(15)


def test_no_advance_is_a_warning() -> None:
    verdict = check(context(), "1000")

    assert verdict.ok
    assert verdict.flags == ["zero_advance"]
    assert verdict.advance == Decimal(0)


def test_an_advance_over_twice_the_expected_use_is_a_warning() -> None:
    # expected 10 kWh/day x 10 days = 100 kWh; twice that is 200; 1201 - 1000 = 201 kWh
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    assert verdict.ok
    assert verdict.flags == ["high_advance"]
    assert verdict.warnings[0].message == (
        "201.0 kWh is more than twice the 100.0 kWh this meter usually uses over such a period. "
        "Check each digit against the meter first: one digit too many makes a reading ten times "
        "too high.")


def test_an_advance_of_exactly_twice_the_expected_use_is_not_a_warning() -> None:
    # 1200 - 1000 = 200 kWh = 2 x 10 kWh/day x 10 days
    assert check(context(expected_kwh_per_day=Decimal(10)), "1200").flags == []


@pytest.mark.parametrize("elapsed", [timedelta(minutes=5), timedelta(hours=3), timedelta(hours=23)])
def test_a_reading_soon_after_the_last_is_judged_against_a_whole_days_use(elapsed: timedelta) -> None:
    # 10 kWh a day: five minutes' share is 0.035 kWh, but a day's is 10 kWh, twice that 20
    previous = PreviousReading(Decimal(1000), READ_AT - elapsed, "actual")
    ctx = context(previous=previous, expected_kwh_per_day=Decimal(10))

    assert check(ctx, "1009").flags == []
    assert check(ctx, "1020").flags == []
    verdict = check(ctx, "1021")
    assert verdict.flags == ["high_advance"]
    assert verdict.warnings[0].message.startswith(
        "21.0 kWh is more than twice the 10.0 kWh this meter usually uses in a day.")


def test_a_reading_over_a_day_after_the_last_is_judged_against_that_many_days() -> None:
    # 36 hours at 10 kWh a day: 15 kWh usual, so 30 kWh is the most without a warning
    previous = PreviousReading(Decimal(1000), READ_AT - timedelta(hours=36), "actual")
    ctx = context(previous=previous, expected_kwh_per_day=Decimal(10))

    assert check(ctx, "1030").flags == []
    assert check(ctx, "1031").flags == ["high_advance"]


# -- assess: the causes offered fit the reading's direction -------------------------------


def codes_of(verdict: Assessment) -> list[str]:
    return [e.code for e in verdict.explanations]


def test_a_lower_reading_offers_a_credit_or_a_rollover() -> None:
    assert codes_of(check(context(), "990")) == ["correction", "rollover"]
    assert check(context(), "990", lower_means="rollover").explanations == LOWER_EXPLANATIONS


def test_a_high_reading_offers_causes_of_a_high_reading_not_a_credit() -> None:
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    assert codes_of(verdict) == ["estimate_caught_up", "high_use", "meter_exchange"]
    assert not {"correction", "rollover"} & set(codes_of(verdict))
    assert verdict.explanations == HIGH_EXPLANATIONS


def test_no_advance_and_a_normal_reading_offer_no_cause() -> None:
    assert check(context(), "1000").explanations == ()
    assert check(context(expected_kwh_per_day=Decimal(10)), "1100").explanations == ()


# -- still_typing: a half-typed number is not priced --------------------------------------


@pytest.mark.parametrize("typed", ["1", "9", "10", "99", "100", "990", "1000.", " 12 "])
def test_a_number_with_fewer_digits_than_the_last_reading_is_still_being_typed(typed: str) -> None:
    problem = still_typing(context(), typed)

    assert problem is not None and problem.code == "keep_typing"
    assert "the last reading was 1000" in problem.message


def test_the_keep_typing_message_shows_the_reading_with_its_leading_zeros() -> None:
    problem = still_typing(context(), "990")

    assert problem is not None
    assert problem.message == (
        "Keep typing: the last reading was 1000, 4 digits before the point. A lower reading? "
        "Type it with its leading zeros (e.g. 0990) or leave the field.")


@pytest.mark.parametrize("typed", ["0990", "1000", "1010", "2", "1000.5", "abc", "-5", "", None])
def test_a_whole_reading_or_one_that_is_not_a_number_is_not_still_being_typed(typed: str | None) -> None:
    # "2" is not lower than 1 (the previous reading here), the rest have as many digits as 1000
    # or are refused by parse_value
    previous = PreviousReading(Decimal(1), PREVIOUS_AT, "actual") if typed == "2" else PREVIOUS
    assert still_typing(context(previous=previous), typed) is None


def test_nothing_is_still_being_typed_before_a_meters_first_reading() -> None:
    assert still_typing(context(previous=None), "1") is None


def test_a_previous_reading_with_decimals_counts_only_its_whole_digits() -> None:
    previous = PreviousReading(Decimal("1000.500"), PREVIOUS_AT, "actual")

    assert still_typing(context(previous=previous), "999") is not None
    assert still_typing(context(previous=previous), "1000") is None
    problem = still_typing(context(previous=previous), "1000.")
    assert problem is not None and "1000.5" in problem.message


# -- still_missing: what a warned reading lacks, for the modal and the server alike -------


def test_a_warned_reading_lacks_a_cause_and_a_reason() -> None:
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    assert [p.code for p in still_missing(verdict, None, None)] == [
        "explanation_required", "reason_required"]
    assert [p.code for p in still_missing(verdict, "high_use", " ")] == ["reason_required"]
    assert still_missing(verdict, "high_use", "Customer's photo") == []


@pytest.mark.parametrize("explanation", ["correction", "rollover", "nonsense"])
def test_a_cause_that_fits_a_lower_reading_does_not_explain_a_high_one(explanation: str) -> None:
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    [problem] = still_missing(verdict, explanation, "a reason")
    assert problem.code == "explanation_required"
    assert problem.message.startswith("Choose what explains a reading far above the usual use: ")


def test_a_high_cause_does_not_explain_a_lower_reading() -> None:
    verdict = check(context(), "990")

    [problem] = still_missing(verdict, "high_use", "a reason")
    assert problem.message.startswith("Choose what explains a reading lower than the previous one: ")


def test_a_meter_exchange_is_never_saved_as_a_reading() -> None:
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    [problem] = still_missing(verdict, "meter_exchange", "new meter fitted")
    assert (problem.code, problem.message) == ("meter_exchange", (
        "A meter exchange is not a reading of this meter: record the new meter and its opening "
        "reading instead."))


def test_devices_need_no_cause_but_one_they_give_must_fit() -> None:
    verdict = check(context(expected_kwh_per_day=Decimal(10)), "1201")

    assert still_missing(verdict, None, "device reset", require_explanation=False) == []
    assert [p.code for p in still_missing(verdict, "rollover", "x", require_explanation=False)] == [
        "explanation_required"]


def test_a_reading_without_warnings_lacks_nothing() -> None:
    assert still_missing(check(context(), "1100"), None, None) == []


# -- open billing period ------------------------------------------------------------------


@pytest.mark.parametrize(("now", "start"), [
    (utc(2024, 11, 20, 12), utc(2024, 11, 1)),  # GMT: 1 Nov 00:00 GMT = 00:00 UTC
    (utc(2024, 7, 15, 12), utc(2024, 6, 30, 23)),  # BST: 1 Jul 00:00 BST = 30 Jun 23:00 UTC
    (utc(2024, 7, 31, 23, 30), utc(2024, 7, 31, 23)),  # 00:30 BST on 1 Aug: August is open
    (utc(2024, 10, 31, 23, 30), utc(2024, 9, 30, 23)),  # 23:30 GMT on 31 Oct: still October
])
def test_open_period_starts_on_the_first_of_the_uk_month_as_utc(now: datetime,
                                                                start: datetime) -> None:
    begins = open_period_start(now)

    assert begins == start
    assert begins.utcoffset() == timedelta(0)


# -- saving: refusals ---------------------------------------------------------------------

OCTOBER_HISTORY = ((utc(2024, 10, 10, 9), "900"), (utc(2024, 10, 20, 9), "1000"))


@pytest.mark.parametrize(("value_text", "read_at", "reads", "code"), [
    ("", READ_AT, HISTORY, "empty"),
    ("   ", READ_AT, HISTORY, "empty"),
    ("abc", READ_AT, HISTORY, "not_a_number"),
    ("NaN", READ_AT, HISTORY, "not_a_number"),
    ("inf", READ_AT, HISTORY, "not_a_number"),
    ("-5", READ_AT, HISTORY, "negative"),
    ("1,234", READ_AT, HISTORY, "not_a_number"),
    ("1e5", READ_AT, HISTORY, "not_a_number"),
    ("1000000", READ_AT, HISTORY, "too_many_digits"),
    ("1100.1234", READ_AT, HISTORY, "too_precise"),
    ("1100", NOW + timedelta(minutes=2), HISTORY, "future"),
    ("1100", PREVIOUS_AT - timedelta(days=1), HISTORY, "before_previous"),
    ("1100", utc(2024, 10, 31, 23, 59), OCTOBER_HISTORY, "outside_open_period"),
], ids=["empty", "spaces", "abc", "nan", "inf", "negative", "commas", "exponent", "too_many_digits",
        "too_precise", "future", "before_previous", "outside_open_period"])
def test_save_refuses_and_stores_nothing(shared_db: Database, staff: Staff, value_text: str,
                                         read_at: datetime, reads: Sequence[tuple[datetime, str]],
                                         code: str) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=reads)
    before = row_counts(shared_db)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, value_text, read_at)

    assert codes(refused) == [code]
    assert row_counts(shared_db) == before


# -- saving: warnings need a reason -------------------------------------------------------


@dataclass(frozen=True)
class Warned:
    value_text: str
    flag: str
    advance: Decimal
    total_p: Decimal
    explanation: str | None  # the cause chosen in the modal (it decides a lower reading's meaning)
    register_digits: int = 6
    reads: tuple[tuple[datetime, str], ...] = HISTORY


WARNED = [
    # -10 x 24.50 + 10 x 60.99 = -245.00 + 609.90 = 364.90
    Warned("990", "lower_than_previous", Decimal(-10), Decimal("364.90"), "correction"),
    # 5 + 10**4 - 9990 = 15 kWh: 15 x 24.50 + 10 x 60.99 = 367.50 + 609.90 = 977.40
    Warned("0005", "rollover", Decimal(15), Decimal("977.40"), "rollover",
           register_digits=4, reads=((utc(2024, 10, 31, 9), "9890"), (PREVIOUS_AT, "9990"))),
    # no energy, 10 days' standing charge: 10 x 60.99 = 609.90 (no cause to choose)
    Warned("1000", "zero_advance", Decimal(0), Decimal("609.90"), None),
    # 201 kWh > 2 x 10 kWh/day x 10 days: 201 x 24.50 + 609.90 = 4924.50 + 609.90 = 5534.40
    Warned("1201", "high_advance", Decimal(201), Decimal("5534.40"), "high_use"),
]
WARNED_IDS = [case.flag for case in WARNED]


@pytest.mark.parametrize("case", WARNED, ids=WARNED_IDS)
def test_a_warned_reading_without_a_reason_is_refused_and_stores_nothing(
        shared_db: Database, staff: Staff, case: Warned) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id,
                                register_digits=case.register_digits, reads=case.reads)
    before = row_counts(shared_db)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, case.value_text, explanation=case.explanation)

    assert codes(refused) == ["reason_required"]
    assert refused.value.problems[0].message.startswith("Confirm with a reason to save: ")
    assert row_counts(shared_db) == before


def test_a_blank_reason_is_no_reason(shared_db: Database, staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, "990", reason="   ", explanation="correction")

    assert codes(refused) == ["reason_required"]


HIGH_HISTORY = ((utc(2024, 10, 31, 9), "900"), (PREVIOUS_AT, "1000"))  # 10 kWh a day


@pytest.mark.parametrize(("explanation", "code"), [
    (None, "explanation_required"),  # the modal will not save without a cause: nor will the server
    ("correction", "explanation_required"),  # a lower reading's cause, on a high one
    ("rollover", "explanation_required"),
    ("meter_exchange", "meter_exchange"),
])
def test_the_portal_cannot_save_a_high_reading_without_a_cause_that_fits(
        shared_db: Database, staff: Staff, explanation: str | None, code: str) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=HIGH_HISTORY)
    before = row_counts(shared_db)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, "1201", reason="Customer sent a photo",
             explanation=explanation)

    assert codes(refused) == [code]
    assert row_counts(shared_db) == before


def test_the_portal_cannot_save_a_lower_reading_with_a_high_readings_cause(
        shared_db: Database, staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, "990", reason="Customer sent a photo",
             explanation="estimate_caught_up")

    assert codes(refused) == ["explanation_required"]


def test_a_chosen_rollover_prices_a_lower_reading_as_a_rollover(shared_db: Database,
                                                               staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, register_digits=4,
                                reads=((utc(2024, 10, 31, 9), "9890"), (PREVIOUS_AT, "9990")))

    saved = save(shared_db, staff, meter_id, "0005", reason="Dials past zero",
                 explanation="rollover")

    assert (stored(shared_db, saved.reading_id).flags, saved.kwh) == ("rollover", Decimal(15))


def test_a_device_saves_a_high_reading_with_a_reason_only(shared_db: Database,
                                                         staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=HIGH_HISTORY)

    saved = save(shared_db, staff, meter_id, "1201", reason="Device catch-up", source="api")

    assert stored(shared_db, saved.reading_id).flags == "high_advance"
    assert "explanation" not in audit_rows(shared_db, meter_id)[0].new  # type: ignore[operator]


@pytest.mark.parametrize("case", WARNED, ids=WARNED_IDS)
def test_a_warned_reading_with_a_reason_is_saved_flagged_and_audited(
        shared_db: Database, staff: Staff, case: Warned) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id,
                                register_digits=case.register_digits, reads=case.reads)

    saved = save(shared_db, staff, meter_id, case.value_text, explanation=case.explanation,
                 reason="Customer sent a photo of the meter")

    reading = stored(shared_db, saved.reading_id)
    assert reading.flags == case.flag
    assert reading.reason == "Customer sent a photo of the meter"
    assert reading.advance == case.advance
    assert reading.total_p == case.total_p
    [audit] = audit_rows(shared_db, meter_id)
    assert audit.new is not None
    assert audit.new["flags"] == [case.flag]
    assert audit.new["reason"] == "Customer sent a photo of the meter"
    assert audit.new.get("explanation") == case.explanation
    assert (saved.value, saved.kwh, saved.total_p) == (reading.value, reading.kwh, reading.total_p)


def test_expected_use_comes_from_the_meters_priced_history(shared_db: Database,
                                                           staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=(
        (utc(2024, 10, 21, 9), "700"),
        (utc(2024, 10, 31, 9), "850"),  # 150 kWh in 10 days
        (PREVIOUS_AT, "1000"),  # 150 kWh in 10 days
    ))

    with shared_db.Session() as session:
        ctx = load_context(session, staff.supplier_id, meter_id)

    # (150 + 150) kWh / (10 + 10) days = 15 kWh a day
    assert ctx.expected_kwh_per_day == Decimal(15)
    # so over 10 days 1000 + 2 x 15 x 10 = 1300 is still normal, 1301 is not
    assert check(ctx, "1300").flags == []
    assert check(ctx, "1301").flags == ["high_advance"]


def test_flagged_and_credit_periods_do_not_count_towards_expected_use(shared_db: Database,
                                                                      staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=(
        (utc(2024, 10, 11, 9), "0"),
        (utc(2024, 10, 21, 9), "100"),  # 100 kWh in 10 days
        (utc(2024, 10, 31, 9), "1100"),  # 1000 kWh in 10 days, accepted as a high advance
        (PREVIOUS_AT, "1000"),  # -100 kWh: a credit
    ))
    with shared_db.Session() as session, session.begin():
        session.execute(update(MeterReading).where(
            MeterReading.meter_id == meter_id, MeterReading.read_at == utc(2024, 10, 31, 9),
        ).values(flags="high_advance"))

    with shared_db.Session() as session:
        ctx = load_context(session, staff.supplier_id, meter_id)

    # only the first period is normal: 100 kWh / 10 days (all three: 1000 / 30 = 33.3)
    assert ctx.expected_kwh_per_day == Decimal(10)


# -- saving: a good reading ---------------------------------------------------------------


def test_a_good_reading_is_stored_priced_audited_and_summarised(shared_db: Database,
                                                                staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)

    saved = save(shared_db, staff, meter_id, "1100", ip="203.0.113.9")

    assert saved.duplicate is False
    # what the modal's confirmation shows: the reading, its period's kWh and cost
    assert (saved.value, saved.kwh, saved.total_p) == (Decimal(1100), Decimal(100), Decimal("3059.90"))
    reading = stored(shared_db, saved.reading_id)
    assert (reading.value, reading.read_at, reading.kind, reading.source) == (
        Decimal(1100), READ_AT, "actual", "portal")
    assert (reading.advance, reading.kwh, reading.days) == (Decimal(100), Decimal(100), 10)
    assert (reading.flags, reading.reason, reading.created_by_id) == (None, None, staff.operator_id)
    # gross 100 x 24.50 + 10 x 60.99 = 2450.00 + 609.90 = 3059.90;
    # net energy 2450 / 1.05 = 2333.333333; net standing 609.90 / 1.05 = 580.857143;
    # VAT 3059.90 - 2914.190476 = 145.709524 (6 places, as stored)
    assert (reading.energy_p, reading.standing_p, reading.vat_p, reading.total_p) == (
        Decimal("2333.333333"), Decimal("580.857143"), Decimal("145.709524"), Decimal("3059.90"))
    cost = period_cost([CAP], PREVIOUS_AT, READ_AT, Decimal(100))
    assert [reading.energy_p, reading.standing_p, reading.vat_p, reading.total_p] == [
        x.quantize(SIX_PLACES) for x in (cost.energy, cost.standing, cost.vat, cost.total)]

    [audit] = audit_rows(shared_db, meter_id)
    assert (audit.supplier_id, audit.user_id, audit.entity, audit.entity_id, audit.ip) == (
        staff.supplier_id, staff.operator_id, "meter", str(meter_id), "203.0.113.9")
    assert audit.old == {"value": "1000.000", "read_at": "2024-11-10T09:00:00+00:00",
                         "kind": "actual"}
    assert audit.new is not None
    assert Decimal(audit.new.pop("total_p")) == Decimal("3059.90")
    assert audit.new == {"value": "1100", "read_at": "2024-11-20T09:00:00+00:00", "kind": "actual",
                         "source": "portal", "flags": [], "reason": None}

    summary = meter(shared_db, meter_id)
    assert (summary.last_read_at, summary.last_value, summary.last_kind) == (
        READ_AT, Decimal(1100), "actual")
    # the history's 3059.90 + this period's 3059.90 = 6119.80
    assert summary.cost_to_date_p == HISTORY_COST + Decimal("3059.90")


def test_the_first_reading_of_a_meter_opens_its_history_unpriced(shared_db: Database,
                                                                  staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id, reads=())

    saved = save(shared_db, staff, meter_id, "000123")

    reading = stored(shared_db, saved.reading_id)
    assert (reading.value, reading.advance, reading.kwh, reading.days, reading.total_p) == (
        Decimal(123), None, None, None, None)
    [audit] = audit_rows(shared_db, meter_id)
    assert audit.old is None
    summary = meter(shared_db, meter_id)
    assert (summary.last_value, summary.cost_to_date_p) == (Decimal(123), Decimal(0))


def test_refresh_meter_summary_recomputes_cost_to_date_from_the_readings(shared_db: Database,
                                                                         staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)
    with shared_db.Session() as session, session.begin():  # a summary that has drifted
        session.get(Meter, meter_id).cost_to_date_p = Decimal(999999)  # type: ignore[union-attr]

    with shared_db.Session() as session, session.begin():
        refresh_meter_summary(session, meter_id)

    summary = meter(shared_db, meter_id)
    assert (summary.last_read_at, summary.last_value, summary.cost_to_date_p) == (
        PREVIOUS_AT, Decimal(1000), HISTORY_COST)


def test_supplier_total_is_the_sum_over_the_suppliers_meters_only(shared_db: Database,
                                                                   staff: Staff) -> None:
    electricity = add_priced_meter(shared_db, staff.supplier_id, serial="E0001")
    gas = add_priced_meter(shared_db, staff.supplier_id, serial="G0001", fuel="gas",
                           register_digits=5)
    other_supplier = add_supplier(shared_db).supplier_id
    add_priced_meter(shared_db, other_supplier, serial="E0001")
    save(shared_db, staff, electricity, "1100")

    with shared_db.Session() as session:
        total = supplier_total(session, staff.supplier_id)

    # electricity: 3059.90 + 3059.90 = 6119.80
    # gas: 100 m3 = 1122.0633.. kWh x 6.24 + 10 x 31.66 = 7001.6752 + 316.60 = 7318.2752
    assert meter(shared_db, gas).cost_to_date_p == Decimal("7318.275200")
    assert total == Decimal("6119.80") + Decimal("7318.2752")
    assert total == (meter(shared_db, electricity).cost_to_date_p
                     + meter(shared_db, gas).cost_to_date_p)


# -- saving: gas --------------------------------------------------------------------------


def test_a_gas_reading_converts_cubic_metres_to_kwh_with_the_settings(
        shared_db: Database, staff: Staff, settings: Settings) -> None:
    gas = settings.tariffs
    assert (gas.gas_calorific_value_mj_per_m3, gas.gas_volume_correction) == (
        Decimal("39.5"), Decimal("1.02264"))
    meter_id = add_priced_meter(shared_db, staff.supplier_id, serial="G0001", fuel="gas",
                                register_digits=5)

    saved = save(shared_db, staff, meter_id, "1100", tariff_settings=gas)

    reading = stored(shared_db, saved.reading_id)
    # 100 m3 x 1.02264 x 39.5 / 3.6 = 1122.063333 kWh
    assert (reading.advance, reading.kwh) == (Decimal(100), Decimal("1122.063333"))
    # 1122.0633.. x 6.24 + 10 x 31.66 = 7001.6752 + 316.60 = 7318.2752
    assert reading.total_p == Decimal("7318.275200")


def test_a_gas_reading_uses_the_configured_calorific_value(shared_db: Database, staff: Staff,
                                                           tmp_path: Path) -> None:
    tariffs = make_settings(tmp_path, tariffs__gas_calorific_value_mj_per_m3="40").tariffs
    meter_id = add_priced_meter(shared_db, staff.supplier_id, serial="G0001", fuel="gas",
                                register_digits=5)

    saved = save(shared_db, staff, meter_id, "1100", tariff_settings=tariffs)

    # 100 m3 x 1.02264 x 40 / 3.6 = 4090.56 / 3.6 = 1136.266667 kWh
    assert stored(shared_db, saved.reading_id).kwh == Decimal("1136.266667")


# -- saving: who may, which meter ---------------------------------------------------------


def test_a_viewer_cannot_save_a_reading(shared_db: Database, staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)
    before = row_counts(shared_db)

    with pytest.raises(PermissionError):
        save(shared_db, staff, meter_id, "1100", role="viewer")

    assert row_counts(shared_db) == before


def test_another_suppliers_meter_is_not_found_by_load_context(shared_db: Database,
                                                               staff: Staff) -> None:
    other = add_supplier(shared_db)
    theirs = add_priced_meter(shared_db, other.supplier_id)

    with shared_db.Session() as session, pytest.raises(MeterNotFound):
        load_context(session, staff.supplier_id, theirs)


def test_another_suppliers_meter_cannot_be_read_into(shared_db: Database, staff: Staff) -> None:
    other = add_supplier(shared_db)
    theirs = add_priced_meter(shared_db, other.supplier_id)
    before = row_counts(shared_db)

    with pytest.raises(MeterNotFound):
        save(shared_db, staff, theirs, "1100")

    assert row_counts(shared_db) == before
    assert meter(shared_db, theirs).last_value == Decimal(1000)


# -- saving: double submissions -----------------------------------------------------------


def test_saving_the_same_reading_twice_stores_it_once(shared_db: Database, staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)

    first = save(shared_db, staff, meter_id, "1100")
    second = save(shared_db, staff, meter_id, "1100")

    assert second == Saved(first.reading_id, duplicate=True)
    assert first.duplicate is False
    assert (second.value, second.kwh, second.total_p) == (first.value, first.kwh, first.total_p)
    with shared_db.Session() as session:
        assert session.scalar(select(func.count()).select_from(MeterReading).where(
            MeterReading.meter_id == meter_id, MeterReading.read_at == READ_AT)) == 1
    assert len(audit_rows(shared_db, meter_id)) == 1
    assert meter(shared_db, meter_id).cost_to_date_p == HISTORY_COST + Decimal("3059.90")


def test_a_different_value_at_the_same_time_is_refused_as_a_duplicate_time(
        shared_db: Database, staff: Staff) -> None:
    meter_id = add_priced_meter(shared_db, staff.supplier_id)
    first = save(shared_db, staff, meter_id, "1100")
    before = row_counts(shared_db)

    with pytest.raises(ReadingRefused) as refused:
        save(shared_db, staff, meter_id, "1101")

    assert [(p.code, p.message) for p in refused.value.problems] == [
        ("duplicate_time", "A reading already exists at that time.")]
    assert row_counts(shared_db) == before
    assert stored(shared_db, first.reading_id).value == Decimal(1100)

