"""Dates as a text gives them: "5 November 2026", "November 1-3", "05/11/2026", "November 2026"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal, NamedTuple

from composer.lint.factcheck.phrases import HYPHENS

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
_MONTH = (
    r"(?:(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december)(?![a-z])|(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)(?:\.|(?![a-z])))"
)
_DAY = r"(?<![\d.,])[0-3]?\d(?:st|nd|rd|th)?(?![\d,]\d)"
_YEAR = r"(?:19|20)\d{2}(?!\d)"
_TO = rf"(?:\s*[{HYPHENS}\u2014]\s*|\s+(?:to|and|until|till|through|thru)\s+(?:the\s+)?)"
WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+"


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


def same_day(said: Day, fact: date, *, yearless_ok: bool) -> bool:
    if said.month != fact.month or said.day != fact.day:
        return False
    return said.year == fact.year or (said.year is None and yearless_ok)
