"""The SMS summary (composer/notices/sms.py): 160 GSM-7 characters, call to action first."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from composer.facts import Facts
from composer.notices.drafting import DraftError
from composer.notices.sms import (
    ACTIONS,
    DEFAULT_ACTION,
    SMS_LIMIT,
    call_to_action,
    candidates,
    gsm7_length,
    is_gsm7,
    sms_summary,
    to_gsm7,
)
from tests.rendering.conftest import FACT_SETS, load_facts

COMPANIES = (
    "Northwind Ltd",
    "Caf\u00e9 \u201cZo\u00eb\u201d \U0001f370 Holdings",  # curly quotes and an emoji
    "The Very Long Name Of A Company Group International Holdings And Subsidiaries plc",
)
#: The call to action each fact set leads with (from its most urgent category).
EXPECTED_ACTION = {
    "supplier": "Watch for fake emails.",
    "insider": "Check your health insurance statements.",
    "passwords": "Change your {company} password now.",
    "card": "Call your bank for a new card now.",
    "unknown": "Watch for fake calls and texts.",
    "police_delay": "Freeze your credit now. It is free.",
    "minimal": "Watch for fake emails.",
}
#: Where to learn more for each fact set: the web page if given, else the phone, else the email.
EXPECTED_ROUTE = {
    "supplier": "example.com/incident",
    "insider": "Call 0113 496 0000.",
    "passwords": "example.org/security-update",
    "card": "shop.example.com/card-incident",
    "unknown": "example.net/backup-drive",
    "police_delay": "Call 1-888-555-0142.",
    "minimal": "Email support@example.com.",
}


@pytest.mark.parametrize("company", COMPANIES)
@pytest.mark.parametrize("name", FACT_SETS)
def test_every_fact_set_fits_one_gsm7_segment(name: str, company: str) -> None:
    text = sms_summary(load_facts(name), company=company)
    assert gsm7_length(text) <= SMS_LIMIT, (gsm7_length(text), text)
    assert is_gsm7(text), [ch for ch in text if not is_gsm7(ch)]
    assert "\n" not in text
    assert "\r" not in text
    assert text == text.strip()
    assert "  " not in text


@pytest.mark.parametrize("name", FACT_SETS)
def test_call_to_action_comes_first(name: str) -> None:
    company = to_gsm7(COMPANIES[0])
    for each in COMPANIES:
        text = sms_summary(load_facts(name), company=each)
        expected = EXPECTED_ACTION[name]
        with_name = expected.replace("{company}", to_gsm7(each))
        without = re.sub(r" \{company\}", "", expected)
        assert text.startswith((with_name, without)), text
    assert EXPECTED_ROUTE[name] in sms_summary(load_facts(name), company=company)


def test_short_message_keeps_everything() -> None:
    assert sms_summary(load_facts("supplier"), company="Northwind Ltd") == (
        "Watch for fake emails. Northwind Ltd lost control of your name and your email address "
        "on 1-3 Nov. Info: https://example.com/incident"
    )


@pytest.mark.parametrize("name", FACT_SETS)
def test_no_personal_data_or_author_text(name: str) -> None:
    facts = load_facts(name)
    text = sms_summary(facts, company="Northwind Ltd")
    assert "{{" not in text
    assert "{%" not in text
    author = [
        facts["facts"]["what_happened"]["description"],
        facts["facts"]["next_steps"]["customer_actions"] or "",
        facts["facts"]["next_steps"]["actions_detail"] or "",
        facts["facts"]["next_steps"]["contact"]["postal"] or "",
    ]
    for passage in author:
        for phrase in re.findall(r"\w+ \w+ \w+ \w+", passage):
            assert phrase not in text, phrase


def test_shortening_order() -> None:
    facts = Facts(load_facts("passwords"))
    assert list(candidates(facts, "Forumly")) == [
        "Change your Forumly password now. Forumly lost control of your password, your username "
        "and your email address on 30 Aug. Info: https://example.org/security-update",
        # 1. no date
        "Change your Forumly password now. Forumly lost control of your password, your username "
        "and your email address. Info: https://example.org/security-update",
        # 2. only the first kind of information
        "Change your Forumly password now. Forumly lost control of your password and more. "
        "Info: https://example.org/security-update",
        # 3. the web address without https://
        "Change your Forumly password now. Forumly lost control of your password and more. "
        "Info: example.org/security-update",
        # 4. no list
        "Change your Forumly password now. Forumly lost control of your details. "
        "Info: example.org/security-update",
        # 5. no "what happened"
        "Change your Forumly password now. Info: example.org/security-update",
        # 6. no company name in the call to action
        "Change your password now. Info: example.org/security-update",
        # 7. another contact route
        "Change your password now. Email forum-help@example.org.",
        # 8. no contact route
        "Change your password now.",
    ]
    # The full text is 162 characters: the first shortening (no date) is sent.
    assert sms_summary(load_facts("passwords"), company="Forumly") == (
        "Change your Forumly password now. Forumly lost control of your password, your username "
        "and your email address. Info: https://example.org/security-update"
    )


@pytest.mark.parametrize("length", [1, 10, 20, 30, 40, 60, 80, 120, 159, 160, 200, 400])
@pytest.mark.parametrize("name", ["passwords", "card", "minimal"])
def test_any_company_name_gives_the_first_version_that_fits(name: str, length: int) -> None:
    company = ("Acme " * 100)[:length].strip() or "A"
    facts = load_facts(name)
    versions = list(candidates(Facts(facts), company))
    text = sms_summary(facts, company=company)
    assert gsm7_length(text) <= SMS_LIMIT
    fitting = [v for v in versions if gsm7_length(v) <= SMS_LIMIT]
    assert text == fitting[0]
    assert text.startswith(call_to_action(Facts(facts).categories() or [], company)) or (
        text.startswith(call_to_action(Facts(facts).categories() or [], None))
    )


def test_a_very_long_web_address_falls_back_to_the_phone() -> None:
    facts = copy.deepcopy(load_facts("card"))
    facts["facts"]["next_steps"]["contact"]["web"] = "https://example.com/" + "x" * 170
    text = sms_summary(facts, company="Northwind Ltd")
    assert text == "Call your bank for a new card now. Call 1-800-555-0199."


def test_every_call_to_action_is_short_and_gsm7() -> None:
    for _, action in (*ACTIONS, (frozenset(), DEFAULT_ACTION)):
        text = action.replace("{company}", "Northwind Ltd")
        assert is_gsm7(text), text
        assert gsm7_length(text) <= 60, text


@pytest.mark.parametrize(
    ("template", "generic"),
    [
        ("Change your {company} password now.", "Change your password now."),
        ("Set up two-step sign-in for {company} again now.", "Set up two-step sign-in again now."),
        ("Sign out of {company} on all your devices now.", "Sign out on all your devices now."),
        ("Turn on two-step sign-in for {company}.", "Turn on two-step sign-in."),
    ],
)
def test_call_to_action_without_the_company(template: str, generic: str) -> None:
    ids = next(ids for ids, text in ACTIONS if text == template)
    facts: dict[str, Any] = {
        "schema": "composer-facts/1",
        "facts": {"data": {"categories": [{"id": i, "title": i, "label": i} for i in ids]}},
    }
    categories = Facts(facts).categories() or []
    assert call_to_action(categories, None) == generic
    assert call_to_action(categories, "Acme") == template.replace("{company}", "Acme")


def test_no_categories_gives_the_default_action() -> None:
    facts = copy.deepcopy(load_facts("supplier"))
    facts["facts"]["data"]["categories"] = None
    facts["status"]["missing"].append("data.categories")
    text = sms_summary(facts, company="Northwind Ltd")
    assert text.startswith("Watch for fake messages. Northwind Ltd lost control of your details")


def test_gsm7_helpers() -> None:
    assert is_gsm7("Caf\u00e9 @ \u00a35 \u00e0 \u00c7")
    assert not is_gsm7("\u201cquoted\u201d")
    assert not is_gsm7("\U0001f370")
    assert not is_gsm7("\u00e7")  # only the capital C-cedilla is in the alphabet
    assert gsm7_length("a[b]") == 6
    assert gsm7_length("\u20ac5") == 3
    assert to_gsm7("Caf\u00e9 \u201cZo\u00eb\u201d \U0001f370  Fa\u00e7ade\u2014Ltd\u2026") == (
        'Caf\u00e9 "Zoe" Fa' + "cade-Ltd..."
    )
    assert to_gsm7("line one\nline two") == "line one line two"


@pytest.mark.parametrize("document", [[], {}, {"schema": "composer-facts/1"}])
def test_not_a_facts_document_is_a_draft_error(document: Any) -> None:
    with pytest.raises(DraftError):
        sms_summary(document, company="Northwind Ltd")
