"""A local SendGrid-compatible v3 Mail Send server, for tests and benchmarks (not a product part).

What it does, as SendGrid documents it (Mail Send "Limitations" and "Errors" pages):

- ``POST /v3/mail/send`` with ``Authorization: Bearer <key>``; 202 Accepted with an empty body
  and an ``X-Message-Id`` header when the request is valid.
- 400 with ``{"errors": [{"message", "field", "help"}]}`` naming the offending field
  (``personalizations.3.to.0.email``) when it is not: more than 1000 personalizations, more than
  1000 recipients (to + cc + bcc), the same address twice anywhere in the request, substitutions
  or custom_args of 10,000 bytes or more for a personalization (keys plus values, UTF-8), no
  ``from``, no ``subject`` (unless every personalization has one), no ``content`` (unless a
  ``template_id`` is given), a ``;`` or ``,`` in a recipient's name, non-string values.
- 413 when the body is over 30 MB; 401 without a bearer key (or with the wrong one when the
  server is given ``api_key``).

Every accepted recipient is logged before the 202 is sent: to ``log_path`` as JSON lines
``{"message_id", "index", "email", "custom_args"}`` (one line per recipient; ``index`` is the
personalization's position; ``custom_args`` are the request's merged with the
personalization's), and in memory (``accepted`` and ``counts``) when ``record`` is on.

Faults, so a sender's retry and reconciliation logic can be exercised:

- scripted: ``fake.replies`` is a queue of canned :class:`Reply` objects or :class:`Fault` kinds,
  used first, one per request;
- probabilistic: :class:`Faults` (seeded), drawn for every request the queue does not answer.

A "timeout" is accepted (logged) and then never answered until the client hangs up: the
"maybe sent" case a sender must resolve through webhook events. A "reset" closes the connection
with a TCP RST and no response, either before accepting or after.

The Event Webhook side: :func:`make_events` builds SendGrid-shaped events for accepted
recipients (custom_args merged in as top-level keys, as SendGrid does), and :func:`post_events`
signs them like SendGrid (ECDSA P-256, SHA-256 over ``timestamp + raw body``, base64 DER
signature) and posts them.

Run it as a process (the crash test kills the sender, not this server)::

    python -m tests.sending.fake_sendgrid --port 0 --log /tmp/accepted.jsonl --seed 7 \\
        --p429 0.02 --p5xx 0.02 --p-slow 0.05 --p-timeout 0.01 --p-reset 0.01

It prints ``fake-sendgrid listening on http://127.0.0.1:<port>`` when ready, serves until
SIGTERM or SIGINT, and ``GET /__fake/stats`` answers its counters as JSON.

To try the app's sending end to end on one machine (README "Trying sending on one machine"),
give it the app's webhook too: every accepted recipient is then reported back as SendGrid
would, signed, a moment later: ``processed`` and ``delivered``, or ``bounce`` for an address
whose local part starts with "bounce" (so the postal-letter path can be tried as well)::

    python -m tests.sending.fake_sendgrid --port 8025 \\
        --webhook http://127.0.0.1:5000/webhooks/sendgrid --webhook-key instance/fake-sendgrid.pem

The key file is made on first use and kept, so the verification key it prints
(``webhook public key: ...``) stays the same from one start to the next.
"""

from __future__ import annotations

import argparse
import base64
import enum
import itertools
import json
import os
import queue
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from json.encoder import encode_basestring as _json_string
from pathlib import Path
from typing import IO, Any, Final, TypeGuard

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.paths import REPO_ROOT

MAIL_SEND_PATH: Final = "/v3/mail/send"
STATS_PATH: Final = "/__fake/stats"
MAX_PERSONALIZATIONS: Final = 1000
MAX_RECIPIENTS: Final = 1000
#: Substitutions and custom_args must each stay under this, per personalization.
MAX_ARGS_BYTES: Final = 10_000
MAX_MESSAGE_BYTES: Final = 30 * 1024 * 1024

SIGNATURE_HEADER: Final = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Twilio-Email-Event-Webhook-Timestamp"

