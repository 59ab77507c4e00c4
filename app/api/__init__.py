"""The REST API under /api/v1: an APIFlask app of its own, mounted beside the portal.

APIFlask builds the OpenAPI document (``/api/v1/openapi.json``) and the Swagger UI page
(``/api/v1/docs``) from the views' pydantic schemas, so the document is the code. It is a
separate WSGI app, mounted with werkzeug's ``DispatcherMiddleware`` (Flask's "application
dispatching" pattern), because the API and the portal differ in everything around the views:
bearer tokens instead of the session cookie, JSON errors everywhere, its own body limit and
rate limit, and a document that lists only the API. Both share one :class:`TwinContext`: the
same settings, database pools and task queue.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import flask_swagger_ui
from apiflask import APIFlask, HTTPError
from flask import Flask, Response, current_app, request, send_from_directory
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import IntegerConverter, Map

from app.api import catalogue, errors, security, views
from app.api.schemas import MAX_ID
from app.web import security as web_security
from app.web.bodies import JSONProvider
from app.web.context import TwinContext
from app.web.context import init_app as init_context

PREFIX = "/api/v1"
VERSION = "1.0.0"
# Swagger UI 5 (OpenAPI 3.1) as flask-swagger-ui packages it: served from here, so the docs page
# needs no CDN, like the portal.
SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
DESCRIPTION = """\
Energy Twin for devices and integrations: send sensor and meter readings, read assets, meters,
sensor history, metrics, alerts, pipeline status and forecasts, run an asset's simulator, and
manage the catalogue: sites, their assets, the assets' sensors and formulas.

* **Authentication**: `Authorization: Bearer twin_…`, a token an admin creates on the portal's
  Administration page. A token belongs to one supplier and sees only its estate. Scope `read`
  may call every GET (and simulations that store nothing); `write` may also post and acknowledge;
  `admin` may also change the catalogue (create, change, retire, restore and delete sites,
  assets and sensors). Every change is audited in the token's name.
* **Errors** are JSON: `{"code", "message", "errors": [{"field", "row", "code", "message"}]}`.
  400 malformed JSON, 401 no or a revoked token, 403 scope, 404 not found (or another
  supplier's), 409 conflict (a name already taken; a delete of something with history: retire
  it instead), 413 body over the limit, 422 validation (the field to fix is named), 429 rate
  limit per token (see `Retry-After`).
* **Lists** are paged: `page` (from 1) and `per_page`; sensor readings by time (`next_start`).
  Retired sites, assets and sensors are listed with `retired=true`.
* **Times** are ISO 8601 with an offset; answers are in UTC.
"""


# JSON needs no sources at all; the docs page (below) gets its own policy.
API_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def _docs_policy(response: Response) -> Response:
    """The Swagger UI page: its files from here, its styles inline, and its one inline script
    (APIFlask's set-up of Swagger UI, the same on every request) allowed by its hash."""
    if request.endpoint != "openapi.docs" or response.status_code != 200:
        return response
    hashes = current_app.extensions.setdefault("twin_docs_script_hashes", [])
    if not hashes:
        hashes.extend(
            "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
            for script in _INLINE_SCRIPT.findall(response.get_data()))
    response.headers["Content-Security-Policy"] = "; ".join([
        "default-src 'self'", "script-src 'self' " + " ".join(hashes),
        "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "frame-ancestors 'none'",
        "base-uri 'self'", "object-src 'none'"])
    return response


def _body_within_limit() -> None:
    """413 for a body declared larger than the limit, before anything else: werkzeug refuses
    one only when a view reads it, and an operation without a body (retire, restore) reads
    none."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and limit is not None and request.content_length > limit:
        raise HTTPError(413)


class IdConverter(IntegerConverter):
    """A record id in a path: 1 to the largest INTEGER. Anything else does not match the route
    (404), so an id no database could hold never reaches a query."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def _id_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    """APIFlask documents a custom converter's parameter as a string: say what ``<id:...>``
    accepts."""
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return spec


def create_api(context: TwinContext) -> APIFlask:
    api = APIFlask(__name__, title="Energy Twin API", version=VERSION,
                   spec_path="/openapi.json", docs_path="/docs", docs_ui="swagger-ui")
    api.url_map.converters["id"] = IdConverter
    api.spec_processor(_id_parameters)
    api.config.update(
        MAX_CONTENT_LENGTH=context.settings.api.max_body_bytes,
        DESCRIPTION=DESCRIPTION,
        HTTP_ERROR_SCHEMA=errors.ERROR_SCHEMA,
        VALIDATION_ERROR_SCHEMA=errors.ERROR_SCHEMA,
        VALIDATION_ERROR_DESCRIPTION="Validation error: the fields are named in `errors`",
        SERVERS=[{"url": PREFIX, "description": "this server"}],
        AUTO_SERVERS=False,
        SWAGGER_UI_BUNDLE_JS=f"{PREFIX}/_docs/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{PREFIX}/_docs/swagger-ui-standalone-preset.js",
        SWAGGER_UI_CSS=f"{PREFIX}/_docs/swagger-ui.css",
        DOCS_FAVICON=f"{PREFIX}/_docs/favicon-32x32.png",
        SWAGGER_UI_CONFIG={"persistAuthorization": False},
        JSON_SORT_KEYS=False,
    )
    api.json = JSONProvider(api)
    api.json.sort_keys = False  # type: ignore[attr-defined]
    init_context(api, context)
    api.error_processor(errors.process)
    security.auth.error_processor(errors.process)
    api.after_request(_docs_policy)  # runs after Talisman's (reverse order): may replace its CSP
    web_security.headers(api, context.settings, API_POLICY)
    api.before_request(_body_within_limit)
    # Identify the token before the rate limiter runs (it counts per token): registered first.
    api.before_request(security.identify_request)
    # After-request hooks run in reverse order: this one runs after the limiter adds its headers.
    api.after_request(security.retry_after_only_when_limited)
    security.make_limiter(context.settings.api.rate_limit,
                          context.settings.web.rate_limit_storage).init_app(api)
    api.register_blueprint(catalogue.bp)
    api.register_blueprint(views.bp)

    @api.get("/_docs/<path:filename>")
    @api.doc(hide=True)
    def docs_static(filename: str):  # type: ignore[no-untyped-def]
        return send_from_directory(SWAGGER_DIST, filename, max_age=86400)

    @api.errorhandler(OperationalError)
    def database_down(exc: OperationalError):  # type: ignore[no-untyped-def]
        api.logger.error("database error on the API: %s", exc.orig)
        return errors.process(HTTPError(503, "The database is not answering; try again shortly.",
                                        extra_data={"code": "database_unavailable"}))

    return api


def mount(server: Flask, api: APIFlask) -> None:
    """Serve ``api`` under /api/v1 of the portal's server (same host, port and process)."""
    server.wsgi_app = DispatcherMiddleware(server.wsgi_app, {PREFIX: api.wsgi_app})  # type: ignore[method-assign]
    server.extensions["twin_api"] = api
