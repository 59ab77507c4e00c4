"""The meter page's data, for a meter with a year of daily reads: its chart summed per UK
calendar bucket in SQL (the cost to date kept exact), its readings a page at a time sorted and
filtered in SQL, each with the cost to date at that reading; and both through Dash's endpoint,
scoped to the user's supplier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.db import Database
from app.db.models import Meter, MeterReading, Tariff
from app.meters import (
    MAX_BARS,
    GridRequestError,
    bar_counts,
    bucket_bounds,
    chart_buckets,
    default_resolution,
    meter_overview,
    readings_page,
)
from app.readings import MeterNotFound
from app.tariffs import Rate
from layouts import ids
from tests.billing_data import VAT, add_priced_meter, add_supplier
from tests.conftest import add_tenant, dash_as, utc

# One price all year: 24.50 p/kWh and 60.99 p/day including VAT.
YEAR_RATE = Rate(Decimal("24.50"), Decimal("60.99"), VAT, True, date(2023, 1, 1), date(2026, 1, 1))
FIRST = utc(2024, 1, 1, 7)  # 07:00 UTC: the same UK day in winter and summer


def daily_reads(days: int = 366) -> list[tuple[object, str]]:
    """A read at 07:00 UTC every day from 1 January 2024 (a leap year), 10 kWh a day more each
    month: the sums per month differ, so a mixed-up bucket shows."""
    reads, value = [], Decimal(1000)
    for day in range(days):
        at = FIRST + timedelta(days=day)
        reads.append((at, str(value)))
        value += 10 * at.month
    return reads


def add_year_tariff(database: Database, supplier_id: int) -> None:
    """Tariff STD-E at :data:`YEAR_RATE` for a supplier made by ``add_tenant`` (which has none)."""
    with database.Session() as session, session.begin():
        session.add(Tariff(supplier_id=supplier_id, code="STD-E", name="Standard", fuel="electricity",
                           unit_rate_p_per_kwh=YEAR_RATE.unit_rate_p_per_kwh,
                           standing_charge_p_per_day=YEAR_RATE.standing_charge_p_per_day,
                           vat_rate=YEAR_RATE.vat_rate, prices_include_vat=YEAR_RATE.prices_include_vat,
                           valid_from=YEAR_RATE.valid_from, valid_to=YEAR_RATE.valid_to))


@dataclass(frozen=True)
class Daily:
    db: Database
    supplier_id: int
    other_supplier_id: int
    meter_id: int  # 366 daily reads, 1 Jan 2024 to 31 Dec 2024
    other_meter_id: int  # the same reads, another supplier's


@pytest.fixture(scope="module")
def daily(shared_db: Database) -> Iterator[Daily]:
    alpha = add_supplier(shared_db, electricity=YEAR_RATE)
    beta = add_supplier(shared_db, electricity=YEAR_RATE)
    meter = add_priced_meter(shared_db, alpha.supplier_id, serial="E-DAILY", reads=daily_reads())
    other = add_priced_meter(shared_db, beta.supplier_id, serial="E-OTHER", reads=daily_reads())
    yield Daily(shared_db, alpha.supplier_id, beta.supplier_id, meter, other)


# -- buckets ---------------------------------------------------------------------------------


def test_month_bounds_are_uk_midnights_across_the_clock_changes() -> None:
    bounds = bucket_bounds(utc(2024, 3, 15), utc(2024, 5, 2), "month")
    # 1 March is GMT, 1 April and 1 May are BST: UK midnight is 23:00 UTC the day before.
    assert bounds == [utc(2024, 3, 1), utc(2024, 3, 31, 23), utc(2024, 4, 30, 23), utc(2024, 5, 31, 23)]


def test_week_bounds_start_on_mondays_and_quarters_and_years_on_their_first_day() -> None:
    assert bucket_bounds(utc(2024, 11, 6, 12), utc(2024, 11, 12), "week") == [
        utc(2024, 11, 4), utc(2024, 11, 11), utc(2024, 11, 18)]
    assert bucket_bounds(utc(2024, 2, 1), utc(2024, 8, 1), "quarter") == [
        utc(2024, 1, 1), utc(2024, 3, 31, 23), utc(2024, 6, 30, 23), utc(2024, 9, 30, 23)]
    assert bucket_bounds(utc(2023, 12, 31, 23, 30), utc(2024, 1, 1), "year") == [
        utc(2023, 1, 1), utc(2024, 1, 1), utc(2025, 1, 1)]


def test_a_year_of_daily_reads_defaults_to_monthly_bars_and_a_few_reads_to_each_reading(daily: Daily) -> None:
    with daily.db.Session() as session:
        overview = meter_overview(session, daily.supplier_id, daily.meter_id)
    assert (overview.readings, overview.priced) == (366, 365)
    bars = bar_counts(overview)
    assert bars == {"reading": 365, "day": 365, "week": 53, "month": 12, "quarter": 4, "year": 1}
    assert default_resolution(bars) == "month"
    assert default_resolution({"reading": 3, "day": 61, "week": 9, "month": 3, "quarter": 1, "year": 1}) == "reading"
    assert max(bars.values()) <= MAX_BARS


def test_monthly_buckets_sum_each_months_periods_in_sql_and_accumulate_to_the_cost_to_date(daily: Daily) -> None:
    with daily.db.Session() as session:
        overview = meter_overview(session, daily.supplier_id, daily.meter_id)
        buckets = chart_buckets(session, overview, "month")
        readings = session.scalars(select(MeterReading).where(MeterReading.meter_id == daily.meter_id)
                                   .order_by(MeterReading.read_at)).all()
        stored_total = session.scalar(select(Meter.cost_to_date_p).where(Meter.id == daily.meter_id))
    assert len(buckets) == 12
    assert [b.start for b in buckets[:5]] == [utc(2024, 1, 1), utc(2024, 2, 1), utc(2024, 3, 1),
                                             utc(2024, 3, 31, 23), utc(2024, 4, 30, 23)]
    # January's periods are those closed by the reads of 2 to 31 January (1 January opens).
    assert [b.periods for b in buckets] == [30, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    for bucket in buckets:
        inside = [r for r in readings if r.advance is not None and bucket.start <= r.read_at < bucket.end]
        assert bucket.kwh == sum(r.kwh for r in inside)
        assert bucket.cost_p == sum(r.total_p for r in inside)
    # January: 30 periods of 10 kWh and one day each; February's first closes 31 January's.
    assert buckets[0].kwh == 300
    assert abs(buckets[0].cost_p - 30 * (10 * Decimal("24.50") + Decimal("60.99"))) < Decimal("0.01")
    assert buckets[1].kwh == 10 + 28 * 20
    running = Decimal(0)
    for bucket in buckets:
        running += bucket.cost_p
        assert bucket.cumulative_p == running
    assert buckets[-1].cumulative_p == overview.cost_p == stored_total


def test_each_reading_resolution_is_one_bar_per_period_and_another_suppliers_meter_is_not_found(
    daily: Daily,
) -> None:
    with daily.db.Session() as session:
        overview = meter_overview(session, daily.supplier_id, daily.meter_id)
        each = chart_buckets(session, overview, "reading")
        weeks = chart_buckets(session, overview, "week")
        with pytest.raises(MeterNotFound):
            meter_overview(session, daily.supplier_id, daily.other_meter_id)
        with pytest.raises(ValueError):
            chart_buckets(session, overview, "fortnight")
    assert len(each) == 365 and each[0].start == FIRST + timedelta(days=1) and each[0].kwh == 10
    assert each[-1].cumulative_p == overview.cost_p
    assert len(weeks) == 53 and sum(w.periods for w in weeks) == 365
    assert weeks[-1].cumulative_p == overview.cost_p


# -- the readings grid --------------------------------------------------------------------------


def test_the_readings_grid_pages_newest_first_with_the_cost_to_date_at_each_reading(daily: Daily) -> None:
    with daily.db.Session() as session:
        first, count = readings_page(session, daily.supplier_id, daily.meter_id, start=0, end=50)
        second, _ = readings_page(session, daily.supplier_id, daily.meter_id, start=50, end=100)
        last, _ = readings_page(session, daily.supplier_id, daily.meter_id, start=350, end=400)
        total = meter_overview(session, daily.supplier_id, daily.meter_id).cost_p
        opening_cost = session.scalar(select(func.sum(MeterReading.total_p)).where(
            MeterReading.meter_id == daily.meter_id, MeterReading.read_at <= FIRST + timedelta(days=1)))
    assert count == 366 and len(first) == 50 and len(second) == 50 and len(last) == 16
    assert first[0].read_at == FIRST + timedelta(days=365) and first[0].cumulative_p == total
    assert second[0].read_at == first[-1].read_at - timedelta(days=1)
    assert len({r.id for r in first + second + last}) == 116
    assert last[-1].advance is None and last[-1].cost_p is None and last[-1].cumulative_p == 0
    assert last[-2].cumulative_p == last[-2].cost_p == opening_cost


def test_the_readings_grid_sorts_and_filters_in_sql_and_refuses_other_columns(daily: Daily) -> None:
    with daily.db.Session() as session:
        cheapest, _ = readings_page(session, daily.supplier_id, daily.meter_id, start=0, end=3,
                                    sort_model=[{"colId": "cost", "sort": "asc"}])
        big, count = readings_page(session, daily.supplier_id, daily.meter_id, start=0, end=500,
                                   filter_model={"kwh": {"type": "greaterThan", "filter": 110}})
        dear, dear_count = readings_page(session, daily.supplier_id, daily.meter_id, start=0, end=500,
                                         filter_model={"cost": {"type": "greaterThan", "filter": 30}})
        for bad in ({"sort_model": [{"colId": "supplier_id", "sort": "asc"}]},
                    {"filter_model": {"read_at": {"type": "equals", "filter": "x"}}}):
            with pytest.raises(GridRequestError):
                readings_page(session, daily.supplier_id, daily.meter_id, start=0, end=10,
                              **bad)  # type: ignore[arg-type]
        forged, forged_count = readings_page(session, daily.supplier_id, daily.other_meter_id, start=0, end=10)
    assert [r.advance for r in cheapest][0] is None  # the opening reading costs nothing
    assert all(r.kwh == 10 for r in cheapest[1:])
    # December's days but the first (which closes 30 November's 110 kWh) used 120 kWh.
    assert count == 30 and {r.read_at.month for r in big} == {12} and len(big) == count
    # 30 pounds = 3,000 p: a day of 120 kWh costs 2,940 + 60.99; of 110 kWh 2,695 + 60.99.
    assert dear_count == 30 and all(r.cost_p is not None and r.cost_p > 3000 for r in dear)
    assert forged == [] and forged_count == 0


# -- through Dash ----------------------------------------------------------------------------


def test_the_meter_page_sends_monthly_bars_and_one_page_of_readings_not_the_whole_history(
    client: FlaskClient, db: Database
) -> None:
    alpha = add_tenant(db, "Alpha Energy")
    beta = add_supplier(db, electricity=YEAR_RATE)
    add_year_tariff(db, alpha.supplier_id)
    meter = add_priced_meter(db, alpha.supplier_id, serial="E-DAILY", reads=daily_reads())
    other = add_priced_meter(db, beta.supplier_id, serial="E-OTHER", reads=daily_reads())
    call = dash_as(client, alpha)

    answer = call(f"{ids.METER_CHART}.figure", {f"{ids.METER_ID}.data": meter}).get_json()["response"]
    bars = [t for t in answer[ids.METER_CHART]["figure"]["data"] if t["type"] == "bar"]
    assert [len(b["x"]) for b in bars] == [12, 12] and bars[0]["x"][0] == "2024-01-01"
    assert bars[0]["y"][0] == 300.0 and bars[1]["name"] == "Cost per month (£)"
    assert answer[ids.METER_RESOLUTION]["value"] == "month"
    assert {o["value"]: o["disabled"] for o in answer[ids.METER_RESOLUTION]["options"]}["reading"] is False

    weekly = call(f"{ids.METER_CHART}.figure", {f"{ids.METER_ID}.data": meter,
                                                 f"{ids.METER_RESOLUTION}.value": "week"},
                  changed=f"{ids.METER_RESOLUTION}.value").get_json()["response"]
    assert len(weekly[ids.METER_CHART]["figure"]["data"][0]["x"]) == 53

    request = {"startRow": 0, "endRow": 50, "sortModel": [{"colId": "read_at", "sort": "desc"}], "filterModel": {}}
    rows = call(f"{ids.METER_GRID}.getRowsResponse", {f"{ids.METER_GRID}.getRowsRequest": request,
                                                       f"{ids.METER_ID}.data": meter}).get_json()
    response = rows["response"][ids.METER_GRID]["getRowsResponse"]
    assert response["rowCount"] == 366 and len(response["rowData"]) == 50
    newest = response["rowData"][0]
    assert newest["read_at"] == "31 Dec 2024 07:00" and newest["kwh"] == "120.0 kWh"
    assert newest["cost"] == "£30.01" and newest["days"] == "1"  # 120 x 24.50 + 60.99 = 3,000.99 p

    forged = call(f"{ids.METER_GRID}.getRowsResponse", {f"{ids.METER_GRID}.getRowsRequest": request,
                                                         f"{ids.METER_ID}.data": other}).get_json()
    assert forged["response"][ids.METER_GRID]["getRowsResponse"] == {"rowData": [], "rowCount": 0}
    chart = json.dumps(call(f"{ids.METER_CHART}.figure", {f"{ids.METER_ID}.data": other}).get_json())
    assert "not available" in chart and "E-OTHER" not in chart
