"""The messages a gateway sends, checked when made, and what every gateway promises
(:class:`MailGateway`): one email to one person (staff mail), or one cohort's notice to up to
:data:`MAX_BATCH_RECIPIENTS` people in one request (notices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from sqlalchemy.orm import Session

from composer.delivery.gateways.addresses import (
    HEADER_UNSAFE,
    MAX_NAME_CHARS,
    MAX_SUBJECT_CHARS,
    NOT_IN_ADDRESS,
    check_address,
    check_header,
    message_address,
)
from composer.delivery.gateways.content import CohortContent, parse_content
from composer.delivery.gateways.errors import InvalidBatchRecipient, InvalidMessage

SessionFactory = Callable[[], Session]

#: Most recipients in one batch: SendGrid takes at most 1000 personalizations and 1000
#: recipients per request.
MAX_BATCH_RECIPIENTS: Final = 1000


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One email to one person. Checked when made, so a bad one never reaches a gateway."""

    to_email: str
    to_name: str
    subject: str
    #: The plain-text part (always sent).
    text: str
    #: The HTML part, or None for a plain-text email.
    html: str | None = None

    def __post_init__(self) -> None:
        check_address(self.to_email, "recipient's address")
        check_header(self.to_name, "recipient's name")
        if len(self.to_name) > MAX_NAME_CHARS:
            raise InvalidMessage(
                f"The recipient's name is longer than {MAX_NAME_CHARS} characters."
            )
        check_header(self.subject, "subject")
        if not self.subject.strip():
            raise InvalidMessage("The subject is empty.")
        if len(self.subject) > MAX_SUBJECT_CHARS:
            raise InvalidMessage(f"The subject is longer than {MAX_SUBJECT_CHARS} characters.")
        if not self.text.strip():
            raise InvalidMessage("The message has no text.")


@dataclass(frozen=True, slots=True)
class BatchRecipient:
    """One person in a batch. Their details are left out of ``repr`` so they cannot end up in
    a log or a traceback."""

    #: Their outbox row: the only thing about them that goes into ``custom_args``.
    outbox_id: int
    email: str = field(repr=False)
    #: The display name for the To header ("" for none).
    name: str = field(repr=False)
    #: Merge-field values (``Recipient.merge_values()``): every field the content uses.
    values: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """One cohort's notice for up to ``MAX_BATCH_RECIPIENTS`` people, checked when made.

    Raises ``InvalidMessage`` (a ``ValueError``) for a batch that cannot be sent as it is, and
    its subclass ``InvalidBatchRecipient`` when one recipient is the reason (a repeated address
    -- deduplicate before batching --, a bad address or name, a missing or unsafe value).
    """

    #: Our id for the batch; goes into ``custom_args`` as ``b``.
    batch_id: int
    content: CohortContent
    #: ``"Example Ltd <security@example.com>"`` or a bare address.
    sender: str
    #: Same form as ``sender``; "" for none.
    reply_to: str
    recipients: Sequence[BatchRecipient]

    def __post_init__(self) -> None:
        recipients = tuple(self.recipients)
        object.__setattr__(self, "recipients", recipients)
        if not 1 <= len(recipients) <= MAX_BATCH_RECIPIENTS:
            raise InvalidMessage(
                f"A batch holds 1 to {MAX_BATCH_RECIPIENTS} recipients; this one has "
                f"{len(recipients)}. Split it."
            )
        message_address(self.sender, "sender's address")
        if self.reply_to.strip():
            message_address(self.reply_to, "reply-to address")
        _check_batch_recipients(recipients, parse_content(self.content).used)


@dataclass(frozen=True, slots=True)
class BatchAccepted:
    """The provider took the whole batch."""

    #: The provider's id for the request (SendGrid's ``X-Message-Id``).
    message_id: str


