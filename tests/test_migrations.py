"""The hand-written migrations build exactly the schema the models describe, and undo cleanly."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from composer.extensions import db
from composer.models import NoticeVersion, Role, UTCDateTime
from composer.notices import versions
from tests.conftest import make_user

_incident = sa.table(
    "incident",
    sa.column("id", sa.Integer()),
    sa.column("title", sa.String()),
    sa.column("checklist_id", sa.String()),
    sa.column("checklist_version", sa.Integer()),
    sa.column("created_by_id", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_draft = sa.table(
    "notice_draft",
    sa.column("incident_id", sa.Integer()),
    sa.column("body", sa.Text()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("updated_by_id", sa.Integer()),
)


def test_migrations_match_the_models_and_downgrade(app: Flask) -> None:
    with app.app_context():
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        downgrade(revision="0001")
        tables = db.inspect(db.engine).get_table_names()
        assert "notice_draft" not in tables
        assert "notice_version" not in tables
        upgrade()
        tables = db.inspect(db.engine).get_table_names()
        assert "notice_version" in tables
        assert "notice_draft" not in tables


def test_0003_turns_each_working_draft_into_version_1_and_back(app: Flask) -> None:
    ana = make_user(app, "ana@example.com", Role.AUTHOR)
    lee = make_user(app, "lee@example.com", Role.AUTHOR)
    saved_at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    body = "Dear customer,\r\n\r\nWe lost your email address.\r\n"
    with app.app_context():
        downgrade(revision="0002")
        ids = []
        # Core inserts: the Incident model has columns that later migrations add.
        for title in ("First", "Second"):
            now = datetime.now(UTC)
            ids.append(
                db.session.execute(
                    _incident.insert()
                    .values(
                        title=title,
                        checklist_id="incident",
                        checklist_version=1,
                        created_by_id=ana,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(_incident.c.id)
                ).scalar_one()
            )
        db.session.execute(
            _draft.insert(),
            [
                {"incident_id": ids[0], "body": body, "updated_at": saved_at, "updated_by_id": lee},
                {"incident_id": ids[1], "body": "", "updated_at": saved_at, "updated_by_id": ana},
            ],
        )
        db.session.commit()

        upgrade()
        found = db.session.scalars(
            sa.select(NoticeVersion).order_by(NoticeVersion.incident_id)
        ).all()
        assert [(v.incident_id, v.number) for v in found] == [(ids[0], 1), (ids[1], 1)]
        first = found[0]
        assert first.subject == ""
        assert first.body == "Dear customer,\n\nWe lost your email address.\n"
        assert first.source == "edit"
        assert first.parent_id is None
        assert first.created_at == saved_at
        assert first.created_by_id == lee
        # The migration's frozen hash function agrees with the app's.
        assert first.sha256 == versions.content_sha256("", first.body)
        assert first.sha256 == hashlib.sha256(f"\n\n{first.body}".encode()).hexdigest()

        # A later version, then back down: the newest text becomes the working draft again.
        db.session.add(
            NoticeVersion(
                incident_id=ids[0],
                number=2,
                subject="Your email address",
                body="Newer text.\n",
                sha256=versions.content_sha256("Your email address", "Newer text.\n"),
                created_by_id=ana,
                source="edit",
                parent_id=first.id,
            )
        )
        db.session.commit()
        downgrade(revision="0002")
        rows = db.session.execute(
            sa.select(_draft.c.incident_id, _draft.c.body, _draft.c.updated_by_id).order_by(
                _draft.c.incident_id
            )
        ).all()
        assert [tuple(r) for r in rows] == [(ids[0], "Newer text.\n", ana), (ids[1], "", ana)]
        db.session.commit()  # PostgreSQL: the read's locks would block the migration's DROP
        upgrade()
