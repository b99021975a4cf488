"""Regime overrides: legal's per-incident decisions to switch a regime's rule off, correct it,
or put it back, each with a reason (docs/regimes.md). Rows are only added; the latest per rule
is in force.

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


def downgrade() -> None:
    op.drop_index("ix_regime_override_incident_id_rule_key", table_name="regime_override")
    op.drop_table("regime_override")
