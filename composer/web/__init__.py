"""Thin blueprints: parse the request, call the domain, render or redirect.

This module only registers them; what views share is in :mod:`composer.web.common`."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user
from werkzeug.wrappers import Response

from composer.extensions import db, login_manager
from composer.models import Role, User
from composer.web.common import localtime
from composer.web.urls import IdConverter

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    # Before any blueprint, so every route's <int:...> uses it.
    app.url_map.converters["int"] = IdConverter
    from composer.web import (
        admin,
        api,
        audit,
        auth,
        errors,
        incidents,
        letters,
        notices,
        outbox,
        previews,
        recipients,
        regimes,
        reviews,
        sending,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(previews.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(outbox.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(reviews.bp)
    app.register_blueprint(sending.bp)
    app.register_blueprint(recipients.bp)
    app.register_blueprint(letters.bp)
    app.register_blueprint(regimes.bp)
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
