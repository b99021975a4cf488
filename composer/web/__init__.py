"""Thin blueprints: parse the request, call the domain, render or redirect."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from flask import Flask, current_app
from flask_login import current_user
from werkzeug.wrappers import Response

from composer.checklist import Catalogue
from composer.extensions import db, login_manager
from composer.models import Role, User

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def catalogue() -> Catalogue:
    return current_app.extensions["composer.catalogue"]  # type: ignore[no-any-return]


def password_hasher() -> PasswordHasher:
    return current_app.extensions["composer.password_hasher"]  # type: ignore[no-any-return]


def user_zone() -> ZoneInfo:
    name = None
    if current_user.is_authenticated:
        name = current_user.timezone
    return ZoneInfo(name or current_app.config["DEFAULT_TIMEZONE"])


def today() -> date:
    """Today where the user is: dates typed by the user are compared with this."""
    return datetime.now(user_zone()).date()


def localtime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(user_zone())
    return f"{local.day} {local:%b %Y, %H:%M %Z}"


def register(app: Flask) -> None:
    from composer.web import admin, auth, errors, incidents

    app.register_blueprint(auth.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(admin.bp)
    errors.register(app)
    app.add_template_filter(localtime, "localtime")
    app.jinja_env.globals["Role"] = Role

    def load_user(session_id: str) -> User | None:
        user_id, _, nonce = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_nonce != nonce:
            return None
        return user

    login_manager.user_loader(load_user)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        return response
