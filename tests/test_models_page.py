"""The Models page's callbacks: scoped to the supplier; what serves in each mode, the baseline it
beat or the baseline that serves, its backtest, validation and history; Train now is for admins
and queues a job."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Job, Validation
from app.model_registry import slots, train_mode
from tests.browser_support import log_in, wait
from tests.conftest import add_plant, dash_as
from tests.model_rows import TRAINED, add_validation, add_version, backtest

pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths, browser, portal: one browser test


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


def test_the_asset_list_holds_only_the_suppliers_assets(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    add_plant(db, ["water_temperature"], asset_type="boiler", name="Alpha Works",
              supplier_id=tenants[0].supplier_id)
    add_plant(db, ["water_temperature"], asset_type="boiler", name="Beta Yard",
              supplier_id=tenants[1].supplier_id)
    body = text_of(dash_as(client, tenants[0], "viewer")("models-asset.options", {"url.pathname": "/models"}))
    assert "Alpha Works" in body and "Beta Yard" not in body


def test_another_suppliers_asset_shows_nothing(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    theirs = add_plant(db, ["water_temperature"], asset_type="boiler", name="Beta Yard",
                       supplier_id=tenants[1].supplier_id).asset_id
    body = text_of(dash_as(client, tenants[0], "admin")("models-versions.children",
                                                     {"models-asset.value": theirs}))
    assert "This asset is not available." in body


def test_train_now_queues_one_job_for_an_admin(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["water_temperature"], asset_type="boiler", name="Alpha Works",
                     supplier_id=tenants[0].supplier_id).asset_id
    call = dash_as(client, tenants[0], "admin")
    values = {"models-train.n_clicks": 1, "models-asset.value": mine,
              "models-target.value": "water_temperature", "models-poll.disabled": True}
    first = text_of(call("models-progress.value", values, changed="models-train.n_clicks"))
    text_of(call("models-progress.value", values, changed="models-train.n_clicks"))  # a second click
    assert "Waiting for a worker" in first
    with db.Session() as session:
        queued = session.scalars(select(Job)).all()
    assert len(queued) == 1 and queued[0].task_id and queued[0].status == "queued"
    # polling (and a page reload) shows the same job's progress
    assert "Waiting for a worker" in text_of(call("models-progress.value", {
        "models-poll.n_intervals": 1, "models-asset.value": mine}, changed="models-poll.n_intervals"))


def test_train_now_is_refused_to_non_admins(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["water_temperature"], asset_type="boiler", name="Alpha Works",
                     supplier_id=tenants[0].supplier_id).asset_id
    body = text_of(dash_as(client, tenants[0], "operator")("models-progress.value", {
        "models-train.n_clicks": 1, "models-asset.value": mine,
        "models-target.value": "water_temperature"}, changed="models-train.n_clicks"))
    assert "Only admins can start training." in body
    with db.Session() as session:
        assert session.scalars(select(Job)).all() == []


def versions_of(client, tenant, asset_id: int, target: str) -> str:  # type: ignore[no-untyped-def]
    return text_of(dash_as(client, tenant)("models-versions.children", {
        "models-asset.value": asset_id, "models-target.value": target}))


def test_a_served_model_shows_its_horizon_the_baseline_it_beat_its_backtest_and_validation(
        client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_version(db, mine, "demand", version=1, status="retired", report=backtest(), pruned_at=TRAINED)
    served = add_version(db, mine, "demand", version=2, report=backtest("ridge", improvement=0.75))
    add_validation(db, served, details={"horizons": [], "p_value": 0.42, "expected": 0.9, "backtest_mae": 151})
    body = versions_of(client, tenants[0], mine, "demand")
    assert "Demand · forecast" in body
    assert "Serving: v2 · model: ridge regression · 60 min ahead in 30-min steps" in body
    assert "ridge regression, 75% lower MAE than seasonal naive (a week before)" in body
    assert "no model beat the baselines" not in body
    # the backtest per horizon: 30 and 60 minutes ahead, coverage against the nominal
    assert body.count("(nominal 90%)") >= 2 and "30 min ahead" in body and "60 min ahead" in body
    assert "152.2" in body and "0.63%" in body  # h=2: MAE 150.2 + 2, MAPE 0.0063
    assert "keep: 30 pairs, MAPE 0.7%, coverage 87% (nominal 90%), binomial p 0.42" in body
    assert "v2 active · v1 retired (file pruned)" in body
    assert "pruned " in body  # the history table marks the pruned file instead of its hash


def test_when_a_baseline_serves_the_page_says_no_model_beat_the_baselines(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_version(db, mine, "demand", report=backtest("seasonal_weekly", "baseline", improvement=0.0))
    body = versions_of(client, tenants[0], mine, "demand")
    assert "no model beat the baselines; seasonal naive (a week before) serves" in body
    assert "v1 · baseline: seasonal naive (a week before)" in body
    assert '"color": "warning"' in body  # said as a warning, not buried in a table
    assert "lower MAE than" not in body


def test_a_surrogate_shows_its_mode_beside_the_forecast_of_the_same_target(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["torque"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_version(db, mine, "destruction_rate", version=1, report=backtest("gbm", improvement=0.3))
    add_version(db, mine, "destruction_rate", version=2, mode="surrogate", step_minutes=10, horizon_steps=0,
                report=backtest("gbm", best_baseline="mean", improvement=0.4, steps=0))
    body = versions_of(client, tenants[0], mine, "destruction_rate")
    assert "Destruction rate · forecast" in body and "Destruction rate · surrogate" in body
    assert "estimated from the sensors at the same time, 10-min steps" in body
    assert "gradient-boosted trees, 40% lower MAE than training mean" in body
    assert "same time" in body and '"data-mode": "surrogate"' in body


def test_a_version_made_before_backtests_still_renders_with_its_hold_out(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    old = add_version(db, mine, "demand", status="retired", report=None, step_minutes=None, horizon_steps=None)
    add_validation(db, old, details=None)
    body = versions_of(client, tenants[0], mine, "demand")
    assert "RandomForestRegressor; made before models were compared with baselines" in body
    assert "nothing serves: the newest version, v1, is retired" in body
    assert "hold-out" in body and "3.25" in body and "4.20%" in body
    assert "keep: 30 pairs, MAPE 0.7%, coverage 87%" in body and "binomial" not in body


def test_another_suppliers_models_never_show(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    theirs = add_plant(db, ["demand"], name="Beta Yard", supplier_id=tenants[1].supplier_id).asset_id
    add_version(db, theirs, "beta_secret_target", report=backtest("gbm", improvement=0.61))
    for asset_id, target in ((theirs, "beta_secret_target"), (mine, "beta_secret_target")):
        body = versions_of(client, tenants[0], asset_id, target)
        assert "beta_secret_target" not in body
        assert "61% lower MAE" not in body and "gradient-boosted trees" not in body
    with db.Session() as session:
        assert [s.target for s in slots(session, tenants[0].supplier_id)] == []
        assert [s.target for s in slots(session, tenants[1].supplier_id)] == ["beta_secret_target"]


def test_train_now_trains_a_surrogate_only_target_as_a_surrogate(db, tenants) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["torque"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_version(db, mine, "destruction_rate", mode="surrogate", report=backtest("gbm", steps=0))
    add_version(db, mine, "torque", version=1, report=backtest())
    with db.Session() as session:
        assert train_mode(session, tenants[0].supplier_id, mine, "destruction_rate") == "surrogate"
        assert train_mode(session, tenants[0].supplier_id, mine, "torque") == "forecast"


def test_slots_hold_each_suppliers_versions_and_their_newest_validation(any_db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import add_tenant

    alpha, beta = add_tenant(any_db, "Alpha Energy"), add_tenant(any_db, "Beta Power")
    mine = add_plant(any_db, ["demand"], name="Alpha Works", supplier_id=alpha.supplier_id).asset_id
    theirs = add_plant(any_db, ["demand"], name="Beta Yard", supplier_id=beta.supplier_id).asset_id
    old = add_version(any_db, mine, "demand", version=1, status="retired", report=None)
    new = add_version(any_db, mine, "demand", version=2, report=backtest())
    add_version(any_db, mine, "demand", version=3, mode="surrogate", report=backtest("gbm", steps=0))
    add_version(any_db, theirs, "demand", report=backtest())
    add_validation(any_db, old, window_to=TRAINED)
    add_validation(any_db, new, disposition="retrain", window_to=TRAINED + timedelta(days=3))
    with any_db.Session() as session:
        found = slots(session, alpha.supplier_id)
        assert [(s.asset_label, s.target, s.mode, [v.version for v in s.versions]) for s in found] == [
            ("Alpha Works · Turbine 1", "demand", "forecast", [2, 1]),
            ("Alpha Works · Turbine 1", "demand", "surrogate", [3])]
        assert found[0].latest is not None and (found[0].latest[0].disposition, found[0].latest[1]) == ("retrain", 2)
        assert found[1].latest is None
        assert slots(session, alpha.supplier_id, theirs) == []


def test_the_validations_shown_are_the_chosen_targets_though_every_target_has_a_v1(
        client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["torque", "speed"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_validation(db, add_version(db, mine, "torque", report=backtest()), disposition="keep")
    add_validation(db, add_version(db, mine, "speed", report=backtest()), disposition="retrain")
    shown = text_of(dash_as(client, tenants[0])("models-validations.children", {
        "models-asset.value": mine, "models-target.value": "torque"}))
    assert "keep" in shown and "retrain" not in shown


# -- the validation chart -----------------------------------------------------------------------


def add_check(db, version_id: int, at: datetime, mape: float | None, coverage: float | None) -> None:  # type: ignore[no-untyped-def]
    """A validation of ``version_id`` whose window ended ``at``, with its MAPE and coverage
    (shares, as the service stores them) and a nominal coverage of 90 %."""
    with db.Session() as session, session.begin():
        session.add(Validation(model_version_id=version_id, window_from=at - timedelta(hours=6), window_to=at,
                               n=30, mae=1.0, rmse=1.2, mape=mape, r2=0.9, coverage=coverage, disposition="keep",
                               reason="as the backtest promised", details={"expected": 0.9}))


def chart_of(client, tenant, asset_id: int, target: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = dash_as(client, tenant)("models-chart.figure", {"models-asset.value": asset_id,
                                                               "models-target.value": target})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]["models-chart"]["figure"]  # type: ignore[no-any-return]


def panels(figure: dict[str, Any]) -> dict[str, dict[str, tuple[list[str], list[float | None]]]]:
    """Each y axis's traces (by axis title): trace name -> its times and values (to 6 places)."""
    layout = figure["layout"]
    found: dict[str, dict[str, tuple[list[str], list[float | None]]]] = {}
    for trace in figure["data"]:
        axis = "yaxis" + trace.get("yaxis", "y")[1:]
        values = [None if v is None else round(v, 6) for v in trace["y"]]
        found.setdefault(layout[axis]["title"]["text"], {})[trace["name"]] = (trace["x"], values)
    return found


