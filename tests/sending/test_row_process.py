"""A large file's rows checked in a second process (``row_process``): the same list, row for
row and error for error, as one process makes; refusals, a killed or failing second process and
a broken upload keep nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa

from composer.models import Recipient
from composer.recipients import row_process
from composer.recipients.lists import ImportRefused, UploadTooLarge, import_csv
from composer.recipients.row_process import RowProcessFailed
from tests.sending.test_recipients import (
    assert_accounted,
    errors,
    nothing_stored,
    run,
    stored,
)

HEADER = (
    "email,first_name,last_name,reference,address_line_1,address_line_2,city,postcode,country,"
    "us_state,language,data_categories,notes\r\n"
)
ROWS = [
    "ann@example.com,Ann,Lee,C-1,1 High St,,Leeds,LS1 1AA,GB,,en-GB,email;name,\r\n",
    # Merged in the same chunk (three rows a chunk), data categories combined.
    "ANN@Example.com,Annie,,C-9,,,,,,,,postal-address,\r\n",
    "ben@example.org,Ben,Okafor,,1 Main St,Apt 4,Springfield,12345,US,ca,en,name,\r\n",
    # Merged across chunks: ben's row was written two chunks back.
    'Ben@EXAMPLE.org,Benjamin,,"C-2",,,,,,,,email;phone,\r\n',
    "not-an-address,Cal,,,,,,,,,,,\r\n",
    # A formula and a script tag are names like any other; the error report quotes them.
    "dee@example.com,=cmd|' /C calc'!A0,<script>alert(1)</script>,,,,,,,,,,\r\n",
    "eve@example.com,Eve,,,,,,,UK,,,,\r\n",
    "fay@example.com,Fay,,,,,,,FR,CA,xx-yy-zz,secret,\r\n",
    # A quoted value over two lines, and names in other scripts.
    'gus@example.com,Gus,"Müller\nJr",,"2 rue de la Paix",,Paris,75002,FR,,fr,,\r\n',
    "hé@exämple.com,Hélène,Nguyễn,,,,,,,,,,\r\n",
    "ida@example.com,Ida,,,,,,\r\n",
    ",,,,,,,,,,,,\r\n",
    ",Jo,Smith,,3 Low Rd,,,,GB,,,,\r\n",
    ",Kit,Jones,,4 Low Rd,,York,YO1 1AA,GB,,,,\r\n",
    f"lee@example.com,{'L' * 300},,,,,,,,,,,\r\n",
    "mo@example.com,Mo,,,,,,,,,,,a note\r\n",
    f'nia@example.com,"{"N" * (200 * 1024)}",,,,,,,,,,,\r\n',
    "ann@example.com,Ann again,,,,,,,,,,name;phone,\r\n",
    "oli@example.com,Oli,,,,,,,,,,,",  # no line end at the end of the file
]


def import_both_ways(ctx: dict[str, Any], data: bytes, **options: Any) -> list[Any]:
    """The file imported in one process and then in two; what each stored."""
    seen = []
    for second_process_from_bytes in (0, 1):
        report = run(ctx, data, second_process_from_bytes=second_process_from_bytes, **options)
        assert_accounted(ctx["session"], report)
        saved = report.recipient_list
        seen.append(
            {
                "counts": (report.rows, report.imported, report.merged, report.rejected),
                "warnings": report.warnings,
                "digest": report.digest,
                "size": saved.size_bytes,
                "recipients": [
                    (
                        r.email,
                        r.first_name,
                        r.last_name,
                        r.reference,
                        r.address,
                        r.country,
                        r.us_state,
                        r.language,
                        r.data_categories,
                        r.source_rows,
                    )
                    for r in stored(ctx["session"], report)
                ],
                "errors": errors(ctx["session"], report),
            }
        )
    return seen


def test_two_processes_store_exactly_what_one_stores(ctx: dict[str, Any]) -> None:
    data = (HEADER + "".join(ROWS)).encode()
    one, two = import_both_ways(ctx, data, chunk_rows=3)
    assert one == two
    assert two["counts"] == (len(ROWS), 7, 3, 9)  # the value over two lines is one row
    assert [r[0] for r in two["recipients"]] == [
        "ann@example.com",
        "ben@example.org",
        "dee@example.com",
        "hé@exämple.com",
        "",
        "mo@example.com",
        "oli@example.com",
    ]
    ann, ben = two["recipients"][:2]
    assert ann[8] == ["email", "name", "phone", "postal-address"]
    assert ann[9] == [2, 3, 19]
    assert ben[9] == [4, 5]  # merged across chunks, by the database
    assert two["recipients"][2][1:3] == ("=cmd|' /C calc'!A0", "<script>alert(1)</script>")
    problems = {row: problem for row, _, problem, _ in two["errors"]}
    assert sorted(problems) == [6, 8, 9, 10, 12, 13, 14, 16, 18]
    assert "line break" in problems[10]
    # Line numbers count the quoted line break, across the two processes.
    assert problems[18].startswith("Line 19 of the file is longer than 128 KB")
    assert two["warnings"] == (
        "Column “notes” is not a recipient column and was ignored "
        "(column names are case-insensitive; see the list of columns).",
    )


def test_two_processes_handle_a_quote_that_never_closes_alike(ctx: dict[str, Any]) -> None:
    # Past the csv field limit: the rest of the file is skipped and one warning says so.
    rest = "".join(f"p{i}@example.com,P{i}\n" for i in range(12_000))
    data = f'email,first_name\nann@example.com,Ann\nben@example.com,"Ben\n{rest}'.encode()
    one, two = import_both_ways(ctx, data)
    assert one == two
    assert two["counts"] == (2, 1, 0, 1)
    assert "line 12003" in two["warnings"][0]


def test_a_runaway_value_in_the_second_process_is_one_rejected_row(ctx: dict[str, Any]) -> None:
    lines = "".join(f'text "" line {i}\n' for i in range(15_000))
    data = (
        f'email,first_name\nann@example.com,Ann\nben@example.com,"{lines}"\ncal@example.com,Cal\n'
    ).encode()
    one, two = import_both_ways(ctx, data, chunk_rows=1)
    assert one == two
    assert two["counts"] == (3, 2, 0, 1)


def test_the_second_process_refuses_a_file_that_stops_being_utf8(ctx: dict[str, Any]) -> None:
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(5000))).encode()
    data += "caf\u00e9@example.com\n".encode("latin-1") + b"z@example.com\n"
    messages = []
    for second_process_from_bytes in (0, 1):
        with pytest.raises(ImportRefused) as refused:
            run(ctx, data, second_process_from_bytes=second_process_from_bytes)
        messages.append(str(refused.value))
        assert nothing_stored(ctx["session"])
    assert messages[0] == messages[1]
    assert "line 5002 has the byte 0xE9 at character 4" in messages[1]


def test_the_second_process_refuses_a_file_over_the_limit(ctx: dict[str, Any]) -> None:
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(20_000))).encode()
    with pytest.raises(UploadTooLarge) as refused:
        run(ctx, data, max_bytes=100_000, second_process_from_bytes=1)
    assert refused.value.limit_bytes == 100_000
    assert "larger than the limit of 98 KB" in str(refused.value)
    assert nothing_stored(ctx["session"])


def test_a_killed_second_process_fails_the_import_and_keeps_nothing(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        row_process, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    )
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(20_000))).encode()
    with pytest.raises(RowProcessFailed, match=r"exit status -9\). Nothing was imported"):
        run(ctx, data, second_process_from_bytes=1)
    assert nothing_stored(ctx["session"])
    monkeypatch.undo()  # the next upload works
    report = run(ctx, data, second_process_from_bytes=1)
    assert report.imported == 20_000


def test_a_bug_in_the_second_process_is_reported_without_row_values(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        row_process,
        "_CHILD",
        "import sys\n"
        "from composer.recipients import checking as rows, row_process\n"
        "def add(self, row, cells, *lines):\n"
        "    if row > 300: raise ValueError('the value ' + cells[0])\n"
        "rows.RowChecks.add = add\n"
        "sys.exit(row_process.main(sys.argv[1:]))\n",
    )
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(1000))).encode()
    with pytest.raises(RowProcessFailed) as failed:
        run(ctx, data, second_process_from_bytes=1, chunk_rows=100)
    message = str(failed.value)
    assert "failed with ValueError in its second process" in message
    assert "line 4, in add" in message  # where, from the traceback's frames
    assert "example.com" not in message
    assert nothing_stored(ctx["session"])


class BreaksAfter(io.BytesIO):
    """An upload whose connection drops after ``limit`` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self.limit = limit

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.limit:
            raise OSError("the browser went away")
        return super().read(size)


