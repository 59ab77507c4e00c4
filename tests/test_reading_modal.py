"""The reading modal's callbacks through Dash's real endpoint: the causes offered fit the
reading's direction, a half-typed number is never priced, Save says why it is disabled, the
server refuses what the modal refuses, and a save answers with a lasting confirmation.

One database and one app for the module (migrating and building the app per test would take
most of the run); supplier Alpha's tariff is the 2024 cap, 24.50 p/kWh and 60.99 p/day, VAT
included. Each test makes its own meters (a serial of its own), so tests never share one:
- a "usual" meter uses 10 kWh a day (a priced history of 100 kWh per 10 days) and was last
  read at 1000 kWh, two days ago unless a test says otherwise;
- a "single" meter has one reading, 1000 kWh two days ago.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import MeterReading
from tests.billing_data import add_priced_meter
from tests.conftest import DashCaller, Tenant, add_meter, add_tenant, dash_as, make_settings

PREVIEW = "reading-preview.children"
SAVE = "reading-result.children"
HIGH_CAUSES = ["estimate_caught_up", "high_use", "meter_exchange"]
_serials = itertools.count(1)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reading_modal")


@pytest.fixture(scope="module")
def database(home: Path) -> Iterator[Database]:
    database = Database(make_settings(home))
    upgrade(database.engine)
    yield database
    database.engine.dispose()


@pytest.fixture(scope="module")
def alpha(database: Database) -> Tenant:
    tenant = add_tenant(database, "Alpha Energy")
    add_meter(database, tenant.supplier_id, serial="E-TARIFF")  # gives Alpha its tariff
    return tenant


@pytest.fixture(scope="module")
def web(home: Path, database: Database) -> FlaskClient:
    from app import create_app

    server = create_app(make_settings(home))
    server.config.update(TESTING=True)
    return server.test_client()


@pytest.fixture(scope="module")
def operator(web: FlaskClient, alpha: Tenant) -> DashCaller:
    return dash_as(web, alpha, "operator")


def usual_meter(database: Database, supplier_id: int,
                last_read_at: datetime | None = None) -> tuple[int, str]:
    """A meter read at 800, 900 and 1000 kWh ten days apart, the last at ``last_read_at`` (two
    days ago by default: twice its usual use is then 40 kWh); (id, serial)."""
    last = last_read_at or utcnow() - timedelta(days=2)
    serial = f"E-USUAL-{next(_serials)}"
    return add_priced_meter(database, supplier_id, serial=serial, reads=(
        (last - timedelta(days=20), "800"), (last - timedelta(days=10), "900"),
        (last, "1000"))), serial


@pytest.fixture
def usual(database: Database, alpha: Tenant) -> int:
    return usual_meter(database, alpha.supplier_id)[0]


def store_for(meter_id: int) -> dict[str, Any]:
    return {"meter_id": meter_id, "opened_at": utcnow().replace(microsecond=0).isoformat()}


def preview(call: DashCaller, meter_id: int, value: str, **states: Any) -> dict[str, dict[str, Any]]:
    """The preview callback's outputs (id -> property -> value) for ``value`` typed; ``states``
    are other inputs by component id (``reading-lower-means`` for the cause chosen)."""
    values = {"reading-value.value": value, "reading-store.data": store_for(meter_id)}
    values.update({f"{name}.{'data' if name == 'reading-settled' else 'value'}": v
                   for name, v in states.items()})
    response = call(PREVIEW, values)
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


def text(outputs: Any) -> str:
    return json.dumps(outputs, ensure_ascii=False)


def causes(outputs: dict[str, dict[str, Any]]) -> list[str]:
    return [option["value"] for option in outputs["reading-lower-means"]["options"]]


def readings(database: Database, meter_id: int) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(MeterReading)
                              .where(MeterReading.meter_id == meter_id)) or 0


# -- the causes offered fit the reading's direction ---------------------------------------


def test_a_reading_far_above_usual_offers_causes_of_a_high_reading(operator: DashCaller,
                                                                  usual: int) -> None:
    outputs = preview(operator, usual, "1100")  # 100 kWh in two days, usually 20

    assert causes(outputs) == HIGH_CAUSES
    assert outputs["reading-confirm"]["is_open"] is True
    assert outputs["reading-lower-means-block"]["hidden"] is False
    warning = text(outputs["reading-warnings"])
    assert "more than twice the 20.0 kWh" in warning and "Check each digit" in warning
    assert "credit" not in text(outputs) and "rolled over" not in text(outputs)
    assert "Period total" in text(outputs["reading-preview"])  # a high reading is priced as typed


def test_a_lower_reading_offers_a_credit_or_a_rollover_and_no_cost_until_one_is_chosen(
        operator: DashCaller, usual: int) -> None:
    outputs = preview(operator, usual, "0990")

    assert causes(outputs) == ["correction", "rollover"]
    assert "Supplier TOTAL" not in text(outputs["reading-preview"])
    assert "credit or a rollover to see its cost" in text(outputs["reading-preview"])

    chosen = preview(operator, usual, "0990", **{"reading-lower-means": "correction"})
    assert "Supplier TOTAL to date" in text(chosen["reading-preview"])
    assert "-10.000 kWh" in text(chosen["reading-preview"])


# -- a half-typed number is never priced --------------------------------------------------


@pytest.mark.parametrize("typed", ["9", "99", "990", "1000."])
def test_a_half_typed_number_says_keep_typing_and_prices_nothing(operator: DashCaller, usual: int,
                                                                  typed: str) -> None:
    outputs = preview(operator, usual, typed)

    shown = text(outputs["reading-preview"])
    assert "Keep typing" in shown and "the last reading was 1000" in shown
    for priced in ("Supplier TOTAL", "Meter TOTAL", "Period total", "credit"):
        assert priced not in text(outputs)
    assert outputs["reading-confirm"]["is_open"] is False
    assert outputs["reading-save"]["disabled"] is True
    assert outputs["reading-save-hint"]["children"] == "Keep typing the reading."


def test_a_short_lower_reading_is_taken_as_whole_once_the_field_is_left(operator: DashCaller,
                                                                       usual: int) -> None:
    outputs = preview(operator, usual, "990", **{"reading-settled": "990"})

    assert "Keep typing" not in text(outputs)
    assert causes(outputs) == ["correction", "rollover"]


def test_a_small_advance_minutes_after_the_last_reading_needs_no_reason(
        operator: DashCaller, database: Database, alpha: Tenant) -> None:
    meter, _ = usual_meter(database, alpha.supplier_id, utcnow() - timedelta(minutes=10))

    outputs = preview(operator, meter, "1009")  # 9 kWh: under a day's 10 kWh

    assert outputs["reading-confirm"]["is_open"] is False
    assert outputs["reading-save"]["disabled"] is False
    assert outputs["reading-save-hint"]["children"] == ""


# -- Save says why it is disabled ---------------------------------------------------------


@pytest.mark.parametrize(("value", "states", "hint"), [
    ("", {}, "Enter the reading shown on the meter."),
    ("12a", {}, "Cannot save: The reading must be digits with at most one decimal point (no "
                "commas or spaces)."),
    ("1100", {}, "To save, choose what explains this reading and give a reason."),
    ("1100", {"reading-lower-means": "rollover"},  # a lower reading's cause, left chosen
     "To save, choose what explains this reading and give a reason."),
    ("1100", {"reading-lower-means": "high_use"}, "To save, give a reason."),
    ("1100", {"reading-reason": "photo"}, "To save, choose what explains this reading."),
    ("1100", {"reading-lower-means": "meter_exchange", "reading-reason": "new meter"},
     "Cannot save: A meter exchange is not a reading of this meter: record the new meter and "
     "its opening reading instead."),
])
def test_a_disabled_save_says_what_is_missing(operator: DashCaller, usual: int, value: str,
                                              states: dict[str, str], hint: str) -> None:
    outputs = preview(operator, usual, value, **states)

    assert outputs["reading-save"]["disabled"] is True
    assert outputs["reading-save-hint"]["children"] == hint


def test_a_complete_high_reading_can_be_saved(operator: DashCaller, usual: int) -> None:
    outputs = preview(operator, usual, "1100", **{"reading-lower-means": "high_use",
                                                  "reading-reason": "New heat pump"})

    assert outputs["reading-save"]["disabled"] is False
    assert outputs["reading-save-hint"]["children"] == ""


def test_a_viewer_is_told_why_save_is_disabled(web: FlaskClient, alpha: Tenant, usual: int) -> None:
    try:
        outputs = preview(dash_as(web, alpha, "viewer"), usual, "1010")
    finally:
        dash_as(web, alpha, "operator")  # the module's other tests call as the operator

    assert outputs["reading-save"]["disabled"] is True
    assert outputs["reading-save-hint"]["children"] == "Viewers cannot save readings."


# -- the server refuses what the modal refuses --------------------------------------------


@pytest.mark.parametrize("cause", [None, "rollover", "meter_exchange"])
def test_a_forged_save_of_a_high_reading_without_a_fitting_cause_stores_nothing(
        operator: DashCaller, database: Database, usual: int, cause: str | None) -> None:

    response = operator(SAVE, {"reading-save.n_clicks": 1, "reading-value.value": "1100",
                               "reading-reason.value": "Customer's photo",
                               "reading-lower-means.value": cause,
                               "reading-store.data": store_for(usual), "meters-saved.data": 0})

    assert response.status_code == 200
    body = text(response.get_json())
    assert "reading-error" in body and "Saved." not in body
    assert '"is_open": true' not in body  # no confirmation
    assert readings(database, usual) == 3  # its history only


# -- a save answers with a lasting confirmation -------------------------------------------


def test_a_save_opens_a_toast_with_the_meter_the_reading_and_the_periods_kwh_and_cost(
        operator: DashCaller, database: Database, alpha: Tenant) -> None:
    single = add_meter(database, alpha.supplier_id, serial="E-SINGLE",
                       previous=(utcnow() - timedelta(days=2), "1000"))

    response = operator(SAVE, {"reading-save.n_clicks": 1, "reading-value.value": "1010",
                               "reading-store.data": store_for(single), "meters-saved.data": 0})

    toast = response.get_json()["response"]["reading-toast"]
    assert toast["is_open"] is True
    assert toast["header"] == "Reading saved"
    words = text(toast["children"])
    # 10 kWh at 24.50 p plus 2 days at 60.99 p, VAT included: 245.00 + 121.98 = 366.98 -> £3.67
    assert "Meter E-SINGLE: " in words and "1,010.000 kWh read on" in words
    assert "Since the previous reading: 10.0 kWh, costing £3.67." in words
    assert readings(database, single) == 2  # the previous reading and this one


def test_a_high_reading_saved_with_its_cause_and_reason_is_confirmed(
        operator: DashCaller, database: Database, alpha: Tenant) -> None:
    usual, serial = usual_meter(database, alpha.supplier_id)

    response = operator(SAVE, {"reading-save.n_clicks": 1, "reading-value.value": "1100",
                               "reading-reason.value": "New heat pump",
                               "reading-lower-means.value": "high_use",
                               "reading-store.data": store_for(usual), "meters-saved.data": 0})

    toast = response.get_json()["response"]["reading-toast"]
    words = text(toast["children"])
    assert toast["is_open"] is True and f"Meter {serial}: " in words and "1,100.000 kWh" in words
    with database.Session() as session:
        last = session.scalars(select(MeterReading).where(MeterReading.meter_id == usual)
                               .order_by(MeterReading.read_at.desc()).limit(1)).one()
    assert (last.flags, last.reason) == ("high_advance", "New heat pump")
