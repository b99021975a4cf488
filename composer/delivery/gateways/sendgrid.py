"""The SendGrid gateway (``MAIL_GATEWAY = "sendgrid"``): SendGrid v3 Mail Send through the
official client, with ``SENDGRID_HOST`` configurable so tests and benchmarks can use a local
server.

Single messages (staff mail) never carry ``custom_args``: SendGrid keeps them, and personal data
must not end up there. A batch (one cohort's notice to up to 1000 people) is one request: the
content once, one personalization per person with a single ``to`` and that person's merge
values as ``substitutions``, and only opaque ids in ``custom_args`` (``o``: the outbox row, per
personalization; ``b``: the batch, for the request), which its Event Webhook echoes back for
reconciliation (``composer.delivery.webhook``).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import time
import urllib.error
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from markupsafe import escape
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient

from composer.delivery.gateways.addresses import MailAddress, message_address, parse_sender
from composer.delivery.gateways.content import ParsedContent, parse_content
from composer.delivery.gateways.errors import (
    GatewayAuthError,
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    GatewayRecipientInvalid,
    GatewayRejected,
    GatewayTimedOut,
    GatewayTooLarge,
    GatewayUnavailable,
    InvalidBatchRecipient,
    InvalidMessage,
)
from composer.delivery.gateways.messages import (
    BatchAccepted,
    BatchMessage,
    BatchRecipient,
    MailMessage,
)
from composer.delivery.webhook import BATCH_ARG, OUTBOX_ARG

# The SendGrid client's HTTP layer logs every request at DEBUG: its headers (the API key) and
# its body (recipients' addresses). Neither may reach a log, whatever level the app runs at.
logging.getLogger("python_http_client").setLevel(logging.INFO)

_EMAIL_LIKE: Final = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
#: SendGrid refuses a personalization whose substitutions (keys plus values, UTF-8) reach this.
MAX_SUBSTITUTION_BYTES: Final = 10_000


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
    parsed: ParsedContent, recipients: Sequence[BatchRecipient]
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
        parsed = parse_content(message.content)
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
            "from": _address_json(message_address(message.sender, "sender's address")),
            "subject": parsed.subject.fill(text_tags),
            "content": content,
            "custom_args": {BATCH_ARG: str(message.batch_id)},
            "tracking_settings": {
                "click_tracking": {"enable": False, "enable_text": False},
                "open_tracking": {"enable": False},
            },
        }
        if message.reply_to.strip():
            body["reply_to"] = _address_json(message_address(message.reply_to, "reply-to address"))
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
