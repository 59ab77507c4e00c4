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


# -- pages that lead nowhere ------------------------------------------------------------------

ADMIN_PAGES = ("/admin", "/admin/import", "/admin/catalogue")


def menu_links(client: FlaskClient) -> set[str]:
    """The menu's links in the portal's frame as the signed-in user gets it."""
    response = client.get("/_dash-layout")
    assert response.status_code == 200
    found: set[str] = set()

    def walk(node: object, in_menu: bool) -> None:
        if isinstance(node, dict):
            props = node.get("props", {})
            in_menu = in_menu or props.get("id") == "nav-menu"
            if in_menu and node.get("type") == "NavLink":
                found.add(props["href"])
            for value in props.values() if "props" in node else node.values():
                walk(value, in_menu)
        elif isinstance(node, list):
            for item in node:
                walk(item, in_menu)

    walk(response.get_json(), False)
    return found


def page_content(client: FlaskClient, path: str) -> str:
    """What the pages router puts in the portal's frame for ``path``."""
    from tests.conftest import DashCaller

    response = DashCaller(client)("_pages_content.children",
                                  {"_pages_location.pathname": path, "_pages_location.search": ""})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


@pytest.mark.parametrize(("role", "sees_admin"), [("viewer", False), ("operator", False), ("admin", True)])
def test_the_menu_shows_only_the_pages_a_role_can_open(client: FlaskClient, auth: AuthActions,
                                                       tenants: tuple[Tenant, Tenant], role: str,
                                                       sees_admin: bool) -> None:
    auth.login(*tenants[0].users[role])
    links = menu_links(client)
    assert {"/", "/alerts", "/meters", "/emails", "/logout"} <= links
    assert ("/admin" in links) is sees_admin


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_an_admin_page_opened_by_address_says_calmly_there_is_no_access(
        client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant], role: str) -> None:
    auth.login(*tenants[0].users[role])
    for path in ADMIN_PAGES:
        body = page_content(client, path)
        assert "You do not have access to this page" in body, path
        assert "admin-users" not in body and "import-body" not in body, path  # none of the page
        assert '"/meters"' in body and '"/"' in body  # the ways back


def test_an_admin_opens_the_admin_pages(client: FlaskClient, auth: AuthActions,
                                        tenants: tuple[Tenant, Tenant]) -> None:
    auth.login(*tenants[0].users["admin"])
    for path in ADMIN_PAGES:
        assert "You do not have access" not in page_content(client, path), path
    assert "admin-users" in page_content(client, "/admin")


def test_an_unknown_address_is_the_one_not_found_page(client: FlaskClient, auth: AuthActions,
                                                      tenants: tuple[Tenant, Tenant]) -> None:
    auth.login(*tenants[0].users["viewer"])
    body = page_content(client, "/no/such/page")
    assert "This page is not here" in body and "404 - Page not found" not in body
    assert '"/meters"' in body


def test_a_flask_404_for_a_person_is_the_portal_with_its_not_found_page(
        client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant]) -> None:
    auth.login(*tenants[0].users["viewer"])
    response = client.get("/emails/987654.eml")  # a Flask route that answers 404
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "_dash-config" in page and "Energy Twin" in page  # the portal, whose router says "not here"
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.is_json  # machines still get JSON


def test_a_404_before_sign_in_is_the_plain_page(client: FlaskClient) -> None:
    response = client.get("/static/no-such-file.css")
    assert response.status_code == 404 and "_dash-config" not in response.get_data(as_text=True)


def _admin_callbacks(client: FlaskClient) -> list[dict]:
    """Every callback that writes into an admin page (admin, import, catalogue)."""
    from tests.conftest import DashCaller

    prefixes = ('"admin-', "admin-", '"import-', "import-", '"cat-', "cat-")
    deps = DashCaller(client).dependencies
    return [d for d in deps if not d.get("clientside_function")
            and any(part.lstrip(".").startswith(prefixes) for part in d["output"].split("..."))]


def test_the_server_refuses_every_admin_page_callback_to_a_viewer(
        client: FlaskClient, auth: AuthActions, tenants: tuple[Tenant, Tenant], db) -> None:
    from sqlalchemy import func

    from app.db.models import ApiToken, AuditLog as Audit

    auth.login(*tenants[0].users["viewer"])
    deps = _admin_callbacks(client)
    assert len(deps) > 10
    def counts() -> tuple[int | None, ...]:
        with db.Session() as session:
            return tuple(session.scalar(select(func.count()).select_from(table))
                         for table in (User, ApiToken, Audit))

    before = counts()
    secrets_of_admins = ("admin@alphaenergy.test", "billing@alphaenergy.test")
    for dep in deps:
        def value(item: dict) -> object:
            return "/admin" if item["property"] == "pathname" else 1

        def fill(items: list) -> list:
            return [[{**i, "id": i["id"], "value": value(i)}] if isinstance(i["id"], str) and '["ALL"]' in i["id"]
                    else {**i, "id": json.loads(i["id"]) if i["id"].startswith("{") else i["id"], "value": value(i)}
                    for i in items]

        inputs = fill(dep["inputs"])
        if any(isinstance(i, list) for i in inputs):
            continue  # pattern-matching inputs: covered by tests/test_admin.py
        outputs = [{"id": json.loads(p.rsplit(".", 1)[0]) if p.startswith("{") else p.rsplit(".", 1)[0],
                    "property": p.rsplit(".", 1)[1].split("@")[0]}
                   for p in dep["output"].strip(".").split("...")]
        payload = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                   "inputs": inputs, "state": fill(dep["state"]),
                   "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}
        response = client.post("/_dash-update-component", json=payload)
        assert response.status_code in (200, 204), (dep["output"], response.status_code)
        body = response.get_data(as_text=True)
        assert not any(secret in body for secret in secrets_of_admins), dep["output"]
    assert counts() == before, "no user, token or audited change was made"
