"""Notices from the incident's facts: the first draft, the SMS summary, and (elsewhere in this
package) the email, web page and PDF renderings. No Flask.

- ``composer.notices.drafting``: ``draft_notice(facts)`` writes the first draft (Markdown).
- ``composer.notices.sms``: ``sms_summary(facts, company=...)`` writes a 160-character SMS.
- ``composer.rendering.merge_fields``: the merge-field allow-list, ``validate_merge_fields``,
  ``Recipient``.
- ``composer.rendering.validation``: ``validate_subject``, ``validate_draft`` (save-time checks).
- ``composer.rendering.markdown``: Markdown to HTML (raw HTML off) and to plain text.
- ``composer.rendering.email``: ``render_email`` / ``prepare_email`` (one cohort, many recipients).
- ``composer.rendering.page``: ``render_page``, the web-page version.
- ``composer.rendering.pdf``: ``render_pdf`` (WeasyPrint in a time-limited child process, resources
  from static/ only), ``pdf_page_png``.
- ``composer.cli.render``: ``python -m composer draft`` and ``render``.

The names below are importable from ``composer.rendering`` itself; they load on first use, so
importing this package does not load WeasyPrint (almost a second) until a PDF is wanted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from composer.rendering.email import EmailCohort, email_to_eml, prepare_email, render_email
    from composer.rendering.errors import (
        MergeFieldError,
        RecipientError,
        RenderError,
        RenderTimeout,
        ResourceRefused,
        SubjectError,
    )
    from composer.rendering.markdown import markdown_to_html, markdown_to_text
    from composer.rendering.merge_fields import (
        MERGE_FIELDS,
        SAMPLE_RECIPIENT,
        Recipient,
        validate_merge_fields,
    )
    from composer.rendering.page import render_page
    from composer.rendering.pdf import Paper, letter_html, pdf_page_png, render_pdf
    from composer.rendering.validation import validate_draft, validate_subject

#: Public name -> the module that defines it.
_PUBLIC = {
    "EmailCohort": "email",
    "email_to_eml": "email",
    "prepare_email": "email",
    "render_email": "email",
    "MergeFieldError": "errors",
    "RecipientError": "errors",
    "RenderError": "errors",
    "RenderTimeout": "errors",
    "ResourceRefused": "errors",
    "SubjectError": "errors",
    "markdown_to_html": "markdown",
    "markdown_to_text": "markdown",
    "MERGE_FIELDS": "merge",
    "SAMPLE_RECIPIENT": "merge",
    "Recipient": "merge",
    "validate_merge_fields": "merge",
    "render_page": "page",
    "Paper": "pdf",
    "letter_html": "pdf",
    "pdf_page_png": "pdf",
    "render_pdf": "pdf",
    "validate_draft": "validation",
    "validate_subject": "validation",
}

__all__ = [
    "MERGE_FIELDS",
    "SAMPLE_RECIPIENT",
    "EmailCohort",
    "MergeFieldError",
    "Paper",
    "Recipient",
    "RecipientError",
    "RenderError",
    "RenderTimeout",
    "ResourceRefused",
    "SubjectError",
    "email_to_eml",
    "letter_html",
    "markdown_to_html",
    "markdown_to_text",
    "pdf_page_png",
    "prepare_email",
    "render_email",
    "render_page",
    "render_pdf",
    "validate_draft",
    "validate_merge_fields",
    "validate_subject",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
