"""Signing in and out."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from composer import accounts, audit
from composer.extensions import current_settings, db
from composer.models import utcnow
from composer.web import kept_forms
from composer.web.access import signed_in
from composer.web.common import password_hasher
from composer.web.forms.auth import SignInForm
from composer.web.redirects import local_target

bp = Blueprint("auth", __name__)


def login_throttle() -> accounts.Throttle:
    """The sign-in throttle's numbers from the ``LOGIN_*`` settings (docs/security.md)."""
    settings = current_settings()
    return accounts.Throttle(
        free_failures=settings.login_failures_before_delay,
        max_delay=settings.login_max_delay,
        max_per_account=settings.login_max_failures_per_account,
        max_per_address=settings.login_max_failures_per_address,
        window=settings.login_failure_window,
    )


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "/incidents/3", never "//evil.example" or "/\t/evil.example".
    return local_target(target) or url_for("incidents.index")


@bp.get("/")
def home() -> Response:
    return redirect(url_for("incidents.index"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    if current_user.is_authenticated:
        return redirect(url_for("incidents.index"))
    form = SignInForm.posted()
    email = form.email
    if request.method == "GET":
        next_page = local_target(request.args.get("next")) or ""
        return render_template(
            "auth/login.html", email=email, next=next_page, kept=kept_forms.waiting()
        )
    try:
        user = accounts.authenticate(
            db.session(),
            password_hasher(),
            login_throttle(),
            email=email,
            password=form.password,
            address=request.remote_addr or "unknown",
            now=utcnow(),
        )
    except accounts.TooManyAttempts as exc:
        db.session.commit()
        seconds = int(exc.retry_after.total_seconds())
        body = render_template(
            "auth/login.html",
            email=email,
            error=str(exc),
            next=local_target(form.next) or "",
            kept=kept_forms.waiting(),
        )
        return body, 429, {"Retry-After": str(seconds)}  # type: ignore[return-value]
    if user is None:
        db.session.commit()
        error = "That email and password do not match an active account."
        return render_template(
            "auth/login.html",
            email=email,
            error=error,
            next=local_target(form.next) or "",
            kept=kept_forms.waiting(),
        ), 401
    audit.record(
        db.session(), actor=user, action="user.signed_in", subject_type="user", subject_id=user.id
    )
    db.session.commit()
    # Forms kept while the session had ended go to this account (or are dropped if not its).
    kept = kept_forms.keys_before_sign_in()
    # A fresh session at sign-in: nothing from before (including any planted values) survives.
    session.clear()
    login_user(user)
    session.permanent = True
    kept_page = kept_forms.claim(user, kept)
    response = redirect(_safe_next(form.next or kept_page))
    kept_forms.remember_signer(response, user)
    return response


@bp.post("/logout")
@signed_in
def logout() -> Response:
    user = current_user._get_current_object()
    accounts.sign_out_everywhere(user)
    audit.record(
        db.session(), actor=user, action="user.signed_out", subject_type="user", subject_id=user.id
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
