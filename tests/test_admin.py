"""The admin page's callbacks: admins manage their own supplier's people; nobody else can."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.db import Database
from app.db.models import AuditLog, Supplier, User
from tests.conftest import AuthActions, dash_as


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


def user(db: Database, email: str) -> User | None:
    with db.Session() as session:
        return session.scalar(select(User).where(User.email == email))


def test_an_admin_sees_only_their_own_suppliers_people(client, tenants) -> None:  # type: ignore[no-untyped-def]
    body = text_of(dash_as(client, tenants[0], "admin")("admin-users.children", {"url.pathname": "/admin"}))
    assert "viewer@alphaenergy.test" in body and "betapower" not in body


def test_an_admin_creates_a_user_with_a_one_time_password(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    body = text_of(call("admin-new-result.children", {
        "admin-new-create.n_clicks": 1, "admin-new-email.value": "New.Op@AlphaEnergy.test",
        "admin-new-name.value": "New Op", "admin-new-role.value": "operator", "admin-changed.data": 0}))
    assert "Temporary password" in body
    created = user(db, "new.op@alphaenergy.test")
    assert created is not None and created.role == "operator"
    assert created.supplier_id == tenants[0].supplier_id


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_non_admins_forged_admin_requests_change_nothing(client, tenants, db, role) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], role)
    target = user(db, tenants[0].users["viewer"][0])
    create = text_of(call("admin-new-result.children", {
        "admin-new-create.n_clicks": 1, "admin-new-email.value": "intruder@alphaenergy.test",
        "admin-new-role.value": "admin"}))
    update = text_of(call("admin-user-result.children", {
        "admin-user-save.n_clicks": 1, "admin-user-select.value": target.id,
        "admin-role.value": "admin", "admin-active.value": True}))
    billing = text_of(call("admin-billing-result.children", {
        "admin-billing-save.n_clicks": 1, "admin-billing-email.value": "evil@example.test"}))
    assert all("Only administrators" in body for body in (create, update, billing))
    assert user(db, "intruder@alphaenergy.test") is None
    assert user(db, tenants[0].users["viewer"][0]).role == "viewer"
    with db.Session() as session:
        assert session.get(Supplier, tenants[0].supplier_id).billing_email != "evil@example.test"


def test_an_admin_cannot_change_another_suppliers_user(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    victim = user(db, tenants[1].users["viewer"][0])
    body = text_of(call("admin-user-result.children", {
        "admin-user-save.n_clicks": 1, "admin-user-select.value": victim.id,
        "admin-role.value": "admin", "admin-active.value": True}))
    assert "no such user" in body
    assert user(db, tenants[1].users["viewer"][0]).role == "viewer"


def test_the_last_admin_cannot_demote_themselves(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    me = user(db, tenants[0].users["admin"][0])
    body = text_of(call("admin-user-result.children", {
        "admin-user-save.n_clicks": 1, "admin-user-select.value": me.id,
        "admin-role.value": "viewer", "admin-active.value": True}))
    assert "at least one active admin must remain" in body
    assert user(db, tenants[0].users["admin"][0]).role == "admin"


def test_role_changes_and_the_billing_contact_are_audited(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    target = user(db, tenants[0].users["viewer"][0])
    text_of(call("admin-user-result.children", {
        "admin-user-save.n_clicks": 1, "admin-user-select.value": target.id,
        "admin-role.value": "operator", "admin-active.value": False, "admin-changed.data": 0}))
    text_of(call("admin-billing-result.children", {
        "admin-billing-save.n_clicks": 1, "admin-billing-email.value": "Bills@Alpha.test"}))
    with db.Session() as session:
        actions = {a.action: a for a in session.scalars(select(AuditLog))}
        supplier = session.get(Supplier, tenants[0].supplier_id)
    assert actions["user.updated"].old == {"role": "viewer", "is_active": True}
    assert actions["user.updated"].new == {"role": "operator", "is_active": False}
    assert actions["supplier.billing_email"].new == {"billing_email": "bills@alpha.test"}
    assert supplier.billing_email == "bills@alpha.test"
    deactivated = tenants[0].users["viewer"]
    client.get("/logout")
    assert AuthActions(client).login(*deactivated).status_code == 401


# -- API tokens -------------------------------------------------------------------------------


def _revoke(call, token_id: int):  # type: ignore[no-untyped-def]
    """Revoke as the page does: the confirmation's "Revoke token" pressed for ``token_id``."""
    return call("admin-token-result.children", {
        "admin-revoke-confirm.n_clicks": 1, "admin-revoke-target.data": token_id,
        "admin-changed.data": 0}, changed="admin-revoke-confirm.n_clicks")


