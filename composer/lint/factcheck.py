"""Check a notice's text against the incident's facts (the ``composer-facts/1`` document).

What a plain-language editor with the checklist open next to the draft would say:

- ``facts.category-not-named``: a kind of data the facts list is not named in plain words.
- ``facts.date-not-given``: when it happened, or when the company found out, is not in the text.
- ``facts.contact-missing``: no way to contact the company (the facts' phone, email, web page or
  address; or, when the facts give none, any phone number, email address or web address).
- ``facts.steps-missing``: nothing tells the reader what they can do.
- ``facts.facts-not-first``: the first paragraph does not say what happened and to which data.
- ``facts.only-contradicts``: "only names and email addresses" when the facts list more.
- ``facts.nothing-else-contradicts``: "no other information was involved" when the facts list
  data the text has not named.
- ``facts.denial-contradicts``: "no passwords", "card details were not affected" ... when the facts
  list that data.
- ``facts.count-contradicts``: a number of people or records outside the facts' range.
- ``facts.discovered-date-contradicts``: "we found out on <date>" with a date other than the facts'.

A fact that is not known (``null``: unknown, missing or invalid, see ``status``) is never demanded,
and the text may state a value for it. Word lists are in ``factcheck_words.yaml``.
Plain text only: no parse, no Flask.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from composer.facts import (
    Category,
    Contact,
    Count,
    FactsDocument,
    FactsError,
    parse_facts,
)
from composer.lint.findings import Finding, Severity
from composer.support.datafiles import YamlSource

__all__ = ["WORDS_PATH", "FactsError", "check_against_facts", "load_words", "parse_facts"]

WORDS_PATH = Path(__file__).with_name("factcheck_words.yaml")


# =================================================================================================
# Word lists
# =================================================================================================


class _Words(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _clean_terms(cls, value: Any) -> Any:
        if isinstance(value, tuple):
            for term in value:
                if isinstance(term, str) and (not term.strip() or term != term.strip().lower()):
                    raise ValueError(f"{term!r}: terms are non-empty, trimmed and lower case")
        return value


class CategoryWords(_Words):
    terms: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()


class TermClass(_Words):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    terms: tuple[str, ...] = Field(min_length=1)
    flags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    any: bool = False
    broad: bool = False

    def covers(self, category: Category) -> bool:
        return self.any or category.id in self.ids or bool(set(self.flags) & set(category.flags))


class Words(_Words):
    categories: dict[str, CategoryWords]
    classes: tuple[TermClass, ...]
    people_nouns: tuple[str, ...] = Field(min_length=1)
    record_nouns: tuple[str, ...] = Field(min_length=1)
    either_nouns: tuple[str, ...] = ()
    incident_words: tuple[str, ...] = Field(min_length=1)
    step_headings: tuple[str, ...] = Field(min_length=1)
    step_actions: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_classes(self) -> Words:
        ids = [c.id for c in self.classes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"class ids must be unique: {', '.join(duplicates)}")
        for category_id, entry in self.categories.items():
            if not entry.terms and not entry.weak:
                raise ValueError(f"category {category_id} has no terms")
            if (entry.not_after or entry.not_before) and not entry.weak:
                raise ValueError(f"category {category_id}: not_after/not_before need weak terms")
        return self


@cache
def load_words(path: Path = WORDS_PATH) -> Words:
    """The validated word lists (DataFileError names file, key and line when they are wrong)."""
    return YamlSource.read(path).validate(Words)


# =================================================================================================
# Finding phrases in text
# =================================================================================================

_HYPHENS = "-\u2010\u2011\u2013"
_SEP = rf"[{_HYPHENS}\s]+"


def _word_pattern(word: str, *, plural: bool) -> str:
    out = []
    for ch in word:
        if ch in "-\u2010":
            out.append(f"[{_HYPHENS}]?")
        elif ch in "'\u2019":
            out.append("['\u2019]?")
        else:
            out.append(re.escape(ch))
    if plural and word[-1:].isalnum():
        out.append("(?:s|es)?")
    return "".join(out)


def _phrase_pattern(term: str, *, plural: bool = True) -> str:
    words = term.split()
    parts = [_word_pattern(w, plural=plural and i == len(words) - 1) for i, w in enumerate(words)]
    return _SEP.join(parts)


def _alternation(terms: Iterable[str], *, plural: bool = True) -> str:
    unique = sorted(set(terms), key=lambda t: (-len(t), t))
    return "|".join(_phrase_pattern(t, plural=plural) for t in unique)


def _bounded(body: str) -> str:
    return rf"(?<![\w@])(?:{body})(?![\w@])"


_DETERMINERS = r"(?:your|the|a|an|our|their|my|his|her|its|this|that)"


@dataclass(frozen=True)
class Matcher:
    """Finds one category's or class's words."""

    key: str
    strong: re.Pattern[str] | None
    weak: re.Pattern[str] | None = None
    not_after: re.Pattern[str] | None = None
    not_before: re.Pattern[str] | None = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        if self.strong is not None:
            found += [m.span() for m in _overlapping(self.strong, text)]
        if self.weak is not None:
            for m in _overlapping(self.weak, text):
                before = text[max(0, m.start() - 60) : m.start()]
                if self.not_after is not None and self.not_after.search(before):
                    continue
                after = text[m.end() : m.end() + 60]
                if self.not_before is not None and self.not_before.match(after):
                    continue
                found.append(m.span())
        return sorted(set(found))


def _overlapping(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Every match, including those that start inside an earlier one ("payment card details"
    holds "payment card" and "card details")."""
    out = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        out.append(m)
        pos = m.start() + 1
    return out


def _compile(body: str) -> re.Pattern[str] | None:
    return re.compile(_bounded(body), re.IGNORECASE) if body else None


@cache
def _matcher(key: str, terms: tuple[str, ...], entry: CategoryWords | None) -> Matcher:
    weak = entry.weak if entry else ()
    strong = tuple(t for t in terms if t not in weak)
    if entry is None or not entry.weak:
        return Matcher(key, _compile(_alternation(strong)))
    not_after = not_before = None
    if entry.not_after:
        not_after = re.compile(
            rf"(?<![\w@])(?:{_alternation(entry.not_after, plural=False)})"
            rf"(?:\s+{_DETERMINERS})?\s+$",
            re.IGNORECASE,
        )
    if entry.not_before:
        not_before = re.compile(
            rf"{_SEP}(?:{_alternation(entry.not_before, plural=False)})(?![\w@])", re.IGNORECASE
        )
    return Matcher(
        key,
        _compile(_alternation(strong)),
        _compile(_alternation(weak)),
        not_after,
        not_before,
    )


