"""What every view may need about the request it serves: the user's zone and today, the app's
checklist catalogue, linter and password hasher. Blueprints import these from here, never from
``composer.web`` (which only registers the blueprints)."""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from flask import current_app
from flask_login import current_user

from composer.checklist import Catalogue
from composer.extensions import current_settings
from composer.settings import Settings
from composer.support.formatting import format_datetime

if TYPE_CHECKING:
    from composer.lint.engine import LintConfig, Linter


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
                found = _shared_linter().with_config(lint_config(current_settings()))
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


def lint_config(settings: Settings) -> LintConfig:
    """``LINT_DISABLED`` and ``LINT_EXCEPTIONS`` as the linter's switches."""
    from composer.lint.engine import LintConfig

    return LintConfig(
        disabled=frozenset(settings.lint_disabled), exceptions=settings.lint_exceptions
    )


def company_name() -> str:
    """The company the notices speak for (``COMPANY_NAME``)."""
    return current_settings().company_name


def password_hasher() -> PasswordHasher:
    return current_app.extensions["composer.password_hasher"]  # type: ignore[no-any-return]


def user_zone() -> ZoneInfo:
    name = None
    if current_user.is_authenticated:
        name = current_user.timezone
    return ZoneInfo(name or current_settings().default_timezone)


def today() -> date:
    """Today where the user is: dates typed by the user are compared with this."""
    return datetime.now(user_zone()).date()


def localtime(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, user_zone())
