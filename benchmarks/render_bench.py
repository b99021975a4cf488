#!/usr/bin/env python3
"""Rendering speed and memory: emails for one cohort, and PDF letters.

    .venv/bin/python benchmarks/render_bench.py [--recipients N] [--letters N] [--facts JSON]

Emails: the draft generator's notice for the supplier incident is rendered once for the cohort
(Markdown, layout, CSS inlining), then filled in for N recipients (default 2,000): each one a
complete multipart EmailMessage serialised to .eml bytes (emails_per_s counts these, cohort
render included). The merge alone, without building MIME messages, is printed too.
PDF: the same notice as a letter to each of --letters recipients (default 20), rendered as the
app does (WeasyPrint in a time-limited worker process, kept warm between letters); pages per
second over the whole run, after one warm-up letter (the worker's start-up, about a second).
Peak memory is the larger of this process's and any child's peak resident set.
The last line is exactly:
    emails_per_s=<x> pdf_pages_per_s=<y> peak_rss_mb=<z>
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from composer.rendering.draft import Draft, draft_notice  # noqa: E402
from composer.rendering.email import email_to_eml, prepare_email  # noqa: E402
from composer.rendering.merge import Recipient  # noqa: E402
from composer.rendering.pdf import render_pdf  # noqa: E402
from composer.rendering.worker import close_workers  # noqa: E402

COMPANY = "Example Shop Ltd"
SENDER = "Example Shop Ltd <security@example.com>"


def recipient(i: int) -> Recipient:
    return Recipient(
        first_name=f"Person{i}",
        last_name=f"Surname{i % 97}",
        email=f"person{i}@example.com",
        reference=f"CUST-{i:06d}",
        postal_address=(f"{i % 300 + 1} High Street", "Townsville", f"TS{i % 9 + 1} {i % 10}AB"),
    )


def page_count(pdf: bytes) -> int:
    """Pages in ``pdf``: /Type /Page objects, which WeasyPrint puts in compressed streams."""
    streams = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            streams.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", s)) for s in streams)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--letters", type=int, default=20)
    parser.add_argument(
        "--facts",
        type=Path,
        default=HERE.parent / "tests" / "rendering" / "facts" / "supplier.json",
    )
    args = parser.parse_args()

    facts = json.loads(args.facts.read_text(encoding="utf-8"))
    generated = draft_notice(facts, company=COMPANY)
    draft = Draft(
        subject="{{ first_name }}, " + generated.subject,
        body=generated.body + "\nYour customer number is {{ reference }}.\n",
    )
    people = [recipient(i) for i in range(max(args.recipients, args.letters))]

    # Emails: one cohort render, then per-recipient merge + a complete .eml each.
    start = time.perf_counter()
    cohort = prepare_email(draft, company=COMPANY)
    prepare_seconds = time.perf_counter() - start
    total_bytes = 0
    merge_start = time.perf_counter()
    for person in people[: args.recipients]:
        total_bytes += len(email_to_eml(cohort.message_for(person, sender=SENDER)))
    merge_seconds = time.perf_counter() - merge_start
    email_seconds = prepare_seconds + merge_seconds
    emails_per_s = args.recipients / email_seconds
    # The merge alone (both parts' text, no MIME message): what a sender that posts the parts
    # to an API, not .eml files, pays per recipient.
    start = time.perf_counter()
    for person in people[: args.recipients]:
        cohort.html_for(person)
        cohort.text_for(person)
    parts_seconds = time.perf_counter() - start

    # PDF: the first render also starts the fork server (loads WeasyPrint): warm it up once.
    render_pdf(draft, people[0], company=COMPANY)
    pages = 0
    start = time.perf_counter()
    for person in people[: args.letters]:
        pages += page_count(render_pdf(draft, person, company=COMPANY))
    pdf_seconds = time.perf_counter() - start
    pages_per_s = pages / pdf_seconds

    close_workers()  # a worker's peak memory is counted once it has exited
    peak = peak_rss_mb()
    print(f"cohort render (markdown, layout, css inlining): {prepare_seconds * 1000:8.1f} ms")
    print(
        f"emails: {args.recipients} recipients in {email_seconds:.2f} s "
        f"({merge_seconds / args.recipients * 1e6:.0f} us per message, "
        f"{total_bytes / args.recipients / 1024:.1f} KiB .eml each)"
    )
    print(
        f"merge only (html + text parts, no MIME): "
        f"{args.recipients / parts_seconds:,.0f} per second"
    )
    print(
        f"pdf: {args.letters} letters, {pages} pages in {pdf_seconds:.2f} s "
        f"({pdf_seconds / args.letters * 1000:.0f} ms per letter, in a worker process)"
    )
    print(
        f"emails_per_s={emails_per_s:.1f} pdf_pages_per_s={pages_per_s:.2f} peak_rss_mb={peak:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
