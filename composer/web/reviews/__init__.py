"""Legal sign-off over HTTP: submit a version for review, the approval view, comments, requests
for changes, approval with the approver's password, the review queue, and the approvals rule.

The rules live in ``composer.approval``; these views parse requests, build the bundle from the
app's settings, and turn refusals into pages: 403 for someone who may not do a thing (four eyes,
role), 409 when the text or settings moved on, 422 for input to fix. Every URL of the blueprint
is listed here; the views are in :mod:`.submit`, :mod:`.page` (the approval view),
:mod:`.decisions` (comment, approve, request changes, withdraw, the approvals rule) and
:mod:`.queue`.
"""

from __future__ import annotations

from flask import Blueprint

from composer.web.reviews import decisions, page, queue, submit

bp = Blueprint("reviews", __name__)

_SUBMIT = "/incidents/<int:incident_id>/notice/submit"
_REVIEW = "/incidents/<int:incident_id>/reviews/<int:review_id>"

bp.add_url_rule(_SUBMIT, view_func=submit.submit_form, methods=["GET"])
bp.add_url_rule(_SUBMIT, view_func=submit.submit, methods=["POST"])
bp.add_url_rule("/incidents/<int:incident_id>/review", view_func=page.current, methods=["GET"])
bp.add_url_rule(_REVIEW, view_func=page.review, methods=["GET"])
bp.add_url_rule(_REVIEW + "/comments", view_func=decisions.add_comment, methods=["POST"])
bp.add_url_rule(_REVIEW + "/approve", view_func=decisions.approve, methods=["POST"])
bp.add_url_rule(_REVIEW + "/request-changes", view_func=decisions.request_changes, methods=["POST"])
bp.add_url_rule(_REVIEW + "/withdraw", view_func=decisions.withdraw, methods=["POST"])
bp.add_url_rule(
    "/incidents/<int:incident_id>/required-approvals",
    view_func=decisions.set_required,
    methods=["POST"],
)
bp.add_url_rule("/reviews", view_func=queue.queue, methods=["GET"])
bp.app_context_processor(queue.review_count)
