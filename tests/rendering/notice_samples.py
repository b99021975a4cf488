"""Drafts, recipients and PDF helpers shared by the rendering tests."""

from __future__ import annotations

import html
import json
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.notices.drafting import HEADINGS, Draft, draft_notice
from composer.rendering.merge_fields import Recipient

FACTS_DIR = Path(__file__).with_name("facts")
COMPANY = "Example Shop Ltd"
MM = 72 / 25.4  # points per millimetre


def facts(name: str = "supplier") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def generated_draft() -> Draft:
    """The draft generator's notice for the supplier incident, plus every merge field."""
    draft = draft_notice(facts("supplier"), company=COMPANY)
    extra = (
        "\nWe sent this to {{ full_name }} ({{ email }}). "
        "Your customer number is {{ reference }}, {{ last_name }} household.\n"
    )
    return Draft(subject="{{ first_name }}, " + draft.subject, body=draft.body + extra)


#: A short hand-written draft using every Markdown feature a notice needs.
HANDWRITTEN = Draft(
    subject="Your email address was copied",
    body="""Dear {{ first_name }},

On 3 May a criminal copied your email address from our supplier's system. {# lint-ignore #}

## What happened

- They used a stolen password.
- We closed the account on 4 May.

## What you can do

1. Watch for fake emails.
2. Call us on [0800 123 456](tel:0800123456).

Your reference is {{ reference }}.

Jane Smith
Head of Security
""",
)

HEADINGS_IN_DRAFT = HEADINGS

HOSTILE = Recipient(
    first_name="<script>alert(1)</script>",
    last_name="{{ 7*7 }}",
    email="robert@example.com",
    reference="<b>R&D</b>",
    postal_address=("1 <i>Main</i> Street", "Springfield {% if %}"),
)

PERSON = Recipient(
    first_name="Dana",
    last_name="Whitfield",
    email="dana.whitfield@example.org",
    reference="CUST-42817",
    postal_address=("Flat 3", "27 Harbour Road", "Little Porthaven", "Cornwall", "PH4 7QT"),
)


@dataclass(frozen=True)
class Word:
    text: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    page: int


def pdf_text(pdf: bytes, *, layout: bool = False) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), "-", "-"]
    return subprocess.run(args, input=pdf, capture_output=True, check=True).stdout.decode()


def pdf_words(pdf: bytes) -> list[Word]:
    """Every word with its box in points from the page's top-left corner (pdftotext -bbox)."""
    boxes = subprocess.run(
        ["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    words: list[Word] = []
    for page, chunk in enumerate(boxes.split("<page ")[1:], start=1):
        for m in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            chunk,
        ):
            x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
            words.append(Word(_unescape(m.group(5)), x0, y0, x1, y1, page))
    return words


def _unescape(text: str) -> str:
    return html.unescape(text)


def pdf_info(pdf: bytes, *extra: str) -> str:
    return subprocess.run(
        ["pdfinfo", *extra, "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's bytes plus every zlib stream decompressed (object streams hold the catalog)."""
    parts = [pdf]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)