_HELP: Final = "https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors"
_ADDRESS: Final = re.compile(r"[^\s<>,;\"'@]+@(?:[^\s<>,;\"'@.]+\.)+[^\s<>,;\"'@.]+")
_RECIPIENT_KINDS: Final = ("to", "cc", "bcc")
_NO_ERRORS: Final[list[dict[str, Any]]] = []  # never appended to


# --- What the server answers -------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    #: The parsed JSON body (None when it was not JSON).
    body: Any


@dataclass
class Reply:
    """A canned answer, sent as it is (a 2xx one still logs the request's recipients)."""

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0


class Fault(enum.Enum):
    """A misbehaviour for one request."""

    #: 429 with ``X-RateLimit-Reset`` a few seconds ahead; nothing accepted.
    RATE_LIMITED = "429"
    #: 500 or 503; nothing accepted.
    SERVER_ERROR = "5xx"
    #: Accepted, answered 202 after ``Faults.slow_seconds``.
    SLOW = "slow"
    #: Accepted, never answered: the connection is held until the client gives up.
    TIMEOUT = "timeout"
    #: Connection reset with no response, before anything is accepted.
    RESET_BEFORE = "reset-before"
    #: Connection reset with no response, after the recipients were accepted.
    RESET_AFTER = "reset-after"


@dataclass(frozen=True)
class Faults:
    """Probabilities of each fault per request, drawn from a random generator seeded with
    ``seed`` (the order of draws follows the order requests arrive)."""

    p429: float = 0.0
    p5xx: float = 0.0
    p_slow: float = 0.0
    p_timeout: float = 0.0
    #: Resets; ``reset_after_share`` of them happen after accepting.
    p_reset: float = 0.0
    reset_after_share: float = 0.5
    seed: int = 0
    slow_seconds: float = 0.5
    #: ``X-RateLimit-Reset`` is now + this many seconds (whole seconds, as SendGrid sends).
    rate_limit_reset_seconds: int = 1
    #: A "timeout" holds the connection at most this long when the client does not hang up.
    timeout_hold_seconds: float = 120.0

    def __post_init__(self) -> None:
        total = self.p429 + self.p5xx + self.p_slow + self.p_timeout + self.p_reset
        if any(p < 0 for p in (self.p429, self.p5xx, self.p_slow, self.p_timeout, self.p_reset)):
            raise ValueError("fault probabilities cannot be negative")
        if total > 1:
            raise ValueError(f"fault probabilities add up to {total:g}, more than 1")

    def draw(self, rng: random.Random) -> Fault | None:
        roll = rng.random()
        for probability, fault in (
            (self.p429, Fault.RATE_LIMITED),
            (self.p5xx, Fault.SERVER_ERROR),
            (self.p_slow, Fault.SLOW),
            (self.p_timeout, Fault.TIMEOUT),
        ):
            if roll < probability:
                return fault
            roll -= probability
        if roll < self.p_reset:
            after = rng.random() < self.reset_after_share
            return Fault.RESET_AFTER if after else Fault.RESET_BEFORE
        return None


@dataclass(frozen=True, slots=True)
class Accepted:
    """One recipient SendGrid would now deliver to."""

    message_id: str
    #: The personalization's position in the request.
    index: int
    email: str
    custom_args: dict[str, str]

    def key(self, count_key: str | None = "o") -> str:
        """What exactly-once is checked on: the custom arg ``count_key`` when the request set
        it, else the lower-cased address."""
        if count_key is not None and count_key in self.custom_args:
            return self.custom_args[count_key]
        return self.email.lower()


# --- Request validation ------------------------------------------------------------------------


def _error(message: str, field: str | None) -> dict[str, Any]:
    anchor = field.split(".", 1)[0] if field else ""
    return {"message": message, "field": field, "help": f"{_HELP}#{anchor}" if anchor else None}


