"""The admin page. Every callback checks, on the server, that the user is an admin."""

from __future__ import annotations

import secrets

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update
from flask import request
from flask_login import current_user

from app.accounts import (
    AccountError,
    billing_email,
    create_user,
    list_users,
    set_billing_email,
    update_user,
)
from app.api_tokens import TokenError, create_token, list_tokens, revoke_token
from app.tariff_book import list_tariffs
from app.web.context import db_session
from callbacks.formatting import when
from layouts import admin as page
from layouts import ids


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


def _refused() -> dbc.Alert:
    return dbc.Alert("Only administrators can do that.", color="danger")


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ADMIN_BODY, "children"),
        Input(ids.URL, "pathname"),
    )
    def guard(_pathname: str):  # type: ignore[no-untyped-def]
        return no_update if _is_admin() else page.admins_only()

    @app.callback(
        Output(ids.ADMIN_USERS, "children"),
        Output(ids.ADMIN_USER_SELECT, "options"),
        Output(ids.ADMIN_BILLING_EMAIL, "value"),
        Output(ids.ADMIN_TARIFFS, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.ADMIN_CHANGED, "data"),
    )
    def fill(_pathname: str, _changed: int):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return None, [], None, None
        session = db_session()
        users = list_users(session, current_user.supplier_id)
        rows = [(u.email, u.name, u.role.title(),
                 "Locked" if u.locked else ("Active" if u.is_active else "Deactivated"),
                 when(u.last_login_at, "never")) for u in users]
        options = [{"label": f"{u.email} ({u.role})", "value": u.id} for u in users]
        tariffs = [(f"{t.name} ({t.code})", t.fuel.title(), f"{t.unit_rate_p_per_kwh:.2f} p/kWh",
                    f"{t.standing_charge_p_per_day:.2f} p/day",
                    f"{t.vat_rate * 100:.0f} % {'incl.' if t.prices_include_vat else 'added'}",
                    f"{t.valid_from:%d %b %Y}", f"{t.valid_to:%d %b %Y}" if t.valid_to else "open")
                   for t in list_tariffs(session, current_user.supplier_id)]
        return (page.users_table(rows), options, billing_email(session, current_user.supplier_id),
                page.tariffs_table(tariffs))

    @app.callback(
        Output(ids.ADMIN_ROLE, "value"),
        Output(ids.ADMIN_ACTIVE, "value"),
        Input(ids.ADMIN_USER_SELECT, "value"),
        prevent_initial_call=True,
    )
    def pick_user(user_id: int | None):  # type: ignore[no-untyped-def]
        if not _is_admin() or user_id is None:
            return no_update, no_update
        for user in list_users(db_session(), current_user.supplier_id):
            if user.id == user_id:
                return user.role, user.is_active
        return no_update, no_update

    @app.callback(
        Output(ids.ADMIN_USER_RESULT, "children"),
        Output(ids.ADMIN_CHANGED, "data"),
        Input(ids.ADMIN_USER_SAVE, "n_clicks"),
        State(ids.ADMIN_USER_SELECT, "value"),
        State(ids.ADMIN_ROLE, "value"),
        State(ids.ADMIN_ACTIVE, "value"),
        State(ids.ADMIN_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def save_user(_clicks, user_id, role, active, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update
        if user_id is None:
            return dbc.Alert("Choose a user first.", color="warning"), no_update
        session = db_session()
        try:
            user = update_user(session, supplier_id=current_user.supplier_id, actor_id=current_user.id,
                               user_id=int(user_id), role=role, is_active=bool(active),
                               ip=request.remote_addr)
            session.commit()
        except AccountError as exc:
            session.rollback()
            return dbc.Alert(f"Not saved: {exc}.", color="danger"), no_update
        return dbc.Alert(f"Saved: {user.email} is now {'an active' if user.is_active else 'a deactivated'} "
                         f"{user.role}.", color="success"), (changed or 0) + 1

    @app.callback(
        Output(ids.ADMIN_NEW_RESULT, "children"),
        Output(ids.ADMIN_CHANGED, "data", allow_duplicate=True),
        Input(ids.ADMIN_NEW_CREATE, "n_clicks"),
        State(ids.ADMIN_NEW_EMAIL, "value"),
        State(ids.ADMIN_NEW_NAME, "value"),
        State(ids.ADMIN_NEW_ROLE, "value"),
        State(ids.ADMIN_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def create(_clicks, email, name, role, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update
        session = db_session()
        password = secrets.token_urlsafe(12)
        try:
            user = create_user(session, supplier_name=current_user.supplier_name, email=email or "",
                               name=name or "", password=password, role=role or "viewer")
            session.commit()
        except AccountError as exc:
            session.rollback()
            return dbc.Alert(f"Not created: {exc}.", color="danger"), no_update
        return dbc.Alert(
            [html.Div(f"Created {user.email} ({user.role})."),
             html.Div(["Temporary password, shown only now: ", html.Code(password, id="new-password")])],
            color="success",
        ), (changed or 0) + 1

    @app.callback(
        Output(ids.ADMIN_TOKENS, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.ADMIN_CHANGED, "data"),
    )
    def fill_tokens(_pathname: str, _changed: int):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return None
        rows = [(t.id, t.active, (t.name, t.scope.title(), f"{t.prefix}…", t.created_by or "—",
                                  when(t.created_at), when(t.last_used_at, "never"),
                                  "Active" if t.active else f"Revoked {when(t.revoked_at)}"))
                for t in list_tokens(db_session(), current_user.supplier_id)]
        return page.tokens_table(rows)

    @app.callback(
        Output(ids.ADMIN_TOKEN_RESULT, "children"),
        Output(ids.ADMIN_CHANGED, "data", allow_duplicate=True),
        Output(ids.ADMIN_TOKEN_NAME, "value"),
        Input(ids.ADMIN_TOKEN_CREATE, "n_clicks"),
        State(ids.ADMIN_TOKEN_NAME, "value"),
        State(ids.ADMIN_TOKEN_SCOPE, "value"),
        State(ids.ADMIN_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def create_api_token(_clicks, name, scope, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update, no_update
        session = db_session()
        try:
            summary, plain = create_token(session, supplier_id=current_user.supplier_id,
                                          actor_id=current_user.id, name=name or "",
                                          scope=scope or "", ip=request.remote_addr)
            session.commit()
        except TokenError as exc:
            session.rollback()
            return dbc.Alert(f"Not created: {exc}", color="danger"), no_update, no_update
        return dbc.Alert(
            [html.Div(f"Made “{summary.name}” ({summary.scope}). Copy the token now: it is shown "
                      "only this once and is not stored."),
             html.Div([html.Code(plain, id="new-api-token", className="user-select-all"),
                       dcc.Clipboard(target_id="new-api-token", className="d-inline ms-2",
                                     title="Copy")], className="mt-1")],
            color="success",
        ), (changed or 0) + 1, ""

    @app.callback(
        Output(ids.ADMIN_REVOKE_MODAL, "is_open"),
        Output(ids.ADMIN_REVOKE_TARGET, "data"),
        Output(ids.ADMIN_REVOKE_TEXT, "children"),
        Input({"type": ids.ADMIN_TOKEN_REVOKE, "index": ALL}, "n_clicks"),
        Input(ids.ADMIN_REVOKE_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def ask_to_revoke(_clicks, _cancel):  # type: ignore[no-untyped-def]
        trigger = dash.ctx.triggered_id
        # A redrawn table fires this with its new buttons unclicked: nothing was pressed.
        if not isinstance(trigger, dict) or not dash.ctx.triggered[0].get("value"):
            return False, None, None
        if not _is_admin():
            return False, None, None
        token = next((t for t in list_tokens(db_session(), current_user.supplier_id)
                      if t.id == trigger["index"] and t.active), None)
        if token is None:
            return False, None, None
        return True, token.id, page.revoke_question(token.name)

    @app.callback(
        Output(ids.ADMIN_TOKEN_RESULT, "children", allow_duplicate=True),
        Output(ids.ADMIN_CHANGED, "data", allow_duplicate=True),
        Output(ids.ADMIN_REVOKE_MODAL, "is_open", allow_duplicate=True),
        Input(ids.ADMIN_REVOKE_CONFIRM, "n_clicks"),
        State(ids.ADMIN_REVOKE_TARGET, "data"),
        State(ids.ADMIN_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def revoke(clicks, token_id, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update, False
        if not clicks or token_id is None:
            return no_update, no_update, no_update
        session = db_session()
        try:
            revoke_token(session, supplier_id=current_user.supplier_id, actor_id=current_user.id,
                         token_id=int(token_id), ip=request.remote_addr)
            session.commit()
        except (TokenError, TypeError, ValueError) as exc:
            session.rollback()
            reason = exc if isinstance(exc, TokenError) else "No such token."
            return dbc.Alert(f"Not revoked: {reason}", color="danger"), no_update, False
        return (dbc.Alert("Revoked: the token no longer works.", color="success"),
                (changed or 0) + 1, False)

    @app.callback(
        Output(ids.ADMIN_BILLING_RESULT, "children"),
        Input(ids.ADMIN_BILLING_SAVE, "n_clicks"),
        State(ids.ADMIN_BILLING_EMAIL, "value"),
        prevent_initial_call=True,
    )
    def save_billing(_clicks, email):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused()
        session = db_session()
        try:
            set_billing_email(session, supplier_id=current_user.supplier_id, actor_id=current_user.id,
                              email=email, ip=request.remote_addr)
            session.commit()
        except AccountError as exc:
            session.rollback()
            return dbc.Alert(f"Not saved: {exc}.", color="danger")
        return dbc.Alert("Saved.", color="success")
