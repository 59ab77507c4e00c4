"""The Models page's callbacks: scoped to the supplier; Train now is for admins and queues a job."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.db.models import Job
from tests.conftest import add_plant, dash_as


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
