"""Batches: one cohort's notice to up to 1000 recipients in one SendGrid request, and the
dev outbox's version of it."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import sessionmaker

from composer.delivery.gateways import (
    MAX_BATCH_RECIPIENTS,
    BatchAccepted,
    BatchMessage,
    BatchRecipient,
    CohortContent,
    DevOutboxGateway,
    GatewayAuthError,
    GatewayRateLimited,
    GatewayRecipientInvalid,
    GatewayRejected,
    GatewayTimedOut,
    GatewayTooLarge,
    GatewayUnavailable,
    InvalidBatchRecipient,
    InvalidMessage,
    SendGridGateway,
)
from composer.extensions import db
from composer.models import DevOutboxMessage
from composer.notices.drafting import Draft
from composer.rendering.email import prepare_email
from composer.rendering.merge_fields import MergeTemplate, Recipient
from tests.sending.fake_sendgrid import FakeSendGrid, Fault, Reply, running

KEY = "SG.test-key-not-real"
SENDER = "Example Ltd <security@example.com>"
REPLY_TO = "Help <help@example.com>"
COMPANY = "Example Shop Ltd"

#: Every field, in the subject too, and a literal brace (a ``{{ '{' }}`` in the template).
DRAFT = Draft(
    subject="{{ first_name }}, about your account {{ reference }}",
    body="""Dear {{ full_name }},

We wrote to {{ email }} about your account {curly} & more.

Your reference is {{ reference }}, {{ last_name }} household.
""",
)


@functools.cache
def content(subject: str = DRAFT.subject, body: str = DRAFT.body) -> CohortContent:
    cohort = prepare_email(Draft(subject=subject, body=body), company=COMPANY)
    return CohortContent(cohort.subject.source, cohort.html.source, cohort.text.source)


def person(i: int, **changes: str) -> BatchRecipient:
    fields = {
        "first_name": f"Ann{i}",
        "last_name": "Lee",
        "email": f"person{i}@example.com",
        "reference": f"REF-{i:05}",
    }
    fields.update(changes)
    who = Recipient(
        first_name=fields["first_name"],
        last_name=fields["last_name"],
        email=fields["email"],
        reference=fields["reference"],
    )
    return BatchRecipient(
        outbox_id=1000 + i, email=who.email, name=who.full_name, values=who.merge_values()
    )


def batch(recipients: list[BatchRecipient], **changes: Any) -> BatchMessage:
    fields: dict[str, Any] = {
        "batch_id": 7,
        "content": content(),
        "sender": SENDER,
        "reply_to": REPLY_TO,
        "recipients": recipients,
    }
    fields.update(changes)
    return BatchMessage(**fields)


def people(n: int) -> list[BatchRecipient]:
    return [person(i) for i in range(n)]


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with running() as server:
        yield server


def gateway(fake: FakeSendGrid, **options: Any) -> SendGridGateway:
    return SendGridGateway(KEY, SENDER, fake.url, options.pop("timeout", 5.0), **options)


def substitute(template: str, substitutions: Mapping[str, str], *, reverse: bool = False) -> str:
    """What SendGrid does with a personalization's substitutions (one key after another)."""
    items = list(substitutions.items())
    for key, value in reversed(items) if reverse else items:
        template = template.replace(key, value)
    return template


def received(body: dict[str, Any], index: int, *, reverse: bool = False) -> tuple[str, str, str]:
    """Recipient ``index``'s subject, text and HTML, from the request the fake received."""
    subs = body["personalizations"][index].get("substitutions", {})
    parts = {c["type"]: c["value"] for c in body["content"]}
    return (
        substitute(body["subject"], subs, reverse=reverse),
        substitute(parts["text/plain"], subs, reverse=reverse),
        substitute(parts["text/html"], subs, reverse=reverse),
    )


