"""The admin page's callbacks: admins manage their own supplier's people; nobody else can."""

from __future__ import annotations

import json

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
