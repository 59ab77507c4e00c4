"""The asset and meter pages through Dash's real endpoint, as a logged-in user: what each plot
is sent, how zoom and live updates behave, and that another supplier's asset shows nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.db import Database
from app.db.models import Tariff
from app.ingest import write_sensor_readings
from app.series import refresh_rollups
from callbacks.asset import chosen_range, zoomed_range
from layouts import ids
from tests.billing_data import CAP, add_priced_meter, add_supplier
from tests.conftest import (
    component,
    Plant,
    Tenant,
    add_plant,
    add_tenant,
    dash_as,
    utc,
)
from tests.model_rows import add_predictions, add_version, backtest

END = utc(2026, 11, 20, 12)
SENSORS = ["torque", "speed", "oil_temperature"]


def readings(plant: Plant, start: pd.Timestamp, end: pd.Timestamp, step: str = "1min") -> pd.DataFrame:
    times = pd.date_range(start, end, freq=step, inclusive="left", tz="UTC")
    rows = []
    for number, sensor_id in enumerate(plant.sensor_ids):
        values = np.sin(np.arange(len(times)) / 500 + number) * 100 + 500
        rows.append(pd.DataFrame({"sensor_id": sensor_id, "ts": times, "value": values}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def plants(db: Database, tenants: tuple[Tenant, Tenant]) -> tuple[Plant, Plant]:
    """A drivetrain per supplier; Alpha's has 60 days of 1-minute data, with rollups."""
    alpha = add_plant(db, SENSORS, supplier_id=tenants[0].supplier_id, name="Alpha Farm")
    beta = add_plant(db, SENSORS, supplier_id=tenants[1].supplier_id, name="Beta Farm")
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, readings(alpha, pd.Timestamp(END - timedelta(days=60)), pd.Timestamp(END)))
        write_sensor_readings(conn, readings(beta, pd.Timestamp(END - timedelta(days=1)), pd.Timestamp(END)))
    refresh_rollups(db, alpha.sensor_ids + beta.sensor_ids)
    return alpha, beta


def main_inputs(asset_id: int, preset: str, plant: Plant, relayout: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        f"{ids.ASSET_ID}.data": asset_id,
        f"{ids.ASSET_RANGE}.value": preset,
        f"{ids.ASSET_CUSTOM}.start_date": None,
        f"{ids.ASSET_CUSTOM}.end_date": None,
        f"{ids.ASSET_SENSORS}.value": [f"s:{i}" for i in plant.sensor_ids],
        f"{ids.ASSET_STACKED}.relayoutData": relayout,
    }


def figure_of(response, output: str = ids.ASSET_STACKED) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"][output]["figure"]


