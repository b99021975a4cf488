"""Every validation rule for answers, and conditional questions, without a web app."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from composer.checklist import Evaluation, load_catalogue, parse, raw_from_form
from composer.checklist.answers import parse_count
from tests.paths import REPO_ROOT

CAT = load_catalogue(REPO_ROOT / "checklists")
TODAY = date(2026, 11, 23)


def check(question_id: str, raw: dict[str, Any]) -> tuple[str, Any, str | None]:
    parsed = parse(CAT.questions[question_id], raw, CAT, today=TODAY)
    return parsed.state, parsed.value, parsed.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12000", (12000, 12000)),
        ("12,000", (12000, 12000)),
        ("10000-15000", (10000, 15000)),
        ("10 000 to 15 000", (10000, 15000)),
        ("0", (0, 0)),
    ],
)
def test_counts_accept_numbers_and_ranges(text: str, expected: tuple[int, int]) -> None:
    assert parse_count(text).value == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-3", "cannot be negative"),
        ("\u22123", "cannot be negative"),
        ("many", "is not a number"),
        ("1.5", "is not a number"),
        ("20-10", "smaller number first"),
        ("99999999999", "too large"),
    ],
)
def test_counts_refuse_bad_input(text: str, message: str) -> None:
    parsed = parse_count(text)
    assert parsed.state == "invalid"
    assert parsed.error is not None
    assert message in parsed.error


def test_unknown_tick_wins_over_typed_text_but_keeps_it() -> None:
    raw = {"value": "lots", "unknown": True}
    assert check("people_affected", raw)[0] == "unknown"
    assert raw["value"] == "lots"


def test_unknown_is_ignored_where_not_allowed() -> None:
    assert check("discovered", {"value": "", "unknown": True})[0] == "empty"


@pytest.mark.parametrize(
    ("question", "raw", "state", "message"),
    [
        ("discovered", {"value": "2026-11-05"}, "value", None),
        ("discovered", {"value": "05/11/2026"}, "invalid", "is not a date"),
        ("discovered", {"value": "1969-12-31"}, "invalid", "too far in the past"),
        ("discovered", {"value": "2026-11-24"}, "invalid", "in the future"),
        ("next_update", {"value": "2026-12-01"}, "value", None),
        ("occurred", {"from": "", "to": "2026-11-01"}, "invalid", "Enter the date it started"),
        ("occurred", {"from": "2026-11-01", "to": "nope"}, "invalid", "End date:"),
        ("actor", {"value": "aliens"}, "invalid", "Choose one of the options"),
        ("law_enforcement_involved", {"value": "maybe"}, "invalid", "Choose yes or no"),
        ("harms", {"values": ["phishing", "meteor"]}, "invalid", "meteor"),
        ("data_categories", {"values": ["email", "soul"]}, "invalid", "soul"),
        ("credit_monitoring_months", {"value": "0"}, "invalid", "Enter 1 or more"),
        ("credit_monitoring_months", {"value": "121"}, "invalid", "Enter 120 or less"),
        ("credit_monitoring_months", {"value": "two"}, "invalid", "not a whole number"),
        ("contact_email", {"value": "help@"}, "invalid", "is not an email address"),
        ("contact_email", {"value": "Help@Example.COM"}, "value", None),
        ("contact_phone", {"value": "call us"}, "invalid", "phone number"),
        ("contact_phone", {"value": "+44 (0)800 123 456"}, "value", None),
        ("contact_web", {"value": "javascript:alert(1)"}, "invalid", "https://"),
        ("contact_web", {"value": "file:///etc/passwd"}, "invalid", "https://"),
        ("contact_web", {"value": "https://example.com/x"}, "value", None),
        ("reference", {"value": "x" * 301}, "invalid", "under 300 characters"),
        ("countries", {"rows": [{"code": "GB", "count": "-1"}]}, "invalid", "cannot be negative"),
        (
            "countries",
            {"rows": [{"code": "GB", "count": "a few"}]},
            "invalid",
            "not a whole number",
        ),
        (
            "countries",
            {"rows": [{"code": "GB", "count": ""}, {"code": "GB", "count": "3"}]},
            "invalid",
            "United Kingdom is listed twice",
        ),
        ("countries", {"rows": [{"code": "", "count": "3"}]}, "invalid", "Choose a place"),
        ("countries", {"rows": [{"code": "XX", "count": ""}]}, "invalid", "not a place"),
    ],
)
def test_answer_rules(question: str, raw: dict[str, Any], state: str, message: str | None) -> None:
    got_state, _, error = check(question, raw)
    assert got_state == state, error
    if message:
        assert error is not None
        assert message in error


def test_form_values_are_cleaned_but_kept() -> None:
    form = {
        "q.description": ["  Line one\r\nLine two\x00\x07  "],
        "q.description.unknown": [],
    }
    raw = raw_from_form(CAT.questions["description"], form)
    assert raw == {"unknown": False, "value": "Line one\nLine two"}
    rows = raw_from_form(
        CAT.questions["countries"],
        {"q.countries.code": ["GB", "", ""], "q.countries.count": ["5", "", "7"]},
    )
    # An empty row is dropped; a count without a place is kept so it can be questioned.
    assert rows["rows"] == [{"code": "GB", "count": "5"}, {"code": "", "count": "7"}]


def evaluation(**raw: dict[str, Any]) -> Evaluation:
    return Evaluation(CAT, raw, today=TODAY)


def test_supplier_name_only_when_a_supplier_did_it() -> None:
    assert not evaluation(actor={"value": "insider"}).states["supplier_name"].visible
    assert evaluation(actor={"value": "supplier"}).states["supplier_name"].visible


def test_password_hashing_only_when_hashed_passwords_were_involved() -> None:
    without = evaluation(data_categories={"values": ["email", "password-plain"]})
    assert not without.states["password_storage"].visible
    with_hashed = evaluation(data_categories={"values": ["email", "password-hashed"]})
    assert with_hashed.states["password_storage"].visible


def test_us_states_only_when_the_us_is_listed() -> None:
    gb = evaluation(countries={"rows": [{"code": "GB", "count": ""}]})
    assert not gb.states["us_states"].visible
    us = evaluation(countries={"rows": [{"code": "GB", "count": ""}, {"code": "US", "count": ""}]})
    assert us.states["us_states"].visible


def test_key_question_follows_encryption_answer() -> None:
    assert evaluation(encrypted={"value": "some"}).states["key_safe"].visible
    assert not evaluation(encrypted={"value": "none"}).states["key_safe"].visible
    assert not evaluation(encrypted={"value": "all", "unknown": True}).states["key_safe"].visible


def test_a_question_hidden_behind_a_hidden_question_is_hidden() -> None:
    ev = evaluation(
        law_enforcement_involved={"value": "no"}, law_enforcement_delay={"value": "yes"}
    )
    assert not ev.states["law_enforcement_delay"].visible
    assert "delay_requested" not in ev.facts()["facts"]["what_happened"]["law_enforcement"]


def test_discovered_before_it_happened_is_an_error_on_discovered() -> None:
    ev = evaluation(occurred={"from": "2026-11-04", "to": ""}, discovered={"value": "2026-11-01"})
    assert ev.states["discovered"].error == (
        "This is before “When it happened” (4 November 2026). Check both dates."
    )
    assert ev.states["occurred"].error is None
    ok = evaluation(occurred={"unknown": True}, discovered={"value": "2026-11-01"})
    assert ok.states["discovered"].error is None


def test_require_one_contact_route() -> None:
    ref = CAT.step("contact")
    assert ref is not None
    problems = evaluation(reference={"value": "R1"}).step_problems(ref, finishing=True)
    assert "Give at least one way for customers to contact you." in [p.message for p in problems]
    fine = evaluation(reference={"value": "R1"}, contact_web={"value": "https://x.example"})
    assert not [p for p in fine.step_problems(ref, finishing=True) if p.question_id is None]


def test_status_lists_unknown_missing_and_invalid_fact_paths() -> None:
    status = evaluation(occurred={"unknown": True}, people_affected={"value": "-1"}).facts()[
        "status"
    ]
    assert "what_happened.occurred" in status["unknown"]
    assert "data.people_affected" in status["invalid"]
    assert "what_happened.discovered" in status["missing"]
    assert status["complete"] is False