def _ask_to_revoke(call, token_id: int):  # type: ignore[no-untyped-def]
    """A row's Revoke button pressed, as the renderer sends it (an ALL input)."""
    dep = next(d for d in call.dependencies if "admin-revoke-modal.is_open" in d["output"]
               and "admin-token-revoke" in d["inputs"][0]["id"])
    fired = {"index": token_id, "type": "admin-token-revoke"}
    payload = {
        "output": dep["output"],
        "outputs": [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
                    for part in dep["output"].strip(".").split("...")],
        "inputs": [[{"id": fired, "property": "n_clicks", "value": 1}],
                   {"id": "admin-revoke-cancel", "property": "n_clicks", "value": None}],
        "state": [],
        "changedPropIds": [json.dumps(fired, separators=(",", ":")) + ".n_clicks"],
    }
    return call.client.post("/_dash-update-component", json=payload)


def test_an_admin_makes_a_token_shown_once_that_works_and_revokes_it(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    from app.db.models import ApiToken

    call = dash_as(client, tenants[0], "admin")
    body = text_of(call("admin-token-result.children", {
        "admin-token-create.n_clicks": 1, "admin-token-name.value": "Site A gateway",
        "admin-token-scope.value": "write", "admin-changed.data": 0}, changed="admin-token-create.n_clicks"))
    assert "shown only this once" in body
    plain = re.search(r"twin_[A-Za-z0-9_-]{43}", body).group(0)
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/assets", headers=headers).status_code == 200
    listed = text_of(call("admin-tokens.children", {"url.pathname": "/admin", "admin-changed.data": 1}))
    assert "Site A gateway" in listed and plain[:12] in listed and plain not in listed
    with db.Session() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.name == "Site A gateway"))
        assert token.supplier_id == tenants[0].supplier_id and token.scope == "write"
    asked = text_of(_ask_to_revoke(call, token.id))
    assert "Site A gateway" in asked and "stops working" in asked
    assert client.get("/api/v1/assets", headers=headers).status_code == 200, "asking revokes nothing"
    assert "no longer works" in text_of(_revoke(call, token.id))
    assert client.get("/api/v1/assets", headers=headers).status_code == 401
    listed = text_of(call("admin-tokens.children", {"url.pathname": "/admin", "admin-changed.data": 2}))
    assert "Revoked" in listed


def test_tokens_are_admins_own_suppliers_only(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    from app.api_tokens import create_token
    from app.db.models import ApiToken

    with db.Session() as session, session.begin():
        theirs, _ = create_token(session, supplier_id=tenants[1].supplier_id, actor_id=None,
                                 name="Beta bridge", scope="read")
    call = dash_as(client, tenants[0], "admin")
    assert "Beta bridge" not in text_of(call("admin-tokens.children", {"url.pathname": "/admin"}))
    assert "No such token" in text_of(_revoke(call, theirs.id))
    operator = dash_as(client, tenants[0], "operator")
    made = text_of(operator("admin-token-result.children", {
        "admin-token-create.n_clicks": 1, "admin-token-name.value": "sneaky",
        "admin-token-scope.value": "write"}, changed="admin-token-create.n_clicks"))
    assert "Only administrators" in made
    assert "Only administrators" in text_of(_revoke(operator, theirs.id))
    assert "Beta bridge" not in text_of(_ask_to_revoke(operator, theirs.id))
    assert "Beta bridge" not in text_of(_ask_to_revoke(dash_as(client, tenants[0], "admin"), theirs.id))
    with db.Session() as session:
        assert session.get(ApiToken, theirs.id).revoked_at is None
        assert session.scalar(select(ApiToken).where(ApiToken.name == "sneaky")) is None


def test_a_token_needs_a_name_and_a_known_scope(client, tenants) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    for name, scope, words in [("", "read", "Give the token a name"), ("x", "owner", "scope must be")]:
        body = text_of(call("admin-token-result.children", {
            "admin-token-create.n_clicks": 1, "admin-token-name.value": name,
            "admin-token-scope.value": scope}, changed="admin-token-create.n_clicks"))
        assert words in body and "twin_" not in body
