"""What a review step or the release check refuses with: typed errors whose messages are
written for the person who tried (shown as a flash message or a page by the web layer).

No Flask here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from composer.models import RecipientList, Review


class ApprovalError(ValueError):
    """A review step that cannot happen, with a message for the person who tried it."""


class ApprovalRefused(ApprovalError):
    """The person may not do this (four eyes, role, or the review's state)."""


class SubmitRefused(ApprovalError):
    """The version cannot go to review yet. ``problems`` maps a field (a warning's key, or
    "lint") to what is wrong with it; nothing was saved."""

    def __init__(self, message: str, problems: Mapping[str, str] | None = None) -> None:
        self.problems = dict(problems or {})
        super().__init__(message)


class NotApproved(ApprovalError):
    """Nothing approved can be sent for this incident."""


class ApprovalTampered(ApprovalError):
    """The stored approval record no longer matches its signature (or has none): it was
    changed in the database after legal approved, or written there without approving."""

    def __init__(self, review: Review, problems: Sequence[str]) -> None:
        self.review = review
        self.problems = list(problems)
        super().__init__(
            f"Not sent: {'; '.join(self.problems)}. The approval record was changed in the "
            "database after legal approved, so it cannot be trusted. Ask an administrator to run "
            "'flask --app composer audit verify', and submit the notice for review again."
        )


class RecipientsChanged(ApprovalError):
    """The recipient rows no longer hash to the digest recorded when the list was imported."""

    def __init__(self, recipient_list: RecipientList) -> None:
        self.recipient_list = recipient_list
        super().__init__(
            f"Not sent: the recipient list {recipient_list.filename!r} (list "
            f"{recipient_list.id}) was changed in the database after it was uploaded: its "
            "recipients no longer match the digest recorded at upload, which is what legal "
            "approved. Upload the list again and submit the notice for review again."
        )


class BundleMismatch(ApprovalError):
    """What would be sent now is not what legal approved. ``changes`` says what differs."""

    def __init__(self, review: Review, changes: Sequence[str]) -> None:
        self.review = review
        self.changes = list(changes)
        listed = "; ".join(self.changes) or "the approval record itself"
        super().__init__(
            f"Not sent: what would be sent is not what legal approved (version "
            f"{review.version.number}). Changed since approval: {listed}. Submit the notice for "
            "review again."
        )
