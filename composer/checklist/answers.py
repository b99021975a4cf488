"""Turn raw answers (as typed) into checked values, one question at a time.

Raw answers are stored exactly as the user typed them, so nothing is ever lost; they are
parsed and checked whenever they are used. Raw shapes by question type:

- most types: ``{"value": str, "unknown": bool}``
- ``multichoice``, ``data_categories``: ``{"values": [str], "unknown": bool}``
- ``date_range``: ``{"from": str, "to": str, "unknown": bool}``
- ``places``: ``{"rows": [{"code": str, "count": str}], "unknown": bool}``
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from composer.checklist.catalogue import Catalogue
from composer.checklist.schema import Question

State = Literal["value", "unknown", "empty", "invalid"]

TEXT_LIMIT = 300
TEXTAREA_LIMIT = 5000
MAX_COUNT = 10_000_000_000  # more people than have ever lived; anything above is a typo


@dataclass(frozen=True)
class Parsed:
    state: State
    value: Any = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.state in ("value", "unknown")


EMPTY = Parsed("empty")
UNKNOWN = Parsed("unknown")


def _invalid(message: str) -> Parsed:
    return Parsed("invalid", error=message)


def raw_from_form(question: Question, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Collect one question's raw answer from submitted form fields (``q.<id>...``)."""
    name = f"q.{question.id}"

    def first(key: str) -> str:
        values = form.get(key) or [""]
        return _clean(values[0])

    raw: dict[str, Any] = {"unknown": bool(form.get(f"{name}.unknown"))}
    if question.type in ("multichoice", "data_categories"):
        raw["values"] = [_clean(v) for v in form.get(name, []) if _clean(v)]
    elif question.type == "date_range":
        raw["from"] = first(f"{name}.from")
        raw["to"] = first(f"{name}.to")
    elif question.type == "places":
        codes = form.get(f"{name}.code", [])
        counts = form.get(f"{name}.count", [])
        rows = []
        for i, code in enumerate(codes):
            count = _clean(counts[i]) if i < len(counts) else ""
            if _clean(code) or count:
                rows.append({"code": _clean(code), "count": count})
        raw["rows"] = rows
    else:
        raw["value"] = first(name)
    return raw


def _clean(text: str) -> str:
    # Browsers send CRLF; NUL and other C0 controls (bar tab and newline) only cause trouble.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).strip()


def is_blank(question: Question, raw: Mapping[str, Any] | None) -> bool:
    """True when nothing at all was typed or ticked for the question."""
    if not raw:
        return True
    if raw.get("unknown") and question.allow_unknown:
        return False
    if question.type in ("multichoice", "data_categories"):
        return not raw.get("values")
    if question.type == "date_range":
        return not raw.get("from") and not raw.get("to")
    if question.type == "places":
        return not raw.get("rows")
    return not raw.get("value")


def parse(
    question: Question,
    raw: Mapping[str, Any] | None,
    catalogue: Catalogue,
    *,
    today: date,
) -> Parsed:
    """Check one raw answer on its own (cross-question rules are applied by the caller)."""
    if raw and raw.get("unknown") and question.allow_unknown:
        return UNKNOWN
    if is_blank(question, raw):
        return EMPTY
    assert raw is not None
    kind = question.type
    if kind in ("multichoice", "data_categories"):
        return _parse_multi(question, list(raw.get("values") or []), catalogue)
    if kind == "date_range":
        return _parse_range(question, str(raw.get("from") or ""), str(raw.get("to") or ""), today)
    if kind == "places":
        return _parse_places(question, list(raw.get("rows") or []), catalogue)
    text = str(raw.get("value") or "")
    if kind == "text":
        return _parse_text(text, TEXT_LIMIT)
    if kind == "textarea":
        return _parse_text(text, TEXTAREA_LIMIT)
    if kind == "date":
        return _parse_date(question, text, today)
    if kind == "choice":
        ids = {o.id for o in question.options or []}
        return Parsed("value", text) if text in ids else _invalid("Choose one of the options.")
    if kind == "yes_no":
        if text in ("yes", "no"):
            return Parsed("value", text == "yes")
        return _invalid("Choose yes or no.")
    if kind == "integer":
        return _parse_integer(question, text)
    if kind == "count":
        return parse_count(text)
    if kind == "email":
        return _parse_email(text)
    if kind == "phone":
        return _parse_phone(text)
    if kind == "url":
        return _parse_url(text)
    if kind == "country_phones":
        return _parse_country_phones(text, catalogue)
    raise AssertionError(f"unhandled question type {kind}")


def _parse_text(text: str, limit: int) -> Parsed:
    if len(text) > limit:
        return _invalid(f"Keep this under {limit:,} characters (it is {len(text):,}).")
    return Parsed("value", text)


DATE_HELP = "Enter a date as year-month-day, for example 2026-11-23."


