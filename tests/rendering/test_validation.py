"""A subject is one safe header line; a draft's fields are checked with the part named."""

from __future__ import annotations

import pytest

from composer.rendering.draft import Draft
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
        ("Your data%0D%0ABcc: x@example.com", "'%0D'"),
        ("Your data=0ABcc: x@example.com", "'=0A'"),
        ("Your data=0d", "'=0d'"),
        ("Your data\\r\\nBcc: x@example.com", "'\\r'"),
        ("Your data\\nBcc", "'\\n'"),
        ("Your data\\u000aBcc", "'\\u000a'"),
        ("Your data&#10;Bcc", "'&#10;'"),
        ("Your data&#x0D;Bcc", "'&#x0D;'"),
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
    ):
        validate_subject(subject)


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
