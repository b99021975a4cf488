"""Save-time checks on a draft: a subject that is safe in an email header, and merge fields from
the allow-list. The renderers run the same checks, so nothing unchecked is ever sent."""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from typing import Final, Protocol
from urllib.parse import unquote

from composer.rendering.errors import MergeFieldError, SubjectError
from composer.rendering.markdown import markdown_to_html
from composer.rendering.merge_fields import FieldSlots, validate_merge_fields

#: Longer subjects are cut off by mail clients and phones; 150 leaves room for merged names.
MAX_SUBJECT_CHARS: Final = 150

#: Text that decodes to other characters in some notation a mail client, browser, template or
#: log viewer may apply: HTML character references with or without the ";" (``&#10;``
#: ``&#x2028;`` ``&NewLine;``), URL percent-encoding (``%0a``, ``%E2%80%A8``),
#: quoted-printable (``=0A``, ``=C2=85``) and backslash escapes (``\n`` ``\u2028`` ``\x85``
#: ``\N{LINE FEED}``). A subject holding one that decodes to a line break or other control
#: character is either a mistake or an attempt to add email headers.
_ENCODED = re.compile(
    r"&(?:\#[0-9]{1,12}|\#x[0-9a-f]{1,10}|[a-z][a-z0-9]{0,40});?"
    r"|(?:%[0-9a-f]{2})+"
    r"|(?:=[0-9a-f]{2})+"
    r"|\\(?:N\{[^}]{1,60}\}|U[0-9a-f]{8}|u[0-9a-f]{4}|x[0-9a-f]{2}|[abfnrtv0])",
    re.IGNORECASE,
)
_BACKSLASH: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\0",
}
#: Encodings inside encodings (``&amp;#10;``, ``%26%2310%3B``) are decoded this many times.
_DECODE_ROUNDS: Final = 3


def _decode(token: str) -> str:
    """What one :data:`_ENCODED` match stands for ("" when it is not a valid encoding)."""
    if token.startswith("&#"):
        # HTML reads &#133; as "..." (Windows-1252); XML and many other decoders as U+0085.
        number = token[2:].rstrip(";")
        point = int(number[1:], 16) if number[:1] in "xX" else int(number)
        return html.unescape(token) + chr(min(point, sys.maxunicode))
    if token.startswith("&"):
        return html.unescape(token)
    if token.startswith("%"):
        return unquote(token, errors="replace")
    if token.startswith("="):
        return bytes.fromhex(token.replace("=", "")).decode("utf-8", errors="replace")
    code = token[1:]
    if code in _BACKSLASH:
        return _BACKSLASH[code]
    if code[0] in "xuU":
        return chr(min(int(code[1:], 16), sys.maxunicode))
    try:
        return unicodedata.lookup(code[2:-1])
    except KeyError:
        return ""


def _is_break(char: str) -> bool:
    """A line break or other control character (C0, DEL, C1, U+2028, U+2029)."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _encoded_break(subject: str) -> str | None:
    """The first encoded line break or control character in ``subject``, as written (after
    up to :data:`_DECODE_ROUNDS` rounds of decoding, as it reads in the last one)."""
    text = subject
    for _ in range(_DECODE_ROUNDS):
        for match in _ENCODED.finditer(text):
            if any(_is_break(char) for char in _decode(match.group())):
                return match.group()
        decoded = _ENCODED.sub(lambda m: _decode(m.group()) or m.group(), text)
        if decoded == text:
            return None
        text = decoded
    return None


class NoticeText(Protocol):
    """A draft as the renderers read it (``composer.notices.drafting.Draft`` is one)."""

    @property
    def subject(self) -> str: ...

    @property
    def body(self) -> str: ...


def _describe(char: str) -> str:
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\t": "a tab"}
    return names.get(char, f"the control character U+{ord(char):04X}")


def validate_subject(subject: str, *, max_chars: int | None = MAX_SUBJECT_CHARS) -> None:
    """Raise :class:`SubjectError` unless ``subject`` is one line of at most ``max_chars``
    characters (None: any length) with no control characters and no encoded line breaks.
    Merge fields are checked by :func:`validate_merge_fields`."""
    if not subject.strip():
        raise SubjectError("The subject line is empty: write one that says what happened.")
    for char in subject:
        if _is_break(char):
            raise SubjectError(
                f"The subject line contains {_describe(char)}. A subject must be one line: "
                "remove the line break."
            )
    encoded = _encoded_break(subject)
    if encoded:
        raise SubjectError(
            f"The subject line contains '{encoded}', an encoded line break or control "
            "character. A subject must be one line: remove it."
        )
    if max_chars is not None and len(subject) > max_chars:
        raise SubjectError(
            f"The subject line is {len(subject)} characters long; keep it to "
            f"{max_chars} or fewer so mail clients show it whole."
        )


def validate_draft(draft: NoticeText) -> None:
    """Everything a draft must pass before it is saved or rendered: a safe subject, and known,
    plain merge fields in the subject and body, none of them in a link's address. Raises a
    :class:`RenderError` subclass naming the part (and line) of the draft."""
    validate_subject(draft.subject)
    for part in ("subject", "body"):
        try:
            validate_merge_fields(getattr(draft, part))
        except MergeFieldError as exc:
            raise exc.in_part(part) from None
    slots = FieldSlots()
    try:
        slots.check_not_in_markup(markdown_to_html(slots.insert(draft.body)))
    except MergeFieldError as exc:
        raise exc.in_part("body") from None
