"""JSON endpoints, for the editor's live panel and for other tools.

``POST /api/lint`` with ``{"text": "...", "incident_id": 3}`` (``incident_id`` may be null or left
out) returns ``{"findings": [...], "stats": {...}}``, the finding shape of LINT.md. Signed-in
users only; send the page's CSRF token in the ``X-CSRFToken`` header. Errors are JSON too,
``{"error": "<message for a person>"}``: 400 (not JSON, no text, bad token), 401 (not signed
in), 404 (no such incident, including numbers no incident can have), 413 (text over
``LINT_MAX_CHARS`` characters, default 50,000). Checking stops after ``LINT_TIME_BUDGET_SECONDS``:
the answer then has ``"complete": false``, ``"checked_chars"`` and a ``"note"`` for the user.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from composer.extensions import csrf, current_settings, db
from composer.models import Incident
from composer.web.linting import lint_text

bp = Blueprint("api", __name__, url_prefix="/api")
#: The largest id a database row can have (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def _too_long(length: int | None = None) -> tuple[Response, int]:
    limit = current_settings().lint_max_chars
    size = f"The text is {length:,} characters long. " if length is not None else ""
    return error(
        413,
        f"{size}The linter checks at most {limit:,} characters at a time: "
        "shorten the notice or check it in parts.",
        limit=limit,
    )


@bp.errorhandler(RequestEntityTooLarge)
def request_too_large(_exc: RequestEntityTooLarge) -> tuple[Response, int]:
    # The body was over MAX_CONTENT_LENGTH, so it was never read: the length is unknown.
    return _too_long()


@bp.post("/lint")
def lint() -> tuple[Response, int]:
    if not current_user.is_authenticated:
        return error(401, "Sign in to use the linter.")
    try:
        # Flask-WTF's own switch (tests turn it off), not one of the app's settings.
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    except CSRFError as exc:
        return error(
            400,
            f"{exc.description} Send the page's token in the X-CSRFToken header; "
            "if the page has been open a long time, reload it.",
        )
    if not request.is_json:
        return error(400, "Send JSON with the header Content-Type: application/json.")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return error(400, 'The body must be a JSON object like {"text": "...", "incident_id": 3}.')
    text = payload.get("text")
    if not isinstance(text, str):
        return error(400, '"text" is required and must be a string.')
    incident_id = payload.get("incident_id")
    if incident_id is not None and type(incident_id) is not int:
        return error(400, '"incident_id" must be a whole number or null.')
    if incident_id is not None and not 1 <= incident_id <= MAX_ID:
        # The database cannot even look such a number up (SQLite integers are 64-bit).
        return error(404, f"There is no incident number {incident_id}.")
    if len(text) > current_settings().lint_max_chars:
        return _too_long(len(text))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800"): valid JSON, but not text.
        return error(400, '"text" is not valid Unicode text.')
    incident = None
    if incident_id is not None:
        incident = db.session.get(Incident, incident_id)
        if incident is None:
            return error(404, f"There is no incident number {incident_id}.")
    return jsonify(lint_text(text, incident).to_json()), 200


# CSRF is checked inside the view, after the sign-in check, so anonymous callers get 401.
csrf.exempt(lint)
