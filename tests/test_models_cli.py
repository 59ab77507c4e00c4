"""``twin models list``: per asset, target and mode, what serves and against which baseline, the
backtest per horizon, the latest validation and the version history; one supplier at a time
when asked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from tests.conftest import Tenant, add_plant
from tests.model_rows import TRAINED, add_validation, add_version, backtest


def models_list(home: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["models", "list", *args], env={"TWIN_HOME": str(home)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_served_model_is_listed_with_the_baseline_it_beat_and_its_backtest(
        tmp_path: Path, db, tenants: tuple[Tenant, Tenant]) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id)
    add_version(db, plant.asset_id, "demand", version=1, status="retired", report=backtest(), pruned_at=TRAINED)
    served = add_version(db, plant.asset_id, "demand", version=2, report=backtest("ridge", improvement=0.75))
    add_validation(db, served, details={"horizons": [], "p_value": 0.42, "expected": 0.9, "backtest_mae": 151})
    out = models_list(tmp_path)
    assert f"asset {plant.asset_id} Alpha Works · Turbine 1: demand (forecast)" in out
    assert "serving    v2 · model: ridge regression · 60 min ahead in 30-min steps" in out
    assert "verdict    ridge regression, 75% lower MAE than seasonal naive (a week before)" in out
    backtest_lines = [line for line in out.splitlines() if "min ahead" in line and "MAE" in line]
    assert len(backtest_lines) == 2 and "30 min ahead" in backtest_lines[0] and "60 min ahead" in backtest_lines[1]
    assert all("coverage 85% (nominal 90%)" in line for line in backtest_lines)
    assert ("validated  v2 2026-11-03 00:00 UTC, keep: 30 pairs, MAPE 0.7%, coverage 87% (nominal 90%), "
            "binomial p 0.42") in out
    assert "versions   v2 active · v1 retired (file pruned)" in out


def test_a_serving_baseline_a_surrogate_and_an_old_version_are_each_said_plainly(
        tmp_path: Path, db, tenants: tuple[Tenant, Tenant]) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id)
    add_version(db, plant.asset_id, "demand", report=backtest("seasonal_weekly", "baseline", improvement=0.0))
    add_version(db, plant.asset_id, "destruction_rate", mode="surrogate", step_minutes=10, horizon_steps=0,
                report=backtest("gbm", best_baseline="mean", improvement=0.4, steps=0))
    add_version(db, plant.asset_id, "oil_temperature", status="retired", report=None,
                step_minutes=None, horizon_steps=None)
    out = models_list(tmp_path)
    assert "verdict    no model beat the baselines; seasonal naive (a week before) serves" in out
    assert "destruction_rate (surrogate)" in out
    assert "estimated from the sensors at the same time, 10-min steps" in out
    assert "gradient-boosted trees, 40% lower MAE than training mean" in out
    assert "oil_temperature (forecast)" in out
    assert "nothing serves: the newest version, v1, is retired" in out
    assert "RandomForestRegressor; made before models were compared with baselines" in out
    assert "hold-out" in out and "3.25" in out
    assert "validated  not yet" in out


def test_one_suppliers_list_never_shows_another_suppliers_models(
        tmp_path: Path, db, tenants: tuple[Tenant, Tenant]) -> None:  # type: ignore[no-untyped-def]
    alpha = add_plant(db, ["demand"], name="Alpha Works", supplier_id=tenants[0].supplier_id)
    beta = add_plant(db, ["demand"], name="Beta Yard", supplier_id=tenants[1].supplier_id)
    add_version(db, alpha.asset_id, "demand", report=backtest())
    add_version(db, beta.asset_id, "beta_only_target", report=backtest("gbm"))
    out = models_list(tmp_path, "--supplier", "Alpha Energy")
    assert "Alpha Works" in out and "Beta Yard" not in out and "beta_only_target" not in out
    # --asset names an asset of another supplier: nothing of it shows
    assert "beta_only_target" not in models_list(tmp_path, "--supplier", "Alpha Energy", "--asset", str(beta.asset_id))
    everyone = models_list(tmp_path)
    assert everyone.index("Alpha Energy") < everyone.index("Alpha Works") < everyone.index("Beta Power") \
        < everyone.index("beta_only_target")
    refused = CliRunner().invoke(main, ["models", "list", "--supplier", "Nobody"], env={"TWIN_HOME": str(tmp_path)})
    assert refused.exit_code == 1 and "no supplier 'Nobody'" in refused.output


def test_no_models_says_how_to_train_one(tmp_path: Path, db) -> None:  # type: ignore[no-untyped-def]
    assert "no models yet" in models_list(tmp_path)
