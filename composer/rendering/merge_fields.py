"""Merge fields: ``{{ first_name }}`` and the other documented recipient fields.

A draft may hold plain ``{{ name }}`` fields from :data:`MERGE_FIELDS` and the linter's inline
ignores (``{# lint-ignore ... #}``, dropped when rendering). Anything else Jinja would read as
code (filters, attributes, calls, ``{% %}`` blocks, other comments) is refused with the line.

While a draft is converted (Markdown to HTML, CSS inlining), its fields stand as tokens of
letters and digits that no converter changes; :class:`FieldSlots` then turns the converted text
into a Jinja template whose only code is those fields, with every other ``{`` made literal, so
text that *becomes* ``{{`` during conversion (Markdown's ``{\\{``) stays text.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from email_validator import EmailNotValidError, validate_email
from jinja2 import TemplateSyntaxError, nodes

from composer.rendering.environment import compile_template, notice_environment
from composer.rendering.errors import MergeFieldError, RecipientError

#: The merge fields a draft may use, with what each holds (docs/rendering.md lists the same).
MERGE_FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "first_name": "the recipient's first name",
        "last_name": "the recipient's last name",
        "full_name": "first and last name, separated by a space",
        "reference": "the recipient's own reference (a customer or case number)",
        "email": "the recipient's email address",
    }
)
_FIELD_ORDER: Final = tuple(MERGE_FIELDS)

#: What a field says where no person is being addressed: the web-page version of a notice,
#: and a recipient whose value is empty ("Dear customer,").
NEUTRAL_VALUES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "first_name": "customer",
        "last_name": "customer",
        "full_name": "customer",
        "reference": "your reference number",
        "email": "your email address",
    }
)

#: The linter's inline ignore (composer.lint.engine.IGNORE_MARKER; a test keeps the two equal).
#: Copied rather than imported: importing the linter loads spaCy.
LINT_IGNORE = re.compile(r"\{#\s*lint-ignore(?:\s*:\s*(?P<what>[^#]*?))?\s*#\}")
_LINT_IGNORE_AND_SPACE = re.compile(r"[ \t]*" + LINT_IGNORE.pattern)

#: A field as the renderer replaces it, once validate_merge_fields has passed.
FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: Jinja syntax the parser accepts but a plain ``{{ name }}`` never has.
_NOT_PLAIN = re.compile(r"\{%|\{#|\{\{[-+]|[-+]\}\}")

_MAX_VALUE = 200
_TWO_LETTERS = re.compile(r"[A-Za-z]{2}")
#: An envelope window holds six lines: the name and five address lines.
_MAX_ADDRESS_LINES = 5


def strip_lint_ignores(text: str) -> str:
    """``text`` without the linter's inline ignores; line numbers stay the same."""
    return _LINT_IGNORE_AND_SPACE.sub(lambda m: "\n" * m.group().count("\n"), text)


def _field_list() -> str:
    return ", ".join("{{ %s }}" % name for name in _FIELD_ORDER)  # noqa: UP031


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def validate_merge_fields(text: str) -> None:
    """Raise :class:`MergeFieldError` naming the field (or construct) and its line unless every
    ``{{ ... }}`` in ``text`` is a plain, known field name and there is no other Jinja syntax
    apart from the linter's inline ignores."""
    source = strip_lint_ignores(text)
    for match in _NOT_PLAIN.finditer(source):
        line = _line_of(source, match.start())
        found = match.group()
        if found == "{%":
            what = "'{% ... %}' blocks (if, for, set ...) are not allowed in a notice"
        elif found == "{#":
            what = "'{# ... #}' comments are not allowed, except the linter's {# lint-ignore #}"
        else:
            what = f"'{found}' (whitespace control) is not allowed: write {{{{ name }}}}"
        raise MergeFieldError(what + ".", line=line)
    try:
        tree = notice_environment().parse(source)
    except TemplateSyntaxError as exc:
        raise MergeFieldError(
            f"a '{{{{' that is not a plain merge field ({exc.message}). "
            f"Merge fields are: {_field_list()}.",
            line=exc.lineno,
        ) from None
    count = 0
    for output in tree.body:
        if not isinstance(output, nodes.Output):  # pragma: no cover - '{%' is refused above
            raise MergeFieldError("only {{ name }} merge fields are allowed.", line=output.lineno)
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                continue
            count += 1
            _check_field(node)
    if count != len(FIELD.findall(source)):  # pragma: no cover - a Jinja/regex disagreement
        raise MergeFieldError("a merge field is written in a way the renderer cannot read.")


