"""What a jurisdiction's notice needs (issue 18), asked by the checklist and written as facts: a
data protection officer or contact point, a phone number per country, whether law enforcement
delayed the notice, whether the organisation is a HIPAA covered entity, and whether an email
account's sign-in details were involved. All optional: a finished checklist stays finished."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from composer.checklist import Evaluation, load_catalogue, parse
from composer.facts import FACTS_SCHEMA, Facts, FactsError, parse_facts
from tests.checklist.test_facts_document import complete_answers
from tests.paths import REPO_ROOT

CAT = load_catalogue(REPO_ROOT / "checklists")
TODAY = date(2026, 11, 23)

NEW_ANSWERS: dict[str, dict[str, Any]] = {
    "law_enforcement_delay": {"value": "yes", "unknown": False},
    "notice_delayed": {"value": "yes", "unknown": False},
    "email_credentials": {"value": "no", "unknown": False},
    "hipaa_covered_entity": {"value": "no", "unknown": False},
    "contact_phones_by_country": {
        "value": "gb +44 800 123 4567; US: +1 (800) 555-0100\nDE - +49 30 1234567",
        "unknown": False,
    },
    "dpo_name": {"value": "Jo Bloggs, Data Protection Officer", "unknown": False},
    "dpo_email": {"value": "dpo@Example.com", "unknown": False},
    "dpo_phone": {"value": "+44 20 7946 0000", "unknown": False},
}


def document(raw: dict[str, Any]) -> dict[str, Any]:
    return {"schema": FACTS_SCHEMA, **Evaluation(CAT, raw, today=TODAY).facts()}


def test_a_checklist_finished_without_the_new_questions_is_still_complete() -> None:
    doc = document(complete_answers())
    assert doc["status"]["complete"], doc["status"]
    facts = doc["facts"]
    assert facts["next_steps"]["dpo"] == {"name": None, "email": None, "phone": None}
    assert facts["next_steps"]["contact"]["phones_by_country"] is None
    assert facts["organisation"]["hipaa_covered_entity"] is None
    # No delay was requested, so whether the notice was delayed is not asked.
    assert "notice_delayed" not in facts["what_happened"]["law_enforcement"]
    assert Facts(doc).phones_by_country() is None


def test_the_new_answers_are_typed_facts() -> None:
    doc = document({**complete_answers(), **NEW_ANSWERS})
    assert doc["status"]["complete"], doc["status"]
    parsed = parse_facts(doc).facts
    assert parsed.what_happened.law_enforcement is not None
    assert parsed.what_happened.law_enforcement.delay_requested is True
    assert parsed.what_happened.law_enforcement.notice_delayed is True
    assert parsed.data.email_login_credentials is False
    assert parsed.organisation.hipaa_covered_entity is False
    assert parsed.next_steps.dpo is not None
    assert parsed.next_steps.dpo.name == "Jo Bloggs, Data Protection Officer"
    assert parsed.next_steps.dpo.email == "dpo@example.com"
    assert parsed.next_steps.dpo.phone == "+44 20 7946 0000"
    contact = parsed.next_steps.contact
    assert contact is not None
    assert [(p.code, p.name, p.phone) for p in contact.phones_by_country or ()] == [
        ("GB", "United Kingdom", "+44 800 123 4567"),
        ("US", "United States", "+1 (800) 555-0100"),
        ("DE", "Germany", "+49 30 1234567"),
    ]
    assert Facts(doc).phones_by_country() == {
        "GB": "+44 800 123 4567",
        "US": "+1 (800) 555-0100",
        "DE": "+49 30 1234567",
    }


def test_hipaa_is_asked_only_when_people_in_the_us_are_affected() -> None:
    raw = {**complete_answers(), **NEW_ANSWERS}
    raw["countries"] = {"rows": [{"code": "GB", "count": "60000"}], "unknown": False}
    facts = document(raw)["facts"]
    assert "hipaa_covered_entity" not in facts.get("organisation", {})


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("0800 123 4567", "does not start with a country code"),
        ("ZZ +1 800 555 0100", "“ZZ” is not a country code on the list"),
        ("GB 0800 123 4567; gb 0800 765 4321", "United Kingdom is listed twice"),
        ("GB call us", "“call us” for United Kingdom is not a phone number"),
        ("GB 12", "“12” for United Kingdom is not a phone number"),
        (" ; ", "Give the country code first"),
    ],
)
def test_phone_numbers_per_country_refuse_bad_input(typed: str, says: str) -> None:
    question = CAT.questions["contact_phones_by_country"]
    parsed = parse(question, {"value": typed, "unknown": False}, CAT, today=TODAY)
    assert parsed.state == "invalid"
    assert parsed.error is not None
    assert says in parsed.error


def test_a_wrong_phone_list_is_invalid_and_blocks_finishing() -> None:
    raw = {**complete_answers(), "contact_phones_by_country": {"value": "0800 123 4567"}}
    doc = document(raw)
    assert doc["status"]["invalid"] == ["next_steps.contact.phones_by_country"]
    assert not doc["status"]["complete"]
    assert parse_facts(doc).facts.next_steps.contact is not None


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("organisation", "hipaa_covered_entity"), "yes", "should be true or false, not a string"),
        (("data", "email_login_credentials"), 1, "should be true or false, not a number"),
        (
            ("next_steps", "contact", "phones_by_country"),
            "GB +44 800 123 4567",
            "should be a list, not a string",
        ),
        (("next_steps", "dpo"), ["Jo"], "should be an object, not a list"),
    ],
)
def test_the_typed_check_refuses_wrong_shapes_in_json_words(
    path: tuple[str, ...], value: object, says: str
) -> None:
    doc = document({**complete_answers(), **NEW_ANSWERS})
    node = doc["facts"]
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    with pytest.raises(FactsError, match=f"facts.{'.'.join(path)}: {says}"):
        parse_facts(doc)


def test_a_country_code_in_the_phone_list_must_be_two_capitals() -> None:
    doc = document({**complete_answers(), **NEW_ANSWERS})
    doc["facts"]["next_steps"]["contact"]["phones_by_country"][0]["code"] = "United Kingdom"
    with pytest.raises(
        FactsError,
        match=r'phones_by_country\[0\]\.code: expected a country code such as GB, got "United',
    ):
        parse_facts(doc)
