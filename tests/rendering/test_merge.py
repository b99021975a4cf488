"""Merge fields: the allow-list, everything else Jinja would run refused with its line, and
values escaped wherever they land."""

from __future__ import annotations

import pytest

from composer.rendering.errors import MergeFieldError, RecipientError
from composer.rendering.merge_fields import (
    LINT_IGNORE,
    MERGE_FIELDS,
    FieldSlots,
    Recipient,
    merge_fields_in,
    neutral_text,
    strip_lint_ignores,
    validate_merge_fields,
)
from tests.paths import REPO_ROOT


def test_every_allowed_field_passes_and_is_documented() -> None:
    doc = (REPO_ROOT / "docs" / "rendering.md").read_text(encoding="utf-8")
    text = "\n".join(f"Line with {{{{ {name} }}}} and {{{{{name}}}}}." for name in MERGE_FIELDS)
    validate_merge_fields(text)
    assert merge_fields_in(text) == list(MERGE_FIELDS)
    for name in MERGE_FIELDS:
        assert f"`{{{{ {name} }}}}`" in doc, name


def test_unknown_field_is_named_with_its_line() -> None:
    with pytest.raises(MergeFieldError) as caught:
        validate_merge_fields("Dear {{ first_name }},\n\nYour account {{ account_number }} ...")
    assert caught.value.field == "account_number"
    assert caught.value.line == 3
    assert str(caught.value).startswith("Line 3: unknown merge field {{ account_number }}")
    assert "{{ first_name }}" in str(caught.value)  # the message lists the fields there are


REFUSED = [
    ("{{ first_name|upper }}", "filters", "first_name"),
    ("{{ first_name | e }}", "filters", "first_name"),
    ("{{ first_name.__class__ }}", "attributes", "first_name"),
    ("{{ first_name['x'] }}", "attributes", "first_name"),
    ("{{ lipsum() }}", "calls", "lipsum"),
    ("{{ cycler.__init__.__globals__ }}", "attributes", "cycler"),
    ("{{ 7*7 }}", "only a field name", None),
    ("{{ 'text' }}", "only a field name", None),
    ("{{ }}", "not a plain merge field", None),
    ("{{ first_name", "not a plain merge field", None),
    ("{% if first_name %}Hi{% endif %}", "blocks", None),
    ("{% raw %}{{ x }}{% endraw %}", "blocks", None),
    ("{# a note for the team #}", "comments", None),
    ("{{- first_name }}", "whitespace control", None),
    ("{{ first_name +}}", "whitespace control", None),
]


@pytest.mark.parametrize(("snippet", "what", "field"), REFUSED)
def test_anything_but_a_plain_field_is_refused(snippet: str, what: str, field: str | None) -> None:
    with pytest.raises(MergeFieldError) as caught:
        validate_merge_fields(f"Dear customer,\n\n{snippet}\n")
    assert what in str(caught.value)
    assert caught.value.line == 3
    if field:
        assert caught.value.field == field


def test_lint_ignores_are_allowed_and_dropped_without_moving_lines() -> None:
    text = "One {# lint-ignore #}\nTwo {# lint-ignore: hedge, jargon.compromised #}\n{{ nope }}"
    with pytest.raises(MergeFieldError) as caught:
        validate_merge_fields(text)
    assert caught.value.line == 3
    assert strip_lint_ignores("One {# lint-ignore #}\nTwo") == "One\nTwo"


def test_the_lint_ignore_pattern_is_the_linters() -> None:
    from composer.lint.engine import IGNORE_MARKER

    assert LINT_IGNORE.pattern == IGNORE_MARKER.pattern


def test_text_that_becomes_jinja_after_markdown_stays_text() -> None:
    from composer.rendering.markdown import markdown_to_html

    slots = FieldSlots()
    # Markdown turns "{\{" into "{{": the merge step must not run what conversion produced.
    source = slots.insert("Hi {{ first_name }}. {\\{ 7*7 }} {\\% if x %}")
    html = slots.template(markdown_to_html(source), html=True).render({"first_name": "Ann"})
    assert html == "<p>Hi Ann. {{ 7*7 }} {% if x %}</p>\n"


def test_a_draft_cannot_forge_a_field_token() -> None:
    slots = FieldSlots()
    forged = slots.token("email").replace(slots.token("email")[2:18], "0" * 16)
    converted = slots.insert(f"{forged} and {{{{ email }}}}")
    html = slots.template(converted, html=True).render({"email": "a@b.c"})
    assert html == f"{forged} and a@b.c"  # the typed look-alike is not a field


def test_values_are_escaped_in_html_and_left_alone_in_text() -> None:
    slots = FieldSlots()
    converted = slots.insert("Dear {{ first_name }}")
    values = {"first_name": "<script>x</script> & {{ 7*7 }}"}
    assert slots.template(converted, html=True).render(values) == (
        "Dear &lt;script&gt;x&lt;/script&gt; &amp; {{ 7*7 }}"
    )
    assert slots.template(converted, html=False).render(values) == (
        "Dear <script>x</script> & {{ 7*7 }}"
    )


def test_a_missing_value_is_an_error_not_an_empty_string() -> None:
    from jinja2 import UndefinedError

    slots = FieldSlots()
    template = slots.template(slots.insert("Dear {{ first_name }}"), html=True)
    with pytest.raises(UndefinedError):
        template.render({})


def test_neutral_text_addresses_nobody() -> None:
    assert neutral_text("Dear {{ first_name }}, ref {{ reference }}") == (
        "Dear customer, ref your reference number"
    )


@pytest.mark.parametrize(
    "data",
    [
        {"first_name": "Ann\r\nBcc: victim@example.com"},
        {"last_name": "Lee\nSmith"},
        {"reference": "A\x00B"},
        {"first_name": "A\u2028B"},
        {"postal_address": ["1 Street\rX"]},
    ],
)
def test_recipient_values_with_line_breaks_or_control_characters_are_refused(
    data: dict[str, object],
) -> None:
    with pytest.raises(RecipientError, match="control character or line break"):
        Recipient.from_mapping(data)


def test_recipient_from_mapping() -> None:
    recipient = Recipient.from_mapping(
        {
            "first_name": " Ann ",
            "last_name": "Lee",
            "email": "Ann.Lee@Example.COM",
            "postal_address": "1 High Street\n\nTown\nAB1 2CD",
        }
    )
    assert recipient.full_name == "Ann Lee"
    assert recipient.email == "Ann.Lee@example.com"
    assert recipient.postal_address == ("1 High Street", "Town", "AB1 2CD")
    assert recipient.merge_values()["reference"] == "your reference number"
    assert Recipient().merge_values()["first_name"] == "customer"
    with pytest.raises(RecipientError, match="Unknown recipient key"):
        Recipient.from_mapping({"first_name": "A", "password": "x"})
    with pytest.raises(RecipientError, match="not valid"):
        Recipient(email="not an address")
    with pytest.raises(RecipientError, match="must be text"):
        Recipient.from_mapping({"first_name": 3})
    with pytest.raises(RecipientError, match="limit is 200"):
        Recipient(first_name="x" * 201)
    with pytest.raises(RecipientError, match="envelope window fits the name and 5 more"):
        Recipient(postal_address=tuple(f"line {i}" for i in range(6)))
