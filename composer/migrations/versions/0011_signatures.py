"""Signatures: audit events and approvals carry an HMAC made with a key kept outside the
database (docs/audit.md). Existing rows stay unsigned.

Plain ALTER TABLE on both databases (SQLite 3.35+ adds and drops columns itself): a batch copy
of the tables would drop their append-only triggers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("signature", sa.String(length=80), nullable=True))
    op.add_column("review_decision", sa.Column("signature", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("review_decision", "signature")
    op.drop_column("audit_event", "signature")