def _check_field(node: nodes.Node) -> None:
    if isinstance(node, nodes.Name):
        if node.name not in MERGE_FIELDS:
            raise MergeFieldError(
                f"unknown merge field {{{{ {node.name} }}}}. Merge fields are: {_field_list()}.",
                field=node.name,
                line=node.lineno,
            )
        return
    names = [n.name for n in node.find_all(nodes.Name)]
    field = names[0] if names else None
    if isinstance(node, nodes.Filter):
        what = "filters ('|') are not allowed"
    elif isinstance(node, nodes.Getattr | nodes.Getitem):
        what = "attributes and items ('.' or '[...]') are not allowed"
    elif isinstance(node, nodes.Call):
        what = "calls ('(...)') are not allowed"
    else:
        what = "only a field name can go inside '{{ }}'"
    name = f" in {{{{ {field} ... }}}}" if field else ""
    raise MergeFieldError(
        f"{what}{name}. Write a plain merge field: {_field_list()}.",
        field=field,
        line=node.lineno,
    )


def merge_fields_in(text: str) -> list[str]:
    """The field names ``text`` uses, in order of first use (after validation)."""
    validate_merge_fields(text)
    return list(dict.fromkeys(FIELD.findall(strip_lint_ignores(text))))


def neutral_text(text: str) -> str:
    """``text`` with each field replaced by its neutral word, lint ignores removed (for the
    web-page version, which addresses nobody in particular)."""
    validate_merge_fields(text)
    return FIELD.sub(lambda m: NEUTRAL_VALUES[m.group(1)], strip_lint_ignores(text))


class MergeTemplate:
    """Converted text whose only code is merge fields: fill it in per recipient."""

    def __init__(self, source: str, *, html: bool) -> None:
        self.source = source
        self._template = compile_template(source, html=html)

    def render(self, values: Mapping[str, str]) -> str:
        """The text with ``values`` in its fields (HTML-escaped when it is HTML)."""
        return self._template.render(values)


class FieldSlots:
    """Stand-in tokens for merge fields while a validated draft is converted.

    A token is letters and digits only, so Markdown, HTML escaping, URL encoding and the CSS
    inliner leave it alone, and it carries a random nonce, so a draft cannot forge one.
    """

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._token = re.compile(f"mf{self._nonce}q([0-9]+)q")

    def insert(self, text: str) -> str:
        """``text`` (validated first) with tokens for fields and without lint ignores."""
        validate_merge_fields(text)
        return FIELD.sub(lambda m: self.token(m.group(1)), strip_lint_ignores(text))

    def token(self, name: str) -> str:
        return f"mf{self._nonce}q{_FIELD_ORDER.index(name)}q"

    def names_in(self, converted: str) -> list[str]:
        return [_FIELD_ORDER[int(i)] for i in self._token.findall(converted)]

    def check_not_in_markup(self, html: str) -> None:
        """Raise :class:`MergeFieldError` if a field landed inside a tag: in the HTML we make,
        that is a link's address, and personal data in URLs ends up in web servers' logs."""
        for tag in re.finditer(r"<[^>]*>", html):
            names = self.names_in(tag.group())
            if names:
                raise MergeFieldError(
                    f"{{{{ {names[0]} }}}} is in a link's address. Merge fields can go in the "
                    "text, not in web addresses: personal details in a URL end up in the logs "
                    "of every server it passes through.",
                    field=names[0],
                )

    def template(self, converted: str, *, html: bool) -> MergeTemplate:
        """A template from converted text: tokens become fields, every other ``{`` literal."""
        if html:
            self.check_not_in_markup(converted)
        parts = self._token.split(converted)
        source: list[str] = []
        for i, part in enumerate(parts):
            if i % 2:
                source.append("{{ %s }}" % _FIELD_ORDER[int(part)])  # noqa: UP031
            else:
                source.append(part.replace("{", "{{ '{' }}"))
        return MergeTemplate("".join(source), html=html)


