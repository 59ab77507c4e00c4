"""The portal's security headers and its sign-in rate limit.

Flask-Talisman sets the headers on every response: a Content-Security-Policy that Dash works
under, ``X-Content-Type-Options: nosniff``, ``frame-ancestors 'none'`` (and the older
``X-Frame-Options: DENY``), ``Referrer-Policy``; and, when the portal is served over HTTPS
(``web.session_cookie_secure``), Strict-Transport-Security. TLS itself is the reverse proxy's job,
so Talisman does not redirect to HTTPS here.

The policy allows scripts from the portal itself and, by hash, exactly the inline scripts Dash
writes into its page (the renderer's start and the clientside callbacks: ``Dash.csp_hashes``);
any other inline script (injected markup) is refused. It also allows ``'unsafe-eval'``: Plotly's
WebGL traces (regl) build their drawing code with ``new Function``, and without it the asset
page's long series are not drawn. Plotly's "strict" bundle avoids that, but it is not packaged
for pip, so Dash cannot serve it here; ``'unsafe-eval'`` lets a script that already runs
evaluate strings, it does not let injected markup run.
Styles allow ``'unsafe-inline'``: React and Plotly set element styles at run time, and Dash
cannot work without it (an injected style cannot run code). Images allow ``data:`` and
``blob:`` for Plotly's PNG export and the email previews.

Sign-in attempts are limited per client address (Flask-Limiter, ``web.login_rate_limit``), on
top of the per-account lockout of :mod:`app.accounts`: the lockout stops guessing one
password, the rate limit stops trying many accounts from one place.
"""

from __future__ import annotations

import dash
from flask import Flask, Response
from flask_talisman import Talisman

from app.web.extensions import limiter
from settings import Settings

SCRIPT_SOURCES = ("'self'", "'unsafe-eval'")


def portal_policy(dash_app: dash.Dash) -> dict[str, str | list[str]]:
    return {
        "default-src": "'self'",
        "script-src": [*SCRIPT_SOURCES, *dash_app.csp_hashes()],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",
        "worker-src": ["'self'", "blob:"],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def headers(app: Flask, settings: Settings, policy: dict[str, str | list[str]]) -> Talisman:
    """Talisman on ``app`` with ``policy``, the same way for the portal and the API."""
    return Talisman(
        app,
        force_https=False,
        strict_transport_security=settings.web.session_cookie_secure,
        session_cookie_secure=settings.web.session_cookie_secure,
        frame_options="DENY",
        referrer_policy="same-origin",
        content_security_policy=policy,
        # Talisman's default Permissions-Policy names features some browsers warn about.
        permissions_policy={"camera": "()", "microphone": "()", "geolocation": "()"},
    )


def init_app(server: Flask, dash_app: dash.Dash, settings: Settings) -> None:
    talisman = headers(server, settings, portal_policy(dash_app))

    @server.after_request  # registered after Talisman's hook, so it runs before it
    def follow_dash_scripts(response: Response) -> Response:
        # Dash adds some inline scripts only at its first request (the pages router's
        # clientside callback): the policy takes their hashes as soon as they exist.
        hashes = [*SCRIPT_SOURCES, *dash_app.csp_hashes()]
        if talisman.content_security_policy["script-src"] != hashes:
            talisman.content_security_policy["script-src"] = hashes
        return response

    server.config["RATELIMIT_STORAGE_URI"] = settings.web.rate_limit_storage
    limiter.init_app(server)
