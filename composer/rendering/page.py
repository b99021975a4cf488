"""The web-page version of a notice, for the company's own site.

A standalone HTML page (styles inline, no external resources, landmarks and one ``h1``) that
addresses nobody in particular: each merge field becomes a neutral word
(``{{ first_name }}`` reads "customer", so "Dear {{ first_name }}," is "Dear customer,").
"""

from __future__ import annotations

from datetime import date

from markupsafe import Markup

from composer.rendering.environment import checked_lang, notice_css, notice_environment
from composer.rendering.markdown import markdown_to_html
from composer.rendering.merge_fields import neutral_text
from composer.rendering.validation import NoticeText, validate_draft
from composer.support.formatting import format_date


def render_page(
    draft: NoticeText, *, company: str, published: date | None = None, lang: str = "en"
) -> str:
    """The notice as a standalone, accessible HTML page, with no personal merge fields."""
    validate_draft(draft)
    body = markdown_to_html(neutral_text(draft.body))
    return (
        notice_environment()
        .get_template("notices/page.html")
        .render(
            subject=neutral_text(draft.subject),
            company=company,
            body=Markup(body),  # noqa: S704 - markdown-it output with raw HTML off
            css=notice_css("notice.css", "page.css"),
            lang=checked_lang(lang),
            published_iso=published.isoformat() if published else "",
            # In English whatever ``lang`` says: the sentence around it is English.
            published_text=format_date(published) if published else "",
        )
    )
