#!/usr/bin/env python3
"""What the release check's recipient-list recount costs: the digest recomputed from the rows.

    .venv/bin/python benchmarks/recipient_digest_bench.py [--rows N] [--db URL]

Builds a list of N recipients (default 1,000,000; the import benchmark's rows, written straight
into the table rather than through an upload) on a fresh SQLite database (or the empty
PostgreSQL database at ``--db``), has legal approve a notice for it, then times, best of three:

- ``list_digest``: the recipient rows hashed as the import hashes them;
- the release check without the recount (the signatures, the stored record, the bundle);
- the release check with it (what the Send page, the send start, ``approval check`` and the
  sender's re-check run).

The last line is exactly:

    rows=<n> digest_s=<a> release_check_s=<b> release_check_with_recount_s=<c>
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from composer.notices import versions

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flask_migrate import upgrade  # noqa: E402
from import_bench import row  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from composer import approval, create_app  # noqa: E402
from composer.accounts import create_user  # noqa: E402
from composer.extensions import db  # noqa: E402
from composer.incidents import create_incident  # noqa: E402
from composer.models import Recipient, RecipientList, Role  # noqa: E402
from composer.recipients.lists import list_digest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default="", help="an empty PostgreSQL database's URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.rows, args.db or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")


def best(label: str, work: Callable[[], object], times: int = 3) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    print(f"{label}: {min(seconds):.2f} s (of {', '.join(f'{s:.2f}' for s in seconds)})")
    return min(seconds)


def run(tmp: Path, rows: int, uri: str) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "SECRET_KEY": "bench",
            "AUDIT_SIGNING_KEY": "bench-audit-signing-key-0123456789",
            "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoint.json"),
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 1024,
            "PASSWORD_HASH_PARALLELISM": 1,
            "SEND_WORKER": "none",
        }
    )
    with app.app_context():
        upgrade()
        session = db.session()
        hasher = app.extensions["composer.password_hasher"]
        catalogue = app.extensions["composer.catalogue"]
        ana, lee = (
            create_user(
                session,
                hasher,
                email=email,
                display_name=email,
                password="bench password 1",  # noqa: S106 - a throwaway database
                roles=[role],
                created_by=None,
                actor_label="bench",
            )
            for email, role in (
                ("ana@example.com", Role.AUTHOR),
                ("lee@example.com", Role.APPROVER),
            )
        )
        incident = create_incident(session, catalogue, title="Bench", by=ana)
        version = versions.save_version(
            session,
            incident,
            subject="We lost your email address",
            body="Dear {{ first_name }},\n\nA criminal copied your email address on 3 May.\n",
            by=ana,
        ).version
        assert version is not None
        recipient_list = RecipientList(
            incident_id=incident.id, uploaded_by_id=ana.id, filename="people.csv", size_bytes=0
        )
        recipient_list.digest = ""
        session.add(recipient_list)
        session.flush()
        started = time.perf_counter()
        chunk = []
        for i in range(rows):
            values = row(i)
            if "@@" in values[0]:
                values[0] = f"fixed.{i}@example.com"
            chunk.append(
                {
                    "list_id": recipient_list.id,
                    "email": values[0].lower(),
                    "first_name": values[1],
                    "last_name": values[2],
                    "reference": values[3],
                    "address": [line for line in values[4:10] if line],
                    "country": values[10],
                    "us_state": values[11],
                    "language": values[12],
                    "data_categories": sorted(values[13].split(";")),
                    "source_rows": [i + 2],
                }
            )
            if len(chunk) == 20_000:
                session.execute(insert(Recipient), chunk)
                chunk = []
        if chunk:
            session.execute(insert(Recipient), chunk)
        recipient_list.rows = recipient_list.imported = rows
        recipient_list.digest = list_digest(session, recipient_list)
        session.commit()
        print(f"list of {rows:,} written in {time.perf_counter() - started:.1f} s")

        def bundle() -> approval.Bundle:
            return approval.incident_bundle(
                session,
                incident,
                version,
                config=app.config,
                catalogue=catalogue,
                today=date.today(),
            )

        review = approval.submit(
            session,
            incident,
            version,
            by=ana,
            summary={"errors": 0},
            warnings=[],
            reasons={},
            bundle=bundle(),
        )
        approval.approve(session, review, by=lee, bundle=bundle())
        session.commit()
        built = bundle()
        digest_s = best("list_digest", lambda: list_digest(session, recipient_list))
        check_s = best(
            "release_check without the recount",
            lambda: approval.release_check(session, incident, built, check_recipients_rows=False),
        )
        full_s = best(
            "release_check with the recount",
            lambda: approval.release_check(session, incident, built),
        )
        print(
            json.dumps({"dialect": db.engine.dialect.name, "rows": rows}),
            file=sys.stderr,
        )
        print(
            f"rows={rows} digest_s={digest_s:.2f} release_check_s={check_s:.3f} "
            f"release_check_with_recount_s={full_s:.2f}"
        )


if __name__ == "__main__":
    main()
