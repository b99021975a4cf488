"""The PDF letter, checked as a reader would: its text, where the address falls, how big the
type is, what it claims about itself, and that a render that runs away is stopped."""

from __future__ import annotations

import itertools
import os
import time
from datetime import date

import pytest

from composer.notices.drafting import Draft
from composer.rendering.child_process import run_with_time_limit
from composer.rendering.errors import MergeFieldError, RenderError, RenderTimeout, ResourceRefused
from composer.rendering.merge_fields import SAMPLE_RECIPIENT
from composer.rendering.pdf import Paper, letter_html, pdf_page_png, render_pdf
from tests.rendering.notice_samples import (
    COMPANY,
    HEADINGS_IN_DRAFT,
    HOSTILE,
    MM,
    PERSON,
    Word,
    generated_draft,
    pdf_info,
    pdf_objects,
    pdf_text,
    pdf_words,
)

RETURN_ADDRESS = "Example Shop Ltd, 1 High Street, Townsville, TS1 1AA"


@pytest.fixture(scope="module")
def letter() -> bytes:
    return render_pdf(
        generated_draft(),
        PERSON,
        company=COMPANY,
        return_address=RETURN_ADDRESS,
        contact_lines=["0800 123 4567", "help@example.com"],
        letter_date=date(2026, 11, 23),
    )


def test_text_has_every_heading_and_the_merged_fields(letter: bytes) -> None:
    text = pdf_text(letter)
    for heading in HEADINGS_IN_DRAFT:
        assert heading in text, heading
    assert "Dana, We lost control of your name" in " ".join(text.split())
    assert "Dear Dana," in text
    flat = " ".join(text.split())
    assert "We sent this to Dana Whitfield (dana.whitfield@example.org)." in flat
    assert "Your customer number is CUST-42817, Whitfield household." in flat
    assert "Your reference: CUST-42817" in text
    assert "23 November 2026" in text
    assert COMPANY in text
    assert "{{" not in text


def test_metadata_claims_pdf_ua_with_title_and_language(letter: bytes) -> None:
    info = pdf_info(letter)
    assert "Title:           Dana, We lost control of your name" in info
    assert f"Author:          {COMPANY}" in info
    assert "Tagged:          yes" in info
    assert "Page size:       595.276 x 841.89 pts (A4)" in info
    assert "PDF version:     1.7" in info
    xmp = pdf_info(letter, "-meta")
    assert 'pdfuaid:part="1"' in xmp
    objects = pdf_objects(letter)
    assert b"/Lang (en)" in objects
    assert b"/DisplayDocTitle true" in objects
    assert b"/MarkInfo <</Marked true>>" in objects
    for tag in (b"/H1", b"/H2", b"/L", b"/LI", b"/P", b"/Figure"):
        assert b"/S " + tag in objects, tag
    assert b"/Alt (Example Shop Ltd logo)" in objects


def test_address_sits_in_a_dl_envelope_window(letter: bytes) -> None:
    # DL window: about 20 mm from the left, 45-50 mm from the top, 90 x 35 mm. Whatever the
    # envelope, the address must be inside 20-110 mm across and 50-80 mm down; the return
    # address above it (two lines at 10pt here) may use the window's top 45-50 mm.
    words = [w for w in pdf_words(letter) if w.page == 1]
    # The longest address allowed at home: the name and five lines, under the return address.
    address = {"Dana", "Whitfield", "Flat", "3", "27", "Harbour", "Road", "Little", "Porthaven"}
    address |= {"Cornwall", "PH4", "7QT"}
    sender = set(RETURN_ADDRESS.split())
    boxes = [w for w in words if w.text in address | sender and 40 * MM < w.y_min < 85 * MM]
    assert {w.text for w in boxes} == address | sender
    for w in boxes:
        assert w.x_min >= 20 * MM, w
        assert w.x_max <= 110 * MM, w
        assert w.y_min >= (50 if w.text in address else 45) * MM, w
        assert w.y_max <= 80 * MM, w
    # Nothing else on the page strays into the window.
    window = [w for w in words if w.x_max > 20 * MM and w.x_min < 110 * MM]
    window = [w for w in window if w.y_max > 45 * MM and w.y_min < 85 * MM]
    assert {w.text for w in window} == address | sender


def _height_of(words: list[Word], first: str, second: str) -> float:
    """The box height of ``first`` where ``second`` follows it on the same line."""
    for a, b in itertools.pairwise(words):
        if (a.text, b.text) == (first, second) and abs(a.y_min - b.y_min) < 0.5:
            return a.y_max - a.y_min
    raise AssertionError(f"{first} {second} not found")


def test_type_sizes(letter: bytes) -> None:
    # pdftotext's word boxes are about 1.12 x the font size for Liberation Sans: body text at
    # 11pt makes boxes of 12.3pt; 10pt text would make 11.2pt.
    words = pdf_words(letter)
    body = _height_of(words, "Dear", "Dana,")
    assert body >= 11.4
    assert _height_of(words, "What", "happened") >= body * 1.2  # a section heading
    assert _height_of(words, "Dana,", "We") >= body * 1.5  # the title


