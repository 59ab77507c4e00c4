"""The meters page's callbacks through Dash's real endpoint: tenancy and roles are enforced on
the server, whatever a browser sends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.models import AuditLog, MeterReading
from tests.conftest import Tenant, add_meter, dash_as


@pytest.fixture
def meters(db: Database, tenants: tuple[Tenant, Tenant]) -> tuple[int, int]:
    """One meter per supplier, each with a previous reading two days ago."""
    alpha, beta = tenants
    two_days_ago = utcnow() - timedelta(days=2)
    return (add_meter(db, alpha.supplier_id, serial="E-ALPHA-1", previous=(two_days_ago, "1000")),
            add_meter(db, beta.supplier_id, serial="E-BETA-1", previous=(two_days_ago, "5000")))


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(response.get_json(), ensure_ascii=False)


def readings(db: Database) -> int:
    with db.Session() as session:
        return session.scalar(select(func.count()).select_from(MeterReading)) or 0


def store_for(meter_id: int) -> dict[str, Any]:
    return {"meter_id": meter_id, "opened_at": utcnow().replace(microsecond=0).isoformat()}


def test_the_grid_lists_only_the_logged_in_suppliers_meters(client, tenants, meters) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "viewer")
    response = call("meters-grid.getRowsResponse",
                    {"meters-grid.getRowsRequest": {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}})
    body = text_of(response)
    assert response.status_code == 200
    assert "E-ALPHA-1" in body and "E-BETA-1" not in body


def test_a_forged_modal_open_for_another_suppliers_meter_shows_nothing(client, tenants, meters) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "operator")
    forged = [{"id": str(meters[1]), "serial": "E-ALPHA-1"}]
    response = call("reading-modal.is_open", {"meters-enter-reading.n_clicks": 1,
                                               "meters-grid.selectedRows": forged},
                    changed="meters-enter-reading.n_clicks")
    body = text_of(response)
    assert "E-BETA-1" not in body and "5,000" not in body and "Customer of" not in body
    assert response.get_json()["response"]["reading-modal"]["is_open"] is False


def test_a_forged_preview_for_another_suppliers_meter_reveals_none_of_its_data(client, tenants, meters) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "operator")
    response = call("reading-preview.children", {"reading-value.value": "5100",
                                                  "reading-store.data": store_for(meters[1])})
    body = text_of(response)
    assert "This meter is not available." in body
    assert "E-BETA-1" not in body and "5,000" not in body and "Period total" not in body


def test_the_preview_prices_the_reading_as_it_is_typed(client, tenants, meters) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "operator")
    response = call("reading-preview.children", {"reading-value.value": "1010",
                                                  "reading-store.data": store_for(meters[0])})
    body = text_of(response)
    # 10 kWh at 24.50 p plus 2 days at 60.99 p, VAT included: 245.00 + 121.98 = 366.98 -> £3.67
    assert "10.000 kWh" in body and "£3.67" in body and "Supplier TOTAL to date" in body


def test_a_viewers_forged_save_changes_nothing(client, tenants, meters, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "viewer")
    before = readings(db)
    response = call("reading-result.children", {"reading-save.n_clicks": 1, "reading-value.value": "1010",
                                                 "reading-store.data": store_for(meters[0])})
    assert "can view readings but not enter them" in text_of(response)
    assert readings(db) == before


def test_a_forged_save_to_another_suppliers_meter_changes_nothing(client, tenants, meters, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    before = readings(db)
    response = call("reading-result.children", {"reading-save.n_clicks": 1, "reading-value.value": "5100",
                                                 "reading-store.data": store_for(meters[1])})
    assert "This meter is not available." in text_of(response)
    assert readings(db) == before


def test_an_operators_save_is_stored_once_even_when_sent_twice(client, tenants, meters, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "operator")
    values = {"reading-save.n_clicks": 1, "reading-value.value": "1010",
              "reading-store.data": store_for(meters[0]), "meters-saved.data": 0}
    first, second = call("reading-result.children", values), call("reading-result.children", values)
    assert first.status_code == second.status_code == 200
    assert "Saved." in text_of(first) and "Saved." in text_of(second)
    with db.Session() as session:
        rows = session.scalars(select(MeterReading).where(MeterReading.meter_id == meters[0])).all()
        audits = session.scalars(select(AuditLog).where(AuditLog.action == "reading.created")).all()
    assert len(rows) == 2  # the previous reading and exactly one new one
    assert len(audits) == 1 and audits[0].user_id is not None


@pytest.mark.parametrize("value", ["", "abc", "-1", "NaN", "1e9", "9999999", "1000.12345"])
def test_each_refused_value_leaves_the_readings_table_unchanged(client, tenants, meters, db, value) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "operator")
    before = readings(db)
    response = call("reading-result.children", {"reading-save.n_clicks": 1, "reading-value.value": value,
                                                 "reading-store.data": store_for(meters[0])})
    assert response.status_code == 200
    assert "reading-error" in text_of(response)
    assert readings(db) == before