def expected(cohort: CohortContent, recipient: BatchRecipient) -> tuple[str, str, str]:
    """What the notice renderer makes for ``recipient``."""
    return (
        MergeTemplate(cohort.subject, html=False).render(recipient.values),
        MergeTemplate(cohort.text, html=False).render(recipient.values),
        MergeTemplate(cohort.html, html=True).render(recipient.values),
    )


# --- SendGrid ------------------------------------------------------------------------------------


def test_a_thousand_recipients_in_one_request(fake: FakeSendGrid) -> None:
    recipients = people(MAX_BATCH_RECIPIENTS)
    accepted = gateway(fake).send_batch(batch(recipients))

    assert accepted == BatchAccepted(message_id="sg-1")
    assert len(fake.requests) == 1
    body = fake.requests[0].body
    # Each recipient accepted exactly once, under their own outbox id.
    assert fake.counts == {str(r.outbox_id): 1 for r in recipients}
    # Personalization N is recipient N, alone in its "to".
    personalizations = body["personalizations"]
    assert len(personalizations) == MAX_BATCH_RECIPIENTS
    for recipient, p in zip(recipients, personalizations, strict=True):
        assert p["to"] == [{"email": recipient.email, "name": recipient.name}]
        assert p["custom_args"] == {"o": str(recipient.outbox_id)}
        assert set(p) == {"to", "custom_args", "substitutions"}
    # The content once, for the whole request.
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["custom_args"] == {"b": "7"}
    assert body["from"] == {"email": "security@example.com", "name": "Example Ltd"}
    assert body["reply_to"] == {"email": "help@example.com", "name": "Help"}
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["tracking_settings"]["open_tracking"]["enable"] is False
    # No personal data outside the personalizations: not in the content or subject, and
    # custom_args (which SendGrid keeps) are opaque ids only.
    shared = json.dumps([body["subject"], body["content"], body["custom_args"]])
    assert "@example.com" not in shared.replace("security@example.com", "")
    assert "Ann1" not in shared
    assert "REF-" not in shared
    for a in fake.accepted:
        assert set(a.custom_args) == {"o", "b"}
        assert all(v.isdigit() for v in a.custom_args.values())
    # And every recipient reads exactly what the notice renderer makes for them.
    for i in (0, 1, 999):
        assert received(body, i) == expected(content(), recipients[i])


def test_names_are_escaped_in_the_html_part_only(fake: FakeSendGrid) -> None:
    recipients = [
        person(0, first_name="Zoë <b>&", last_name='O\'Neil "Q"', reference="R&D<1>"),
        person(1, first_name="<script>alert(1)</script>", last_name="{{ 7*7 }}"),
        person(2, first_name="", last_name=""),  # neutral words ("customer")
    ]
    gateway(fake).send_batch(batch(recipients))
    body = fake.requests[0].body

    for i, recipient in enumerate(recipients):
        mine = expected(content(), recipient)
        # Whatever order SendGrid applies the substitutions in.
        assert received(body, i) == mine
        assert received(body, i, reverse=True) == mine
    subject, text, html = received(body, 0)
    assert subject == "Zoë <b>&, about your account R&D<1>"
    assert 'Dear Zoë <b>& O\'Neil "Q",' in text
    assert "Zoë &lt;b&gt;&amp; O&#39;Neil &#34;Q&#34;" in html
    assert "<b>&" not in html
    assert "R&D<1>" not in html
    _, text, html = received(body, 1)
    assert "<script>" in text
    assert "<script>" not in html
    assert "{{ 7*7 }} household" in text
    assert "Dear customer," in received(body, 2)[1]
    assert "{curly}" in text
    assert "{curly}" in html


