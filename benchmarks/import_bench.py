#!/usr/bin/env python3
"""Recipient import speed and memory: a generated CSV file into a fresh SQLite database.

    .venv/bin/python benchmarks/import_bench.py [--rows N] [--chunk-rows N] [--random-order]
        [--one-process]

Writes N rows (default 200,000) to a temporary CSV file, shaped like a real export: names,
references, UK, US and French postal addresses, languages and data categories, with 1% of rows
repeating an earlier address in another case (merged) and 0.5% with a broken address
(rejected). Then imports it through the app, as the upload view does: ``create_app`` on a
temporary SQLite database migrated to the newest schema, ``import_csv`` on the file opened in
binary mode, one commit; a file over ``RECIPIENTS_SECOND_PROCESS_BYTES`` has its rows checked in
a second process, as an upload does (``--one-process``: not). Generating the file is not timed;
the import includes the list digest and the commit. Peak memory is this process's peak
resident set plus the second process's (the generator streams to disk, so it is the
import's). The last line is exactly:
    import_rows_per_s=<a> peak_rss_mb=<b>
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flask_migrate import upgrade  # noqa: E402

from composer import create_app  # noqa: E402
from composer.accounts import create_user  # noqa: E402
from composer.extensions import db  # noqa: E402
from composer.models import Incident, Role  # noqa: E402
from composer.recipients.lists import COLUMNS, import_csv  # noqa: E402

FIRST = ("Alexandra", "Ben", "Chloé", "Dev", "Elif", "Farah", "Gareth", "Hiroshi", "Ines", "Jo")
LAST = ("Smith", "Okafor", "Nguyen", "García", "Müller", "Patel", "O'Brien", "Kowalski")
DOMAINS = (
    "mail.example",
    "post.example",
    "inbox.example",
    "shop.example",
    "corp.example",
    "example.com",
    "example.co.uk",
    "example.org",
)
CATEGORIES = ("name;email", "name;email;postal-address", "email;password-hashed", "name;phone")


def row(i: int, *, random_order: bool = False) -> list[str]:
    """Row ``i`` of the generated file. Its address sorts near its neighbours' (a list exported
    in customer order), or with ``random_order`` anywhere (a list in any other order)."""
    first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
    # Multiplying by an odd number modulo 2**32 is one to one: still one address per row.
    number = f"{i * 2654435761 % 2**32:08x}" if random_order else str(i)
    email = f"{first.lower()[:4]}.{number}@{DOMAINS[i % len(DOMAINS)]}"
    if i % 200 == 7:
        email = f"broken.{i}@@example.com"
    place = i % 3
    if place == 0:
        address = [f"{i % 300 + 1} High Street", "", "", "Townsville", "", f"TS{i % 9 + 1} 4AB"]
        country, state, language = "GB", "", "en-GB"
    elif place == 1:
        address = [f"{i % 900 + 1} Main St", "Apt 4", "", "Springfield", "", f"{i % 90000:05d}"]
        country, state, language = "US", ("CA", "NY", "TX", "MA")[i % 4], "en"
    else:
        address = [f"{i % 90 + 1} rue de la Paix", "", "", "Paris", "", "75002"]
        country, state, language = "FR", "", "fr"
    return [
        email,
        first,
        last,
        f"CUST-{i:07d}",
        *address,
        country,
        state,
        language,
        CATEGORIES[i % len(CATEGORIES)],
    ]


def write_file(path: Path, rows: int, *, random_order: bool = False) -> int:
    """Write the CSV; returns how many rows repeat an earlier address."""
    repeats = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            if i % 100 == 50 and i > 100:
                values = row(i - 50, random_order=random_order)
                values[0] = values[0].upper()  # same address, other case: merged
                repeats += not values[0].startswith("BROKEN")
            else:
                values = row(i, random_order=random_order)
            writer.writerow(values)
    return repeats


class SecondProcessPeak:
    """The import's second process's peak resident set (VmHWM), sampled every 20 ms from
    /proc while the import runs. (``RUSAGE_CHILDREN`` would count this process's pages the
    child had between fork and exec.)"""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> SecondProcessPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.02):
            for proc in Path("/proc").iterdir():
                try:
                    if not proc.name.isdigit() or (proc / "stat").read_text().split()[3] != me:
                        continue
                    if b"row_process" not in (proc / "cmdline").read_bytes():
                        continue
                    for line in (proc / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.mb = max(self.mb, int(line.split()[1]) / 1024)
                except OSError:
                    continue  # gone meanwhile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument(
        "--random-order",
        action="store_true",
        help="addresses in random order down the file (the default sorts nearly as the file)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="check the rows in this process (RECIPIENTS_SECOND_PROCESS_BYTES = 0)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "recipients.csv"
        started = time.perf_counter()
        repeats = write_file(csv_path, args.rows, random_order=args.random_order)
        size = csv_path.stat().st_size
        print(
            f"generated {args.rows:,} rows ({size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        app = create_app(
            {
                "SECRET_KEY": "benchmark",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
                "PASSWORD_HASH_TIME_COST": 1,
                "PASSWORD_HASH_MEMORY_KIB": 1024,
                "PASSWORD_HASH_PARALLELISM": 1,
            }
        )
        with app.app_context():
            upgrade()
            user = create_user(
                db.session,
                app.extensions["composer.password_hasher"],
                email="importer@example.com",
                display_name="Bench",
                password=secrets.token_urlsafe(18),
                roles=[Role.AUTHOR],
                created_by=None,
                actor_label="benchmark",
            )
            incident = Incident(
                title="Benchmark", checklist_id="incident", checklist_version=1, created_by=user
            )
            db.session.add(incident)
            db.session.commit()
            catalogue = app.extensions["composer.catalogue"]

            started = time.perf_counter()
            with csv_path.open("rb") as stream, SecondProcessPeak() as second:
                report = import_csv(
                    db.session(),
                    stream,
                    incident=incident,
                    by=user,
                    categories=catalogue.categories,
                    places=catalogue.place_names,
                    filename=csv_path.name,
                    max_bytes=size,
                    chunk_rows=args.chunk_rows,
                    second_process_from_bytes=(
                        0 if args.one_process else app.config["RECIPIENTS_SECOND_PROCESS_BYTES"]
                    ),
                )
            db.session.commit()
            elapsed = time.perf_counter() - started
            db.engine.dispose()

    print(
        f"rows={report.rows:,} imported={report.imported:,} merged={report.merged:,} "
        f"rejected={report.rejected:,} (expected merged={repeats:,}) digest={report.digest[:16]}"
    )
    print(f"import took {elapsed:.2f} s")
    # The second process's peak counts too: the two peaks added (an upper bound).
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_mb = own_mb + second.mb
    print(f"peak RSS: this process {own_mb:.0f} MB, second process {second.mb:.0f} MB")
    print(f"import_rows_per_s={report.rows / elapsed:.0f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
