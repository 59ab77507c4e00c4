"""Each asset type's derived quantities, by hand, and running totals that are batch-invariant.

Pure: no database. Integration is left-rectangle in time (see app/calculations.py): each
sample's rate counts for the seconds since the sample before it, the very first sample adds 0,
and a batch's first sample counts from ``carry.last_ts``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.calculations import Carry, advance, running_total, seconds_since_previous
from app.generator import generate_series
from app.twins import asset_type
from app.twins.drivetrain import ASSET_TYPE as DRIVETRAIN
from tests.conftest import utc

T0 = utc(2024, 3, 1)


def wide(seconds: list[float], **columns: list[float]) -> pd.DataFrame:
    """A batch like the pipeline's: UTC index ``T0 + seconds``, one column per sensor."""
    index = pd.DatetimeIndex([T0 + timedelta(seconds=s) for s in seconds])
    return pd.DataFrame(columns, index=index, dtype=float)


def run(
    kind: str,
    batch: pd.DataFrame,
    carry: Carry | None = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, Carry]:
    spec = asset_type(kind)
    params = dict(spec.default_parameters) if parameters is None else parameters
    return spec.calculate(batch, carry or Carry(), params)


def column(frame: pd.DataFrame, name: str) -> list[float]:
    return frame[name].to_list()


# -- drivetrain by hand -----------------------------------------------------------------------

# Three samples at 0 s, 60 s and 180 s:
#   rate = ((torque/1e6) x (speed/60) + oil) / 5e6
#   (1000 Nm,  60 rpm, 20 C): (0.001 x 1 + 20) / 5e6 = 20.001 / 5e6 = 4.0002e-6
#   (2000 Nm, 120 rpm, 30 C): (0.002 x 2 + 30) / 5e6 = 30.004 / 5e6 = 6.0008e-6
#   (3000 Nm, 300 rpm, 45 C): (0.003 x 5 + 45) / 5e6 = 45.015 / 5e6 = 9.003e-6
HAND = wide(
    [0, 60, 180], torque=[1000, 2000, 3000], speed=[60, 120, 300], oil_temperature=[20, 30, 45]
)


def test_drivetrain_destruction_rate_is_torque_times_speed_plus_oil_temperature_over_5e6() -> None:
    out, _ = run("drivetrain", HAND)

    assert column(out, "destruction_rate") == pytest.approx(
        [4.0002e-6, 6.0008e-6, 9.003e-6], rel=1e-12
    )


def test_accumulated_destruction_is_the_left_rectangle_integral_starting_from_zero() -> None:
    out, carry = run("drivetrain", HAND)

    # first sample of all: 0; then 6.0008e-6 x 60 s = 3.60048e-4;
    # then + 9.003e-6 x 120 s = 1.08036e-3 -> 1.440408e-3
    assert column(out, "accumulated_destruction") == pytest.approx(
        [0.0, 3.60048e-4, 1.440408e-3], rel=1e-12
    )
    assert carry.last_ts == T0 + timedelta(seconds=180)
    assert carry.totals == {"accumulated_destruction": pytest.approx(1.440408e-3, rel=1e-12)}


def test_a_later_batchs_first_sample_counts_from_the_carrys_last_time() -> None:
    carry = Carry(T0 + timedelta(seconds=180), {"accumulated_destruction": 1.440408e-3})
    later = wide([210, 270], torque=[1000, 0], speed=[60, 0], oil_temperature=[20, 50])

    out, after = run("drivetrain", later, carry)

    # 210 s: 1.440408e-3 + 4.0002e-6 x 30 s (since 180 s) = 1.440408e-3 + 1.20006e-4 = 1.560414e-3
    # 270 s: rate (0 + 50) / 5e6 = 1e-5; + 1e-5 x 60 s = 6e-4 -> 2.160414e-3
    assert column(out, "accumulated_destruction") == pytest.approx(
        [1.560414e-3, 2.160414e-3], rel=1e-12
    )
    assert after.last_ts == T0 + timedelta(seconds=270)
    assert after.totals == {"accumulated_destruction": pytest.approx(2.160414e-3, rel=1e-12)}


def test_seconds_since_previous_is_zero_for_the_first_sample_of_all_and_counts_from_last_ts() -> (
    None
):
    index = HAND.index

    assert seconds_since_previous(index, None).tolist() == [0.0, 60.0, 120.0]
    assert seconds_since_previous(index, T0 - timedelta(seconds=15)).tolist() == [15.0, 60.0, 120.0]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_seconds_since_previous_does_not_depend_on_the_index_time_unit(unit: str) -> None:
    # pandas 3 builds datetime64[us] indexes from datetimes, pandas 2 datetime64[ns]: the same
    # instants must give the same seconds (the carry's last_ts is compared in ns).
    index = HAND.index.as_unit(unit)

    assert seconds_since_previous(index, T0 - timedelta(seconds=15)).tolist() == [15.0, 60.0, 120.0]


