"""The portal's and the API's security headers, and the sign-in rate limit per address.

(CSRF on the login form, the new session at login and the cookie flags are in test_web.py;
every page working under the Content-Security-Policy, WebGL plots included, is checked in the
browser by test_browser_pages.py, which fails on any CSP violation.)"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import build_app
from settings import Settings
from tests.conftest import AuthActions, Tenant, make_settings

PAGES = ["/login", "/", "/meters", "/_dash-layout", "/_dash-dependencies", "/healthz",
         "/api/v1/openapi.json", "/api/v1/assets", "/api/v1/docs", "/no-such-page"]


def directives(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(client: FlaskClient, auth: AuthActions,
                                                      tenants: tuple[Tenant, Tenant], path: str) -> None:
    auth.login(*tenants[0].users["viewer"])
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = directives(response)
    assert policy["frame-ancestors"] == ["'none'"]
    scripts = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in scripts and "*" not in scripts
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP in tests


def test_the_portal_allows_exactly_dashs_inline_scripts(app: Flask, client: FlaskClient,
                                                         auth: AuthActions, tenants: tuple[Tenant, Tenant]) -> None:
    import base64
    import hashlib

    auth.login(*tenants[0].users["viewer"])
    page = client.get("/")
    allowed = set(directives(page)["script-src"])
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>",
                        page.get_data(as_text=True), re.S)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
              for s in inline if "Internet Explorer" not in s}  # that one sits in an IE-only comment
    assert hashes and hashes <= allowed
    assert allowed - hashes == {"'self'", "'unsafe-eval'"}


def test_over_https_the_portal_sends_strict_transport_security(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    server = build_app(make_settings(tmp_path, database__url=db.settings.database_url,
                                     web__session_cookie_secure=True))
    response = server.test_client().get("/login", base_url="https://portal.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def _limited_app(settings: Settings, limit: str) -> FlaskClient:
    server = build_app(settings.model_copy(update={"web": settings.web.model_copy(
        update={"login_rate_limit": limit})}))
    server.config.update(TESTING=True)
    return server.test_client()


def test_sign_in_attempts_are_limited_per_address(settings: Settings, db,  # type: ignore[no-untyped-def]
                                                  tenants: tuple[Tenant, Tenant]) -> None:
    client = _limited_app(settings, "3 per minute")
    actions = AuthActions(client)
    email, password = tenants[0].users["viewer"]
    statuses = [actions.login(email, "wrong password").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    limited = actions.login(email, password)  # even the right password: the address waits
    assert limited.status_code == 429
    assert "wait a minute" in limited.get_data(as_text=True)
    other = client.get("/login", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get_data(as_text=True)).group(1)
    elsewhere = client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                            environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 302  # another address is not held back
    client.get("/logout")
    assert client.get("/login").status_code == 200  # the form itself is never limited
