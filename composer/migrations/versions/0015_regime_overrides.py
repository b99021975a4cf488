"""Regime overrides: legal's per-incident decisions to switch a regime's rule off, correct it,
or put it back, each with a reason (docs/regimes.md). Rows are only added; the latest per rule
is in force. Database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL): legal's
decisions are evidence, as review decisions are (0004).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regime_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("rule_key", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("within_unit", sa.String(length=20), nullable=True),
        sa.Column("within_amount", sa.Integer(), nullable=True),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('off', 'correct', 'restore')",
            name=op.f("ck_regime_override_action_known"),
        ),
        sa.CheckConstraint(
            "within_unit IS NULL OR within_unit IN ('hours', 'days', 'business_days')",
            name=op.f("ck_regime_override_unit_known"),
        ),
        sa.CheckConstraint(
            "within_amount IS NULL OR within_amount >= 1",
            name=op.f("ck_regime_override_amount_positive"),
        ),
        sa.CheckConstraint(
            "months IS NULL OR months >= 1", name=op.f("ck_regime_override_months_positive")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_regime_override_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_regime_override_created_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regime_override")),
    )
    op.create_index(
        "ix_regime_override_incident_id_rule_key", "regime_override", ["incident_id", "rule_key"]
    )
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER regime_override_no_{verb.lower()} BEFORE {verb} ON "
                "regime_override BEGIN SELECT RAISE(ABORT, 'regime overrides cannot be changed "
                "or deleted: add a new one'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION regime_override_immutable() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'regime overrides cannot be changed or deleted: add a new "
        "one'; END $$"
    )
    op.execute(
        "CREATE TRIGGER regime_override_immutable BEFORE UPDATE OR DELETE ON regime_override "
        "FOR EACH ROW EXECUTE FUNCTION regime_override_immutable()"
    )
    op.execute(
        "CREATE TRIGGER regime_override_no_truncate BEFORE TRUNCATE ON regime_override "
        "FOR EACH STATEMENT EXECUTE FUNCTION regime_override_immutable()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS regime_override_no_update")
        op.execute("DROP TRIGGER IF EXISTS regime_override_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS regime_override_no_truncate ON regime_override")
        op.execute("DROP TRIGGER IF EXISTS regime_override_immutable ON regime_override")
        op.execute("DROP FUNCTION IF EXISTS regime_override_immutable()")
    op.drop_index("ix_regime_override_incident_id_rule_key", table_name="regime_override")
    op.drop_table("regime_override")
