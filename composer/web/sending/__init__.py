"""Sending over HTTP: the send page (release check, test send, send), a run's progress with
pause, resume and cancel, and SendGrid's signed Event Webhook.

Sending needs the admin role; a test send goes to the signed-in person's own address. The
domain work is in ``composer.delivery`` and ``composer.approval``. Every URL of the blueprint
is listed here; the views are in :mod:`.page` (the send page), :mod:`.runs` (a run and its
controls) and :mod:`.webhook`.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from composer.web.sending import page, runs, webhook
from composer.workers.inprocess import worker

bp = Blueprint("sending", __name__)

_SEND = "/incidents/<int:incident_id>/send"
_RUN = _SEND + "/runs/<int:run_id>"

bp.add_url_rule(_SEND, view_func=page.send_page, methods=["GET"])
bp.add_url_rule(_SEND + "/test", view_func=page.test_send, methods=["POST"])
bp.add_url_rule(_SEND, view_func=page.start, methods=["POST"])
bp.add_url_rule(_RUN, view_func=runs.progress, methods=["GET"])
bp.add_url_rule(_RUN + ".json", view_func=runs.progress_json, methods=["GET"])
bp.add_url_rule(
    _RUN + "/<any(pause, resume, cancel, now):action>", view_func=runs.control, methods=["POST"]
)
bp.add_url_rule(_RUN + "/unreached", view_func=runs.resend_unreached, methods=["POST"])
bp.add_url_rule(
    _RUN + "/in-doubt/<any(resend, delivered):choice>",
    view_func=runs.settle_in_doubt,
    methods=["POST"],
)
bp.add_url_rule("/webhooks/sendgrid", view_func=webhook.webhook, methods=["POST"])


@bp.before_app_request
def _sender_carries_on() -> None:
    """The embedded default: the sending threads start with the app's first request, so a
    send that was running (or scheduled, or letters waiting) when the app stopped carries on
    after a restart without anyone pressing anything, and the retention purge runs."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("composer.sender") is not None:
        return
    sender = worker()
    if sender is not None:
        sender.wake()
