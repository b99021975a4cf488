"""Legal review of a notice version: submit, comment, request changes, approve, void, release.

The rules (GitLab's merge-request approval rules are the model):

- Only the latest version can be submitted, and only with no lint errors; every lint warning
  needs a short reason from the author, kept with the review.
- Four eyes: nobody who saved a version since the last approved one (or submitted this one) may
  approve it, whatever their roles.
- A review needs the incident's number of required approvals (default: the site's setting),
  fixed at submission; an admin may raise it while the review is open, never lower it.
- Approvals bind to the bundle's SHA-256 (``composer.approval.bundle``). Saving a new version
  voids every open or approved review of the incident; sending calls
  :func:`composer.approval.release.release_check`,
  which recomputes the bundle and refuses on any difference, saying what changed.
- Every step is written to the audit log, in the caller's transaction.

Plain functions over a SQLAlchemy session: the actor is passed in, the caller commits. No Flask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import audit
from composer.approval.acknowledgements import MAX_REASON_CHARS as MAX_REASON_CHARS
from composer.approval.acknowledgements import MIN_REASON_CHARS as MIN_REASON_CHARS
from composer.approval.acknowledgements import WarningToAcknowledge, checked_reasons
from composer.approval.bundle import Bundle, changed_parts
from composer.approval.errors import (
    ApprovalError,
    ApprovalRefused,
    BundleMismatch,
    SubmitRefused,
)
from composer.approval.policy import DEFAULT_REQUIRED_APPROVALS, required_approvals
from composer.approval.queries import (
    approval_refusal,
    closed_message,
    current_review,
    open_review,
)
from composer.approval.signatures import approval_fields
from composer.models import (
    AuditEvent,
    DecisionKind,
    Incident,
    NoticeVersion,
    Review,
    ReviewComment,
    ReviewDecision,
    ReviewState,
    Role,
    User,
    utcnow,
)
from composer.models.notice import latest_version

MAX_COMMENT_CHARS: Final = 5000
MAX_NOTE_CHARS: Final = 5000

# Steps -----------------------------------------------------------------------------------------


def _latest(session: Session, incident: Incident) -> NoticeVersion | None:
    return latest_version(session, incident.id)


def _review_digest(review: Review) -> dict[str, Any]:
    return {
        "review": review.id,
        "version": review.version.number,
        "sha256": review.version.sha256,
        "bundle_sha256": review.bundle_sha256,
    }


def _audit(
    session: Session,
    review: Review,
    action: str,
    *,
    by: User | None,
    before: dict[str, Any] | None = None,
    **after: Any,
) -> None:
    """Record ``action`` on the review's incident, with the review's identity and hashes."""
    audit.record(
        session,
        actor=by,
        action=action,
        subject_type="incident",
        subject_id=review.incident_id,
        before=before,
        after={**_review_digest(review), **after},
    )


def _close(
    review: Review, state: ReviewState, *, by: User | None, now: datetime, reason: str
) -> str:
    """Move an open (or approved) review to a final state; returns the state it was in."""
    before = review.state
    review.state = state.value
    review.closed_at = now
    review.closed_by = by
    review.close_reason = reason
    return before


def submit(
    session: Session,
    incident: Incident,
    version: NoticeVersion,
    *,
    by: User,
    summary: Mapping[str, Any],
    warnings: Sequence[WarningToAcknowledge],
    reasons: Mapping[str, str],
    bundle: Bundle,
    default_required: int = DEFAULT_REQUIRED_APPROVALS,
    now: datetime | None = None,
) -> Review:
    """Submit ``version`` for legal review. ``summary`` and ``warnings`` come from linting the
    version (:func:`lint_summary`, :func:`warnings_to_acknowledge`); ``reasons`` maps each
    warning's key to the author's reason for keeping it; ``bundle`` was built from the version
    just now. Raises :class:`ApprovalRefused` or :class:`SubmitRefused`.

    An open review of the same version whose bundle has since changed (a template, the sender)
    is voided and replaced; an open review of the same bundle is refused as a duplicate.
    """
    now = now or utcnow()
    if not by.has_role(Role.AUTHOR):
        raise ApprovalRefused("Only authors submit notices for review.")
    if version.incident_id != incident.id:
        raise ApprovalRefused("That version belongs to another incident.")
    latest = _latest(session, incident)
    if latest is None or latest.id != version.id:
        raise SubmitRefused(
            f"Version {version.number} is not the latest: submit version "
            f"{latest.number if latest else '?'} instead."
        )
    if bundle.notice_sha256 != version.sha256:
        raise ValueError("the bundle was built from other text")
    errors = int(summary.get("errors", 0))
    if errors:
        raise SubmitRefused(
            f"The checker found {errors} error{'s' if errors != 1 else ''} in this version. "
            "Fix them in the editor, then submit.",
            {"lint": "errors"},
        )
    acknowledged, problems = checked_reasons(warnings, reasons)
    if problems:
        count = len(problems)
        raise SubmitRefused(
            f"{count} warning{'s need' if count != 1 else ' needs'} a reason before this "
            "version can go to legal.",
            problems,
        )
    current = open_review(session, incident)
    if current is not None:
        if current.version_id == version.id and current.bundle_sha256 == bundle.sha256:
            raise SubmitRefused(
                f"Version {version.number} is already waiting for review "
                f"(submitted by {current.submitted_by.display_name})."
            )
        _void(
            session,
            current,
            by=by,
            now=now,
            reason=(
                f"version {version.number} was submitted again because what it renders to changed"
                if current.version_id == version.id
                else f"version {version.number} was submitted"
            ),
        )
    approved = current_review(session, incident)
    if (
        approved is not None
        and approved.state == ReviewState.APPROVED.value
        and approved.version_id == version.id
        and approved.bundle_sha256 == bundle.sha256
    ):
        raise SubmitRefused(f"Version {version.number} is already approved, exactly as it is.")
    review = Review(
        incident_id=incident.id,
        version=version,
        state=ReviewState.IN_REVIEW.value,
        required_approvals=required_approvals(incident, default_required),
        bundle_sha256=bundle.sha256,
        bundle_manifest=bundle.manifest(),
        lint_summary=dict(summary),
        acknowledgements=acknowledged,
        submitted_at=now,
        submitted_by=by,
    )
    session.add(review)
    session.flush()
    _audit(
        session,
        review,
        "review.submitted",
        by=by,
        required=review.required_approvals,
        lint=dict(summary),
        warnings_acknowledged=len(acknowledged),
        variants=[v["label"] for v in review.bundle_manifest["variants"]],
    )
    return review


def record_view(session: Session, review: Review, *, by: User) -> bool:
    """Audit that ``by`` opened the review (once per person per review). True when recorded."""
    seen = session.scalars(
        select(AuditEvent.after).where(
            AuditEvent.action == "review.viewed",
            AuditEvent.subject_type == "incident",
            AuditEvent.subject_id == str(review.incident_id),
            AuditEvent.actor_id == by.id,
        )
    )
    if any(isinstance(after, dict) and after.get("review") == review.id for after in seen):
        return False
    _audit(session, review, "review.viewed", by=by)
    return True


def comment(
    session: Session,
    review: Review,
    *,
    by: User,
    text: str,
    part: str = "general",
    start: int | None = None,
    end: int | None = None,
    now: datetime | None = None,
) -> ReviewComment:
    """Add a comment, anchored to ``[start, end)`` of the version's subject or body, or general.
    Approvers and authors may comment while the review is open."""
    if not (by.has_role(Role.APPROVER) or by.has_role(Role.AUTHOR)):
        raise ApprovalRefused("Only authors and approvers can comment on a review.")
    if review.state != ReviewState.IN_REVIEW.value:
        raise ApprovalRefused(closed_message(review))
    text = text.strip().replace("\r\n", "\n")
    if not text:
        raise ApprovalError("The comment is empty: write what should change or why.")
    if len(text) > MAX_COMMENT_CHARS:
        raise ApprovalError(
            f"The comment is {len(text):,} characters long; the limit is {MAX_COMMENT_CHARS:,}."
        )
    quote = ""
    if part in ("subject", "body"):
        source = review.version.subject if part == "subject" else review.version.body
        if start is None or end is None or not 0 <= start < end <= len(source):
            raise ApprovalError(
                "The passage you selected is not in this version's text any more: select it again."
            )
        quote = source[start:end]
    elif part == "general":
        start = end = None
    else:
        raise ApprovalError(
            f"A comment is on the subject, the body or the whole notice, not {part!r}."
        )
    row = ReviewComment(
        review=review,
        author=by,
        at=now or utcnow(),
        part=part,
        start=start,
        end=end,
        quote=quote,
        text=text,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        review,
        "review.commented",
        by=by,
        comment_id=row.id,
        part=part,
        start=start,
        end=end,
        quote=quote,
        comment=text,
    )
    return row


def request_changes(
    session: Session, review: Review, *, by: User, note: str = "", now: datetime | None = None
) -> ReviewDecision:
    """Send the version back to its authors with the review's comments (and ``note``)."""
    now = now or utcnow()
    if not by.has_role(Role.APPROVER):
        raise ApprovalRefused("Only approvers (legal) can request changes.")
    if review.state != ReviewState.IN_REVIEW.value:
        raise ApprovalRefused(closed_message(review))
    note = note.strip().replace("\r\n", "\n")
    if len(note) > MAX_NOTE_CHARS:
        raise ApprovalError(f"The note is too long; keep it under {MAX_NOTE_CHARS:,} characters.")
    if not note and not any(c.author_id == by.id for c in review.comments):
        raise ApprovalError(
            "Say what needs to change: write a note, or comment on a passage first."
        )
    decision = ReviewDecision(
        review=review,
        user=by,
        kind=DecisionKind.REQUEST_CHANGES.value,
        at=now,
        bundle_sha256=review.bundle_sha256,
        note=note,
    )
    session.add(decision)
    before = _close(
        review,
        ReviewState.CHANGES_REQUESTED,
        by=by,
        now=now,
        reason=f"{by.display_name} asked for changes",
    )
    session.flush()
    _audit(
        session,
        review,
        "review.changes_requested",
        by=by,
        before={"state": before},
        state=review.state,
        note=note,
        comments=len(review.comments),
    )
    return decision


