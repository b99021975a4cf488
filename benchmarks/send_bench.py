#!/usr/bin/env python3
"""End to end: N recipients from a CSV file to a local SendGrid-compatible server.

    .venv/bin/python benchmarks/send_bench.py [--rows N] [--naive N] [--threads N]

Generates N rows (default 1,000,000; the import benchmark's shape: names, addresses in the UK,
US and France, data categories, 1% repeated addresses, 0.5% broken ones), imports them into a
fresh SQLite database through ``import_csv`` with the app's default settings, as an upload
does: a second process checks the rows (timed: import rows/s). Then it has legal approve a
notice, starts a send run and sends it with the app's own in-process sender (``SEND_THREADS``
threads, default the app's default) against the fake server, which runs in its own process
with recording off (timed from starting the sender to the run finishing: recipients
accepted/s; the worker first prepares the run, one delivery row per recipient, timed
apart: prepare s). For the send, this process is pinned to one CPU and the server to another, so
the sender has exactly one core. Then sends ``--naive`` recipients (default 2,000) one request
each, as a mailer without batching would, and reports how many times faster the batched send
is.
Checks from the server's log that every recipient was accepted exactly once (counting in one
byte per outbox row, so the check adds little to the peak). Peak memory is this process's
peak resident set plus the import's second process's (sampled from /proc). The last line is
exactly:

    import_rows_per_s=<a> send_recipients_per_s=<b> peak_rss_mb=<c> naive_ratio=<d>
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from composer.delivery import preparing
from composer.notices import versions

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flask_migrate import upgrade  # noqa: E402
from import_bench import SecondProcessPeak, row  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from composer import create_app  # noqa: E402
from composer.accounts import create_user  # noqa: E402
from composer.delivery.gateways import (  # noqa: E402
    BatchMessage,
    BatchRecipient,
    CohortContent,
    SendGridGateway,
)
from composer.extensions import db  # noqa: E402
from composer.incidents import create_incident  # noqa: E402
from composer.models import Delivery, Role, SendRun  # noqa: E402
from composer.recipients.cohorts import latest_list  # noqa: E402
from composer.recipients.lists import COLUMNS, import_csv  # noqa: E402
from composer.rendering.merge_fields import SAMPLE_RECIPIENT  # noqa: E402
from composer.settings import Defaults  # noqa: E402
from composer.workers.inprocess import worker_for  # noqa: E402
from tests.sending.fake_sendgrid import start_process  # noqa: E402
from tests.sending.scenario import approve_version  # noqa: E402

SENDER = "Example Ltd <security@example.com>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument(
        "--threads", type=int, default=Defaults.SEND_THREADS, help="SEND_THREADS for the sender"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.rows, args.naive, args.threads)


#: The CPUs this benchmark may use, read before it pins itself to one of them.
CPUS = sorted(os.sched_getaffinity(0))


def pin(pid: int, cpu: int) -> str:
    """Keep process ``pid`` (0: this one, with the threads it starts later) on one CPU."""
    chosen = CPUS[cpu % len(CPUS)]
    os.sched_setaffinity(pid, {chosen})
    return f"CPU {chosen} of {len(CPUS)}"


def run(tmp: Path, rows: int, naive: int, threads: int) -> None:
    csv_path = tmp / "people.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(row(i))
    log_path = tmp / "accepted.jsonl"
    with start_process(log_path) as fake:
        print(f"fake server: {pin(fake.process.pid, 1)}", file=sys.stderr)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}",
                "SECRET_KEY": "bench",
                "PASSWORD_HASH_TIME_COST": 1,
                "PASSWORD_HASH_MEMORY_KIB": 1024,
                "PASSWORD_HASH_PARALLELISM": 1,
                # The sender is started below, by hand, once the run exists.
                "SEND_WORKER": "none",
                "SEND_THREADS": threads,
                "MAIL_GATEWAY": "sendgrid",
                "MAIL_SENDER": SENDER,
                "SENDGRID_API_KEY": "SG.bench",
                "SENDGRID_HOST": fake.url,
                "SENDGRID_TIMEOUT_SECONDS": 30,
            }
        )
        with app.app_context():
            upgrade()
            session = db.session()
            hasher = app.extensions["composer.password_hasher"]
            catalogue = app.extensions["composer.catalogue"]

            def user(email: str, role: Role) -> object:
                return create_user(
                    session,
                    hasher,
                    email=email,
                    display_name=email,
                    password="bench password 1",  # noqa: S106 - a throwaway database
                    roles=[role],
                    created_by=None,
                    actor_label="bench",
                )

            ana, lee = user("ana@example.com", Role.AUTHOR), user("lee@example.com", Role.APPROVER)
            incident = create_incident(session, catalogue, title="Bench", by=ana)  # type: ignore[arg-type]
            version = versions.save_version(
                session,
                incident,
                subject="We lost your email address",
                body="Dear {{ first_name }},\n\nA criminal copied your email address on 3 May.\n",
                by=ana,  # type: ignore[arg-type]
            ).version
            assert version is not None
            session.commit()

            started = time.perf_counter()
            with csv_path.open("rb") as stream, SecondProcessPeak() as second:
                report = import_csv(
                    session,
                    stream,
                    incident=incident,
                    by=ana,  # type: ignore[arg-type]
                    categories=set(catalogue.categories),
                    filename="people.csv",
                    max_bytes=10**10,
                    second_process_from_bytes=app.config["RECIPIENTS_SECOND_PROCESS_BYTES"],
                )
            session.commit()
            import_seconds = time.perf_counter() - started
            print(
                f"import: {report.rows:,} rows ({report.imported:,} imported, "
                f"{report.merged:,} merged, {report.rejected:,} rejected) "
                f"in {import_seconds:.1f} s",
                file=sys.stderr,
            )

            release = approve_version(
                session,
                incident,
                version,
                author=ana,  # type: ignore[arg-type]
                approver=lee,  # type: ignore[arg-type]
                config=app.config,
                catalogue=catalogue,
            )
            recipient_list = latest_list(session, incident)
            assert recipient_list is not None
            started = time.perf_counter()
            sending = preparing.start_run(session, incident, recipient_list, release, by=ana)  # type: ignore[arg-type]
            session.commit()
            # What pressing Send waits for: the run is made; the worker prepares it.
            print(
                f"start_run (the Send request's share): {time.perf_counter() - started:.3f} s",
                file=sys.stderr,
            )
            contents = {
                v.spec.key: CohortContent(subject=v.subject, html=v.html, text=v.text)
                for v in release.bundle.variants
            }
            run_id = sending.id
            # The import had every core, as an upload does; the sender gets one.
            print(f"sender: {pin(0, 0)}", file=sys.stderr)
            sender = worker_for(app, idle_seconds=0.05)
            started = time.perf_counter()
            sender.wake()
            state = "preparing"
            prepare_seconds = 0.0
            while state != "finished":
                time.sleep(0.05)
                state = session.scalar(select(SendRun.state).where(SendRun.id == run_id)) or ""
                session.commit()
                if state != "preparing" and not prepare_seconds:
                    # Sending is timed from here, as before preparing moved into the worker.
                    prepare_seconds = time.perf_counter() - started
                    started = time.perf_counter()
                if state not in {"preparing", "running", "finished"}:
                    raise SystemExit(f"the send run is {state}, not finished")
            send_seconds = time.perf_counter() - started
            sender.stop()
            accepted = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.run_id == run_id, Delivery.state == "accepted")
            )
            assert accepted is not None
            print(
                f"send: {accepted:,} accepted in {send_seconds:.1f} s ({threads} threads)",
                file=sys.stderr,
            )
            gateway = SendGridGateway("SG.bench", SENDER, host=fake.url, timeout=30)

            # One request per recipient, as a mailer without batching would.
            content = next(iter(contents.values()))
            values = SAMPLE_RECIPIENT.merge_values()
            started = time.perf_counter()
            for i in range(naive):
                gateway.send_batch(
                    BatchMessage(
                        batch_id=10**9 + i,
                        content=content,
                        sender=SENDER,
                        reply_to="",
                        recipients=[
                            BatchRecipient(
                                outbox_id=10**9 + i,
                                email=f"naive{i}@example.com",
                                name="Alex Sample",
                                values={**values, "email": f"naive{i}@example.com"},
                            )
                        ],
                    )
                )
            naive_rate = naive / (time.perf_counter() - started)

        # How many times each outbox row was accepted, one byte each (the naive sends' ids,
        # from 10**9, are not the run's): a Counter of a million ids took 130 MB.
        counts = bytearray()
        with log_path.open(encoding="utf-8") as log:
            for line in log:
                outbox_id = int(json.loads(line)["custom_args"]["o"])
                if outbox_id >= 10**9:
                    continue
                if outbox_id >= len(counts):
                    counts.extend(bytes(outbox_id + 1 - len(counts)))
                counts[outbox_id] = min(counts[outbox_id] + 1, 255)
        assert len(counts) - counts.count(0) == accepted, (len(counts) - counts.count(0), accepted)
        assert max(counts) == 1, "a recipient was accepted twice"

    # With the import's second process's peak added (an upper bound: they do not peak together).
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = own_peak + second.mb
    print(
        f"peak RSS: this process {own_peak:.0f} MB, the import's second process {second.mb:.0f} MB",
        file=sys.stderr,
    )
    send_rate = accepted / send_seconds
    print(f"naive: {naive_rate:,.0f} recipients/s one request each", file=sys.stderr)
    print(
        f"prepare (in the worker, one delivery per recipient): {prepare_seconds:.1f} s "
        f"({rows / prepare_seconds:,.0f} rows/s)",
        file=sys.stderr,
    )
    print(
        f"import_rows_per_s={rows / import_seconds:.0f} send_recipients_per_s={send_rate:.0f} "
        f"peak_rss_mb={peak:.0f} naive_ratio={send_rate / naive_rate:.1f}"
    )


if __name__ == "__main__":
    main()