def test_only_the_fields_the_notice_uses_are_sent(fake: FakeSendGrid) -> None:
    cohort = content("Your account", "Dear {{ first_name }},\n\nWe are sorry.\n")
    gateway(fake).send_batch(batch(people(2), content=cohort))
    subs = fake.requests[0].body["personalizations"][0]["substitutions"]
    # The reference and the last name stay with us when the notice does not show them (the
    # layout's footer shows the address).
    assert sorted(subs) == ["[email.h]", "[email]", "[first_name.h]", "[first_name]"]
    assert sorted(subs.values()) == ["Ann0", "Ann0", "person0@example.com", "person0@example.com"]


def test_tags_never_collide_with_the_text_or_the_values(fake: FakeSendGrid) -> None:
    cohort = content(DRAFT.subject, DRAFT.body + "\nSee note [1] and C:\\\\temp.\n")
    recipients = [
        person(0, first_name="[email]", last_name="^last_name]"),
        person(1, reference="[first_name.h]<i>"),
    ]
    gateway(fake).send_batch(batch(recipients, content=cohort))
    body = fake.requests[0].body
    tags = list(body["personalizations"][0]["substitutions"])
    # "[", "\" and "^" occur in the batch, so tags start with the next free mark.
    assert all(tag.startswith("~") for tag in tags), tags
    for i, recipient in enumerate(recipients):
        assert received(body, i) == expected(cohort, recipient)
        assert received(body, i, reverse=True) == expected(cohort, recipient)
    assert "[email] ^last_name]" in received(body, 0)[1]


def test_a_batch_whose_text_holds_every_tag_mark_is_refused(fake: FakeSendGrid) -> None:
    cohort = content(DRAFT.subject, DRAFT.body + "\nMarks: [ \\\\ ^ ~ | `\n")
    with pytest.raises(InvalidMessage, match="substitution tag"):
        gateway(fake).send_batch(batch(people(2), content=cohort))
    assert fake.requests == []


def test_names_lose_the_separators_sendgrid_refuses(fake: FakeSendGrid) -> None:
    recipient = BatchRecipient(1, "kim@example.com", "Lee, Kim; Jr", person(0).values)
    gateway(fake).send_batch(batch([recipient]))
    assert fake.requests[0].body["personalizations"][0]["to"] == [
        {"email": "kim@example.com", "name": "Lee Kim Jr"}
    ]
    assert fake.counts == {"1": 1}


@pytest.mark.parametrize("count", [0, MAX_BATCH_RECIPIENTS + 1])
def test_batch_size_is_limited(count: int) -> None:
    with pytest.raises(ValueError, match=f"1 to {MAX_BATCH_RECIPIENTS} recipients"):
        batch(people(count))


def test_a_repeated_address_is_refused(fake: FakeSendGrid) -> None:
    recipients = [person(0), person(1, email="PERSON0@example.com"), person(2)]
    with pytest.raises(ValueError, match="recipient 0's too") as caught:
        gateway(fake).send_batch(batch(recipients))
    assert isinstance(caught.value, InvalidBatchRecipient)
    assert (caught.value.index, caught.value.outbox_id) == (1, 1001)
    assert "person0" not in str(caught.value).lower()
    assert fake.requests == []


BAD_RECIPIENTS: list[tuple[BatchRecipient, str]] = [
    (BatchRecipient(1, "not-an-address", "A", person(0).values), "not a single plain email"),
    (BatchRecipient(1, "a@example.com\r\nBcc: b@example.net", "A", person(0).values), "line"),
    (BatchRecipient(1, "a@example.com", "A\r\nBcc: b@example.net", person(0).values), "name"),
    (BatchRecipient(1, "a@example.com", "A", {"first_name": "A"}), "no value for"),
    (
        BatchRecipient(1, "a@example.com", "A", {**person(0).values, "first_name": "A\nB"}),
        r"\{\{ first_name \}\} contains a line break",
    ),
]


@pytest.mark.parametrize(("recipient", "says"), BAD_RECIPIENTS)
def test_bad_recipients_are_refused_before_sending(recipient: BatchRecipient, says: str) -> None:
    with pytest.raises(InvalidBatchRecipient, match=says) as caught:
        batch([person(5), recipient])
    assert (caught.value.index, caught.value.outbox_id) == (1, 1)


