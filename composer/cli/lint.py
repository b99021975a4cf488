"""``python -m composer lint``: the linter's command line (contract in LINT.md).

Exit status: 0 when no finding is an error, 1 when one is, 2 on bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from composer.cli.common import UsageError, read_text
from composer.lint.engine import LintConfig, Linter
from composer.lint.findings import Finding, LintResult
from composer.lint.nlp import LintSetupError

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m composer lint",
        description="Check breach-notice text for hedging, vagueness, jargon and cliches.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="text files to check")
    parser.add_argument("--format", choices=["text", "jsonl"], default="text")
    parser.add_argument(
        "--facts", metavar="JSON", help="incident facts (docs/facts.md) to check the text against"
    )
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE",
        help="switch off a rule id or a whole category (repeatable)",
    )
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="a file with 'disable: [...]', 'exceptions: [...]' and 'target_grade: N'",
    )
    return parser


def _read_config(path: str | None, disable: list[str]) -> LintConfig:
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read the lint configuration: {exc}") from None
        if not isinstance(loaded, dict) or set(loaded) - {"disable", "exceptions", "target_grade"}:
            raise UsageError(
                f"{path}: expected a mapping with only 'disable', 'exceptions', 'target_grade'"
            )
        data = loaded
    try:
        return LintConfig(
            disabled=frozenset([*map(str, data.get("disable") or []), *disable]),
            exceptions=tuple(map(str, data.get("exceptions") or [])),
            target_grade=float(data.get("target_grade", 8.0)),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def _read_facts(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        facts = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the facts file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(facts, dict):
        raise UsageError(f"{path}: not a facts document: expected a JSON object")
    return facts


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _report(path: str, text: str, result: LintResult, out: TextIO) -> None:
    for f in result.findings:
        line, col = _line_col(text, f.start)
        quoted = f" “{_short(f.text)}”" if f.text else ""
        out.write(
            f"{path}:{line}:{col}: {f.severity} [{f.category}]{quoted} {f.message} ({f.rule})\n"
        )
        if f.suggestion:
            out.write(f"    try: {f.suggestion}\n")
    s = result.stats
    out.write(
        f"{path}: grade {s.get('grade')}, {s.get('words')} words: "
        f"{s.get('errors')} errors, {s.get('warnings')} warnings, "
        f"{s.get('suggestions')} suggestions\n"
    )


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_finding(f: Finding) -> dict[str, Any]:
    return f.to_json()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and USAGE_ERROR
    try:
        config = _read_config(args.config, args.disable)
        facts = _read_facts(args.facts)
        texts = [(path, read_text(path)) for path in args.files]
    except UsageError as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        linter = Linter.load(config=config)
    except LintSetupError as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return USAGE_ERROR
    facts_error: type[Exception] = UsageError  # never raised by lint() itself
    if facts is not None:
        from composer.facts import FactsError

        facts_error = FactsError
    worst = 0
    for path, text in texts:
        try:
            result = linter.lint(text, facts)
        except facts_error as exc:
            print(f"lint: {args.facts}: not a facts document: {exc}", file=sys.stderr)
            return USAGE_ERROR
        if args.format == "jsonl":
            record = {
                "file": path,
                "findings": [_json_finding(f) for f in result.findings],
                "stats": result.stats,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            _report(path, text, result, out)
        if result.has_errors:
            worst = 1
    return worst
