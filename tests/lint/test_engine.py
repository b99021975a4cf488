"""The linter as a library: offsets, merging, switches, inline ignores, caching, real notices."""

from __future__ import annotations

import pytest

from composer.lint.engine import LintConfig, Linter, merge_overlaps, paragraphs
from composer.lint.findings import CATEGORIES, Finding
from tests.paths import DEV_NOTICES

DEV = DEV_NOTICES


def body(name: str) -> str:
    path = DEV / name
    if not path.exists():
        pytest.skip(f"the evaluation set is not beside the project ({path})")
    return path.read_text(encoding="utf-8").partition("\n---\n")[2]


def test_offsets_index_the_exact_text_even_with_crlf_and_curly_quotes(linter: Linter) -> None:
    text = (
        "Dear customer,\r\n\r\nWe\u2019re sorry. Some customer names may have been compromised.\r\n"
    )
    result = linter.lint(text)
    spans = [f for f in result.findings if f.end > f.start]
    assert spans
    for f in spans:
        assert text[f.start : f.end] == f.text
        assert f.category in CATEGORIES


def test_play_com_email_gets_the_findings_an_editor_would_circle(linter: Linter) -> None:
    text = body("048_playcom_2011.txt")
    found = {(f.category, text[f.start : f.end]) for f in linter.lint(text).findings}

    def flagged(words: str, category: str) -> bool:
        start = text.index(words)
        return any(
            c == category
            and start < text.index(span) + len(span)
            and text.index(span) < start + len(words)
            for c, span in found
        )

    assert flagged("a company", "vague-agent")
    assert flagged("part of", "vague-agent") or flagged("part of", "vague-scope")
    assert flagged("some customer names", "vague-scope")
    assert flagged("may have been compromised", "hedge")
    assert flagged("We take privacy and security very seriously", "cliche")
    assert flagged("Please be assured", "cliche")
    assert flagged("outside of Play.com", "blame-shift")
    assert flagged("every step", "unsupported-claim")
    assert flagged("any inconvenience", "cliche")


def test_tripadvisor_reads_easier_than_play_com(linter: Linter) -> None:
    trip = linter.lint(body("005_tripadvisor_2011.txt")).stats
    play = linter.lint(body("048_playcom_2011.txt")).stats
    assert trip["grade"] <= 9
    assert play["grade"] > trip["grade"]


def test_plain_good_notice_has_no_span_findings(linter: Linter) -> None:
    text = (
        "On 3 May a criminal used a stolen staff password to copy our customer list.\n"
        "The list had your name and email address. It did not have passwords or card numbers.\n"
        "We turned off the stolen password the same day and told the police.\n"
        "Be careful with emails that ask for your details. Call us on 0800 123 4567."
    )
    result = linter.lint(text)
    assert [f for f in result.findings if f.end > f.start] == []
    assert result.stats["grade"] <= 8


def test_nested_hits_merge_into_the_most_useful_category() -> None:
    def finding(category: str, start: int, end: int) -> Finding:
        return Finding("r." + category, category, "warning", start, end, "x" * (end - start), "m")

    merged = merge_overlaps([finding("cliche", 0, 20), finding("unsupported-claim", 5, 15)])
    assert [f.category for f in merged] == ["cliche"]
    # A jargon word inside a hedge is a second problem, so both stay.
    both = merge_overlaps([finding("hedge", 0, 25), finding("jargon", 14, 25)])
    assert sorted(f.category for f in both) == ["hedge", "jargon"]
    apart = merge_overlaps([finding("hedge", 0, 5), finding("jargon", 10, 15)])
    assert len(apart) == 2


def test_rules_and_categories_can_be_switched_off(linter: Linter) -> None:
    text = "Your email address may have been compromised. We take your privacy very seriously."
    off = linter.with_config(LintConfig(disabled=frozenset({"cliche", "hedge.modal-perfect"})))
    categories = {f.category for f in off.lint(text).findings}
    assert "cliche" not in categories
    assert "hedge" not in categories
    assert "jargon" in categories


def test_exceptions_are_never_flagged(linter: Linter) -> None:
    text = "Log in with Single Sign-On, as usual."
    assert any(f.rule == "jargon.security-terms" for f in linter.lint(text).findings)
    quiet = linter.with_config(LintConfig(exceptions=("single sign-on",)))
    assert not any(f.rule == "jargon.security-terms" for f in quiet.lint(text).findings)


def test_inline_ignore_covers_its_paragraph_only(linter: Linter) -> None:
    text = (
        "Your data may have been accessed. {# lint-ignore: hedge #}\n"
        "Your data may have been accessed.\n"
        "We take this very seriously. {# lint-ignore #}"
    )
    findings = linter.lint(text).findings
    first_line = len(text.split("\n")[0])
    assert not [f for f in findings if f.category == "hedge" and f.start < first_line]
    assert [f for f in findings if f.category == "hedge" and f.start > first_line]
    assert not [f for f in findings if f.category == "cliche"]
    assert not [f for f in findings if "lint-ignore" in f.text]


def test_hard_wrapped_sentences_are_one_paragraph() -> None:
    text = "We have no reason to believe password\ninformation ever left our systems.\nNext line."
    blocks = paragraphs(text)
    assert [b for _, b in blocks] == [
        "We have no reason to believe password\ninformation ever left our systems.",
        "Next line.",
    ]


def test_editing_one_paragraph_reparses_only_that_paragraph(linter: Linter) -> None:
    paras = [f"Paragraph {i}: some customers were affected on {i} May." for i in range(6)]
    linter.lint("\n".join(paras))
    misses = linter.parses.misses
    paras[3] = "Paragraph 3: a criminal copied 1,200 names on 3 May."
    linter.lint("\n".join(paras))
    assert linter.parses.misses == misses + 1


def test_empty_and_whitespace_text(linter: Linter) -> None:
    for text in ("", "   \n\n  "):
        result = linter.lint(text)
        assert [f for f in result.findings if f.end > f.start] == []
        assert result.stats["words"] == 0


ODD_TEXTS = [
    "Some",
    "some some some some",
    "may may have been",
    "A " * 500,
    "🙂 Your data 🔐 may have been taken. ✅",
    "\x00\x07 control characters \x1b[31m in text",
    "مرحبا. Some customers were affected. שלום",
    "x" * 5000,
    "...!!!???",
    "By a. By an. By some.",
    "{# lint-ignore #}",
    "{# lint-ignore: #} Some customers.",
    "Certain\n\n\nsome\ncustomers\nwere\naccessed",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_input_never_breaks_the_linter(linter: Linter, text: str) -> None:
    result = linter.lint(text)
    for f in result.findings:
        assert 0 <= f.start <= f.end <= len(text)
        assert text[f.start : f.end] == f.text


def test_every_dev_notice_lints_without_error(linter: Linter) -> None:
    if not DEV.exists():
        pytest.skip("the evaluation set is not beside the project")
    for path in sorted(DEV.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for f in linter.lint(text).findings:
            assert text[f.start : f.end] == f.text, path.name
