"""How numbers, names and codes read for people: in alert messages, on the Alerts page and the
Import page. Never scientific notation, never a raw code, never a unit said twice."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.anomalies import detect
from app.db.models import Alert
from app.plain_text import classification, file_size, label, number, quantity, readable
from app.twins.rules import Spike
from tests.conftest import add_plant, dash_as, utc
from tests.test_anomalies import anomaly_settings, kind_with, quiet


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (4.04e-4, "kW", "0.404 W"),  # the tester's "Power jumped to 4.04e-04 kW"
    (0.04, "kW", "40 W"),
    (12345.678, "kWh", "12,346 kWh"),
    (250_000, "kWh", "250 MWh"),
    (40_000, "MW", "40,000 MW"),
    (6243.2, "Nm", "6,243 Nm"),
    (61.83, "°C", "61.8 °C"),
    (0.5, "bar", "0.5 bar"),  # a unit without prefixes stays as it is
    (0.00001234, "1/s", "0.0000123 1/s"),
    (-3.2e-5, "kW", "-0.032 W"),
    (0.2, "fraction", "0.2"),
    (0, "kW", "0 kW"),
    (float("nan"), "kW", "—"),
    (None, "kW", "—"),
])
def test_a_quantity_reads_in_a_sensible_unit_with_three_figures(value, unit, shown) -> None:  # type: ignore[no-untyped-def]
    assert quantity(value, unit) == shown


@pytest.mark.parametrize("value", [1e-9, 3.3e-7, 4.04e-4, 1.5e7, 2.2e12, -7.7e-6, 123456789.0])
def test_a_number_is_never_written_in_scientific_notation(value: float) -> None:
    assert "e" not in number(value).lower()
    assert "e" not in quantity(value, "kW").lower().replace("kw", "").replace("mw", "").replace("gw", "")


@pytest.mark.parametrize(("name", "unit", "shown"), [
    ("heat_input_kw", "kW", "Heat input (kW)"),  # the tester's "Heat input kw (kW)"
    ("flow_imbalance_m3h", "m³/h", "Flow imbalance (m³/h)"),
    ("flow_l_min", "L/min", "Flow (L/min)"),
    ("setpoint_c", "°C", "Setpoint (°C)"),
    ("oil_temperature", "°C", "Oil temperature (°C)"),
    ("kw", "kW", "Kw (kW)"),  # a name that is only its unit keeps it
    ("imbalance_fraction", "1", "Imbalance fraction"),
])
def test_a_label_says_its_unit_once(name: str, unit: str, shown: str) -> None:
    assert label(name, unit) == shown


def test_classification_codes_read_as_words() -> None:
    assert [classification(c) for c in ("leakage", "sensor_error", "overuse", "other")] == [
        "leak", "sensor fault", "overuse", "other cause"]
    assert classification("new_code") == "new code" and classification(None) == "—"


def test_a_message_stored_with_an_exponent_and_a_code_reads_in_words() -> None:
    stored = ("Power jumped to 4.04e-04 kW, far from the previous readings (mean 2.00e-02 kW), "
              "and came back: a faulty reading (sensor_error)")
    assert readable(stored, "sensor_error") == (
        "Power jumped to 0.404 W, far from the previous readings (mean 20 W), "
        "and came back: a faulty reading (sensor fault)")
    assert readable(stored, "sensor_error", with_class=False).endswith("a faulty reading")
    assert readable("Level low: water leaves (leak)", "leakage", with_class=False) == "Level low: water leaves"
    assert readable("Level below 0.2 for 5 minutes (leakage)", "other") == \
        "Level below 0.2 for 5 minutes (leakage)", "only the alert's own code is rewritten"


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 bytes"), (1, "1 byte"), (512, "512 bytes"), (4_200, "4.2 KB"), (999_999, "1 MB"),
    (12_582_912, "12.6 MB"), (15_000_000, "15 MB"), (2_500_000_000, "2.5 GB")])
def test_a_file_size_reads_as_people_write_it(size: int, shown: str) -> None:
    assert file_size(size) == shown


def test_a_spike_on_a_small_power_is_told_in_watts_and_its_class_in_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = quiet()
    frame.iloc[90, frame.columns.get_loc("power")] = 4.04e-4  # a dispenser heater's 0.02 kW drops
    found = detect(kind_with(Spike("power")), {}, frame, anomaly_settings(tmp_path, zscore_threshold=5.0))
    assert [f.classification for f in found] == ["sensor_error"]
    message = found[0].message
    assert "Power jumped to 0.404 W" in message and "e-0" not in message
    assert message.endswith("(sensor fault)") and "sensor_error" not in message


def test_the_alerts_page_shows_classes_and_values_in_words(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["power"], supplier_id=tenants[0].supplier_id)
    with db.Session() as session, session.begin():
        # as alerts were stored before messages were written for people
        session.add(Alert(asset_id=plant.asset_id, sensor_id=plant.sensor_ids[0], kind="spike",
                          severity="warning", classification="sensor_error", status="open",
                          started_at=utc(2026, 11, 20, 9), ended_at=utc(2026, 11, 20, 9) + timedelta(minutes=3),
                          message="Power jumped to 4.04e-04 kW: a faulty reading (sensor_error)"))
    call = dash_as(client, tenants[0], "viewer")
    response = call("alerts-table.children", {"url.pathname": "/alerts", "alerts-filter.value": "open"})
    assert response.status_code == 200
    body = json.dumps(response.get_json(), ensure_ascii=False)
    assert "Power jumped to 0.404 W: a faulty reading" in body and '"sensor fault"' in body
    assert "sensor_error" not in body and "e-04" not in body
