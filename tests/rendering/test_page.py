"""The web-page version: standalone, accessible, addressed to nobody in particular."""

from __future__ import annotations

import re
from datetime import date

import pytest

from composer.notices.drafting import HEADINGS, Draft
from composer.rendering.errors import MergeFieldError, SubjectError
from composer.rendering.page import render_page
from tests.rendering.notice_samples import COMPANY, HANDWRITTEN, generated_draft


def test_a_standalone_accessible_page() -> None:
    html = render_page(generated_draft(), company=COMPANY, published=date(2026, 11, 23))
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta name="viewport"' in html
    assert "<title>customer, We lost control" in html
    assert len(re.findall(r"<h1[ >]", html)) == 1
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    assert '<main class="notice" id="notice">' in html
    assert "<header" in html
    assert "<footer>" in html
    assert '<time datetime="2026-11-23">23 November 2026</time>' in html
    # Standalone: styles inline, nothing loaded from elsewhere.
    assert "<style>" in html
    assert not re.search(r"<(link|script|img|iframe)\b", html)


def test_personal_fields_become_neutral_words() -> None:
    html = render_page(HANDWRITTEN, company=COMPANY)
    assert "<p>Dear customer,</p>" in html
    assert "Your reference is your reference number." in html
    assert "{{" not in html
    assert "lint-ignore" not in html
    text = render_page(generated_draft(), company=COMPANY)
    assert "We sent this to customer (your email address)." in text


def test_draft_text_and_company_are_escaped() -> None:
    html = render_page(
        Draft(subject="About <b>this</b>", body='<img src="file:///etc/passwd">\n'),
        company="A & B <script>",
    )
    assert "<img" not in html
    assert "&lt;img src=&quot;file:///etc/passwd&quot;&gt;" in html
    assert "About &lt;b&gt;this&lt;/b&gt;" in html
    assert "A &amp; B &lt;script&gt;" in html


def test_refusals() -> None:
    with pytest.raises(MergeFieldError):
        render_page(Draft(subject="S", body="{{ password }}"), company=COMPANY)
    with pytest.raises(SubjectError):
        render_page(Draft(subject="S\nT", body="B"), company=COMPANY)
