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

from composer.rendering import child_process
from composer.settings import Defaults, Settings, settings_of
from composer.support.resources import CHECKLISTS_DIR, STATIC_DIR, TEMPLATES_DIR


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configuration, data files, extensions, blueprints and commands.

    Configuration comes from ``Defaults``, then ``COMPOSER_*`` environment variables, then
    ``config``. Refuses to start (``composer.settings.SettingError``, naming each one) if a
    setting has a wrong value, (``DataFileError``) if a checklist or regime data file is
    invalid, and (``MissingExtra``) if a setting needs an optional extra that is not installed.
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
    # Every setting typed and checked once: a wrong value stops start-up with a message
    # naming it, rather than failing at the first send, render or sign-in that reads it.
    settings = settings_of(app.config)
    _check_extras(settings)
    child_process.limit_concurrency(settings.render_max_concurrent)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not settings.secret_key:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    if not settings.sqlalchemy_database_uri:
        db_file = Path(app.instance_path) / "composer.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    if settings.proxy_fix_x_for:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_fix_x_for, x_proto=1
        )

    from composer import cli, extensions, web
    from composer.checklist import load_catalogue
    from composer.regimes import REGIMES_FOLDER, load_regimes

    checklists_dir = Path(settings.checklists_dir or CHECKLISTS_DIR)
    catalogue = load_catalogue(checklists_dir)
    app.extensions["composer.catalogue"] = catalogue
    # The law as data: a wrong regime file stops start-up, like a wrong checklist file.
    app.extensions["composer.regimes"] = load_regimes(checklists_dir / REGIMES_FOLDER, catalogue)
    app.extensions["composer.password_hasher"] = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    extensions.init_app(app)
    web.register(app)
    cli.register(app)
    if settings.send_worker == "celery":
        from composer.workers.celery_tasks import celery_init_app

        celery_init_app(app)
    return app


class MissingExtra(RuntimeError):
    """A setting asks for something an optional extra of the package provides, and it is not
    installed. The message names the setting and the command that installs the extra."""


def _check_extras(settings: Settings) -> None:
    """Found at start-up rather than at the first send or the first query."""
    if settings.send_worker == "celery" and find_spec("celery") is None:
        raise MissingExtra(
            "SEND_WORKER is 'celery' but Celery is not installed. Install the extra with "
            "pip install 'notice-composer[celery]', or leave SEND_WORKER at 'inprocess'."
        )
    uri = settings.sqlalchemy_database_uri or ""
    if uri.startswith(("postgresql+psycopg:", "postgresql+psycopg_async:")) and (
        find_spec("psycopg") is None
    ):
        raise MissingExtra(
            "SQLALCHEMY_DATABASE_URI is a PostgreSQL database but its driver, psycopg, is not "
            "installed. Install the extra with pip install 'notice-composer[postgres]'."
        )


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
