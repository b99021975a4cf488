"""Recipient CSV import: every row imported, merged or rejected with its reason; whole-file
problems refused with nothing kept; the error report safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from sqlalchemy.orm import Session

from composer.models import Recipient, RecipientList, RecipientRowError
from composer.recipients import checking, digest, duplicates, importing, pending, reading
from composer.recipients.digest import list_digest
from composer.recipients.importing import ImportReport, import_csv
from composer.recipients.lists import error_report_csv, mask_email, mask_name
from composer.recipients.reading import ImportRefused, UploadTooLarge
from composer.rendering.errors import RecipientError
from composer.rendering.merge_fields import Recipient as MergeRecipient

HEADER = "email,first_name,last_name,reference,country,language,data_categories\n"


def run(ctx: dict[str, Any], data: str | bytes, **options: Any) -> ImportReport:
    raw = data.encode() if isinstance(data, str) else data
    options.setdefault("max_bytes", 10 * 1024 * 1024)
    options.setdefault("filename", "customers.csv")
    report = import_csv(
        ctx["session"],
        io.BytesIO(raw),
        incident=ctx["incident"],
        by=ctx["user"],
        categories=ctx["categories"],
        places=ctx["places"],
        **options,
    )
    ctx["session"].commit()
    return report


def stored(session: Session, report: ImportReport) -> list[Recipient]:
    return list(
        session.scalars(
            sa.select(Recipient)
            .where(Recipient.list_id == report.recipient_list.id)
            .order_by(Recipient.id)
        )
    )


def errors(session: Session, report: ImportReport) -> list[tuple[int, str, str, str]]:
    return [
        (e.row, e.column, e.problem, e.value)
        for e in session.scalars(
            sa.select(RecipientRowError)
            .where(RecipientRowError.list_id == report.recipient_list.id)
            .order_by(RecipientRowError.id)
        )
    ]


def assert_accounted(session: Session, report: ImportReport) -> None:
    """imported + merged + rejected == rows, and the database agrees with the counts."""
    assert report.imported + report.merged + report.rejected == report.rows
    people = stored(session, report)
    assert len(people) == report.imported
    assert sum(len(p.source_rows) for p in people) == report.imported + report.merged
    rejected_rows = {row for row, *_ in errors(session, report)}
    assert len(rejected_rows) == report.rejected
    used_rows = {row for p in people for row in p.source_rows}
    assert not used_rows & rejected_rows
    assert used_rows | rejected_rows == set(range(2, report.rows + 2))
    saved = session.get(RecipientList, report.recipient_list.id)
    assert saved is not None
    assert (saved.rows, saved.imported, saved.merged, saved.rejected) == (
        report.rows,
        report.imported,
        report.merged,
        report.rejected,
    )
    assert saved.digest == report.digest == list_digest(session, saved)


def nothing_stored(session: Session) -> bool:
    return not any(
        session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (RecipientList, Recipient, RecipientRowError)
    )


# --- Good rows --------------------------------------------------------------------------------


def test_good_rows_are_imported_normalised(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        "Email , First_Name,LAST_NAME,reference,address_line_1,city,postcode,country,us_state,"
        "language,data_categories\n"
        " Alexandra@Example.COM ,Alexandra,Smith,CUST-1,12 High Street,Townsville,TS1 4AB,gb,,"
        "en_gb,Email; name\n"
        "ben@example.org,Ben,Okafor,,1 Main St,Springfield,12345,US,ca,EN,\n"
        ",Chloé,Martin,CUST-3,3 rue de la Paix,Paris,75002,FR,,fr,postal-address\n",
    )
    assert (report.rows, report.imported, report.merged, report.rejected) == (3, 3, 0, 0)
    assert report.warnings == ()
    alex, ben, chloe = stored(ctx["session"], report)
    assert alex.email == "alexandra@example.com"
    assert (alex.first_name, alex.last_name, alex.reference) == ("Alexandra", "Smith", "CUST-1")
    assert alex.address == ["12 High Street", "Townsville", "TS1 4AB"]
    assert (alex.country, alex.language, alex.data_categories) == ("GB", "en-GB", ["email", "name"])
    assert (ben.country, ben.us_state, ben.language) == ("US", "CA", "en")
    assert chloe.email == ""  # post only
    assert chloe.source_rows == [4]
    assert report.recipient_list.filename == "customers.csv"
    assert report.recipient_list.size_bytes > 0
    assert_accounted(ctx["session"], report)


def test_a_semicolon_separated_file_is_read_too(ctx: dict[str, Any]) -> None:
    report = run(ctx, 'email;first_name;data_categories\nann@example.com;Ann;"name;email"\n')
    (ann,) = stored(ctx["session"], report)
    assert (ann.email, ann.first_name, ann.data_categories) == (
        "ann@example.com",
        "Ann",
        ["email", "name"],
    )


def test_a_utf8_byte_order_mark_is_ignored(ctx: dict[str, Any]) -> None:
    report = run(ctx, b"\xef\xbb\xbfemail,first_name\r\nzoe@example.com,Zo\xc3\xab\r\n")
    (zoe,) = stored(ctx["session"], report)
    assert (zoe.email, zoe.first_name) == ("zoe@example.com", "Zoë")


def test_unknown_columns_are_a_warning_not_an_error(ctx: dict[str, Any]) -> None:
    report = run(ctx, "email,Notes,phone,\nann@example.com,likes cats,0123,\n")
    assert report.imported == 1
    assert len(report.warnings) == 2
    assert "“Notes”, “phone” are not a recipient column" in report.warnings[0]
    assert "Column 4 has no name" in report.warnings[1]
    assert report.recipient_list.warnings == list(report.warnings)


def test_a_file_without_an_email_column_can_be_post_only(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        "first_name,address_line_1,city,postcode,country\n"
        "Ann,1 High Street,Townsville,,GB\n"
        "Ben,2 High Street,,TS1 4AB,GB\n"
        "Cal,3 High Street,Townsville,TS1 4AB,\n"
        "Dee,,Townsville,TS1 4AB,GB\n",
    )
    assert (report.imported, report.rejected) == (2, 2)
    problems = errors(ctx["session"], report)
    assert [row for row, *_ in problems] == [4, 5]
    assert all("no email address and no complete postal address" in p for _, _, p, _ in problems)
    assert_accounted(ctx["session"], report)


# --- Duplicates -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", [5000, 2, 1])
def test_duplicates_merge_first_row_wins_categories_unioned(
    ctx: dict[str, Any], chunk_rows: int
) -> None:
    report = run(
        ctx,
        HEADER + "ann@example.com,Ann,Lee,A-1,GB,en,name\n"
        "ben@example.com,Ben,,,,,\n"
        "ANN@Example.com,Annie,Li,A-2,FR,fr,email;name\n"
        "carl@example.com,Carl,,,,,\n"
        "ann@EXAMPLE.com,,,,,,password-hashed\n",
        chunk_rows=chunk_rows,
    )
    assert (report.rows, report.imported, report.merged, report.rejected) == (5, 3, 2, 0)
    ann = stored(ctx["session"], report)[0]
    assert (ann.first_name, ann.last_name, ann.reference, ann.country, ann.language) == (
        "Ann",
        "Lee",
        "A-1",
        "GB",
        "en",
    )
    assert ann.data_categories == ["email", "name", "password-hashed"]
    assert ann.source_rows == [2, 4, 6]
    assert_accounted(ctx["session"], report)


def test_post_only_rows_are_never_merged(ctx: dict[str, Any]) -> None:
    line = ",Ann,,,1 High Street,Townsville,,GB\n"
    report = run(
        ctx,
        "email,first_name,last_name,reference,address_line_1,city,postcode,country\n" + line * 3,
    )
    assert (report.imported, report.merged) == (3, 0)


def test_hash_collisions_never_merge_different_people(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every address "collides": the database, not the hash, decides what is a duplicate.
    monkeypatch.setattr(duplicates, "hash", lambda _value: 0, raising=False)
    report = run(
        ctx,
        HEADER + "ann@example.com,Ann,,,,,name\n"
        "ben@example.com,Ben,,,,,\n"
        "cat@example.com,Cat,,,,,\n"
        "ann@example.com,,,,,,email\n"
        "cat@example.com,,,,,,\n",
        chunk_rows=1,
    )
    assert (report.imported, report.merged) == (3, 2)
    assert [p.email for p in stored(ctx["session"], report)] == [
        "ann@example.com",
        "ben@example.com",
        "cat@example.com",
    ]
    assert_accounted(ctx["session"], report)


def test_the_digest_ignores_row_order_and_sees_every_change(ctx: dict[str, Any]) -> None:
    rows = [
        "ann@example.com,Ann,Lee,A-1,GB,en,name\n",
        "ben@example.com,Ben,,,,,\n",
        ",Post,Only,,GB,,\n",
    ]
    head = "email,first_name,last_name,reference,country,language,data_categories,"
    head += "address_line_1,city\n"
    body = [r.rstrip("\n") + ",1 High St,Town\n" for r in rows]
    first = run(ctx, head + "".join(body))
    again = run(ctx, head + "".join(reversed(body)))
    changed = run(ctx, head + "".join(body).replace("A-1", "A-2"))
    assert first.digest == again.digest
    assert first.digest != changed.digest
    assert len(first.digest) == 64


STRINGS = ["", "plain", 'quote " and \\ backslash', "Zoë", "日本", "🙂 emoji", "tab\tin", "\u2028"]


@pytest.mark.parametrize("lists", [None, {}])
def test_the_hand_built_json_matches_json_dumps(lists: dict[str, str] | None) -> None:
    for values in (
        [*STRINGS[:4], STRINGS, *STRINGS[4:7], []],
        [*STRINGS[4:8], [], *STRINGS[1:4], STRINGS[::-1]],
    ):
        # As stored: the address and the data categories are JSON text.
        stored = [json.dumps(v) if isinstance(v, list) else v for v in values]
        for _ in range(2):  # the second time, from ``lists``
            assert digest.canonical_line(stored, lists) == (
                json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n"
            )
    assert pending.json_texts(STRINGS) == json.dumps(STRINGS)


@pytest.mark.parametrize(
    "stored",
    [
        "[]",
        '[""]',
        '["", ""]',
        '["a", "b"]',
        '[",", "x", ", "]',
        '["a","b"]',
        '["a" , "b"]',
        '[ "a", "b" ]',
        '["a",\n "b"]',
        '["a\\"b", "c"]',
        '["Zo\\u00eb"]',
        '["Zoë", "x"]',
        '["tab\\tin"]',
    ],
)
def test_stored_lists_become_compact_json(stored: str) -> None:
    # Stored JSON (json.dumps with its ", " separators, or any other spelling) becomes the
    # compact text of the same list, escaped as json.dumps(ensure_ascii=False) escapes.
    compact = json.dumps(json.loads(stored), ensure_ascii=False, separators=(",", ":"))
    assert digest._compact_list(stored) == compact


def test_the_digest_is_the_documented_hash(ctx: dict[str, Any]) -> None:
    # Recomputed from the stored rows, following docs/recipients.md: one JSON line per
    # recipient, in byte order of the values (JSON columns as stored).
    report = run(
        ctx,
        "email,first_name,last_name,address_line_1,city,country,data_categories\n"
        "zed@example.com,Zed,Ö,,,,email\n"
        "amy@example.com,Amy,,,,,\n"
        ",Post,B,2 High St,Town,GB,name\n"
        ",Post,A,1 High St,Town,GB,\n"
        ",Émile,,9 Rue,Paris,FR,name;email\n",
    )
    people = stored(ctx["session"], report)
    keyed = []
    for p in people:
        values = [p.email, p.first_name, p.last_name, p.reference, p.address, p.country]
        values += [p.us_state, p.language, p.data_categories]
        key = tuple(json.dumps(v) if isinstance(v, list) else v for v in values)
        keyed.append((key, json.dumps(values, ensure_ascii=False, separators=(",", ":"))))
    text = "".join(line + "\n" for _, line in sorted(keyed))
    assert report.digest == hashlib.sha256(text.encode()).hexdigest()


def test_sqlite_builds_the_same_lines_as_the_documented_json(ctx: dict[str, Any]) -> None:
    # On SQLite the digest's lines come from its JSON functions; whatever the stored values
    # hold (quote marks, backslashes, other scripts, emoji, lists spelt with \u escapes or odd
    # spacing), the digest must be the one the lines json.dumps writes give.
    session = ctx["session"]
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the lines are built in Python on other databases")
    report = run(
        ctx,
        "email,first_name,last_name,reference,address_line_1,city,country,data_categories\n"
        'q@example.com,"Al ""Q"" Smith",back\\slash,R/1,"1 ""Rue"" \\ Zoë",Paris,FR,email\n'
        "e@example.com,🙂,日本,,Åsgatan 1,Malmö,SE,name;email\n"
        ",Post,Only,,2 High St,Town,GB,name\n"
        "E@EXAMPLE.COM,Again,,,,,,phone\n",
    )
    assert report.merged == 1
    plain = digest._digest(session.connection(), report.recipient_list.id, in_sqlite=False)
    assert report.digest == plain
    # Lists written another way (by hand, or by a future version): escapes and spaces.
    session.execute(
        sa.text("UPDATE recipient SET address = :spelt WHERE email = 'q@example.com'"),
        {"spelt": '[ "1 \\"Rue\\" \\\\ Zo\\u00eb" ,"Paris\\/x"]'},
    )
    in_sqlite = digest._digest(session.connection(), report.recipient_list.id, in_sqlite=True)
    plain = digest._digest(session.connection(), report.recipient_list.id, in_sqlite=False)
    assert in_sqlite == plain != report.digest


def test_the_import_gives_back_the_bigger_sqlite_cache(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = ctx["session"]
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    seen: list[int] = []
    real = importing._Writer.write

    def write(writer: Any, chunk: Any) -> None:
        seen.append(connection.exec_driver_sql("PRAGMA cache_size").scalar())
        real(writer, chunk)

    monkeypatch.setattr(importing._Writer, "write", write)
    run(ctx, "email\na@example.com\n")
    with pytest.raises(ImportRefused):
        run(ctx, b"")
    assert seen == [-importing.IMPORT_CACHE_KIB]
    assert session.connection().exec_driver_sql("PRAGMA cache_size").scalar() == before


def test_duplicate_lookups_use_the_partial_unique_index(app: Flask, ctx: dict[str, Any]) -> None:
    if ctx["session"].get_bind().dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plan")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT recipient.id, recipient.email"):
            statements.append((statement, params))

    engine = ctx["session"].get_bind()
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run(
            ctx,
            HEADER + "ann@example.com,A,,,,,\nben@example.com,B,,,,,\nann@example.com,,,,,,\n",
            chunk_rows=1,
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    ((statement, params),) = statements
    plan = ctx["session"].connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    assert "uq_recipient_list_email" in " ".join(str(row) for row in plan)


# --- Bad rows ---------------------------------------------------------------------------------


def test_bad_emails_are_rejected_with_recipients_message(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        HEADER + "ann@example.com,Ann,,,,,\n"
        "not-an-address,Ben,,,,,\n"
        "two@@example.com,Cal,,,,,\n"
        "dee@localhost,Dee,,,,,\n"
        "eve@example.com,Eve,,,,,\n",
    )
    assert (report.imported, report.rejected) == (2, 3)
    problems = errors(ctx["session"], report)
    assert [(row, column) for row, column, *_ in problems] == [
        (3, "email"),
        (4, "email"),
        (5, "email"),
    ]
    for _, _, problem, _ in problems:
        assert problem.startswith("The recipient's email address is not valid:")
    assert problems[0][3] == "not-an-address"
    assert_accounted(ctx["session"], report)


def test_values_are_checked_with_the_rules_of_merge_recipient(ctx: dict[str, Any]) -> None:
    long_name = "A" * 201
    report = run(
        ctx,
        "email,first_name,last_name,address_line_1,address_line_2,address_line_3,city,region,"
        "postcode,country\n"
        f"ann@example.com,{long_name},Lee,,,,,,,\n"
        'ben@example.com,Ben,"Bad\x07Bell",,,,,,,\n'
        "cal@example.com,Cal,Ok,1,2,3,Town,Shire,PC1,GB\n"
        "dee@example.com,Dee,Ok,1,2,,Town,,PC1,GB\n",
    )
    assert (report.imported, report.rejected) == (1, 3)
    problems = {
        row: (column, problem) for row, column, problem, _ in errors(ctx["session"], report)
    }
    with pytest.raises(RecipientError) as too_long:
        MergeRecipient(first_name=long_name)
    assert problems[2] == ("first_name", str(too_long.value))
    assert problems[3][0] == "last_name"
    assert "control character" in problems[3][1]
    assert problems[4][0] == ""
    assert "6 lines" in problems[4][1]
    assert_accounted(ctx["session"], report)


def test_codes_and_categories_are_checked(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        "email,country,us_state,language,data_categories\n"
        "a@example.com,UK,,,\n"
        "b@example.com,XX,,,\n"
        "c@example.com,GB,CA,,\n"
        "d@example.com,US,ZZ,,\n"
        "e@example.com,,,english,\n"
        "f@example.com,,,,emial;name\n"
        'g@example.com,,,,"name,email"\n'
        "h@example.com,us,ny,pt_br,name\n",
    )
    problems = {row: problem for row, _, problem, _ in errors(ctx["session"], report)}
    assert "the United Kingdom is GB" in problems[2]
    assert "“XX” is not an ISO 3166-1 country code" in problems[3]
    assert "only for addresses in the US" in problems[4]
    assert "“ZZ” is not a US state" in problems[5]
    assert "not a language tag" in problems[6]
    assert "did you mean “email”" in problems[7]
    assert "semicolons" in problems[8]
    (h,) = stored(ctx["session"], report)
    assert (h.country, h.us_state, h.language) == ("US", "NY", "pt-BR")
    assert_accounted(ctx["session"], report)


def test_rows_with_the_wrong_number_of_cells(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        "email,first_name\n"
        "ann@example.com,Ann,,\n"  # trailing empty cells: fine
        "ben@example.com,Ben,Extra\n"
        "cal@example.com\n"
        "\n"
        ",\n"
        "dee@example.com,Dee\n",
    )
    assert (report.rows, report.imported, report.rejected) == (6, 2, 4)
    problems = {row: problem for row, _, problem, _ in errors(ctx["session"], report)}
    assert "3 cells but the first line names 2 columns" in problems[3]
    assert "1 cells" in problems[4]
    assert problems[5] == problems[6] == "The row is empty."
    assert_accounted(ctx["session"], report)


def test_an_embedded_line_break_rejects_the_row_not_the_file(ctx: dict[str, Any]) -> None:
    report = run(
        ctx,
        'email,first_name,last_name\nann@example.com,"Ann\nMarie",Lee\n'
        'ben@example.com,Ben,"Multi\r\nline"\ncal@example.com,Cal,Ok\n',
    )
    assert (report.rows, report.imported, report.rejected) == (3, 1, 2)
    problems = errors(ctx["session"], report)
    assert [(row, column) for row, column, *_ in problems] == [(2, "first_name"), (3, "last_name")]
    assert "line break" in problems[0][2]
    (cal,) = stored(ctx["session"], report)
    assert cal.source_rows == [4]  # rows are counted as a spreadsheet shows them
    assert_accounted(ctx["session"], report)


FORMULA = "=cmd|' /C calc'!A0"


def test_formula_cells_are_data_and_the_report_escapes_them(ctx: dict[str, Any]) -> None:
    # Names may start with "=" (rarely, but legitimately): they are stored as typed, and every
    # CSV the app writes escapes them.
    report = run(
        ctx,
        f'email,first_name,last_name\nann@example.com,"{FORMULA}",Lee\n'
        f"{FORMULA},Ben,Bad\n\"@SUM(1+1)*cmd|'/C calc'!A0\",Cal,Bad\n",
    )
    (ann,) = stored(ctx["session"], report)
    assert ann.first_name == FORMULA
    text = "".join(error_report_csv(ctx["session"], report.recipient_list))
    cells = list(csv.reader(io.StringIO(text)))
    assert cells[0] == ["row", "column", "problem", "value"]
    assert [c[0] for c in cells[1:]] == ["3", "4"]
    assert cells[1][3] == "'" + FORMULA
    assert cells[2][3].startswith("'@SUM")
    for line in cells[1:]:
        for cell in line:
            assert cell[:1] not in ("=", "+", "-", "@")


def test_the_error_report_cuts_values_to_100_characters(ctx: dict[str, Any]) -> None:
    bad = "x" * 300 + "@"
    report = run(ctx, f"email\n{bad}\n")
    (problem,) = errors(ctx["session"], report)
    assert len(problem[3]) == 100
    text = "".join(error_report_csv(ctx["session"], report.recipient_list, batch=1))
    assert text.count("\r\n") == 2


# --- Huge lines -------------------------------------------------------------------------------


def test_a_huge_line_rejects_that_row_and_keeps_the_others(ctx: dict[str, Any]) -> None:
    huge = "B" * (2 * 1024 * 1024)
    report = run(
        ctx,
        f'email,first_name\nann@example.com,Ann\nben@example.com,"{huge}"\ncal@example.com,Cal\n',
    )
    assert (report.rows, report.imported, report.rejected) == (3, 2, 1)
    ((row, column, problem, value),) = errors(ctx["session"], report)
    assert (row, column) == (3, "")
    assert "Line 3 of the file is longer than 128 KB" in problem
    assert value.startswith("ben@example.com")
    assert len(value) <= 100
    assert_accounted(ctx["session"], report)


def test_a_runaway_quoted_cell_is_one_rejected_row(ctx: dict[str, Any]) -> None:
    # A quoted value over many short lines, past the csv module's field limit (131,072
    # characters): one rejected row, and the rows after it are read as rows.
    lines = "".join(f'text "" line {i}\n' for i in range(15_000))
    report = run(
        ctx,
        f'email,first_name\nann@example.com,Ann\nben@example.com,"{lines}"\ncal@example.com,Cal\n',
    )
    assert (report.rows, report.imported, report.rejected) == (3, 2, 1)
    assert [p.email for p in stored(ctx["session"], report)] == [
        "ann@example.com",
        "cal@example.com",
    ]
    assert stored(ctx["session"], report)[1].source_rows == [4]
    ((row, _, problem, _),) = errors(ctx["session"], report)
    assert row == 3
    assert "from line 3 of the file) has a quoted value longer than 131,072" in problem
    assert report.warnings == ()
    assert_accounted(ctx["session"], report)


def test_a_quote_that_never_closes_says_what_it_swallowed(ctx: dict[str, Any]) -> None:
    rest = "".join(f"p{i}@example.com,P{i}\n" for i in range(12_000))
    report = run(ctx, f'email,first_name\nann@example.com,Ann\nben@example.com,"Ben\n{rest}')
    assert (report.rows, report.imported, report.rejected) == (2, 1, 1)
    problems = errors(ctx["session"], report)
    assert [row for row, *_ in problems] == [3, 3]
    assert "never closes" in problems[1][2]
    assert "line 12003" in problems[1][2]
    assert report.warnings == (problems[1][2],)
    assert_accounted(ctx["session"], report)


def test_a_short_unclosed_quote_rejects_the_row_it_swallows(ctx: dict[str, Any]) -> None:
    # The file ends inside the quotes: what follows is part of Ben's name, which a line
    # break makes unusable.
    report = run(ctx, 'email,first_name\nann@example.com,Ann\nben@example.com,"Ben\ncal@x.com,C\n')
    assert (report.rows, report.imported, report.rejected) == (2, 1, 1)
    ((row, column, problem, value),) = errors(ctx["session"], report)
    assert (row, column) == (3, "first_name")
    assert "line break" in problem
    assert value == "Ben\ncal@x.com,C"
    assert_accounted(ctx["session"], report)


# --- Whole-file problems: refused, nothing kept ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty (0 bytes)"),
        (b"email,first_name\r\n", "a header line but no rows of recipients"),
        (b"\n\nann@example.com\n", "The first line is empty"),
        (b"first_name,city\nAnn,Town\n", "no “email” column"),
        (b"email,Email\nann@example.com,x\n", "appears twice"),
        (
            "email,first_name\nann@example.com,Ann\nren\u00e9@example.com,Ren\u00e9\n".encode(
                "latin-1"
            ),
            "line 3 has the byte 0xE9 at character 4",
        ),
        ("email\nann@example.com\n".encode("utf-16"), "UTF-16"),
        (b"email,first_name\r" + b"ann@example.com,Ann\r" * 10_000, "carriage return only"),
        (b"email,first_name\rann@example.com,Ann\r", "carriage return only"),
    ],
)
def test_whole_file_problems_refuse_the_file(
    ctx: dict[str, Any], data: bytes, message: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        run(ctx, data)
    assert message in str(refused.value)
    assert "Nothing was imported" in str(refused.value)
    assert nothing_stored(ctx["session"])


def test_a_latin1_file_names_the_fix(ctx: dict[str, Any]) -> None:
    data = "email,first_name\nren\u00e9@example.com,Ren\u00e9\n".encode("latin-1")
    with pytest.raises(ImportRefused, match="CSV UTF-8"):
        run(ctx, data)


def test_an_encoding_error_late_in_the_file_keeps_nothing(ctx: dict[str, Any]) -> None:
    good = "".join(f"person{i}@example.com,P\n" for i in range(50))
    data = ("email,first_name\n" + good).encode() + b"bad@example.com,Ren\xe9\n"
    with pytest.raises(ImportRefused, match="line 52"):
        run(ctx, data, chunk_rows=10)
    assert nothing_stored(ctx["session"])


def test_a_file_over_the_limit_is_refused(ctx: dict[str, Any]) -> None:
    data = HEADER + "".join(f"person{i}@example.com,P,,,,,\n" for i in range(200))
    with pytest.raises(UploadTooLarge) as refused:
        run(ctx, data, max_bytes=2048)
    assert "larger than the limit of 2 KB" in str(refused.value)
    assert nothing_stored(ctx["session"])


def test_format_megabytes() -> None:
    assert reading.format_megabytes(200 * 1024 * 1024) == "200 MB"
    assert reading.format_megabytes(1536 * 1024) == "1.5 MB"
    assert reading.format_megabytes(2048) == "2 KB"


# --- Every row accounted for --------------------------------------------------------------------


def test_every_row_is_accounted_for_in_a_messy_file(ctx: dict[str, Any]) -> None:
    lines = []
    for i in range(400):
        kind = i % 8
        if kind == 0:
            lines.append(f"p{i}@example.com,P{i},,,,,name")
        elif kind == 1:
            lines.append(f"P{i - 1}@EXAMPLE.COM,Dup,,,,,email")  # merged
        elif kind == 2:
            lines.append(f"bad{i}@,B,,,,,")
        elif kind == 3:
            lines.append(f'p{i}@example.com,"Line\nbreak",,,,,')
        elif kind == 4:
            lines.append(f"p{i}@example.com,P,,,XX,,")
        elif kind == 5:
            lines.append("")
        elif kind == 6:
            lines.append(f"p{i}@example.com,{FORMULA},,,,,")
        else:
            lines.append(f"p{i % 16}@example.com,Again,,,,,")  # merged with an earlier row
    report = run(ctx, HEADER + "\n".join(lines) + "\n", chunk_rows=7)
    assert report.rows == 400
    assert min(report.imported, report.merged, report.rejected) > 0
    assert_accounted(ctx["session"], report)


# --- Equivalence with merge.Recipient and email-validator ---------------------------------------

TEXT_VALUES = [
    "Ann",
    "  Ann  ",
    "\x1cAnn\x1f",  # stripped by str.strip, as Recipient does
    "Ann\x85",
    "An\x85n",
    "An\u2028n",
    "An\u2029n",
    "An\x7fn",
    "An\x9fn",
    "An\u00a0n",
    "An\u200bn",
    "An\tn",
    "=1+1",
    "A" * 200,
    "A" * 201,
    " " + "A" * 200 + " ",
    "Zoë 🙂",
]


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_the_fast_text_check_agrees_with_merge_recipient(value: str) -> None:
    try:
        MergeRecipient(first_name=value)
        expected = None
    except RecipientError as exc:
        expected = str(exc)
    found = checking.RowChecker.text(value.strip(), "first_name")
    if expected is None and checking.INVISIBLE.search(value):
        # The one rule of the upload's own: invisible formatting characters (below).
        assert found is not None
        assert "invisible character" in found
        return
    assert found == expected


EMAILS = [
    "alexandra@example.com",
    "Alexandra.Smith+tag@Example.COM",
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a" * 240 + "@example.com",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@example",
    "a@-example.com",
    "a@example..com",
    "a@localhost",
    "a@example.invalid",
    "a@EXAMPLE.org",
    "postmaster@example.com",
    "Ренат@example.com",
    "ann@bücher.example",
    "ann@xn--bcher-kva.example",
    "ann@[127.0.0.1]",
    '"quoted"@example.com',
    "Ann <ann@example.com>",
    "ann@example.com ",
    "ann@1.2.3.4",
    "ann@example.123",
]


def test_the_email_fast_path_agrees_with_email_validator() -> None:
    checker = checking.RowChecker(categories=(), countries=None, us_states=None)
    # Twice each, so the second pass goes through the per-domain cache.
    for address in EMAILS + EMAILS:
        try:
            normalized = validate_email(address, check_deliverability=False).normalized
            expected = (
                normalized.lower()
                if normalized.isascii()
                else normalized.translate(checking._ASCII_UPPER)
            )
        except EmailNotValidError:
            expected = ""
        found, problem = checker.email(address)
        assert found == expected, address
        assert (problem is None) == bool(expected), address


# --- Masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("alexandra@example.com", "a•••••••a@e••••••.com"),
        ("jo@example.co.uk", "j•@e•••••••••.uk"),
        ("a@b.com", "•@b.com"),
        ("bob@mail.example", "b••@m•••.example"),
        ("ann@localhost", "a••@l•••"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_mask_name() -> None:
    assert mask_name("Alexandra Smith") == "A•••••••• S••••"
    assert mask_name("  Zoë  ") == "Z••"
    assert mask_name("") == ""


# --- Invisible characters in names: refused, with row and column ------------------------------

#: Each character the review named, by code point: bidi embeddings, overrides and isolates, and
#: zero-width characters (U+FEFF inside a value as well as at its start).
INVISIBLE_CHARS = [
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
]


@pytest.mark.parametrize("char", INVISIBLE_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_in_names_are_refused_naming_row_and_column(
    ctx: dict[str, Any], char: str
) -> None:
    report = run(
        ctx,
        "email,first_name,last_name,reference\n"
        "ann@example.com,Ann,Lee,A1\n"
        f"ben@example.com,Ben,{char}kcab,A2\n"
        f"cal@example.com,Ca{char}l,Moss,A3\n"
        f"dee@example.com,Dee,Ray,A4{char}\n",
    )
    assert (report.imported, report.rejected) == (1, 3)
    found = errors(ctx["session"], report)
    assert [(row, column) for row, column, _, _ in found] == [
        (3, "last_name"),
        (4, "first_name"),
        (5, "reference"),
    ]
    code = f"U+{ord(char):04X}"
    for _row, _column, problem, value in found:
        assert f"invisible character, {code}" in problem
        # The report shows where the character is, and never holds it.
        assert char not in value
        assert f"<{code}>" in value
    assert ("Ann", "Lee") in {(p.first_name, p.last_name) for p in stored(ctx["session"], report)}
    assert_accounted(ctx["session"], report)


def test_visible_scripts_and_marks_in_names_are_kept(ctx: dict[str, Any]) -> None:
    names = ["\u0645\u062d\u0645\u062f", "\u05d3\u05e0\u05d4", "Zo\u00eb", "\u674e\u96f7", "O'Neil"]
    report = run(
        ctx,
        "email,first_name\n" + "".join(f"p{i}@example.com,{n}\n" for i, n in enumerate(names)),
    )
    assert (report.imported, report.rejected) == (5, 0)
    assert [p.first_name for p in stored(ctx["session"], report)] == names


# --- Files that are not CSV text: say what they are ---------------------------------------------


def _zip(*names: str, first: tuple[str, str] | None = None) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if first:
            archive.writestr(first[0], first[1], compress_type=zipfile.ZIP_STORED)
        for name in names:
            archive.writestr(name, "<x/>\n" * 50)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _zip("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/s1.xml"),
            "This is an Excel workbook (.xlsx)",
        ),
        (
            _zip(
                "content.xml",
                first=("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
            ),
            "This is an OpenDocument spreadsheet (.ods",
        ),
        (_zip("word/document.xml"), "word-processor document"),
        (_zip("people.csv"), "This is a zip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500, "Excel 97-2003 workbook (.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "This is a PDF document"),
        (__import__("gzip").compress(b"email\nann@example.com\n"), "compressed (gzip)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "This is an image"),
        (b"SQLite format 3\x00" + b"\x10\x00\x01\x01" * 30, "not a text file"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04", "not a text file"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 100, "not a text file"),
        ("email\nann@example.com\n".encode("utf-16"), "This is UTF-16 text"),
        ("email\nann@example.com\n".encode("utf-16-le"), "This is UTF-16 text"),
        ("email\nann@example.com\n".encode("utf-16-be"), "This is UTF-16 text"),
        ("email\nann@example.com\n".encode("utf-32"), "This is UTF-32 text"),
    ],
    ids=[
        "xlsx",
        "ods",
        "docx",
        "zip",
        "xls",
        "pdf",
        "gzip",
        "png",
        "sqlite",
        "exe",
        "elf",
        "utf16-bom",
        "utf16le",
        "utf16be",
        "utf32",
    ],
)
def test_a_file_that_is_not_csv_text_is_named_for_what_it_is(
    ctx: dict[str, Any], data: bytes, message: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        run(ctx, data)
    text = str(refused.value)
    assert message in text
    assert "Nothing was imported" in text
    if "UTF-16" not in message and "UTF-32" not in message:
        assert "UTF-16" not in text  # the old message called all of these UTF-16
    if "Excel" in message or "OpenDocument" in message:
        assert "save it as CSV UTF-8" in text
    assert nothing_stored(ctx["session"])
