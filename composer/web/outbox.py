"""The dev outbox: with ``MAIL_GATEWAY = "outbox"``, admins read here the emails the app "sent".

A message's HTML part is never part of the app's own pages: it is shown in an
``<iframe sandbox>`` whose document comes from ``message_html``, served with the same sandboxing
``Content-Security-Policy`` as the notice previews (no script, no requests, a unique origin).
"""

from __future__ import annotations

from typing import Final

from flask import Blueprint, abort, render_template
from werkzeug.wrappers import Response

from composer.extensions import current_settings, db
from composer.models import DevOutboxMessage, Role
from composer.web.access import require_role
from composer.web.previews import SANDBOX_CSP

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

#: The newest messages listed; older ones stay in the table.
LIST_LIMIT: Final = 200


def _outbox_on() -> None:
    gateway = current_settings().mail_gateway
    if gateway != "outbox":
        abort(
            404,
            description=f"The dev outbox is off: this site sends email through {gateway} "
            "(MAIL_GATEWAY), so nothing is kept here.",
        )


def _message(message_id: int) -> DevOutboxMessage:
    _outbox_on()
    message = db.session.get(DevOutboxMessage, message_id)
    if message is None:
        abort(404, description=f"The dev outbox has no message number {message_id}.")
    return message


@bp.get("")
@require_role(Role.ADMIN)
def index() -> str:
    _outbox_on()
    messages = db.session.scalars(
        db.select(DevOutboxMessage)
        .order_by(DevOutboxMessage.created_at.desc(), DevOutboxMessage.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    return render_template("outbox/index.html", messages=messages, limit=LIST_LIMIT)


@bp.get("/<int:message_id>")
@require_role(Role.ADMIN)
def message(message_id: int) -> str:
    return render_template("outbox/message.html", message=_message(message_id))


@bp.get("/<int:message_id>/body.html")
@require_role(Role.ADMIN)
def message_html(message_id: int) -> Response:
    """The message's HTML part, for the frame on the message page only (sandboxed by its CSP)."""
    found = _message(message_id)
    if found.html is None:
        abort(404, description="This message has no HTML part.")
    response = Response(found.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