def _clean(name: str, value: object, *, limit: int = _MAX_VALUE) -> str:
    if not isinstance(value, str):
        raise RecipientError(f"The recipient's {name} must be text, not {type(value).__name__}.")
    value = value.strip()
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise RecipientError(
                f"The recipient's {name} holds a control character or line break "
                f"(U+{ord(char):04X}); it cannot go into a notice."
            )
    if len(value) > limit:
        raise RecipientError(
            f"The recipient's {name} is {len(value)} characters long; the limit is {limit}."
        )
    return value


@dataclass(frozen=True)
class Recipient:
    """One person a notice is for. Values are checked when it is made: no control characters
    or line breaks (they could split an email header), no overlong values."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    reference: str = ""
    #: Lines of the postal address, for the PDF letter's envelope window (name not included).
    postal_address: tuple[str, ...] = ()
    #: Where the address is: an ISO 3166-1 alpha-2 code ("" for the company's own country).
    #: A letter abroad gets the country's name as its last line (``rendering.address``).
    country: str = ""
    #: A US address's state (USPS code, "CA"), for the city, state and ZIP line.
    us_state: str = ""

    def __post_init__(self) -> None:
        for name in ("first_name", "last_name", "reference"):
            object.__setattr__(self, name, _clean(name.replace("_", " "), getattr(self, name)))
        email = _clean("email address", self.email, limit=254)
        if email:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise RecipientError(f"The recipient's email address is not valid: {exc}") from None
        object.__setattr__(self, "email", email)
        lines = tuple(_clean("postal address", line) for line in self.postal_address)
        lines = tuple(line for line in lines if line)
        if len(lines) > _MAX_ADDRESS_LINES:
            raise RecipientError(
                f"The recipient's postal address has {len(lines)} lines; an envelope window "
                f"fits the name and {_MAX_ADDRESS_LINES} more: join some lines with commas."
            )
        object.__setattr__(self, "postal_address", lines)
        for name in ("country", "us_state"):
            code = _clean(name.replace("_", " "), getattr(self, name))
            if code and not _TWO_LETTERS.fullmatch(code):
                raise RecipientError(
                    f"The recipient's {name.replace('_', ' ')} must be a two-letter code "
                    "(a country: GB, US, DE; a US state: CA, NY)."
                )
            object.__setattr__(self, name, code.upper())

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def merge_values(self) -> dict[str, str]:
        """Every merge field's value; an empty one reads as its neutral word ("customer")."""
        values = {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": self.full_name,
            "reference": self.reference,
            "email": self.email,
        }
        return {name: value or NEUTRAL_VALUES[name] for name, value in values.items()}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Recipient:
        """A recipient from JSON-like data (docs/rendering.md): the field names as keys,
        ``postal_address`` as a list of lines or one string with line breaks, and optionally
        ``country`` and ``us_state`` codes."""
        allowed = {
            "first_name",
            "last_name",
            "email",
            "reference",
            "postal_address",
            "country",
            "us_state",
        }
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise RecipientError(
                f"Unknown recipient key(s): {', '.join(unknown)}. "
                f"Allowed: {', '.join(sorted(allowed))}."
            )
        address = data.get("postal_address", ())
        if isinstance(address, str):
            address = address.splitlines()
        if not isinstance(address, list | tuple):
            raise RecipientError("The recipient's postal_address must be a list of lines.")
        return cls(
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
            reference=data.get("reference", ""),
            postal_address=tuple(address),
            country=data.get("country", ""),
            us_state=data.get("us_state", ""),
        )


#: Who previews are rendered for.
SAMPLE_RECIPIENT: Final = Recipient(
    first_name="Alex",
    last_name="Sample",
    email="alex.sample@example.com",
    reference="CUST-000123",
    postal_address=("12 Example Street", "Sampletown", "AB1 2CD"),
)
