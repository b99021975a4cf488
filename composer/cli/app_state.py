"""What the app commands read from the app they run in: its checklist catalogue, its password
hasher and today's date where it is; and the "there is no ... number N" refusal they share."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from argon2 import PasswordHasher
from flask import current_app

from composer.extensions import current_settings, db

Row = TypeVar("Row")


def catalogue() -> Any:
    """The checklist catalogue the app loaded at start-up."""
    return current_app.extensions["composer.catalogue"]


def password_hasher() -> PasswordHasher:
    return current_app.extensions["composer.password_hasher"]  # type: ignore[no-any-return]


def today() -> date:
    """Today's date in the app's DEFAULT_TIMEZONE (what the web pages would say)."""
    return datetime.now(ZoneInfo(current_settings().default_timezone)).date()


def get_or_fail(model: type[Row], row_id: int, what: str) -> Row:
    """The ``model`` row numbered ``row_id``, or a usage error: "There is no ``what`` number N"."""
    row = db.session.get(model, row_id)
    if row is None:
        raise click.ClickException(f"There is no {what} number {row_id}.")
    return row
