"""Markdown to HTML with raw HTML off and the wording untouched; Markdown to plain text."""

from __future__ import annotations

import pytest

from composer.rendering.markdown import markdown_to_html, markdown_to_text


@pytest.mark.parametrize(
    "hostile",
    [
        '<img src="file:///etc/passwd">',
        "<script>alert(1)</script>",
        '<link rel="attachment" href="file:///etc/passwd">',
        '<a href="javascript:alert(1)">x</a>',
        "<style>body{background:url(http://127.0.0.1:9/x.png)}</style>",
    ],
)
def test_raw_html_in_a_draft_is_text(hostile: str) -> None:
    html = markdown_to_html(f"Before {hostile} after\n\n{hostile}\n")
    assert "<img" not in html
    assert "<script" not in html
    assert "<link" not in html
    assert "<style" not in html
    assert 'href="javascript' not in html
    assert hostile.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in html


def test_wording_is_not_changed() -> None:
    text = 'We said "sorry" -- twice... (c) (tm) +- 1/2 it\'s'
    html = markdown_to_html(text)
    escaped = text.replace('"', "&quot;")
    assert html == f"<p>{escaped}</p>\n"
    assert markdown_to_text(text) == text + "\n"


def test_links_only_to_the_web_mail_and_phone() -> None:
    html = markdown_to_html(
        "[site](https://example.com/a?b=1) [mail](mailto:help@example.com) [call](tel:0800) "
        "[bad](javascript:alert(1)) [file](file:///etc/passwd) [data](data:text/html,x) "
        "[relative](/account) <https://auto.example.com>"
    )
    assert '<a href="https://example.com/a?b=1">site</a>' in html
    assert '<a href="mailto:help@example.com">mail</a>' in html
    assert '<a href="tel:0800">call</a>' in html
    assert '<a href="https://auto.example.com">' in html
    for text in (
        "[bad](javascript:alert(1))",
        "[file](file:///etc/passwd)",
        "[relative](/account)",
    ):
        assert text in html
    assert html.count("<a ") == 4


def test_pictures_are_their_alt_text() -> None:
    html = markdown_to_html("![Our logo](http://tracker.example/pixel.png) and text")
    assert html == "<p>Our logo and text</p>\n"


def test_line_breaks_are_kept() -> None:
    assert markdown_to_html("Jane Smith\nHead of Security") == (
        "<p>Jane Smith<br />\nHead of Security</p>\n"
    )


def test_plain_text_reads_well() -> None:
    text = markdown_to_text(
        """Dear Ann,

## What happened

A *criminal* copied **your** data.
It was on 3 May.

## What you can do

- Watch for fake emails.
- Change your password:
  1. Go to [our site](https://example.com/pw).
  2. Press `Reset`.
- Email [help@example.com](mailto:help@example.com).

> Quoted advice
> on two lines

| Who | When |
|-----|------|
| us  | now  |
"""
    )
    assert text == (
        "Dear Ann,\n"
        "\n"
        "What happened\n"
        "-------------\n"
        "\n"
        "A criminal copied your data.\n"
        "It was on 3 May.\n"
        "\n"
        "What you can do\n"
        "---------------\n"
        "\n"
        "- Watch for fake emails.\n"
        "- Change your password:\n"
        "  1. Go to our site (https://example.com/pw).\n"
        "  2. Press Reset.\n"
        "- Email help@example.com.\n"
        "\n"
        "> Quoted advice\n"
        "> on two lines\n"
        "\n"
        "Who | When\n"
        "us | now\n"
    )


def test_plain_text_loose_lists_and_headings() -> None:
    text = markdown_to_text("# Title\n\n- one\n\n- two\n\n---\n\n    code\n")
    assert text == "Title\n=====\n\n- one\n\n- two\n\n----\n\n    code\n"
