"""A large recipient file's rows checked in a second process while this one writes them.

Importing a million rows in one process takes about 20 s: half of it checking rows in Python
(``composer.recipients.checking``), half writing them and building the list digest in the database.
``check_rows_elsewhere`` overlaps the two on a machine with a second core: a child process
(``python -c``, a fresh interpreter rather than a fork, because the web process has threads)
reads the file's bytes from a pipe, checks every row exactly as the one-process import does
and sends back chunks of checked rows, not yet de-duplicated (that is a sixth of the checking
work, and this side has time to spare) (``marshal``: half the cost of ``pickle`` for lists of
tuples of strings), which the caller writes while the child checks the next ones. The file's
remaining bytes go to the child from a thread here, so neither side waits for the other to
drain its pipe. Memory stays bounded on both sides: a pipe holds 64 KB, so a side that runs
ahead waits.

Nothing is lost if the child fails: a refusal it finds (not UTF-8, too large) is raised here as
the same ``ImportRefused``; if it stops for any other reason (killed, out of memory, a bug)
``RowProcessFailed`` is raised. Either way the caller's transaction is not committed, so no
part of the list is kept. What the child reports holds no personal data: counts, refusals
(whose messages never quote a row) and, on a bug, the traceback's file and line numbers
without the exception's message.

No Flask here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import marshal
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Final

from composer.recipients.checking import RowChecker, RowChecks
from composer.recipients.chunking import Summary, check_rows
from composer.recipients.pending import Chunk
from composer.recipients.reading import Header, ImportRefused, Lines, UploadTooLarge
from composer.support.resources import IMPORT_ROOT

#: What the child runs: ``main`` below, with the two pipes' file descriptors as arguments.
_CHILD: Final = (
    "import sys; from composer.recipients.row_process import main; sys.exit(main(sys.argv[1:]))"
)
#: How long an import that has finished (or failed) waits for the feeder thread to end.
_FEEDER_JOIN_SECONDS: Final = 10.0


@dataclass(frozen=True)
class Setup:
    """What the child needs to go on where the header ended."""

    list_id: int
    #: The header's column names and the index of each known column (``reading.Header``).
    names: list[str]
    index: dict[str, int]
    delimiter: str
    categories: tuple[str, ...]
    countries: tuple[str, ...] | None
    us_states: tuple[str, ...] | None
    chunk_rows: int
    max_bytes: int
    #: ``reading.Lines``'s count of bytes and lines after the header, and the overlong lines
    #: not yet claimed by a row.
    bytes_read: int
    line: int
    overlong: list[tuple[int, str]]


class RowProcessFailed(RuntimeError):
    """The process checking the rows stopped before the end of the file."""


def check_rows_elsewhere(
    setup: Setup, blocks: Iterable[bytes], write: Callable[[Chunk], None]
) -> Summary:
    """Check the rows in ``blocks`` (the file's bytes after the header) in a child process,
    calling ``write`` with each chunk of checked rows as it arrives; returns what
    ``chunking.check_rows`` returns."""
    to_child_read, to_child_write = os.pipe()
    from_child_read, from_child_write = os.pipe()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(IMPORT_ROOT), env.get("PYTHONPATH")]))
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            # -P: the working directory is not put on the import path (a stray composer.py
            # there must not stand in for ours).
            [sys.executable, "-P", "-c", _CHILD, str(to_child_read), str(from_child_write)],
            pass_fds=(to_child_read, from_child_write),
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except BaseException as exc:
        for fd in (to_child_read, to_child_write, from_child_read, from_child_write):
            os.close(fd)
        if isinstance(exc, OSError):
            raise RowProcessFailed(
                f"Could not start a second process to check the recipient file ({exc}). "
                "Nothing was imported. Set RECIPIENTS_SECOND_PROCESS_BYTES to 0 to import in "
                "one process."
            ) from exc
        raise
    os.close(to_child_read)
    os.close(from_child_write)
    to_child = Connection(to_child_write, readable=False)
    from_child = Connection(from_child_read, writable=False)
    feeder = _Feeder(to_child, setup, blocks, process)
    thread = threading.Thread(target=feeder.run, name="recipient-rows-feeder", daemon=True)
    thread.start()
    try:
        return _receive(from_child, write, process, feeder)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        from_child.close()
        # The feeder closes its end itself: it may be waiting for the upload's next bytes,
        # and its next send to the stopped child fails.
        thread.join(_FEEDER_JOIN_SECONDS)


def _receive(
    from_child: Connection,
    write: Callable[[Chunk], None],
    process: subprocess.Popen[bytes],
    feeder: _Feeder,
) -> Summary:
    while True:
        try:
            message = pickle.loads(from_child.recv_bytes())  # noqa: S301 - our own child
        except EOFError:
            process.wait()
            if feeder.error is not None:
                # Reading the upload failed (the browser went away): that is the news.
                raise feeder.error from None
            raise RowProcessFailed(
                "The process checking the recipient file stopped before the end of the file "
                f"(exit status {process.returncode}). Nothing was imported; upload the file "
                "again."
            ) from None
        kind = message[0]
        if kind == "chunk":
            new, later, errors = marshal.loads(message[1])  # noqa: S302 - our own child
            write(Chunk(new, later, errors))
        elif kind == "done":
            summary: Summary = message[1]
            return summary
        elif kind == "refused":
            _, text, limit = message
            if limit is not None:
                raise UploadTooLarge(limit)
            raise ImportRefused(text)
        else:
            _, name, frames = message
            raise RowProcessFailed(
                f"Checking the recipient file failed with {name} in its second process. "
                f"Nothing was imported. Where it failed:\n{frames}"
            )


class _Feeder:
    """Sends the setup and then the file's bytes to the child, up to one byte past the size
    limit (enough for the child to refuse the file), then an empty block for the end."""

    def __init__(
        self,
        to_child: Connection,
        setup: Setup,
        blocks: Iterable[bytes],
        process: subprocess.Popen[bytes],
    ) -> None:
        self._to_child = to_child
        self._setup = setup
        self._blocks = blocks
        self._process = process
        #: Reading the upload failed with this.
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._feed()
        finally:
            self._to_child.close()

    def _feed(self) -> None:
        try:
            self._to_child.send_bytes(pickle.dumps(self._setup))
            budget = self._setup.max_bytes - self._setup.bytes_read + 1
            for block in self._blocks:
                if block:
                    self._to_child.send_bytes(block[:budget])
                    budget -= len(block)
                    if budget <= 0:
                        break
            self._to_child.send_bytes(b"")
        except OSError as exc:
            if not isinstance(exc, BrokenPipeError):
                self._fail(exc)
            # A broken pipe: the child stopped, and what it sent says why.
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        # The child must not take a cut-off file for a whole one.
        self.error = exc
        self._process.kill()


# --- The child ---------------------------------------------------------------------------


class _Received(io.RawIOBase):
    """The bytes the parent sends, as a stream ``reading.Lines`` can read."""

    def __init__(self, source: Connection) -> None:
        self._source = source
        self._left = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            if self._ended:
                return 0
            block = self._source.recv_bytes()
            if not block:
                self._ended = True
                return 0
            self._left = memoryview(block)
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def main(argv: list[str]) -> int:
    """The child: check the rows the parent sends, send back chunks and the summary."""
    source = Connection(int(argv[0]), writable=False)
    results = Connection(int(argv[1]), readable=False)

    def send(message: tuple[object, ...]) -> None:
        results.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    try:
        setup: Setup = pickle.loads(source.recv_bytes())  # noqa: S301 - from our parent
        lines = Lines(io.BufferedReader(_Received(source), 1 << 20), setup.max_bytes)
        lines.bytes_read = setup.bytes_read
        lines.line = setup.line
        lines.overlong = list(setup.overlong)
        checker = RowChecker(setup.categories, setup.countries, setup.us_states)
        header = Header(names=setup.names, index=setup.index, warnings=[])
        checks = RowChecks(setup.list_id, header, checker, deduplicator=None)  # de-duplicated there
        reader = csv.reader(lines.rest(), delimiter=setup.delimiter)
        summary = check_rows(
            reader,
            lines,
            checks,
            lambda chunk: send(("chunk", marshal.dumps(tuple(chunk)))),
            setup.chunk_rows,
        )
        send(("done", summary))
    except UploadTooLarge as exc:
        send(("refused", str(exc), exc.limit_bytes))
    except ImportRefused as exc:
        send(("refused", str(exc), None))
    except (EOFError, BrokenPipeError):
        return 2  # the parent went away
    except BaseException as exc:
        # The frames only: an exception's message could quote a row.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        with contextlib.suppress(OSError):
            send(("failed", type(exc).__name__, frames))
        return 1
    return 0
