#!/usr/bin/env python3
"""Linter speed and memory on a ~600-word notice.

    .venv/bin/python benchmarks/lint_bench.py [--repeat N] [--file NOTICE.txt]

Prints, from one run: the bare spaCy parse time (the same pipeline and paragraphs the linter
uses), the full lint time with empty caches, their ratio (goal <= 1.25), the time to re-lint
after editing one paragraph as a fraction of the full lint (goal <= 0.35), and peak memory.
Times are medians over --repeat runs. The last line is exactly:
    lint_ratio=<x> relint_fraction=<y> peak_rss_mb=<z>
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from composer.lint.catalogue import load_rules  # noqa: E402
from composer.lint.engine import Linter, paragraphs  # noqa: E402
from composer.lint.nlp import load_pipeline  # noqa: E402


def median_seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--file", type=Path, default=HERE / "data" / "notice_600.txt")
    args = parser.parse_args()

    text = args.file.read_text(encoding="utf-8")
    nlp = load_pipeline()
    rules = load_rules()
    blocks = [p for _, p in paragraphs(text)]
    words = len(text.split())

    # Warm up: first calls pay for lazy loading (vocab, the syllable dictionary).
    Linter(nlp=nlp, rules=rules).lint(text)
    list(nlp.pipe(blocks))

    parse = median_seconds(lambda: list(nlp.pipe(blocks)), args.repeat)
    lint = median_seconds(lambda: Linter(nlp=nlp, rules=rules).lint(text), args.repeat)

    # Re-lint after editing one paragraph: a warm linter, one paragraph changed each time.
    warm = Linter(nlp=nlp, rules=rules)
    warm.lint(text)
    target = max(blocks, key=len)
    edits = iter(range(10**6))

    def relint() -> None:
        edited = text.replace(target, target.replace(".", f" (edit {next(edits)}).", 1), 1)
        warm.lint(edited)

    relint_time = median_seconds(relint, args.repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ratio = lint / parse
    fraction = relint_time / lint
    print(f"notice: {args.file.name}, {words} words, {len(blocks)} paragraphs, {len(rules)} rules")
    print(f"bare spaCy parse      {parse * 1000:8.1f} ms  (median of {args.repeat})")
    print(f"full lint, cold cache {lint * 1000:8.1f} ms")
    print(f"re-lint, 1 paragraph  {relint_time * 1000:8.1f} ms")
    print(f"lint / parse          {ratio:8.2f}   goal <= 1.25")
    print(f"re-lint / full lint   {fraction:8.2f}   goal <= 0.35")
    print(f"peak RSS              {peak_mb:8.1f} MB")
    print(f"lint_ratio={ratio:.2f} relint_fraction={fraction:.2f} peak_rss_mb={peak_mb:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