def _own_terms(title: str, label: str) -> tuple[str, ...]:
    """The category's title and label as search phrases ("Social Security number (US)" ->
    "social security number"; "your password, stored in a scrambled form" -> "password")."""
    out = []
    for phrase in (title, label.split(",")[0]):
        phrase = re.sub(r"\([^)]*\)", " ", phrase.lower())
        phrase = re.sub(r"^\s*(?:your|the|a|an)\s+", "", phrase)
        phrase = " ".join(phrase.split())
        if len(phrase) >= 3:
            out.append(phrase)
    return tuple(out)


def category_matcher(category: Category, words: Words) -> Matcher:
    entry = words.categories.get(category.id)
    terms = _own_terms(category.title, category.label)
    if entry is not None:
        terms = tuple(t for t in terms if t not in entry.weak) + entry.terms + entry.weak
    return _matcher(category.id, terms, entry)


def _lexicon_matchers(words: Words) -> tuple[Matcher, ...]:
    return tuple(
        _matcher(cid, entry.terms + entry.weak, entry) for cid, entry in words.categories.items()
    )


def _class_matchers(words: Words) -> tuple[Matcher, ...]:
    return tuple(_matcher(f"class:{c.id}", c.terms, None) for c in words.classes)


@dataclass(frozen=True)
class Mention:
    key: str  # a category id, or "class:<id>"
    start: int
    end: int


def _find_mentions(text: str, matchers: Iterable[Matcher]) -> list[Mention]:
    out = {Mention(m.key, s, e) for m in matchers for s, e in m.spans(text)}
    return sorted(out, key=lambda m: (m.start, -m.end, m.key))


@cache
def _phrase_regex(terms: tuple[str, ...], *, plural: bool = False) -> re.Pattern[str]:
    return re.compile(_bounded(_alternation(terms, plural=plural)), re.IGNORECASE)


# =================================================================================================
# Dates in text
# =================================================================================================

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_NAMES = tuple(calendar.month_name)[1:]  # English names: the C locale's
_MONTH = (
    r"(?:(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december)(?![a-z])|(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)(?:\.|(?![a-z])))"
)
_DAY = r"(?<![\d.,])[0-3]?\d(?:st|nd|rd|th)?(?![\d,]\d)"
_YEAR = r"(?:19|20)\d{2}(?!\d)"
_TO = rf"(?:\s*[{_HYPHENS}\u2014]\s*|\s+(?:to|and|until|till|through|thru)\s+(?:the\s+)?)"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+"


def _named(group: str, pattern: str) -> str:
    return f"(?P<{group}>{pattern})"


_DATE_RE = re.compile(
    "|".join(
        [
            # 1-3 November 2026, between 1 and 3 November
            rf"(?P<r1>{_named('r1d1', _DAY)}{_TO}{_named('r1d2', _DAY)}\s+(?:of\s+)?"
            rf"{_named('r1m', _MONTH)}(?:,?\s+{_named('r1y', _YEAR)})?)",
            # November 1-3, 2026
            rf"(?P<r2>{_named('r2m', _MONTH)}\s+{_named('r2d1', _DAY)}{_TO}"
            rf"{_named('r2d2', _DAY)}(?:,?\s+{_named('r2y', _YEAR)})?)",
            # 5 November 2026, the 5th of November
            rf"(?P<dmy>(?:the\s+)?{_named('dmyd', _DAY)}\s+(?:of\s+)?{_named('dmym', _MONTH)}"
            rf"(?:,?\s+{_named('dmyy', _YEAR)})?)",
            # November 5, 2026
            rf"(?P<mdy>{_named('mdym', _MONTH)}\s+(?:the\s+)?{_named('mdyd', _DAY)}"
            rf"(?:,?\s+{_named('mdyy', _YEAR)})?)",
            # 2026-11-05
            r"(?P<iso>(?<![\d/.-])(?P<isoy>\d{4})-(?P<isom>\d{1,2})-(?P<isod>\d{1,2})(?![\d-]))",
            # 05/11/2026
            r"(?P<num>(?<![\d/.])(?P<numa>\d{1,2})(?P<numsep>[/.])(?P<numb>\d{1,2})(?P=numsep)"
            r"(?P<numy>\d{4}|\d{2})(?![\d/]))",
            # November 2026
            rf"(?P<my>{_named('mym', _MONTH)}\s+(?:of\s+)?{_named('myy', _YEAR)})",
        ]
    ),
    re.IGNORECASE,
)


_MAY_VERB = re.compile(
    r"(?<=[Mm]ay)\s+(?:not\s+)?(?:have|has|be|been|also|still|need|want|receive|see|get|find|"
    r"notice|experience|contact|wish|already)\b",
)


class Day(NamedTuple):
    """A date as a text gives it: the year or the day may be left out."""

    year: int | None
    month: int
    day: int | None


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    #: single: one day (or a month); range: (first, last); ambiguous: the possible readings.
    kind: Literal["single", "range", "ambiguous"]
    days: tuple[Day, ...]


def _month(token: str) -> int:
    return _MONTHS[token.lower()[:3]]


def _day_number(token: str) -> int:
    return int(re.sub(r"\D", "", token))


def _valid(year: int | None, month: int, day: int | None) -> bool:
    try:
        date(year or 2000, month, day or 1)
    except ValueError:
        return False
    return True


def _year(token: str | None) -> int | None:
    return int(token) if token else None


def find_dates(text: str) -> list[DateMention]:
    found: list[DateMention] = []
    for m in _DATE_RE.finditer(text):
        g = m.groupdict()
        days: tuple[Day, ...]
        kind: Literal["single", "range", "ambiguous"] = "single"
        if g["r1"] or g["r2"]:
            p = "r1" if g["r1"] else "r2"
            year, month = _year(g[f"{p}y"]), _month(g[f"{p}m"])
            first, last = _day_number(g[f"{p}d1"]), _day_number(g[f"{p}d2"])
            days = (Day(year, month, first), Day(year, month, last))
            kind = "range"
        elif g["dmy"] or g["mdy"]:
            p = "dmy" if g["dmy"] else "mdy"
            if g[f"{p}y"] is None and _MAY_VERB.match(text, m.end(f"{p}m")):
                continue  # "5 may have been", not 5 May
            days = (Day(_year(g[f"{p}y"]), _month(g[f"{p}m"]), _day_number(g[f"{p}d"])),)
        elif g["iso"]:
            days = (Day(int(g["isoy"]), int(g["isom"]), int(g["isod"])),)
        elif g["num"]:
            a, b, y = int(g["numa"]), int(g["numb"]), int(g["numy"])
            year = y + 2000 if y < 100 else y
            readings = {Day(year, b, a), Day(year, a, b)}
            days = tuple(sorted(r for r in readings if _valid(r.year, r.month, r.day)))
            kind = "ambiguous" if len(days) > 1 else "single"
        else:
            days = (Day(int(g["myy"]), _month(g["mym"]), None),)
        if not days or not all(_valid(*d) for d in days):
            continue
        if kind == "range" and days[1].day is not None and days[1].day <= (days[0].day or 0):
            continue
        found.append(DateMention(m.start(), m.end(), kind, days))
    return _inherit_years(text, found)


