"""Mail gateways: where an email goes when the app sends it.

Two gateways, chosen by ``MAIL_GATEWAY``:

- ``outbox`` (the default) stores each message in the ``dev_outbox_message`` table, where an
  admin reads it at ``/outbox``. Nothing leaves the machine.
- ``sendgrid`` posts one SendGrid v3 Mail Send request per message through the official client,
  with ``SENDGRID_HOST`` configurable so tests and benchmarks can use a local server.

A gateway either returns the provider's message id or raises a ``GatewayError`` whose message is
written for the admin who will read it. Messages never carry ``custom_args``: SendGrid keeps
them, and personal data must not end up there.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from composer.models.mail import DevOutboxMessage

SessionFactory = Callable[[], Session]

# The SendGrid client's HTTP layer logs every request at DEBUG: its headers (the API key) and
# its body (recipients' addresses). Neither may reach a log, whatever level the app runs at.
logging.getLogger("python_http_client").setLevel(logging.INFO)

#: C0 and C1 controls, DEL and the Unicode line and paragraph separators: none belongs in a
#: header, and CR/LF there would let text add headers of its own.
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL_LIKE: Final = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

MAX_SUBJECT_CHARS: Final = 998
MAX_NAME_CHARS: Final = 200


class InvalidMessage(ValueError):
    """A message that must not be sent as it is (refused before any gateway sees it)."""


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


def _check_header(value: str, what: str) -> None:
    if _HEADER_UNSAFE.search(value):
        raise InvalidMessage(f"The {what} contains a line break or control character.")


def _check_address(value: str, what: str) -> None:
    _check_header(value, what)
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or len(value) > 254
        or any(c.isspace() or c in '<>,;"' for c in value)
    ):
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


class MailGateway(Protocol):
    """Sends one message; returns the provider's id for it or raises ``GatewayError``."""

    #: "outbox" or "sendgrid", as in ``MAIL_GATEWAY``.
    name: str

    def send(self, message: MailMessage) -> str: ...


class DevOutboxGateway:
    """Stores each message in ``dev_outbox_message`` instead of sending it.

    ``session_factory`` must make a new, independent session (``sessionmaker(engine)``): the
    message is committed on its own, like a real provider accepting it, whatever the caller's
    transaction does next.
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


class SendGridGateway:
    """SendGrid v3 Mail Send, one request per message, through the official client.

    Each request has one personalization with a single ``to`` (never several recipients in
    one personalization: they would see each other), and click and open tracking off, so the
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
            response = self._client.client.mail.send.post(request_body=body, timeout=self.timeout)
        except SendGridHTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            # Raised while connecting or writing the request: SendGrid did not get it whole.
            raise GatewayUnavailable(
                f"Could not reach SendGrid at {self.host} ({_reason(exc.reason)}). "
                "Nothing was sent; try again later."
            ) from None
        except TimeoutError:
            raise GatewayTimedOut(
                f"SendGrid did not answer within {self.timeout:g} seconds. The message may have "
                "been accepted: check SendGrid's activity feed before sending it again."
            ) from None
        except (http.client.HTTPException, OSError) as exc:
            raise GatewayUnavailable(
                f"The connection to SendGrid failed before it answered ({_reason(exc)}). The "
                "message may have been accepted: check SendGrid's activity feed.",
                maybe_sent=True,
            ) from None
        status = int(response.status_code)
        if not 200 <= status < 300:
            raise GatewayUnavailable(f"SendGrid answered with an unexpected HTTP {status}.")
        return str(response.headers.get("X-Message-Id") or "")

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
