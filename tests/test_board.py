"""The Board view and the Overview: the schematic's layout and figure, and both pages' callbacks
through Dash's real endpoint as a logged-in user (only the supplier's own assets, ever)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.db.base import utcnow
from app.db.models import Alert, Asset, Site
from app.health import AssetHealth, SiteHealth
from layouts.board import arrange, site_figure
from tests.conftest import Tenant, dash_as


def asset(id: int, name: str, upstream: int | None = None, level: str = "green",
          asset_type: str = "pressure_tank", concerns: list[str] | None = None) -> AssetHealth:
    return AssetHealth(
        id=id, name=name, asset_type=asset_type, type_label=asset_type.replace("_", " ").title(),
        site_id=1, site_name="Riverside", upstream_id=upstream, level=level, score=0,  # type: ignore[arg-type]
        concerns=concerns or [], open_alerts_critical=0, open_alerts_warning=0,
        model_status="Forecasts checked and accurate", damage=None, damage_label=None,
        damage_unit=None, damage_fraction=None, latest_reading_at=None, sensors=1,
    )


# The demo's heat plant: a boiler feeds two tanks; one tank feeds a pipeline, and that a heat
# exchanger.
RIVERSIDE = SiteHealth(1, "Riverside Heat Plant", "Nottingham", [
    asset(1, "Boiler B1", asset_type="boiler"),
    asset(2, "Tank T1", upstream=1),
    asset(3, "Tank T2", upstream=1, level="amber", concerns=["1 warning open: sensor error"]),
    asset(4, "Pipeline P1", upstream=2, level="red", asset_type="pipeline",
          concerns=["2 critical alerts open: leakage", "No data for 3 hours", "No forecasting model yet"]),
    asset(5, "Heat exchanger HX1", upstream=4, asset_type="heat_exchanger"),
])


def test_assets_are_laid_out_by_depth_along_the_flow_and_stacked_across_it() -> None:
    placed = {p.asset.name: (p.depth, p.slot) for p in arrange(RIVERSIDE.assets)}
    assert placed == {
        "Boiler B1": (0, 0.5),  # between the two tanks it feeds
        "Tank T1": (1, 0), "Tank T2": (1, 1),
        "Pipeline P1": (2, 0), "Heat exchanger HX1": (3, 0),
    }


def test_a_loop_or_a_missing_upstream_in_the_data_still_lays_out_every_asset_once() -> None:
    looped = [asset(1, "A", upstream=2), asset(2, "B", upstream=1), asset(3, "C", upstream=99),
              asset(4, "D", upstream=4)]
    placed = arrange(looped)
    assert sorted(p.asset.name for p in placed) == ["A", "B", "C", "D"]
    assert len({p.slot for p in placed if p.depth == 0}) == len([p for p in placed if p.depth == 0])


def markers(figure: Any) -> Any:
    return next(t for t in figure["data"] if t.get("mode") == "markers")


def test_the_figure_has_one_clickable_marker_per_asset_a_title_hover_and_no_axes() -> None:
    figure = site_figure(RIVERSIDE, 1280).to_plotly_json()
    points = markers(figure)
    assert list(points["customdata"]) == [1, 2, 3, 4, 5]
    assert "Pipeline P1" in points["hovertext"][3] and "Act now" in points["hovertext"][3]
    assert "Pipeline" in points["hovertext"][3]
    layout = figure["layout"]
    assert "Riverside Heat Plant" in layout["title"]["text"]
    assert layout["xaxis"]["visible"] is False and layout["yaxis"]["visible"] is False
    # a shape per asset, an arrow per upstream link, the biggest concerns written out in words
    assert len(layout["shapes"]) == 5
    assert len([a for a in layout["annotations"] if a.get("showarrow")]) == 4
    labels = " ".join(a["text"] for a in layout["annotations"]).replace("<br>", " ")
    assert "2 critical alerts open: leakage" in labels and "+1 more" in labels
    # flow left to right on a wide screen: the boiler left of the heat exchanger
    assert points["x"][0] < points["x"][4] and points["x"][1] == points["x"][2]


def test_on_a_phone_the_flow_runs_top_to_bottom() -> None:
    points = markers(site_figure(RIVERSIDE, 390).to_plotly_json())
    assert points["y"][0] > points["y"][1] > points["y"][3] > points["y"][4]
    assert points["y"][1] == points["y"][2]  # the two tanks side by side


# -- through the Dash endpoint ------------------------------------------------------------


def body(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


def add_site(db: Database, tenant: Tenant, site: str, assets: list[tuple[str, str | None]]) -> dict[str, int]:
    """A site of the tenant with assets (name, upstream name); returns their ids by name, and the
    site's id as "site"."""
    ids: dict[str, int] = {}
    with db.Session() as session, session.begin():
        row = Site(supplier_id=tenant.supplier_id, name=site, location="Derby")
        session.add(row)
        session.flush()
        for name, upstream in assets:
            made = Asset(site_id=row.id, name=name, asset_type="boiler", parameters={},
                         upstream_id=ids[upstream] if upstream else None)
            session.add(made)
            session.flush()
            ids[name] = made.id
        ids["site"] = row.id
    return ids


