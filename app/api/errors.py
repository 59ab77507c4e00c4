"""Every API error is one JSON shape: ``{"code", "message", "errors": [{"field", "row", ...}]}``,
whether it comes from validation, authentication, the rate limiter, werkzeug or a view."""

from __future__ import annotations

from typing import Any

from apiflask import HTTPError
from pydantic import ValidationError

from app.api.schemas import Error, FieldError

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}
MESSAGES = {
    400: "The body is not valid JSON (it must be UTF-8 JSON, an object as the operation's "
         "schema describes).",
    401: "Send a valid API token: Authorization: Bearer twin_… (tokens are made by an admin "
         "on the portal's Administration page).",
    403: "This token's scope does not allow this: sending readings and acknowledging alerts "
         "need a write token; changing the catalogue (sites, assets, sensors) needs an admin "
         "token.",
    404: "No such resource.",
    405: "This method is not allowed here.",
    429: "Too many requests for this token: wait for the time in Retry-After.",
}
MAX_LISTED = 100


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` written in place: APIFlask registers a dict
    error schema as one component and would leave the ``$ref``s to its parts dangling."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


#: The error body as an OpenAPI schema, for every error response of the document.
ERROR_SCHEMA = _inlined(Error.model_json_schema())


class ApiError(HTTPError):
    """An error a view raises on purpose: a status, a code and a message for the client."""

    def __init__(self, status: int, code: str, message: str,
                 errors: list[dict[str, Any]] | None = None, total: int | None = None) -> None:
        super().__init__(status, message,
                         extra_data={"code": code, "errors": errors or [], "total_errors": total})


def not_found(what: str, ident: int) -> ApiError:
    """The 404 of an id the token's supplier has no record of: the same words whether the id
    is free or another supplier's."""
    return ApiError(404, "not_found", f"No {what} {ident} for this token's supplier.")


def responses(*statuses: int) -> dict[int, str]:
    """Error responses an operation documents besides the automatic 401, 404 and 422."""
    words = {400: "Malformed request (e.g. JSON that does not parse)", 403: "Token lacks the scope",
             409: "Conflicts with what is stored", 413: "Body over the size limit",
             429: "Rate limit of the token reached: see Retry-After"}
    return {status: words[status] for status in (*statuses, 429)}


def _field_errors(exc: ValidationError, location: str) -> list[dict[str, Any]]:
    found = []
    for item in exc.errors(include_url=False, include_input=False):
        loc = item["loc"]
        row = loc[1] if len(loc) > 1 and loc[0] == "readings" and isinstance(loc[1], int) else None
        message = item["msg"].removeprefix("Value error, ")
        found.append({"field": ".".join(str(part) for part in loc) or location, "row": row,
                      "code": item["type"], "message": message})
    return found


def process(error: HTTPError) -> tuple[dict[str, Any], int, Any]:
    status = error.status_code
    extra = dict(error.extra_data or {})
    code = extra.get("code") or CODES.get(status, "error")
    errors, total, message = extra.get("errors") or [], extra.get("total_errors"), error.message
    cause = error.__cause__
    if isinstance(cause, ValidationError):
        location = next(iter(error.detail), "body") if isinstance(error.detail, dict) else "body"
        errors = _field_errors(cause, location)
        total = len(errors)
        first = errors[0]
        where = f"row {first['row']}, " if first["row"] is not None else ""
        message = (f"{total} invalid field{'s' if total != 1 else ''}; first: {where}"
                   f"{first['field']}: {first['message']}")
    elif status == 413:
        message = "The request body is larger than this API accepts (see the 413 limit in " \
                  "the settings: api.max_body_bytes); send smaller batches."
    elif "code" not in extra and status in MESSAGES:
        message = MESSAGES[status]
    listed = [FieldError(**item).model_dump() for item in errors[:MAX_LISTED]]
    body: dict[str, Any] = {"code": code, "message": message, "errors": listed}
    if total is not None and total > MAX_LISTED:
        body["total_errors"] = total
    return body, status, error.headers