def test_a_long_range_sends_at_most_2000_points_a_trace_with_titles_and_units(client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    figure = figure_of(call(f"{ids.ASSET_STACKED}.figure", main_inputs(plants[0].asset_id, "1y", plants[0])))
    assert len(figure["data"]) == 3
    for trace in figure["data"]:
        assert 1000 < len(trace["x"]) <= 2000  # 86,400 readings each, downsampled
        assert trace["type"] == "scatter"  # SVG: cut to 2,000 points, below WEBGL_FROM
        assert None not in trace["y"][:10]
    layout = figure["layout"]
    assert "259,200 readings" in layout["title"]["text"]  # 3 sensors x 60 days x 1,440
    assert layout["yaxis"]["title"]["text"] == "Torque (Nm)"
    assert layout["xaxis3"]["title"]["text"] == "Time (UK)"
    assert "%{x|" in figure["data"][0]["hovertemplate"]


def test_zooming_fetches_the_raw_detail_of_the_zoomed_range(client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    # The axes show UK time: 20 Nov is GMT, so UK wall time equals UTC here.
    zoom = {"xaxis.range[0]": "2026-11-19 00:00:00", "xaxis.range[1]": "2026-11-19 06:00:00"}
    response = call(f"{ids.ASSET_STACKED}.figure", main_inputs(plants[0].asset_id, "1y", plants[0], zoom),
                    changed=f"{ids.ASSET_STACKED}.relayoutData")
    figure = figure_of(response)
    assert [len(t["x"]) for t in figure["data"]] == [360, 360, 360]  # every minute of 6 hours
    assert figure["data"][0]["x"][0].startswith("2026-11-19T00:00")
    view = response.get_json()["response"][ids.ASSET_VIEW]["data"]
    assert view["live"] is False  # a zoomed view of the past does not move


def test_a_relayout_that_is_not_a_zoom_changes_nothing(client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    response = call(f"{ids.ASSET_STACKED}.figure",
                    main_inputs(plants[0].asset_id, "1d", plants[0], {"autosize": True}),
                    changed=f"{ids.ASSET_STACKED}.relayoutData")
    assert ids.ASSET_STACKED not in (response.get_json() or {}).get("response", {})


def test_another_suppliers_asset_shows_nothing(client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    beta = plants[1]
    body = json.dumps(call(f"{ids.ASSET_STACKED}.figure", main_inputs(beta.asset_id, "1d", beta)).get_json())
    assert "not available" in body and "torque" not in body
    page = json.dumps(call(f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": beta.asset_id}).get_json())
    # One calm "not found", not a page of empty plots; nothing of the other supplier's asset.
    assert "This asset is not here" in page and "Beta Farm" not in page and "torque" not in page
    assert ids.ASSET_STACKED not in page


def test_live_updates_append_new_readings_as_a_patch(client, tenants, plants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    alpha = plants[0]
    first = call(f"{ids.ASSET_STACKED}.figure", main_inputs(alpha.asset_id, "1d", alpha)).get_json()
    view = first["response"][ids.ASSET_VIEW]["data"]
    assert view["live"] is True
    with db.sensors_engine.begin() as conn:  # three new minutes arrive
        write_sensor_readings(conn, readings(alpha, pd.Timestamp(END), pd.Timestamp(END + timedelta(minutes=3))))
    response = call(f"{ids.ASSET_LIVE_NOTE}.children", {f"{ids.ASSET_LIVE}.n_intervals": 1, f"{ids.ASSET_VIEW}.data": view})
    body = response.get_json()["response"]
    patch = body[ids.ASSET_STACKED]["figure"]
    assert patch["__dash_patch_update"] == "__dash_patch_update"
    extends = [op for op in patch["operations"] if op["operation"] == "Extend"]
    assert len(extends) == 6  # x and y of three traces
    assert all(len(op["params"]["value"]) == 3 for op in extends)
    assert body[ids.ASSET_VIEW]["data"]["last"][f"s:{alpha.sensor_ids[0]}"].startswith("2026-11-20T12:02")
    again = call(f"{ids.ASSET_LIVE_NOTE}.children",
                 {f"{ids.ASSET_LIVE}.n_intervals": 2, f"{ids.ASSET_VIEW}.data": body[ids.ASSET_VIEW]["data"]})
    assert ids.ASSET_STACKED not in again.get_json()["response"]  # nothing new: nothing sent


def test_the_visible_data_downloads_as_csv(client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    alpha = plants[0]
    view = call(f"{ids.ASSET_STACKED}.figure", main_inputs(alpha.asset_id, "1h", alpha)).get_json()["response"][ids.ASSET_VIEW]["data"]
    response = call(f"{ids.ASSET_DOWNLOAD}.data", {f"{ids.ASSET_CSV}.n_clicks": 1, f"{ids.ASSET_VIEW}.data": view})
    download = response.get_json()["response"][ids.ASSET_DOWNLOAD]["data"]
    assert download["filename"].endswith(".csv")
    lines = download["content"].strip().splitlines()
    assert lines[0] == "time_uk,Torque (Nm),Speed (Nm),Oil temperature (Nm)"
    assert len(lines) == 1 + 60  # the hour's 60 minutes


def test_chosen_range_presets_end_at_the_newest_reading_and_custom_days_are_uk_days() -> None:
    from app.asset_view import AssetInfo

    info = AssetInfo(1, "A", "S", "drivetrain", "Drivetrain", "", (), (), None, END, ())
    start, end = chosen_range(info, "1d", None, None)
    assert end - start == timedelta(days=1) and end > END
    start, end = chosen_range(info, "custom", "2026-07-01", "2026-07-02")
    assert start == utc(2026, 6, 30, 23) and end == utc(2026, 7, 2, 23)  # BST days


def test_zoomed_range_reads_every_form_plotly_sends() -> None:
    assert zoomed_range({"xaxis2.range[0]": "2026-01-01 10:00", "xaxis2.range[1]": "2026-01-01 11:00"}) == (
        utc(2026, 1, 1, 10), utc(2026, 1, 1, 11))
    assert zoomed_range({"xaxis.range": ["2026-01-01 10:00", "2026-01-01 12:00"]}) == (
        utc(2026, 1, 1, 10), utc(2026, 1, 1, 12))
    assert zoomed_range({"xaxis.autorange": True}) is True
    assert zoomed_range({"dragmode": "pan"}) is None
    assert zoomed_range({"xaxis.range[0]": "nonsense", "xaxis.range[1]": "x"}) is None


def test_the_meter_page_draws_periods_and_the_cumulative_cost(client, db) -> None:  # type: ignore[no-untyped-def]
    alpha = add_tenant(db, "Alpha Energy")
    staff = add_supplier(db)  # a second supplier, with its own priced meter
    reads = [(utc(2024, 10, 1, 9), "1000"), (utc(2024, 11, 1, 9), "1100"), (utc(2024, 12, 1, 9), "1250")]
    with db.Session() as session, session.begin():
        session.add(Tariff(supplier_id=alpha.supplier_id, code="STD-E", name="Standard", fuel="electricity",
                           unit_rate_p_per_kwh=CAP.unit_rate_p_per_kwh,
                           standing_charge_p_per_day=CAP.standing_charge_p_per_day, vat_rate=CAP.vat_rate,
                           prices_include_vat=CAP.prices_include_vat, valid_from=CAP.valid_from, valid_to=CAP.valid_to))
    meter = add_priced_meter(db, alpha.supplier_id, serial="E-1", reads=reads)
    other = add_priced_meter(db, staff.supplier_id, serial="E-2", reads=reads)
    call = dash_as(client, alpha)
    figure = call(f"{ids.METER_CHART}.figure", {f"{ids.METER_ID}.data": meter}).get_json()["response"][ids.METER_CHART]["figure"]
    bars = [t for t in figure["data"] if t["type"] == "bar"]
    line = next(t for t in figure["data"] if t["type"] == "scatter")
    assert [len(b["x"]) for b in bars] == [2, 2]
    assert bars[0]["y"] == [100.0, 150.0]  # kWh of each period
    cost = bars[1]["y"]
    assert line["yaxis"] == "y2" and line["y"] == pytest.approx([cost[0], cost[0] + cost[1]], abs=0.011)
    assert figure["layout"]["yaxis2"]["title"]["text"] == "Cumulative cost (£)"
    forged = json.dumps(call(f"{ids.METER_CHART}.figure", {f"{ids.METER_ID}.data": other}).get_json())
    assert "not available" in forged and "E-2" not in forged


def test_forecast_runs_separated_by_a_gap_are_not_joined_by_a_line() -> None:
    from app.asset_view import _with_gaps

    first = pd.date_range("2026-01-01 00:10", periods=6, freq="10min", tz="UTC")
    second = pd.date_range("2026-01-01 02:10", periods=6, freq="10min", tz="UTC")
    frame = pd.DataFrame({"ts": first.append(second), "value": range(12), "lower": 0.0, "upper": 1.0})
    out = _with_gaps(frame)
    assert len(out) == 13 and out["value"].isna().sum() == 1
    gap = out[out["value"].isna()].iloc[0]
    assert first[-1] < gap["ts"] < second[0]
    assert len(_with_gaps(frame.iloc[:6])) == 6  # one run: nothing added


def forecast_inputs(asset_id: int, key_: str | None) -> dict[str, Any]:
    return {f"{ids.ASSET_ID}.data": asset_id, f"{ids.ASSET_RANGE}.value": "1d",
            f"{ids.ASSET_CUSTOM}.start_date": None, f"{ids.ASSET_CUSTOM}.end_date": None,
            f"{ids.ASSET_TARGET}.value": key_}


def test_the_forecast_plot_shows_one_forecast_a_time_furthest_ahead_in_the_past_newest_in_the_future(
        client, tenants, plants, db) -> None:  # type: ignore[no-untyped-def]
    alpha = plants[0]
    step = timedelta(minutes=10)
    version = add_version(db, alpha.asset_id, "torque", step_minutes=10, horizon_steps=3,
                          report=backtest("ridge", improvement=0.5, steps=3, step_s=600))
    add_version(db, alpha.asset_id, "destruction_rate", version=1, mode="surrogate", step_minutes=10,
                horizon_steps=0, report=backtest("gbm", best_baseline="mean", improvement=0.4, steps=0))
    # 11:00 to 12:00 have happened (the newest reading is 11:59, in the step labelled 12:00):
    # each was forecast 10, 20 and 30 minutes ahead. 12:10 is still to come: forecast 30
    # minutes ahead at 11:40, then 10 minutes ahead at 12:00.
    happened = [END - step * k for k in range(6, -1, -1)]
    rows = [(ts, h, 1000.0 + h, ts - step * h) for ts in happened for h in (1, 2, 3)]
    rows += [(END + step, 3, 2003.0, END - step * 2), (END + step, 1, 2001.0, END)]
    add_predictions(db, version, rows)
    call = dash_as(client, tenants[0])

    body = call(f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": alpha.asset_id}).get_json()["response"]
    options = component(body[ids.ASSET_BODY]["children"], ids.ASSET_TARGET)["options"]
    assert {o["value"]: o["label"] for o in options} == {
        "surrogate:destruction_rate": "destruction rate · surrogate", "forecast:torque": "torque · forecast"}

    response = call(f"{ids.ASSET_FORECAST}.figure", forecast_inputs(alpha.asset_id, "forecast:torque"))
    figure = figure_of(response, ids.ASSET_FORECAST)
    forecast = next(t for t in figure["data"] if t["name"] == "Forecast")
    assert forecast["y"] == [1003.0] * 7 + [2001.0]  # one point a time, one trace
    assert len(forecast["x"]) == len(set(forecast["x"])) == 8
    details = json.dumps(response.get_json()["response"][ids.ASSET_FORECAST_METRICS], ensure_ascii=False)
    assert "7 (each time's forecast made furthest ahead)" in details  # the seven times that happened, once each
    assert "v1 (active), forecast, model: ridge regression" in details
    assert "30 min ahead in 10-min steps" in details
    assert "ridge regression, 50% lower MAE than seasonal naive (a week before)" in details
    # every model of the asset, with its mode and what serves it
    assert "destruction rate · surrogate" in details and "model: gradient-boosted trees" in details
    assert "estimated from the sensors at the same time, 10-min steps" in details


def test_another_suppliers_forecasts_and_models_never_show(client, tenants, plants, db) -> None:  # type: ignore[no-untyped-def]
    beta = plants[1]
    version = add_version(db, beta.asset_id, "torque", report=backtest("gbm", improvement=0.61))
    add_predictions(db, version, [(END - timedelta(minutes=30), 1, 123.0, END - timedelta(hours=1))])
    call = dash_as(client, tenants[0])
    body = json.dumps(call(f"{ids.ASSET_FORECAST}.figure", forecast_inputs(beta.asset_id, "forecast:torque")).get_json())
    assert "not available" in body and "gradient-boosted" not in body and "123" not in body
    page = json.dumps(call(f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": beta.asset_id}).get_json())
    assert "torque" not in page and "gradient-boosted" not in page


def test_the_forecast_a_time_shows_is_chosen_in_the_database_for_the_supplier_only(any_db: Database) -> None:
    from app.asset_view import asset_info, forecast_view

    plant = add_plant(any_db, ["torque"], name="Alpha Farm")
    stranger = add_plant(any_db, ["torque"], name="Beta Farm")  # a supplier of its own
    with any_db.sensors_engine.begin() as conn:  # the newest reading: 11:59
        write_sensor_readings(conn, readings(plant, pd.Timestamp(END - timedelta(hours=2)), pd.Timestamp(END)))
    step = timedelta(minutes=10)
    version = add_version(any_db, plant.asset_id, "torque", step_minutes=10, horizon_steps=3,
                          report=backtest(steps=3, step_s=600))
    add_version(any_db, plant.asset_id, "torque", version=2, status="retired", report=backtest(steps=3, step_s=600))
    rows = [(ts, h, 1000.0 + h, ts - step * h) for ts in (END - step * k for k in range(6, -1, -1)) for h in (1, 2, 3)]
    add_predictions(any_db, version, rows + [(END + step, 3, 2003.0, END - step * 2), (END + step, 1, 2001.0, END)])
    with any_db.Session() as session:
        info = asset_info(session, any_db.sensors_engine, plant.supplier_id, plant.asset_id)
    view = forecast_view(any_db, plant.supplier_id, 10, info, "torque", "forecast", END - timedelta(days=1),
                         END + timedelta(hours=2))
    assert list(view.predicted) == [1003.0] * 7 + [2001.0]
    assert view.metrics is not None and view.metrics.n == 7
    assert view.served is not None and view.served.verdict.startswith("ridge regression, 75% lower MAE")
    assert [(m.target, m.mode) for m in view.models] == [("torque", "forecast")]
    elsewhere = forecast_view(any_db, stranger.supplier_id, 10, info, "torque", "forecast",
                              END - timedelta(days=1), END + timedelta(hours=2))
    assert len(elsewhere.ts) == 0 and elsewhere.served is None and elsewhere.models == ()


def test_a_link_with_a_range_opens_the_page_on_it_and_a_visit_draws_every_plot_at_once(
        client, tenants, plants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    page = client.get(f"/assets/{plants[0].asset_id}?range=7d")
    assert page.status_code == 200

    def body(first_range: Any) -> Any:
        values = {f"{ids.ASSET_ID}.data": plants[0].asset_id, f"{ids.ASSET_FIRST_RANGE}.data": first_range}
        return call(f"{ids.ASSET_BODY}.children", values).get_json()["response"][ids.ASSET_BODY]["children"]

    week = body("7d")
    assert component(week, ids.ASSET_RANGE)["value"] == "7d"
    assert "last week" in component(week, ids.ASSET_STACKED)["figure"]["layout"]["title"]["text"]
    # One request draws every plot: nothing is left for a second round trip.
    for graph in (ids.ASSET_STACKED, ids.ASSET_SINGLE, ids.ASSET_CALCS, ids.ASSET_PAIR, ids.ASSET_DUAL,
                  ids.ASSET_FORECAST, ids.ASSET_RESIDUALS, ids.ASSET_BATCH_GRAPH):
        assert component(week, graph)["figure"]["layout"]["title"]["text"]
    assert component(body("2y"), ids.ASSET_RANGE)["value"] == "1d"  # not a preset: the default
