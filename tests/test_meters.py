"""The meters grid (app.meters): AG Grid's paging, sort and filter models translated to SQL,
scoped to one supplier, on SQLite and PostgreSQL.

One estate per database, seeded once (the grid only reads): supplier Alpha has the eight
meters of GRID, supplier Beta two, one with Alpha's serial and customer name. Every tariff
costs 10 p/kWh with no standing charge or VAT, so a meter's costs are 10 p x its kWh.
"Now" is 20 Nov 2024 12:00 UTC: the open billing period began 1 Nov 2024 00:00 (GMT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

import app.meters
from app.db import Database
from app.db.models import Meter
from app.meters import GridRequestError, MeterRow, SupplierTotals, meters_page, supplier_totals
from app.tariffs import Rate
from tests.billing_data import add_priced_meter, add_supplier
from tests.conftest import utc

NOW = utc(2024, 11, 20, 12)
TEN_PENCE = Rate(Decimal(10), Decimal(0), Decimal(0), False, date(2024, 1, 1), None)

OCT_1, OCT_20, NOV_5 = utc(2024, 10, 1, 9), utc(2024, 10, 20, 9), utc(2024, 11, 5, 9)
OPEN_PERIOD_START = utc(2024, 11, 1)


@dataclass(frozen=True)
class Seeded:
    serial: str
    customer: str
    fuel: str
    reads: tuple[tuple[datetime, str], ...]


# Pence in the comments: cost to date / this billing period. A gas m3 is
# 1.02264 x 39.5 / 3.6 = 11.2206333.. kWh, so 112.206333.. p at 10 p/kWh.
GRID = (
    Seeded("E101", "Carol Davies", "electricity", ((OCT_20, "0"), (NOV_5, "199"))),  # 1990 / 1990
    Seeded("E102", "Dan Evans", "electricity", ((OCT_20, "0"), (NOV_5, "200"))),  # 2000 / 2000
    Seeded("E103", "Eve Foster", "electricity", ((OCT_20, "0"), (NOV_5, "201"))),  # 2010 / 2010
    Seeded("G104", "Carol Davies", "gas", ((OCT_20, "0"), (NOV_5, "10"))),  # 1122.063333 / same
    # 300 kWh in October, 50 in November: 3500 / 500
    Seeded("E105", "Unit 50 Ltd", "electricity", ((OCT_1, "0"), (OCT_20, "300"), (NOV_5, "350"))),
    # read at the very instant the period opens, so it counts: 600 / 600
    Seeded("E106", "Save 50% Ltd", "electricity", ((OCT_20, "0"), (OPEN_PERIOD_START, "60"))),
    # read a second before the period opens, so it does not: 700 / 0
    Seeded("E107", "Cafe AxB", "electricity",
           ((OCT_20, "0"), (utc(2024, 10, 31, 23, 59, 59), "70"))),
    Seeded("G108", "Cafe A_B", "gas", ((OCT_20, "0"), (NOV_5, "20"))),  # 2244.126667 / same
)
OTHER_SUPPLIERS = (  # Beta's
    Seeded("E101", "Carol Davies", "electricity", ((OCT_20, "0"), (NOV_5, "500"))),  # 5000 / 5000
    Seeded("E901", "Zed Beta", "electricity", ((OCT_20, "0"), (NOV_5, "300"))),  # 3000 / 3000
)


@dataclass(frozen=True)
class Estate:
    database: Database
    supplier_id: int
    other_supplier_id: int
    ids: dict[str, int]  # Alpha's serial -> meter id
    other_ids: list[int]


def seed(database: Database, supplier_id: int, meters: tuple[Seeded, ...]) -> dict[str, int]:
    """Alpha's or Beta's meters; returns serial -> meter id."""
    return {m.serial: add_priced_meter(database, supplier_id, serial=m.serial, fuel=m.fuel,
                                       customer=m.customer, reads=m.reads,
                                       register_digits=6 if m.fuel == "electricity" else 5)
            for m in meters}


@pytest.fixture(scope="module")
def estate(shared_db: Database) -> Estate:  # noqa: F811 - the imported fixture
    alpha = add_supplier(shared_db, electricity=TEN_PENCE, gas=TEN_PENCE).supplier_id
    beta = add_supplier(shared_db, electricity=TEN_PENCE, gas=TEN_PENCE).supplier_id
    ids = seed(shared_db, alpha, GRID)
    other_ids = list(seed(shared_db, beta, OTHER_SUPPLIERS).values())
    return Estate(shared_db, alpha, beta, ids, other_ids)


def page(
    estate: Estate,
    start: int = 0,
    end: int = 100,
    *,
    sort: list[dict[str, Any]] | None = None,
    filters: dict[str, Any] | None = None,
    supplier_id: int | None = None,
) -> tuple[list[MeterRow], int]:
    """One page of a supplier's grid (Alpha's unless ``supplier_id``), and the match count."""
    with estate.database.Session() as session:
        return meters_page(session, estate.supplier_id if supplier_id is None else supplier_id,
                           start=start, end=end, sort_model=sort, filter_model=filters, now=NOW)


def serials(estate: Estate, **kwargs: Any) -> list[str]:
    rows, count = page(estate, **kwargs)
    assert count == len(rows)  # every match fits on the page
    return [row.serial for row in rows]


def matching(estate: Estate, filters: dict[str, Any]) -> list[str]:
    """The serials the filters let through, in serial order."""
    return sorted(serials(estate, filters=filters))


def by_serial(estate: Estate) -> dict[str, MeterRow]:
    return {row.serial: row for row in page(estate)[0]}


def text_filter(kind: str, needle: str) -> dict[str, str]:
    return {"filterType": "text", "type": kind, "filter": needle}


def number_filter(kind: str, value: object, to: object = None) -> dict[str, object]:
    spec = {"filterType": "number", "type": kind, "filter": value}
    if to is not None:
        spec["filterTo"] = to
    return spec


# -- tenancy and paging -------------------------------------------------------------------


def test_the_grid_shows_only_the_suppliers_meters(estate: Estate) -> None:
    rows, count = page(estate)

    assert count == 8
    assert sorted(row.id for row in rows) == sorted(estate.ids.values())
    rows, count = page(estate, supplier_id=estate.other_supplier_id)
    assert count == 2
    assert sorted(row.id for row in rows) == sorted(estate.other_ids)


def test_a_filter_never_reaches_another_suppliers_meters(estate: Estate) -> None:
    # Beta has a meter E101 for a Carol Davies too.
    rows, count = page(estate, filters={"serial": text_filter("equals", "E101")})

    assert count == 1
    assert [row.id for row in rows] == [estate.ids["E101"]]


def test_pages_sorted_on_a_column_with_ties_never_repeat_or_skip_a_meter(estate: Estate) -> None:
    sort = [{"colId": "fuel", "sort": "asc"}]  # six electricity meters tie, and two gas
    pages = [page(estate, start, start + 3, sort=sort) for start in (0, 3, 6)]

    assert [count for _, count in pages] == [8, 8, 8]
    ids = [row.id for rows, _ in pages for row in rows]
    assert sorted(ids) == sorted(estate.ids.values())  # each meter exactly once
    # ties are in id order, so the pages are the same every time they are asked for
    in_fuel_then_id_order = ("E101", "E102", "E103", "E105", "E106", "E107", "G104", "G108")
    assert ids == [estate.ids[serial] for serial in in_fuel_then_id_order]
    assert page(estate, 3, 6, sort=sort)[0] == pages[1][0]


def test_a_page_is_capped_at_max_page_rows(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.meters, "MAX_PAGE", 3)

    rows, count = page(estate, 0, 1000)

    assert (len(rows), count) == (3, 8)


def test_a_negative_start_is_the_first_row(estate: Estate) -> None:
    rows, _ = page(estate, -5, 2)

    assert [row.serial for row in rows] == ["E101", "E102"]


# -- sorting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("col_id", "ascending"), [
    ("serial", ["E101", "E102", "E103", "E105", "E106", "E107", "G104", "G108"]),
    # Carol Davies has two meters: the tie goes to the lower id, E101 first
    ("customer", ["G108", "E107", "E101", "G104", "E102", "E103", "E106", "E105"]),
    # 600, 700, 1122.06, 1990, 2000, 2010, 2244.13, 3500 (3000 in October + 500)
    ("cost_to_date", ["E106", "E107", "G104", "E101", "E102", "E103", "G108", "E105"]),
    # 0 (E107 read in October), 500 (E105's November part), 600, 1122.06, 1990, 2000, 2010, 2244.13
    ("period_cost", ["E107", "E105", "E106", "G104", "E101", "E102", "E103", "G108"]),
])
def test_the_grid_sorts_ascending_on_a_column(estate: Estate, col_id: str,
                                              ascending: list[str]) -> None:
    assert serials(estate, sort=[{"colId": col_id, "sort": "asc"}]) == ascending


@pytest.mark.parametrize(("col_id", "descending"), [
    ("serial", ["G108", "G104", "E107", "E106", "E105", "E103", "E102", "E101"]),
    ("customer", ["E105", "E106", "E103", "E102", "E101", "G104", "E107", "G108"]),
    ("cost_to_date", ["E105", "G108", "E103", "E102", "E101", "G104", "E107", "E106"]),
    ("period_cost", ["G108", "E103", "E102", "E101", "G104", "E106", "E105", "E107"]),
])
def test_the_grid_sorts_descending_on_a_column(estate: Estate, col_id: str,
                                               descending: list[str]) -> None:
    assert serials(estate, sort=[{"colId": col_id, "sort": "desc"}]) == descending


def test_sorting_on_an_unknown_column_is_refused(estate: Estate) -> None:
    with pytest.raises(GridRequestError, match="cannot sort on 'password_hash'"):
        page(estate, sort=[{"colId": "password_hash", "sort": "asc"}])


# -- text filters -------------------------------------------------------------------------


@pytest.mark.parametrize(("col_id", "kind", "needle", "matches"), [
    ("customer", "contains", "DAVIES", ["E101", "G104"]),
    ("customer", "equals", "carol davies", ["E101", "G104"]),
    ("customer", "equals", "Carol", []),
    ("serial", "startsWith", "g", ["G104", "G108"]),
    ("customer", "contains", "50%", ["E106"]),  # not "Unit 50 Ltd": % is no wildcard
    ("customer", "contains", "a_b", ["G108"]),  # not "Cafe AxB": _ is no wildcard
    ("customer", "startsWith", "CAFE A_", ["G108"]),
    ("customer", "endsWith", "%", []),
])
def test_text_filters_are_case_insensitive_and_literal(estate: Estate, col_id: str, kind: str,
                                                       needle: str, matches: list[str]) -> None:
    assert matching(estate, {col_id: text_filter(kind, needle)}) == matches


def test_two_conditions_joined_by_or_match_either(estate: Estate) -> None:
    either = {"filterType": "text", "operator": "OR",
              "conditions": [text_filter("contains", "eve"), text_filter("contains", "dan")]}

    assert matching(estate, {"customer": either}) == ["E102", "E103"]


def test_a_sql_injection_attempt_is_only_text_to_match(estate: Estate) -> None:
    attack = "x'; DROP TABLE meters; --"

    assert matching(estate, {"customer": text_filter("contains", attack)}) == []
    assert matching(estate, {"serial": text_filter("equals", attack)}) == []
    with estate.database.Session() as session:
        assert session.scalar(select(func.count()).select_from(Meter)) == 10


# -- number filters -----------------------------------------------------------------------


@pytest.mark.parametrize(("col_id", "spec", "matches"), [
    # cost columns are pence, filtered in pounds: £20 is 2000 p. Over: 2010, 3500, 2244.13
    ("cost_to_date", number_filter("greaterThan", 20), ["E103", "E105", "G108"]),
    # under £20: 1990, 600, 700, 1122.06
    ("cost_to_date", number_filter("lessThan", 20), ["E101", "E106", "E107", "G104"]),
    # over £19.99 (1999 p): 2000, 2010, 3500, 2244.13
    ("cost_to_date", number_filter("greaterThan", 19.99), ["E102", "E103", "E105", "G108"]),
    ("cost_to_date", number_filter("inRange", 19.9, 20.05), ["E101", "E102"]),  # 1990..2005 p
    ("cost_to_date", number_filter("equals", 20), ["E102"]),
    # this period's cost: over £5 leaves out E107 (nothing) and E105 (500 p exactly)
    ("period_cost", number_filter("greaterThan", 5),
     ["E101", "E102", "E103", "E106", "G104", "G108"]),
    # the last reading is in register units (kWh or m3), not scaled: 60, 70, 10 and 20
    ("last_value", number_filter("lessThan", 150), ["E106", "E107", "G104", "G108"]),
    ("last_value", number_filter("inRange", 199, 201), ["E101", "E102", "E103"]),
    ("period_kwh", number_filter("greaterThan", 200), ["E103", "G108"]),  # 201; 20 m3 = 224.41 kWh
])
def test_number_filters_use_pounds_for_costs_and_units_otherwise(
        estate: Estate, col_id: str, spec: dict[str, object], matches: list[str]) -> None:
    assert matching(estate, {col_id: spec}) == matches


# -- bad requests -------------------------------------------------------------------------


@pytest.mark.parametrize(("filters", "message"), [
    ({"password_hash": text_filter("contains", "a")}, "cannot filter on 'password_hash'"),
    ({"customer": text_filter("regex", ".*")}, "unsupported text filter 'regex'"),
    ({"cost_to_date": number_filter("between", 1)}, "unsupported number filter 'between'"),
    ({"cost_to_date": number_filter("greaterThan", "lots")}, "'lots' is not a number"),
    ({"customer": "Carol"}, "cannot filter on 'customer'"),
])
def test_an_unknown_column_or_filter_type_is_refused(estate: Estate, filters: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(GridRequestError, match=message):
        page(estate, filters=filters)


# -- this billing period ------------------------------------------------------------------


def test_period_columns_count_only_readings_since_the_period_opened(estate: Estate) -> None:
    rows = by_serial(estate)

    # E105: 300 kWh in October, 50 in November
    assert (rows["E105"].period_kwh, rows["E105"].period_cost_p, rows["E105"].cost_to_date_p) == (
        Decimal(50), Decimal(500), Decimal(3500))
    # E106 read at 1 Nov 00:00:00, the period's first instant
    assert (rows["E106"].period_kwh, rows["E106"].period_cost_p) == (Decimal(60), Decimal(600))
    # E107 read at 31 Oct 23:59:59
    assert (rows["E107"].period_kwh, rows["E107"].period_cost_p, rows["E107"].cost_to_date_p) == (
        Decimal(0), Decimal(0), Decimal(700))
    # G104: 10 m3 = 112.206333 kWh; x 10 p = 1122.06333 p
    assert (rows["G104"].period_kwh, rows["G104"].period_cost_p) == (
        Decimal("112.206333"), Decimal("1122.063333"))


def test_the_grid_shows_each_meters_last_reading(estate: Estate) -> None:
    row = by_serial(estate)["E105"]

    assert (row.last_value, row.last_read_at, row.last_kind) == (Decimal(350), NOV_5, "actual")
    assert (row.customer, row.fuel, row.tariff) == ("Unit 50 Ltd", "electricity", "STD-E")


# -- the total above the grid -------------------------------------------------------------


def test_supplier_totals_add_up_the_suppliers_meters(estate: Estate) -> None:
    with estate.database.Session() as session:
        totals = supplier_totals(session, estate.supplier_id, NOW)
        others = supplier_totals(session, estate.other_supplier_id, NOW)

    # to date: 1990 + 2000 + 2010 + 1122.063333 + 3500 + 600 + 700 + 2244.126667 = 14166.19
    # this period: 1990 + 2000 + 2010 + 1122.063333 + 500 + 600 + 0 + 2244.126667 = 10466.19
    assert totals == SupplierTotals(meters=8, total_p=Decimal("14166.19"),
                                    period_p=Decimal("10466.19"))
    assert totals.total_p == sum((row.cost_to_date_p for row in page(estate)[0]), Decimal(0))
    # Beta: 500 x 10 + 300 x 10 = 8000, all this period
    assert others == SupplierTotals(meters=2, total_p=Decimal(8000), period_p=Decimal(8000))
