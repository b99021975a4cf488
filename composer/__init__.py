"""The breach and incident notice composer."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from composer.settings import (
    Defaults,
    kept_form_hours,
    letter_home_country,
    lint_time_budget,
    send_prepare_rows,
)
from composer.support.resources import CHECKLISTS_DIR, STATIC_DIR, TEMPLATES_DIR


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configuration, data files, extensions, blueprints and commands.

    Configuration comes from ``Defaults``, then ``COMPOSER_*`` environment variables, then
    ``config``. Refuses to start (``DataFileError``) if a checklist data file is invalid,
    (``ValueError``) if ``SEND_THREADS`` is not a whole number of at least 1, and
    (``MissingExtra``) if a setting needs an optional extra that is not installed.
    """
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(STATIC_DIR),
        instance_relative_config=True,
    )
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("COMPOSER")
    if config:
        app.config.update(config)
    threads = app.config["SEND_THREADS"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        # Found now rather than when the first send starts its worker.
        raise ValueError(
            f"SEND_THREADS must be a whole number of 1 or more (batches in flight per sending "
            f"worker); it is {threads!r}."
        )

    _check_extras(app.config)
    _limit_renders(app.config)
    lint_time_budget(app.config)  # a wrong value stops start-up, naming the setting
    letter_home_country(app.config)  # so does a country letters cannot name
    send_prepare_rows(app.config)  # and a prepare step of no recipients
    kept_form_hours(app.config)  # and kept forms that never or always expire

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        db_file = Path(app.instance_path) / "composer.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    if int(app.config.get("PROXY_FIX_X_FOR", 0)):
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=int(app.config["PROXY_FIX_X_FOR"]), x_proto=1
        )

    from composer import cli, extensions, web
    from composer.checklist import load_catalogue

    checklists_dir = Path(app.config["CHECKLISTS_DIR"] or CHECKLISTS_DIR)
    app.extensions["composer.catalogue"] = load_catalogue(checklists_dir)
    app.extensions["composer.password_hasher"] = PasswordHasher(
        time_cost=int(app.config["PASSWORD_HASH_TIME_COST"]),
        memory_cost=int(app.config["PASSWORD_HASH_MEMORY_KIB"]),
        parallelism=int(app.config["PASSWORD_HASH_PARALLELISM"]),
    )
    extensions.init_app(app)
    web.register(app)
    cli.register(app)
    if app.config["SEND_WORKER"] == "celery":
        from composer.workers.celery_tasks import celery_init_app

        celery_init_app(app)
    return app


class MissingExtra(RuntimeError):
    """A setting asks for something an optional extra of the package provides, and it is not
    installed. The message names the setting and the command that installs the extra."""


def _check_extras(config: Mapping[str, Any]) -> None:
    """Found at start-up rather than at the first send or the first query."""
    if config["SEND_WORKER"] == "celery" and find_spec("celery") is None:
        raise MissingExtra(
            "SEND_WORKER is 'celery' but Celery is not installed. Install the extra with "
            "pip install 'notice-composer[celery]', or leave SEND_WORKER at 'inprocess'."
        )
    uri = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if uri.startswith(("postgresql+psycopg:", "postgresql+psycopg_async:")) and (
        find_spec("psycopg") is None
    ):
        raise MissingExtra(
            "SQLALCHEMY_DATABASE_URI is a PostgreSQL database but its driver, psycopg, is not "
            "installed. Install the extra with pip install 'notice-composer[postgres]'."
        )


def _limit_renders(config: Mapping[str, Any]) -> None:
    """RENDER_MAX_CONCURRENT for this process's PDF renderers, checked at start-up."""
    from composer.rendering import child_process

    limit = config.get("RENDER_MAX_CONCURRENT")
    try:
        child_process.limit_concurrency(limit)
    except ValueError:
        raise ValueError(
            f"RENDER_MAX_CONCURRENT must be a whole number of 1 or more (PDF renders at once "
            f"per process), or unset for the number of CPU cores; it is {limit!r}."
        ) from None


def _instance_secret(path: Path) -> str:
    """A per-installation secret key, made once and kept readable by the owner only."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
