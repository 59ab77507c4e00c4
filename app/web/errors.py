"""Calm error responses: JSON for machine endpoints, a plain page for people; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.web.auth import wants_json

log = logging.getLogger(__name__)


def _respond(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=code, message=message), status
    return render_template("error.html", status=status, message=message), status


def init_app(server: Flask) -> None:
    @server.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
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
