"""Email: the dev outbox's stored messages, and notifications queued for staff.

Downgrade drops both tables; pending staff notifications and the dev outbox are lost.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dev_outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("gateway_message_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dev_outbox_message")),
        sa.UniqueConstraint(
            "gateway_message_id", name=op.f("uq_dev_outbox_message_gateway_message_id")
        ),
    )
    op.create_table(
        "staff_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_user_id", sa.Integer(), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("gateway_message_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["to_user_id"], ["user.id"], name=op.f("fk_staff_message_to_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_message")),
    )
    op.create_index("ix_staff_message_sent_at", "staff_message", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_staff_message_sent_at", table_name="staff_message")
    op.drop_table("staff_message")
    op.drop_table("dev_outbox_message")