def _inherit_years(text: str, found: list[DateMention]) -> list[DateMention]:
    """'from 30 October to 2 November 2026': the first date takes the second's year."""
    out = list(found)
    for i in range(len(out) - 2, -1, -1):
        this, following = out[i], out[i + 1]
        if this.kind != "single" or this.days[0].year is not None:
            continue
        gap = text[this.end : following.start]
        year = following.days[-1].year
        if year is not None and re.fullmatch(_TO + r"|\s*,?\s*", gap, re.IGNORECASE):
            out[i] = DateMention(
                this.start, this.end, "single", (this.days[0]._replace(year=year),)
            )
    return out


def _same_day(said: Day, fact: date, *, yearless_ok: bool) -> bool:
    if said.month != fact.month or said.day != fact.day:
        return False
    return said.year == fact.year or (said.year is None and yearless_ok)


def _format_date(value: date) -> str:
    return f"{value.day} {_MONTH_NAMES[value.month - 1]} {value.year}"


# =================================================================================================
# Paragraphs and sentences
# =================================================================================================

_GREETING = re.compile(
    r"^(?:dear|hello|hi|hey|greetings|good\s+(?:morning|afternoon|evening)|"
    r"to\s+(?:our|all|the|whom|every)|attention|attn)\b",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(r"^(?:subject|re|from|to|date|sent|fwd?|cc)\s*:", re.IGNORECASE)


def _lines(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^\r\n]*", text) if m.group().strip()]


def _blocks(text: str) -> list[list[tuple[int, int]]]:
    """Runs of lines with no blank line between them."""
    blocks: list[list[tuple[int, int]]] = []
    previous_end = None
    for start, end in _lines(text):
        if previous_end is not None and text[previous_end:start].count("\n") <= 1:
            blocks[-1].append((start, end))
        else:
            blocks.append([(start, end)])
        previous_end = end
    return blocks


def _is_preamble(line: str) -> bool:
    """A greeting, a subject or e-mail header line, or a heading."""
    words = line.split()
    if _HEADER_LINE.match(line):
        return True
    if _GREETING.match(line) and len(words) <= 10 and line.rstrip()[-1:] in ",:!":
        return True
    if line.rstrip()[-1:] in ",:" and len(words) <= 6:
        return True
    if line.rstrip()[-1:] == "?" and len(words) <= 6:
        return True
    return len(words) <= 10 and line.rstrip()[-1:] not in ".!?\"'\u201d)"


def _hard_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    if len(lines) < 2 or max(e - s for s, e in lines) > 100:
        return False
    inner = [text[s:e].rstrip() for s, e in lines[:-1]]
    open_ended = sum(1 for line in inner if line[-1:] not in ".!?:")
    return open_ended * 2 > len(inner)


def first_paragraph(text: str) -> tuple[int, int] | None:
    """The span of the first paragraph after greetings, header lines and headings."""
    for block in _blocks(text):
        lines = list(block)
        while lines and _is_preamble(text[lines[0][0] : lines[0][1]].strip()):
            lines.pop(0)
        if not lines:
            continue
        start = lines[0][0]
        end = lines[-1][1] if _hard_wrapped(text, lines) else lines[0][1]
        start += len(text[start:end]) - len(text[start:end].lstrip())
        end -= len(text[start:end]) - len(text[start:end].rstrip())
        return start, end
    return None


def _sentence_start(text: str, pos: int) -> int:
    """Where the sentence holding ``pos`` starts. A line break ends a sentence only after a
    blank line or a heading: lines of a hard-wrapped paragraph run on."""
    cut = max(text.rfind(ch, 0, pos) for ch in ".!?")
    newline = text.rfind("\n", 0, pos)
    while newline > cut:
        line_start = text.rfind("\n", 0, newline) + 1
        line = text[line_start:newline].strip()
        if not line or _is_preamble(line):
            return newline + 1
        newline = line_start - 1
    return cut + 1


# =================================================================================================
# Checks
# =================================================================================================

_SKIP = (
    r"(?:your|the|their|our|any|all|of|some|a|an|customer|customers['\u2019]?|"
    r"customer['\u2019]s|member|members['\u2019]?|member['\u2019]s|user|users['\u2019]?|"
    r"account|personal|sensitive|full|complete|actual|basic|contact|stored|saved|registered)"
)
_SKIP_WORD = re.compile(rf"{_SKIP}\s+", re.IGNORECASE)
_CONNECTOR_SKIP = re.compile(
    rf"\s*(?:,\s*(?:and|or|nor)?|and|or|nor|&|as\s+well\s+as|plus)\s+(?:{_SKIP}\s+){{0,3}}",
    re.IGNORECASE,
)
_CONNECTOR = re.compile(
    r"\s*(?:,\s*(?:and|or|nor)?|and|or|nor|&|as\s+well\s+as|plus)\s+", re.IGNORECASE
)
_INVOLVED = (
    r"(?:involved|affected|accessed|exposed|taken|stolen|copied|viewed|included|impacted|"
    r"compromised|disclosed|obtained|shared|leaked|downloaded|breached|seen|at\s+risk|part\s+of)"
)
_SAFE = r"(?:safe|secure|protected|unaffected|untouched|intact)"
_ONLY = re.compile(
    r"\b(?:only|just|solely|exclusively|limited\s+to|restricted\s+to|nothing\s+but|"
    r"nothing\s+(?:more|else)\s+than)\s+",
    re.IGNORECASE,
)
_CONDITIONAL = re.compile(r"(?:if|unless|in\s+case|where|when|for\s+(?:those|anyone))\b", re.I)
_NOT_COUNTED = re.compile(
    r"\b(?:our|out\s+of|we\s+have|we\s+serve|total\s+of|of\s+all|serving)\s+$", re.I
)
#: One character of the same sentence (a single line break may be a hard wrap).
_IN_SENTENCE = r"(?:[^.;:!?\n]|\n(?!\s*\n))"
_NOT_ONLY = re.compile(r"\b(?:not|if)\s+$", re.IGNORECASE)
_THE_ONLY = re.compile(
    r"\bthe\s+only\s+(?:[\w'\u2019]+\s+){0,2}?(?:information|data|details|things?)\b"
    rf"{_IN_SENTENCE}{{0,80}}?\b(?:was|were|is|are)\s+",
    re.IGNORECASE,
)
_OTHER_NOUN = (
    r"(?:[\w'\u2019]+\s+){0,3}?(?:information|data|details)\b(?:\s*\([^)]{0,160}\))?"
    rf"{_IN_SENTENCE}{{0,40}}?"
)
_NOTHING_ELSE = re.compile(
    "|".join(
        [
            rf"\bnothing\s+else\s+(?:was|has\s+been|is|were)\s+(?:\w+\s+)?{_INVOLVED}\b",
            rf"\b(?:no|not\s+any|none\s+of\s+(?:the|your))\s+(?:other|further|additional)\s+"
            rf"{_OTHER_NOUN}\b(?:has|have|had|was|were|is|are)\s+(?:been\s+)?(?:\w+\s+)?"
            rf"{_INVOLVED}\b",
            rf"\b(?:all|any)?\s*other\s+{_OTHER_NOUN}\b(?:is|are|was|were|has\s+been|have\s+been|"
            rf"remains?|remained|stays?)\s+(?:(?:not|never)\s+(?:been\s+)?{_INVOLVED}|"
            rf"(?:[\w'\u2019]+\s+){{0,5}}?{_SAFE})\b",
        ]
    ),
    re.IGNORECASE,
)
_DENY_BEFORE = re.compile(
    r"\b(?:no|none\s+of|not\s+any|neither)\s+(?=\w)",
    re.IGNORECASE,
)
_DENY_VERB = re.compile(
    "|".join(
        [
            r"\b(?P<aux>did|does|do|will|would|could)\s*(?:not|n['\u2019]t)\s+(?:include|contain|"
            r"involve|affect|expose|collect|store|hold|keep|have|reveal|put\s+at\s+risk)\b",
            r"\bnever\s+(?:collect(?:ed)?|store[sd]?|h[oe]ld|keep|kept|had|have)\b",
            r"\b(?P<evidence>no\s+(?:evidence|indication|sign|suggestion|"
            r"reason\s+to\s+(?:believe|think)))\b(?:\s+(?:that|of))?",
        ]
    ),
    re.IGNORECASE,
)
_EVIDENCE_OF_ACCESS = re.compile(rf"\b(?:{_INVOLVED}|access|left|involved|involve)\b", re.I)
_WINDOW_END = re.compile(
    r"[.;:!?]|\n\s*\n|\b(?:but|only|except|however|although|though|while|whereas|because|"
    r"instead)\b",
    re.IGNORECASE,
)
_NEG_STATE = re.compile(
    "|".join(
        [
            r"\b(?:(?:was|were|is|are|has\s+been|have\s+been|had\s+been|has|have|had)\s+"
            r"(?:not|never)(?:\s+been)?|wasn['\u2019]t|weren['\u2019]t|isn['\u2019]t|"
            r"aren['\u2019]t|hasn['\u2019]t(?:\s+been)?|haven['\u2019]t(?:\s+been)?)\s+"
            rf"(?:[\w]+\s+)?{_INVOLVED}\b",
            rf"\b(?:remain|remains|remained|stay|stays|stayed|are|is|were|was|have\s+been|"
            rf"has\s+been)\s+(?:(?:still|now|completely|fully|totally|entirely|perfectly|always|"
            rf"very|kept|being\s+kept)\s+)*{_SAFE}\b",
        ]
    ),
    re.IGNORECASE,
)
_SUBJECT_GAP = re.compile(r"(?:[\s,]+[\w'\u2019]+){0,4}?\s+", re.IGNORECASE)
_GAP_BREAK = re.compile(
    r"\b(?:so|because|but|that|which|who|if|when|after|before|while|until|since|to|then)\b|,",
    re.IGNORECASE,
)
_ADVICE_CONTEXT = re.compile(
    r"\b(?:make\s+sure|ensure|check|keep|if|whether|unless|so\s+that|help|please|should|can)\b",
    re.IGNORECASE,
)
_APPROX = {
    "about": (0.9, 1.1),
    "around": (0.9, 1.1),
    "approximately": (0.9, 1.1),
    "approx": (0.9, 1.1),
    "approx.": (0.9, 1.1),
    "roughly": (0.9, 1.1),
    "some": (0.9, 1.1),
    "an estimated": (0.9, 1.1),
    "estimated": (0.9, 1.1),
    "close to": (0.9, 1.1),
    "just over": (0.9, 1.1),
    "nearly": (0.9, 1.0),
    "almost": (0.9, 1.0),
    "just under": (0.9, 1.0),
    "more than": (0.9, float("inf")),
    "over": (0.9, float("inf")),
    "well over": (0.9, float("inf")),
    "at least": (0.9, float("inf")),
    "upwards of": (0.9, float("inf")),
    "in excess of": (0.9, float("inf")),
    "less than": (0.0, 1.1),
    "fewer than": (0.0, 1.1),
    "under": (0.0, 1.1),
    "up to": (0.0, 1.1),
}
_WORD_NUMBERS = {
    "a": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "half a": 0.5,
}
_MULTIPLIERS = {
    "hundred": 100,
    "thousand": 1_000,
    "k": 1_000,
    "million": 1_000_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "billion": 1_000_000_000,
    "bn": 1_000_000_000,
}
_NUMBER = re.compile(
    rf"(?:(?<![\w])(?P<approx>{_alternation(_APPROX, plural=False)})\s+)?"
    r"(?:(?P<digits>(?<![\w$\u00a3\u20ac#/.,:+-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|"
    r"(?<![\w$\u00a3\u20ac#/.,:+-])\d+(?:\.\d+)?)"
    r"(?:\s+(?P<mult>hundred|thousand|million|billion)|(?P<short>k|m|mn|bn))?|"
    rf"(?P<word>(?<![\w-])(?:{'|'.join(sorted(_WORD_NUMBERS, key=len, reverse=True))}))\s+"
    r"(?P<wmult>hundred|thousand|million|billion))"
    r"(?![\w%]|\s*(?:%|percent|per\s+cent))",
    re.IGNORECASE,
)
_DISCOVERY_VERB = (
    r"(?:discovered|found\s+out|learned|learnt|became\s+aware|were\s+made\s+aware|"
    r"was\s+made\s+aware|were\s+alerted|were\s+notified|were\s+told|noticed|detected|identified|"
    r"first\s+saw|reali[sz]ed)"
)
_DISCOVERY_BEFORE_DATE = re.compile(
    rf"(?:\b(?:we|i)|\bour(?:\s+[\w'\u2019]+){{1,2}}|\b(?:breach|incident|attack|intrusion|"
    rf"leak|issue|problem|it|this)\s+(?:was|were))\s+(?:(?:first|only|then|later)\s+)?"
    rf"{_DISCOVERY_VERB}(?P<mid>(?:\s+[\w'\u2019]+){{0,4}}?)\s+(?:on|in)\s+"
    rf"(?:{_WEEKDAY})?(?:the\s+)?$",
    re.IGNORECASE,
)
_DISCOVERY_AFTER_DATE = re.compile(
    r"^,?\s+(?:we|i|our\s+(?:[\w'\u2019]+\s+){0,2}?[\w'\u2019]+)\s+(?:first\s+)?"
    r"(?:discovered|found\s+out|learned|learnt|became\s+aware|were\s+made\s+aware|noticed|"
    r"realised|realized|were\s+alerted|were\s+told)\b",
    re.IGNORECASE,
)
_ON_BEFORE_DATE = re.compile(rf"\b(?:on|in)\s+(?:{_WEEKDAY})?(?:the\s+)?$", re.IGNORECASE)
_BLOCKED_MID = re.compile(
    r"\b(?:that|which|what|who|when|how|someone|had|has|have|was|were|been|occurred|happened|"
    r"began|started|between|from|since|until)\b",
    re.IGNORECASE,
)
# Lengths are bounded as the standards bound them (64 characters before the @, 63 per part of a
# domain name) and a phone number to 30 characters: unbounded, a long run of letters or digits
# was scanned to its end from each of its characters.
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}")
_URL = re.compile(
    r"\bhttps?://\S+|\bwww\.[\w-]{1,63}\.\S+|\b[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}/\S*",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w/-])\+?\(?\d[\d\s().\-]{6,30}\d(?![\w/-])")


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _short_label(category: Category) -> str:
    return category.label.split(",")[0].strip()


def _is_plural(phrase: str) -> bool:
    if " and " in phrase:
        return True
    head = re.split(r"\s(?:about|of|for|that|you|on|with|such|from)\s|,", phrase)[0].strip()
    last = re.sub(r"\([^)]*\)", "", head).split()[-1:] or [""]
    word = last[0].lower()
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def _were(phrase: str) -> str:
    return "were" if _is_plural(phrase) else "was"


def _labels(categories: Iterable[Category]) -> str:
    return _join(list(dict.fromkeys(_short_label(c) for c in categories)))


@dataclass
class _Context:
    text: str
    doc: FactsDocument
    words: Words
    today: date
    categories: tuple[Category, ...]
    findings: list[Finding] = field(default_factory=list)
    category_matchers: dict[str, Matcher] = field(init=False)
    classes: dict[str, TermClass] = field(init=False)
    mentions: list[Mention] = field(init=False)
    fact_ids: set[str] = field(init=False)
    dates: list[DateMention] = field(init=False)
    years_in_text: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.category_matchers = {c.id: category_matcher(c, self.words) for c in self.categories}
        self.classes = {f"class:{c.id}": c for c in self.words.classes}
        known = {m.key: m for m in _lexicon_matchers(self.words)}
        known.update(self.category_matchers)
        self.mentions = _find_mentions(self.text, [*known.values(), *_class_matchers(self.words)])
        self.fact_ids = {c.id for c in self.categories}
        self.dates = find_dates(self.text)
        self.years_in_text = {int(y) for y in re.findall(r"(?<!\d)(?:19|20)\d{2}(?!\d)", self.text)}

    # -- helpers ----------------------------------------------------------------------------------

    def add(
        self,
        rule: str,
        category: str,
        severity: Severity,
        span: tuple[int, int] | None,
        message: str,
        suggestion: str = "",
        explanation: str = "",
    ) -> None:
        start, end = span or (0, 0)
        self.findings.append(
            Finding(
                rule=rule,
                category=category,
                severity=severity,
                start=start,
                end=end,
                text=self.text[start:end],
                message=message,
                suggestion=suggestion,
                explanation=explanation,
            )
        )

    def covered(self, keys: Iterable[str], *, broad: bool = False) -> set[str]:
        """Fact category ids that these mentioned keys name (classes cover by flags)."""
        out: set[str] = set()
        for key in keys:
            term_class = self.classes.get(key)
            if term_class is None:
                out.add(key)
            elif broad or not term_class.broad:
                out |= {c.id for c in self.categories if term_class.covers(c)}
        return out & self.fact_ids

    def mentions_at(self, pos: int) -> list[Mention]:
        return [m for m in self.mentions if m.start == pos]

    def mentions_after_skip(self, pos: int) -> tuple[list[Mention], int]:
        """Mentions starting at ``pos`` or after up to three words such as "your", "customer"
        ("your personal information": "personal" is skipped only if nothing starts there)."""
        for _ in range(4):
            here = self.mentions_at(pos)
            if here:
                return here, pos
            skip = _SKIP_WORD.match(self.text, pos)
            if skip is None:
                break
            pos = skip.end()
        return [], pos

    def list_at(self, pos: int) -> tuple[list[Mention], int]:
        """The data named in a list starting at ``pos`` ("your names, email addresses and ...")."""
        items: list[Mention] = []
        end = pos
        at = pos
        while True:
            here, at = self.mentions_after_skip(at)
            if not here:
                break
            end = max(m.end for m in here)
            items += here
            for m in self.mentions:  # overlapping words: "payment card details"
                if at < m.start < end:
                    items.append(m)
                    end = max(end, m.end)
            nxt = _CONNECTOR.match(self.text, end)
            if nxt is None:
                break
            at = nxt.end()
        return items, end

    def yearless_ok(self, year: int) -> bool:
        return year == self.today.year or year in self.years_in_text

    def category_named(self, category: Category) -> bool:
        return any(m.key == category.id for m in self.mentions)


# -- 1. data categories named ---------------------------------------------------------------------


def _check_categories(ctx: _Context) -> None:
    for category in ctx.categories:
        if ctx.category_named(category):
            continue
        label = _short_label(category)
        ctx.add(
            "facts.category-not-named",
            "missing-element",
            "error",
            None,
            f"The notice does not say that {label} {_were(label)} involved.",
            f"The information involved was [{category.label}].",
            "Readers can only protect themselves if they know exactly which of their "
            "information was involved. Name each kind in plain words.",
        )


# -- 2. dates given -------------------------------------------------------------------------------


def _date_given(ctx: _Context, value: date) -> tuple[bool, str]:
    """Whether the text gives this date; else a note about an ambiguous numeric form."""
    yearless = ctx.yearless_ok(value.year)
    for mention in ctx.dates:
        if mention.kind == "ambiguous":
            continue
        if any(_same_day(d, value, yearless_ok=yearless) for d in mention.days):
            return True, ""
    for mention in ctx.dates:
        if mention.kind == "ambiguous" and any(
            _same_day(d, value, yearless_ok=yearless) for d in mention.days
        ):
            said = ctx.text[mention.start : mention.end]
            return False, (
                f' "{said}" could be read as more than one date: write the month as a word.'
            )
    return False, ""


def _check_dates(ctx: _Context) -> None:
    wh = ctx.doc.facts.what_happened
    explanation = (
        "Dates let readers connect the incident to anything odd they noticed, "
        "and show how quickly you acted."
    )
    if ctx.doc.known("what_happened.occurred", wh.occurred) and wh.occurred is not None:
        start, end = wh.occurred.start, wh.occurred.end
        has_start, note_start = _date_given(ctx, start)
        has_end, note_end = (has_start, note_start) if start == end else _date_given(ctx, end)
        if start == end and not has_start:
            message = f"The notice does not say when it happened ({_format_date(start)})."
            suggestion = f"This happened on [{_format_date(start)}]."
        elif not has_start and not has_end:
            message = (
                f"The notice does not say when it happened "
                f"({_format_date(start)} to {_format_date(end)})."
            )
            suggestion = f"This happened between [{_format_date(start)}] and [{_format_date(end)}]."
        elif not has_start:
            message = f"The notice does not say when it started ({_format_date(start)})."
            suggestion = f"It started on [{_format_date(start)}]."
        elif not has_end:
            message = f"The notice does not say when it ended ({_format_date(end)})."
            suggestion = f"It went on until [{_format_date(end)}]."
        else:
            message = ""
        if message:
            note = note_start or note_end
            ctx.add(
                "facts.date-not-given",
                "missing-element",
                "warning",
                None,
                message + note,
                suggestion,
                explanation,
            )
    found = wh.discovered
    if ctx.doc.known("what_happened.discovered", found) and found is not None:
        has, note = _date_given(ctx, found)
        if not has:
            ctx.add(
                "facts.date-not-given",
                "missing-element",
                "warning",
                None,
                f"The notice does not say when you found out ({_format_date(found)})." + note,
                f"We found out on [{_format_date(found)}].",
                explanation,
            )


# -- 3. contact route and steps -------------------------------------------------------------------


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _phone_in(text: str, phone: str) -> bool:
    digits = _digits(phone)
    if len(digits) < 6:
        return phone.strip().lower() in text.lower()
    tail = digits[-9:]
    pattern = r"[\s().\-]{0,3}".join(tail)
    return re.search(rf"{pattern}(?!\d)", text) is not None


def _email_in(text: str, email: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(email)}(?![\w-])", text, re.IGNORECASE) is not None


def _web_in(text: str, url: str) -> bool:
    bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.strip(), flags=re.IGNORECASE).rstrip("/")
    if not bare:
        return False
    pattern = rf"(?<![\w.-])(?:https?://)?(?:www\.)?{re.escape(bare)}/?(?![\w/-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _postal_in(text: str, postal: str) -> bool:
    first = next((line.strip() for line in postal.splitlines() if line.strip()), "")
    if not first:
        return False
    flat = " ".join(text.split()).lower()
    return " ".join(first.split()).lower().rstrip(",") in flat


