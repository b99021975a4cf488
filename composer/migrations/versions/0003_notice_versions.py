"""Immutable, numbered notice versions replace the single working draft.

Each incident's ``notice_draft`` row becomes its version 1 (subject "", source "edit", saved by
whoever last saved the draft, at that time), and ``notice_draft`` is dropped. Database triggers
then refuse UPDATE and DELETE on ``notice_version`` (and TRUNCATE on PostgreSQL), as for the
audit log: legal approval will be bound to a version's hash, so a version must never change.

Downgrade puts each incident's newest version back as its working draft (body only: subjects and
older versions are lost) and drops ``notice_version``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import hashlib

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_draft = sa.table(
    "notice_draft",
    sa.column("id", sa.Integer()),
    sa.column("incident_id", sa.Integer()),
    sa.column("body", sa.Text()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("updated_by_id", sa.Integer()),
)
_version = sa.table(
    "notice_version",
    sa.column("id", sa.Integer()),
    sa.column("incident_id", sa.Integer()),
    sa.column("number", sa.Integer()),
    sa.column("subject", sa.Text()),
    sa.column("body", sa.Text()),
    sa.column("sha256", sa.String(64)),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by_id", sa.Integer()),
    sa.column("source", sa.String(20)),
    sa.column("parent_id", sa.Integer()),
)


def _canonical_sha256(subject: str, body: str) -> str:
    # Frozen copy of composer.notices.content_sha256 (a migration must not change when the app
    # does); tests/test_migrations.py checks that the two agree.
    text = f"{subject}\n\n{body}".replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.create_table(
        "notice_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("number >= 1", name=op.f("ck_notice_version_number_positive")),
        sa.CheckConstraint(
            "source IN ('draft-from-facts', 'edit')", name=op.f("ck_notice_version_source_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_notice_version_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_notice_version_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["notice_version.id"],
            name=op.f("fk_notice_version_parent_id_notice_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_version")),
        sa.UniqueConstraint("incident_id", "number", name=op.f("uq_notice_version_incident_id")),
    )

    bind = op.get_bind()
    drafts = bind.execute(
        sa.select(
            _draft.c.incident_id, _draft.c.body, _draft.c.updated_at, _draft.c.updated_by_id
        ).order_by(_draft.c.id)
    ).all()
    for incident_id, body, updated_at, updated_by_id in drafts:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        bind.execute(
            _version.insert().values(
                incident_id=incident_id,
                number=1,
                subject="",
                body=body,
                sha256=_canonical_sha256("", body),
                created_at=updated_at,
                created_by_id=updated_by_id,
                source="edit",
                parent_id=None,
            )
        )

    _immutable_triggers()
    op.drop_table("notice_draft")


def _immutable_triggers() -> None:
    """Refuse UPDATE and DELETE on notice versions in the database itself, not just in code."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER notice_version_no_{verb.lower()} BEFORE {verb} ON notice_version "
                "BEGIN SELECT RAISE(ABORT, 'notice versions cannot be changed or deleted'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION notice_version_immutable() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'notice versions cannot be changed or deleted'; END $$"
        )
        op.execute(
            "CREATE TRIGGER notice_version_immutable BEFORE UPDATE OR DELETE ON notice_version "
            "FOR EACH ROW EXECUTE FUNCTION notice_version_immutable()"
        )
        op.execute(
            "CREATE TRIGGER notice_version_no_truncate BEFORE TRUNCATE ON notice_version "
            "FOR EACH STATEMENT EXECUTE FUNCTION notice_version_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS notice_version_no_update")
        op.execute("DROP TRIGGER IF EXISTS notice_version_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS notice_version_no_truncate ON notice_version")
        op.execute("DROP TRIGGER IF EXISTS notice_version_immutable ON notice_version")
        op.execute("DROP FUNCTION IF EXISTS notice_version_immutable()")

    op.create_table(
        "notice_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_notice_draft_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_notice_draft_updated_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_draft")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_notice_draft_incident_id")),
    )

    bind = op.get_bind()
    newest = (
        sa.select(_version.c.incident_id, sa.func.max(_version.c.number).label("number"))
        .group_by(_version.c.incident_id)
        .subquery()
    )
    rows = bind.execute(
        sa.select(
            _version.c.incident_id,
            _version.c.body,
            _version.c.created_at,
            _version.c.created_by_id,
        )
        .join(
            newest,
            sa.and_(
                newest.c.incident_id == _version.c.incident_id,
                newest.c.number == _version.c.number,
            ),
        )
        .order_by(_version.c.incident_id)
    ).all()
    for incident_id, body, created_at, created_by_id in rows:
        bind.execute(
            _draft.insert().values(
                incident_id=incident_id,
                body=body,
                updated_at=created_at,
                updated_by_id=created_by_id,
            )
        )
    op.drop_table("notice_version")
