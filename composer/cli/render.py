"""``python -m composer draft`` and ``python -m composer render``: drafting and rendering from
the command line (docs/rendering.md).

Exit status: 0 on success; 1 when the notice cannot be rendered (an unknown merge field, a bad
subject, a refused resource, a render that took too long, a facts file that is not one); 2 on
bad usage or an unreadable input file. Messages go to stderr and name the problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from composer.cli.common import UsageError, read_text
from composer.rendering.address import DEFAULT_HOME_COUNTRY
from composer.rendering.email import email_to_eml, render_email
from composer.rendering.errors import MergeFieldError, RenderError
from composer.rendering.merge_fields import SAMPLE_RECIPIENT, Recipient
from composer.rendering.page import render_page
from composer.rendering.pdf import DEFAULT_LOGO, DEFAULT_TIMEOUT, Paper, render_pdf

#: What a notice says when nobody named the company (the draft generator's placeholder too).
COMPANY_PLACEHOLDER = "[COMPANY]"
USAGE_ERROR = 2
RENDER_ERROR = 1


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not {what}: expected a JSON object")
    return data


def _facts(path: str | None) -> dict[str, Any] | None:
    return None if path is None else _read_json(path, "a facts document")


def _contact(facts: Mapping[str, Any] | None) -> dict[str, str]:
    """The incident's contact details (facts ``next_steps.contact``), the known ones only."""
    if not facts:
        return {}
    node: Any = facts.get("facts", {})
    for key in ("next_steps", "contact"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return {}
    return {k: v.strip() for k, v in node.items() if isinstance(v, str) and v.strip()}


def _company(value: str | None) -> str:
    company = value or os.environ.get("COMPOSER_COMPANY_NAME", "")
    if not company:
        print(
            f"note: no --company given (or COMPOSER_COMPANY_NAME); the notice says "
            f"{COMPANY_PLACEHOLDER}",
            file=sys.stderr,
        )
    return company or COMPANY_PLACEHOLDER


def _home_country(value: str | None) -> str:
    from composer.settings import letter_home_country

    code = value or os.environ.get("COMPOSER_LETTER_HOME_COUNTRY") or DEFAULT_HOME_COUNTRY
    try:
        return letter_home_country({"LETTER_HOME_COUNTRY": code})
    except ValueError as exc:
        raise UsageError(str(exc).replace("LETTER_HOME_COUNTRY", "--home-country", 1)) from None


def _write(out: str, data: bytes) -> None:
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write it: {exc.strerror}") from None


# --- draft --------------------------------------------------------------------------------------


def draft_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m composer draft",
        description="Print a first draft of the notice (Markdown) written from the facts.",
    )
    parser.add_argument("--facts", required=True, metavar="JSON", help="facts (docs/facts.md)")
    parser.add_argument("--company", metavar="NAME", help="the company's name, as readers know it")
    return parser


def draft_main(argv: Sequence[str]) -> int:
    from composer.notices.drafting import DraftError, draft_notice, to_markdown

    args = draft_parser().parse_args(list(argv))
    try:
        facts = _read_json(args.facts, "a facts document")
        draft = draft_notice(facts, company=_company(args.company))
    except UsageError as exc:
        print(f"composer draft: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except DraftError as exc:
        print(f"composer draft: {args.facts}: {exc}", file=sys.stderr)
        return RENDER_ERROR
    sys.stdout.write(to_markdown(draft))
    return 0


# --- render -------------------------------------------------------------------------------------


def render_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m composer render",
        description="Render a notice draft (the format 'draft' prints) as a PDF letter, an "
        "email (.eml with plain-text and HTML parts), a web page, or an SMS from the facts.",
    )
    parser.add_argument("draft", metavar="DRAFT.md", help="'Subject: ...', a blank line, Markdown")
    parser.add_argument("--facts", metavar="JSON", help="facts (needed for sms; else optional)")
    parser.add_argument(
        "--format", required=True, choices=["pdf", "email", "html", "sms"], dest="fmt"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="file, or - for stdout"
    )
    parser.add_argument(
        "--recipient",
        metavar="JSON",
        help="who the email or letter is for (default: a sample person; see docs/rendering.md)",
    )
    parser.add_argument("--company", metavar="NAME", help="the company's name, as readers know it")
    parser.add_argument(
        "--sender", metavar="ADDRESS", help="email From (default: the facts' contact email)"
    )
    parser.add_argument("--paper", choices=[p.value.lower() for p in Paper], default="a4")
    parser.add_argument(
        "--home-country",
        metavar="CODE",
        help="ISO code of the country letters are posted from: a recipient elsewhere gets a "
        f"country line (default COMPOSER_LETTER_HOME_COUNTRY, else {DEFAULT_HOME_COUNTRY})",
    )
    parser.add_argument(
        "--logo", default=DEFAULT_LOGO, metavar="PATH", help="logo file under static/ ('' for none)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"stop a PDF render that takes longer (default {DEFAULT_TIMEOUT:g})",
    )
    return parser


def _render(args: argparse.Namespace) -> bytes:
    from composer.notices.drafting import parse_markdown

    facts = _facts(args.facts)
    company = _company(args.company)
    if args.fmt == "sms":
        from composer.notices.sms import sms_summary

        if facts is None:
            raise UsageError("--format sms needs --facts: the SMS is written from the facts")
        return (sms_summary(facts, company=company) + "\n").encode()

    draft = parse_markdown(read_text(args.draft))
    if args.recipient:
        recipient = Recipient.from_mapping(_read_json(args.recipient, "a recipient"))
    else:
        recipient = SAMPLE_RECIPIENT
    contact = _contact(facts)
    if args.fmt == "html":
        return render_page(draft, company=company).encode()
    if args.fmt == "email":
        sender = args.sender or (f"{company} <{contact['email']}>" if "email" in contact else "")
        if not sender:
            raise UsageError("--format email needs --sender (or a contact email in --facts)")
        message = render_email(draft, recipient, sender=sender, company=company)
        return email_to_eml(message)
    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    postal = " ".join(contact.get("postal", "").split())
    return render_pdf(
        draft,
        recipient,
        company=company,
        paper=Paper.LETTER if args.paper == "letter" else Paper.A4,
        logo=args.logo or None,
        return_address=f"{company}, {postal}" if postal else "",
        contact_lines=[contact[k] for k in ("phone", "email", "web") if k in contact],
        home_country=_home_country(args.home_country),
        timeout=args.timeout,
    )


def _place(path: str, error: MergeFieldError) -> str:
    """``path:line`` for a merge-field error, counting lines in the file, not the body."""
    if error.part == "subject":
        return f"{path} (subject line)"
    if error.line is None:
        return path
    text = read_text(path).removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    from composer.notices.drafting import parse_markdown

    body = parse_markdown(text).body
    offset = text[: len(text) - len(body)].count("\n")
    return f"{path}:{error.line + offset}"


def render_main(argv: Sequence[str]) -> int:
    from composer.notices.drafting import DraftError

    args = render_parser().parse_args(list(argv))
    try:
        data = _render(args)
        _write(args.output, data)
    except UsageError as exc:
        print(f"composer render: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except MergeFieldError as exc:
        print(f"composer render: {_place(args.draft, exc)}: {exc.detail}", file=sys.stderr)
        return RENDER_ERROR
    except (RenderError, DraftError) as exc:
        print(f"composer render: {args.draft}: {exc}", file=sys.stderr)
        return RENDER_ERROR
    if args.output != "-":
        print(f"Wrote {args.output} ({args.fmt}, {len(data):,} bytes).", file=sys.stderr)
    return 0
