"""The checks of a notice against the incident's facts (composer/lint/factcheck/).

Each check has a table of should-flag / should-pass examples (proselint style). Every run also
checks the finding shape: span findings quote the text at their offsets, document findings have
an empty span.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from composer.facts import FactsError
from composer.lint.factcheck import check_against_facts, find_dates, load_words
from composer.lint.findings import CATEGORIES, Finding
from composer.support.datafiles import DataFileError
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
CATALOGUE = yaml.safe_load((ROOT / "checklists" / "data_categories.yaml").read_text("utf-8"))
CATEGORY_DATA = {c["id"]: c for c in CATALOGUE["categories"]}
#: The dev-set Play.com email (../shared/eval, next to the project).
PLAYCOM = ROOT.parent / "shared" / "eval" / "dev" / "notices" / "048_playcom_2011.txt"

TODAY = date(2026, 11, 20)


def category(category_id: str) -> dict[str, Any]:
    c = CATEGORY_DATA[category_id]
    return {
        "id": category_id,
        "title": c["title"],
        "label": c["label"],
        "advice": c["advice"],
        "flags": list(c["flags"]),
    }


def facts_doc(
    *,
    categories: Sequence[str | dict[str, Any]] = ("name", "email", "password-hashed"),
    occurred: tuple[str, str] | None = ("2026-11-01", "2026-11-03"),
    discovered: str | None = "2026-11-05",
    people: tuple[int, int] | None = (90000, 100000),
    records: tuple[int, int] | None = (120000, 120000),
    contact: dict[str, str | None] | None = None,
    customer_actions: str | None = "Change your password. Watch for emails that ask for it.",
    unknown: Sequence[str] = (),
) -> dict[str, Any]:
    """A minimal valid facts document (docs/facts.md); ``None`` means not known."""
    if contact is None:
        contact = {
            "phone": "0800 123 4567",
            "email": "help@example.com",
            "web": "https://example.com/incident",
            "postal": None,
        }
    return {
        "schema": "composer-facts/1",
        "incident": {
            "id": 3,
            "title": "Mailing supplier leak",
            "created_at": "2026-11-06T09:12:03.120000+00:00",
            "updated_at": "2026-11-07T10:00:00+00:00",
            "checklist_finished_at": None,
        },
        "checklist": {"id": "incident", "version": 1},
        "status": {"complete": True, "unknown": list(unknown), "missing": [], "invalid": []},
        "facts": {
            "what_happened": {
                "occurred": {"start": occurred[0], "end": occurred[1]} if occurred else None,
                "discovered": discovered,
                "actor": "supplier",
                "supplier_name": "Acme Mail Ltd",
            },
            "data": {
                "categories": [category(c) if isinstance(c, str) else c for c in categories],
                "records_affected": {"min": records[0], "max": records[1]} if records else None,
                "people_affected": {"min": people[0], "max": people[1]} if people else None,
            },
            "next_steps": {
                "contact": contact,
                "customer_actions": customer_actions,
                "reference": "INC-2026-11",
            },
        },
    }


def lint(text: str, doc: dict[str, Any] | None = None, today: date = TODAY) -> list[Finding]:
    findings = check_against_facts(text, doc if doc is not None else facts_doc(), today=today)
    for f in findings:
        assert f.category in {"missing-element", "consistency", "structure"}
        assert f.category in CATEGORIES
        assert f.rule.startswith("facts.")
        assert f.message
        assert text[f.start : f.end] == f.text, f
        if f.category == "missing-element":
            assert (f.start, f.end, f.text) == (0, 0, "")
        else:
            assert f.start < f.end
    return findings


def rules(findings: Sequence[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


GOOD = """Subject: A criminal copied your email address and password

Dear Customer,

Between 1 and 3 November 2026, a criminal copied the names, email addresses and scrambled
passwords of 95,000 customers from our mailing supplier, Acme Mail Ltd. We found out on
5 November 2026.

What you can do
Change your password now. Watch for emails that ask for your details.

