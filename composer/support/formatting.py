"""Dates, times and numbers as readers see them, in the reader's language.

English is written out by hand ("7 December 2026", "7 Dec 2026, 14:05 GMT", "4,210") so it reads
the same whatever Babel's English data says (its British abbreviation of September is "Sept");
other languages come from Babel's CLDR data ("7. Dezember 2026", "7 décembre 2026"). Nothing
depends on the process's locale (``strftime``'s ``%B`` and ``%b`` do). A language Babel does not
know falls back to English, so a notice in any language still gets a date.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Final

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

_MONTHS: Final = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_ENGLISH: Final = Locale("en")


def format_date(value: date, lang: str = "en", *, us: bool = False) -> str:
    """``value`` spelled out in ``lang`` (a language tag: "en", "de", "fr-CA").

    English: "7 December 2026", or "December 7, 2026" with ``us`` (the order US readers expect;
    an English tag's region does not change it, only ``us`` does). Other languages: their long
    form, whatever ``us`` says.
    """
    locale = _locale(lang)
    if locale is None:
        month = _MONTHS[value.month - 1]
        return f"{month} {value.day}, {value.year}" if us else f"{value.day} {month} {value.year}"
    return babel_dates.format_date(value, "long", locale=locale)


def format_datetime(value: datetime, zone: tzinfo, lang: str = "en") -> str:
    """``value`` as a moment in ``zone``: "7 Dec 2026, 14:05 GMT" (24-hour clock, the zone's
    abbreviation as the time zone database gives it). Other languages write the date their
    medium way ("07.12.2026, 14:05 CET")."""
    local = value.astimezone(zone)
    locale = _locale(lang)
    if locale is None:
        day = f"{local.day} {_MONTHS[local.month - 1][:3]} {local.year}"
    else:
        day = babel_dates.format_date(local, "medium", locale=locale)
    return f"{day}, {local.hour:02d}:{local.minute:02d} {local.tzname() or ''}".rstrip()


def format_number(n: int | float | Decimal, lang: str = "en") -> str:
    """``n`` with the language's grouping and decimal signs: "4,210" in English, "4.210" in
    German. At most three decimal places."""
    return babel_numbers.format_decimal(n, locale=_locale(lang) or _ENGLISH)


@functools.lru_cache(maxsize=64)
def _locale(lang: str) -> Locale | None:
    """Babel's locale for a language tag; None for English and for languages Babel lacks."""
    tag = lang.strip().replace("-", "_")
    if not tag or tag.split("_")[0].lower() == "en":
        return None
    for candidate in (tag, tag.split("_")[0]):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return None
