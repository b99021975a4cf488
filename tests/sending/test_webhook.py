"""Event Webhook: SendGrid's signature checked with a replay window, and its events read."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from composer.delivery.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookEvent,
    WebhookKeyInvalid,
    WebhookRejected,
    load_public_key,
    parse_events,
    verify_signature,
)
from composer.settings import Defaults
from tests.sending.fake_sendgrid import (
    Accepted,
    generate_webhook_key,
    make_events,
    post_events,
    public_key_b64,
    sign,
    signed_webhook_request,
)

NOW = 1_700_000_000
STAMP = str(NOW)

# A request SendGrid itself signed, published in its Python library's tests
# (sendgrid-python, test/unit/test_eventwebhook.py): proves we verify what SendGrid really sends.
SENDGRID_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62"
    "gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+"
    "luQAbPIqHh89M15TluLtEZtM="
)
SENDGRID_TIMESTAMP = "1600112502"
SENDGRID_PAYLOAD = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": (
                    "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0"
                ),
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return generate_webhook_key()


@pytest.fixture(scope="module")
def public(key: ec.EllipticCurvePrivateKey) -> str:
    return public_key_b64(key)


def signed(
    key: ec.EllipticCurvePrivateKey, events: list[dict[str, Any]] | None = None, stamp: int = NOW
) -> tuple[bytes, str, str]:
    events = events if events is not None else [event()]
    payload, headers = signed_webhook_request(events, key, timestamp=stamp)
    return payload, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]


def event(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "email": "lee@example.com",
        "event": "delivered",
        "timestamp": NOW - 5,
        "sg_event_id": "ZGVsaXZlcmVkLTEtYWJj",
        "sg_message_id": "sg-1.fake-0.0",
        "o": "41",
        "b": "7",
        "response": "250 OK",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


# --- Signatures --------------------------------------------------------------------------------


def test_a_good_signature_is_accepted(key: ec.EllipticCurvePrivateKey, public: str) -> None:
    payload, signature, stamp = signed(key)
    verify_signature(public, payload, signature, stamp, now=NOW)
    verify_signature(public, payload, signature, stamp, now=NOW + 300)  # the edge of the window
    verify_signature(public, payload, signature, stamp, now=NOW - 60)  # a little clock drift


def test_sendgrids_own_signed_request_is_accepted() -> None:
    verify_signature(
        SENDGRID_KEY,
        SENDGRID_PAYLOAD,
        SENDGRID_SIGNATURE,
        SENDGRID_TIMESTAMP,
        now=int(SENDGRID_TIMESTAMP) + 10,
    )
    batch = parse_events(SENDGRID_PAYLOAD)
    assert [(e.event, e.email, e.outbox_id) for e in batch] == [
        ("dropped", "hello@world.com", None)
    ]
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_signature(
            SENDGRID_KEY,
            SENDGRID_PAYLOAD.rstrip(),  # the trailing CRLF is signed too: the raw body or nothing
            SENDGRID_SIGNATURE,
            SENDGRID_TIMESTAMP,
            now=int(SENDGRID_TIMESTAMP),
        )


def test_pem_armour_around_the_key_is_tolerated(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    payload, signature, stamp = signed(key)
    verify_signature(pem, payload, signature, stamp, now=NOW)


def flip_last_byte(payload: bytes) -> bytes:
    return payload[:-3] + bytes([payload[-3] ^ 1]) + payload[-2:]


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("a changed byte", {"payload": "flip"}, "does not match"),
    ("a changed timestamp", {"timestamp": str(NOW - 1)}, "does not match"),
    ("a stale timestamp", {"now": NOW + 301}, "301 seconds ago"),
    ("a future timestamp", {"now": NOW - 61}, "61 seconds ahead"),
    ("a wrong key", {"key": "other"}, "does not match"),
    ("garbage base64 signature", {"signature": "not*base64!"}, "is not base64"),
    (
        "a base64 non-signature",
        {"signature": base64.b64encode(b"hello").decode()},
        "does not match",
    ),
    ("no signature header", {"signature": None}, f"no {SIGNATURE_HEADER}"),
    ("an empty signature header", {"signature": " "}, f"no {SIGNATURE_HEADER}"),
    ("no timestamp header", {"timestamp": None}, f"no {TIMESTAMP_HEADER}"),
    ("a timestamp that is not a number", {"timestamp": "yesterday"}, "not a Unix time"),
    ("a negative timestamp", {"timestamp": "-1700000000"}, "not a Unix time"),
    ("a fractional timestamp", {"timestamp": "1700000000.5"}, "not a Unix time"),
    ("a shorter max age", {"max_age_seconds": 10, "now": NOW + 11}, "older than 10 seconds"),
]


@pytest.mark.parametrize(("case", "change", "says"), REJECTED, ids=[r[0] for r in REJECTED])
def test_tampered_requests_are_rejected(
    key: ec.EllipticCurvePrivateKey, public: str, case: str, change: dict[str, Any], says: str
) -> None:
    payload, signature, stamp = signed(key)
    arguments: dict[str, Any] = {
        "public_key_b64": public,
        "payload": payload,
        "signature_b64": signature,
        "timestamp": stamp,
        "now": NOW,
    }
    if change.get("payload") == "flip":
        arguments["payload"] = flip_last_byte(payload)
        assert arguments["payload"] != payload
    elif change.get("key") == "other":
        arguments["public_key_b64"] = public_key_b64(generate_webhook_key())
    else:
        arguments.update({"signature_b64" if k == "signature" else k: v for k, v in change.items()})
    with pytest.raises(WebhookRejected, match=says) as caught:
        verify_signature(**arguments)
    assert caught.value.reason == str(caught.value)
    assert not isinstance(caught.value, WebhookKeyInvalid), case


BAD_KEYS = [
    ("", "is empty"),
    ("not*base64!", "not a base64 public key"),
    (base64.b64encode(b"not a key").decode(), "not a base64 public key"),
]


@pytest.mark.parametrize(("bad_key", "says"), BAD_KEYS)
def test_a_malformed_key_is_a_settings_problem(
    key: ec.EllipticCurvePrivateKey, bad_key: str, says: str
) -> None:
    payload, signature, stamp = signed(key)
    with pytest.raises(WebhookKeyInvalid, match=says):
        verify_signature(bad_key, payload, signature, stamp, now=NOW)


def test_a_key_on_another_curve_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    payload = b"[]"
    signature = sign(other, payload, STAMP)
    with pytest.raises(WebhookKeyInvalid, match="not an ECDSA P-256 key"):
        verify_signature(public_key_b64(other), payload, signature, STAMP, now=NOW)


def test_the_key_is_parsed_once(public: str) -> None:
    assert load_public_key(public) is load_public_key(public)


def test_config_defaults() -> None:
    assert Defaults.SENDGRID_WEBHOOK_PUBLIC_KEY == ""
    assert Defaults.SENDGRID_WEBHOOK_MAX_AGE_SECONDS == 300


# --- End to end: the fake posts, a receiver verifies -------------------------------------------


@pytest.fixture
def receiver(public: str) -> Iterator[tuple[str, list[int]]]:
    """An HTTP endpoint that verifies like the app will: 204 if good, 403 if not."""
    outcomes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                verify_signature(
                    public,
                    raw,
                    self.headers.get(SIGNATURE_HEADER),
                    self.headers.get(TIMESTAMP_HEADER),
                    now=datetime.now(UTC).timestamp(),
                )
                parse_events(raw)
                status = 204
            except WebhookRejected:
                status = 403
            outcomes.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/sendgrid", outcomes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_events_posted_by_the_fake_verify(
    key: ec.EllipticCurvePrivateKey, receiver: tuple[str, list[int]]
) -> None:
    url, outcomes = receiver
    accepted = [Accepted("sg-9", n, f"p{n}@example.com", {"o": str(n), "b": "2"}) for n in range(3)]
    assert post_events(url, make_events(accepted, "delivered"), key) == 204
    assert post_events(url, make_events(accepted, "bounce"), generate_webhook_key()) == 403
    stale = int(datetime.now(UTC).timestamp()) - 3600
    assert post_events(url, make_events(accepted, "delivered"), key, timestamp=stale) == 403
    assert outcomes == [204, 403, 403]


# --- Parsing -----------------------------------------------------------------------------------


def test_events_are_parsed() -> None:
    payload = json.dumps(
        [
            event(),
            event(sg_event_id="b1", event="bounce", type="blocked", o=42, b=None),
            event(sg_event_id="d1", event="dropped", sg_message_id=None),
            event(sg_event_id="p1", event="processed"),
            event(sg_event_id="f1", event="deferred", timestamp=1_700_000_000.25),
        ]
    ).encode()
    batch = parse_events(payload)
    assert len(batch) == 5
    first = batch.events[0]
    assert first == WebhookEvent(
        sg_event_id="ZGVsaXZlcmVkLTEtYWJj",
        event="delivered",
        email="lee@example.com",
        timestamp=datetime.fromtimestamp(NOW - 5, UTC),
        sg_message_id="sg-1.fake-0.0",
        outbox_id="41",
        batch_id="7",
    )
    assert first.timestamp.tzinfo is UTC
    assert "lee@example.com" not in repr(first)  # personal data stays out of logs
    bounce = batch.events[1]
    assert (bounce.event, bounce.bounce_type, bounce.outbox_id, bounce.batch_id) == (
        "bounce",
        "blocked",
        "42",
        None,
    )
    assert batch.events[2].sg_message_id is None
    assert [e.event for e in batch] == ["delivered", "bounce", "dropped", "processed", "deferred"]
    assert (batch.ignored, batch.duplicates, batch.malformed) == ({}, (), 0)


def test_events_from_the_fake_are_parsed() -> None:
    accepted = [Accepted("sg-3", 4, "kim@example.com", {"o": "12", "b": "5"})]
    payload, _ = signed_webhook_request(make_events(accepted, "delivered"), generate_webhook_key())
    (parsed,) = parse_events(payload)
    assert (parsed.email, parsed.outbox_id, parsed.batch_id) == ("kim@example.com", "12", "5")
    assert parsed.sg_message_id is not None
    assert parsed.sg_message_id.startswith("sg-3.")


def test_unknown_types_are_ignored_but_counted() -> None:
    payload = json.dumps(
        [
            event(),
            event(sg_event_id="o1", event="open"),
            event(sg_event_id="o2", event="open"),
            event(sg_event_id="c1", event="click"),
            event(sg_event_id="s1", event="spamreport"),
        ]
    ).encode()
    batch = parse_events(payload)
    assert [e.sg_event_id for e in batch] == ["ZGVsaXZlcmVkLTEtYWJj"]
    assert batch.ignored == {"open": 2, "click": 1, "spamreport": 1}


def test_duplicate_event_ids_in_one_payload_are_reported() -> None:
    payload = json.dumps(
        [event(), event(sg_event_id="x"), event(), event(), event(sg_event_id="x")]
    ).encode()
    batch = parse_events(payload)
    assert [e.sg_event_id for e in batch] == ["ZGVsaXZlcmVkLTEtYWJj", "x"]
    assert batch.duplicates == ("ZGVsaXZlcmVkLTEtYWJj", "ZGVsaXZlcmVkLTEtYWJj", "x")


def test_malformed_items_are_counted_not_fatal() -> None:
    payload = json.dumps(
        [
            event(),
            "delivered",
            {"event": "delivered"},
            event(sg_event_id="n1", email=None),
            event(sg_event_id="n2", timestamp="yesterday"),
            event(sg_event_id="n3", timestamp=True),
            event(sg_event_id="n4", timestamp=10**20),
            event(sg_event_id=""),
            event(sg_event_id="n5", event=None),
        ]
    ).encode()
    batch = parse_events(payload)
    assert len(batch) == 1
    assert batch.malformed == 8


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b'{"event": "delivered"}', "must be a JSON array"),
        (b"null", "must be a JSON array"),
        (b"[{", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"", "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_non_list_bodies_are_refused(payload: bytes, says: str) -> None:
    with pytest.raises(WebhookRejected, match=says):
        parse_events(payload)


def test_an_empty_list_is_fine() -> None:
    batch = parse_events(b"[]\r\n")
    assert (len(batch), batch.malformed) == (0, 0)


# --- Hostile values: the item is skipped, never the post -----------------------------------------


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"o": 2**63}, "“o” (our message id) is not a whole number from 1 to 2147483647"),
        ({"o": str(2**63)}, "“o” (our message id)"),
        ({"o": "9" * 5000}, "“o” (our message id)"),
        ({"o": "\u00b2"}, "“o” (our message id)"),  # a digit to str.isdigit, not to int()
        ({"o": -4}, "“o” (our message id)"),
        ({"o": 0}, "“o” (our message id)"),
        ({"o": ["41"]}, "“o” (our message id)"),
        ({"o": 4.5}, "“o” (our message id)"),
        ({"b": 2**31}, "“b” (our batch id)"),
        ({"b": {"id": 7}}, "“b” (our batch id)"),
        ({"timestamp": 10**19}, "“timestamp” is not a time"),
        ({"timestamp": 10**30}, "“timestamp” is not a number"),
        ({"timestamp": "1600112492"}, "“timestamp” is not a number"),
        ({"sg_event_id": 12345}, "no “sg_event_id”"),
        ({"sg_event_id": "x" * 256}, "no “sg_event_id”"),
        ({"email": ["lee@example.com"]}, "no “email”"),
    ],
)
def test_a_bad_value_skips_its_item_and_keeps_the_others(bad: dict[str, Any], says: str) -> None:
    items = [
        event(sg_event_id="good-1"),
        event(**{"sg_event_id": "bad", **bad}),
        event(sg_event_id="good-2", o=42, b=7),
    ]
    batch = parse_events(json.dumps(items).encode())
    assert [e.sg_event_id for e in batch] == ["good-1", "good-2"]
    assert [e.outbox_id for e in batch] == ["41", "42"]
    assert batch.malformed == 1
    (reason,) = batch.skipped
    assert reason.startswith("item 2: ")
    assert says in reason
    assert "lee@example.com" not in reason


def test_numbers_too_long_for_python_skip_their_item_not_the_post() -> None:
    digits = "9" * 5000  # json.loads alone refuses the whole body over one of these
    body = (
        "["
        + json.dumps(event(sg_event_id="good"))
        + f',{{"event": "delivered", "sg_event_id": "bad", "email": "a@b.c", '
        f'"timestamp": {digits}, "o": {digits}}}'
        + f', {{"event": "open", "timestamp": -{digits}}}'
        + "]"
    ).encode()
    batch = parse_events(body)
    assert [e.sg_event_id for e in batch] == ["good"]
    assert batch.malformed == 1
    assert "item 2: its “timestamp” is not a number" in batch.skipped[0]
    assert batch.ignored == {"open": 1}


def test_many_bad_items_are_counted_and_the_first_listed() -> None:
    items = [event(sg_event_id=f"bad-{n}", o="x") for n in range(50)] + [event()]
    batch = parse_events(json.dumps(items).encode())
    assert len(batch) == 1
    assert batch.malformed == 50
    assert len(batch.skipped) == 20
