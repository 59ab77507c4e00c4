"""The web app: the login gate in front of every route, login and logout, health, tenancy."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db.models import AuditLog, Site, User
from tests.conftest import AuthActions, Tenant, add_plant, make_settings

PUBLIC = {"/login", "/healthz", "/static/css/bootstrap.min.css"}


def concrete_paths(app: Flask) -> list[tuple[str, str]]:
    """Every route of Flask's url_map (Dash's included) with placeholders filled in."""
    paths = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: f"x{m.group(1)}", rule.rule)
        if rule.endpoint == "static":
            path = "/static/css/bootstrap.min.css"
        method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
        paths.append((method, path))
    return paths


def test_every_route_but_the_allowlist_refuses_anonymous_requests(app: Flask, client: FlaskClient) -> None:
    paths = concrete_paths(app)
    assert ("POST", "/_dash-update-component") in paths  # Dash's routes are in the list
    assert ("GET", "/_dash-layout") in paths
    for method, path in paths:
        response = client.open(path, method=method, json={} if method == "POST" else None)
        response.close()  # a static file response holds the file open
        if path in PUBLIC:
            assert response.status_code in (200, 503), path
            continue
        if path.startswith(("/_dash-", "/api/")) or method == "POST":
            assert response.status_code == 401, path
            assert response.get_json()["error"] == "authentication_required", path
        else:
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/login?next="), path


def test_login_page_redirects_back_to_the_page_asked_for(client: FlaskClient, auth: AuthActions,
                                                        tenants: tuple[Tenant, Tenant]) -> None:
    email, password = tenants[0].users["viewer"]
    response = client.get("/")
    assert response.headers["Location"] == "/login?next=/"
    response = auth.login(email, password, next_url="/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_to_another_host(client: FlaskClient, auth: AuthActions,
                                               tenants: tuple[Tenant, Tenant], target: str) -> None:
    email, password = tenants[0].users["viewer"]
    response = auth.login(email, password, next_url=target)
    assert response.headers["Location"] == "/"


def test_wrong_email_and_wrong_password_get_the_same_message(
    client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant]
) -> None:
    email, _ = tenants[0].users["viewer"]
    wrong_password = auth.login(email, "not-the-password")
    wrong_email = auth.login("nobody@nowhere.test", "not-the-password")
    assert wrong_password.status_code == wrong_email.status_code == 401
    for response in (wrong_password, wrong_email):
        assert "Wrong email or password." in response.get_data(as_text=True)


def test_login_without_the_csrf_token_is_refused(client: FlaskClient, tenants: tuple[Tenant, Tenant]) -> None:
    email, password = tenants[0].users["viewer"]
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_account_and_are_audited(
    client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant], db
) -> None:
    email, password = tenants[0].users["operator"]
    for _ in range(5):
        auth.login(email, "wrong-password-123")
    locked = auth.login(email, password)
    assert locked.status_code == 401
    assert "locked for 15 minutes" in locked.get_data(as_text=True)
    with db.Session() as session:
        user = session.scalar(select(User).where(User.email == email))
        actions = session.scalars(select(AuditLog.action).where(AuditLog.user_id == user.id)).all()
    assert actions.count("login.failed") == 5
    assert "login.locked" in actions and "login.refused_locked" in actions
    assert user.locked_until is not None


def test_logout_ends_the_session(client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant]) -> None:
    email, password = tenants[0].users["admin"]
    auth.login(email, password)
    assert client.get("/").status_code == 200
    response = auth.logout()
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient, auth: AuthActions,
                                                 tenants: tuple[Tenant, Tenant]) -> None:
    email, password = tenants[0].users["viewer"]
    response = auth.login(email, password)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_healthz_reports_database_and_broker(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["workers"]["status"] == "unknown"


def test_healthz_is_503_when_the_broker_does_not_answer(tmp_path, db) -> None:
    from app import create_app

    settings = make_settings(tmp_path, database__url=db.settings.database_url,
                             broker__url="redis://127.0.0.1:1/0")
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


def estate_callback(client: FlaskClient) -> dict:
    payload = {
        "output": "..estate-summary.children...estate-sites.children..",
        "outputs": [{"id": "estate-summary", "property": "children"},
                    {"id": "estate-sites", "property": "children"}],
        "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
        "changedPropIds": ["url.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def test_estate_shows_only_the_logged_in_suppliers_sites(
    client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant], db
) -> None:
    alpha, beta = tenants
    with db.Session() as session, session.begin():
        session.add_all([Site(supplier_id=alpha.supplier_id, name="Alpha Works"),
                         Site(supplier_id=beta.supplier_id, name="Beta Yard")])
    auth.login(*alpha.users["viewer"])
    text = json.dumps(estate_callback(client))
    assert "Alpha Works" in text and "Alpha Energy" in text
    assert "Beta Yard" not in text and "Beta Power" not in text


def test_an_unexpected_error_is_a_calm_500_without_traceback(app: Flask, client: FlaskClient,
                                                             auth: AuthActions,
                                                             tenants: tuple[Tenant, Tenant]) -> None:
    @app.route("/boom")
    def boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    auth.login(*tenants[0].users["viewer"])
    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body
    assert "Something went wrong" in body


def test_sensor_readings_are_read_from_a_separate_historian(tmp_path, tenants, db) -> None:
    """With TWIN_SENSORS_DATABASE_URL set, sensor data comes from that database, not the main one."""
    import pandas as pd

    from app import create_app
    from app.ingest import write_sensor_readings
    from tests.conftest import AuthActions

    alpha, _ = tenants
    sensor_id = add_plant(db, ["pressure"], name="Alpha Works", asset_type="boiler",
                          supplier_id=alpha.supplier_id).sensor_ids[0]
    historian_url = f"sqlite:///{tmp_path / 'historian.db'}"
    settings = make_settings(tmp_path, database__url=db.settings.database_url,
                             database__sensors_url=historian_url)
    server = create_app(settings)
    historian = server.extensions["energy_twin"].db.sensors_engine
    assert historian is not server.extensions["energy_twin"].db.engine
    # A historian keeps its own readings table, with no foreign key into the twin's catalogue.
    from sqlalchemy import Column, DateTime, Float, Integer, MetaData, Table

    Table("sensor_readings", MetaData(), Column("sensor_id", Integer, primary_key=True),
          Column("ts", DateTime, primary_key=True), Column("value", Float)).create(historian)
    frame = pd.DataFrame({"sensor_id": [sensor_id], "value": [2.5],
                          "ts": pd.to_datetime(["2024-10-01T12:00:00Z"])})
    write_sensor_readings(historian, frame)
    client = server.test_client()
    AuthActions(client).login(*alpha.users["viewer"])
    text = json.dumps(estate_callback(client))
    assert "Turbine 1" in text and "01 Oct 2024 13:00" in text  # shown in Europe/London time


def test_login_starts_a_new_session(client: FlaskClient, auth: AuthActions,
                                    tenants: tuple[Tenant, Tenant]) -> None:
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    auth.login(*tenants[0].users["viewer"])
    with client.session_transaction() as first:
        assert "planted" not in first
        first_sid = first["sid"]
    auth.logout()
    auth.login(*tenants[0].users["viewer"])
    with client.session_transaction() as second:
        assert second["sid"] != first_sid
