"""Flask extensions, created unbound and bound in ``init_app``."""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from composer.models import Base

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


def init_app(app: Flask) -> None:
    db.init_app(app)
    seconds = float(app.config["SQLITE_BUSY_TIMEOUT_SECONDS"])
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
