"""A cohort's notice as the gateways take it: merge templates whose only code is
``{{ field }}`` merge fields, parsed once per cohort into the literal text around the fields.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes
from markupsafe import escape

from composer.delivery.gateways.addresses import MAX_SUBJECT_CHARS, check_header
from composer.delivery.gateways.errors import InvalidMessage
from composer.rendering.environment import notice_environment
from composer.rendering.merge_fields import MERGE_FIELDS


@dataclass(frozen=True, slots=True)
class CohortContent:
    """A cohort's rendered notice as merge templates whose only code is ``{{ field }}`` fields
    (and ``{{ '{' }}`` for a literal brace): ``EmailCohort.subject.source``, ``.html.source``
    and ``.text.source`` from ``composer.rendering.email.prepare_email``."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class Fields:
    """A merge template as the literal text around its fields, in order:
    ``literals[0] + fields[0] + literals[1] + ... + literals[-1]``."""

    literals: tuple[str, ...]
    fields: tuple[str, ...]

    def fill(self, tags: Mapping[str, str]) -> str:
        out = [self.literals[0]]
        for name, literal in zip(self.fields, self.literals[1:], strict=True):
            out.append(tags[name])
            out.append(literal)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class ParsedContent:
    subject: Fields
    html: Fields
    text: Fields
    #: Fields in the subject or the text part (filled in as they are), and in the HTML part
    #: (filled in HTML-escaped); ``used`` is both, in ``MERGE_FIELDS`` order.
    text_fields: tuple[str, ...]
    html_fields: tuple[str, ...]
    used: tuple[str, ...]
    #: Every literal character of the three parts (to pick substitution tags they lack).
    literal_text: str


def parse_template(source: str, *, html: bool, what: str) -> Fields:
    """``source`` read by the notice environment's own parser, so the literal text is what
    ``MergeTemplate`` would output (newlines normalised, ``{{ '{' }}`` a brace)."""
    try:
        tree = notice_environment().parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidMessage(
            f"The notice's {what} is not a merge template (line {exc.lineno}: {exc.message})."
        ) from None
    literals = [""]
    fields: list[str] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            raise _not_merge_fields(what, output.lineno)
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                literals[-1] += node.data
            elif isinstance(node, nodes.Name) and node.name in MERGE_FIELDS:
                fields.append(node.name)
                literals.append("")
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                # Autoescaping escapes a constant's output in HTML, as it does a field's.
                literals[-1] += str(escape(node.value)) if html else node.value
            else:
                raise _not_merge_fields(what, node.lineno)
    return Fields(tuple(literals), tuple(fields))


def _not_merge_fields(what: str, line: int) -> InvalidMessage:
    return InvalidMessage(
        f"The notice's {what} has template code other than merge fields (line {line}); render "
        "it with composer.rendering.email.prepare_email."
    )


@functools.lru_cache(maxsize=32)
def parse_content(content: CohortContent) -> ParsedContent:
    """The content, parsed and checked once per cohort (batches of a cohort share it)."""
    subject = parse_template(content.subject, html=False, what="subject")
    html = parse_template(content.html, html=True, what="HTML part")
    text = parse_template(content.text, html=False, what="text part")
    subject_literal = "".join(subject.literals)
    check_header(subject_literal, "subject")
    if not (subject_literal.strip() or subject.fields):
        raise InvalidMessage("The subject is empty.")
    if len(subject_literal) > MAX_SUBJECT_CHARS:
        raise InvalidMessage(f"The subject is longer than {MAX_SUBJECT_CHARS} characters.")
    if not ("".join(text.literals).strip() or text.fields):
        raise InvalidMessage("The message has no text.")
    in_text = set(subject.fields) | set(text.fields)
    in_html = set(html.fields)
    return ParsedContent(
        subject=subject,
        html=html,
        text=text,
        text_fields=tuple(f for f in MERGE_FIELDS if f in in_text),
        html_fields=tuple(f for f in MERGE_FIELDS if f in in_html),
        used=tuple(f for f in MERGE_FIELDS if f in in_text | in_html),
        literal_text="".join(subject.literals + html.literals + text.literals),
    )