@pytest.fixture
def estates(db: Database, tenants: tuple[Tenant, Tenant]) -> tuple[dict[str, int], dict[str, int]]:
    alpha, beta = tenants
    mine = add_site(db, alpha, "Alpha Works", [("Alpha Boiler", None), ("Alpha Tank", "Alpha Boiler")])
    theirs = add_site(db, beta, "Beta Yard", [("Beta Boiler", None)])
    with db.Session() as session, session.begin():
        session.add(Alert(asset_id=mine["Alpha Tank"], started_at=utcnow(), kind="rule", severity="critical",
                          classification="leakage", message="leak", status="open"))
    return mine, theirs


def test_the_board_draws_only_the_users_own_assets(client, tenants, estates) -> None:  # type: ignore[no-untyped-def]
    mine, _theirs = estates
    out = body(dash_as(client, tenants[0])("board-sites.children", {"board-width.data": 1280}))
    text = json.dumps(out)
    assert "Alpha Boiler" in text and "Beta" not in text
    assert "1 of 2 assets need action now" in text
    graphs = [c for c in _walk(out) if isinstance(c, dict) and c.get("type") == "Graph"]
    assert len(graphs) == 1
    figure = graphs[0]["props"]["figure"]
    assert sorted(markers(figure)["customdata"]) == [mine["Alpha Boiler"], mine["Alpha Tank"]]
    assert graphs[0]["props"]["id"] == {"type": "board-figure", "site": mine["site"]}


def test_the_board_lists_each_concern_worst_first_with_its_impact_trend_and_owner(  # type: ignore[no-untyped-def]
        client, tenants, estates, db) -> None:
    mine, _theirs = estates
    with db.Session() as session, session.begin():
        session.get(Site, mine["site"]).maintenance_emails = "fixer@alpha.example"
    out = body(dash_as(client, tenants[0])("board-sites.children", {"board-width.data": 1280}))
    tables = [c for c in _walk(out) if isinstance(c, dict) and c.get("type") == "Table"]
    assert [t["props"]["id"] for t in tables] == [{"type": "board-concerns", "site": mine["site"]}]
    text = json.dumps(tables[0], ensure_ascii=False)
    for heading in ("What is wrong", "Estimated impact a day", "Trend (this week vs last)", "Owner"):
        assert heading in text
    # the leak first (red), its impact not guessed from minutes of data, its trend, its owner
    assert text.index("Act now: water is leaking") < text.index("The twin has no forecast for Alpha Boiler")
    assert "Impact not estimated: the alert began less than an hour ago." in text
    assert "Worse than last week: 1 alert, 0 the week before." in text
    assert '"No direct energy cost"' in text and "Risk: the twin cannot warn ahead of time" in text
    # one row per concern, each with its owner: both assets lack sensors and a forecast; the tank leaks
    assert text.count("fixer@alpha.example") == 5


def test_on_a_phone_each_concern_is_a_block_of_lines_with_the_same_facts(  # type: ignore[no-untyped-def]
        client, tenants, estates) -> None:
    mine, _theirs = estates
    out = body(dash_as(client, tenants[0])("board-sites.children", {"board-width.data": 390}))
    lists = [c for c in _walk(out) if isinstance(c, dict) and c.get("type") == "ListGroup"]
    assert [g["props"]["id"] for g in lists] == [{"type": "board-concerns", "site": mine["site"]}]
    text = json.dumps(lists[0], ensure_ascii=False)
    for label in ("Impact a day: ", "Trend: ", "Owner: "):
        assert text.count(label) == 5
    assert "Impact not estimated: the alert began less than an hour ago." in text


