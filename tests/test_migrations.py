"""The hand-written migrations build exactly the schema the models describe, and undo cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from composer.extensions import db


def test_migrations_match_the_models_and_downgrade(app: Flask) -> None:
    with app.app_context():
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        downgrade(revision="0001")
        assert "notice_draft" not in db.inspect(db.engine).get_table_names()
        upgrade()
        assert "notice_draft" in db.inspect(db.engine).get_table_names()
