"""Error pages written for people, and CSRF failures that keep what was typed."""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_url
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from composer.extensions import db, login_manager
from composer.rendering.errors import RenderBusy
from composer.web import kept_forms

TITLES = {
    400: "Something was wrong with that request",
    403: "You do not have access to this",
    404: "We could not find that page",
    405: "That action is not allowed here",
    413: "That was too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Busy just now",
}


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response | tuple[str, int]:
        # The form's security token had expired or was missing (an ended session has none).
        # Nothing was saved; what was typed is shown again or kept until sign-in, never lost.
        if not kept_forms.is_keepable():
            return _page(
                400,
                "The form had expired, so nothing was saved. "
                "Go back, reload the page and try again.",
            )
        if not current_user.is_authenticated:
            return _keep_until_signed_in()
        if request.endpoint == "incidents.save_step":
            from composer.web import incidents as views

            view_args = request.view_args or {}
            return _resend_step(views, int(view_args["incident_id"]), str(view_args["step_id"]))
        if request.endpoint == "notices.save":
            return _resend_notice(int((request.view_args or {})["incident_id"]))
        return _keep_for_signed_in()

    def unauthorized() -> Response | tuple[str, int]:
        # A form posted after the session ended (signed out elsewhere): keep what it holds.
        if kept_forms.is_keepable():
            return _keep_until_signed_in()
        assert login_manager.login_view is not None
        flash(str(login_manager.login_message), login_manager.login_message_category)
        return redirect(login_url(login_manager.login_view, next_url=request.url))

    login_manager.unauthorized_handler(unauthorized)

    @app.errorhandler(RenderBusy)
    def render_busy(exc: RenderBusy) -> tuple[str | Response, int, dict[str, str]]:
        # Every PDF renderer stayed busy while this request waited (RENDER_MAX_CONCURRENT).
        headers = {"Retry-After": str(exc.retry_after)}
        if _wants_json():
            return *_json(503, str(exc)), headers
        return *_page(503, str(exc)), headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str | Response, int]:
        code = exc.code or 500
        if _wants_json():
            return _json(code, exc.description or TITLES.get(code, "Something went wrong"))
        return _page(code, exc.description or "")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str | Response, int]:
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        message = "The error has been logged. Your saved work is safe; try again in a moment."
        if _wants_json():
            return _json(500, message)
        return _page(500, message)

    @app.errorhandler(OperationalError)
    def database_error(exc: OperationalError) -> tuple[str | Response, int, dict[str, str]]:
        if not _database_busy(exc):
            return *unexpected(exc), {}
        # SQLite: another write held the lock for longer than SQLITE_BUSY_TIMEOUT_SECONDS.
        db.session.rollback()
        app.logger.warning("Database busy on %s %s: %s", request.method, request.path, exc.orig)
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}
        if _wants_json():
            return *_json(503, DATABASE_BUSY), headers
        return *_page(503, DATABASE_BUSY), headers

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def number_out_of_range(exc: Exception) -> tuple[str | Response, int]:
        # URL ids are bounded by the int converter (composer.web.urls.IdConverter); this catches a
        # too-large number from anywhere else (a query string, a form, JSON) at the database.
        if not _number_out_of_range(exc):
            return unexpected(exc)
        db.session.rollback()
        if _wants_json():
            return _json(404, NO_SUCH_NUMBER)
        return _page(404, NO_SUCH_NUMBER)


#: A number larger than the database's integers can only be an id that does not exist.
NO_SUCH_NUMBER = "There is no such item: that number is larger than any id here."


def _number_out_of_range(exc: Exception) -> bool:
    """SQLite's "Python int too large to convert", PostgreSQL's "integer out of range"
    (SQLSTATE 22003)."""
    if isinstance(exc, OverflowError):
        return "too large to convert" in str(exc)
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "22003"


#: What a request that waited too long for the database's write lock says.
DATABASE_BUSY = (
    "The database is busy saving another large change (a recipient list being imported can "
    "take a minute or two), so nothing was saved. Try again in a minute."
)
#: Seconds suggested in Retry-After when the database was busy.
BUSY_RETRY_AFTER_SECONDS = 30


def _database_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" (or "busy"): the wait for another write ran out."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _wants_json() -> bool:
    """Requests to the JSON API get JSON errors, whatever went wrong."""
    return request.path == "/api" or request.path.startswith("/api/")


def _json(code: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), code


def _page(code: int, message: str) -> tuple[str, int]:
    title = TITLES.get(code, "Something went wrong")
    return render_template("error.html", code=code, title=title, message=message), code


def _keep_until_signed_in() -> Response | tuple[str, int]:
    """Keep the posted form and send the browser to sign in; the form's page gives it back."""
    try:
        page = kept_forms.keep_posted_form()
    except kept_forms.NotKept as exc:
        return _page(
            400,
            f"Your session had ended, so nothing was saved. {exc} "
            "Go back, copy what you typed, sign in again and paste it.",
        )
    return redirect(url_for("auth.login", next=page))


def _keep_for_signed_in() -> Response | tuple[str, int]:
    """Signed in, but the form's token was stale (signed out and in again in another tab):
    keep the form and show its page with the text back, for a user who may send it."""
    keepable = kept_forms.KEEPABLE[str(request.endpoint)]
    if not any(current_user.has_role(role) for role in keepable.roles):
        return _page(400, "The form had expired, so nothing was saved.")
    try:
        page = kept_forms.keep_posted_form()
    except kept_forms.NotKept as exc:
        return _page(
            400,
            f"The form had expired, so nothing was saved. {exc} "
            "Go back, copy what you typed, reload the page and paste it.",
        )
    return redirect(page)


def _resend_step(views: object, incident_id: int, step_id: str) -> tuple[str, int]:
    from composer import incidents
    from composer.checklist import Evaluation
    from composer.web import incidents as step_views
    from composer.web.common import catalogue, today

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


def _resend_notice(incident_id: int) -> tuple[str, int]:
    from composer.notices import versions
    from composer.web import incidents as incident_views
    from composer.web import notices as notice_views
    from composer.web.forms.notices import NoticeForm

    incident = incident_views._incident(incident_id)
    form = NoticeForm.posted()
    shown = (
        versions.get_version(db.session(), incident, form.parent)
        if form.parent is not None
        else None
    )
    return notice_views.render_editor(
        incident,
        shown,
        subject=form.subject,
        body=form.body,
        notice="Your session's security check had expired, so the notice was not saved yet. "
        "Your text is below: check it and press Save again.",
        status=400,
    )
