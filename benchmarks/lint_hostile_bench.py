#!/usr/bin/env python3
"""Linter time on hostile texts of the longest length the app accepts (LINT_MAX_CHARS).

    .venv/bin/python benchmarks/lint_hostile_bench.py [--chars N] [--only NAME] [--facts]

Lints each text of tests/lint/hostile_texts.py (a run of each ASCII punctuation mark, long
words, no spaces, nested brackets, one huge sentence, repeated hits, mixed ...) once, with
a cold cache and no time budget, and prints its time; then the worst. With --facts, each is
also checked against a facts document. The goal is under 2 s for each on a 2-core machine.
The last line is exactly:
    hostile_worst_s=<x> hostile_total_s=<y> texts=<n>
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from composer.lint.catalogue import load_rules  # noqa: E402
from composer.lint.engine import Linter  # noqa: E402
from composer.lint.nlp import load_pipeline  # noqa: E402
from composer.settings import Defaults  # noqa: E402
from tests.lint.hostile_texts import HOSTILE  # noqa: E402

GOAL_SECONDS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chars", type=int, default=int(Defaults.LINT_MAX_CHARS))
    parser.add_argument("--only", action="append", default=[], help="a text's name (repeatable)")
    parser.add_argument("--facts", action="store_true", help="also check against facts")
    args = parser.parse_args()

    facts = None
    if args.facts:
        from tests.lint.test_factcheck import facts_doc

        facts = facts_doc(contact={"phone": None, "email": None, "web": None, "postal": None})
    nlp = load_pipeline()
    rules = load_rules()
    Linter(nlp=nlp, rules=rules).lint("Warm up: the data was taken.", facts)

    times: dict[str, float] = {}
    for name, make in HOSTILE.items():
        if args.only and name not in args.only:
            continue
        text = make(args.chars)
        linter = Linter(nlp=nlp, rules=rules)  # cold caches: the first viewer's cost
        start = time.perf_counter()
        result = linter.lint(text, facts)
        times[name] = elapsed = time.perf_counter() - start
        mark = "" if elapsed < GOAL_SECONDS else "   over the goal"
        print(f"{name:28} {elapsed:7.3f} s  {len(result.findings):5} findings{mark}", flush=True)
    worst = max(times, key=lambda k: times[k])
    total = sum(times.values())
    print(f"{len(times)} texts of {args.chars:,} characters; goal < {GOAL_SECONDS:g} s each")
    print(f"worst: {worst} {times[worst]:.3f} s; total {total:.1f} s")
    print(f"hostile_worst_s={times[worst]:.3f} hostile_total_s={total:.1f} texts={len(times)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
