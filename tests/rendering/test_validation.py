"""A subject is one safe header line; a draft's fields are checked with the part named."""

from __future__ import annotations

import pytest

from composer.notices.drafting import Draft
from composer.rendering.errors import MergeFieldError, SubjectError
from composer.rendering.validation import MAX_SUBJECT_CHARS, validate_draft, validate_subject


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("Your data\r\nBcc: everyone@example.com", "carriage return (CR)"),
        ("Your data\nBcc: everyone@example.com", "line feed (LF)"),
        ("Your data\rX", "carriage return (CR)"),
        ("Your\tdata", "a tab"),
        ("Your data\x00", "U+0000"),
        ("Your data\x85next", "U+0085"),
        ("Your data\u2028next", "U+2028"),
        ("Your data%0aBcc: x@example.com", "'%0a'"),
        ("Your data%0D%0ABcc: x@example.com", "'%0D%0A'"),
        ("Your data=0ABcc: x@example.com", "'=0A'"),
        ("Your data=0d", "'=0d'"),
        ("Your data\\r\\nBcc: x@example.com", "'\\r'"),
        ("Your data\\nBcc", "'\\n'"),
        ("Your data\\u000aBcc", "'\\u000a'"),
        ("Your data&#10;Bcc", "'&#10;'"),
        ("Your data&#x0D;Bcc", "'&#x0D;'"),
        ("Your data\u2029next", "U+2029"),
        ("Your data\x0bnext", "U+000B"),
        ("Your data\x1enext", "U+001E"),
        # Every encoded form of a line break the review found, and their relatives.
        ("Your data&NewLine;Bcc: x@example.com", "'&NewLine;'"),
        ("Your data&#x0A;Bcc", "'&#x0A;'"),
        ("Your data&#13;Bcc", "'&#13;'"),
        ("Your data&#x2028;Bcc", "'&#x2028;'"),
        ("Your data&#8232;Bcc", "'&#8232;'"),
        ("Your data&#8233;Bcc", "'&#8233;'"),
        ("Your data&#133;Bcc", "'&#133;'"),
        ("Your data&#x85;Bcc", "'&#x85;'"),
        ("Your data&#0000010;Bcc", "'&#0000010;'"),
        ("Your data&#10Bcc", "'&#10'"),  # browsers read it without the ";"
        ("Your data&Tab;x", "'&Tab;'"),
        ("Your data&#0;x", "'&#0;'"),
        ("Your data%E2%80%A8Bcc", "'%E2%80%A8'"),
        ("Your data%C2%85Bcc", "'%C2%85'"),
        ("Your data%0bBcc", "'%0b'"),
        ("Your data=E2=80=A9Bcc", "'=E2=80=A9'"),
        ("Your data\\u2028Bcc", "'\\u2028'"),
        ("Your data\\x85Bcc", "'\\x85'"),
        ("Your data\\U0000000aBcc", "'\\U0000000a'"),
        ("Your data\\N{LINE FEED}Bcc", "'\\N{LINE FEED}'"),
        ("Your data\\vBcc", "'\\v'"),
        # Encoded twice: decoded again.
        ("Your data&amp;#10;Bcc", "'&#10;'"),
        ("Your data%26%2310%3BBcc", "'&#10;'"),
        ("Your data%250aBcc", "'%0a'"),
    ],
)
def test_line_breaks_raw_or_encoded_are_refused(subject: str, message: str) -> None:
    with pytest.raises(SubjectError) as caught:
        validate_subject(subject)
    assert message in str(caught.value)
    assert "one line" in str(caught.value)


def test_length_and_emptiness() -> None:
    validate_subject("x" * MAX_SUBJECT_CHARS)
    with pytest.raises(SubjectError, match="151 characters long; keep it to 150"):
        validate_subject("x" * (MAX_SUBJECT_CHARS + 1))
    with pytest.raises(SubjectError, match="empty"):
        validate_subject("   ")


def test_ordinary_subjects_pass() -> None:
    for subject in (
        "We lost control of your name and email address on 3 May",
        "{{ first_name }}, your card details were copied: what to do now",
        "Update 2: 100% of affected accounts now reset (ref INC-2026-11)",
        "R&D; update: Smith &amp; Sons &copy; 2026 &#233;t&eacute;",
        "50%off? 100%ab =3D =E9 \\d \\u00e9 &#8230; %E2%80%A6",
        "Tom & Jerry's 3=4 offer, 50 % off, &newline; is not an entity",
    ):
        validate_subject(subject)


def test_hostile_numbers_in_references_are_only_text() -> None:
    validate_subject("&#" + "9" * 5000 + "; &#x" + "f" * 5000 + "; \\U" + "f" * 8, max_chars=None)


def test_validate_draft_says_which_part() -> None:
    with pytest.raises(MergeFieldError, match=r"^In the subject: unknown merge field \{\{ nick"):
        validate_draft(Draft(subject="Hi {{ nick }}", body="Body"))
    with pytest.raises(MergeFieldError, match=r"^Line 2 of the body: unknown merge field"):
        validate_draft(Draft(subject="Hi", body="Dear\n{{ nick }}"))
    with pytest.raises(SubjectError):
        validate_draft(Draft(subject="Hi%0a", body="Body"))


def test_merge_fields_are_refused_in_link_addresses() -> None:
    validate_draft(Draft(subject="S", body="[Hi {{ first_name }}](https://example.com/help)"))
    for body in (
        "See [your case](https://example.com/case?ref={{ reference }}).",
        "Write to <mailto:{{email}}>.",
    ):
        with pytest.raises(MergeFieldError, match="in a link's address") as caught:
            validate_draft(Draft(subject="S", body=body))
        assert caught.value.part == "body"
        assert str(caught.value).startswith("In the body: {{ ")
