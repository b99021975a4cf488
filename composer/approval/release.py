"""The release check: before anything is sent, the approval must still hold for exactly what
would go out now (the latest version, the bundle rebuilt from the current settings, valid
signatures, and recipient rows that still hash to the list's recorded digest).

Plain functions over a SQLAlchemy session. No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from composer.approval.bundle import Bundle, changed_parts, manifest_sha256
from composer.approval.errors import (
    ApprovalTampered,
    BundleMismatch,
    NotApproved,
    RecipientsChanged,
)
from composer.approval.queries import current_review, editors_of
from composer.approval.signatures import approval_signature_problems
from composer.models import Incident, RecipientList, Review, ReviewState
from composer.models.notice import latest_version


def check_recipients(session: Session, incident: Incident) -> RecipientList | None:
    """Recompute the digest of the incident's current recipient list from its rows and compare
    it with the one recorded at import (which the bundle, and so the approval, carries).
    Raises :class:`RecipientsChanged` when they differ. A scan of the whole list: about 6 s
    per million recipients on SQLite (benchmarks/recipient_digest_bench.py)."""
    from composer.recipients.cohorts import latest_list
    from composer.recipients.lists import list_digest

    found = latest_list(session, incident)
    if found is None or not found.digest:
        return found
    if list_digest(session, found) != found.digest:
        raise RecipientsChanged(found)
    return found


@dataclass(frozen=True)
class Release:
    """What may be sent: the approved review and the bundle that matches it."""

    review: Review
    bundle: Bundle


def release_check(
    session: Session, incident: Incident, bundle: Bundle, *, check_recipients_rows: bool = True
) -> Release:
    """Before anything is sent: the incident's notice must be approved, the approval must be of
    the latest version and carry valid signatures, ``bundle`` (rebuilt now from that version
    and the current settings) must hash to what legal approved, and the recipient rows must
    still hash to the list's recorded digest (``check_recipients_rows``; a scan of the list).
    Raises :class:`NotApproved`, :class:`ApprovalTampered`, :class:`BundleMismatch` saying
    what changed, or :class:`RecipientsChanged`."""
    review = current_review(session, incident)
    if review is None:
        raise NotApproved("Not sent: the notice has not been submitted for legal review.")
    if review.state != ReviewState.APPROVED.value:
        messages = {
            ReviewState.IN_REVIEW.value: (
                f"Not sent: version {review.version.number} is still waiting for approval "
                f"({len(review.approvals)} of {review.required_approvals})."
            ),
            ReviewState.CHANGES_REQUESTED.value: (
                f"Not sent: legal asked for changes to version {review.version.number}."
            ),
            ReviewState.VOIDED.value: (
                f"Not sent: the approval no longer applies: {review.close_reason}."
            ),
            ReviewState.WITHDRAWN.value: (
                f"Not sent: version {review.version.number} was withdrawn from review."
            ),
        }
        raise NotApproved(messages[review.state])
    latest = latest_version(session, incident.id)
    if latest is None or latest.id != review.version_id or bundle.notice_sha256 != latest.sha256:
        raise BundleMismatch(review, changed_parts(review.bundle_manifest, bundle.manifest()))
    # The stored record must be self-consistent: a manifest or hash edited in the database
    # would otherwise pass.
    stored_ok = manifest_sha256(review.bundle_manifest) == review.bundle_sha256 and all(
        d.bundle_sha256 == review.bundle_sha256 for d in review.approvals
    )
    editors = editors_of(session, review.version)
    stored_ok = stored_ok and not any(
        d.user_id in editors or d.user_id == review.submitted_by_id for d in review.approvals
    )
    if not stored_ok or len(review.approvals) < review.required_approvals:
        raise BundleMismatch(review, ["the stored approval record does not add up"])
    # The database alone is not trusted: each approval is signed with a key kept outside it,
    # over the version's text hash and the bundle hash, so rewriting a version and the review
    # records to match shows here.
    tampered = approval_signature_problems(session, review)
    if tampered:
        raise ApprovalTampered(review, tampered)
    # The bundle carries the list's stored digest (and cohorts counted once per digest): the
    # rows themselves must still hash to it, or a rewritten address would pass unseen.
    if check_recipients_rows:
        check_recipients(session, incident)
    if bundle.sha256 != review.bundle_sha256:
        raise BundleMismatch(review, changed_parts(review.bundle_manifest, bundle.manifest()))
    return Release(review=review, bundle=bundle)
