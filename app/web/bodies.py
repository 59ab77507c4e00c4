"""Request bodies the portal cannot use are a 400, never a 500.

Two gaps, both reachable by anyone who is logged in and forges a request:

* JSON nested too deeply for the standard library's parser raises ``RecursionError``, which
  Flask does not turn into a 400 the way it does a ``ValueError``: :class:`JSONProvider` makes it
  one (the API's app uses it too).
* Dash's ``/_dash-update-component`` trusts the shape of its body: an unknown ``output``, an
  ``inputs`` that is not a list of ``{"id", "property"}``, fewer inputs than the callback takes,
  raise ``KeyError``/``IndexError``/``AttributeError`` inside Dash before any callback runs.
  :func:`dash_body_problem` checks the body against the registered callback first.

Wired by :func:`init_app`, from :func:`app.web.errors.init_app`.
"""

from __future__ import annotations

from typing import Any

import dash
from flask import Flask, abort, current_app, request
from flask.json.provider import DefaultJSONProvider

DASH_DISPATCH = "/_dash-update-component"


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply for the parser is a 400 like any other bad
    JSON (the standard library raises RecursionError, which Flask does not catch: a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def _is_prop(item: Any) -> bool:
    return isinstance(item, dict) and "id" in item and isinstance(item.get("property"), str)


def _props_match(sent: Any, registered: list[dict[str, Any]]) -> bool:
    """``sent`` is a list with one entry per registered input (or state): an ``{"id",
    "property"}`` dict, or for a pattern-matching id a list of them."""
    if not isinstance(sent, list) or len(sent) != len(registered):
        return False
    for item, expected in zip(sent, registered, strict=True):
        ident = expected.get("id")
        # A pattern-matching id ({"type": ..., "index": ALL}, registered as its JSON text):
        # one match, or a list of any number of them.
        if isinstance(ident, dict) or (isinstance(ident, str) and ident.startswith("{")):
            if not (isinstance(item, list) and all(_is_prop(i) for i in item)) and not _is_prop(item):
                return False
        elif not (_is_prop(item) and item["id"] == expected["id"]
                  and item["property"] == expected["property"]):
            return False
    return True


def dash_body_problem(body: Any, callback_map: dict[str, Any]) -> str | None:
    """What is wrong with a ``/_dash-update-component`` body for this app's callbacks (None:
    nothing; Dash can dispatch it)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "no such callback"
    callback = callback_map[output]
    if not _props_match(body.get("inputs"), callback["inputs"]):
        return "the inputs do not match the callback's"
    if not _props_match(body.get("state", []), callback.get("state", [])):
        return "the state does not match the callback's"
    outputs = body.get("outputs")
    registered = callback.get("output")
    count = len(registered) if isinstance(registered, (list, tuple)) else int(registered is not None)
    # One pattern-matching output with ALL ('{"type":...,"scenario":["ALL"]}.style') arrives
    # as the bare list of its matches, however many there are.
    lone_pattern = count == 1 and not isinstance(registered, (list, tuple)) and output.startswith("{")
    if isinstance(outputs, list) and lone_pattern:
        if not all(_is_prop(o) for o in outputs):
            return "the outputs do not match the callback's"
    elif isinstance(outputs, list):
        if len(outputs) != count or not all(_is_prop(o) or isinstance(o, list) for o in outputs):
            return "the outputs do not match the callback's"
    elif not (count <= 1 and (outputs is None or _is_prop(outputs))):
        return "the outputs do not match the callback's"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds is not a list of names"
    return None


def init_app(server: Flask) -> None:
    """The JSON provider, and the check of Dash's bodies (once Dash is registered on
    ``server``: it is looked up per request)."""
    server.json = JSONProvider(server)

    @server.before_request
    def check_dash_body() -> None:
        dash_app: dash.Dash | None = current_app.extensions.get("dash_app")
        if (dash_app is None or request.method != "POST"
                or not request.path.endswith(DASH_DISPATCH)):
            return
        body = request.get_json()  # not JSON at all: 400 (415 without the JSON content type)
        if dash_body_problem(body, dash_app.callback_map) is not None:
            abort(400, description="This request does not match any of the page's callbacks.")