def _check_batch_recipients(recipients: Sequence[BatchRecipient], used: Sequence[str]) -> None:
    scanned = _clean_batch(recipients, used)
    if scanned and _plain_batch(recipients):
        return
    # Something is wrong: find the first recipient with a problem, in order.
    addresses: dict[str, int] = {}
    outbox_ids: dict[int, int] = {}
    for index, recipient in enumerate(recipients):
        problem = _recipient_problem(recipient, used, scanned=scanned)
        if problem is None:
            first = addresses.setdefault(recipient.email.lower(), index)
            if first != index:
                problem = (
                    f"The address is recipient {first}'s too. SendGrid refuses a request that "
                    "holds an address twice: remove duplicates before batching."
                )
        if problem is None:
            first = outbox_ids.setdefault(recipient.outbox_id, index)
            if first != index:
                problem = f"The outbox row is recipient {first}'s too."
        if problem is not None:
            raise InvalidBatchRecipient(problem, index=index, outbox_id=recipient.outbox_id)


def _plain_batch(recipients: Sequence[BatchRecipient]) -> bool:
    """Whether a batch that passed ``_clean_batch`` passes every other check too: whole-number
    outbox ids and addresses each once, addresses with text either side of their last "@" and
    no longer than 254 characters, names no longer than ``MAX_NAME_CHARS``. (False says only
    that a closer look is needed.)"""
    for recipient in recipients:
        email = recipient.email
        if (
            type(recipient.outbox_id) is not int
            or len(email) > 254
            or "@" not in email
            or email[0] == "@"
            or email[-1] == "@"
            or len(recipient.name) > MAX_NAME_CHARS
        ):
            return False
    count = len(recipients)
    return (
        len({r.outbox_id for r in recipients}) == count
        and len({r.email.lower() for r in recipients}) == count
    )


def _clean_batch(recipients: Sequence[BatchRecipient], used: Sequence[str]) -> bool:
    """Whether every recipient has every merge value ``used`` as text, and no address, name
    or value has a character the per-recipient checks look for: one scan of the whole batch
    instead of a few per recipient. The separators are characters no check objects to."""
    try:
        emails = "@".join([r.email for r in recipients])
        texts = " ".join([r.name for r in recipients])
        values = " ".join([r.values[name] for r in recipients for name in used])
    except (KeyError, TypeError):
        return False
    return not (
        NOT_IN_ADDRESS.search(emails)
        or HEADER_UNSAFE.search(emails)
        or HEADER_UNSAFE.search(texts)
        or HEADER_UNSAFE.search(values)
    )


def _recipient_problem(
    recipient: BatchRecipient, used: Sequence[str], *, scanned: bool = False
) -> str | None:
    """What is wrong with ``recipient``, in words that hold none of their details.
    ``scanned``: ``_clean_batch`` passed, so only what it cannot see is checked here."""
    if not isinstance(recipient.outbox_id, int) or isinstance(recipient.outbox_id, bool):
        return "The outbox id is not a whole number."
    if scanned:
        local, at, domain = recipient.email.rpartition("@")
        if not at or not local or not domain or len(recipient.email) > 254:
            return "The address is not a single plain email address."
        if len(recipient.name) > MAX_NAME_CHARS:
            return f"The name is longer than {MAX_NAME_CHARS} characters."
        return None
    try:
        check_address(recipient.email, "address")
        check_header(recipient.name, "name")
    except InvalidMessage as exc:
        return str(exc)
    if len(recipient.name) > MAX_NAME_CHARS:
        return f"The name is longer than {MAX_NAME_CHARS} characters."
    for name in used:
        value = recipient.values.get(name)
        if not isinstance(value, str):
            return f"There is no value for the merge field {{{{ {name} }}}}."
        if HEADER_UNSAFE.search(value):
            return f"The value of {{{{ {name} }}}} contains a line break or control character."
    return None


class MailGateway(Protocol):
    """Sends one message (``send``: returns the provider's id for it) or one cohort's notice
    to many people (``send_batch``); either raises ``GatewayError`` when it could not."""

    #: "outbox" or "sendgrid", as in ``MAIL_GATEWAY``.
    name: str

    def send(self, message: MailMessage) -> str: ...

    def send_batch(self, message: BatchMessage) -> BatchAccepted: ...
