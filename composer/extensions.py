"""Flask extensions, created unbound and bound in ``init_app``; and the audit seal.

The seal is the installation's signing key for the audit log and approvals, handed to every
database session the app opens (docs/audit.md). The key is never in the database: it comes from
``AUDIT_SIGNING_KEY`` or, when that is unset, from ``instance/audit_signing_key``, made once with
mode 600 (as the session secret is). The latest signed checkpoint of the audit log is kept in
``AUDIT_CHECKPOINT_FILE`` (default ``instance/audit_checkpoint.json``). ``composer.audit`` signs
and checks; this module only gives each session the :class:`~composer.audit.Seal` and moves the
checkpoint on after commits.
"""

from __future__ import annotations

import os
import secrets
from functools import partial
from pathlib import Path
from typing import Any, Final

from flask import Flask, current_app, has_app_context
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from composer import audit
from composer.models import Base
from composer.settings import Settings, settings_of

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

MIGRATIONS_DIR = __file__.rsplit("/", 1)[0] + "/migrations"
#: Seconds a SQLite connection waits for another's write lock when no app says otherwise
#: (an engine made outside ``create_app``: a script, a migration).
DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS: Final = 30.0


def _is_sqlite(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, and WAL lets readers work during a write.
    if _is_sqlite(dbapi_connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        _sqlite_busy_timeout(DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS, dbapi_connection, _record)


def _sqlite_busy_timeout(seconds: float, dbapi_connection: Any, _record: Any) -> None:
    # One writer at a time: a write that finds another under way (a large recipient import
    # holds the lock until it commits) waits this long for it instead of failing at once
    # with "database is locked".
    if _is_sqlite(dbapi_connection):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={max(0, round(seconds * 1000))}")
        cursor.close()


def current_settings() -> Settings:
    """The current app's settings, typed and checked (``composer.settings.Settings``).

    Built from ``current_app.config`` on each call (a few microseconds), so a change to the
    config after ``create_app`` (tests do ``app.config.update(...)``) is seen at once. Raises
    ``composer.settings.SettingError`` naming any setting changed to a wrong value since."""
    return settings_of(current_app.config)


def init_app(app: Flask) -> None:
    db.init_app(app)
    seconds = settings_of(app).sqlite_busy_timeout_seconds
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                # After the class-wide listener above, so the app's setting wins.
                event.listen(engine, "connect", partial(_sqlite_busy_timeout, seconds))
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    init_seal(app)


# The audit seal ------------------------------------------------------------------------------

#: Where the app keeps its seal (``app.extensions``).
EXTENSION = "composer.seal"


def init_seal(app: Flask) -> None:
    """Load (or make, the first time) the signing key and note where the checkpoint lives."""
    instance = Path(app.instance_path)
    settings = settings_of(app)  # a key shorter than 32 characters is refused here
    if settings.audit_signing_key:
        key = settings.audit_signing_key.encode()
    else:
        key = _instance_key(instance / "audit_signing_key")
    checkpoint = settings.audit_checkpoint_file
    path = Path(checkpoint) if checkpoint else instance / "audit_checkpoint.json"
    app.extensions[EXTENSION] = audit.Seal(key=key, checkpoint_path=path)


def seal() -> audit.Seal:
    """The current app's seal."""
    found: audit.Seal = current_app.extensions[EXTENSION]
    return found


def _instance_key(path: Path) -> bytes:
    """A per-installation key, made once and kept readable by the owner only."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


@event.listens_for(Session, "after_begin")
def _give_seal(session: Session, _transaction: Any, _connection: Any) -> None:
    if has_app_context():
        found = current_app.extensions.get(EXTENSION)
        if found is not None:
            session.info[audit.SEAL_INFO] = found


@event.listens_for(Session, "before_commit")
def _prepare_checkpoint(session: Session) -> None:
    audit.prepare_checkpoint(session)


@event.listens_for(Session, "after_commit")
def _write_checkpoint(session: Session) -> None:
    audit.write_checkpoint(session)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    audit.forget_appended(session)
