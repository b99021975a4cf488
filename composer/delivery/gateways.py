"""Mail gateways: where an email goes when the app sends it.

Two gateways, chosen by ``MAIL_GATEWAY``:

- ``outbox`` (the default) stores each message in the ``dev_outbox_message`` table, where an
  admin reads it at ``/outbox``. Nothing leaves the machine.
- ``sendgrid`` posts one SendGrid v3 Mail Send request per message through the official client,
  with ``SENDGRID_HOST`` configurable so tests and benchmarks can use a local server.

A gateway either returns the provider's message id or raises a ``GatewayError`` whose message is
written for the admin who will read it. Single messages (staff mail) never carry
``custom_args``: SendGrid keeps them, and personal data must not end up there.

Bulk notices go through ``send_batch``: one cohort's notice (the same subject, HTML and text,
whose only code is ``{{ field }}`` merge fields) to up to 1000 people in one request. SendGrid
gets the content once, one personalization per person with a single ``to`` and that person's
merge values as ``substitutions``, and only opaque ids in ``custom_args`` (``o``: the outbox
row, per personalization; ``b``: the batch, for the request), which its Event Webhook echoes
back for reconciliation.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import math
import re
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from jinja2 import TemplateSyntaxError, nodes
from markupsafe import escape
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from composer.delivery.webhook import BATCH_ARG, OUTBOX_ARG
from composer.models.mail import DevOutboxMessage
from composer.rendering.environment import notice_environment
from composer.rendering.merge_fields import MERGE_FIELDS, MergeTemplate

SessionFactory = Callable[[], Session]

# The SendGrid client's HTTP layer logs every request at DEBUG: its headers (the API key) and
# its body (recipients' addresses). Neither may reach a log, whatever level the app runs at.
logging.getLogger("python_http_client").setLevel(logging.INFO)

#: C0 and C1 controls, DEL and the Unicode line and paragraph separators: none belongs in a
#: header, and CR/LF there would let text add headers of its own.
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL_LIKE: Final = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+")
#: Whitespace (``\s`` is ``str.isspace``) and what would make one address read as several.
_NOT_IN_ADDRESS: Final = re.compile(r'[\s<>,;"]')
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

MAX_SUBJECT_CHARS: Final = 998
MAX_NAME_CHARS: Final = 200
#: Most recipients in one batch: SendGrid takes at most 1000 personalizations and 1000
#: recipients per request.
MAX_BATCH_RECIPIENTS: Final = 1000
#: SendGrid refuses a personalization whose substitutions (keys plus values, UTF-8) reach this.
MAX_SUBSTITUTION_BYTES: Final = 10_000


class InvalidMessage(ValueError):
    """A message that must not be sent as it is (refused before any gateway sees it)."""


class InvalidBatchRecipient(InvalidMessage):
    """One recipient makes a batch unsendable (a bad or repeated address, a control character
    in a value, values too long for SendGrid); the message names them by position and outbox
    row, never by their details."""

    def __init__(self, message: str, *, index: int, outbox_id: int) -> None:
        super().__init__(f"Recipient {index} (outbox row {outbox_id}): {message}")
        self.index = index
        self.outbox_id = outbox_id


class GatewayError(Exception):
    """A gateway could not send a message; ``str(exc)`` is written for an admin to read."""


class GatewayConfigError(GatewayError):
    """The mail settings are wrong or incomplete, so no gateway could be made."""


class GatewayAuthError(GatewayError):
    """The provider refused our credentials (HTTP 401 or 403)."""


class GatewayRateLimited(GatewayError):
    """The provider asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        #: Seconds until the provider accepts requests again, when it said; else None.
        self.retry_after = retry_after


class GatewayUnavailable(GatewayError):
    """The provider could not be reached, failed (5xx) or did not answer in time."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        #: True when the request reached the provider and no answer came back, so it may have
        #: been accepted: sending again could deliver it twice.
        self.maybe_sent = maybe_sent


class GatewayTimedOut(GatewayUnavailable):
    """The provider did not answer within the timeout, after receiving the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=True)


