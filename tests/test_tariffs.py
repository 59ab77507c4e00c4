"""The cost model (app.tariffs): pure functions, no database.

Every expected amount is worked out by hand in the comment beside it, in pence.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from app.tariffs import (
    Cost,
    Rate,
    RoundedCost,
    TariffError,
    billing_days,
    format_pounds,
    gas_kwh,
    period_cost,
    to_pence,
)

# CAP: Ofgem's price cap for October-December 2024, electricity, as Ofgem quotes it: 24.50 p/kWh
# and 60.99 p/day, including 5 % VAT.
from tests.billing_data import CAP, VAT
from tests.conftest import utc

# The same cap quoted net of VAT, to the 6 decimal places a tariff row holds:
# 24.50 / 1.05 = 23.3333333... and 60.99 / 1.05 = 58.0857142...
CAP_NET = Rate(Decimal("23.333333"), Decimal("58.085714"), VAT, False,
               date(2024, 10, 1), date(2025, 1, 1))

# Two net-quoted prices of one tariff, changing on 5 November 2024.
OLD = Rate(Decimal(20), Decimal(50), VAT, False, date(2024, 10, 1), date(2024, 11, 5))
NEW = Rate(Decimal(25), Decimal(60), VAT, False, date(2024, 11, 5), None)


def net_rate(unit: str, standing: str, valid_from: date = date(2024, 1, 1),
             valid_to: date | None = None) -> Rate:
    """A net-quoted rate at 5 % VAT."""
    return Rate(Decimal(unit), Decimal(standing), VAT, False, valid_from, valid_to)


# -- the price cap -----------------------------------------------------------------------


def test_cap_quoted_with_vat_prices_one_day_at_the_gross_rates() -> None:
    cost = period_cost([CAP], utc(2024, 11, 1, 12), utc(2024, 11, 2, 12), Decimal(10))

    # gross: 10 x 24.50 + 1 x 60.99 = 245.00 + 60.99 = 305.99
    assert cost.total == Decimal("305.99")
    # net: 305.99 / 1.05 = 291.419047...; the VAT is the rest of the gross
    assert cost.energy + cost.standing == Decimal("305.99") / Decimal("1.05")
    assert cost.energy == Decimal(245) / Decimal("1.05")
    assert cost.standing == Decimal("60.99") / Decimal("1.05")
    assert (cost.kwh, cost.days) == (Decimal(10), 1)
    # energy 233.33 -> 233, standing 58.09 -> 58, total 305.99 -> 306, VAT 306 - 233 - 58 = 15
    assert cost.rounded() == RoundedCost(energy=233, standing=58, vat=15, total=306)


def test_cap_quoted_with_vat_prices_thirty_days() -> None:
    cost = period_cost([CAP], utc(2024, 11, 1, 12), utc(2024, 12, 1, 12), Decimal(300))

    # 300 x 24.50 + 30 x 60.99 = 7350 + 1829.70 = 9179.70
    assert cost.total == Decimal("9179.70")
    # energy 7350 / 1.05 = 7000; standing 1829.70 / 1.05 = 1742.57 -> 1743;
    # total 9179.70 -> 9180; VAT 9180 - 7000 - 1743 = 437
    assert cost.rounded() == RoundedCost(energy=7000, standing=1743, vat=437, total=9180)


@pytest.mark.parametrize(("kwh", "end", "pence"), [
    (Decimal(10), utc(2024, 11, 2, 12), 306),
    (Decimal(300), utc(2024, 12, 1, 12), 9180),
])
def test_cap_quoted_net_costs_the_same_to_the_penny_as_quoted_gross(
        kwh: Decimal, end: datetime, pence: int) -> None:
    start = utc(2024, 11, 1, 12)
    gross = period_cost([CAP], start, end, kwh)
    net = period_cost([CAP_NET], start, end, kwh)

    # 1 day:   (10 x 23.333333 + 58.085714) x 1.05 = 291.419044 x 1.05 = 305.9899962 -> 306
    # 30 days: (300 x 23.333333 + 30 x 58.085714) x 1.05 = 8742.57132 x 1.05 = 9179.699886 -> 9180
    assert net.total != gross.total  # the net rates are rounded to 6 places...
    assert net.rounded() == gross.rounded()  # ...but every line agrees to the penny
    assert net.rounded().total == pence


# -- VAT and rounding --------------------------------------------------------------------


def test_net_quoted_rates_have_vat_added_on_top() -> None:
    cost = period_cost([net_rate("20", "50")], utc(2024, 11, 1, 12), utc(2024, 11, 2, 12),
                       Decimal(10))

    # energy 10 x 20 = 200; standing 1 x 50 = 50; VAT (200 + 50) x 0.05 = 12.5; total 262.5
    assert cost == Cost(kwh=Decimal(10), days=1, energy=Decimal(200), standing=Decimal(50),
                        vat=Decimal("12.5"))
    assert cost.total == Decimal("262.5")


def test_rounding_is_half_up_not_to_even() -> None:
    cost = period_cost([net_rate("20", "50")], utc(2024, 11, 1, 12), utc(2024, 11, 2, 12),
                       Decimal(10))

    # total 262.5 -> 263 half-up (banker's rounding would give 262); VAT 263 - 200 - 50 = 13
    assert cost.rounded() == RoundedCost(energy=200, standing=50, vat=13, total=263)
    assert to_pence(Decimal("0.5")) == 1
    assert to_pence(Decimal("-0.5")) == -1


def test_rounding_happens_once_on_the_total_and_the_lines_add_up_to_it() -> None:
    cost = period_cost([net_rate("10.49", "20.49")], utc(2024, 11, 1, 12), utc(2024, 11, 2, 12),
                       Decimal(1))

    # energy 1 x 10.49 = 10.49; standing 1 x 20.49 = 20.49; VAT 30.98 x 0.05 = 1.549;
    # total 10.49 + 20.49 + 1.549 = 32.529 -> 33
    assert cost.total == Decimal("32.529")
    rounded = cost.rounded()
    # energy 10.49 -> 10, standing 20.49 -> 20, VAT is the rest: 33 - 10 - 20 = 3
    assert rounded == RoundedCost(energy=10, standing=20, vat=3, total=33)
    assert rounded.energy + rounded.standing + rounded.vat == rounded.total
    # rounding each line first would lose a penny: 10 + 20 + round(1.549) = 10 + 20 + 2 = 32
    each_line_first = sum(int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))
                          for x in (cost.energy, cost.standing, cost.vat))
    assert each_line_first == 32


# -- tariff changes ----------------------------------------------------------------------


def test_period_spanning_a_tariff_change_is_split_at_the_change_by_days() -> None:
    # 1 Nov 12:00 -> 11 Nov 12:00: 10 days, 4 (1-4 Nov) at OLD and 6 (5-10 Nov) at NEW.
    cost = period_cost([OLD, NEW], utc(2024, 11, 1, 12), utc(2024, 11, 11, 12), Decimal(100))

    # kWh by days: 100 x 4/10 = 40 at 20 p, 60 at 25 p: energy 800 + 1500 = 2300
    # standing: 4 x 50 + 6 x 60 = 200 + 360 = 560; VAT (2300 + 560) x 0.05 = 143; total 3003
    assert cost == Cost(kwh=Decimal(100), days=10, energy=Decimal(2300), standing=Decimal(560),
                        vat=Decimal(143))
    # the same as pricing the two parts separately
    before = period_cost([OLD], utc(2024, 11, 1, 12), utc(2024, 11, 5, 12), Decimal(40))
    after = period_cost([NEW], utc(2024, 11, 5, 12), utc(2024, 11, 11, 12), Decimal(60))
    assert cost == before + after


def test_apportioned_kwh_add_up_exactly_to_the_advance() -> None:
    # three one-day prices: 10 / 3 = 3.333... each; three equal shares would sum to 9.999...
    rates = [net_rate("20", "50", date(2024, 11, 1), date(2024, 11, 2)),
             net_rate("21", "50", date(2024, 11, 2), date(2024, 11, 3)),
             net_rate("22", "50", date(2024, 11, 3), None)]
    cost = period_cost(rates, utc(2024, 11, 1, 12), utc(2024, 11, 4, 12), Decimal(10))

    assert cost.days == 3
    assert cost.kwh == Decimal(10)
    assert 3 * (Decimal(10) * 1 / 3) != Decimal(10)  # what exact-share arithmetic would give


# -- UK calendar days --------------------------------------------------------------------


def test_billing_days_count_london_dates_not_utc_dates_in_summer() -> None:
    # 23:30 UTC on 1 July is 00:30 BST on 2 July: the same London date as 09:00 UTC on 2 July
    assert billing_days(utc(2024, 7, 1, 23, 30), utc(2024, 7, 2, 9)) == 0
    # one hour apart, but 23:30 BST on 1 July and 00:30 BST on 2 July
    assert billing_days(utc(2024, 7, 1, 22, 30), utc(2024, 7, 1, 23, 30)) == 1


def test_billing_days_across_the_october_clock_change() -> None:
    # 00:30 BST and 23:30 GMT on Sunday 27 October 2024: 24 hours apart, one 25-hour day
    assert billing_days(utc(2024, 10, 26, 23, 30), utc(2024, 10, 27, 23, 30)) == 0
    # noon 26 Oct (BST) to noon 28 Oct (GMT): 49 hours, 2 days
    assert billing_days(utc(2024, 10, 26, 11), utc(2024, 10, 28, 12)) == 2


def test_a_read_just_after_uk_midnight_is_priced_at_that_uk_day_rate() -> None:
    # 23:30 UTC on 30 September is 00:30 BST on 1 October, the cap's first day: no September
    # tariff is needed. 1 Oct -> 3 Oct (London) = 2 days.
    cost = period_cost([CAP], utc(2024, 9, 30, 23, 30), utc(2024, 10, 2, 23, 30), Decimal(10))

    # gross 10 x 24.50 + 2 x 60.99 = 245.00 + 121.98 = 366.98
    assert cost.days == 2
    assert cost.total == Decimal("366.98")


def test_same_day_reads_are_zero_days_at_that_days_rate() -> None:
    cost = period_cost([OLD, NEW], utc(2024, 11, 5, 8), utc(2024, 11, 5, 17), Decimal(4))

    # 5 Nov is NEW's first day: energy 4 x 25 = 100, no standing charge, VAT 100 x 0.05 = 5
    assert cost == Cost(kwh=Decimal(4), days=0, energy=Decimal(100), standing=Decimal(0),
                        vat=Decimal(5))


def test_a_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="cannot end before it starts"):
        period_cost([CAP], utc(2024, 11, 2), utc(2024, 11, 1), Decimal(1))


# -- missing and overlapping tariffs -----------------------------------------------------


def test_no_tariff_on_the_first_day_raises_naming_the_date() -> None:
    with pytest.raises(TariffError, match="no tariff covers 2024-11-01"):
        period_cost([NEW], utc(2024, 11, 1, 12), utc(2024, 11, 10, 12), Decimal(10))


def test_a_gap_between_tariffs_raises_naming_its_first_date() -> None:
    rates = [net_rate("20", "50", date(2024, 10, 1), date(2024, 11, 3)),
             net_rate("25", "60", date(2024, 11, 5))]
    with pytest.raises(TariffError, match="no tariff covers 2024-11-03"):
        period_cost(rates, utc(2024, 11, 1, 12), utc(2024, 11, 10, 12), Decimal(10))


def test_same_day_reads_with_no_tariff_raise_naming_the_date() -> None:
    with pytest.raises(TariffError, match="no tariff covers 2024-11-04"):
        period_cost([NEW], utc(2024, 11, 4, 8), utc(2024, 11, 4, 17), Decimal(1))


def test_tariffs_overlapping_on_the_first_day_raise() -> None:
    rates = [net_rate("20", "50", date(2024, 10, 1)), net_rate("25", "60", date(2024, 11, 1))]
    with pytest.raises(TariffError, match="2 tariffs overlap on 2024-11-02"):
        period_cost(rates, utc(2024, 11, 2, 12), utc(2024, 11, 4, 12), Decimal(10))


def test_tariffs_overlapping_from_the_middle_of_a_period_raise() -> None:
    # An old price left open-ended when the new one was added: from 5 Nov both apply.
    rates = [net_rate("20", "50", date(2024, 10, 1)), net_rate("25", "60", date(2024, 11, 5))]
    with pytest.raises(TariffError, match="2 tariffs overlap on 2024-11-05"):
        period_cost(rates, utc(2024, 11, 1, 12), utc(2024, 11, 10, 12), Decimal(10))


# -- gas ---------------------------------------------------------------------------------


def test_gas_cubic_metres_convert_to_kwh_with_correction_and_calorific_value() -> None:
    kwh = gas_kwh(Decimal(100), Decimal("39.5"), Decimal("1.02264"))

    # 100 x 1.02264 = 102.264; x 39.5 = 4039.428 MJ; / 3.6 = 1122.0633... kWh (28 digits)
    assert kwh == Decimal("1122.063333333333333333333333")
    # 10 m3 x 1 x 36 MJ/m3 / 3.6 MJ per kWh = 100 kWh
    assert gas_kwh(Decimal(10), Decimal(36), Decimal(1)) == Decimal(100)


# -- pounds ------------------------------------------------------------------------------


@pytest.mark.parametrize(("pence", "shown"), [
    (12345, "£123.45"),
    (-120, "-£1.20"),
    (0, "£0.00"),
    (5, "£0.05"),
    (123456789, "£1,234,567.89"),
    (Decimal("305.99"), "£3.06"),
    (Decimal("2.5"), "£0.03"),  # half-up: to even would give £0.02
    (Decimal("-2.5"), "-£0.03"),
    (Decimal("2.49"), "£0.02"),
])
def test_format_pounds_shows_whole_pence_as_pounds(pence: int | Decimal, shown: str) -> None:
    assert format_pounds(pence) == shown
