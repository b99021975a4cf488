"""Approval signatures: each approval is signed with the installation's seal key (kept outside
the database, ``composer.audit.Seal``) over which review of which version it approves, the
bundle hash, who and when, so a review record rewritten in the database shows at release.

No Flask here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from composer import audit
from composer.models import NoticeVersion, Review


def approval_fields(
    review: Review, version: NoticeVersion, user_id: int, bundle_sha256: str, at: datetime
) -> tuple[object, ...]:
    """What an approval's signature covers: which review of which version (and its text's
    SHA-256), the bundle hash, who approved, and when."""
    return (
        review.id,
        review.incident_id,
        version.id,
        version.number,
        version.sha256,
        bundle_sha256,
        user_id,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
    )


def approval_signature_problems(session: Session, review: Review) -> list[str]:
    """Each approval of ``review`` whose signature does not match what it records, in words
    (empty when every one matches)."""
    seal = audit.seal_of(session)
    problems = []
    for decision in review.approvals:
        why = seal.check(
            decision.signature,
            "approval",
            *approval_fields(
                review,
                review.version,
                decision.user_id,
                decision.bundle_sha256,
                decision.at,
            ),
        )
        if why is not None:
            who = decision.user.email if decision.user else f"user {decision.user_id}"
            problems.append(
                f"the approval of version {review.version.number} by {who} on "
                f"{decision.at:%Y-%m-%d %H:%M} UTC does not match its signature ({why})"
            )
    return problems
