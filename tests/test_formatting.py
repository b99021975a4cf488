"""``composer.support.formatting``: dates, times and numbers in the reader's language, the same
whatever the process's locale."""

from __future__ import annotations

import locale
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from composer.support.formatting import format_date, format_datetime, format_number

DAY = date(2026, 12, 7)
MOMENT = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("lang", "us", "expected"),
    [
        ("en", False, "7 December 2026"),
        ("en", True, "December 7, 2026"),
        ("en-GB", False, "7 December 2026"),
        ("en-US", False, "7 December 2026"),  # only ``us`` (US Letter paper) changes the order
        ("de", False, "7. Dezember 2026"),
        ("de-AT", True, "7. Dezember 2026"),
        ("fr", False, "7 décembre 2026"),
        ("fr-CA", False, "7 décembre 2026"),
        ("xx", False, "7 December 2026"),  # a language Babel lacks still gets a date
    ],
)
def test_dates_are_spelled_out_in_the_language(lang: str, us: bool, expected: str) -> None:
    assert format_date(DAY, lang, us=us) == expected


def test_english_dates_are_the_ones_the_app_always_wrote() -> None:
    months = [date(2026, m, d) for m in range(1, 13) for d in (1, 9, 28)]
    for day in months:
        assert format_date(day) == f"{day.day} {day:%B %Y}"
        assert format_date(day, us=True) == f"{day:%B} {day.day}, {day.year}"


@pytest.mark.parametrize(
    ("moment", "zone", "lang", "expected"),
    [
        (MOMENT, LONDON, "en", "7 Dec 2026, 14:05 GMT"),
        (datetime(2026, 7, 1, 14, 5, tzinfo=UTC), LONDON, "en", "1 Jul 2026, 15:05 BST"),
        (datetime(2026, 9, 3, 8, 0, tzinfo=UTC), LONDON, "en", "3 Sep 2026, 09:00 BST"),
        (MOMENT, ZoneInfo("America/New_York"), "en", "7 Dec 2026, 09:05 EST"),
        (MOMENT, ZoneInfo("Europe/Berlin"), "de", "07.12.2026, 15:05 CET"),
        (MOMENT, ZoneInfo("Europe/Paris"), "fr", "7 déc. 2026, 15:05 CET"),
    ],
)
def test_moments_are_shown_in_a_zone(
    moment: datetime, zone: ZoneInfo, lang: str, expected: str
) -> None:
    assert format_datetime(moment, zone, lang) == expected


@pytest.mark.parametrize(
    ("n", "lang", "expected"),
    [(4210, "en", "4,210"), (0, "en", "0"), (-1234567, "en", "-1,234,567"), (4210, "de", "4.210")],
)
def test_numbers_are_grouped_the_language_s_way(n: int, lang: str, expected: str) -> None:
    assert format_number(n, lang) == expected


@pytest.fixture
def german_process_locale() -> Iterator[None]:
    before = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, "de_DE.UTF-8")
    except locale.Error:
        pytest.skip("no de_DE.UTF-8 locale on this machine")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, before)


@pytest.mark.usefixtures("german_process_locale")
def test_the_process_locale_changes_nothing() -> None:
    assert format_date(DAY) == "7 December 2026"
    assert format_datetime(MOMENT, LONDON) == "7 Dec 2026, 14:05 GMT"
    assert format_number(4210) == "4,210"
