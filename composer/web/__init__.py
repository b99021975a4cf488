"""Thin blueprints: parse the request, call the domain, render or redirect."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from flask import Flask, current_app
from flask_login import current_user
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response

from composer.checklist import Catalogue
from composer.extensions import db, login_manager
from composer.models import Role, User

if TYPE_CHECKING:
    from composer.lint.engine import LintConfig, Linter

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def catalogue() -> Catalogue:
    return current_app.extensions["composer.catalogue"]  # type: ignore[no-any-return]


_LINTER_LOCK = threading.Lock()


def linter() -> Linter:
    """The app's linter, loaded on first use and then shared by every request and thread.

    Loading takes about a second (spaCy), so it happens once per process: the pipeline, rules
    and paragraph caches are shared by every app in the process (tests make many), and each app
    keeps its own switches (``LINT_DISABLED``, ``LINT_EXCEPTIONS``).
    """
    extensions = current_app.extensions
    found: Linter | None = extensions.get("composer.linter")
    if found is None:
        with _LINTER_LOCK:
            found = extensions.get("composer.linter")
            if found is None:
                found = _shared_linter().with_config(lint_config(current_app.config))
                extensions["composer.linter"] = found
    return found


_process_linter: Linter | None = None


def _shared_linter() -> Linter:
    """The process's one loaded linter; the caller holds ``_LINTER_LOCK``."""
    global _process_linter
    if _process_linter is None:
        from composer.lint.engine import Linter

        _process_linter = Linter.load()
    return _process_linter


def lint_config(config: Mapping[str, Any]) -> LintConfig:
    """``LINT_DISABLED`` and ``LINT_EXCEPTIONS`` as the linter's switches.

    Each may be a list or a comma-separated string (handy in an environment variable).
    """
    from composer.lint.engine import LintConfig

    return LintConfig(
        disabled=frozenset(_names(config.get("LINT_DISABLED"))),
        exceptions=tuple(_names(config.get("LINT_EXCEPTIONS"))),
    )


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(item).strip() for item in items if str(item).strip()]


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


#: The largest id a URL may hold: the database's integer columns (PostgreSQL's ``integer``)
#: hold no more, and a larger number could only reach the database as an error.
MAX_URL_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a whole number from 0 to :data:`MAX_URL_ID`. Anything
    larger (``/incidents/9223372036854775808/``) matches no route, so it is a 404 like any
    other id that does not exist, and never reaches the database."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.min = 0 if self.min is None else self.min
        self.max = MAX_URL_ID if self.max is None else min(self.max, MAX_URL_ID)


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
