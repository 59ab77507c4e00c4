"""User formulas: checked without running user text, evaluated vectorised, with integrals that
continue across batches exactly; and a generic asset's limits raise alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.anomalies import detect
from app.calculations import Carry
from app.db.models import Sensor
from app.plant.formulas import FormulaError, evaluate, parse_all, visible
from app.plant.twin import AssetTwin, calculate_batch, effective_type
from app.twins import asset_type
from settings import Settings


def frame(minutes: int = 120, step: str = "1min") -> pd.DataFrame:
    index = pd.date_range("2024-10-01", periods=minutes, freq=step, tz="UTC")
    rng = np.random.default_rng(3)
    return pd.DataFrame({"flow_m3h": 10 + rng.normal(0, 1, minutes),
                         "dp_bar": 2 + rng.normal(0, 0.1, minutes)}, index=index)


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__('os').system('id')", "call is not allowed"),
    ("flow_m3h.__class__", "attribute is not allowed"),
    ("[flow_m3h]", "list is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("flow_m3h if dp_bar else 0", "ifexp is not allowed"),
    ("'text'", "'text' is not a number"),
    ("flow_m3h / 0", "divides by a constant zero"),
    ("flow_m3h / (3.6 - 3.6)", "divides by a constant zero"),
    ("flow_m3h % 0", "divides by a constant zero"),
    ("pressure * 2", "unknown name 'pressure'"),
    ("2 * 3", "reads no sensor"),
    ("efficiency * 2", "reads no sensor"),
    ("integrate(integrate(flow_m3h))", "cannot hold another integrate"),
    ("sqrt(flow_m3h, 2)", "sqrt() takes 1 argument"),
    ("flow_m3h *", "cannot be read"),
])
def test_a_formula_that_cannot_be_used_is_refused_in_words(text: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_all([{"name": "x", "unit": "kW", "formula": text}], ["flow_m3h", "dp_bar"],
                  parameters=["efficiency"])


def test_formulas_compute_vectorised_and_read_parameters_and_earlier_formulas() -> None:
    wide = frame()
    formulas = parse_all([
        {"name": "power_kw", "unit": "kW", "formula": "flow_m3h * dp_bar * 100 / 3.6 / efficiency"},
        {"name": "high", "unit": "1", "formula": "where(power_kw > 600, 1, 0)"},
    ], list(wide.columns), parameters=["efficiency"])
    out = evaluate(formulas, wide, Carry(), parameters={"efficiency": 0.8})
    expected = wide.flow_m3h * wide.dp_bar * 100 / 3.6 / 0.8
    np.testing.assert_allclose(out["power_kw"], expected)
    np.testing.assert_array_equal(out["high"], (expected > 600).astype(float))


def test_an_integral_in_many_batches_equals_one_pass() -> None:
    wide = frame(600)
    formulas = parse_all([{"name": "energy_kwh", "unit": "kWh",
                           "formula": "integrate(flow_m3h * dp_bar) / 3600"}], list(wide.columns))
    whole = evaluate(formulas, wide, Carry())
    carry, parts = Carry(), []
    for start in range(0, 600, 77):
        part = evaluate(formulas, wide.iloc[start:start + 77], carry)
        last = part.iloc[-1]
        carry = Carry(part.index[-1].to_pydatetime(),
                      {name: float(last[name]) for name in part.columns})
        parts.append(part)
    np.testing.assert_allclose(pd.concat(parts)["energy_kwh"], whole["energy_kwh"], rtol=1e-12)
    assert list(visible(whole).columns) == ["energy_kwh"]  # the hidden state stays hidden


def generic(sensors: list[Sensor], formulas: list[dict[str, str]] | None = None) -> AssetTwin:
    base = asset_type("generic")
    names = [s.name for s in sensors]
    return AssetTwin(1, base, effective_type(base, sensors), {i: n for i, n in enumerate(names)},
                     {n: s.interval_s for n, s in zip(names, sensors, strict=True)},
                     tuple(parse_all(formulas or [], names)), {}, (), ())


def test_a_generic_assets_normal_range_raises_an_alert_at_its_own_cadence(settings: Settings) -> None:
    sensor = Sensor(name="demand", unit="MW", normal_min=0.0, normal_max=40_000.0, interval_s=1800)
    twin = generic([sensor])
    index = pd.date_range("2024-10-01", periods=48 * 7, freq="30min", tz="UTC")
    values = 30_000 + 5_000 * np.sin(np.arange(len(index)) * 2 * np.pi / 48) \
        + np.random.default_rng(1).normal(0, 200, len(index))
    values[200:204] = [44_000, 45_500, 46_000, 44_800]  # two hours above the normal maximum
    found = detect(twin.kind, {}, pd.DataFrame({"demand": values}, index=index), settings)
    highs = [f for f in found if f.kind == "high"]
    assert len(highs) == 1 and highs[0].start == index[200].to_pydatetime()
    assert "above 40,000 MW" in highs[0].message


def test_a_batch_of_a_built_in_type_gains_the_assets_own_formulas() -> None:
    base = asset_type("drivetrain")
    sensors = [Sensor(name=spec.name, unit=spec.unit) for spec in base.sensors]
    twin = AssetTwin(1, base, effective_type(base, sensors), dict(enumerate(s.name for s in sensors)),
                     {}, tuple(parse_all([{"name": "wear_per_day", "unit": "1",
                                           "formula": "destruction_rate * 86400"}],
                                         [s.name for s in sensors], list(base.calculations))),
                     {}, (), ())
    index = pd.date_range("2024-10-01", periods=60, freq="1min", tz="UTC")
    wide = pd.DataFrame({"torque": 2000.0, "speed": 200.0, "oil_temperature": 60.0}, index=index)
    out, _, notes = calculate_batch(twin, wide, Carry())
    assert notes == []
    np.testing.assert_allclose(out["wear_per_day"], out["destruction_rate"] * 86400)
