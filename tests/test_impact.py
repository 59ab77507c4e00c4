"""What a concern costs a day, its trend against last week and its owner, in plain words: the
arithmetic on hand-made figures (the right answers worked out by hand in the comments), then
through :func:`app.health.estate_health` on hand-made readings, alerts, models and tariffs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from app import impact
from app.db import Database
from app.db.models import Alert, Asset, Calculation, ModelVersion, SensorReading, Site, Tariff
from app.health import AssetHealth, estate_health
from layouts.estate import damage_text
from tests.conftest import add_plant, utc

NOW = utc(2026, 3, 2, 12, 0)
ELECTRICITY = impact.UnitRate("electricity", Decimal("24.50"), "Standard electricity")
GAS = impact.UnitRate("gas", Decimal("6.24"), "Standard gas")


# -- the arithmetic ----------------------------------------------------------------------


def test_excess_energy_is_the_extra_mean_power_times_a_day_and_never_negative() -> None:
    assert impact.excess_kwh_per_day(0.030, 0.010) == pytest.approx(0.48)  # 0.02 kW x 24 h
    assert impact.excess_kwh_per_day(0.010, 0.030) == 0.0


def test_a_leak_on_an_electric_asset_is_priced_at_the_electricity_tariff() -> None:
    use = impact.ENERGY["water_dispenser"]
    found = impact.energy_impact(0.030, 0.010, use, ELECTRICITY)
    # 0.48 kWh a day x 24.50 p/kWh = 11.76p
    assert found.kwh_per_day == pytest.approx(0.48)
    assert found.pence_per_day == pytest.approx(Decimal("11.76"))
    assert found.text == ("About 0.48 kWh a day more heater electricity than in the week before the "
                          "alert: about 12p a day at your electricity tariff 'Standard electricity' "
                          "(24.5 p/kWh including VAT).")


def test_overuse_on_a_gas_fired_boiler_is_priced_at_the_gas_tariff_in_pounds() -> None:
    found = impact.energy_impact(130.0, 100.0, impact.ENERGY["boiler"], GAS)
    # 30 kW x 24 h = 720 kWh; x 6.24 p = 4,492.8p = £44.93
    assert found.kwh_per_day == pytest.approx(720.0)
    assert "About 720 kWh a day more gas burnt" in found.text and "£44.93 a day" in found.text
    assert "gas tariff 'Standard gas'" in found.text


def test_without_a_tariff_or_a_baseline_the_impact_says_what_is_missing() -> None:
    use = impact.ENERGY["boiler"]
    assert impact.energy_impact(130.0, 100.0, use, None).text.endswith(
        "cost not estimated: no gas tariff in force today in your tariff book.")
    assert impact.energy_impact(130.0, None, use, GAS).text.startswith("Impact not estimated: no readings")
    assert impact.energy_impact(90.0, 100.0, use, GAS).text.startswith("No extra energy measured")


def test_a_pipeline_leak_gives_the_water_lost_and_why_its_energy_is_not_estimated() -> None:
    found = impact.water_impact(0.55, 0.05, impact.NOT_ESTIMATED["pipeline"])
    # (0.55 - 0.05) m3/h x 24 h = 12 m3 a day
    assert found.text.startswith("About 12 m³ of water lost a day. Energy impact not estimated: ")
    assert found.pence_per_day is None


@pytest.mark.parametrize(("asset_type", "classes", "start"), [
    ("water_dispenser", ["sensor_error"], "No direct energy cost. Risk: a sensor reading wrong"),
    ("drivetrain", ["overuse"], "No direct energy cost. Risk: an overloaded gearbox"),
    ("pressure_tank", ["leakage"], "Impact not estimated: the tank measures water flow"),
    ("boiler", ["other"], "Impact not estimated: a reading outside its normal range"),
])
def test_concerns_with_no_energy_to_measure_say_so_and_name_the_risk(asset_type, classes, start) -> None:  # type: ignore[no-untyped-def]
    found = impact.alert_impact(asset_type, classes)
    assert found is not None and found.text.startswith(start)


def test_leaks_and_overuse_on_measured_assets_need_measuring() -> None:
    assert impact.alert_impact("water_dispenser", ["leakage"]) is None
    assert impact.alert_impact("boiler", ["overuse", "sensor_error"]) is None
    assert impact.alert_impact("pipeline", ["leakage"]) is None


def test_money_reads_in_pence_under_a_pound_and_in_pounds_over() -> None:
    assert impact.money(Decimal("11.76")) == "12p"
    assert impact.money(Decimal("0.2")) == "under 1p"
    assert impact.money(Decimal("4492.8")) == "£44.93"


@pytest.mark.parametrize(("this", "last", "direction", "text"), [
    (3, 1, "worse", "Worse than last week: 3 alerts, 1 the week before."),
    (1, 4, "better", "Better than last week: 1 alert, 4 the week before."),
    (2, 2, "same", "Same as last week: 2 alerts each week."),
])
def test_the_trend_compares_this_week_with_the_week_before(this, last, direction, text) -> None:  # type: ignore[no-untyped-def]
    trend = impact.counts_trend(this, last, "alert")
    assert (trend.direction, trend.text) == (direction, text)


def test_wear_growth_within_ten_percent_is_the_same() -> None:
    assert impact.growth_trend(4.8, 4.9, "").direction == "same"
    assert impact.growth_trend(6.0, 4.9, "").direction == "worse"
    assert impact.growth_trend(None, 4.9, "").direction == "new"


def test_late_data_is_worse_when_the_asset_still_reported_a_week_ago() -> None:
    assert impact.silence_trend(NOW - timedelta(days=2), NOW).direction == "worse"
    assert impact.silence_trend(NOW - timedelta(days=9), NOW).direction == "same"


def test_the_owner_is_the_sites_valid_maintenance_addresses_or_where_to_set_them() -> None:
    assert impact.owner_text("fixer@hilltop.example; nonsense, boss@hilltop.example") == \
        "fixer@hilltop.example, boss@hilltop.example"
    assert impact.owner_text(None).startswith("No maintenance contact set (an administrator sets it")


def test_the_current_unit_rate_includes_vat_whichever_way_the_tariff_is_quoted(db: Database) -> None:
    plant = add_plant(db, ["power"], asset_type="water_dispenser")
    with db.Session() as session, session.begin():
        common = dict(supplier_id=plant.supplier_id, standing_charge_p_per_day=Decimal("50"),
                      vat_rate=Decimal("0.05"))
        session.add_all([
            Tariff(code="E", name="Old electricity", fuel="electricity", unit_rate_p_per_kwh=Decimal("30"),
                   prices_include_vat=True, valid_from=date(2025, 1, 1), valid_to=date(2026, 1, 1), **common),
            Tariff(code="E", name="Electricity", fuel="electricity", unit_rate_p_per_kwh=Decimal("24.50"),
                   prices_include_vat=True, valid_from=date(2026, 1, 1), **common),
            Tariff(code="G", name="Gas", fuel="gas", unit_rate_p_per_kwh=Decimal("6"),
                   prices_include_vat=False, valid_from=date(2026, 1, 1), **common),
        ])
    with db.Session() as session:
        rates = impact.current_rates(session, plant.supplier_id, NOW)
    assert rates["electricity"] == impact.UnitRate("electricity", Decimal("24.50"), "Electricity")
    assert rates["gas"].pence_per_kwh == Decimal("6.30")  # 6p net + 5 % VAT


# -- through estate_health ----------------------------------------------------------------


def add_alert(db: Database, asset_id: int, started: datetime, status: str = "open",
              classification: str = "leakage", severity: str = "critical") -> None:
    with db.Session() as session, session.begin():
        session.add(Alert(asset_id=asset_id, started_at=started, kind="rule", severity=severity,
                          classification=classification, message="test", status=status))


def health(db: Database, supplier_id: int) -> dict[str, AssetHealth]:
    with db.Session() as session:
        sites = estate_health(session, db.sensors_engine, supplier_id, NOW)
    return {a.name: a for site in sites for a in site.assets}


@pytest.fixture
def leaking_dispenser(db: Database):  # type: ignore[no-untyped-def]
    """A dispenser whose heater drew 10 W on average until a leak began two days ago, 30 W
    since; three leak alerts this week (one still open), one the week before; an electricity
    tariff at 24.50 p/kWh; a maintenance contact on the site."""
    plant = add_plant(db, ["temperature", "level", "flow", "power"], asset_type="water_dispenser",
                      name="Hilltop")
    start = NOW - timedelta(days=2)
    times = [NOW - timedelta(days=14) + timedelta(minutes=10 * i) for i in range(14 * 144)]
    power, *others = [plant.sensor_ids[3], *plant.sensor_ids[:3]]
    with db.Session() as session, session.begin():
        session.execute(insert(SensorReading), [
            {"sensor_id": power, "ts": ts, "value": 0.030 if ts >= start else 0.010} for ts in times])
        session.execute(insert(SensorReading), [
            {"sensor_id": sid, "ts": times[-1], "value": 1.0} for sid in others])
        site = session.get(Site, plant.site_id)
        site.maintenance_emails = "fixer@hilltop.example"
        asset = session.get(Asset, plant.asset_id)
        asset.name, asset.created_at = "Dispenser D1", NOW - timedelta(days=30)
        session.add(Tariff(supplier_id=plant.supplier_id, code="E", name="Standard electricity",
                           fuel="electricity", unit_rate_p_per_kwh=Decimal("24.50"),
                           standing_charge_p_per_day=Decimal("60.99"), vat_rate=Decimal("0.05"),
                           prices_include_vat=True, valid_from=date(2026, 1, 1)))
    add_alert(db, plant.asset_id, start)
    add_alert(db, plant.asset_id, NOW - timedelta(days=4), status="closed")
    add_alert(db, plant.asset_id, NOW - timedelta(days=5), status="closed")
    add_alert(db, plant.asset_id, NOW - timedelta(days=10), status="closed")
    return plant


def test_a_leak_gets_its_cost_a_day_its_trend_and_its_owner(db: Database, leaking_dispenser) -> None:  # type: ignore[no-untyped-def]
    with db.Session() as session:
        site = estate_health(session, db.sensors_engine, leaking_dispenser.supplier_id, NOW)[0]
    concern = site.assets[0].details[0]
    assert concern.text == "1 critical alert open: leak"
    assert concern.plain == "Act now: water is leaking (1 critical alert open)."
    # 20 W more for 24 h = 0.48 kWh a day; at 24.50 p/kWh, 11.76p
    assert concern.impact is not None and concern.impact.kwh_per_day == pytest.approx(0.48)
    assert concern.impact.pence_per_day == pytest.approx(Decimal("11.76"))
    assert "about 12p a day" in concern.impact.text
    assert concern.trend == impact.Trend("worse", "Worse than last week: 3 alerts, 1 the week before.")
    assert site.owner == "fixer@hilltop.example"


def test_a_failing_forecast_reads_as_plain_words_with_no_cost(db: Database, leaking_dispenser) -> None:  # type: ignore[no-untyped-def]
    with db.Session() as session, session.begin():
        session.add(ModelVersion(
            asset_id=leaking_dispenser.asset_id, target="flow", version=1, status="active",
            algorithm="ridge", file_path="x.joblib", file_sha256="0" * 64, features=[], params={},
            library_versions={}, train_from=NOW - timedelta(days=10), train_to=NOW - timedelta(days=1),
            rows=100, holdout_metrics={}, needs_retraining=True))
    asset = health(db, leaking_dispenser.supplier_id)["Dispenser D1"]
    concern = next(c for c in asset.details if c.kind == "forecast")
    assert concern.plain == ("The twin's forecast for Dispenser D1 (flow) missed by more than its limit; "
                             "it is being retrained automatically (no action needed).")
    assert concern.impact is not None and concern.impact.text.startswith("No direct energy cost.")
    assert asset.forecast_words.startswith("Forecast missed its accuracy limit")


def test_a_site_without_a_contact_says_where_to_set_one(db: Database, leaking_dispenser) -> None:  # type: ignore[no-untyped-def]
    with db.Session() as session, session.begin():
        session.get(Site, leaking_dispenser.site_id).maintenance_emails = None
    with db.Session() as session:
        site = estate_health(session, db.sensors_engine, leaking_dispenser.supplier_id, NOW)[0]
    assert site.owner.startswith("No maintenance contact set")


def test_wear_is_shown_with_its_unit_its_meaning_and_its_limit(db: Database) -> None:
    plant = add_plant(db, ["torque", "speed", "oil_temperature"], asset_type="drivetrain")
    with db.Session() as session, session.begin():
        session.add_all([Calculation(asset_id=plant.asset_id, name="accumulated_destruction",
                                     ts=NOW - timedelta(days=d), value=20.7 - 0.69 * d) for d in (0, 7, 14)])
    turbine = health(db, plant.supplier_id)["Turbine 1"]
    assert damage_text(turbine) == "Wear index 20.7 (no unit) · no limit set"
    assert turbine.damage_meaning is not None and "not a share of design life" in turbine.damage_meaning
    with db.Session() as session, session.begin():
        session.get(Asset, plant.asset_id).parameters = {"damage_limit": 24.0}
    turbine = health(db, plant.supplier_id)["Turbine 1"]
    # 20.7 / 24 = 86 %: a concern, whose wear grew 4.83 each week: the same
    assert damage_text(turbine) == "Wear index 20.7 (no unit) · 86 % of its limit"
    wear = next(c for c in turbine.details if c.kind == "damage")
    assert wear.trend is not None and wear.trend.direction == "same"