def approve(
    session: Session,
    review: Review,
    *,
    by: User,
    bundle: Bundle,
    note: str = "",
    now: datetime | None = None,
) -> ReviewDecision:
    """Record ``by``'s approval of the review's bundle. ``bundle`` is rebuilt now from the
    version and the current settings, and must hash to what was submitted. The caller has
    already confirmed the approver's password. When enough approvals are in, the review
    becomes ``approved``. Raises :class:`ApprovalRefused` or :class:`BundleMismatch`."""
    now = now or utcnow()
    refusal = approval_refusal(session, review, by)
    if refusal:
        raise ApprovalRefused(refusal)
    incident = session.get(Incident, review.incident_id)
    assert incident is not None
    latest = _latest(session, incident)
    if latest is None or latest.id != review.version_id:
        raise ApprovalRefused(
            f"Version {review.version.number} is no longer the latest, so it cannot be approved."
        )
    if bundle.sha256 != review.bundle_sha256:
        raise BundleMismatch(review, changed_parts(review.bundle_manifest, bundle.manifest()))
    note = note.strip().replace("\r\n", "\n")[:MAX_NOTE_CHARS]
    decision = ReviewDecision(
        review=review,
        user=by,
        kind=DecisionKind.APPROVE.value,
        at=now,
        bundle_sha256=bundle.sha256,
        note=note,
    )
    decision.signature = audit.seal_of(session).sign(
        "approval", *approval_fields(review, review.version, by.id, bundle.sha256, now)
    )
    session.add(decision)
    session.flush()
    count = len(review.approvals)
    complete = count >= review.required_approvals
    if complete:
        review.state = ReviewState.APPROVED.value
        review.approved_at = now
    _audit(
        session,
        review,
        "review.approved",
        by=by,
        approvals=count,
        required=review.required_approvals,
        complete=complete,
        note=note,
    )
    return decision