def test_running_total_treats_a_missing_rate_as_adding_nothing() -> None:
    rate = pd.Series([1.0, np.nan, 2.0], index=HAND.index)

    total = running_total(rate, Carry(T0 - timedelta(seconds=10), {"x": 5.0}), "x")

    # 5 + 1 x 10 s = 15; NaN x 60 s adds 0 -> 15; + 2 x 120 s = 255
    assert total.to_list() == [15.0, 15.0, 255.0]


def test_advance_over_an_empty_batch_keeps_the_carry() -> None:
    carry = Carry(T0, {"accumulated_destruction": 3.0})

    assert advance(carry, HAND.iloc[0:0], ["accumulated_destruction"]) is carry


# -- batch invariance: THE property the pipeline relies on -------------------------------------


def generated_drivetrain_day(seed: int = 11) -> pd.DataFrame:
    """One day of 1-minute drivetrain data from the generator and the type's own signals."""
    columns = {
        spec.name: generate_series(
            spec.signal, number, T0, T0 + timedelta(days=1), timedelta(minutes=1), seed=seed
        ).set_index("ts")["value"]
        for number, spec in enumerate(DRIVETRAIN.sensors, start=1)
    }
    return pd.DataFrame(columns)


def in_batches(data: pd.DataFrame, every: str) -> pd.DataFrame:
    carry, parts = Carry(), []
    for _, batch in data.groupby(data.index.floor(every)):
        out, carry = DRIVETRAIN.calculate(batch, carry, {})
        parts.append(out)
    return pd.concat(parts)


def test_accumulated_destruction_in_one_hour_batches_equals_a_single_pass_over_the_day() -> None:
    data = generated_drivetrain_day()
    assert len(data) == 1440 and data.notna().all(axis=None)

    single, _ = DRIVETRAIN.calculate(data, Carry(), {})
    hourly = in_batches(data, "1h")

    assert hourly.index.equals(single.index)
    np.testing.assert_allclose(
        hourly["accumulated_destruction"], single["accumulated_destruction"], rtol=1e-9, atol=0
    )
    np.testing.assert_array_equal(hourly["destruction_rate"], single["destruction_rate"])
    # The total is not trivially small: a day of 1-minute samples at rates of about
    # (0..45 + up to 0.015) / 5e6 adds up to roughly 86,400 s x ~8e-6 = ~0.7.
    assert 0.1 < single["accumulated_destruction"].iloc[-1] < 2.0


def test_batch_invariance_would_catch_a_batch_restarting_its_integral() -> None:
    # The same day with the carry's time dropped between batches (as a bug would) loses the
    # 60 s before each batch's first sample: the equality above is a real check.
    data = generated_drivetrain_day()
    single, _ = DRIVETRAIN.calculate(data, Carry(), {})
    carry, parts = Carry(), []
    for _, batch in data.groupby(data.index.floor("1h")):
        out, carry = DRIVETRAIN.calculate(batch, Carry(None, carry.totals), {})
        parts.append(out)

    broken = pd.concat(parts)["accumulated_destruction"].iloc[-1]

    assert abs(broken / single["accumulated_destruction"].iloc[-1] - 1) > 1e-4


# -- the other asset types by hand -------------------------------------------------------------


def test_boiler_heat_input_is_fuel_flow_times_10_55_and_output_is_input_times_efficiency() -> None:
    batch = wide([0, 60], fuel_flow=[10.0, 0.0], water_temperature=[70.0, 70.0])

    out, _ = run("boiler", batch, parameters={"efficiency": 0.8})

    # 10 m3/h x 10.55 kWh/m3 = 105.5 kW; x 0.8 = 84.4 kW
    assert column(out, "heat_input_kw") == pytest.approx([105.5, 0.0], rel=1e-12)
    assert column(out, "heat_output_kw") == pytest.approx([84.4, 0.0], rel=1e-12)


def test_boiler_hours_above_rated_counts_the_time_spent_above_the_rated_temperature() -> None:
    carry = Carry(T0 - timedelta(seconds=60), {"hours_above_rated": 2.0})
    batch = wide(
        [0, 60, 120, 300], fuel_flow=[1, 1, 1, 1], water_temperature=[95.0, 85.0, 91.0, 90.0]
    )

    out, after = run("boiler", batch, carry, {"rated_temperature_c": 90.0})

    # 0 s: 95 > 90 for 60 s -> 2 + 60/3600; 60 s: 85 not above -> unchanged;
    # 120 s: 91 > 90 for 60 s -> 2 + 120/3600; 300 s: exactly 90 is not above -> unchanged
    assert column(out, "hours_above_rated") == pytest.approx(
        [2 + 60 / 3600, 2 + 60 / 3600, 2 + 120 / 3600, 2 + 120 / 3600], rel=1e-12
    )
    assert after.totals["hours_above_rated"] == pytest.approx(2 + 120 / 3600, rel=1e-12)


