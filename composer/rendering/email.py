"""A notice as an email: multipart/alternative, a plain-text part and an HTML part.

The HTML is rendered once per cohort (Markdown to HTML, the layout, CSS inlined for mail
clients) with stand-ins for the merge fields; :meth:`EmailCohort.message_for` then fills in one
recipient's values through the notice Jinja environment, HTML-escaped in the HTML part. A
transactional message: no List-Unsubscribe header, no tracking, no remote images.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Final

import css_inline
from markupsafe import Markup

from composer.rendering.environment import checked_lang, notice_css, notice_environment
from composer.rendering.errors import RecipientError, RenderError
from composer.rendering.markdown import markdown_to_html, markdown_to_text
from composer.rendering.merge_fields import MERGE_FIELDS, FieldSlots, MergeTemplate, Recipient
from composer.rendering.validation import NoticeText, validate_draft, validate_subject

#: .eml files and SMTP use CRLF line ends.
EML_POLICY: Final = policy.SMTP


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # Never fetch a stylesheet: the layout's CSS is inline in a <style> element.
    return css_inline.CSSInliner(
        load_remote_stylesheets=False, keep_style_tags=False, keep_link_tags=False
    )


def _sender_address(sender: str) -> Address:
    if any(c in sender for c in "\r\n"):
        raise RenderError("The sender address contains a line break.")
    name, addr = parseaddr(sender)
    if "@" not in addr:
        raise RenderError(
            f"The sender {sender!r} is not an email address "
            "(expected 'security@example.com' or 'Example Ltd <security@example.com>')."
        )
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise RenderError(f"The sender {sender!r} is not a usable email address: {exc}") from None


def check_sender(sender: str) -> None:
    """Raise :class:`RenderError` unless ``sender`` is a usable From or Reply-To address."""
    _sender_address(sender)


@dataclass(frozen=True)
class EmailCohort:
    """One rendered notice, ready to be filled in for each recipient."""

    subject: MergeTemplate
    html: MergeTemplate
    text: MergeTemplate
    lang: str

    def message_for(
        self,
        recipient: Recipient,
        *,
        sender: str,
        reply_to: str | None = None,
    ) -> EmailMessage:
        """The email for ``recipient``: From ``sender``, To the recipient (when they have an
        address), a text/plain and a text/html part."""
        values = recipient.merge_values()
        subject = self.subject.render(values)
        # Recipient values are checked when made, but a header is a header. Not the length: a
        # long name must not stop one person's notice (the draft's subject was checked).
        validate_subject(subject, max_chars=None)
        from_address = _sender_address(sender)
        message = EmailMessage(policy=policy.default)
        message["Subject"] = subject
        message["From"] = from_address
        if recipient.email:
            message["To"] = Address(display_name=recipient.full_name, addr_spec=recipient.email)
        if reply_to:
            message["Reply-To"] = _sender_address(reply_to)
        message["Date"] = format_datetime(_now(), usegmt=True)
        message["Message-ID"] = make_msgid(domain=from_address.domain)
        message.set_content(self.text.render(values), subtype="plain", cte="quoted-printable")
        message.add_alternative(self.html.render(values), subtype="html", cte="quoted-printable")
        # Content-* headers set before add_alternative would move into the first part.
        message["Content-Language"] = self.lang
        for part in message.iter_parts():
            del part["MIME-Version"]  # the email package adds it to sub-parts too
        return message

    def html_for(self, recipient: Recipient) -> str:
        """Just the HTML part for ``recipient`` (for a preview)."""
        return self.html.render(recipient.merge_values())

    def text_for(self, recipient: Recipient) -> str:
        """Just the plain-text part for ``recipient`` (for a preview)."""
        return self.text.render(recipient.merge_values())


def _now() -> datetime:
    return datetime.now(UTC)


def prepare_email(draft: NoticeText, *, company: str, lang: str = "en") -> EmailCohort:
    """Render ``draft`` once for a cohort: checks the subject and merge fields (raising
    :class:`SubjectError` or :class:`MergeFieldError`), converts the Markdown, applies the
    layout and inlines its CSS."""
    validate_draft(draft)
    lang = checked_lang(lang)
    env = notice_environment()
    slots = FieldSlots()
    subject = slots.insert(draft.subject)
    body = slots.insert(draft.body)
    fields = {name: slots.token(name) for name in MERGE_FIELDS}
    context = {"subject": subject, "company": company, "fields": fields, "lang": lang}
    html = env.get_template("notices/email.html").render(
        **context,
        body=Markup(markdown_to_html(body)),  # noqa: S704 - markdown-it output, raw HTML off
        css=notice_css("notice.css", "email.css"),
    )
    html = _inliner().inline(html)
    text = env.get_template("notices/email.txt").render(**context, body=markdown_to_text(body))
    return EmailCohort(
        subject=slots.template(subject, html=False),
        html=slots.template(html, html=True),
        text=slots.template(text, html=False),
        lang=lang,
    )


def render_email(
    draft: NoticeText,
    recipient: Recipient,
    *,
    sender: str,
    company: str,
    reply_to: str | None = None,
    lang: str = "en",
) -> EmailMessage:
    """The notice email for one recipient (see :func:`prepare_email` for many)."""
    if not recipient.email:
        raise RecipientError("The recipient has no email address.")
    cohort = prepare_email(draft, company=company, lang=lang)
    return cohort.message_for(recipient, sender=sender, reply_to=reply_to)


def email_to_eml(message: EmailMessage) -> bytes:
    """``message`` as the bytes of an .eml file (RFC 5322, CRLF line ends)."""
    return message.as_bytes(policy=EML_POLICY)
