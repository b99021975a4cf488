"""Error pages written for people, and CSRF failures that keep what was typed."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from composer.extensions import db

TITLES = {
    400: "Something was wrong with that request",
    403: "You do not have access to this",
    404: "We could not find that page",
    405: "That action is not allowed here",
    413: "That was too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        # The form's security token had expired or was missing. Nothing was saved; if this
        # was a checklist step, show the form again with what was typed so it can be resent.
        if request.endpoint == "incidents.save_step" and current_user.is_authenticated:
            from composer.web import incidents as views

            view_args = request.view_args or {}
            return _resend_step(views, int(view_args["incident_id"]), str(view_args["step_id"]))
        return _page(
            400,
            "The form had expired, so nothing was saved. Go back, reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        return _page(code, exc.description or "")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _page(
            500, "The error has been logged. Your saved work is safe; try again in a moment."
        )


def _page(code: int, message: str) -> tuple[str, int]:
    title = TITLES.get(code, "Something went wrong")
    return render_template("error.html", code=code, title=title, message=message), code


def _resend_step(views: object, incident_id: int, step_id: str) -> tuple[str, int]:
    from composer import incidents
    from composer.checklist import Evaluation
    from composer.web import catalogue, today
    from composer.web import incidents as step_views

    incident = step_views._incident(incident_id)
    ref = step_views._step(step_id)
    raw = {**incident.raw_answers(), **step_views.posted_raw(ref)}
    evaluation = Evaluation(catalogue(), raw, today=today())
    del incidents, views
    return step_views.render_step(
        incident,
        ref,
        evaluation,
        show_errors=True,
        notice="Your session's security check had expired, so this page was not saved yet. "
        "Your answers are below: check them and press the button again.",
        status=400,
    )