def _any_contact(text: str) -> bool:
    if _EMAIL.search(text) or _URL.search(text):
        return True
    return any(len(_digits(m.group())) >= 9 for m in _PHONE.finditer(text))


def _check_contact(ctx: _Context) -> None:
    contact = ctx.doc.facts.next_steps.contact or Contact()
    checks = [
        ("next_steps.contact.phone", contact.phone, _phone_in, "call us on"),
        ("next_steps.contact.email", contact.email, _email_in, "email"),
        ("next_steps.contact.web", contact.web, _web_in, "visit"),
        ("next_steps.contact.postal", contact.postal, _postal_in, "write to"),
    ]
    given = [(v, found, verb) for path, v, found, verb in checks if ctx.doc.known(path, v) and v]
    if given:
        if any(found(ctx.text, value) for value, found, _ in given):
            return
        routes = [f"{verb} [{' '.join(value.split())}]" for value, _, verb in given]
        routes = [", ".join(routes[:-1]) + " or " + routes[-1]] if len(routes) > 1 else routes
        message = "The notice does not give any of your contact details from the checklist."
        suggestion = f"If you have questions, {_join(routes)}."
    else:
        if _any_contact(ctx.text):
            return
        message = "The notice does not tell readers how to contact you."
        suggestion = "If you have questions, call us on [PHONE] or email [EMAIL]."
    ctx.add(
        "facts.contact-missing",
        "missing-element",
        "error",
        None,
        message,
        suggestion,
        "Readers will have questions. Give them a phone number, email address or web page "
        "that is about this incident.",
    )


