"""Calm error responses: JSON for machine endpoints, a plain page for people; never a traceback.

A signed-in person who asks for something that is not there (a 404) gets the portal itself,
with its menu, where the pages router shows the one "not found" page (``layouts.not_found``)
for any address it does not know: the same page as for an unknown address in the portal.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.web import bodies
from app.web.auth import wants_json

log = logging.getLogger(__name__)


def _respond(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=code, message=message), status
    # Straight from the Jinja environment, without Flask's context processors: Flask-Login's
    # would load the signed-in user from the database, the very thing that may have failed,
    # and an error raised inside an error handler reaches the user as a bare 500.
    page = current_app.jinja_env.get_template("error.html")
    return page.render(status=status, message=message), status


def _signed_in() -> bool:
    """Whether the request's user is signed in, as the gate already found: read from what
    Flask-Login loaded, never loaded here (the database may be what failed)."""
    user = g.get("_login_user")
    return bool(user is not None and user.is_authenticated)


def _not_found() -> tuple[Response | str, int] | None:
    """The portal, answering 404, for a signed-in person; None for anyone or anything else."""
    dash_app = current_app.extensions.get("dash_app")
    if wants_json() or request.method != "GET" or dash_app is None or not _signed_in():
        return None
    return dash_app.index(), 404


def init_app(server: Flask) -> None:
    # A body the portal cannot use (JSON nested too deeply, a forged Dash request) is a 400.
    bodies.init_app(server)

    @server.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if exc.code == 404 and (portal := _not_found()) is not None:
            return portal
        return _respond(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                        exc.description or exc.name)

    @server.errorhandler(OperationalError)
    def database_down(exc: OperationalError):  # type: ignore[no-untyped-def]
        log.error("database error on %s %s: %s", request.method, request.path, exc.orig)
        return _respond(503, "database_unavailable",
                        "The database is not answering. Please try again in a moment.")

    @server.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "internal_error",
                        "Something went wrong on our side. It has been logged; please try again.")