def test_the_board_says_where_to_set_a_missing_owner(client, tenants, estates) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(body(dash_as(client, tenants[0])("board-sites.children", {"board-width.data": 1280})))
    assert "No maintenance contact set (an administrator sets it under Plant catalogue" in text


def test_a_failing_forecast_is_labelled_in_plain_words_on_the_schematic() -> None:
    from app.health import Concern

    failing = Concern("amber", 20, "Forecasts failing validation: retraining", "forecast",
                      "The twin's forecast for Tank T9 (level) missed by more than its limit; ...")
    site = SiteHealth(1, "Riverside", None, [
        replace(asset(9, "Tank T9", level="amber", concerns=[failing.text]), details=[failing])])
    labels = " ".join(a["text"] for a in site_figure(site, 1280).to_plotly_json()["layout"]["annotations"])
    assert "Forecast being retrained (no action needed)" in labels
    assert "failing validation" not in labels


def _walk(node: Any):  # type: ignore[no-untyped-def]
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_board_says_how_to_get_sites_when_there_are_none(client, tenants) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(body(dash_as(client, tenants[0])("board-sites.children", {"board-width.data": 390})))
    assert "Nothing to draw yet" in text and "administrator adds" in text


def click(client: FlaskClient, asset_id: Any, site_id: int):  # type: ignore[no-untyped-def]
    """A click on the board's figure of ``site_id``, as the renderer sends it (an ALL input)."""
    ident = {"type": "board-figure", "site": site_id}
    payload = {
        "output": "board-location.pathname",
        "outputs": {"id": "board-location", "property": "pathname"},
        "inputs": [[{"id": ident, "property": "clickData",
                     "value": {"points": [{"customdata": asset_id, "curveNumber": 0}]}}]],
        "changedPropIds": [json.dumps(ident, sort_keys=True, separators=(",", ":")) + ".clickData"],
        "state": [],
    }
    return client.post("/_dash-update-component", json=payload)


def test_clicking_an_asset_opens_its_page(client, tenants, estates) -> None:  # type: ignore[no-untyped-def]
    mine, _theirs = estates
    dash_as(client, tenants[0])
    out = body(click(client, mine["Alpha Tank"], mine["site"]))
    assert out["board-location"]["pathname"] == f"/assets/{mine['Alpha Tank']}"


@pytest.mark.parametrize("forged", ["theirs", "nonsense", None])
def test_a_forged_click_goes_nowhere(client, tenants, estates, forged) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = estates
    dash_as(client, tenants[0])
    asset_id = theirs["Beta Boiler"] if forged == "theirs" else forged
    # no update (nothing for board-location): the browser stays where it is
    assert body(click(client, asset_id, mine["site"])) == {}


def test_the_overview_lists_assets_by_concern_worst_first_with_links(client, tenants, estates) -> None:  # type: ignore[no-untyped-def]
    mine, _theirs = estates
    out = body(dash_as(client, tenants[0])("estate-summary.children", {"url.pathname": "/"}))
    text = json.dumps(out, ensure_ascii=False)
    assert "Assets by concern" in text and "Beta" not in text
    assert text.index("Alpha Tank") < text.index("Alpha Boiler")  # the red one first
    assert f"/assets/{mine['Alpha Tank']}" in text
    assert "✕ Act now" in text and "Act now: water is leaking (1 critical alert open)." in text
    assert "The twin has no forecast for Alpha Boiler yet, so it cannot warn ahead of time." in text
    assert "No sensors are set up on it, so the twin cannot watch it." in text
    assert "No forecasts yet" in text  # the forecasts column, in words


def test_the_overview_says_how_to_get_sites_when_there_are_none(client, tenants) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(body(dash_as(client, tenants[0])("estate-summary.children", {"url.pathname": "/"})))
    assert "No sites yet" in text and "Alpha Energy" in text
