"""SendGrid's signed Event Webhook: checking a request is SendGrid's, and reading its events.

SendGrid signs each post with ECDSA (P-256, SHA-256) over the timestamp header's text followed
by the raw request body, and sends the base64 DER signature and the timestamp in
``X-Twilio-Email-Event-Webhook-Signature`` and ``X-Twilio-Email-Event-Webhook-Timestamp``. The
verification key is shown in SendGrid's settings as base64 DER (SubjectPublicKeyInfo).

SendGrid documents no replay window, so we add one: a request older than
``SENDGRID_WEBHOOK_MAX_AGE_SECONDS`` or more than a minute ahead of our clock is refused. A
signed request can still arrive twice inside the window (SendGrid also retries), so whoever
stores events must dedupe on ``sg_event_id``.

Our sends put two opaque ids, never personal data, in ``custom_args``: ``o`` (the outbox row)
and ``b`` (the batch). SendGrid copies custom_args into each event as top-level keys.

No Flask here: the endpoint passes the raw body and the two headers in.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_HEADER: Final = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Twilio-Email-Event-Webhook-Timestamp"

#: How far ahead of our clock a timestamp may be (clocks drift; SendGrid's is not ours).
MAX_FUTURE_SECONDS: Final = 60

#: The custom_args keys our sends set: the outbox row id and the batch id.
OUTBOX_ARG: Final = "o"
BATCH_ARG: Final = "b"

#: The delivery events sending acts on; others (open, click, spamreport...) are counted only.
DELIVERY_EVENTS: Final = frozenset({"processed", "delivered", "deferred", "bounce", "dropped"})

_MAX_ID_CHARS: Final = 255
_MAX_TIMESTAMP_DIGITS: Final = 12
#: Our ids (custom args ``o`` and ``b``) are database integers: 1 to 2**31 - 1.
MAX_OUR_ID: Final = 2**31 - 1
_OUR_ID: Final = re.compile(r"[0-9]{1,10}\Z")
#: A JSON integer longer than this is no timestamp or id of ours; it is read as
#: :data:`TOO_LONG`, so the item it is in is skipped and the rest of the post is still read
#: (Python refuses to read integers of more than 4,300 digits at all).
_MAX_JSON_INT_DIGITS: Final = 20
#: Reasons listed in :attr:`WebhookBatch.skipped`; the rest are counted.
MAX_LISTED_SKIPS: Final = 20


class _TooLong:
    """A JSON number too long to be anything of ours (no type check accepts it)."""

    def __repr__(self) -> str:
        return "<number too long>"


TOO_LONG: Final = _TooLong()


def _json_int(text: str) -> int | _TooLong:
    digits = len(text.lstrip("-"))
    return TOO_LONG if digits > _MAX_JSON_INT_DIGITS else int(text)


class WebhookRejected(Exception):
    """A webhook request that must be refused; ``reason`` says why, without its contents."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookKeyInvalid(WebhookRejected):
    """The configured verification key is unusable: a settings problem, not the sender's."""


