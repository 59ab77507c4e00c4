"""Who is calling the API, what they may do, and how often.

Every request's bearer token is looked up once, in a ``before_request`` hook that runs before
the rate limiter's, so the limit counts per token (per client address for requests without a
valid token). The views then demand a scope with ``@bp.auth_required(auth, roles=[...])``:
Flask-HTTPAuth answers 401 for no or an unknown token and 403 for a token without the scope.
Scopes are ordered (``app.api_tokens.SCOPES``): a token has the role of its scope and of every
scope below it, so an admin token may also write and read.
The portal's session cookie plays no part: the API never reads it.
"""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import Response, g, request
from flask_limiter import Limiter

from app.api_tokens import SCOPES, TokenIdentity, identify, touch
from app.web.context import db_session

auth = HTTPTokenAuth(
    scheme="Bearer",
    description="A token from the portal's Administration page: `Authorization: Bearer twin_…`. "
                "Read tokens may call every GET; write tokens may also post and acknowledge; "
                "admin tokens may also change the catalogue (sites, assets, sensors).",
)
READ = ["read"]
WRITE = ["write"]
ADMIN = ["admin"]


def identify_request() -> None:
    presented = (request.authorization.token if request.authorization
                 and request.authorization.type == "bearer" else None)
    identity = identify(db_session(), presented) if presented else None
    g.api_token = identity
    if identity is not None:
        touch(db_session(), identity)


@auth.verify_token
def _verify(_token: str) -> TokenIdentity | None:
    return g.get("api_token")


@auth.get_user_roles
def _roles(identity: TokenIdentity) -> list[str]:
    if identity.scope not in SCOPES:  # a scope this version does not know grants nothing
        return []
    return list(SCOPES[:SCOPES.index(identity.scope) + 1])


def current() -> TokenIdentity:
    """The token of the request; only called inside views protected by ``auth``."""
    identity = g.get("api_token")
    assert identity is not None, "view without @auth_required"
    return identity


def rate_key() -> str:
    identity = g.get("api_token")
    return f"token:{identity.id}" if identity is not None else f"addr:{request.remote_addr}"


def retry_after_only_when_limited(response: Response) -> Response:
    """Flask-Limiter sends Retry-After on every response; it means "wait" only on a 429."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def make_limiter(rate_limit: str, storage_uri: str) -> Limiter:
    return Limiter(rate_key, default_limits=[rate_limit], storage_uri=storage_uri,
                   headers_enabled=True, strategy="moving-window", key_prefix="twin-api")