@cache
def _steps_regexes(
    step_headings: tuple[str, ...], step_actions: tuple[str, ...]
) -> tuple[re.Pattern[str], re.Pattern[str]]:
    headings = re.compile(
        rf"^[\s#*\-\u2022]{{0,40}}+(?:{_alternation(step_headings, plural=False)})\b[^\n]{{0,40}}$",
        re.IGNORECASE | re.MULTILINE,
    )
    action = rf"(?:{_alternation(step_actions, plural=False)})\b(?!\s+us\b)"
    lead = (
        # At most 40 characters of bullets and spaces, never given back (what follows starts
        # with a letter): unbounded, a run of dots or blank lines was scanned to its end from
        # each of its characters, a time growing with the square of its length.
        r"(?:(?:^|(?<=[.!?:;]))[\s\-*\u2022\d.)]{0,40}+(?:(?:please|also|now|first|always|then|and)\s+)*"
        r"|\bplease\s+(?:do\s+)?|\byou\s+(?:should|can|could|must|need\s+to|may\s+want\s+to|"
        r"might\s+want\s+to|may\s+wish\s+to)\s+(?:also\s+)?|"
        r"\b(?:we|i)\s+(?:(?:strongly|also|would)\s+)*(?:recommend|advise|encourage|urge|suggest|"
        r"ask)\s+(?:that\s+)?(?:you|customers|members|users|all\s+\w+)\s+(?:to\s+)?)"
    )
    return headings, re.compile(lead + action, re.IGNORECASE | re.MULTILINE)


