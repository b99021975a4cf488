"""The notice email: multipart text + HTML, CSS inlined, escaped values, a readable text part."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from composer.notices.drafting import HEADINGS, Draft
from composer.rendering.email import email_to_eml, prepare_email, render_email
from composer.rendering.errors import MergeFieldError, RecipientError, RenderError, SubjectError
from composer.rendering.merge_fields import Recipient
from composer.support.resources import STATIC_DIR
from tests.rendering.notice_samples import (
    COMPANY,
    HANDWRITTEN,
    HOSTILE,
    PERSON,
    generated_draft,
)

SENDER = "Example Shop Ltd <security@example.com>"


def parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert isinstance(html, EmailMessage)
    assert isinstance(text, EmailMessage)
    return text.get_content(), html.get_content()


def test_multipart_alternative_with_headers_for_a_transactional_message() -> None:
    message = render_email(HANDWRITTEN, PERSON, sender=SENDER, company=COMPANY)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "Your email address was copied"
    assert message["From"] == SENDER
    assert message["To"] == "Dana Whitfield <dana.whitfield@example.org>"
    assert message["Content-Language"] == "en"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert "List-Unsubscribe" not in message
    assert "MIME-Version" not in message.get_payload(0)  # type: ignore[operator]


def test_html_part_is_accessible_and_its_css_inlined() -> None:
    _, html = parts(render_email(generated_draft(), PERSON, sender=SENDER, company=COMPANY))
    assert '<html lang="en">' in html
    assert "<title>Dana, " in html
    assert re.search(r"<h1 style=\"[^\"]*\">Dana, We lost control", html)
    for heading in HEADINGS:
        assert re.search(rf"<h2 style=\"[^\"]*font-size: 20px;?\">{heading}</h2>", html), heading
    assert "<style" not in html
    assert "<link" not in html
    assert 'style="color: #1a1a1a;' in html  # the notice's text colour, inlined
    assert "src=" not in html  # no images, so nothing remote to load or track
    assert "{{" not in html
    assert "Dana Whitfield (dana.whitfield@example.org)" in html
    assert "Your customer number is CUST-42817, Whitfield household." in html


def test_text_part_reads_well() -> None:
    text, _ = parts(render_email(HANDWRITTEN, PERSON, sender=SENDER, company=COMPANY))
    assert text.startswith("Example Shop Ltd\n\nYour email address was copied\n\nDear Dana,\n")
    assert "What happened\n-------------\n\n- They used a stolen password.\n" in text
    assert "1. Watch for fake emails.\n2. Call us on 0800 123 456 (0800123456).\n" in text
    assert "Your reference is CUST-42817." in text
    assert "Jane Smith\nHead of Security\n" in text
    assert "lint-ignore" not in text
    assert "system.\n" in text  # the ignore marker went, with the space before it
    assert "<" not in text


def test_recipient_values_are_escaped_in_html_and_literal_in_text() -> None:
    draft = Draft(
        subject="{{ first_name }}, about your data",
        body="Dear {{ full_name }},\n\nRef: {{ reference }}\n",
    )
    message = render_email(draft, HOSTILE, sender=SENDER, company="A & B <Ltd>")
    text, html = parts(message)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in html
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in html
    assert "A &amp; B &lt;Ltd&gt;" in html
    assert "49" not in html
    assert "Dear <script>alert(1)</script> {{ 7*7 }}," in text
    assert message["Subject"] == "<script>alert(1)</script>, about your data"


def test_one_cohort_many_recipients() -> None:
    cohort = prepare_email(HANDWRITTEN, company=COMPANY)
    people = [
        Recipient(first_name=f"Person{i}", email=f"p{i}@example.com", reference=f"R{i}")
        for i in range(5)
    ]
    messages = [cohort.message_for(p, sender=SENDER) for p in people]
    for i, message in enumerate(messages):
        text, html = parts(message)
        assert f"Dear Person{i}," in text
        assert f"Dear Person{i}," in html
        assert f"R{i}" in html
        others = {f"Person{j}," for j in range(5)} - {f"Person{i},"}
        assert not any(o in html for o in others)
        assert message["To"] == f"Person{i} <p{i}@example.com>"


def test_eml_round_trips_with_both_parts() -> None:
    message = render_email(HANDWRITTEN, PERSON, sender=SENDER, company=COMPANY)
    data = email_to_eml(message)
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Your email address was copied"
    text, html = parts(parsed)
    assert "Dear Dana," in text
    assert "Dear Dana," in html


def test_refusals() -> None:
    with pytest.raises(SubjectError):
        render_email(
            Draft(subject="Hi%0aBcc: x@example.com", body="B"), PERSON, sender=SENDER, company="C"
        )
    with pytest.raises(MergeFieldError, match="nickname"):
        render_email(Draft(subject="Hi", body="{{ nickname }}"), PERSON, sender=SENDER, company="C")
    with pytest.raises(RecipientError, match="no email address"):
        render_email(HANDWRITTEN, Recipient(first_name="A"), sender=SENDER, company="C")
    with pytest.raises(RenderError, match="not an email address"):
        render_email(HANDWRITTEN, PERSON, sender="Security team", company="C")
    with pytest.raises(RenderError, match="line break"):
        render_email(HANDWRITTEN, PERSON, sender="a@example.com\r\nBcc: x@y.z", company="C")


def test_a_long_name_does_not_stop_a_recipients_email() -> None:
    cohort = prepare_email(Draft(subject="{{ full_name }}: " + "x" * 120, body="B"), company="C")
    message = cohort.message_for(
        Recipient(first_name="A" * 60, last_name="B" * 60, email="a@example.com"), sender=SENDER
    )
    assert message["Subject"].startswith("A" * 60 + " " + "B" * 60 + ": x")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(
    ("foreground", "background", "where"),
    [
        ("#1a1a1a", "#ffffff", "body text"),
        ("#0b2545", "#ffffff", "headings"),
        ("#0b4fa3", "#ffffff", "links"),
        ("#3d4550", "#ffffff", "footer text"),
        ("#ffffff", "#0b2545", "company band"),
    ],
)
def test_colours_have_good_contrast(foreground: str, background: str, where: str) -> None:
    css = " ".join(
        (STATIC_DIR / "notices" / name).read_text() for name in ("notice.css", "email.css")
    )
    assert foreground in css, where
    assert background in css, where
    assert contrast(foreground, background) >= 7.0, where  # WCAG AAA for normal text
