"""The sent-address ledger: one row per (notice version, normalised email address), written when
a delivery is claimed, so the database refuses a second delivery of a version to an address
(docs/sending.md). Existing deliveries that may have gone out get their rows. And an index
for "when did the last webhook event arrive" (the send pages warn when it is silent).

Numbered 0012 but written after 0013 (another change of the same day): it follows 0013.

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-07
"""

import hashlib

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Delivery states whose email may have gone out (as of this migration).
_MAYBE_SENT = ("sending", "in-doubt", "accepted", "delivered", "bounced", "dropped")


def upgrade() -> None:
    table = op.create_table(
        "sent_address",
        sa.Column("notice_version_id", sa.Integer(), nullable=False),
        sa.Column("address_sha256", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_sent_address_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_version_id"],
            ["notice_version.id"],
            name=op.f("fk_sent_address_notice_version_id_notice_version"),
        ),
        sa.PrimaryKeyConstraint(
            "notice_version_id", "address_sha256", name=op.f("pk_sent_address")
        ),
    )
    op.create_index("ix_sent_address_delivery", "sent_address", ["delivery_id"], unique=False)
    op.create_index(
        "ix_webhook_event_seen_received_at", "webhook_event_seen", ["received_at"], unique=False
    )
    rows = op.get_bind().execute(
        sa.text(
            "SELECT review.version_id, recipient.email, delivery.id FROM delivery"
            " JOIN send_run ON send_run.id = delivery.run_id"
            " JOIN review ON review.id = send_run.review_id"
            " JOIN recipient ON recipient.id = delivery.recipient_id"
            " WHERE delivery.state IN :states AND recipient.email IS NOT NULL"
            " ORDER BY delivery.id"
        ).bindparams(sa.bindparam("states", expanding=True)),
        {"states": list(_MAYBE_SENT)},
    )
    seen: set[tuple[int, str]] = set()
    chunk: list[dict[str, object]] = []
    for version_id, email, delivery_id in rows:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        if (version_id, digest) in seen:
            continue
        seen.add((version_id, digest))
        chunk.append(
            {"notice_version_id": version_id, "address_sha256": digest, "delivery_id": delivery_id}
        )
    if chunk:
        op.bulk_insert(table, chunk)


def downgrade() -> None:
    op.drop_index("ix_webhook_event_seen_received_at", table_name="webhook_event_seen")
    op.drop_index("ix_sent_address_delivery", table_name="sent_address")
    op.drop_table("sent_address")
