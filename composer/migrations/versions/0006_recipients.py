"""Recipient lists: uploaded files, the recipients imported from them, and their rejected rows.

Downgrade drops all three tables: every uploaded recipient list is lost.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipient_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_recipient_list_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user.id"], name=op.f("fk_recipient_list_uploaded_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_list")),
    )
    op.create_index("ix_recipient_list_incident_id", "recipient_list", ["incident_id"])
    op.create_table(
        "recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("us_state", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("source_rows", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["recipient_list.id"],
            name=op.f("fk_recipient_list_id_recipient_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient")),
    )
    op.create_index("ix_recipient_list_id", "recipient", ["list_id"])
    op.create_index(
        "uq_recipient_list_email",
        "recipient",
        ["list_id", "email"],
        unique=True,
        sqlite_where=sa.text("email <> ''"),
        postgresql_where=sa.text("email <> ''"),
    )
    op.create_table(
        "recipient_row_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["recipient_list.id"],
            name=op.f("fk_recipient_row_error_list_id_recipient_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_row_error")),
    )
    op.create_index("ix_recipient_row_error_list_id", "recipient_row_error", ["list_id"])


def downgrade() -> None:
    op.drop_index("ix_recipient_row_error_list_id", table_name="recipient_row_error")
    op.drop_table("recipient_row_error")
    op.drop_index("uq_recipient_list_email", table_name="recipient")
    op.drop_index("ix_recipient_list_id", table_name="recipient")
    op.drop_table("recipient")
    op.drop_index("ix_recipient_list_incident_id", table_name="recipient_list")
    op.drop_table("recipient_list")
