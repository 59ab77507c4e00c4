"""Login, logout, and the ONE gate in front of every route.

The gate is a ``before_request`` hook on the Flask server, so it covers Dash's own endpoints
(``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component``), the API and any
download, not just page layouts. Public routes are an explicit allowlist of endpoints.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import select
from wtforms.validators import ValidationError

from app.accounts import authenticate
from app.audit import record
from app.db.models import Supplier, User
from app.web.context import db_session, twin
from app.web.extensions import limiter, login_manager

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

#: Endpoints anyone may reach. Everything else needs a logged-in user.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "health.healthz", "static"})
GENERIC_LOGIN_ERROR = "Wrong email or password."
LOCKED_MESSAGE = "Too many failed attempts: this account is locked for 15 minutes."
LIMITED_MESSAGE = "Too many sign-in attempts from your address: wait a minute and try again."


def _login_limit() -> str:
    return twin().settings.web.login_rate_limit


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user as the web layer sees it: plain values, reloaded every request, so a
    role change or deactivation takes effect at once and no ORM object outlives its session."""

    id: int
    supplier_id: int
    supplier_name: str
    email: str
    name: str
    role: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    def can(self, role: str) -> bool:
        order = {"viewer": 0, "operator": 1, "admin": 2}
        return order[self.role] >= order[role]


@login_manager.user_loader
def load_user(user_id: str) -> CurrentUser | None:
    if not user_id.isdigit():
        return None
    row = db_session().execute(
        select(User, Supplier.name)
        .join(Supplier, Supplier.id == User.supplier_id)
        .where(User.id == int(user_id), User.is_active.is_(True))
    ).first()
    if row is None:
        return None
    user, supplier_name = row
    return CurrentUser(user.id, user.supplier_id, supplier_name, user.email, user.name, user.role)


def wants_json() -> bool:
    """Machine endpoints answer 401 JSON; pages redirect to the login form."""
    return request.path.startswith(("/_dash-", "/api/")) or request.is_json


def gate() -> Response | tuple[Response, int] | None:
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if wants_json():
        return jsonify(error="authentication_required", message="Log in first."), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Only follow a local path, never another host (open-redirect protection)."""
    if not target:
        return "/"
    joined = urlsplit(urljoin(request.host_url, target))
    if joined.scheme not in ("http", "https") or joined.netloc != urlsplit(request.host_url).netloc:
        return "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], error_message=LIMITED_MESSAGE)
def login() -> Response | str | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    error = None
    status = 200
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            error, status = "Your form expired; please try again.", 400
        else:
            email = request.form.get("email", "")[:254]
            password = request.form.get("password", "")[:1024]
            dbs = db_session()
            outcome = authenticate(dbs, email, password, ip=request.remote_addr)
            dbs.commit()
            if outcome.user is not None:
                # A fresh session at login: nothing from before login survives (fixation), and
                # a new random session id marks it as a different session from any before.
                session.clear()
                session["sid"] = secrets.token_urlsafe(16)
                login_user(load_user(str(outcome.user.id)))
                return redirect(next_url)
            error, status = (LOCKED_MESSAGE if outcome.locked else GENERIC_LOGIN_ERROR), 401
    return (
        render_template("login.html", error=error, next_url=next_url, csrf_token=generate_csrf()),
        status,
    )


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        dbs = db_session()
        record(dbs, "logout", supplier_id=current_user.supplier_id, user_id=current_user.id,
               ip=request.remote_addr)
        dbs.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(server: Flask) -> None:
    login_manager.init_app(server)
    login_manager.login_view = "auth.login"
    server.register_blueprint(bp)
    server.before_request(gate)
