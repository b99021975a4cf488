"""Legal review: reviews of notice versions, approvers' decisions and comments, and each
incident's number of required approvals.

Decisions and comments are evidence of who signed off what: database triggers refuse UPDATE and
DELETE on them (and TRUNCATE on PostgreSQL), as for the audit log and notice versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_IMMUTABLE = ("review_decision", "review_comment")


def upgrade() -> None:
    op.add_column("incident", sa.Column("required_approvals", sa.Integer(), nullable=True))

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_manifest", sa.JSON(), nullable=False),
        sa.Column("lint_summary", sa.JSON(), nullable=False),
        sa.Column("acknowledgements", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('in-review', 'changes-requested', 'approved', 'voided', 'withdrawn')",
            name=op.f("ck_review_state_known"),
        ),
        sa.CheckConstraint("required_approvals >= 1", name=op.f("ck_review_required_positive")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_review_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["notice_version.id"], name=op.f("fk_review_version_id_notice_version")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["user.id"], name=op.f("fk_review_submitted_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["user.id"], name=op.f("fk_review_closed_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    op.create_index(
        "uq_review_open_per_incident",
        "review",
        ["incident_id"],
        unique=True,
        sqlite_where=sa.text("state = 'in-review'"),
        postgresql_where=sa.text("state = 'in-review'"),
    )
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('approve', 'request-changes')", name=op.f("ck_review_decision_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["review.id"], name=op.f("fk_review_decision_review_id_review")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_review_decision_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decision")),
        sa.UniqueConstraint(
            "review_id", "user_id", "kind", name=op.f("uq_review_decision_review_id")
        ),
    )
    op.create_table(
        "review_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("part", sa.String(length=10), nullable=False),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("end", sa.Integer(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "part IN ('subject', 'body', 'general')", name=op.f("ck_review_comment_part_known")
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["review.id"], name=op.f("fk_review_comment_review_id_review")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_review_comment_author_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_comment")),
    )
    _immutable_triggers()


def _immutable_triggers() -> None:
    """Refuse UPDATE and DELETE on decisions and comments in the database itself."""
    if op.get_bind().dialect.name == "sqlite":
        for table in _IMMUTABLE:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'review decisions and comments cannot be "
                    "changed or deleted'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION review_evidence_immutable() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'review decisions and comments cannot be changed or deleted'; "
        "END $$"
    )
    for table in _IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION review_evidence_immutable()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION review_evidence_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    else:
        for table in _IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS review_evidence_immutable()")
    op.drop_table("review_comment")
    op.drop_table("review_decision")
    op.drop_index("uq_review_open_per_incident", table_name="review")
    op.drop_table("review")
    # A plain ALTER TABLE (SQLite 3.35+ drops columns itself): a batch copy of the table
    # would have to drop "incident", which the foreign keys pointing at it forbid.
    op.drop_column("incident", "required_approvals")