def test_an_upload_that_breaks_off_is_not_taken_for_a_short_file(ctx: dict[str, Any]) -> None:
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(200_000))).encode()
    with pytest.raises(OSError, match="the browser went away"):
        import_csv(
            ctx["session"],
            BreaksAfter(data, 2 * 1024 * 1024),
            incident=ctx["incident"],
            by=ctx["user"],
            categories=ctx["categories"],
            filename="people.csv",
            max_bytes=10 * 1024 * 1024,
            second_process_from_bytes=1,
        )
    ctx["session"].rollback()
    assert nothing_stored(ctx["session"])


def test_only_files_past_the_threshold_start_a_second_process(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real = row_process.check_rows_elsewhere

    def spy(setup: Any, *args: Any) -> Any:
        started.append(setup.list_id)
        return real(setup, *args)

    monkeypatch.setattr(row_process, "check_rows_elsewhere", spy)
    body = "".join(f"p{i}@example.com\n" for i in range(100)).encode()
    run(ctx, b"email\n" + body, second_process_from_bytes=len(body) + 1)
    assert started == []
    report = run(ctx, b"email\n" + body, second_process_from_bytes=len(body))
    assert started == [report.recipient_list.id]
    assert report.imported == 100
    assert ctx["session"].scalar(sa.select(sa.func.count()).select_from(Recipient)) == 200


def test_a_second_process_that_cannot_start_says_how_to_do_without(
    ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(row_process.sys, "executable", "/nonexistent/python")
    data = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(100))).encode()
    with pytest.raises(RowProcessFailed, match="Set RECIPIENTS_SECOND_PROCESS_BYTES to 0"):
        run(ctx, data, second_process_from_bytes=1)
    assert nothing_stored(ctx["session"])
    assert run(ctx, data, second_process_from_bytes=0).imported == 100