def withdraw(session: Session, review: Review, *, by: User, now: datetime | None = None) -> None:
    """An author takes an open review back (to edit before legal decides)."""
    if not by.has_role(Role.AUTHOR):
        raise ApprovalRefused("Only authors can withdraw a notice from review.")
    if review.state != ReviewState.IN_REVIEW.value:
        raise ApprovalRefused(closed_message(review))
    before = _close(
        review,
        ReviewState.WITHDRAWN,
        by=by,
        now=now or utcnow(),
        reason=f"{by.display_name} withdrew it",
    )
    session.flush()
    _audit(session, review, "review.withdrawn", by=by, before={"state": before}, state=review.state)


def _void(session: Session, review: Review, *, by: User | None, now: datetime, reason: str) -> None:
    before = _close(review, ReviewState.VOIDED, by=by, now=now, reason=reason)
    session.flush()
    _audit(
        session,
        review,
        "review.voided",
        by=by,
        before={"state": before},
        state=review.state,
        reason=reason,
    )


def void_for_new_version(
    session: Session, incident: Incident, version: NoticeVersion, *, by: User
) -> list[Review]:
    """A new version was saved: every open or approved review of an older version stops
    applying (called by ``composer.notices.versions.save_version``)."""
    now = utcnow()
    voided = []
    reviews = session.scalars(
        select(Review).where(
            Review.incident_id == incident.id,
            Review.state.in_([ReviewState.IN_REVIEW.value, ReviewState.APPROVED.value]),
            Review.version_id != version.id,
        )
    )
    for review in reviews:
        what = "approval" if review.state == ReviewState.APPROVED.value else "review"
        _void(
            session,
            review,
            by=by,
            now=now,
            reason=(
                f"version {version.number} was saved by {by.display_name}, so the {what} of "
                f"version {review.version.number} no longer applies"
            ),
        )
        voided.append(review)
    return voided
