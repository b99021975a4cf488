#!/usr/bin/env python3
"""Rendering speed and memory: emails for one cohort, and PDF letters.

    .venv/bin/python benchmarks/render_bench.py [--recipients N] [--letters N] [--batch N]
        [--processes N] [--single N] [--facts JSON]

Emails: the draft generator's notice for the supplier incident is rendered once for the cohort
(Markdown, layout, CSS inlining), then filled in for N recipients (default 2,000): each one a
complete multipart EmailMessage serialised to .eml bytes (emails_per_s counts these, cohort
render included). The merge alone, without building MIME messages, is printed too.
PDF: the same notice as a letter to each of --letters recipients (default 200), rendered as the
app prints letters: batches of --batch letters (default 100, LETTER_BATCH_SIZE), each ONE PDF
made in a time-limited worker process (kept warm between batches), --processes batches at
once (default 1; the app renders LETTER_RENDER_PROCESSES at once). pdf_pages_per_s is the
pages of every batch over the wall-clock time of the whole run, after one warm-up letter per
process (a worker's start-up, about a second); a line before it gives the figure per process.
--single letters (default 10) are also rendered one PDF each, as a preview is, for comparison.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from composer.notices.drafting import Draft, draft_notice  # noqa: E402
from composer.rendering.child_process import close_workers, limit_concurrency  # noqa: E402
from composer.rendering.email import email_to_eml, prepare_email  # noqa: E402
from composer.rendering.merge_fields import Recipient  # noqa: E402
from composer.rendering.pdf import letter_html, letters_to_pdf, render_pdf  # noqa: E402

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
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="letters per batch (one PDF)")
    parser.add_argument("--processes", type=int, default=1, help="batches rendered at once")
    parser.add_argument("--single", type=int, default=10, help="letters rendered one by one")
    parser.add_argument(
        "--facts",
        type=Path,
        default=HERE.parent / "tests" / "rendering" / "facts" / "supplier.json",
    )
    args = parser.parse_args()
    if min(args.letters, args.batch, args.processes, args.single) < 1:
        parser.error("--letters, --batch, --processes and --single must be 1 or more")

    facts = json.loads(args.facts.read_text(encoding="utf-8"))
    generated = draft_notice(facts, company=COMPANY)
    draft = Draft(
        subject="{{ first_name }}, " + generated.subject,
        body=generated.body + "\nYour customer number is {{ reference }}.\n",
    )
    people = [recipient(i) for i in range(max(args.recipients, args.letters, args.single))]

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

    # PDF, one letter a document (a preview): the first render also starts a worker.
    render_pdf(draft, people[0], company=COMPANY)
    single_pages = 0
    start = time.perf_counter()
    for person in people[: args.single]:
        single_pages += page_count(render_pdf(draft, person, company=COMPANY))
    single_seconds = time.perf_counter() - start

    # PDF, letter batches as the app prints them, --processes at once.
    limit_concurrency(args.processes)
    htmls = [letter_html(draft, person, company=COMPANY) for person in people[: args.letters]]
    batches = [htmls[i : i + args.batch] for i in range(0, len(htmls), args.batch)]

    def render(batch: list[str]) -> tuple[bytes, tuple[int, ...]]:
        return letters_to_pdf(batch, title="Letters", timeout=600, wait=None)

    with ThreadPoolExecutor(args.processes) as pool:
        list(pool.map(render, [htmls[:1]] * args.processes))  # start every worker
        start = time.perf_counter()
        rendered = list(pool.map(render, batches))
        pdf_seconds = time.perf_counter() - start
    pages = sum(sum(counts) for _, counts in rendered)
    if page_count(rendered[0][0]) != sum(rendered[0][1]):
        raise SystemExit("the first batch's PDF does not have the pages it claims")
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
        f"pdf one letter a document (previews): {args.single} letters, {single_pages} pages in "
        f"{single_seconds:.2f} s ({single_pages / single_seconds:.2f} pages/s)"
    )
    print(
        f"pdf: {args.letters} letters in {len(batches)} batches of up to {args.batch}, {pages} "
        f"pages in {pdf_seconds:.2f} s ({pdf_seconds / args.letters * 1000:.0f} ms per letter), "
        f"{args.processes} process{'es' if args.processes != 1 else ''} at once: "
        f"{pages_per_s / args.processes:.2f} pages/s per process"
    )
    print(
        f"emails_per_s={emails_per_s:.1f} pdf_pages_per_s={pages_per_s:.2f} peak_rss_mb={peak:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