def test_recipient_details_stay_out_of_reprs() -> None:
    assert "person3" not in repr(person(3))
    assert "Ann3" not in repr(person(3))
    assert "person3" not in repr(batch([person(3)]))


def test_values_too_big_for_sendgrid_are_refused(fake: FakeSendGrid) -> None:
    big = person(1, reference="&" * 150)
    values = {**big.values, "reference": "&" * 2000}
    recipient = BatchRecipient(big.outbox_id, big.email, big.name, values)
    with pytest.raises(InvalidBatchRecipient, match="less than 10000") as caught:
        gateway(fake).send_batch(batch([person(0), recipient]))
    assert caught.value.index == 1
    assert fake.requests == []


@pytest.mark.parametrize(
    "cohort",
    [
        CohortContent("{{ first_name|upper }}", "<p>x</p>", "x"),
        CohortContent("Hi", "{% if 1 %}x{% endif %}", "x"),
        CohortContent("Hi", "<p>x</p>", "{{ surname }}"),
        CohortContent("Hi\r\nBcc: a@example.net", "<p>x</p>", "x"),
        CohortContent("Hi", "<p>x</p>", "   "),
    ],
)
def test_content_that_is_not_a_merge_template_is_refused(cohort: CohortContent) -> None:
    with pytest.raises(InvalidMessage):
        batch(people(1), content=cohort)


def test_too_large_is_its_own_error(fake: FakeSendGrid) -> None:
    fake.reply(413, message="The JSON payload you have included in your request is too large.")
    with pytest.raises(GatewayTooLarge, match="too large") as caught:
        gateway(fake).send_batch(batch(people(3)))
    assert caught.value.status == 413
    assert isinstance(caught.value, GatewayRejected)


def test_a_400_naming_a_personalization_names_the_recipient(fake: FakeSendGrid) -> None:
    recipients = people(10)
    # Passes our check, but SendGrid (and the fake) want a dotted domain.
    recipients[7] = BatchRecipient(4242, "someone@localhost", "S", person(7).values)
    with pytest.raises(GatewayRecipientInvalid) as caught:
        gateway(fake).send_batch(batch(recipients))
    error = caught.value
    assert (error.index, error.outbox_id, error.status) == (7, 4242, 400)
    assert error.invalid == ((7, 4242),)
    assert "does not contain a valid address" in error.message.lower()
    assert "personalizations.7.to.0.email" in str(error)
    assert "someone@localhost" not in str(error)
    assert fake.accepted == []  # the whole request was refused


def test_a_400_naming_several_personalizations(fake: FakeSendGrid) -> None:
    errors = [
        {"message": "x@example.com is invalid", "field": "personalizations.3.to.0.email"},
        {"message": "bad name", "field": "personalizations.1.to.0.name"},
        {"message": "again", "field": "personalizations.3.to.0.email"},
        {"message": "out of range", "field": "personalizations.99.to.0.email"},
    ]
    fake.replies.append(Reply(400, {}, json.dumps({"errors": errors}).encode()))
    with pytest.raises(GatewayRecipientInvalid) as caught:
        gateway(fake).send_batch(batch(people(5)))
    assert (caught.value.index, caught.value.outbox_id) == (3, 1003)
    assert caught.value.invalid == ((3, 1003), (1, 1001))
    assert "x@example.com" not in str(caught.value)
    assert "[address] is invalid" in str(caught.value)


def test_a_400_about_the_whole_request_is_rejected(fake: FakeSendGrid) -> None:
    fake.reply(400, message="The content value must be a string.", field="content.0.value")
    with pytest.raises(GatewayRejected) as caught:
        gateway(fake).send_batch(batch(people(3)))
    assert not isinstance(caught.value, GatewayRecipientInvalid)
    assert caught.value.status == 400