def _to_date(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_date(question: Question, text: str, today: date) -> Parsed:
    when = _to_date(text)
    if when is None:
        return _invalid(f"“{text}” is not a date. {DATE_HELP}")
    if when.year < 1970:
        return _invalid("That date is too far in the past. Check the year.")
    if when > today and not question.allow_future:
        return _invalid("This date is in the future. Check the date, or tick “Not yet known”.")
    return Parsed("value", when)


def _parse_range(question: Question, start_text: str, end_text: str, today: date) -> Parsed:
    if not start_text:
        return _invalid("Enter the date it started (and when it ended, if it went on longer).")
    start = _parse_date(question, start_text, today)
    if start.state != "value":
        return start
    end = Parsed("value", start.value)
    if end_text:
        end = _parse_date(question, end_text, today)
        if end.state != "value":
            return Parsed("invalid", error=f"End date: {end.error}")
        if end.value < start.value:
            return _invalid("The end date is before the start date.")
    return Parsed("value", (start.value, end.value))


def _parse_integer(question: Question, text: str) -> Parsed:
    digits = text.replace(",", "").replace(" ", "")
    if not re.fullmatch(r"-?\d+", digits):
        return _invalid(f"“{text}” is not a whole number.")
    number = int(digits)
    if question.min is not None and number < question.min:
        return _invalid(f"Enter {question.min} or more.")
    if question.max is not None and number > question.max:
        return _invalid(f"Enter {question.max} or less.")
    return Parsed("value", number)


_NUMBER = r"\d[\d,\s]*"
COUNT_HELP = "Enter a whole number such as 12000, or a range such as 10000-15000."


def parse_count(text: str) -> Parsed:
    """A count of people or records: an exact number or a range; never negative."""
    if re.fullmatch(r"\s*[-\u2212]\s*\d.*", text):
        return _invalid("A count cannot be negative.")
    match = re.fullmatch(rf"\s*({_NUMBER})\s*(?:(?:-|\u2013|\u2014|to)\s*({_NUMBER}))?\s*", text)
    if not match:
        return _invalid(f"“{text}” is not a number. {COUNT_HELP}")
    low = int(re.sub(r"[,\s]", "", match.group(1)))
    high = int(re.sub(r"[,\s]", "", match.group(2))) if match.group(2) else low
    if high < low:
        return _invalid("In a range, put the smaller number first.")
    if high > MAX_COUNT:
        return _invalid("That number is too large. Check for extra digits.")
    return Parsed("value", (low, high))


def _parse_email(text: str) -> Parsed:
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return _invalid(f"“{text}” is not an email address: {exc}")
    return Parsed("value", result.normalized)


def _parse_phone(text: str) -> Parsed:
    if not re.fullmatch(r"[+()\d\s.\-]{6,32}", text) or sum(c.isdigit() for c in text) < 6:
        return _invalid("Enter a phone number using digits, spaces and + ( ) - only.")
    return Parsed("value", text)


#: One entry of a ``country_phones`` answer: a country code, then the number ("GB: +44 ...").
_COUNTRY_PHONE = re.compile(r"([A-Za-z]{2})\s*[:=\u2013-]?\s*(\S.*)")
COUNTRY_PHONES_HELP = (
    "Give the country code first, then the number, separated by semicolons, "
    "for example “GB +44 800 123 4567; US +1 800 555 0100”."
)


def _parse_country_phones(text: str, catalogue: Catalogue) -> Parsed:
    names = catalogue.place_names["countries"]
    out: list[tuple[str, str]] = []
    for entry in filter(None, (e.strip() for e in re.split(r"[;\n]", text))):
        match = _COUNTRY_PHONE.fullmatch(entry)
        if not match:
            return _invalid(f"“{entry}” does not start with a country code. {COUNTRY_PHONES_HELP}")
        code, number = match.group(1).upper(), match.group(2).strip()
        if code not in names:
            return _invalid(f"“{match.group(1)}” is not a country code on the list.")
        if any(code == seen for seen, _ in out):
            return _invalid(f"{names[code]} is listed twice.")
        if _parse_phone(number).state != "value":
            return _invalid(
                f"“{number}” for {names[code]} is not a phone number: use digits, spaces "
                "and + ( ) - only."
            )
        out.append((code, number))
    if not out:
        return _invalid(COUNTRY_PHONES_HELP)
    return Parsed("value", out)


def _parse_url(text: str) -> Parsed:
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc or re.search(r"\s", text):
        return _invalid("Enter a full web address starting with https://")
    return Parsed("value", text)


def _parse_multi(question: Question, values: list[str], catalogue: Catalogue) -> Parsed:
    if question.type == "data_categories":
        allowed = list(catalogue.categories)
    else:
        allowed = [o.id for o in question.options or []]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        return _invalid(f"Not a choice on this list: {', '.join(unknown)}.")
    ordered = [v for v in allowed if v in values]  # display order, no repeats
    return Parsed("value", ordered)


def _parse_places(question: Question, rows: list[dict[str, str]], catalogue: Catalogue) -> Parsed:
    names = catalogue.place_names[question.places or "countries"]
    out: list[tuple[str, int | None]] = []
    seen: set[str] = set()
    for row in rows:
        code, count_text = row.get("code", ""), row.get("count", "")
        if not code:
            return _invalid(f"Choose a place for the count “{count_text}”.")
        if code not in names:
            return _invalid(f"“{code}” is not a place on the list.")
        if code in seen:
            return _invalid(f"{names[code]} is listed twice.")
        seen.add(code)
        count: int | None = None
        if count_text:
            digits = count_text.replace(",", "").replace(" ", "")
            if digits.startswith(("-", "\u2212")):
                return _invalid(f"The count for {names[code]} cannot be negative.")
            if not digits.isdigit():
                return _invalid(f"The count for {names[code]} is not a whole number.")
            count = int(digits)
        out.append((code, count))
    return Parsed("value", out)
