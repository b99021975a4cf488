"""An SMS-length summary of a notice, written from the incident's facts.

``sms_summary(facts, company=...)`` gives one message of at most 160 GSM-7 characters (one SMS
segment; no curly quotes, no emoji), with the call to action first:

    Change your Forumly password now. Forumly lost control of your password, your username and
    your email address. Info: https://example.org/security-update

1. The call to action comes from the most urgent kind of information involved (:data:`ACTIONS`,
   in order: cards and bank details first, then sign-in details, then ID numbers ...).
2. Then what happened, in a few words: who lost control of which information, and when.
3. Then where to learn more: the incident's web page if the facts give one, else the phone
   number, else the email address.

It never holds personal data: no merge fields, nothing the author wrote about the incident, only
the company's name, the kinds of information, dates and the company's contact route.

When the whole message does not fit, it is shortened in this order (:func:`candidates`), and the
first version that fits is sent: drop the date; name only the first kind of information ("and
more"); drop "https://" and "www." from the web address; say "your details" instead of the list;
drop what happened; drop the company's name from the call to action; give another, shorter contact
route; give no contact route (the call to action alone always fits). No Flask.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

from composer.facts import Category, Facts
from composer.notices.draft_wording import join
from composer.notices.drafting import read_facts

__all__ = [
    "ACTIONS",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SMS_LIMIT",
    "gsm7_length",
    "is_gsm7",
    "sms_summary",
    "to_gsm7",
]

#: One SMS segment holds 160 GSM-7 septets.
SMS_LIMIT: Final = 160

#: GSM 03.38 default alphabet (without the escape, CR and LF, which a summary never needs).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each of these takes two septets (escape + character).
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€")

_REPLACEMENTS: Final = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "`": "'",
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM-7 default alphabet or its extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def gsm7_length(text: str) -> int:
    """Length in septets: extension-table characters count twice."""
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def to_gsm7(text: str) -> str:
    """``text`` in GSM-7 on one line: typographic quotes and dashes made plain, accents dropped
    where the accented letter is not in the alphabet, other characters (emoji ...) removed."""
    out: list[str] = []
    for ch in " ".join(text.split()):
        ch = _REPLACEMENTS.get(ch, ch)
        if is_gsm7(ch):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append("".join(c for c in base if is_gsm7(c)))
    return re.sub(r" {2,}", " ", "".join(out)).strip()


# =================================================================================================
# What to say
# =================================================================================================

#: The call to action, most urgent first: the first entry naming a category involved is used.
#: "{company}" is the company's name.
ACTIONS: Final[tuple[tuple[frozenset[str], str], ...]] = (
    (frozenset({"card-full-number", "card-cvv", "card-pin"}), "Call your bank for a new card now."),
    (frozenset({"bank-account"}), "Check your bank statements now."),
    (frozenset({"password-plain", "password-hashed"}), "Change your {company} password now."),
    (frozenset({"two-step-secrets"}), "Set up two-step sign-in for {company} again now."),
    (frozenset({"session-tokens"}), "Sign out of {company} on all your devices now."),
    (frozenset({"security-questions"}), "Change your {company} security answers now."),
    (frozenset({"ssn"}), "Freeze your credit now. It is free."),
    (
        frozenset(
            {
                "driving-licence",
                "passport",
                "national-id",
                "tax-id",
                "id-document-copy",
                "financial-history",
            }
        ),
        "Check your credit report now.",
    ),
    (frozenset({"ni-number"}), "Check your tax account on GOV.UK."),
    (frozenset({"health", "health-insurance"}), "Check your health insurance statements."),
    (frozenset({"card-expiry", "cardholder-name"}), "Check your card statements."),
    (
        frozenset({"special-category", "criminal-record", "messages", "genetic"}),
        "Do not pay anyone who threatens to share your details.",
    ),
    (frozenset({"children"}), "Talk to your child about messages from strangers."),
    (frozenset({"biometric"}), "Use a password as well as your fingerprint or face."),
    (frozenset({"location"}), "Check the location settings on your phone."),
    (frozenset({"uploaded-files"}), "Change any passwords you kept in files stored with us."),
    (frozenset({"username"}), "Turn on two-step sign-in for {company}."),
    (frozenset({"email"}), "Watch for fake emails."),
    (frozenset({"phone"}), "Watch for fake calls and texts."),
    (frozenset({"postal-address"}), "Watch for fake letters."),
    (
        frozenset({"date-of-birth", "account-number"}),
        "Do not trust callers just because they know your details.",
    ),
)
#: When no category above is involved (or the facts do not say which).
DEFAULT_ACTION: Final = "Watch for fake messages."


def call_to_action(categories: Sequence[Category], company: str | None) -> str:
    """The action for the most urgent category; without ``company`` the action that names the
    company says "your password" instead of "your <company> password"."""
    ids = {c.id for c in categories}
    template = next((text for wanted, text in ACTIONS if wanted & ids), DEFAULT_ACTION)
    if company:
        return template.replace("{company}", company)
    return re.sub(r"(?: for| of)? \{company\}|\{company\} ", "", template)


def short_when(start: date, end: date) -> str:
    """``on 3 Nov``, ``on 1-3 Nov``, ``on 30 Oct-2 Nov``."""
    first = f"{start.day} {_MONTHS[start.month - 1]}"
    last = f"{end.day} {_MONTHS[end.month - 1]}"
    if start == end:
        return f"on {first}"
    if (start.year, start.month) == (end.year, end.month):
        return f"on {start.day}-{last}"
    return f"on {first}-{last}"


def _bare(url: str) -> str:
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE).rstrip("/")


@dataclass(frozen=True)
class _Parts:
    action: str
    happened: str
    route: str

    def text(self) -> str:
        return " ".join(p for p in (self.action, self.happened, self.route) if p)


def candidates(facts: Facts, company: str) -> Iterator[str]:
    """Every version of the summary, longest first, in the documented shortening order."""
    categories = facts.categories() or []
    labels = [to_gsm7(c.short_label) for c in categories]
    occurred = facts.date_range("what_happened.occurred")
    when = f" {short_when(*occurred)}" if occurred else ""

    def happened(data: str, when: str = "") -> str:
        return f"{company} lost control of {data}{when}."

    all_data = join(labels) if labels else "your details"
    first_data = f"{labels[0]} and more" if len(labels) > 1 else all_data

    routes: list[tuple[str, ...]] = []  # each route's versions, longest first
    web = facts.text("next_steps.contact.web")
    phone = facts.text("next_steps.contact.phone")
    email = facts.text("next_steps.contact.email")
    if web:
        full, bare = f"Info: {to_gsm7(web)}", f"Info: {to_gsm7(_bare(web))}"
        routes.append((full, bare) if bare != full else (full,))
    if phone:
        routes.append((f"Call {to_gsm7(phone)}.",))
    if email:
        routes.append((f"Email {to_gsm7(email)}.",))
    route, short_route = (routes[0][0], routes[0][-1]) if routes else ("", "")

    parts = _Parts(call_to_action(categories, company), happened(all_data, when), route)
    yield parts.text()
    parts = replace(parts, happened=happened(all_data))  # 1. no date
    yield parts.text()
    parts = replace(parts, happened=happened(first_data))  # 2. first kind only
    yield parts.text()
    if short_route != route:
        parts = replace(parts, route=short_route)  # 3. web address without https:// and www.
        yield parts.text()
    parts = replace(parts, happened=happened("your details"))  # 4. no list
    yield parts.text()
    parts = replace(parts, happened="")  # 5. no "what happened"
    yield parts.text()
    parts = replace(parts, action=call_to_action(categories, None))  # 6. no company in the action
    yield parts.text()
    for versions in sorted(routes[1:], key=lambda r: len(r[-1])):  # 7. another, shorter route
        for version in versions:
            yield replace(parts, route=version).text()
    yield replace(parts, route="").text()  # 8. no route


def sms_summary(facts: Mapping[str, Any], *, company: str) -> str:
    """An SMS of at most 160 GSM-7 characters: the call to action first, then what happened in
    a few words, then where to learn more. Raises DraftError when ``facts`` is not a facts
    document."""
    reader = read_facts(facts)
    name = to_gsm7(company) or "[COMPANY]"
    versions = [to_gsm7(text) for text in candidates(reader, name)]
    # The last version is the call to action alone, without the company's name: always short.
    return next((text for text in versions if gsm7_length(text) <= SMS_LIMIT), versions[-1])
