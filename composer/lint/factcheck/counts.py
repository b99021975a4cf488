"""The check for a number of people or records the facts contradict (``consistency``): numbers
in text ("2.3 million", "about 90,000", "fifty thousand") with the rounding they allow."""

from __future__ import annotations

import re

from composer.facts import Count
from composer.lint.factcheck.context import Context, in_spans
from composer.lint.factcheck.phrases import alternation, phrase_regex
from composer.support.formatting import format_number

_NOT_COUNTED = re.compile(
    r"\b(?:our|out\s+of|we\s+have|we\s+serve|total\s+of|of\s+all|serving)\s+$", re.I
)
#: One character of the same sentence (a single line break may be a hard wrap).

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
    rf"(?:(?<![\w])(?P<approx>{alternation(_APPROX, plural=False)})\s+)?"
    r"(?:(?P<digits>(?<![\w$\u00a3\u20ac#/.,:+-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|"
    r"(?<![\w$\u00a3\u20ac#/.,:+-])\d+(?:\.\d+)?)"
    r"(?:\s+(?P<mult>hundred|thousand|million|billion)|(?P<short>k|m|mn|bn))?|"
    rf"(?P<word>(?<![\w-])(?:{'|'.join(sorted(_WORD_NUMBERS, key=len, reverse=True))}))\s+"
    r"(?P<wmult>hundred|thousand|million|billion))"
    r"(?![\w%]|\s*(?:%|percent|per\s+cent))",
    re.IGNORECASE,
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


def _noun_kind(ctx: Context, pos: int) -> tuple[str, int] | None:
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
        for hit in phrase_regex(terms, plural=False).finditer(window):
            if best is None or hit.end() > best[1] - pos:
                best = (kind, pos + hit.end())
    return best


def _format_count(count: Count) -> str:
    if count.min == count.max:
        return format_number(count.min)
    return f"{format_number(count.min)} to {format_number(count.max)}"


def check_counts(ctx: Context) -> None:
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
        if in_spans(number_start, date_spans) or _NOT_COUNTED.search(
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