def test_letter_paper_and_a_png_preview() -> None:
    draft = Draft(subject="Short notice", body="Dear {{ first_name }},\n\nShort.\n")
    pdf = render_pdf(draft, SAMPLE_RECIPIENT, company=COMPANY, paper=Paper.LETTER)
    assert "Page size:       612 x 792 pts (letter)" in pdf_info(pdf)
    assert "Pages:           1" in pdf_info(pdf)
    png = pdf_page_png(pdf, 1, resolution=60)
    assert png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (510, 660)  # 8.5 x 11 inches at 60 dpi
    with pytest.raises(RenderError, match="page 2"):
        pdf_page_png(pdf, 2)


def test_recipient_values_are_text_in_the_pdf() -> None:
    draft = Draft(subject="About {{ first_name }}", body="Dear {{ full_name }},\n\n{{ reference }}")
    html = letter_html(draft, HOSTILE, company="A & B")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<i>Main</i>" not in html
    text = pdf_text(render_pdf(draft, HOSTILE, company="A & B"))
    assert "Dear <script>alert(1)</script> {{ 7*7 }}," in text
    assert "<b>R&D</b>" in text
    assert "1 <i>Main</i> Street" in text
    assert "Springfield {% if %}" in text
    assert "49" not in text


def test_a_draft_cannot_bring_in_resources() -> None:
    draft = Draft(
        subject="S",
        body='<img src="file:///etc/passwd">\n\n![x](http://127.0.0.1:9/x.png)\n\n'
        '<link rel="attachment" href="file:///etc/passwd">\n',
    )
    text = pdf_text(render_pdf(draft, SAMPLE_RECIPIENT, company=COMPANY))
    assert '<img src="file:///etc/passwd">' in text
    assert '<link rel="attachment" href="file:///etc/passwd">' in text


def test_a_logo_outside_static_is_refused() -> None:
    draft = Draft(subject="S", body="B")
    with pytest.raises(ResourceRefused) as caught:
        render_pdf(draft, SAMPLE_RECIPIENT, company=COMPANY, logo="../composer/__init__.py")
    assert caught.value.url.endswith("/composer/__init__.py")
    with pytest.raises(ResourceRefused, match="file:///etc/passwd"):
        render_pdf(draft, SAMPLE_RECIPIENT, company=COMPANY, logo="/etc/passwd")


def test_unknown_merge_field_is_refused_before_rendering() -> None:
    with pytest.raises(MergeFieldError, match=r"Line 1 of the body: unknown merge field \{\{ pin"):
        render_pdf(Draft(subject="S", body="{{ pin }}"), SAMPLE_RECIPIENT, company=COMPANY)


def test_a_pathological_draft_times_out_quickly() -> None:
    rows = "\n".join(
        "| " + " | ".join(f"cell {r}.{c}" for c in range(8)) + " |" for r in range(4000)
    )
    header = "| " + " | ".join(f"h{c}" for c in range(8)) + " |\n|" + "---|" * 8 + "\n"
    draft = Draft(subject="Huge table", body=header + rows)
    start = time.monotonic()
    with pytest.raises(RenderTimeout, match="longer than 1 seconds") as caught:
        render_pdf(draft, SAMPLE_RECIPIENT, company=COMPANY, timeout=1)
    assert time.monotonic() - start < 5
    assert caught.value.seconds == 1


def test_the_worker_is_killed_at_the_time_limit_and_replaced() -> None:
    start = time.monotonic()
    with pytest.raises(RenderTimeout):
        run_with_time_limit(time.sleep, 60, timeout=0.5)
    assert time.monotonic() - start < 3
    # The next render gets a fresh worker.
    pdf = render_pdf(Draft(subject="S", body="B"), SAMPLE_RECIPIENT, company=COMPANY, timeout=30)
    assert pdf.startswith(b"%PDF-1.7")


def test_a_child_that_dies_is_an_error_not_a_hang() -> None:
    with pytest.raises(RenderError, match="stopped unexpectedly"):
        run_with_time_limit(os._exit, 3, timeout=10)
    assert run_with_time_limit(len, "four", timeout=10) == 4


@pytest.mark.parametrize(
    ("lang", "paper", "expected"),
    [
        ("en", Paper.A4, "23 November 2026"),
        ("en", Paper.LETTER, "November 23, 2026"),
        ("en-GB", Paper.A4, "23 November 2026"),
        ("de", Paper.A4, "23. November 2026"),
        ("fr", Paper.A4, "23 novembre 2026"),
        ("fr", Paper.LETTER, "23 novembre 2026"),
    ],
)
def test_the_letter_is_dated_in_its_language(lang: str, paper: Paper, expected: str) -> None:
    html = letter_html(
        generated_draft(),
        PERSON,
        company=COMPANY,
        paper=paper,
        letter_date=date(2026, 11, 23),
        lang=lang,
    )
    assert f'<p class="letter-meta">{expected}' in html