If you have questions, call us on 0800 123 4567 or email help@example.com.
"""


def test_a_notice_that_matches_the_facts_has_no_findings() -> None:
    assert lint(GOOD) == []


# -- 1. every data category is named ---------------------------------------------------------------

PET = {"id": "pet-name", "title": "Pet's name", "label": "your pet's name", "flags": []}

CATEGORY_EXAMPLES: list[tuple[list[str | dict[str, Any]], str, list[str]]] = [
    # (categories in the facts, text, categories that must be reported as not named)
    (["date-of-birth"], "They took your date of birth.", []),
    (["date-of-birth"], "They took your birthday.", []),
    (["date-of-birth"], "They took dates of birth.", []),
    (["date-of-birth"], "They took your name.", ["date-of-birth"]),
    (["email"], "They took your e-mail address.", []),
    (["email"], "They took customer email addresses.", []),
    (["email"], "They took part of our member email list.", []),
    (["email"], "We sent you an email about this.", ["email"]),
    (["email"], "Our email service provider was attacked.", ["email"]),
    (["name"], "They took some customer names.", []),
    (["name"], "They could open accounts in your name.", ["name"]),
    (["name"], "The name of the company is Acme.", ["name"]),
    (["postal-address"], "They took your home address.", []),
    (["postal-address"], "They took your addresses.", []),
    (["postal-address"], "They took your email address.", ["postal-address"]),
    (["postal-address"], "We are working to address this.", ["postal-address"]),
    (["password-hashed"], "They took scrambled passwords.", []),
    (["password-hashed"], "They took your login details.", []),
    (["card-full-number"], "They took your credit card.", []),
    (["card-full-number"], "They took debit card numbers.", []),
    (["card-full-number"], "They took your card's expiry date.", ["card-full-number"]),
    (["ssn"], "They took your Social Security number.", []),
    (["ssn"], "They took SSNs.", []),
    (["driving-licence"], "They took your driver\u2019s license number.", []),
    (["phone"], "They took your mobile number.", []),
    (["email", "phone"], "They took your email address.", ["phone"]),
    ([PET], "They took your pet's name.", []),
    ([PET], "They took your pets.", ["pet-name"]),
]


@pytest.mark.parametrize(("categories", "text", "missing"), CATEGORY_EXAMPLES)
def test_every_data_category_is_named(
    categories: list[str | dict[str, Any]], text: str, missing: list[str]
) -> None:
    findings = rules(lint(text, facts_doc(categories=categories)), "facts.category-not-named")
    labels = {c if isinstance(c, str) else c["id"]: c for c in categories}
    expected = []
    for cid in missing:
        c = labels[cid]
        expected.append(CATEGORY_DATA[cid]["label"] if isinstance(c, str) else c["label"])
    assert [f.suggestion for f in findings] == [
        f"The information involved was [{label}]." for label in expected
    ]
    assert all(f.severity == "error" and f.category == "missing-element" for f in findings)


def test_the_missing_category_message_names_it_in_plain_words() -> None:
    doc = facts_doc(categories=["date-of-birth", "photo", "password-hashed"])
    findings = rules(lint("Nothing here.", doc), "facts.category-not-named")
    assert [f.message for f in findings] == [
        "The notice does not say that your date of birth was involved.",
        "The notice does not say that photos of you were involved.",
        "The notice does not say that your password was involved.",
    ]
    assert findings[0].suggestion == "The information involved was [your date of birth]."


def test_every_catalogue_category_has_plain_words() -> None:
    words = load_words()
    assert set(CATEGORY_DATA) <= set(words.categories)
    assert set(words.categories) <= set(CATEGORY_DATA), "words for a category that does not exist"


def test_every_catalogue_category_is_found_by_its_own_label() -> None:
    for cid, data in CATEGORY_DATA.items():
        text = f"The information involved was {data['label']}."
        doc = facts_doc(categories=[cid])
        assert rules(lint(text, doc), "facts.category-not-named") == [], cid


# -- 2. the facts' dates appear -------------------------------------------------------------------

DATE_EXAMPLES: list[tuple[tuple[str, str], str, date, list[str]]] = [
    # (occurred, text, today, what must be reported missing)
    (("2026-11-05", "2026-11-05"), "It happened on 5 November 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on November 5, 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on Nov 5, 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on Nov. 5th 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on 5 Nov 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on 2026-11-05.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on the 5th of November 2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on Thursday 5 November.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on 5 November.", TODAY, []),
    (("2026-11-25", "2026-11-25"), "It happened on 25/11/2026.", TODAY, []),
    (("2026-11-25", "2026-11-25"), "It happened on 11/25/2026.", TODAY, []),
    (("2026-11-05", "2026-11-05"), "It happened on 05/11/2026.", TODAY, ["happened"]),
    (("2026-11-05", "2026-11-05"), "It happened on 11/05/2026.", TODAY, ["happened"]),
    (("2026-11-05", "2026-11-05"), "It happened on 6 November 2026.", TODAY, ["happened"]),
    (("2026-11-05", "2026-11-05"), "It happened on 5 November 2025.", TODAY, ["happened"]),
    (("2026-11-05", "2026-11-05"), "It happened in November 2026.", TODAY, ["happened"]),
    # A day and month alone are fine in the year of writing, or when the year is given nearby.
    (("2026-11-05", "2026-11-05"), "It happened on 5 November.", date(2027, 1, 4), ["happened"]),
    (("2026-11-05", "2026-11-05"), "On 5 November (in 2026) it happened.", date(2027, 1, 4), []),
    (("2026-11-01", "2026-11-03"), "It happened between 1 and 3 November 2026.", TODAY, []),
    (("2026-11-01", "2026-11-03"), "It happened on 1-3 November 2026.", TODAY, []),
    (("2026-11-01", "2026-11-03"), "It happened November 1\u20133, 2026.", TODAY, []),
    (("2026-11-01", "2026-11-03"), "It happened from 1 November to 3 November.", TODAY, []),
    (
        ("2026-10-30", "2026-11-03"),
        "It happened from 30 October to 3 November 2026.",
        date(2027, 1, 4),
        [],
    ),
    (("2026-11-01", "2026-11-03"), "It started on 1 November 2026.", TODAY, ["ended"]),
    (("2026-11-01", "2026-11-03"), "It stopped on 3 November 2026.", TODAY, ["started"]),
    (("2026-11-01", "2026-11-03"), "It happened in early November.", TODAY, ["happened"]),
]


@pytest.mark.parametrize(("occurred", "text", "today", "missing"), DATE_EXAMPLES)
def test_the_date_it_happened_appears(
    occurred: tuple[str, str], text: str, today: date, missing: list[str]
) -> None:
    doc = facts_doc(occurred=occurred, discovered=None)
    findings = rules(lint(text, doc, today=today), "facts.date-not-given")
    assert len(findings) == len(missing)
    for finding, word in zip(findings, missing, strict=True):
        assert f"does not say when it {word}" in finding.message
        assert finding.severity == "warning"
        assert finding.category == "missing-element"


def test_an_ambiguous_numeric_date_is_explained() -> None:
    doc = facts_doc(occurred=("2026-11-05", "2026-11-05"), discovered=None)
    (finding,) = rules(lint("It happened on 05/11/2026.", doc), "facts.date-not-given")
    assert "(5 November 2026)" in finding.message
    assert '"05/11/2026" could be read as more than one date' in finding.message
    assert finding.suggestion == "This happened on [5 November 2026]."


DISCOVERED_EXAMPLES = [
    ("We found out on 5 November 2026.", True),
    ("We found out on 5 November.", True),
    ("We found out on 7 November 2026.", False),
    ("It happened on 1 November 2026.", False),
]


@pytest.mark.parametrize(("text", "ok"), DISCOVERED_EXAMPLES)
def test_the_discovery_date_appears(text: str, ok: bool) -> None:
    doc = facts_doc(occurred=None, unknown=["what_happened.occurred"], discovered="2026-11-05")
    findings = rules(lint(text, doc), "facts.date-not-given")
    assert [f.message for f in findings] == (
        [] if ok else ["The notice does not say when you found out (5 November 2026)."]
    )


def test_unknown_dates_are_not_demanded() -> None:
    doc = facts_doc(occurred=None, unknown=["what_happened.occurred"], discovered=None)
    assert rules(lint("It happened recently.", doc), "facts.date-not-given") == []


def test_dates_are_read_with_their_offsets() -> None:
    text = "From 30 October to the 2nd of November 2026; found 2026-11-05; 05/11/26."
    found = find_dates(text)
    assert [text[d.start : d.end] for d in found] == [
        "30 October",
        "the 2nd of November 2026",
        "2026-11-05",
        "05/11/26",
    ]
    assert found[0].days[0].year == 2026  # takes the year of the date it runs to
    assert found[3].kind == "ambiguous"
    assert find_dates("Customers 5 may have seen it.") == []


# -- 3. a contact route and steps for the reader --------------------------------------------------

CONTACT_EXAMPLES = [
    ("Call us on 0800 123 4567.", True),
    ("Call us on 0800 1234567.", True),
    ("Call us on +44 800 123 4567.", True),
    ("Email HELP@example.com for help.", True),
    ("See example.com/incident for updates.", True),
    ("See https://www.example.com/incident/ for updates.", True),
    ("Email support@other.example for help.", False),
    ("See example.com/other for updates.", False),
    ("Call us on 0800 123 4568.", False),
    ("Contact our customer service team.", False),
]


@pytest.mark.parametrize(("text", "ok"), CONTACT_EXAMPLES)
def test_a_contact_route_from_the_facts_is_given(text: str, ok: bool) -> None:
    findings = rules(lint(text), "facts.contact-missing")
    assert bool(findings) is not ok
    for f in findings:
        assert f.severity == "error"
        assert "0800 123 4567" in f.suggestion
        assert "help@example.com" in f.suggestion


NO_CONTACT_FACTS_EXAMPLES = [
    ("Email us at privacy@play.example.", True),
    ("Call 1-800-555-0100 any day.", True),
    ("Read more at https://example.org/breach.", True),
    ("Contact our customer service team.", False),
    ("It happened on 5 November 2026 to 95,000 customers.", False),
]


@pytest.mark.parametrize(("text", "ok"), NO_CONTACT_FACTS_EXAMPLES)
def test_without_contact_facts_any_contact_route_will_do(text: str, ok: bool) -> None:
    doc = facts_doc(contact={"phone": None, "email": None, "web": None, "postal": None})
    findings = rules(lint(text, doc), "facts.contact-missing")
    assert bool(findings) is not ok


STEPS_EXAMPLES = [
    ("Change your password now.", True),
    ("Please be careful with emails that ask for your details.", True),
    ("Please do be vigilant with your email.", True),
    ("We recommend that you reset your password.", True),
    ("You should watch your bank statements.", True),
    ("What you can do\nWe have reset every password.", True),
    ("- Do not click links in emails you did not expect.", True),
    ("Ring our helpline for a new card today.", True),  # the facts' own advice
    ("We are sorry. We have fixed the problem.", False),
    ("Contact us if you have questions.", False),
    ("You may receive some unwanted emails.", False),
]


@pytest.mark.parametrize(("text", "ok"), STEPS_EXAMPLES)
def test_steps_for_the_reader_are_given(text: str, ok: bool) -> None:
    doc = facts_doc(customer_actions="Ring our helpline for a new card.")
    findings = rules(lint(text, doc), "facts.steps-missing")
    assert bool(findings) is not ok
    assert all(f.severity == "warning" for f in findings)


# -- 4. facts first ------------------------------------------------------------------------------

FACTS_FIRST_EXAMPLES = [
    # (text, the first paragraph if it must be flagged)
    ("Dear Customer,\n\nOn 5 November someone copied your email address.", None),
    (
        "Subject: Data breach\n\nDear customer,\nA criminal stole the names and email addresses "
        "of our customers.\nWe are sorry.",
        None,
    ),
    (
        "Notice of Data Breach\n\nWe are writing to tell you that on 5 November a criminal\n"
        "copied your email address and password from our\nsupplier's system.",
        None,
    ),
    (
        "To our community:\n\nWe take your privacy very seriously.\n\nYour email address was "
        "copied.",
        "We take your privacy very seriously.",
    ),
    (
        "Dear Customer,\n\nWe are writing to tell you about a security incident.\nYour email "
        "address was copied.",
        "We are writing to tell you about a security incident.",
    ),
    (
        "Hello,\n\nYour email address is important to us.\nIt was copied last week.\n",
        "Your email address is important to us.",
    ),
]


@pytest.mark.parametrize(("text", "flagged"), FACTS_FIRST_EXAMPLES)
def test_the_first_paragraph_says_what_happened_to_which_data(
    text: str, flagged: str | None
) -> None:
    findings = rules(lint(text), "facts.facts-not-first")
    assert [f.text for f in findings] == ([flagged] if flagged else [])
    assert all(f.category == "structure" and f.severity == "warning" for f in findings)


def test_facts_first_says_what_is_missing() -> None:
    (what,) = rules(
        lint("Dear Customer,\n\nYour email address is safe with us."), "facts.facts-not-first"
    )
    assert "does not say what happened" in what.message
    (data,) = rules(lint("We had a data breach last week."), "facts.facts-not-first")
    assert "does not say which information was involved" in data.message


# -- 5. contradictions --------------------------------------------------------------------------

NAME_EMAIL_PASSWORD = ("name", "email", "password-hashed")
EMAIL_ONLY = ("email",)
CARDS = ("name", "card-full-number", "card-expiry")

CONTRADICTION_EXAMPLES: list[tuple[Sequence[str], str, str, list[str]]] = [
    # (facts categories, text, rule, flagged words)
    (NAME_EMAIL_PASSWORD, "Only email addresses were involved.", "only", ["Only email addresses"]),
    (
        NAME_EMAIL_PASSWORD,
        "The information was limited to names and email addresses.",
        "only",
        ["limited to names and email addresses"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "The only information involved was your email address.",
        "only",
        ["The only information involved was your email address"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "They took just your names, email addresses and passwords.",
        "only",
        [],
    ),
    (EMAIL_ONLY, "Only email addresses were involved.", "only", []),
    (
        NAME_EMAIL_PASSWORD,
        "They took not only your email address but also your password.",
        "only",
        [],
    ),
    (NAME_EMAIL_PASSWORD, "This only affects customers who ordered in November.", "only", []),
    (NAME_EMAIL_PASSWORD, "No passwords were taken.", "denial", ["No passwords"]),
    (
        NAME_EMAIL_PASSWORD,
        "Your name and password were not affected.",
        "denial",
        ["name and password were not affected"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "All member passwords remain secure.",
        "denial",
        ["passwords remain secure"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "There is no evidence that passwords were accessed.",
        "denial",
        ["no evidence that passwords"],
    ),
    (
        CARDS,
        "The stolen data did not include your payment card details.",
        "denial",
        ["did not include your payment card details"],
    ),
    (
        CARDS,
        "We do not store credit card or financial information on that system.",
        "denial",
        ["do not store credit card or financial information"],
    ),
    (CARDS, "No personal information was involved.", "denial", ["No personal information"]),
    (CARDS, "There is no evidence that your card details have been misused.", "denial", []),
    (  # a hard-wrapped sentence runs on over the line break
        NAME_EMAIL_PASSWORD,
        "There is no evidence that your\npasswords were accessed.",
        "denial",
        ["no evidence that your\npasswords"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "The only information\ninvolved was your email address.",
        "only",
        ["The only information\ninvolved was your email address"],
    ),
    (EMAIL_ONLY, "No passwords or payment details were involved.", "denial", []),
    (NAME_EMAIL_PASSWORD, "Do not include your password in emails to us.", "denial", []),
    (NAME_EMAIL_PASSWORD, "Make sure your password is secure.", "denial", []),
    (
        NAME_EMAIL_PASSWORD,
        "If you only shopped as a guest, we do not hold a password for you.",
        "denial",
        [],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "Your email address was copied. Nothing else was taken.",
        "nothing-else",
        ["Nothing else was taken"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "Names and email addresses were copied. No other customer data was accessed.",
        "nothing-else",
        ["No other customer data was accessed"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "Email addresses were copied. All other personal information (passwords, addresses) is "
        "kept safe.",
        "nothing-else",
        ["All other personal information (passwords, addresses) is kept safe"],
    ),
    (
        NAME_EMAIL_PASSWORD,
        "Your name, email address and password were copied. No other information was involved.",
        "nothing-else",
        [],
    ),
]


@pytest.mark.parametrize(("categories", "text", "rule", "flagged"), CONTRADICTION_EXAMPLES)
def test_claims_about_the_data_that_contradict_the_facts(
    categories: Sequence[str], text: str, rule: str, flagged: list[str]
) -> None:
    findings = rules(lint(text, facts_doc(categories=categories)), f"facts.{rule}-contradicts")
    assert [f.text for f in findings] == flagged
    assert all(f.category == "consistency" and f.severity == "error" for f in findings)


def test_a_denial_names_each_contradicted_category_once() -> None:
    doc = facts_doc(categories=["password-plain", "password-hashed"])
    (finding,) = rules(lint("No passwords were taken.", doc), "facts.denial-contradicts")
    assert finding.message == "The checklist says your password was involved; this says otherwise."


def test_an_only_claim_says_what_it_leaves_out() -> None:
    (finding,) = rules(lint("Only email addresses were involved."), "facts.only-contradicts")
    assert finding.message == (
        "This leaves out your name and your password, which the checklist says were involved."
    )


COUNT_EXAMPLES = [
    # (text, flagged words); the facts: 90,000 to 100,000 people, 120,000 records.
    ("It affected about 1,200 customers.", ["about 1,200 customers"]),
    ("It affected 2.3 million accounts.", ["2.3 million accounts"]),
    ("It involved 12,000 records.", ["12,000 records"]),
    ("It affected more than 150,000 people.", ["more than 150,000 people"]),
    ("It affected fewer than 50,000 of our customers.", ["fewer than 50,000 of our customers"]),
    ("It affected 12k users.", ["12k users"]),
    ("It affected half a million people.", ["half a million people"]),
    ("It affected about 100,000 customers.", []),
    ("It affected 95,000 customers.", []),
    ("It affected nearly 100,000 people.", []),
    ("It affected around 105,000 customers.", []),
    ("It affected 0.1 million customers.", []),
    ("It affected more than 90,000 people.", []),
    ("It involved 120,000 records.", []),
    ("It involved 120,000 customer accounts.", []),  # accounts: people or records
    ("10% of customers were affected.", []),
    ("We paid £1,200 per customer.", []),
    ("Of our 2 million customers, about 95,000 were affected.", []),
    ("On 5 November 2026 customers told us.", []),
]


@pytest.mark.parametrize(("text", "flagged"), COUNT_EXAMPLES)
def test_numbers_of_people_and_records_match_the_facts(text: str, flagged: list[str]) -> None:
    findings = rules(lint(text), "facts.count-contradicts")
    assert [f.text for f in findings] == flagged
    assert all(f.category == "consistency" and f.severity == "error" for f in findings)


def test_a_count_message_gives_the_facts() -> None:
    (finding,) = rules(lint("It affected about 1,200 customers."), "facts.count-contradicts")
    assert finding.message == "The checklist says 90,000 to 100,000 people are affected."


def test_an_unknown_count_may_be_stated() -> None:
    doc = facts_doc(people=None, records=None, unknown=["data.people_affected"])
    assert rules(lint("It affected about 1,200 customers.", doc), "facts.count-contradicts") == []


DISCOVERY_EXAMPLES = [
    # (text, flagged words); the facts: found out on 5 November 2026.
    ("We discovered the breach on 7 November 2026.", ["7 November 2026"]),
    ("On 7 November, we found out that it had happened.", ["7 November"]),
    ("We became aware of it on 2026-11-07.", ["2026-11-07"]),
    ("The breach was discovered on Monday 2 November.", ["2 November"]),
    ("We found out on 5 November 2026.", []),
    ("On 1 November a criminal copied it. We found out on 5 November.", []),
    ("We discovered that on 1 November someone copied it.", []),
    ("We found out on 05/11/2026.", []),  # ambiguous, but one reading agrees
]


@pytest.mark.parametrize(("text", "flagged"), DISCOVERY_EXAMPLES)
def test_a_different_discovery_date_contradicts_the_facts(text: str, flagged: list[str]) -> None:
    findings = rules(lint(text), "facts.discovered-date-contradicts")
    assert [f.text for f in findings] == flagged
    assert all(
        f.message == "The checklist says you found out on 5 November 2026." for f in findings
    )


@pytest.mark.skipif(not PLAYCOM.exists(), reason="the shared dev set is not next to the project")
def test_playcom_denies_the_hashed_passwords_in_the_facts() -> None:
    body = PLAYCOM.read_text("utf-8").split("\n---\n", 1)[1]
    doc = facts_doc(
        categories=NAME_EMAIL_PASSWORD,
        occurred=("2011-03-20", "2011-03-20"),
        discovered="2011-03-20",
        people=None,
        records=None,
        unknown=["data.people_affected", "data.records_affected"],
        contact={"phone": None, "email": "privacy@play.com", "web": None, "postal": None},
    )
    findings = lint(body, doc, today=date(2011, 3, 21))
    consistency = [f for f in findings if f.category == "consistency"]
    assert [f.text for f in consistency] == [
        "no other personal customer information has been involved"
    ]
    assert "your password" in consistency[0].message
    # Names and email addresses are named; a contact route and advice are there; facts first.
    assert rules(findings, "facts.category-not-named") == []
    assert rules(findings, "facts.contact-missing") == []
    assert rules(findings, "facts.steps-missing") == []
    assert rules(findings, "facts.facts-not-first") == []


# -- the facts document ---------------------------------------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(facts_doc())
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


_DELETE = object()

BAD_DOCUMENTS: list[tuple[Any, str]] = [
    ([], "expected a JSON object, got a list"),
    ("composer-facts/1", "expected a JSON object, got a string"),
    ({}, 'it has no "schema" (expected "composer-facts/1")'),
    (_with("schema", "composer-facts/2"), 'its "schema" is "composer-facts/2"'),
    (_with("schema", 1), 'its "schema" is 1, expected "composer-facts/1"'),
    (_with("facts", _DELETE), 'it has no "facts"'),
    (_with("facts", []), '"facts" must be an object, not a list'),
    (
        _with("facts.data.people_affected", {"min": "many", "max": 3}),
        "facts.data.people_affected.min: should be a whole number, not a string",
    ),
    (
        _with("facts.data.people_affected", 5),
        "facts.data.people_affected: should be an object, not a number",
    ),
    (
        _with("facts.data.people_affected", {"min": 5, "max": 3}),
        "facts.data.people_affected: expected 0 <= min <= max, got min 5 and max 3",
    ),
    (
        _with("facts.what_happened.discovered", "5 Nov 2026"),
        'facts.what_happened.discovered: expected a date as YYYY-MM-DD, got "5 Nov 2026"',
    ),
    (_with("facts.what_happened.discovered", "2026-02-30"), "2026-02-30 is not a real date"),
    (
        _with("facts.what_happened.occurred", {"start": "2026-11-01"}),
        "facts.what_happened.occurred.end: is missing",
    ),
    (
        _with("facts.data.categories", [{"id": 3}]),
        "facts.data.categories[0].id: should be a string, not a number; "
        "facts.data.categories[0].title: is missing",
    ),
    (_with("facts.data.categories", "email"), "facts.data.categories: should be a list, not"),
    (
        _with("facts.next_steps.contact", {"email": ["a@b.c"]}),
        "facts.next_steps.contact.email: should be a string, not a list",
    ),
    (_with("status.unknown", "data.people_affected"), "status.unknown: should be a list"),
    (_with("status", []), "status: should be an object, not a list"),
]


@pytest.mark.parametrize(("doc", "message"), BAD_DOCUMENTS)
def test_a_document_that_is_not_a_facts_document_is_refused(doc: Any, message: str) -> None:
    with pytest.raises(FactsError) as raised:
        check_against_facts("Some text.", doc)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_null_facts_and_extra_paths_are_accepted() -> None:
    doc = facts_doc()
    doc["facts"]["data"]["categories"] = None
    doc["status"]["missing"] = ["data.categories"]
    doc["facts"]["impact"] = {"harms": ["phishing"]}
    doc["facts"]["data"]["new_path"] = {"anything": 1}
    findings = lint(GOOD, doc)
    assert rules(findings, "facts.category-not-named") == []


def test_the_word_lists_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "words.yaml"
    text = (ROOT / "composer" / "lint" / "factcheck_words.yaml").read_text("utf-8")
    bad.write_text(text.replace("  name:\n    terms:", "  name:\n    synonyms: [x]\n    terms:"))
    with pytest.raises(DataFileError, match=r"categories\.name\.synonyms"):
        load_words(bad)
