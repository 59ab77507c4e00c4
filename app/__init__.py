"""Energy Twin: the application package. ``create_app()`` lives in ``app.web``'s factory,
re-exported here; importing ``app`` stays cheap so workers and the CLI do not pay for Dash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from settings import Settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the web application: Flask, Flask-Login, the Dash portal and the API, wired once."""
    from app.factory import build_app

    return build_app(settings, **overrides)