def test_rate_limited_says_when_to_retry(fake: FakeSendGrid) -> None:
    fake.reply(429, {"X-RateLimit-Reset": "1000030"}, message="too many requests")
    with pytest.raises(GatewayRateLimited) as caught:
        gateway(fake, clock=lambda: 1_000_000.0).send_batch(batch(people(3)))
    assert caught.value.retry_after == 30.0
    assert fake.accepted == []


def test_rate_limited_by_the_fake_server(fake: FakeSendGrid) -> None:
    fake.fault(Fault.RATE_LIMITED)
    with pytest.raises(GatewayRateLimited) as caught:
        gateway(fake).send_batch(batch(people(3)))
    assert caught.value.retry_after is not None
    assert 0 <= caught.value.retry_after <= 2


def test_refused_key(fake: FakeSendGrid) -> None:
    fake.reply(401, message="The provided authorization grant is invalid, expired, or revoked")
    with pytest.raises(GatewayAuthError):
        gateway(fake).send_batch(batch(people(3)))


def test_a_timeout_may_have_sent_the_batch(fake: FakeSendGrid) -> None:
    fake.fault(Fault.TIMEOUT)
    with pytest.raises(GatewayTimedOut) as caught:
        gateway(fake, timeout=0.5).send_batch(batch(people(20)))
    assert caught.value.maybe_sent
    assert "batch may have been accepted" in str(caught.value)
    assert len(fake.counts) == 20  # it was: only the webhook events can tell


@pytest.mark.parametrize("fault", [Fault.RESET_BEFORE, Fault.RESET_AFTER])
def test_a_reset_connection_is_unavailable(fake: FakeSendGrid, fault: Fault) -> None:
    fake.fault(fault)
    with pytest.raises(GatewayUnavailable) as caught:
        gateway(fake).send_batch(batch(people(20)))
    assert not isinstance(caught.value, GatewayTimedOut)
    # The request went out whole, so from our side either fault may have sent it.
    assert caught.value.maybe_sent


def test_a_server_error_is_unavailable(fake: FakeSendGrid) -> None:
    fake.fault(Fault.SERVER_ERROR)
    with pytest.raises(GatewayUnavailable, match="HTTP 50"):
        gateway(fake).send_batch(batch(people(3)))


def test_no_addresses_are_logged(fake: FakeSendGrid, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway(fake).send_batch(batch(people(3)))
    recipients = people(3)
    recipients[1] = BatchRecipient(9, "someone@localhost", "S", person(1).values)
    with pytest.raises(GatewayRecipientInvalid):
        gateway(fake).send_batch(batch(recipients))
    assert KEY not in caplog.text
    assert "@" not in caplog.text


# --- Dev outbox ----------------------------------------------------------------------------------


def test_dev_outbox_stores_each_recipients_message(app: Flask) -> None:
    recipients = [person(0), person(1, first_name="Zoë <b>&"), person(2)]
    with app.app_context():
        accepted = DevOutboxGateway(sessionmaker(db.engine)).send_batch(batch(recipients))
        rows = db.session.scalars(sa.select(DevOutboxMessage).order_by(DevOutboxMessage.id)).all()
        assert accepted.message_id.startswith("dev-")
        assert [r.gateway_message_id for r in rows] == [
            f"{accepted.message_id}-{i}" for i in range(3)
        ]
        for row, recipient in zip(rows, recipients, strict=True):
            assert (row.to_email, row.to_name) == (recipient.email, recipient.name)
            assert (row.subject, row.text, row.html) == expected(content(), recipient)
            assert "{{" not in row.text
            assert "{{" not in (row.html or "")
        assert rows[1].subject == "Zoë <b>&, about your account REF-00001"
        assert "Dear Zoë &lt;b&gt;&amp; Lee," in (rows[1].html or "")
        assert "Dear Zoë <b>& Lee," in rows[1].text