def _key_phrases(actions: str) -> list[str]:
    out = []
    for sentence in re.split(r"[.!?\n]+", actions):
        words = re.findall(r"[\w'\u2019]+", sentence)
        if len(words) >= 2:
            out.append(" ".join(words[:4]).lower())
    return out


def _check_steps(ctx: _Context) -> None:
    headings, actions = _steps_regexes(ctx.words.step_headings, ctx.words.step_actions)
    if headings.search(ctx.text) or actions.search(ctx.text):
        return
    flat = " ".join(re.findall(r"[\w'\u2019]+", ctx.text)).lower()
    wanted = ctx.doc.facts.next_steps.customer_actions
    if (
        ctx.doc.known("next_steps.customer_actions", wanted)
        and wanted
        and any(phrase in flat for phrase in _key_phrases(wanted))
    ):
        return
    ctx.add(
        "facts.steps-missing",
        "missing-element",
        "warning",
        None,
        "The notice does not tell readers what they can do to protect themselves.",
        "What you can do: [STEP].",
        "Concrete steps (change a password, watch for fake emails, call the bank) are the most "
        "useful part of a notice for the reader.",
    )


# -- 4. facts first -------------------------------------------------------------------------------


def _check_facts_first(ctx: _Context) -> None:
    span = first_paragraph(ctx.text)
    if span is None:
        return
    start, end = span
    incident = _phrase_regex(ctx.words.incident_words)
    says_what = incident.search(ctx.text, start, end) is not None
    says_data = any(
        start <= m.start
        and m.end <= end
        and not (m.key in ctx.classes and ctx.classes[m.key].broad)
        for m in ctx.mentions
    )
    if says_what and says_data:
        return
    if not says_what and not says_data:
        missing = "what happened or which information was involved"
    elif not says_what:
        missing = "what happened"
    else:
        missing = "which information was involved"
    ctx.add(
        "facts.facts-not-first",
        "structure",
        "warning",
        span,
        f"Start with the facts: the first paragraph does not say {missing}.",
        "On [DATE], [WHO] [copied/viewed] [DATA].",
        "Readers decide in the first lines whether the notice matters to them. Say what "
        "happened and which of their information was involved before anything else.",
    )


