"""Save-time checks on a draft: a subject that is safe in an email header, and merge fields from
the allow-list. The renderers run the same checks, so nothing unchecked is ever sent."""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Protocol

from composer.rendering.errors import MergeFieldError, SubjectError
from composer.rendering.markdown import markdown_to_html
from composer.rendering.merge import FieldSlots, validate_merge_fields

#: Longer subjects are cut off by mail clients and phones; 150 leaves room for merged names.
MAX_SUBJECT_CHARS: Final = 150

#: Line breaks written in an encoded form: URL (%0a), quoted-printable (=0A), backslash escapes
#: (\n, \u000a, \x0a) and HTML character references (&#10; &#xA;). Any of them in a subject is
#: either a mistake or an attempt to add email headers.
_ENCODED_BREAK = re.compile(
    r"%0[ad]|=0[ad]|\\[rn]|\\u000[ad]|\\x0[ad]|&#0*1[03];|&#x0*[ad];",
    re.IGNORECASE,
)


class NoticeText(Protocol):
    """A draft as the renderers read it (``composer.rendering.draft.Draft`` is one)."""

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
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise SubjectError(
                f"The subject line contains {_describe(char)}. A subject must be one line: "
                "remove the line break."
            )
    encoded = _ENCODED_BREAK.search(subject)
    if encoded:
        raise SubjectError(
            f"The subject line contains '{encoded.group()}', an encoded line break. "
            "A subject must be one line: remove it."
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