def test_boiler_uses_its_default_efficiency_and_rating_when_the_asset_sets_none() -> None:
    out, _ = run(
        "boiler",
        wide([0, 60], fuel_flow=[20.0, 20.0], water_temperature=[91.0, 91.0]),
        parameters={},
    )

    # 20 x 10.55 = 211 kW in, x 0.9 = 189.9 kW out; 91 > 90 for 60 s = 1/60 h
    assert column(out, "heat_output_kw") == pytest.approx([189.9, 189.9], rel=1e-12)
    assert column(out, "hours_above_rated") == pytest.approx([0.0, 1 / 60], rel=1e-12)


def test_pressure_tank_net_flow_is_inflow_minus_outflow() -> None:
    out, _ = run("pressure_tank", wide([0, 60], inflow=[12.0, 3.0], outflow=[5.0, 8.0]))

    # 12 - 5 = 7 (filling); 3 - 8 = -5 (draining)
    assert column(out, "net_flow_m3h") == [7.0, -5.0]


def test_pipeline_imbalance_is_inlet_minus_outlet_and_its_fraction_of_the_inlet() -> None:
    out, _ = run(
        "pipeline", wide([0, 60, 120], inlet_flow=[20.0, 0.0, 10.0], outlet_flow=[15.0, 2.0, 10.0])
    )

    # 20 - 15 = 5, 5/20 = 0.25; 0 - 2 = -2 with no inlet flow -> fraction 0; 10 - 10 = 0
    assert column(out, "flow_imbalance_m3h") == [5.0, -2.0, 0.0]
    assert column(out, "imbalance_fraction") == [0.25, 0.0, 0.0]


def test_heat_exchanger_duty_is_m_cp_dt_and_effectiveness_is_the_hot_drop_over_the_span() -> None:
    batch = wide(
        [0, 60],
        hot_inlet_temperature=[80.0, 20.0],
        hot_outlet_temperature=[50.0, 20.0],
        cold_inlet_temperature=[20.0, 25.0],
        cold_outlet_temperature=[40.0, 25.0],
    )

    out, _ = run("heat_exchanger", batch, parameters={"hot_flow_kg_s": 2.0})

    # 2 kg/s x 4.186 kJ/kg/K x (80 - 50) K = 251.16 kW; effectiveness 30 / (80 - 20) = 0.5.
    # Hot inlet not above the cold inlet: no drop (0 kW) and effectiveness 0, not a division error.
    assert column(out, "duty_kw") == pytest.approx([251.16, 0.0], rel=1e-12)
    assert column(out, "effectiveness") == pytest.approx([0.5, 0.0], rel=1e-12)


def test_water_dispenser_energy_and_litres_are_running_totals_continuing_from_the_carry() -> None:
    carry = Carry(T0 - timedelta(seconds=60), {"energy_kwh": 1.0, "litres_dispensed": 10.0})
    batch = wide(
        [0, 60], power=[0.036, 0.018], flow=[1.2, 0.0], temperature=[60, 60], level=[0.5, 0.5]
    )

    out, after = run("water_dispenser", batch, carry)

    # energy: 0.036 kW / 3600 x 60 s = 0.0006 kWh -> 1.0006; 0.018 / 3600 x 60 = 0.0003 -> 1.0009
    # litres: 1.2 L/min / 60 x 60 s = 1.2 L -> 11.2; flow 0 -> 11.2
    assert column(out, "energy_kwh") == pytest.approx([1.0006, 1.0009], rel=1e-12)
    assert column(out, "litres_dispensed") == pytest.approx([11.2, 11.2], rel=1e-12)
    assert after.totals == {
        "energy_kwh": pytest.approx(1.0009, rel=1e-12),
        "litres_dispensed": pytest.approx(11.2, rel=1e-12),
    }


def test_every_asset_type_returns_exactly_the_calculations_it_declares() -> None:
    from app.twins import ASSET_TYPES

    for spec in ASSET_TYPES.values():
        batch = wide([0, 60], **{sensor.name: [1.0, 2.0] for sensor in spec.sensors})
        out, _ = spec.calculate(batch, Carry(), dict(spec.default_parameters))
        assert list(out.columns) == list(spec.calculations), spec.name
