"""The lines a letter's envelope needs: a country line for letters abroad, US city, state and
ZIP on one line, and a return address that fits the window, with no text under 10pt."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from composer import create_app
from composer.notices.drafting import Draft
from composer.rendering.address import UnknownCountry, envelope_lines
from composer.rendering.errors import RecipientError
from composer.rendering.merge_fields import Recipient
from composer.rendering.pdf import html_to_pdf, letter_html
from composer.settings import letter_home_country
from tests.conftest import base_config
from tests.rendering.notice_samples import MM, Word, generated_draft, pdf_text, pdf_words

SF = ("1 Market St", "Suite 300", "San Francisco", "94105")

#: (address lines, country, us_state, home country, the lines printed under the name).
EXAMPLES = [
    # The letter: a Jersey company writing to San Francisco.
    (SF, "US", "CA", "JE", (*SF[:2], "San Francisco, CA 94105", "UNITED STATES")),
    # A UK company, the state in its own column or in the lines; never twice.
    (SF, "US", "CA", "GB", (*SF[:2], "San Francisco, CA 94105", "UNITED STATES")),
    (
        ("1 Market St", "San Francisco", "CA", "94105"),
        "US",
        "CA",
        "GB",
        ("1 Market St", "San Francisco, CA 94105", "UNITED STATES"),
    ),
    (
        ("1 Market St", "San Francisco, CA 94105-1234"),
        "US",
        "CA",
        "GB",
        ("1 Market St", "San Francisco, CA 94105-1234", "UNITED STATES"),
    ),
    (
        ("1 Market St", "San Francisco, CA", "94105"),
        "US",
        "",
        "GB",
        ("1 Market St", "San Francisco, CA 94105", "UNITED STATES"),
    ),
    # A state spelt out on its own line becomes its USPS code; the lines win over the column.
    (
        ("1 Market St", "San Francisco", "California", "94105"),
        "US",
        "",
        "US",
        ("1 Market St", "San Francisco, CA 94105"),
    ),
    (
        ("1 Market St", "San Francisco", "CA", "94105"),
        "US",
        "NV",
        "US",
        ("1 Market St", "San Francisco, CA 94105"),
    ),
    # Cities named like states stay cities.
    (
        ("350 5th Ave", "New York", "10118"),
        "US",
        "NY",
        "US",
        ("350 5th Ave", "New York, NY 10118"),
    ),
    (
        ("1600 Pennsylvania Ave NW", "Washington", "20500"),
        "US",
        "DC",
        "US",
        ("1600 Pennsylvania Ave NW", "Washington, DC 20500"),
    ),
    # No ZIP: the state still follows the city.
    (("1 Main St", "Austin"), "US", "TX", "US", ("1 Main St", "Austin, TX")),
    # A US company writing to the UK: the lines as given, the country last.
    (
        ("10 Downing Street", "London", "SW1A 2AA"),
        "GB",
        "",
        "US",
        ("10 Downing Street", "London", "SW1A 2AA", "UNITED KINGDOM"),
    ),
    # At home, or with no country: no country line.
    (("10 Downing Street", "London", "SW1A 2AA"), "GB", "", "GB", None),
    (("10 Downing Street", "London", "SW1A 2AA"), "", "", "US", None),
    (SF, "US", "CA", "US", (*SF[:2], "San Francisco, CA 94105")),
    # Other countries keep their lines; a country already written last is not printed twice.
    (
        ("Unter den Linden 1", "10117 Berlin", "Germany"),
        "DE",
        "",
        "GB",
        ("Unter den Linden 1", "10117 Berlin", "GERMANY"),
    ),
    (
        ("1 Main St", "Washington", "DC", "20500", "U.S.A."),
        "US",
        "DC",
        "JE",
        ("1 Main St", "Washington, DC 20500", "UNITED STATES"),
    ),
    (("1 rue de Rivoli", "Paris"), "fr", "", "gb", ("1 rue de Rivoli", "Paris", "FRANCE")),
    # Hostile text is printed as typed (the letter's template escapes it).
    (
        ("<script>alert(1)</script>", "=cmd|' /C calc'!A0", "{{ 7*7 }}"),
        "CA",
        "",
        "GB",
        ("<script>alert(1)</script>", "=cmd|' /C calc'!A0", "{{ 7*7 }}", "CANADA"),
    ),
]


@pytest.mark.parametrize(("lines", "country", "state", "home", "expected"), EXAMPLES)
def test_envelope_lines(
    lines: tuple[str, ...],
    country: str,
    state: str,
    home: str,
    expected: tuple[str, ...] | None,
) -> None:
    got = envelope_lines(lines, country=country, us_state=state, home_country=home)
    assert got == (lines if expected is None else expected)


def test_an_unknown_country_code_is_refused_not_guessed() -> None:
    with pytest.raises(UnknownCountry, match="“ZZ” is not one we have a name for"):
        envelope_lines(("1 Main St",), country="ZZ", home_country="GB")
    # A recipient's country and state must be two-letter codes at all.
    for bad in ("<script>", "USA", "ß", "G B", "1A"):
        with pytest.raises(RecipientError, match="must be a two-letter code"):
            Recipient(postal_address=("1 Main St",), country=bad)
        with pytest.raises(RecipientError, match="must be a two-letter code"):
            Recipient(postal_address=("1 Main St",), country="US", us_state=bad)
    with pytest.raises(RecipientError, match="line break"):
        Recipient(postal_address=("1 Main St",), country="G\nB")
    assert Recipient(country=" de ", us_state="").country == "DE"


@pytest.mark.parametrize("value", ["UK", "ZZ", "", "GBR", "United Kingdom", 44, None])
def test_a_wrong_home_country_stops_start_up(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValueError, match="LETTER_HOME_COUNTRY must be the two-letter ISO 3166-1"):
        letter_home_country({"LETTER_HOME_COUNTRY": value})
    if value == "UK":
        with pytest.raises(ValueError, match="the United Kingdom is GB"):
            letter_home_country({"LETTER_HOME_COUNTRY": value})


def test_create_app_checks_the_home_country(tmp_path: Path) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(ValueError, match="LETTER_HOME_COUNTRY"):
        create_app({**config, "LETTER_HOME_COUNTRY": "XX"})
    app = create_app({**config, "LETTER_HOME_COUNTRY": " je "})
    assert letter_home_country(app.config) == "JE"
    assert letter_home_country({}) == "GB"


def test_hostile_lines_are_text_in_the_letter_html() -> None:
    recipient = Recipient(
        first_name="Ann",
        postal_address=("<img src=x onerror=alert(1)>", "{{ 7*7 }}", "Toronto ON M5V 2T6"),
        country="CA",
    )
    html = letter_html(
        Draft(subject="Notice", body="Dear {{ first_name }},\n"),
        recipient,
        company="Example Ltd",
        letter_date=date(2026, 12, 7),
        home_country="GB",
    )
    assert "&lt;img src=x onerror=alert(1)&gt;<br>{{ 7*7 }}<br>Toronto ON M5V 2T6<br>CANADA" in html
    assert "<img src=x" not in html


# The printed letter ----------------------------------------------------------------------------

#: Too long for one line of the window at 10pt: it must wrap, not run out of the window.
RETURN_ADDRESS = "Example Shop Ltd, 1 Castle Street, St Helier, Jersey JE2 3RT"
#: pdftotext's word boxes are about 1.117 x the font size for Liberation Sans, 1.16 for DejaVu:
#: 10pt text makes boxes of 11.17pt or more; 9.9pt would make 11.06pt.
MIN_BOX = 11.1

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)"
)


def _letter(recipient: Recipient, *, home: str) -> bytes:
    html = letter_html(
        generated_draft(),
        recipient,
        company="Example Shop Ltd",
        return_address=RETURN_ADDRESS,
        contact_lines=["0800 123 4567", "help@example.com", "example.com/notice"],
        letter_date=date(2026, 12, 7),
        home_country=home,
    )
    return html_to_pdf(html)


@pytest.fixture(scope="module")
def us_letter() -> bytes:
    """The issue's letter, from Jersey to San Francisco."""
    person = Recipient(
        first_name="Sam", last_name="Rivera", postal_address=SF, country="US", us_state="CA"
    )
    return _letter(person, home="JE")