def test_the_validation_chart_shows_each_versions_history_on_axes_that_do_not_overlap(
        client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand", "speed"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    old = add_version(db, mine, "demand", version=1, status="retired", report=backtest())
    new = add_version(db, mine, "demand", version=2, report=backtest())
    day = TRAINED + timedelta(days=2)  # 3 Nov, UK time = UTC
    add_check(db, old, day, 0.005, 0.91)
    add_check(db, old, day + timedelta(days=1), 0.009, 0.80)
    add_check(db, new, day + timedelta(days=2), 0.003, None)  # coverage not measured: a gap, not 0 %
    add_check(db, add_version(db, mine, "speed", report=backtest()), day, 0.5, 0.5)  # another target's
    figure = chart_of(client, tenants[0], mine, "demand")

    assert panels(figure) == {
        "MAPE (%)": {"v1 (forecast)": (["2026-11-03T00:00:00", "2026-11-04T00:00:00"], [0.5, 0.9]),
                     "v2 (forecast)": (["2026-11-05T00:00:00"], [0.3])},
        "Coverage (%)": {"v1 (forecast)": (["2026-11-03T00:00:00", "2026-11-04T00:00:00"], [91.0, 80.0]),
                         "v2 (forecast)": (["2026-11-05T00:00:00"], [None])}}
    layout = figure["layout"]
    top, bottom = layout["yaxis"], layout["yaxis2"]
    assert "overlaying" not in bottom and "overlaying" not in top
    assert bottom["domain"][1] < top["domain"][0]  # one panel above the other, a gap between
    assert "demand" in layout["title"]["text"] and "validation" in layout["xaxis2"]["title"]["text"].lower()
    nominal = [s for s in layout["shapes"] if s["yref"].startswith("y2")]
    assert [(s["y0"], s["y1"]) for s in nominal] == [(90.0, 90.0)]  # what coverage aims at, dashed


def test_a_single_validation_is_drawn_as_labelled_markers_with_a_note(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    add_check(db, add_version(db, mine, "demand", report=backtest()), TRAINED + timedelta(days=2), 0.0069, 0.875)
    figure = chart_of(client, tenants[0], mine, "demand")

    assert [t["text"] for t in figure["data"]] == [["0.69 %"], ["88 %"]]  # each value written by its point
    assert all("markers" in t["mode"] and t["marker"]["size"] >= 8 for t in figure["data"])
    assert "One validation so far" in figure["layout"]["title"]["subtitle"]["text"]
    assert figure["layout"]["xaxis"]["range"] == ["2026-11-02T12:00:00", "2026-11-03T12:00:00"]  # a day around it


@pytest.mark.browser
def test_the_validation_chart_draws_its_panels_apart_and_every_validation_as_a_marker(
        portal, browser, tenants, db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id).asset_id
    version = add_version(db, mine, "demand", report=backtest())
    for day, (mape, coverage) in enumerate([(0.004, 0.9), (0.006, 0.85), (0.005, 0.95)]):
        add_check(db, version, TRAINED + timedelta(days=2 + day), mape, coverage)
    log_in(browser, portal, *tenants[0].users["viewer"], path="/models")
    drawn = wait(browser).until(lambda d: d.execute_script(CHART_JS))
    top, bottom = drawn["panels"]
    assert bottom["top"] >= top["bottom"]  # the coverage panel below the MAPE panel, not over it
    assert drawn["markers"] == 6  # three validations, each in both panels
    assert drawn["ytitles"] == ["MAPE (%)", "Coverage (%)"]


# The chart as plotly drew it: its two panels' boxes, the markers shown, the y axes' titles.
CHART_JS = """
const g = document.querySelector('#models-chart .js-plotly-plot');
if (!g || !g._fullData || !g._fullData.length) return null;
const box = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
const panels = [...g.querySelectorAll('.draglayer .nsewdrag')].map(box).sort((a, b) => a.top - b.top);
const markers = [...g.querySelectorAll('.scatterlayer .points path')].filter(e => e.getBBox().width > 0).length;
const ytitles = [...g.querySelectorAll('text.ytitle, text.y2title')].map(e => e.textContent);
return panels.length == 2 && markers ? {panels, markers, ytitles} : null;
"""