@functools.lru_cache(maxsize=8)
def load_public_key(public_key_b64: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from SendGrid's base64 DER text (PEM armour is tolerated)."""
    text = public_key_b64.strip()
    if text.startswith("-----BEGIN"):
        text = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    text = "".join(text.split())
    if not text:
        raise WebhookKeyInvalid(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is empty: copy the verification key from SendGrid's "
            "Event Webhook settings."
        )
    try:
        der = base64.b64decode(text, validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise WebhookKeyInvalid(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 public key as SendGrid shows it."
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise WebhookKeyInvalid(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA P-256 key, which SendGrid uses."
        )
    return key


def verify_signature(
    public_key_b64: str,
    payload: bytes,
    signature_b64: str | None,
    timestamp: str | None,
    *,
    now: float,
    max_age_seconds: int = 300,
) -> None:
    """Return if ``payload`` was signed by SendGrid's key with ``timestamp`` and the timestamp
    is within ``max_age_seconds`` before ``now`` (or at most a minute after); else raise
    ``WebhookRejected``. ``payload`` must be the raw body, byte for byte; ``signature_b64`` and
    ``timestamp`` are the header values as received (None when absent)."""
    if not signature_b64 or not signature_b64.strip():
        raise WebhookRejected(f"The request has no {SIGNATURE_HEADER} header.")
    if not timestamp or not timestamp.strip():
        raise WebhookRejected(f"The request has no {TIMESTAMP_HEADER} header.")
    key = load_public_key(public_key_b64)
    if not (
        timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS
    ):
        raise WebhookRejected(f"The {TIMESTAMP_HEADER} header is not a Unix time in seconds.")
    age = now - int(timestamp)
    if age > max_age_seconds:
        raise WebhookRejected(
            f"The request was signed {math.floor(age)} seconds ago; requests older than "
            f"{max_age_seconds} seconds are refused, as a replay could be."
        )
    if -age > MAX_FUTURE_SECONDS:
        raise WebhookRejected(
            f"The request's timestamp is {math.ceil(-age)} seconds ahead of this server's clock "
            f"(at most {MAX_FUTURE_SECONDS} are allowed); check both clocks."
        )
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(f"The {SIGNATURE_HEADER} header is not base64.") from None
    try:
        key.verify(signature, timestamp.encode("ascii") + payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise WebhookRejected(
            "The signature does not match the body and timestamp for the configured key."
        ) from None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One delivery event for one recipient."""

    #: SendGrid's unique id for the event: store it to ignore a repeat.
    sg_event_id: str
    #: processed, delivered, deferred, bounce or dropped.
    event: str
    #: The recipient's address: personal data, so kept out of repr (and logs).
    email: str = field(repr=False)
    #: When it happened, timezone-aware UTC.
    timestamp: datetime
    #: SendGrid's per-recipient message id: the request's ``X-Message-Id``, a dot, a suffix.
    sg_message_id: str | None
    #: Our outbox row id (custom arg ``o``), None when the send set none.
    outbox_id: str | None
    #: Our batch id (custom arg ``b``), None when the send set none.
    batch_id: str | None
    #: For a bounce, SendGrid's ``type``: "bounce" (permanent) or "blocked"; else None.
    bounce_type: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """What one webhook post held. Iterating it gives its delivery events."""

    #: Delivery events, in the order posted, each ``sg_event_id`` once.
    events: tuple[WebhookEvent, ...]
    #: Other event types (open, click...) and how many of each were ignored.
    ignored: Mapping[str, int]
    #: ``sg_event_id``s that appeared more than once in this post (later copies dropped).
    duplicates: tuple[str, ...]
    #: Items that were not an event with an id, a type, an address and a time, or whose
    #: values were of the wrong type or out of range (an id of ours that cannot be one).
    malformed: int
    #: Why each of the first :data:`MAX_LISTED_SKIPS` malformed items was skipped: "item 3:
    #: ...", numbered from 1 in the order posted; never an address or other personal data.
    skipped: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[WebhookEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value and len(value) <= _MAX_ID_CHARS:
        return value
    return None


class _Skip(Exception):
    """An item that is not a usable event; the message says why (no personal data)."""


def _our_id(item: Mapping[str, Any], key: str, what: str) -> str | None:
    """Custom arg ``key`` as one of our ids (decimal digits), None when absent."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not (isinstance(value, str) and _OUR_ID.match(value) and 0 < int(value) <= MAX_OUR_ID):
        raise _Skip(f"its “{key}” ({what}) is not a whole number from 1 to {MAX_OUR_ID}")
    return value


def _event(item: Mapping[str, Any]) -> WebhookEvent:
    sg_event_id = item.get("sg_event_id")
    email = item.get("email")
    when = item.get("timestamp")
    if not (isinstance(sg_event_id, str) and 0 < len(sg_event_id) <= _MAX_ID_CHARS):
        raise _Skip(f"it has no “sg_event_id” of 1 to {_MAX_ID_CHARS} characters")
    if not (isinstance(email, str) and email):
        raise _Skip("it has no “email”")
    if not isinstance(when, int | float) or isinstance(when, bool):
        raise _Skip("its “timestamp” is not a number of seconds")
    try:
        timestamp = datetime.fromtimestamp(when, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Skip("its “timestamp” is not a time SendGrid could have sent") from None
    event = str(item["event"])
    bounce_type = _text(item.get("type")) if event == "bounce" else None
    return WebhookEvent(
        sg_event_id=sg_event_id,
        event=event,
        email=email,
        timestamp=timestamp,
        sg_message_id=_text(item.get("sg_message_id")),
        outbox_id=_our_id(item, OUTBOX_ARG, "our message id"),
        batch_id=_our_id(item, BATCH_ARG, "our batch id"),
        bounce_type=bounce_type,
    )


def parse_events(payload: bytes) -> WebhookBatch:
    """The events in a (verified) webhook body: a JSON array of event objects.

    Raises ``WebhookRejected`` when the body is not a JSON array. Event types other than
    ``DELIVERY_EVENTS`` are counted in ``ignored``; items missing what an event needs, or with
    a value of the wrong type or out of range (a 30-digit number, an id of ours that cannot
    be one), are skipped, counted in ``malformed`` and explained in ``skipped``, and never
    stop the others; a repeated ``sg_event_id`` is kept once and reported in ``duplicates``.
    """
    try:
        items = json.loads(payload, parse_int=_json_int)
    except (ValueError, RecursionError):
        raise WebhookRejected("The webhook body is not JSON.") from None
    if not isinstance(items, list):
        raise WebhookRejected("The webhook body must be a JSON array of events.")
    events: list[WebhookEvent] = []
    ignored: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates: list[str] = []
    skipped: list[str] = []
    malformed = 0
    for number, item in enumerate(items, start=1):
        kind = item.get("event") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise _Skip("it is not an event object")
            if not isinstance(kind, str) or not kind:
                raise _Skip("it has no “event” type")
            if kind not in DELIVERY_EVENTS:
                ignored[kind[:50]] += 1
                continue
            event = _event(item)
        except _Skip as why:
            malformed += 1
            if len(skipped) < MAX_LISTED_SKIPS:
                skipped.append(f"item {number}: {why}")
            continue
        if event.sg_event_id in seen:
            duplicates.append(event.sg_event_id)
        else:
            seen.add(event.sg_event_id)
            events.append(event)
    return WebhookBatch(
        events=tuple(events),
        ignored=dict(ignored),
        duplicates=tuple(duplicates),
        malformed=malformed,
        skipped=tuple(skipped),
    )


def skipped_summary(batch: WebhookBatch) -> str:
    """What a post's answer says about the items it skipped ("" when none were)."""
    if not batch.malformed:
        return ""
    more = batch.malformed - len(batch.skipped)
    tail = f"; and {more} more" if more else ""
    return (
        f"Applied {len(batch)} event(s); skipped {batch.malformed} item(s) that are not usable "
        f"events: {'; '.join(batch.skipped)}{tail}."
    )
