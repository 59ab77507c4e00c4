"""The asset page's figures as a person reads them: names in words with their unit once, a
forecast band that breaks where nothing was forecast, stacked panels whose titles fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.asset_view import Channel
from layouts import figures


def test_a_channel_is_named_in_words_without_repeating_its_unit() -> None:
    def label(name: str, unit: str) -> str:
        return Channel("s:1", name, unit, "sensor", 1).label

    assert label("heat_input_kw", "kW") == "Heat input (kW)"
    assert label("flow_m3h", "m³/h") == "Flow (m³/h)"
    assert label("supply_temp_c", "°C") == "Supply temp (°C)"
    assert label("valve_pct", "%") == "Valve (%)"
    assert label("flow_l_min", "L/min") == "Flow (L/min)"
    assert label("oil_temperature", "°C") == "Oil temperature (°C)"
    assert label("kw", "kW") == "Kw (kW)"  # a name that is only its unit keeps it
    assert label("accumulated_destruction", "1") == "Accumulated destruction"  # a pure number


def forecast_with_a_gap() -> dict:
    first = pd.date_range("2026-11-20 10:00", periods=6, freq="10min", tz="UTC")
    second = pd.date_range("2026-11-20 14:00", periods=6, freq="10min", tz="UTC")
    ts = first.append(pd.DatetimeIndex([pd.Timestamp("2026-11-20 12:00", tz="UTC")])).append(second)
    predicted = np.r_[np.full(6, 40.0), np.nan, np.full(6, 50.0)]
    return figures.forecast(ts, predicted, predicted - 2, predicted + 2, predicted + 0.5, "Oil temperature",
                            "°C", "Forecast", revision="r").to_plotly_json()


def test_the_prediction_interval_is_one_ribbon_a_run_and_never_bridges_a_gap() -> None:
    figure = forecast_with_a_gap()
    band = next(t for t in figure["data"] if t["name"] == "Prediction interval")
    assert band["fill"] == "toself"
    xs, ys = list(band["x"]), list(band["y"])
    assert xs.count(None) == ys.count(None) == 1  # two closed outlines
    cut = xs.index(None)
    for outline_x, outline_y, level in ((xs[:cut], ys[:cut], 40.0), (xs[cut + 1:], ys[cut + 1:], 50.0)):
        assert len(outline_x) == 12 and outline_x[:6] == outline_x[6:][::-1]  # out along the top, back along the bottom
        assert outline_y == [level + 2] * 6 + [level - 2] * 6
    # Nothing of the outline lies in the gap: the first run ends 10:50 UK, the second starts 14:00.
    assert max(xs[:cut]) < "2026-11-20T11" and min(xs[cut + 1:]) >= "2026-11-20T14"
    forecast = next(t for t in figure["data"] if t["name"] == "Forecast")
    assert forecast["y"][6] is None and forecast["connectgaps"] is False


def test_the_forecast_axis_names_its_quantity_and_unit() -> None:
    layout = forecast_with_a_gap()["layout"]
    assert layout["yaxis"]["title"]["text"] == "Oil temperature (°C)"
    assert layout["yaxis2"]["title"]["text"] == "Actual − forecast (°C)"


def test_stacked_panel_titles_are_broken_to_fit_their_panel() -> None:
    ts = pd.date_range("2026-11-20", periods=5, freq="1min", tz="UTC")
    traces = [figures.Trace("Destruction rate", "1/s", ts, np.arange(5.0)),
              figures.Trace("Accumulated destruction", "1", ts, np.arange(5.0))]
    layout = figures.stacked(traces, "Calculations", revision="r", row_height=170)["layout"]
    titles = [layout["yaxis"]["title"]["text"], layout["yaxis2"]["title"]["text"]]
    assert titles == ["Destruction rate<br>(1/s)", "Accumulated<br>destruction"]
    for title in titles:  # each line fits in the panel it names
        assert max(len(line) for line in title.split("<br>")) * figures.TITLE_CHAR_PX <= 0.85 * 170


def test_a_computation_is_remembered_by_its_key_and_database_only(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from callbacks.asset_figures import remembered
    from tests.conftest import make_settings

    calls: list[str] = []

    def compute(tag: str) -> str:
        calls.append(tag)
        return tag

    key = ("test", 1, "2026-11-20T12:00")
    with app.app_context():
        assert remembered(key, lambda: compute("first")) == "first"
        assert remembered(key, lambda: compute("second")) == "first"  # the same data: not fitted again
        assert remembered(("test", 1, "2026-11-20T12:01"), lambda: compute("newer")) == "newer"  # new readings
    with app.app_context():
        assert remembered(key, lambda: compute("again")) == "first"
    with create_app(make_settings(tmp_path / "other")).app_context():  # another estate, the same ids
        assert remembered(key, lambda: compute("other")) == "other"
    assert calls == ["first", "newer", "other"]