class GatewayRejected(GatewayError):
    """The provider refused this particular message (another 4xx); sending it again won't help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class GatewayTooLarge(GatewayRejected):
    """The request was too big for the provider (HTTP 413): send its recipients in smaller
    batches. (A subclass of ``GatewayRejected``: catch it first.)"""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=413)


class GatewayRecipientInvalid(GatewayRejected):
    """The provider refused a batch because of one recipient (HTTP 400 naming
    ``personalizations.N``): nothing in the request was sent. Mark that recipient invalid and
    send the others again. (A subclass of ``GatewayRejected``: catch it first.)"""

    def __init__(
        self,
        *,
        index: int,
        outbox_id: int,
        message: str,
        invalid: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__(message, status=400)
        #: The recipient's position in ``BatchMessage.recipients`` (and in the request).
        self.index = index
        #: That recipient's outbox row.
        self.outbox_id = outbox_id
        #: What the provider said, with any email address replaced by "[address]".
        self.message = message
        #: Every (index, outbox_id) the provider named, this one first (it may name several).
        self.invalid: tuple[tuple[int, int], ...] = tuple(invalid) or ((index, outbox_id),)


def _check_header(value: str, what: str) -> None:
    if _HEADER_UNSAFE.search(value):
        raise InvalidMessage(f"The {what} contains a line break or control character.")


def _check_address(value: str, what: str) -> None:
    _check_header(value, what)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or len(value) > 254 or _NOT_IN_ADDRESS.search(value):
        raise InvalidMessage(f"The {what} is not a single plain email address.")


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
        _check_address(self.to_email, "recipient's address")
        _check_header(self.to_name, "recipient's name")
        if len(self.to_name) > MAX_NAME_CHARS:
            raise InvalidMessage(
                f"The recipient's name is longer than {MAX_NAME_CHARS} characters."
            )
        _check_header(self.subject, "subject")
        if not self.subject.strip():
            raise InvalidMessage("The subject is empty.")
        if len(self.subject) > MAX_SUBJECT_CHARS:
            raise InvalidMessage(f"The subject is longer than {MAX_SUBJECT_CHARS} characters.")
        if not self.text.strip():
            raise InvalidMessage("The message has no text.")


@dataclass(frozen=True, slots=True)
class MailAddress:
    email: str
    name: str = ""


def parse_sender(value: str) -> MailAddress:
    """``"Example Ltd <security@example.com>"`` (or a bare address) as an address and a name."""
    if _HEADER_UNSAFE.search(value):
        raise GatewayConfigError("MAIL_SENDER contains a line break or control character.")
    name, email = parseaddr(value)
    try:
        _check_address(email, "sender's address")
    except InvalidMessage:
        raise GatewayConfigError(
            f"MAIL_SENDER must be an address like 'Example Ltd <security@example.com>', "
            f"not {value!r}."
        ) from None
    return MailAddress(email=email, name=name.strip())


def _message_address(value: str, what: str) -> MailAddress:
    """``"Name <address>"`` or a bare address, or ``InvalidMessage``."""
    _check_header(value, what)
    name, email = parseaddr(value)
    _check_address(email, what)
    return MailAddress(email=email, name=name.strip())


# --- Batches: one cohort's notice to up to 1000 people -----------------------------------------


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
class CohortContent:
    """A cohort's rendered notice as merge templates whose only code is ``{{ field }}`` fields
    (and ``{{ '{' }}`` for a literal brace): ``EmailCohort.subject.source``, ``.html.source``
    and ``.text.source`` from ``composer.rendering.email.prepare_email``."""

    subject: str
    html: str
    text: str


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
        _message_address(self.sender, "sender's address")
        if self.reply_to.strip():
            _message_address(self.reply_to, "reply-to address")
        _check_batch_recipients(recipients, _parse_content(self.content).used)


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
        _NOT_IN_ADDRESS.search(emails)
        or _HEADER_UNSAFE.search(emails)
        or _HEADER_UNSAFE.search(texts)
        or _HEADER_UNSAFE.search(values)
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
        _check_address(recipient.email, "address")
        _check_header(recipient.name, "name")
    except InvalidMessage as exc:
        return str(exc)
    if len(recipient.name) > MAX_NAME_CHARS:
        return f"The name is longer than {MAX_NAME_CHARS} characters."
    for name in used:
        value = recipient.values.get(name)
        if not isinstance(value, str):
            return f"There is no value for the merge field {{{{ {name} }}}}."
        if _HEADER_UNSAFE.search(value):
            return f"The value of {{{{ {name} }}}} contains a line break or control character."
    return None


@dataclass(frozen=True, slots=True)
class _Fields:
    """A merge template as the literal text around its fields, in order:
    ``literals[0] + fields[0] + literals[1] + ... + literals[-1]``."""

    literals: tuple[str, ...]
    fields: tuple[str, ...]

    def fill(self, tags: Mapping[str, str]) -> str:
        out = [self.literals[0]]
        for name, literal in zip(self.fields, self.literals[1:], strict=True):
            out.append(tags[name])
            out.append(literal)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class _ParsedContent:
    subject: _Fields
    html: _Fields
    text: _Fields
    #: Fields in the subject or the text part (filled in as they are), and in the HTML part
    #: (filled in HTML-escaped); ``used`` is both, in ``MERGE_FIELDS`` order.
    text_fields: tuple[str, ...]
    html_fields: tuple[str, ...]
    used: tuple[str, ...]
    #: Every literal character of the three parts (to pick substitution tags they lack).
    literal_text: str


def _parse_template(source: str, *, html: bool, what: str) -> _Fields:
    """``source`` read by the notice environment's own parser, so the literal text is what
    ``MergeTemplate`` would output (newlines normalised, ``{{ '{' }}`` a brace)."""
    try:
        tree = notice_environment().parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidMessage(
            f"The notice's {what} is not a merge template (line {exc.lineno}: {exc.message})."
        ) from None
    literals = [""]
    fields: list[str] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            raise _not_merge_fields(what, output.lineno)
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                literals[-1] += node.data
            elif isinstance(node, nodes.Name) and node.name in MERGE_FIELDS:
                fields.append(node.name)
                literals.append("")
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                # Autoescaping escapes a constant's output in HTML, as it does a field's.
                literals[-1] += str(escape(node.value)) if html else node.value
            else:
                raise _not_merge_fields(what, node.lineno)
    return _Fields(tuple(literals), tuple(fields))


def _not_merge_fields(what: str, line: int) -> InvalidMessage:
    return InvalidMessage(
        f"The notice's {what} has template code other than merge fields (line {line}); render "
        "it with composer.rendering.email.prepare_email."
    )


@functools.lru_cache(maxsize=32)
def _parse_content(content: CohortContent) -> _ParsedContent:
    """The content, parsed and checked once per cohort (batches of a cohort share it)."""
    subject = _parse_template(content.subject, html=False, what="subject")
    html = _parse_template(content.html, html=True, what="HTML part")
    text = _parse_template(content.text, html=False, what="text part")
    subject_literal = "".join(subject.literals)
    _check_header(subject_literal, "subject")
    if not (subject_literal.strip() or subject.fields):
        raise InvalidMessage("The subject is empty.")
    if len(subject_literal) > MAX_SUBJECT_CHARS:
        raise InvalidMessage(f"The subject is longer than {MAX_SUBJECT_CHARS} characters.")
    if not ("".join(text.literals).strip() or text.fields):
        raise InvalidMessage("The message has no text.")
    in_text = set(subject.fields) | set(text.fields)
    in_html = set(html.fields)
    return _ParsedContent(
        subject=subject,
        html=html,
        text=text,
        text_fields=tuple(f for f in MERGE_FIELDS if f in in_text),
        html_fields=tuple(f for f in MERGE_FIELDS if f in in_html),
        used=tuple(f for f in MERGE_FIELDS if f in in_text | in_html),
        literal_text="".join(subject.literals + html.literals + text.literals),
    )


@functools.lru_cache(maxsize=32)
def _merge_templates(content: CohortContent) -> tuple[MergeTemplate, MergeTemplate, MergeTemplate]:
    return (
        MergeTemplate(content.subject, html=False),
        MergeTemplate(content.html, html=True),
        MergeTemplate(content.text, html=False),
    )


#: The first character of every SendGrid substitution tag (``[first_name]`` for the text part
#: and the subject, ``[first_name.h]`` for the HTML part). The first of these that occurs
#: nowhere in the batch -- not in the notice's literal text, not in any value -- is used, so
#: the only places a tag can begin are the tags we put there: no text or value can be taken
#: for a tag, whatever order SendGrid substitutes in, and an unescaped value can never land in
#: the HTML part. None of them can be in an address (they are not in RFC 5322 ``atext`` or
#: outside it), and HTML escaping adds none of them.
_TAG_MARKS: Final = ("[", "\\", "^", "~", "|", "`")
#: Ends every tag; not in any field name, so no tag is the start of another.
_TAG_END: Final = "]"
#: SendGrid refuses a recipient name holding either of these.
_NAME_SEPARATORS: Final = re.compile(r"\s*[;,]\s*")
#: What HTML escaping (``markupsafe.escape``) replaces.
_HTML_ESCAPED: Final = ("&", "<", ">", "'", '"')


def _substitution_tags(
    parsed: _ParsedContent, recipients: Sequence[BatchRecipient]
) -> tuple[dict[str, str], dict[str, str]]:
    """The tags for the text part and subject, and for the HTML part, by field name."""
    values = "\0".join([r.values[name] for r in recipients for name in parsed.used])
    for mark in _TAG_MARKS:
        if mark not in parsed.literal_text and mark not in values:
            return (
                {name: f"{mark}{name}{_TAG_END}" for name in parsed.used},
                {name: f"{mark}{name}.h{_TAG_END}" for name in parsed.used},
            )
    marks = " ".join(_TAG_MARKS)
    raise InvalidMessage(
        "The batch cannot be sent with substitutions: each of the characters that start a "
        f"substitution tag ({marks}) occurs in the notice's text or in a recipient's details. "
        "Remove one of them from the notice, or send these recipients in smaller batches."
    )


def _to_name(name: str) -> str:
    if ";" not in name and "," not in name:
        return name.strip()
    return _NAME_SEPARATORS.sub(" ", name).strip()


class MailGateway(Protocol):
    """Sends one message (``send``: returns the provider's id for it) or one cohort's notice
    to many people (``send_batch``); either raises ``GatewayError`` when it could not."""

    #: "outbox" or "sendgrid", as in ``MAIL_GATEWAY``.
    name: str

    def send(self, message: MailMessage) -> str: ...

    def send_batch(self, message: BatchMessage) -> BatchAccepted: ...


class DevOutboxGateway:
    """Stores each message in ``dev_outbox_message`` instead of sending it.

    ``session_factory`` must make a new, independent session (``sessionmaker(engine)``): the
    message is committed on its own, like a real provider accepting it, whatever the caller's
    transaction does next.

    A development tool only. ``send_batch`` stores every recipient's filled-in notice -- their
    name, address, reference and whatever else the notice says about them -- in plain rows
    that any admin can read at ``/outbox`` and that no retention purge removes. Use made-up
    recipients with it, never a real recipient list: production sends through ``sendgrid``.
    """

    name = "outbox"

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    def send(self, message: MailMessage) -> str:
        message_id = f"dev-{uuid.uuid4().hex}"
        try:
            with self._session_factory() as session, session.begin():
                session.add(
                    DevOutboxMessage(
                        to_email=message.to_email,
                        to_name=message.to_name,
                        subject=message.subject,
                        text=message.text,
                        html=message.html,
                        gateway_message_id=message_id,
                    )
                )
        except SQLAlchemyError as exc:
            raise GatewayUnavailable(
                f"The dev outbox could not store the message ({type(exc).__name__})."
            ) from exc
        return message_id

    def send_batch(self, message: BatchMessage) -> BatchAccepted:
        """Stores one message per recipient with their fields filled in (the HTML part
        escaped), all in one transaction, as a provider accepts a whole request or none of it.
        Each row's id is the batch's id plus the recipient's position."""
        subject, html, text = _merge_templates(message.content)
        batch_message_id = f"dev-{uuid.uuid4().hex}"
        rows = []
        for index, recipient in enumerate(message.recipients):
            values = dict(recipient.values)
            rows.append(
                DevOutboxMessage(
                    to_email=recipient.email,
                    to_name=recipient.name,
                    # A long value may push it past the column; the draft's own was checked.
                    subject=subject.render(values)[:MAX_SUBJECT_CHARS],
                    text=text.render(values),
                    html=html.render(values),
                    gateway_message_id=f"{batch_message_id}-{index}",
                )
            )
        try:
            with self._session_factory() as session, session.begin():
                session.add_all(rows)
        except SQLAlchemyError as exc:
            raise GatewayUnavailable(
                f"The dev outbox could not store the batch ({type(exc).__name__})."
            ) from exc
        return BatchAccepted(message_id=batch_message_id)


class SendGridGateway:
    """SendGrid v3 Mail Send through the official client: one request per message (``send``)
    or per batch of up to 1000 recipients (``send_batch``).

    Every personalization has a single ``to`` (never several recipients in one
    personalization: they would see each other), and click and open tracking are off, so the
    links in a security email are the links we wrote.
    """

    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        sender: str,
        host: str = "https://api.sendgrid.com",
        timeout: float = 10.0,
        *,
        reply_to: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key.strip():
            raise GatewayConfigError(
                "MAIL_GATEWAY is 'sendgrid' but SENDGRID_API_KEY is empty. Set it (for example "
                "COMPOSER_SENDGRID_API_KEY in the environment) or use MAIL_GATEWAY = 'outbox'."
            )
        if not (math.isfinite(timeout) and timeout > 0):
            raise GatewayConfigError("SENDGRID_TIMEOUT_SECONDS must be a positive number.")
        self.host = _checked_host(host)
        self.timeout = float(timeout)
        self.sender = parse_sender(sender)
        self.reply_to = parse_sender(reply_to) if reply_to.strip() else None
        self._clock = clock
        self._client = SendGridAPIClient(api_key=api_key, host=self.host)
        # The HTTP client's timeout defaults to None (wait for ever). Requests are made by
        # child clients (``client.mail.send``) that copy this attribute; ``send`` also passes
        # it per call, so neither path can fall back to None.
        self._client.client.timeout = self.timeout

    def request_body(self, message: MailMessage) -> dict[str, Any]:
        """The v3 Mail Send JSON for ``message``."""
        to: dict[str, str] = {"email": message.to_email}
        if message.to_name:
            to["name"] = message.to_name
        sender: dict[str, str] = {"email": self.sender.email}
        if self.sender.name:
            sender["name"] = self.sender.name
        content = [{"type": "text/plain", "value": message.text}]
        if message.html is not None:
            content.append({"type": "text/html", "value": message.html})
        body: dict[str, Any] = {
            "personalizations": [{"to": [to]}],
            "from": sender,
            "subject": message.subject,
            "content": content,
            "tracking_settings": {
                "click_tracking": {"enable": False, "enable_text": False},
                "open_tracking": {"enable": False},
            },
        }
        if self.reply_to is not None:
            reply_to = {"email": self.reply_to.email}
            if self.reply_to.name:
                reply_to["name"] = self.reply_to.name
            body["reply_to"] = reply_to
        return body

    def send(self, message: MailMessage) -> str:
        body = self.request_body(message)
        try:
            return self._post(body, "message")
        except SendGridHTTPError as exc:
            raise self._http_error(exc) from None

    def batch_request_body(self, message: BatchMessage) -> dict[str, Any]:
        """The v3 Mail Send JSON for a batch: the content once, with substitution tags for the
        merge fields, and personalization N for recipient N, with their values as
        ``substitutions`` (HTML-escaped for the HTML part's tags) and their outbox id as
        ``custom_args`` ``o``. Raises ``InvalidMessage`` (see ``_substitution_tags``) or
        ``InvalidBatchRecipient`` (substitutions too big for SendGrid)."""
        parsed = _parse_content(message.content)
        recipients = message.recipients
        text_tags, html_tags = _substitution_tags(parsed, recipients)
        text_keys = [(name, text_tags[name]) for name in parsed.text_fields]
        html_keys = [(name, html_tags[name]) for name in parsed.html_fields]
        keys = text_keys + html_keys
        tags_size = len("".join([tag for _, tag in keys]).encode())
        # Escaping changes no value unless one holds a character HTML escapes: look once, and
        # when none does, fill every tag in one go.
        html_values = "".join([r.values[field] for r in recipients for field, _ in html_keys])
        escaping = any(char in html_values for char in _HTML_ESCAPED)
        personalizations: list[dict[str, Any]] = []
        for index, recipient in enumerate(recipients):
            values = recipient.values
            name = _to_name(recipient.name)
            to = {"email": recipient.email, "name": name} if name else {"email": recipient.email}
            personalization: dict[str, Any] = {
                "to": [to],
                "custom_args": {OUTBOX_ARG: str(recipient.outbox_id)},
            }
            if keys:
                if escaping:
                    substitutions = {tag: values[field] for field, tag in text_keys}
                    for field, tag in html_keys:
                        substitutions[tag] = str(escape(values[field]))
                else:
                    substitutions = {tag: values[field] for field, tag in keys}
                # SendGrid counts the tags and the values, in UTF-8 bytes.
                joined = "".join(substitutions.values())
                size = tags_size + (len(joined) if joined.isascii() else len(joined.encode()))
                if size >= MAX_SUBSTITUTION_BYTES:
                    raise InvalidBatchRecipient(
                        f"Their merge values take {size} bytes; SendGrid takes less than "
                        f"{MAX_SUBSTITUTION_BYTES} per recipient.",
                        index=index,
                        outbox_id=recipient.outbox_id,
                    )
                personalization["substitutions"] = substitutions
            personalizations.append(personalization)
        content = [{"type": "text/plain", "value": parsed.text.fill(text_tags)}]
        html = parsed.html.fill(html_tags)
        if html.strip():
            content.append({"type": "text/html", "value": html})
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": _address_json(_message_address(message.sender, "sender's address")),
            "subject": parsed.subject.fill(text_tags),
            "content": content,
            "custom_args": {BATCH_ARG: str(message.batch_id)},
            "tracking_settings": {
                "click_tracking": {"enable": False, "enable_text": False},
                "open_tracking": {"enable": False},
            },
        }
        if message.reply_to.strip():
            body["reply_to"] = _address_json(_message_address(message.reply_to, "reply-to address"))
        return body

    def send_batch(self, message: BatchMessage) -> BatchAccepted:
        """One request for the whole batch. Besides the errors ``send`` raises: 413 is
        ``GatewayTooLarge`` (split the batch), and a 400 that names a personalization is
        ``GatewayRecipientInvalid`` (nothing was sent; drop that recipient and resend)."""
        body = self.batch_request_body(message)
        try:
            return BatchAccepted(message_id=self._post(body, "batch"))
        except SendGridHTTPError as exc:
            raise self._batch_http_error(exc, message) from None

    def _post(self, body: dict[str, Any], what: str) -> str:
        """Posts ``body``; returns ``X-Message-Id``. Transport failures become
        ``GatewayError``; an HTTP error status is left to the caller as ``SendGridHTTPError``."""
        try:
            response = self._client.client.mail.send.post(request_body=body, timeout=self.timeout)
        except SendGridHTTPError:
            raise
        except urllib.error.URLError as exc:
            # Raised while connecting or writing the request: SendGrid did not get it whole.
            raise GatewayUnavailable(
                f"Could not reach SendGrid at {self.host} ({_reason(exc.reason)}). "
                "Nothing was sent; try again later."
            ) from None
        except TimeoutError:
            raise GatewayTimedOut(
                f"SendGrid did not answer within {self.timeout:g} seconds. The {what} may have "
                "been accepted: check SendGrid's activity feed before sending it again."
            ) from None
        except (http.client.HTTPException, OSError) as exc:
            raise GatewayUnavailable(
                f"The connection to SendGrid failed before it answered ({_reason(exc)}). The "
                f"{what} may have been accepted: check SendGrid's activity feed.",
                maybe_sent=True,
            ) from None
        status = int(response.status_code)
        if not 200 <= status < 300:
            raise GatewayUnavailable(f"SendGrid answered with an unexpected HTTP {status}.")
        return str(response.headers.get("X-Message-Id") or "")

    def _batch_http_error(self, exc: SendGridHTTPError, message: BatchMessage) -> GatewayError:
        if int(exc.status_code) == 400:
            named = _named_personalizations(exc.body, len(message.recipients))
            if named:
                index, text = named[0]
                recipients = message.recipients
                return GatewayRecipientInvalid(
                    index=index,
                    outbox_id=recipients[index].outbox_id,
                    message=f"SendGrid refused recipient {index} of the batch (HTTP 400): {text}",
                    invalid=[(i, recipients[i].outbox_id) for i, _ in named],
                )
        return self._http_error(exc)

    def _http_error(self, exc: SendGridHTTPError) -> GatewayError:
        status = int(exc.status_code)
        if status in (401, 403):
            return GatewayAuthError(
                f"SendGrid refused the API key (HTTP {status}). Check that SENDGRID_API_KEY is "
                "right and that the key has the Mail Send permission."
            )
        if status == 429:
            retry_after = self._retry_after(exc.headers)
            when = (
                f" It accepts requests again in about {math.ceil(retry_after)} seconds."
                if retry_after is not None
                else ""
            )
            return GatewayRateLimited(
                f"SendGrid's rate limit was reached (HTTP 429).{when}", retry_after=retry_after
            )
        if status == 413:
            return GatewayTooLarge(
                "SendGrid refused the request as too large (HTTP 413); send it in smaller parts."
            )
        if status >= 500:
            return GatewayUnavailable(
                f"SendGrid had a problem on its side (HTTP {status}); try again later.",
                maybe_sent=status == 504,
            )
        return GatewayRejected(
            f"SendGrid refused the message (HTTP {status}){_error_details(exc.body)}.",
            status=status,
        )

    def _retry_after(self, headers: Any) -> float | None:
        """Seconds to wait, from ``X-RateLimit-Reset`` (a Unix time), else ``Retry-After``."""
        if headers is None:
            return None
        reset = _number(headers.get("X-RateLimit-Reset"))
        if reset is not None:
            return max(0.0, reset - self._clock())
        seconds = _number(headers.get("Retry-After"))
        return max(0.0, seconds) if seconds is not None else None


