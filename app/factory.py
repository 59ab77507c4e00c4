"""The application factory: Flask, Flask-Login, the Dash portal and the API, wired once."""

from __future__ import annotations

import logging
from typing import Any

import dash
from flask import Flask

from app import api
from app.db import Database
from app.queue import TaskQueue
from app.web import auth, emails, errors, health, security
from app.web.context import TwinContext
from app.web.context import init_app as init_context
from settings import Settings, load_settings

log = logging.getLogger(__name__)


def build_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the WSGI app. ``overrides`` are settings keys (``database__url=...``) for tests."""
    if settings is None:
        settings = load_settings(**overrides)
    elif overrides:
        raise TypeError("pass either settings or overrides, not both")
    server = Flask(__name__)
    configure_server(server, settings)
    context = TwinContext(settings, Database(settings), TaskQueue(settings))
    init_context(server, context)
    auth.init_app(server)
    server.register_blueprint(health.bp)
    server.register_blueprint(emails.bp)
    errors.init_app(server)
    dash_app = register_dash(server)
    security.init_app(server, dash_app, settings)
    api.mount(server, api.create_api(context))
    return server


def configure_server(server: Flask, settings: Settings) -> None:
    server.config.update(
        SECRET_KEY=settings.require_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.web.session_cookie_secure,
        MAX_CONTENT_LENGTH=settings.web.max_content_length,
        WTF_CSRF_TIME_LIMIT=3600,
    )


def register_dash(server: Flask) -> dash.Dash:
    import callbacks
    import layouts
    from layouts.shell import shell

    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="",
        title="Energy Twin",
        update_title=None,
        # Bootstrap is served from our own static folder: the portal must work without internet.
        external_stylesheets=["/static/css/bootstrap.min.css"],
        suppress_callback_exceptions=True,
        serve_locally=True,
        # Dash serves its asset files under /assets/ by default; the asset pages own that path.
        assets_url_path="_assets",
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    layouts.register_pages()
    app.layout = shell
    callbacks.register_callbacks(app)
    server.extensions["dash_app"] = app
    return app
