"""Previews of one notice version, as a customer would get it: the email (HTML and plain-text
parts), the PDF letter and an image of its first page, the web-page version, and the SMS summary.

Everything is rendered for :data:`SAMPLE_RECIPIENT`, a made-up person (Alex Sample, reference
CUST-000123, 12 Example Street ...), so a preview never shows a real customer's details. No Flask.

Rendering a PDF takes a tenth of a second or more (WeasyPrint, in a worker process), so PDFs and
page images are kept in a small in-process cache keyed by the version's hash and every other input
of the letter (company, contact lines, date, logo, paper): reloading the previews page, or asking
for the image and then the PDF, renders once. Errors are never cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from composer.models import NoticeVersion
from composer.rendering.letterhead import LetterOptions, letter_options
from composer.rendering.merge_fields import SAMPLE_RECIPIENT

__all__ = [
    "SAMPLE_RECIPIENT",
    "EmailPreview",
    "LetterOptions",
    "RenderCache",
    "SmsPreview",
    "email_preview",
    "letter_options",
    "letter_pdf",
    "letter_png",
    "page_preview",
    "sms_preview",
]

#: Dots per inch of the page image: about the width of the previews column, sharp enough to read.
PAGE_IMAGE_DPI: Final = 96


class RenderCache:
    """A least-recently-used cache of rendered bytes, bounded by count and total size, safe to
    share between threads. One per process (:data:`CACHE`)."""

    def __init__(self, *, max_items: int = 64, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = value
            self._size += len(value)
            while len(self._items) > self.max_items or self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0
            self.hits = self.misses = 0


CACHE: Final = RenderCache()


# Email ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailPreview:
    subject: str
    to: str
    html: str
    text: str


def email_preview(version: NoticeVersion, *, company: str) -> EmailPreview:
    """The email the sample recipient would get. Raises a ``RenderError`` (a bad subject or
    merge field) with a message for the user."""
    from composer.rendering.email import prepare_email

    cohort = prepare_email(version, company=company)
    values = SAMPLE_RECIPIENT.merge_values()
    return EmailPreview(
        subject=cohort.subject.render(values),
        to=f"{SAMPLE_RECIPIENT.full_name} <{SAMPLE_RECIPIENT.email}>",
        html=cohort.html_for(SAMPLE_RECIPIENT),
        text=cohort.text_for(SAMPLE_RECIPIENT),
    )


# Web page ------------------------------------------------------------------------------------


def page_preview(version: NoticeVersion, *, company: str, published: date) -> str:
    """The web-page version (merge fields read as neutral words: "Dear customer,")."""
    from composer.rendering.page import render_page

    return render_page(version, company=company, published=published)


# PDF letter ----------------------------------------------------------------------------------


def letter_pdf(
    version: NoticeVersion,
    options: LetterOptions,
    *,
    timeout: float = 20.0,
    wait: float | None = 10.0,
) -> bytes:
    """The PDF letter to the sample recipient (cached). Waits at most ``wait`` seconds for a
    free renderer. Raises ``RenderBusy``, ``ResourceRefused``, ``RenderTimeout`` or another
    ``RenderError`` with a message for the user."""
    from composer.rendering.pdf import Paper, render_pdf

    key = ("pdf", version.sha256, options)
    cached = CACHE.get(key)
    if cached is not None:
        return cached
    pdf = render_pdf(
        version,
        SAMPLE_RECIPIENT,
        company=options.company,
        paper=Paper(options.paper),
        logo=options.logo,
        return_address=options.return_address,
        contact_lines=options.contact_lines,
        letter_date=options.letter_date,
        timeout=timeout,
        wait=wait,
    )
    CACHE.put(key, pdf)
    return pdf


def letter_png(
    version: NoticeVersion,
    options: LetterOptions,
    *,
    timeout: float = 20.0,
    wait: float | None = 10.0,
) -> bytes:
    """An image (PNG) of the letter's first page (cached, like the PDF it is made from); the
    PDF and the image each wait at most ``wait`` seconds for a free renderer."""
    from composer.rendering.pdf import pdf_page_png

    key = ("png", version.sha256, options, PAGE_IMAGE_DPI)
    cached = CACHE.get(key)
    if cached is not None:
        return cached
    png = pdf_page_png(
        letter_pdf(version, options, timeout=timeout, wait=wait),
        1,
        resolution=PAGE_IMAGE_DPI,
        timeout=timeout,
        wait=wait,
    )
    CACHE.put(key, png)
    return png


# SMS -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsPreview:
    text: str
    #: Length in GSM-7 characters (a few symbols count twice).
    length: int
    limit: int


def sms_preview(facts: Mapping[str, Any], *, company: str) -> SmsPreview:
    """The SMS summary, written from the facts (not from a version's text)."""
    from composer.notices.sms import SMS_LIMIT, gsm7_length, sms_summary

    text = sms_summary(facts, company=company)
    return SmsPreview(text=text, length=gsm7_length(text), limit=SMS_LIMIT)
