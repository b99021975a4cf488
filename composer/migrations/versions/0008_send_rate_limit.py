"""One sending rate limit shared by every worker: the time the next reservation may start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "send_rate_limit",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_rate_limit")),
    )
    # The one row every worker reserves from (created here so workers never race to insert it).
    op.bulk_insert(table, [{"name": "mail", "next_at": datetime(2000, 1, 1, tzinfo=UTC)}])


def downgrade() -> None:
    op.drop_table("send_rate_limit")
