"""Letter batches are rendered the fast way (one stylesheet parse a batch, no cycle collection
while laying out, pydyf's page list built once): the PDF must be exactly what the plain way
makes, so what legal approved is what is printed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import pydyf  # type: ignore[import-untyped]
import pytest
from weasyprint import HTML  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
from weasyprint.urls import path2url  # type: ignore[import-untyped]

from composer.rendering import pdf as pdf_module
from composer.rendering.merge_fields import Recipient
from composer.rendering.pdf import letter_html, write_letters_pdf, write_pdf
from tests.rendering.notice_samples import COMPANY, HOSTILE, PERSON, generated_draft, pdf_text

OTHER = Recipient(
    first_name="Ngozi",
    last_name="Okonkwo-Smythe",
    reference="CUST-00007",
    postal_address=("9 Long Lane", "Bristol", "BS1 4DJ"),
)


@pytest.fixture(scope="module")
def htmls() -> list[str]:
    return [
        letter_html(
            generated_draft(),
            person,
            company=COMPANY,
            return_address="Example Shop Ltd, 1 High Street, Townsville, TS1 1AA",
            contact_lines=["0800 123 4567"],
            letter_date=date(2026, 12, 7),
        )
        for person in (PERSON, HOSTILE, OTHER)
    ]


@pytest.fixture
def plain_pydyf() -> Iterator[None]:
    """pydyf as installed, without the memoized page list."""
    found = pydyf.PDF.page_references
    original = getattr(found.fget, "__wrapped__", None)
    if original is not None:
        pydyf.PDF.page_references = property(original)
    try:
        yield
    finally:
        pydyf.PDF.page_references = found


def plain_letters_pdf(htmls: list[str], title: str) -> tuple[bytes, tuple[int, ...]]:
    """The batch as it was made before: each letter with its inline stylesheet."""
    fetcher = pdf_module.StaticOnlyFetcher()
    base_url = path2url(str(fetcher.root) + os.sep)
    fonts = FontConfiguration()
    images: dict[Any, Any] = {}
    documents = [
        HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
            font_config=fonts, cache=images, pdf_variant=pdf_module.PDF_VARIANT, pdf_tags=True
        )
        for html in htmls
    ]
    combined = documents[0].copy([page for doc in documents for page in doc.pages])
    combined.metadata.title = title
    pdf = combined.write_pdf(pdf_variant=pdf_module.PDF_VARIANT, pdf_tags=True)
    return pdf, tuple(len(doc.pages) for doc in documents)


def test_a_batch_is_byte_for_byte_the_plain_render(htmls: list[str], plain_pydyf: None) -> None:
    plain, plain_pages = plain_letters_pdf(htmls, "Letters")
    fast, pages = write_letters_pdf(htmls, title="Letters")
    assert pages == plain_pages
    assert pdf_text(fast) == pdf_text(plain)
    assert fast == plain


def test_each_letter_reads_as_the_letter_rendered_alone(htmls: list[str]) -> None:
    batch, pages = write_letters_pdf(htmls, title="Letters")
    alone = "".join(pdf_text(write_pdf(html)) for html in htmls)
    assert pdf_text(batch) == alone
    # Each person's own values are on their pages, escaped as text.
    text = pdf_text(batch)
    assert "Dana Whitfield" in text
    assert "CUST-00007" in text
    assert "<script>alert(1)</script>" in text
    assert sum(pages) == text.count("\f")


def test_only_a_letter_styled_by_one_inline_stylesheet_shares_it(htmls: list[str]) -> None:
    split = pdf_module._shared_style(htmls[1])  # the hostile recipient's values are text
    assert split is not None
    html, css = split
    assert "<style" not in html
    assert "@page" in css
    head = htmls[0].split("</head>")[0]
    styled = htmls[0].replace("<main", '<main style="color: red"', 1)
    linked = htmls[0].replace("</head>", '<link rel="stylesheet" href="x.css"></head>', 1)
    twice = htmls[0].replace("</head>", "<style>p { color: red }</style></head>", 1)
    for other in (styled, linked, twice, head.replace("<style>", "<style media=print>")):
        assert pdf_module._shared_style(other) is None


def test_a_page_style_attribute_still_renders_the_plain_way() -> None:
    html = (
        '<html lang="en"><head><title>t</title><style>p { color: blue }</style></head>'
        '<body><p style="font-size: 30pt">Big</p><p>Small</p></body></html>'
    )
    pdf, pages = write_letters_pdf([html, html], title="t")
    assert pages == (1, 1)
    assert pdf_text(pdf).count("Big") == 2


def test_the_remembered_page_list_follows_added_pages() -> None:
    pdf_module._memoize_page_references()
    document = pydyf.PDF()
    for _ in range(2):
        document.add_page(pydyf.Dictionary({"Type": "/Page"}))
    first = document.page_references
    assert document.page_references is first  # remembered
    document.add_page(pydyf.Dictionary({"Type": "/Page"}))
    refs = document.page_references
    assert len(refs) == 3
    assert refs[:2] == first
    assert refs == pydyf.PDF.page_references.fget.__wrapped__(document)
