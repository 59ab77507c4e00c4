"""``GET /emails/<id>.eml``: a message written to the outbox, for the supplier that sent it."""

from __future__ import annotations

from flask import Blueprint, Response, abort
from flask_login import current_user

from app.mail.delivery import outbox_file
from app.web.context import db_session, twin

bp = Blueprint("emails", __name__)


@bp.route("/emails/<int:log_id>.eml")
def eml(log_id: int) -> Response:
    content = outbox_file(db_session(), twin().settings, current_user.supplier_id, log_id)
    if content is None:
        abort(404)
    return Response(content, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="email-{log_id}.eml"',
        "X-Content-Type-Options": "nosniff",
    })