def _checked_host(host: str) -> str:
    """The API base URL; plain http only to this machine, so the key never crosses a network
    unencrypted."""
    parts = urlsplit(host.strip())
    if parts.scheme == "https" and parts.hostname:
        return host.strip().rstrip("/")
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return host.strip().rstrip("/")
    raise GatewayConfigError(
        f"SENDGRID_HOST must be an https:// URL (http:// only for localhost), not {host!r}."
    )


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _reason(reason: object) -> str:
    text = str(reason) or type(reason).__name__
    return _EMAIL_LIKE.sub("[address]", text)[:200]


def _error_details(body: object) -> str:
    """SendGrid's own error messages, addresses removed, for the admin reading the error."""
    try:
        raw = body.decode("utf-8") if isinstance(body, bytes) else str(body)
        errors = json.loads(raw).get("errors") or []
        messages = [str(e.get("message", "")).strip() for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    text = "; ".join(m for m in messages[:3] if m)
    if not text:
        return ""
    return ": " + _EMAIL_LIKE.sub("[address]", text)[:300]


def _address_json(address: MailAddress) -> dict[str, str]:
    out = {"email": address.email}
    if address.name:
        out["name"] = address.name
    return out


_PERSONALIZATION_FIELD: Final = re.compile(r"personalizations\.([0-9]{1,4})(?:\.|$)")


def _named_personalizations(body: object, count: int) -> list[tuple[int, str]]:
    """The personalizations SendGrid's 400 errors name (``"field":
    "personalizations.7.to.0.email"``), in order, each once, with what it said about it
    (addresses removed)."""
    try:
        raw = body.decode("utf-8") if isinstance(body, bytes) else str(body)
        errors = json.loads(raw).get("errors") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        return []
    named: dict[int, str] = {}
    for error in errors if isinstance(errors, list) else ():
        if not isinstance(error, dict):
            continue
        field = str(error.get("field") or "")
        match = _PERSONALIZATION_FIELD.match(field)
        if match is None or int(match.group(1)) >= count:
            continue
        text = str(error.get("message") or "").strip() or "no reason given"
        said = _EMAIL_LIKE.sub("[address]", f"{text} (field {field})")[:400]
        named.setdefault(int(match.group(1)), said)
    return list(named.items())


def _outbox_from_config(_config: Mapping[str, Any], session_factory: SessionFactory) -> MailGateway:
    return DevOutboxGateway(session_factory)


def _sendgrid_from_config(config: Mapping[str, Any], _factory: SessionFactory) -> MailGateway:
    try:
        timeout = float(config.get("SENDGRID_TIMEOUT_SECONDS", 10.0))
    except (TypeError, ValueError):
        raise GatewayConfigError("SENDGRID_TIMEOUT_SECONDS must be a number of seconds.") from None
    return SendGridGateway(
        api_key=str(config.get("SENDGRID_API_KEY") or ""),
        sender=str(config.get("MAIL_SENDER") or ""),
        host=str(config.get("SENDGRID_HOST") or "https://api.sendgrid.com"),
        timeout=timeout,
        reply_to=str(config.get("MAIL_REPLY_TO") or ""),
    )


#: ``MAIL_GATEWAY`` value -> how to make that gateway from the app's configuration.
GATEWAYS: Final[Mapping[str, Callable[[Mapping[str, Any], SessionFactory], MailGateway]]] = {
    "outbox": _outbox_from_config,
    "sendgrid": _sendgrid_from_config,
}


def gateway_from_config(config: Mapping[str, Any], session_factory: SessionFactory) -> MailGateway:
    """The gateway ``MAIL_GATEWAY`` names ("outbox" when unset), configured and ready.

    Raises ``GatewayConfigError`` for an unknown gateway or incomplete settings (SendGrid
    without an API key), with a message saying what to set.
    """
    name = str(config.get("MAIL_GATEWAY") or "outbox").strip().lower()
    make = GATEWAYS.get(name)
    if make is None:
        choices = ", ".join(repr(n) for n in GATEWAYS)
        raise GatewayConfigError(f"MAIL_GATEWAY is {name!r}; it must be one of {choices}.")
    return make(config, session_factory)