def _plain_address(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= 320 and bool(_ADDRESS.fullmatch(value))


def _args_errors(args: object, field: str, base_size: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Errors in a string-to-string object, and its size in bytes (keys plus values, UTF-8)
    added to ``base_size``."""
    if args is None:
        return _NO_ERRORS, base_size
    if type(args) is not dict:
        return [_error("Invalid type. Expected: object.", field)], base_size
    try:
        values = "".join(args.values())  # quick, and a TypeError when one is not a string
    except TypeError:
        bad = next(k for k, v in args.items() if not isinstance(v, str))
        return [_error("Invalid type. Expected: string.", f"{field}.{bad}")], base_size
    return _NO_ERRORS, base_size + len("".join(args).encode()) + len(values.encode())


def _check_recipients(
    i: int, personalization: dict[str, Any], seen: set[str], errors: list[dict[str, Any]]
) -> int:
    """Check a personalization's to, cc and bcc; returns how many recipients it has."""
    count = 0
    to = personalization.get("to")
    if type(to) is not list or not to:
        errors.append(
            _error(
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.",
                f"personalizations.{i}.to",
            )
        )
    for kind in _RECIPIENT_KINDS:
        entries = to if kind == "to" else personalization.get(kind)
        if entries is None:
            continue
        if type(entries) is not list:
            errors.append(_error("Invalid type. Expected: array.", f"personalizations.{i}.{kind}"))
            continue
        count += len(entries)
        for j, entry in enumerate(entries):
            email = entry.get("email") if type(entry) is dict else None
            if type(entry) is not dict or not _plain_address(email):
                errors.append(
                    _error(
                        "Does not contain a valid address.",
                        f"personalizations.{i}.{kind}.{j}.email",
                    )
                )
                continue
            folded = email.lower()
            if folded in seen:
                errors.append(
                    _error(
                        "Each unique email address in the personalizations array should only be "
                        f"included once. You have included {email} more than once.",
                        f"personalizations.{i}.{kind}.{j}.email",
                    )
                )
            seen.add(folded)
            name = entry.get("name")
            if name is not None and (type(name) is not str or ";" in name or "," in name):
                errors.append(
                    _error(
                        "The name cannot include either the ; or , characters.",
                        f"personalizations.{i}.{kind}.{j}.name",
                    )
                )
    return count


def validate(body: object) -> list[dict[str, Any]]:
    """SendGrid's errors for a Mail Send body (empty when it would be accepted)."""
    if not isinstance(body, dict):
        return [_error("Bad Request", None)]
    errors: list[dict[str, Any]] = []
    templated = isinstance(body.get("template_id"), str) and bool(body["template_id"])

    sender = body.get("from")
    if not isinstance(sender, dict) or not _plain_address(sender.get("email")):
        errors.append(
            _error(
                "The from object must be provided for every email send. It is an object that "
                "requires the email parameter, but may also contain a name parameter.",
                "from.email",
            )
        )
    elif not str(sender["email"]).isascii():
        errors.append(_error("Unicode encoding is not supported for the from field.", "from"))

    if not templated:
        content = body.get("content")
        if not isinstance(content, list) or not content:
            errors.append(
                _error(
                    "Unless a valid template_id is provided, the content parameter is required. "
                    "There must be at least one defined content block.",
                    "content",
                )
            )
        else:
            for n, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    errors.append(_error("The content type must be a string.", f"content.{n}.type"))
                elif not isinstance(part.get("value"), str) or not part["value"]:
                    errors.append(
                        _error(
                            "The content value must be a string at least one character in length.",
                            f"content.{n}.value",
                        )
                    )

    message_args = body.get("custom_args")
    args_errors, message_args_size = _args_errors(message_args, "custom_args")
    errors.extend(args_errors)

    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(_error("You must have at least one personalization.", "personalizations"))
        return errors
    if len(personalizations) > MAX_PERSONALIZATIONS:
        errors.append(
            _error(
                f"The personalization block is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(personalizations)} "
                "personalizations. Please consider splitting this into multiple requests and "
                "resending your request.",
                "personalizations",
            )
        )
        return errors

    need_subject = not templated and not (
        isinstance(body.get("subject"), str) and body["subject"].strip()
    )
    seen: set[str] = set()
    recipients = 0
    for i, personalization in enumerate(personalizations):
        if type(personalization) is not dict:
            errors.append(_error("Invalid type. Expected: object.", f"personalizations.{i}"))
            continue
        recipients += _check_recipients(i, personalization, seen, errors)
        if need_subject:
            subject = personalization.get("subject")
            if not isinstance(subject, str) or not subject.strip():
                errors.append(
                    _error(
                        "The subject is required. You can get around this requirement if you "
                        "use a template with a subject defined or if every personalization has "
                        "a subject defined.",
                        "subject",
                    )
                )
                need_subject = False  # say it once
        # The field names are only built when a check fails (a million of them add up).
        subs = personalization.get("substitutions")
        if subs is not None:
            subs_errors, subs_size = _args_errors(subs, f"personalizations.{i}.substitutions")
            errors.extend(subs_errors)
            if subs_size >= MAX_ARGS_BYTES:
                errors.append(
                    _error(
                        f"The total size of substitutions must be less than {MAX_ARGS_BYTES} "
                        f"bytes per personalization; this one is {subs_size}.",
                        f"personalizations.{i}.substitutions",
                    )
                )
        args = personalization.get("custom_args")
        if args is not None or message_args_size:
            field = f"personalizations.{i}.custom_args" if args is not None else "custom_args"
            args_errors, args_size = _args_errors(args, field, message_args_size)
            errors.extend(args_errors)
            if args_size >= MAX_ARGS_BYTES:
                errors.append(
                    _error(
                        f"The total size of custom arguments must be less than {MAX_ARGS_BYTES} "
                        f"bytes; this personalization's is {args_size}.",
                        field,
                    )
                )
    if recipients > MAX_RECIPIENTS:
        errors.append(
            _error(
                f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per "
                f"request. You have provided {recipients}.",
                "personalizations",
            )
        )
    return errors


def accepted_recipients(body: Mapping[str, Any], message_id: str) -> list[Accepted]:
    """The recipients of a valid Mail Send body, as logged."""
    message_args = body.get("custom_args") or {}
    out: list[Accepted] = []
    for index, personalization in enumerate(body["personalizations"]):
        args = personalization.get("custom_args")
        merged = {**message_args, **args} if args else dict(message_args)
        for kind in ("to", "cc", "bcc"):
            for entry in personalization.get(kind) or ():
                out.append(Accepted(message_id, index, entry["email"], merged))
    return out


def _log_lines(recipients: list[Accepted]) -> str:
    """The log's JSON lines for ``recipients`` (built by hand: five times faster than
    ``json.dumps`` per line, which matters at a million recipients)."""
    if not recipients:
        return ""
    message_id = _json_string(recipients[0].message_id)
    lines = []
    for a in recipients:
        args = ",".join([_json_string(k) + ":" + _json_string(v) for k, v in a.custom_args.items()])
        lines.append(
            f'{{"message_id":{message_id},"index":{a.index},"email":{_json_string(a.email)},'
            f'"custom_args":{{{args}}}}}\n'
        )
    return "".join(lines)


# --- The server --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    fake: FakeSendGrid


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self.server.fake._handle_post(self)

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            _answer(self, 200, {"Content-Type": "application/json"}, self.server.fake.stats_json())
        else:
            _answer(self, 404, {"Content-Type": "application/json"}, _errors_body("not found"))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _errors_body(message: str, field: str | None = None) -> bytes:
    return json.dumps({"errors": [{"message": message, "field": field, "help": None}]}).encode()


def _answer(
    handler: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], body: bytes
) -> None:
    try:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        handler.close_connection = True  # the client gave up (a time-out test)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP RST and no response."""
    handler.close_connection = True
    connection = handler.connection
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The buffered reader holds the socket open; close it too, so the socket really closes.
        handler.rfile.close()
        connection.close()
    except OSError:
        pass


class FakeSendGrid:
    """The server; ``running()`` or ``with FakeSendGrid() as fake:`` starts it in a thread.

    ``log_path``: append accepted recipients there (JSON lines). ``faults``: probabilistic
    misbehaviour. ``api_key``: refuse any other bearer key with 401 (any key passes when None).
    ``record``: keep requests, accepted recipients and counts in memory (turn it off for a
    million-recipient benchmark and read the log instead). ``count_key``: the custom arg that
    identifies a recipient in ``counts``. ``rate_limit_per_second``: answer 429 beyond this many
    requests in a clock second, like a real account limit.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | Path | None = None,
        faults: Faults | None = None,
        api_key: str | None = None,
        record: bool = True,
        count_key: str | None = "o",
        rate_limit_per_second: int | None = None,
        webhook_url: str | None = None,
        webhook_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        #: Every request (method, path, headers, parsed body), when ``record`` is on.
        self.requests: list[Recorded] = []
        #: Scripted answers, used first, one per mail-send request.
        self.replies: list[Reply | Fault] = []
        #: Every accepted recipient, when ``record`` is on.
        self.accepted: list[Accepted] = []
        #: How many times each recipient was accepted (see ``Accepted.key``), when recording.
        self.counts: Counter[str] = Counter()
        self.faults = faults or Faults()
        self.api_key = api_key
        self.record = record
        self.count_key = count_key
        self.rate_limit_per_second = rate_limit_per_second
        self.stopping = threading.Event()
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(self.faults.seed)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._window = (0, 0)
        self._in_flight = 0
        self._log: IO[str] | None = None
        if log_path is not None:
            # Closed by close(); append-only, one write and flush per accepted request.
            self._log = Path(log_path).open("a", encoding="utf-8")  # noqa: SIM115
        self._webhook_key = webhook_key
        #: Where accepted recipients' events are posted (None: nowhere; tests post their own).
        self.webhook_url = webhook_url
        self._events: queue.Queue[list[Accepted]] = queue.Queue()
        self._event_thread: threading.Thread | None = None
        self.server = _Server((host, port), _Handler)
        self.server.fake = self
        self.port = int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeSendGrid:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.start_events()
        return self

    def start_events(self) -> None:
        if self.webhook_url is not None and self._event_thread is None:
            self._event_thread = threading.Thread(target=self._post_events_loop, daemon=True)
            self._event_thread.start()

    def _post_events_loop(self) -> None:
        """Report accepted recipients to ``webhook_url``, a batch every half second."""
        assert self.webhook_url is not None
        while not self.stopping.is_set():
            try:
                batch = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            time.sleep(0.5)  # collect what else was accepted meanwhile: fewer, larger posts
            while not self._events.empty():
                batch.extend(self._events.get_nowait())
            bounced = [a for a in batch if a.email.lower().startswith("bounce")]
            delivered = [a for a in batch if not a.email.lower().startswith("bounce")]
            events = make_events(batch, "processed") + make_events(delivered, "delivered")
            events += make_events(bounced, "bounce")
            for attempt in range(5):
                try:
                    status = self.post_events(self.webhook_url, events)
                except OSError as exc:
                    status, reason = 0, str(exc)
                else:
                    reason = f"HTTP {status}"
                if 200 <= status < 300:
                    self._count("webhook_posts")
                    break
                print(
                    f"fake-sendgrid: webhook post failed ({reason}), try {attempt + 1} of 5",
                    file=sys.stderr,
                    flush=True,
                )
                if self.stopping.wait(2.0):
                    return

    def close(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
        if self._event_thread is not None:
            self._event_thread.join(5)
        self.server.server_close()
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Scripting

    def reply(self, status: int, headers: dict[str, str] | None = None, **errors: Any) -> None:
        """Queue one canned answer; keyword arguments become its single error object."""
        body = json.dumps({"errors": [errors]}).encode() if errors else b""
        self.replies.append(Reply(status, headers or {}, body))

    def fault(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in order."""
        self.replies.extend(faults)

    def stats_json(self) -> bytes:
        with self._lock:
            return json.dumps(dict(self.stats), sort_keys=True).encode()

    # Webhook

    @property
    def webhook_key(self) -> ec.EllipticCurvePrivateKey:
        """This fake's Event Webhook signing key (made on first use)."""
        if self._webhook_key is None:
            self._webhook_key = generate_webhook_key()
        return self._webhook_key

    @property
    def webhook_public_key(self) -> str:
        """The verification key, as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
        return public_key_b64(self.webhook_key)

    def events(
        self, event: str, emails: Iterable[str] | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        """Events of one kind for every accepted recipient, or only for ``emails``."""
        chosen = self.accepted
        if emails is not None:
            wanted = {e.lower() for e in emails}
            chosen = [a for a in self.accepted if a.email.lower() in wanted]
        return make_events(chosen, event, **fields)

    def post_events(
        self, url: str, events: list[dict[str, Any]], *, timestamp: int | None = None
    ) -> int:
        """Post ``events`` to ``url`` signed with this fake's key; returns the HTTP status."""
        return post_events(url, events, self.webhook_key, timestamp=timestamp)

    # Serving

    def _next_fault(self) -> Reply | Fault | None:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
            if self.rate_limit_per_second is not None:
                second = int(time.time())
                window, used = self._window
                used = used + 1 if window == second else 1
                self._window = (second, used)
                if used > self.rate_limit_per_second:
                    return Fault.RATE_LIMITED
            return self.faults.draw(self._rng)

    def _accept(self, body: Mapping[str, Any], message_id: str) -> None:
        recipients = accepted_recipients(body, message_id)
        lines = _log_lines(recipients) if self._log is not None else ""
        with self._lock:
            if self._log is not None:
                self._log.write(lines)
                self._log.flush()
            if self.record:
                self.accepted.extend(recipients)
                self.counts.update(a.key(self.count_key) for a in recipients)
            self.stats["accepted_requests"] += 1
            self.stats["accepted_recipients"] += len(recipients)
        if self.webhook_url is not None:
            self._events.put(recipients)

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _handle_post(self, handler: _Handler) -> None:
        # ``stats["max_in_flight"]``: the most requests being answered at one moment.
        with self._lock:
            self._in_flight += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
        try:
            self._serve_post(handler)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve_post(self, handler: _Handler) -> None:
        self._count("requests")
        try:
            length = int(handler.headers.get("Content-Length") or "")
        except ValueError:
            handler.close_connection = True
            _answer(
                handler, 411, {"Content-Type": "application/json"}, _errors_body("Length Required")
            )
            return
        if length > MAX_MESSAGE_BYTES:
            remaining = length
            while remaining > 0:  # drain it, so the client gets to read the answer
                chunk = handler.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._count("too_large")
            handler.close_connection = True
            _answer(
                handler,
                413,
                {"Content-Type": "application/json"},
                _errors_body("The JSON payload you have included in your request is too large."),
            )
            return
        raw = handler.rfile.read(length)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        if self.record:
            with self._lock:
                self.requests.append(
                    Recorded("POST", handler.path, dict(handler.headers.items()), body)
                )
        json_type = {"Content-Type": "application/json"}
        if handler.path.split("?", 1)[0] != MAIL_SEND_PATH:
            _answer(handler, 404, json_type, _errors_body("resource not found"))
            return
        auth = handler.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or (
            self.api_key is not None and auth != f"Bearer {self.api_key}"
        ):
            self._count("unauthorized")
            _answer(
                handler,
                401,
                json_type,
                _errors_body("The provided authorization grant is invalid, expired, or revoked"),
            )
            return

        fault = self._next_fault()
        if isinstance(fault, Reply):
            self._count("canned")
            headers = dict(fault.headers)
            if 200 <= fault.status < 300 and isinstance(body, dict) and not validate(body):
                message_id = headers.setdefault("X-Message-Id", f"sg-{next(self._ids)}")
                self._accept(body, message_id)
            if fault.delay and self.stopping.wait(fault.delay):
                return
            _answer(handler, fault.status, headers, fault.body)
            return
        if fault is not None:
            self._count(f"fault_{fault.value}")
        if fault is Fault.RATE_LIMITED:
            reset = int(time.time()) + self.faults.rate_limit_reset_seconds
            _answer(
                handler,
                429,
                {
                    **json_type,
                    "X-RateLimit-Limit": str(self.rate_limit_per_second or 600),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
                _errors_body("too many requests"),
            )
            return
        if fault is Fault.SERVER_ERROR:
            with self._lock:
                status = self._rng.choice((500, 503))
            _answer(handler, status, json_type, _errors_body("internal error"))
            return
        if fault is Fault.RESET_BEFORE:
            _reset(handler)
            return

        errors = validate(body)
        if not errors:
            message_id = f"sg-{next(self._ids)}"
            self._accept(body, message_id)
        else:
            self._count("rejected")
        if fault is Fault.TIMEOUT:
            self._hold(handler)
            return
        if fault is Fault.RESET_AFTER:
            _reset(handler)
            return
        if fault is Fault.SLOW and self.stopping.wait(self.faults.slow_seconds):
            return
        if errors:
            _answer(handler, 400, json_type, json.dumps({"errors": errors}).encode())
        else:
            _answer(handler, 202, {"X-Message-Id": message_id}, b"")

    def _hold(self, handler: _Handler) -> None:
        """Answer nothing until the client hangs up (or the hold or the server ends)."""
        handler.close_connection = True
        connection = handler.connection
        deadline = time.monotonic() + self.faults.timeout_hold_seconds
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([connection], [], [], 0.1)
                if readable and not connection.recv(65536):
                    return
            except OSError:
                return


@contextmanager
def running(**options: Any) -> Iterator[FakeSendGrid]:
    """A started server (``FakeSendGrid(**options)``), stopped on exit."""
    with FakeSendGrid(**options) as fake:
        yield fake


# --- The accepted-recipients log ----------------------------------------------------------------


def read_log(path: str | Path) -> list[Accepted]:
    """Every recipient in a server's log (an unfinished last line is skipped)."""
    out: list[Accepted] = []
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                break
            item = json.loads(line)
            out.append(
                Accepted(item["message_id"], item["index"], item["email"], item["custom_args"])
            )
    return out


def acceptance_counts(path: str | Path, count_key: str | None = "o") -> Counter[str]:
    """How many times each recipient was accepted, from a server's log (see ``Accepted.key``)."""
    return Counter(a.key(count_key) for a in read_log(path))


# --- Event Webhook ------------------------------------------------------------------------------

_EVENT_DETAILS: Final[dict[str, dict[str, Any]]] = {
    "processed": {},
    "delivered": {"response": "250 2.0.0 OK"},
    "deferred": {"response": "451 4.7.1 Try again later", "attempt": "1"},
    "bounce": {
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "bounce_classification": "Invalid Address",
    },
    "dropped": {"reason": "Bounced Address"},
}
_event_ids = itertools.count(1)


def make_events(
    accepted: Iterable[Accepted], event: str, *, timestamp: int | None = None, **fields: Any
) -> list[dict[str, Any]]:
    """SendGrid-shaped events of one kind (processed, delivered, deferred, bounce, dropped, or
    any other name) for ``accepted`` recipients: a unique ``sg_event_id``, the
    ``sg_message_id`` (the request's ``X-Message-Id`` plus a per-personalization suffix), and
    the custom_args merged in as top-level keys. ``fields`` are added to every event."""
    when = int(time.time()) if timestamp is None else timestamp
    details = _EVENT_DETAILS.get(event, {})
    events: list[dict[str, Any]] = []
    for a in accepted:
        number = next(_event_ids)
        events.append(
            {
                **a.custom_args,
                "email": a.email,
                "event": event,
                "timestamp": when,
                "sg_event_id": base64.urlsafe_b64encode(
                    f"fake-{event}-{number}-{a.message_id}-{a.index}".encode()
                ).decode(),
                "sg_message_id": f"{a.message_id}.fake-{a.index}.0",
                "smtp-id": f"<{a.message_id}.{a.index}@fake-sendgrid.invalid>",
                **details,
                **fields,
            }
        )
    return events


def generate_webhook_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 key pair, as SendGrid makes for the Signed Event Webhook."""
    return ec.generate_private_key(ec.SECP256R1())


def load_webhook_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key kept in ``path`` (PEM), made there (readable by its owner only) first."""
    if not path.exists():
        pem = generate_webhook_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{path}: not an elliptic-curve private key")
    return key


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The public half as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sign(private_key: ec.EllipticCurvePrivateKey, payload: bytes, timestamp: str) -> str:
    """SendGrid's signature: ECDSA with SHA-256 over the timestamp then the raw body, base64
    of the DER-encoded signature."""
    signature = private_key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def signed_webhook_request(
    events: list[dict[str, Any]],
    private_key: ec.EllipticCurvePrivateKey,
    *,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers SendGrid would post (for a Flask test client, say)."""
    # SendGrid's own example payloads end with CRLF: a verifier must use the raw body.
    payload = json.dumps(events, separators=(",", ":")).encode() + b"\r\n"
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(private_key, payload, stamp),
        TIMESTAMP_HEADER: stamp,
    }
    return payload, headers


def post_events(
    url: str,
    events: list[dict[str, Any]],
    private_key: ec.EllipticCurvePrivateKey,
    *,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> int:
    """POST signed ``events`` to ``url`` like SendGrid's Event Webhook; returns the status."""
    payload, headers = signed_webhook_request(events, private_key, timestamp=timestamp)
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


# --- As a separate process ----------------------------------------------------------------------


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + STATS_PATH, timeout=5) as response:  # noqa: S310
            result: dict[str, int] = json.load(response)
            return result


@contextmanager
def start_process(
    log_path: str | Path, *, port: int = 0, start_timeout: float = 15.0, **options: Any
) -> Iterator[ServerProcess]:
    """Run the server in its own process (options as the command line's, ``p429=0.1``,
    ``p_slow=0.2``...), stopped on exit."""
    args = [sys.executable, "-m", "tests.sending.fake_sendgrid", "--port", str(port)]
    args += ["--log", str(log_path)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, str(value)]
    with subprocess.Popen(
        args, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], start_timeout)
            line = process.stdout.readline() if ready else ""
            if not line.startswith("fake-sendgrid listening on "):
                raise RuntimeError(f"the fake SendGrid server did not start: {line!r}")
            url = line.rsplit(" ", 1)[1].strip()
            yield ServerProcess(url, process, Path(log_path))
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.sending.fake_sendgrid",
        description="A local SendGrid-compatible v3 Mail Send server for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--log", help="append accepted recipients here as JSON lines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--p429", type=float, default=0.0)
    parser.add_argument("--p5xx", type=float, default=0.0)
    parser.add_argument("--p-slow", type=float, default=0.0)
    parser.add_argument("--p-timeout", type=float, default=0.0)
    parser.add_argument("--p-reset", type=float, default=0.0)
    parser.add_argument("--reset-after-share", type=float, default=0.5)
    parser.add_argument("--slow-seconds", type=float, default=0.5)
    parser.add_argument("--rate-limit-reset", type=int, default=1, help="seconds ahead")
    parser.add_argument("--timeout-hold", type=float, default=120.0)
    parser.add_argument("--rate-limit", type=int, help="requests per second before 429")
    parser.add_argument("--api-key", help="refuse other keys with 401")
    parser.add_argument(
        "--record", action="store_true", help="also keep requests and counts in memory"
    )
    parser.add_argument(
        "--webhook",
        metavar="URL",
        help="post signed events for accepted recipients here (the app's /webhooks/sendgrid)",
    )
    parser.add_argument(
        "--webhook-key",
        metavar="PEM",
        type=Path,
        help="the events' signing key, made there on first use (default: a new one each start)",
    )
    options = parser.parse_args(argv)
    faults = Faults(
        p429=options.p429,
        p5xx=options.p5xx,
        p_slow=options.p_slow,
        p_timeout=options.p_timeout,
        p_reset=options.p_reset,
        reset_after_share=options.reset_after_share,
        seed=options.seed,
        slow_seconds=options.slow_seconds,
        rate_limit_reset_seconds=options.rate_limit_reset,
        timeout_hold_seconds=options.timeout_hold,
    )
    fake = FakeSendGrid(
        host=options.host,
        port=options.port,
        log_path=options.log,
        faults=faults,
        api_key=options.api_key,
        record=options.record,
        rate_limit_per_second=options.rate_limit,
        webhook_url=options.webhook,
        webhook_key=load_webhook_key(options.webhook_key) if options.webhook_key else None,
    )

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fake-sendgrid listening on {fake.url}", flush=True)
    if fake.webhook_url is not None:
        print(f"fake-sendgrid posts events to {fake.webhook_url}", flush=True)
        print(f"webhook public key: {fake.webhook_public_key}", flush=True)
        fake.start_events()
    try:
        fake.server.serve_forever()
    finally:
        fake.stopping.set()
        fake.close()
        print(fake.stats_json().decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