@needs_poppler
def test_the_us_letter_has_state_zip_and_country(us_letter: bytes) -> None:
    text = pdf_text(us_letter)
    assert "San Francisco, CA 94105\nUNITED STATES\n" in text
    assert "CA 94105" in text


@needs_poppler
def test_no_text_on_the_letter_is_under_10pt(us_letter: bytes) -> None:
    words = pdf_words(us_letter)
    # Every part of the letter is there: letterhead contacts, return address, footer.
    seen = {w.text for w in words}
    assert {"0800", "help@example.com", "Helier,", "Page", "Shop"} <= seen
    small = [w for w in words if w.y_max - w.y_min < MIN_BOX]
    assert small == []


def _window_lines(pdf: bytes) -> list[list[Word]]:
    """The words in the envelope window's column of page 1, line by line, top to bottom."""
    lines: dict[int, list[Word]] = {}
    for w in pdf_words(pdf):
        if w.page == 1 and 40 * MM < w.y_min < 85 * MM and w.x_min < 110 * MM:
            lines.setdefault(round(w.y_min), []).append(w)
    return [line for _, line in sorted(lines.items())]


@needs_poppler
def test_the_return_address_wraps_inside_the_window(us_letter: bytes) -> None:
    lines = _window_lines(us_letter)
    sender = [w for line in lines[:2] for w in line]
    # Every word printed (none cut off), on two lines, within the window's width and height.
    assert " ".join(w.text for w in sender) == RETURN_ADDRESS
    for w in sender:
        assert w.x_min >= 20 * MM, w
        assert w.x_max <= 110 * MM, w
        assert w.y_min >= 45 * MM, w
        assert w.y_max <= 80 * MM, w
    assert [" ".join(w.text for w in line) for line in lines[2:]] == [
        "Sam Rivera",
        "1 Market St",
        "Suite 300",
        "San Francisco, CA 94105",
        "UNITED STATES",
    ]


@needs_poppler
def test_the_longest_address_abroad_stays_in_the_window() -> None:
    person = Recipient(
        first_name="Jörg",
        last_name="Müller",
        postal_address=(
            "c/o Schmidt GmbH",
            "Abteilung Einkauf",
            "Gebäude 7",
            "Unter den Linden 1",
            "10117 Berlin",
        ),
        country="DE",
    )
    pdf = _letter(person, home="GB")
    lines = _window_lines(pdf)
    assert [" ".join(w.text for w in line) for line in lines[2:]] == [
        "Jörg Müller",
        "c/o Schmidt GmbH",
        "Abteilung Einkauf",
        "Gebäude 7",
        "Unter den Linden 1",
        "10117 Berlin",
        "GERMANY",
    ]
    for w in [w for line in lines for w in line]:
        assert w.x_min >= 20 * MM, w
        assert w.x_max <= 110 * MM, w
        assert w.y_min >= 45 * MM, w
        assert w.y_max <= 80 * MM, w
    for w in [w for line in lines[2:] for w in line]:
        assert w.y_min >= 50 * MM, w  # the recipient's address: where every window shows it
