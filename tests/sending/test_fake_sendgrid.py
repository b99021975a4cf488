"""The local SendGrid stand-in: limits, fault injection, the acceptance log, the webhook side."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import (
    Content,
    CustomArg,
    From,
    Mail,
    Personalization,
    Substitution,
    To,
)

from composer.delivery.webhook import verify_signature
from tests.sending.fake_sendgrid import (
    MAX_MESSAGE_BYTES,
    SIGNATURE_HEADER,
    STATS_PATH,
    TIMESTAMP_HEADER,
    Accepted,
    FakeSendGrid,
    Fault,
    Faults,
    acceptance_counts,
    generate_webhook_key,
    load_webhook_key,
    make_events,
    public_key_b64,
    read_log,
    running,
    signed_webhook_request,
    start_process,
    validate,
)

KEY = "SG.test-key-not-real"


def body(count: int = 1, /, **changes: Any) -> dict[str, Any]:
    """A valid Mail Send body with ``count`` one-recipient personalizations."""
    fields: dict[str, Any] = {
        "personalizations": [
            {
                "to": [{"email": f"person{n}@example.com"}],
                "substitutions": {"-name-": f"Person {n}"},
                "custom_args": {"o": str(n), "b": "7"},
            }
            for n in range(count)
        ],
        "from": {"email": "security@example.com", "name": "Example Ltd"},
        "subject": "About your account",
        "content": [{"type": "text/plain", "value": "Dear -name-, ..."}],
    }
    fields.update(changes)
    return fields


def post(
    url: str,
    payload: object,
    *,
    key: str | None = KEY,
    path: str = "/v3/mail/send",
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        connection.request("POST", path, body=raw, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return (
            response.status,
            dict(response.headers.items()),
            json.loads(data) if data else None,
        )
    finally:
        connection.close()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "accepted.jsonl"


@pytest.fixture
def fake(log_path: Path) -> Iterator[FakeSendGrid]:
    with running(log_path=log_path) as server:
        yield server


# --- Limits ------------------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    (
        "1001 personalizations",
        body(1001),
        "personalizations",
    ),
    (
        "no personalization",
        body(0),
        "personalizations",
    ),
    (
        "1001 recipients in 501 personalizations",
        body(
            personalizations=[
                {"to": [{"email": f"a{n}@example.com"}], "cc": [{"email": f"c{n}@example.com"}]}
                for n in range(500)
            ]
            + [{"to": [{"email": "last@example.com"}]}]
        ),
        "personalizations",
    ),
    (
        "the same address in two personalizations, differently cased",
        body(
            personalizations=[
                {"to": [{"email": "lee@example.com"}]},
                {"to": [{"email": "kim@example.com"}]},
                {"to": [{"email": "sam@example.com"}]},
                {"to": [{"email": "Lee@Example.com"}]},
            ]
        ),
        "personalizations.3.to.0.email",
    ),
    (
        "the same address in to and bcc",
        body(
            personalizations=[
                {"to": [{"email": "lee@example.com"}], "bcc": [{"email": "lee@example.com"}]}
            ]
        ),
        "personalizations.0.bcc.0.email",
    ),
    (
        "not an address",
        body(personalizations=[{"to": [{"email": "lee at example.com"}]}]),
        "personalizations.0.to.0.email",
    ),
    (
        "a personalization without to",
        body(personalizations=[{"cc": [{"email": "lee@example.com"}]}]),
        "personalizations.0.to",
    ),
    (
        "a comma in a name",
        body(personalizations=[{"to": [{"email": "lee@example.com", "name": "Lee, Kim"}]}]),
        "personalizations.0.to.0.name",
    ),
    (
        "substitutions of 10,000 bytes",
        body(
            personalizations=[
                {"to": [{"email": "lee@example.com"}], "substitutions": {"-x-": "é" * 4999}}
            ]
        ),
        "personalizations.0.substitutions",
    ),
    (
        "a number in substitutions",
        body(
            personalizations=[{"to": [{"email": "lee@example.com"}], "substitutions": {"-x-": 3}}]
        ),
        "personalizations.0.substitutions.-x-",
    ),
    (
        "custom_args of 10,000 bytes with the request's",
        body(
            personalizations=[
                {"to": [{"email": "lee@example.com"}], "custom_args": {"o": "1" * 5000}}
            ],
            custom_args={"b": "2" * 4998},
        ),
        "personalizations.0.custom_args",
    ),
    (
        "a number in custom_args",
        body(custom_args={"b": 7}),
        "custom_args.b",
    ),
    ("no from", body(**{"from": None}), "from.email"),
    ("no subject", body(subject=""), "subject"),
    ("no content", body(content=[]), "content"),
    ("empty content", body(content=[{"type": "text/plain", "value": ""}]), "content.0.value"),
]


@pytest.mark.parametrize(("case", "payload", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_limits_are_enforced(
    fake: FakeSendGrid, log_path: Path, case: str, payload: dict[str, Any], field: str
) -> None:
    status, headers, answer = post(fake.url, payload)
    assert status == 400, case
    assert "X-Message-Id" not in headers
    fields = [e["field"] for e in answer["errors"]]
    assert field in fields
    assert all(set(e) == {"message", "field", "help"} for e in answer["errors"])
    assert fake.accepted == []
    assert log_path.read_text() == ""


GOOD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("1000 personalizations", body(1000)),
    (
        "1000 recipients across to, cc and bcc",
        body(
            personalizations=[
                {
                    "to": [{"email": f"a{n}@example.com"}],
                    "cc": [{"email": f"c{n}@example.com"}],
                    "bcc": [{"email": f"b{n}@example.com"}, {"email": f"d{n}@example.com"}],
                }
                for n in range(250)
            ]
        ),
    ),
    (
        "substitutions just under 10,000 bytes",
        body(
            personalizations=[
                {"to": [{"email": "lee@example.com"}], "substitutions": {"-x-": "y" * 9996}}
            ]
        ),
    ),
    (
        "a subject in every personalization instead",
        body(
            subject=None, personalizations=[{"to": [{"email": "lee@example.com"}], "subject": "Hi"}]
        ),
    ),
    ("a template instead of content", body(content=None, template_id="d-123")),
]


@pytest.mark.parametrize(("case", "payload"), GOOD_BODIES, ids=[c[0] for c in GOOD_BODIES])
def test_within_the_limits_is_accepted(case: str, payload: dict[str, Any]) -> None:
    assert validate(payload) == [], case


def test_accepted_with_a_message_id_and_logged(fake: FakeSendGrid, log_path: Path) -> None:
    status, headers, answer = post(fake.url, body(3, custom_args={"b": "9"}))
    assert (status, answer) == (202, None)
    assert headers["X-Message-Id"] == "sg-1"
    assert post(fake.url, body(1))[1]["X-Message-Id"] == "sg-2"

    logged = read_log(log_path)
    assert logged == fake.accepted
    assert logged[:3] == [
        Accepted("sg-1", n, f"person{n}@example.com", {"b": "7", "o": str(n)}) for n in range(3)
    ]
    assert logged[3] == Accepted("sg-2", 0, "person0@example.com", {"o": "0", "b": "7"})
    # The personalization's custom_args win over the request's.
    assert fake.counts == {"0": 2, "1": 1, "2": 1}
    assert acceptance_counts(log_path) == fake.counts
    lines = log_path.read_text().splitlines()
    assert json.loads(lines[0]) == {
        "message_id": "sg-1",
        "index": 0,
        "email": "person0@example.com",
        "custom_args": {"o": "0", "b": "7"},
    }


def test_every_recipient_of_a_big_request_is_logged_once(
    fake: FakeSendGrid, log_path: Path
) -> None:
    for start in range(0, 3000, 1000):
        payload = body(1000)
        for n, personalization in enumerate(payload["personalizations"]):
            personalization["to"][0]["email"] = f"p{start + n}@example.com"
            personalization["custom_args"]["o"] = str(start + n)
        assert post(fake.url, payload)[0] == 202
    counts = acceptance_counts(log_path)
    assert counts == {str(n): 1 for n in range(3000)}


def test_too_large_is_413(fake: FakeSendGrid) -> None:
    payload = body(1)
    payload["content"][0]["value"] = "x" * (MAX_MESSAGE_BYTES + 1)
    status, _, answer = post(fake.url, payload, timeout=30)
    assert status == 413
    assert "too large" in answer["errors"][0]["message"]
    assert fake.accepted == []


def test_key_and_path(log_path: Path) -> None:
    with running(log_path=log_path, api_key=KEY) as fake:
        assert post(fake.url, body(), key=None)[0] == 401
        assert post(fake.url, body(), key="SG.other")[0] == 401
        assert post(fake.url, body(), path="/v3/mail/batch")[0] == 404
        assert post(fake.url, b"{not json")[0] == 400
        assert post(fake.url, body())[0] == 202
        assert len(fake.accepted) == 1


# --- The real client against it ----------------------------------------------------------------


def sendgrid_mail(emails: list[str]) -> Mail:
    mail = Mail()
    mail.from_email = From("security@example.com", "Example Ltd")
    mail.subject = "About your account"
    mail.add_content(Content("text/plain", "Dear -name-, ..."))
    for n, email in enumerate(emails):
        personalization = Personalization()
        personalization.add_to(To(email))
        personalization.add_substitution(Substitution("-name-", f"Person {n}"))
        personalization.add_custom_arg(CustomArg("o", str(100 + n)))
        personalization.add_custom_arg(CustomArg("b", "3"))
        # The helper inserts at index 0 unless told where: keep the order we built.
        mail.add_personalization(personalization, index=n)
    return mail


def test_the_official_client_is_accepted(fake: FakeSendGrid, log_path: Path) -> None:
    client = SendGridAPIClient(api_key=KEY, host=fake.url)
    response = client.send(sendgrid_mail(["lee@example.com", "kim@example.com"]))
    assert response.status_code == 202
    assert response.headers["X-Message-Id"] == "sg-1"
    assert [(a.email, a.custom_args) for a in read_log(log_path)] == [
        ("lee@example.com", {"o": "100", "b": "3"}),
        ("kim@example.com", {"o": "101", "b": "3"}),
    ]
    assert fake.requests[0].body["personalizations"][1]["substitutions"] == {"-name-": "Person 1"}


def test_the_official_client_reads_our_errors(fake: FakeSendGrid) -> None:
    client = SendGridAPIClient(api_key=KEY, host=fake.url)
    with pytest.raises(BadRequestsError) as caught:
        client.send(sendgrid_mail(["lee@example.com", "kim@example.com", "lee@example.com"]))
    errors = json.loads(caught.value.body)["errors"]
    assert [e["field"] for e in errors] == ["personalizations.2.to.0.email"]
    fake.reply(401, message="The provided authorization grant is invalid, expired, or revoked")
    with pytest.raises(UnauthorizedError):
        client.send(sendgrid_mail(["lee@example.com"]))
    assert fake.accepted == []


# --- Fault injection ---------------------------------------------------------------------------


def test_scripted_rate_limit_says_when(fake: FakeSendGrid) -> None:
    fake.fault(Fault.RATE_LIMITED)
    before = int(time.time())
    status, headers, answer = post(fake.url, body())
    assert status == 429
    assert before + 1 <= int(headers["X-RateLimit-Reset"]) <= int(time.time()) + 1
    assert headers["X-RateLimit-Remaining"] == "0"
    assert answer["errors"][0]["message"] == "too many requests"
    assert fake.accepted == []
    assert post(fake.url, body())[0] == 202  # the script is used up


def test_scripted_server_error_accepts_nothing(fake: FakeSendGrid) -> None:
    fake.fault(Fault.SERVER_ERROR)
    assert post(fake.url, body())[0] in (500, 503)
    assert fake.accepted == []


def test_slow_answers_late_but_answers(log_path: Path) -> None:
    with running(log_path=log_path, faults=Faults(slow_seconds=0.3)) as fake:
        fake.fault(Fault.SLOW)
        started = time.monotonic()
        assert post(fake.url, body())[0] == 202
        assert time.monotonic() - started >= 0.3


def test_a_timeout_is_accepted_but_never_answered(fake: FakeSendGrid, log_path: Path) -> None:
    fake.fault(Fault.TIMEOUT)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        post(fake.url, body(2), timeout=0.5)
    assert time.monotonic() - started < 3
    # Maybe sent: SendGrid has it, the client does not know.
    assert [a.email for a in read_log(log_path)] == ["person0@example.com", "person1@example.com"]
    assert fake.events("delivered")[0]["sg_message_id"].startswith("sg-1.")


@pytest.mark.parametrize(("fault", "accepted"), [(Fault.RESET_BEFORE, 0), (Fault.RESET_AFTER, 1)])
def test_a_reset_gives_no_answer(fake: FakeSendGrid, fault: Fault, accepted: int) -> None:
    fake.fault(fault)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        post(fake.url, body())
    assert len(fake.accepted) == accepted
    assert post(fake.url, body())[0] == 202  # the server carries on


def test_a_canned_reply(fake: FakeSendGrid) -> None:
    fake.reply(400, message="lee@example.com is not valid", field="personalizations.0.to.0.email")
    status, _, answer = post(fake.url, body())
    assert status == 400
    assert answer == {
        "errors": [
            {"message": "lee@example.com is not valid", "field": "personalizations.0.to.0.email"}
        ]
    }


def test_probabilistic_faults_are_seeded(log_path: Path) -> None:
    faults = Faults(p429=0.2, p5xx=0.2, p_reset=0.2, seed=42, rate_limit_reset_seconds=0)

    def run() -> list[str]:
        outcomes = []
        with running(faults=faults) as fake:
            for _ in range(60):
                try:
                    outcomes.append(str(post(fake.url, body())[0]))
                except (ConnectionResetError, http.client.RemoteDisconnected):
                    outcomes.append("reset")
            assert len(fake.accepted) == fake.stats["accepted_recipients"]
        return outcomes

    first = run()
    assert first == run()
    assert {"202", "429", "reset"} <= set(first)
    assert {"500", "503"} & set(first)
    assert 15 <= first.count("202") <= 35


def test_fault_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        Faults(p429=0.6, p5xx=0.6)


def test_rate_limit_per_second(log_path: Path) -> None:
    with running(log_path=log_path, rate_limit_per_second=3) as fake:
        statuses = [post(fake.url, body())[0] for _ in range(10)]
    # Ten quick requests fall in one second, or two: at most 3 allowed in each.
    assert statuses.count(202) <= 6
    assert statuses.count(429) == 10 - statuses.count(202)


# --- The webhook side --------------------------------------------------------------------------


def test_events_carry_ids_and_custom_args(fake: FakeSendGrid) -> None:
    post(fake.url, body(3))
    delivered = fake.events("delivered", timestamp=1_700_000_000)
    bounced = fake.events("bounce", emails=["PERSON1@example.com"])
    assert [e["email"] for e in delivered] == [f"person{n}@example.com" for n in range(3)]
    assert delivered[1]["o"] == "1"
    assert delivered[1]["b"] == "7"
    assert delivered[1]["timestamp"] == 1_700_000_000
    assert delivered[1]["sg_message_id"].startswith("sg-1.")
    ids = [e["sg_event_id"] for e in delivered + bounced + fake.events("delivered")]
    assert len(set(ids)) == len(ids)
    assert [(e["email"], e["event"], e["type"]) for e in bounced] == [
        ("person1@example.com", "bounce", "bounce")
    ]
    for kind in ("processed", "dropped", "deferred"):
        assert make_events(fake.accepted[:1], kind)[0]["event"] == kind


def test_signed_like_sendgrid_so_its_own_helper_verifies() -> None:
    key = generate_webhook_key()
    events = make_events([Accepted("sg-1", 0, "lee@example.com", {"o": "5"})], "delivered")
    payload, headers = signed_webhook_request(events, key, timestamp=1_700_000_000)
    assert payload.endswith(b"\r\n")
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    helper = EventWebhook(public_key_b64(key))
    assert helper.verify_signature(payload.decode(), headers[SIGNATURE_HEADER], "1700000000")
    assert not helper.verify_signature(payload.decode(), headers[SIGNATURE_HEADER], "1700000001")


def test_post_events_reaches_a_receiver(fake: FakeSendGrid) -> None:
    post(fake.url, body(2))
    # A second fake records what it is sent (and answers 404: not its mail-send path).
    with running() as receiver:
        status = fake.post_events(receiver.url + "/webhooks/sendgrid", fake.events("delivered"))
    assert status == 404
    recorded = receiver.requests[0]
    assert recorded.path == "/webhooks/sendgrid"
    assert [(e["o"], e["event"]) for e in recorded.body] == [("0", "delivered"), ("1", "delivered")]
    assert recorded.headers[TIMESTAMP_HEADER].isdigit()
    assert recorded.headers[SIGNATURE_HEADER]


# --- As a separate process ---------------------------------------------------------------------


def test_runs_as_a_process(log_path: Path) -> None:
    with start_process(log_path, seed=3, p_slow=0.5, slow_seconds=0.05) as server:
        assert post(server.url, body(2))[0] == 202
        status, headers, _ = post(server.url, body(1))
        assert status == 202
        assert headers["X-Message-Id"] == "sg-2"
        stats = server.stats()
        assert stats["accepted_recipients"] == 3
        assert stats["requests"] == 2
        process = server.process
    assert process.returncode == 0
    assert acceptance_counts(log_path) == {"0": 2, "1": 1}
    # Gone: the port is free again.
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))


def test_stats_over_http(fake: FakeSendGrid) -> None:
    post(fake.url, body(2))
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(f"GET {STATS_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    stats = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert stats["accepted_recipients"] == 2


class _WebhookReceiver(BaseHTTPRequestHandler):
    """Stands in for the app's webhook: keeps each post's raw body and headers, answers 204."""

    posts: ClassVar[list[tuple[bytes, dict[str, str]]]]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((raw, dict(self.headers.items())))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_reports_accepted_recipients_to_the_webhook_signed_with_a_kept_key(
    log_path: Path, tmp_path: Path
) -> None:
    """README "Trying sending on one machine": the stand-in, run as documented, tells the
    app's webhook about each accepted recipient, signed so the app's own check accepts it."""
    _WebhookReceiver.posts = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/sendgrid"
    key_file = tmp_path / "instance" / "fake-sendgrid.pem"
    payload = body(2)
    payload["personalizations"][1]["to"] = [{"email": "bounce.me@example.com"}]
    try:
        with start_process(log_path, webhook=hook, webhook_key=key_file) as server:
            assert post(server.url, payload)[0] == 202
            deadline = time.monotonic() + 20
            while not _WebhookReceiver.posts and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.process.stdout is not None
            printed = server.process.stdout.readline() + server.process.stdout.readline()
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert key_file.stat().st_mode & 0o077 == 0, "the signing key is readable by others"
    public = public_key_b64(load_webhook_key(key_file))
    assert f"webhook public key: {public}" in printed
    raw, headers = _WebhookReceiver.posts[0]
    verify_signature(
        public,
        raw,
        headers[SIGNATURE_HEADER],
        headers[TIMESTAMP_HEADER],
        now=time.time(),
    )
    events = sorted((e["o"], e["event"]) for e in json.loads(raw))
    assert events == [("0", "delivered"), ("0", "processed"), ("1", "bounce"), ("1", "processed")]
    # The same key on the next start, so the app's setting stays right.
    assert public_key_b64(load_webhook_key(key_file)) == public
