"""Send runs are prepared by the worker: a run starts ``preparing`` and records how far its
delivery rows are written (``prepared_through``, a recipient id), so pressing Send returns at
once and a worker killed while preparing carries on without losing or repeating a row.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("send_run", sa.Column("prepared_through", sa.Integer(), nullable=True))
    op.add_column("send_run", sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=True))
    # Runs made before this revision wrote their rows when they were made.
    op.execute("UPDATE send_run SET prepared_at = created_at")


def downgrade() -> None:
    op.drop_column("send_run", "prepared_at")
    op.drop_column("send_run", "prepared_through")
