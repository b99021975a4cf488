"""Postal letters: batches of letters (one PDF and a manifest each) and which delivery is in
which batch, at most one batch per delivery.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("print_date", sa.Date(), nullable=True),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("manifest", sa.LargeBinary(), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_letter_batch_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["send_run.id"],
            name=op.f("fk_letter_batch_run_id_send_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_batch")),
        sa.UniqueConstraint("run_id", "number", name="uq_letter_batch_run_number"),
    )
    with op.batch_alter_table("letter_batch", schema=None) as batch_op:
        batch_op.create_index("ix_letter_batch_state", ["state", "id"], unique=False)

    op.create_table(
        "letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("first_page", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["letter_batch.id"],
            name=op.f("fk_letter_batch_id_letter_batch"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_letter_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
        # Nobody is in two batches, so nobody gets two letters.
        sa.UniqueConstraint("delivery_id", name="uq_letter_delivery_id"),
        sa.UniqueConstraint("batch_id", "sequence", name="uq_letter_batch_sequence"),
    )


def downgrade() -> None:
    op.drop_table("letter")
    with op.batch_alter_table("letter_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_batch_state")

    op.drop_table("letter_batch")
