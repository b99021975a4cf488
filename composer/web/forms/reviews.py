"""Review forms: submitting for review, comments, approval, requests for changes, and the
number of approvals an incident needs."""

from __future__ import annotations

from typing import Self

from flask import request
from pydantic import Field

from composer.web.forms import PostedForm, Stripped, WholeNumber

REASON_PREFIX = "reason-"


class SubmitForm(PostedForm):
    #: The version the author was looking at.
    sha256: str = ""
    #: Why each warning may stand, by warning key (posted as ``reason-<key>``).
    reasons: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def posted(cls) -> Self:
        values = cls._values()
        values["reasons"] = {
            name.removeprefix(REASON_PREFIX): value
            for name, value in request.form.items()
            if name.startswith(REASON_PREFIX)
        }
        return cls.model_validate(values)


class CommentForm(PostedForm):
    text: str = ""
    #: The passage commented on; empty for a comment on the whole notice.
    quote: Stripped = ""
    #: "subject" or "body" with the passage's offsets when the page's script found it.
    part: str = ""
    start: WholeNumber = None
    end: WholeNumber = None


class NoteForm(PostedForm):
    """A decision with a note: asking for changes (to the author), or approving."""

    note: str = ""


class ApproveForm(NoteForm):
    #: The bundle the approver's page showed.
    bundle_sha256: str | None = None
    password: str = ""


class RequiredApprovalsForm(PostedForm):
    required: WholeNumber = None
    #: The page to go back to; checked to be a local path before use.
    back: str | None = None