# -- 5. contradictions ----------------------------------------------------------------------------


def _in_spans(pos: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(s <= pos < e for s, e in spans)


def _check_only(ctx: _Context) -> None:
    if not ctx.categories:
        return
    seen: set[int] = set()
    for regex in (_THE_ONLY, _ONLY):
        for m in regex.finditer(ctx.text):
            items, end = ctx.list_at(m.end())
            if not items or m.start() in seen or _NOT_ONLY.search(ctx.text, 0, m.start()):
                continue
            keys = {i.key for i in items}
            if any(k in ctx.classes and ctx.classes[k].any for k in keys):
                continue
            seen |= set(range(m.start(), end))
            named = ctx.covered(keys)
            missing = [c for c in ctx.categories if c.id not in named]
            if not missing:
                continue
            labels = _labels(missing)
            ctx.add(
                "facts.only-contradicts",
                "consistency",
                "error",
                (m.start(), end),
                f"This leaves out {labels}, which the checklist says {_were(labels)} involved.",
                f"The information involved was [{_join([c.label for c in ctx.categories])}].",
                "A notice that understates what was involved can stop readers taking the "
                "steps they need, and regulators treat it as misleading.",
            )


def _denial_spans(ctx: _Context) -> list[tuple[int, int, set[str]]]:
    """Spans of text that deny data was involved, with the mentioned keys denied."""
    out: list[tuple[int, int, set[str]]] = []
    text = ctx.text
    for m in _DENY_BEFORE.finditer(text):
        items, end = ctx.list_at(m.end())
        if items:
            out.append((m.start(), end, {i.key for i in items}))
    for m in _DENY_VERB.finditer(text):
        if m.group("aux"):
            prefix = text[_sentence_start(text, m.start()) : m.start()].strip().lower()
            if not prefix or re.search(r"\b(?:please|you|i)$", prefix):
                continue  # advice ("Do not include your password") or about the reader
        stop = _WINDOW_END.search(text, m.end())
        limit = stop.start() if stop else len(text)
        words = list(re.finditer(r"\S+", text[m.end() : limit]))
        if len(words) > 10:
            limit = m.end() + words[9].end()
        items = [i for i in ctx.mentions if m.end() <= i.start and i.end <= limit]
        if m.group("evidence") and not _EVIDENCE_OF_ACCESS.search(text, m.end(), limit):
            continue  # "no evidence that your card details have been misused" is about misuse
        if items:
            out.append((m.start(), max(i.end for i in items), {i.key for i in items}))
    for m in _NEG_STATE.finditer(text):
        sentence = _sentence_start(text, m.start())
        before = [i for i in ctx.mentions if sentence <= i.start and i.end <= m.start()]
        if not before:
            continue
        last_end = max(i.end for i in before)
        gap = text[last_end : m.start()]
        if not _SUBJECT_GAP.fullmatch(gap) or _GAP_BREAK.search(gap):
            continue
        subject = [i for i in before if i.end == last_end]
        first = min(i.start for i in subject)
        while True:  # walk back over "names, email addresses and passwords"
            prev = [
                i
                for i in before
                if i.end <= first and _CONNECTOR_SKIP.fullmatch(text[i.end : first])
            ]
            if not prev:
                break
            subject += prev
            first = min(i.start for i in prev)
        if _ADVICE_CONTEXT.search(text[sentence:first]):
            continue
        out.append((first, m.end(), {i.key for i in subject}))
    return out


def _check_denials(ctx: _Context) -> list[tuple[int, int]]:
    """Flag denials of data the facts list; return every denial span (for the other checks)."""
    spans = sorted(_denial_spans(ctx))
    merged: list[tuple[int, int, set[str]]] = []
    for start, end, keys in spans:
        if merged and start < merged[-1][1]:
            s, e, k = merged[-1]
            merged[-1] = (s, max(e, end), k | keys)
        else:
            merged.append((start, end, set(keys)))
    for start, end, keys in merged:
        sentence = ctx.text[_sentence_start(ctx.text, start) : start]
        if _CONDITIONAL.match(sentence.strip()):
            continue  # "If you only shopped as a guest, we do not hold a password for you."
        denied = ctx.covered(keys, broad=True)
        conflicting = [c for c in ctx.categories if c.id in denied]
        if not conflicting:
            continue
        labels = _labels(conflicting)
        ctx.add(
            "facts.denial-contradicts",
            "consistency",
            "error",
            (start, end),
            f"The checklist says {labels} {_were(labels)} involved; this says otherwise.",
            f"The information involved was [{_join([c.label for c in conflicting])}].",
            "A notice must not deny what the incident record says. If the facts are wrong, "
            "correct the checklist first.",
        )
    return [(s, e) for s, e, _ in merged]


def _check_nothing_else(ctx: _Context, denials: list[tuple[int, int]]) -> None:
    if not ctx.categories:
        return
    for m in _NOTHING_ELSE.finditer(ctx.text):
        start = m.start() + len(m.group()) - len(m.group().lstrip())
        before = [i.key for i in ctx.mentions if i.end <= start and not _in_spans(i.start, denials)]
        named = ctx.covered(before)
        missing = [c for c in ctx.categories if c.id not in named]
        if not missing:
            continue
        labels = _labels(missing)
        ctx.add(
            "facts.nothing-else-contradicts",
            "consistency",
            "error",
            (start, m.end()),
            f"The checklist says {labels} {_were(labels)} involved too, and the notice has not "
            "said so.",
            f"The information involved was [{_join([c.label for c in ctx.categories])}].",
            "Saying nothing else was involved, when more was, leaves readers unprotected.",
        )


def _number_value(m: re.Match[str]) -> tuple[float, float] | None:
    """The number and the rounding it allows: "2.3 million" is 2.25 to 2.35 million (at most
    10% either way); a bare number ending in two or more zeros may be 5% out; others are exact."""
    if m.group("word"):
        value = _WORD_NUMBERS[" ".join(m.group("word").lower().split())]
        unit = _MULTIPLIERS[m.group("wmult").lower()]
        return value * unit, min(unit / 2, value * unit * 0.1)
    raw = m.group("digits").replace(",", "")
    mult_word = m.group("mult") or m.group("short")
    if not mult_word:
        if "." in raw:
            return None
        value = float(raw)
        if m.group("approx") is None and "," not in m.group("digits") and 1900 <= value <= 2099:
            return None  # a year
        trailing = len(raw) - len(raw.rstrip("0"))
        return value, (value * 0.05 if trailing >= 2 else 0.0)
    unit = _MULTIPLIERS[mult_word.lower()]
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    value = float(raw) * unit
    return value, min(unit * 10**-decimals / 2, value * 0.1)


def _noun_kind(ctx: _Context, pos: int) -> tuple[str, int] | None:
    """'people', 'records' or 'either' when a counted noun follows within 3 words."""
    nouns = {
        "people": ctx.words.people_nouns,
        "records": ctx.words.record_nouns,
        "either": ctx.words.either_nouns,
    }
    follow = re.match(
        r"(?:[^\S\n]+(?:of\s+)?(?:our|your|the|their|its)?\s*[\w'\u2019-]+){1,3}", ctx.text[pos:]
    )
    if follow is None:
        return None
    window = follow.group()
    cut = re.search(
        r"\b(?:and|or|but|to|in|at|on|by|from|with|were|was|are|is|have|has)\b|\d",
        window,
        re.IGNORECASE,
    )
    if cut:
        window = window[: cut.start()]
    best: tuple[str, int] | None = None
    for kind, terms in nouns.items():
        if not terms:
            continue
        for hit in _phrase_regex(terms, plural=False).finditer(window):
            if best is None or hit.end() > best[1] - pos:
                best = (kind, pos + hit.end())
    return best


def _format_count(count: Count) -> str:
    if count.min == count.max:
        return f"{count.min:,}"
    return f"{count.min:,} to {count.max:,}"


def _check_counts(ctx: _Context) -> None:
    data = ctx.doc.facts.data
    people = (
        data.people_affected
        if ctx.doc.known("data.people_affected", data.people_affected)
        else None
    )
    records = (
        data.records_affected
        if ctx.doc.known("data.records_affected", data.records_affected)
        else None
    )
    if people is None and records is None:
        return
    date_spans = [(d.start, d.end) for d in ctx.dates]
    for m in _NUMBER.finditer(ctx.text):
        number_start = m.start("digits") if m.group("digits") else m.start("word")
        if _in_spans(number_start, date_spans) or _NOT_COUNTED.search(
            ctx.text, max(0, m.start() - 20), m.start()
        ):
            continue  # a date, or the size of the customer base ("our 2 million customers")
        parsed = _number_value(m)
        noun = _noun_kind(ctx, m.end())
        if parsed is None or noun is None:
            continue
        value, rounding = parsed
        low_factor, high_factor = _APPROX.get(
            " ".join((m.group("approx") or "").lower().split()), (1.0, 1.0)
        )
        low, high = value * low_factor - rounding, value * high_factor + rounding
        kind, end = noun
        ranges = {"people": [people], "records": [records], "either": [people, records]}[kind]
        known = [c for c in ranges if c is not None]
        if not known or any(low <= c.max and c.min <= high for c in known):
            continue
        fact = known[0]
        what = "people are" if fact is people else "records are"
        ctx.add(
            "facts.count-contradicts",
            "consistency",
            "error",
            (m.start(), end),
            f"The checklist says {_format_count(fact)} {what} affected.",
            f"[{_format_count(fact)}] {'people' if fact is people else 'records'}",
            "A number that differs from the incident record will be quoted back to you by "
            "readers, journalists and regulators.",
        )


def _is_discovery_date(ctx: _Context, mention: DateMention) -> bool:
    text = ctx.text
    sentence = _sentence_start(text, mention.start)
    before = text[max(sentence, mention.start - 120) : mention.start]
    hit = _DISCOVERY_BEFORE_DATE.search(before)
    if hit and not _BLOCKED_MID.search(hit.group("mid")):
        return True
    after = text[mention.end : mention.end + 80]
    return bool(_ON_BEFORE_DATE.search(before) and _DISCOVERY_AFTER_DATE.match(after))


def _agrees(mention: DateMention, fact: date) -> bool:
    def matches(day: Day) -> bool:
        if day.month != fact.month or (day.year is not None and day.year != fact.year):
            return False
        return day.day is None or day.day == fact.day

    if mention.kind == "range":
        first, last = mention.days
        year = first.year or fact.year
        try:
            return (
                date(year, first.month, first.day or 1)
                <= fact
                <= date(last.year or year, last.month, last.day or 28)
            )
        except ValueError:
            return False
    return any(matches(d) for d in mention.days)


def _check_discovered(ctx: _Context) -> None:
    found = ctx.doc.facts.what_happened.discovered
    if found is None or not ctx.doc.known("what_happened.discovered", found):
        return
    for mention in ctx.dates:
        if not _is_discovery_date(ctx, mention) or _agrees(mention, found):
            continue
        ctx.add(
            "facts.discovered-date-contradicts",
            "consistency",
            "error",
            (mention.start, mention.end),
            f"The checklist says you found out on {_format_date(found)}.",
            f"[{_format_date(found)}]",
            "A date that differs from the incident record will be questioned by readers and "
            "regulators, who compare it with when you told them.",
        )


# =================================================================================================
# Entry point
# =================================================================================================


def check_against_facts(
    text: str, facts: Mapping[str, Any], *, today: date | None = None
) -> list[Finding]:
    """Findings for ``text`` against the facts document ``facts`` (docs/facts.md).

    ``today`` is the date the notice is written (default: today); a day and month without a year
    ("on 5 November") counts as a fact's date in that year. Raises FactsError when ``facts`` is
    not a facts document.
    """
    doc = parse_facts(facts)
    categories: tuple[Category, ...] = ()
    if doc.known("data.categories", doc.facts.data.categories):
        categories = doc.facts.data.categories or ()
    ctx = _Context(text, doc, load_words(), today or date.today(), categories)
    _check_categories(ctx)
    _check_dates(ctx)
    _check_contact(ctx)
    _check_steps(ctx)
    _check_facts_first(ctx)
    denials = _check_denials(ctx)
    _check_only(ctx)
    _check_nothing_else(ctx, denials)
    _check_counts(ctx)
    _check_discovered(ctx)
    return sorted(ctx.findings, key=lambda f: (f.start, f.end, f.rule))
