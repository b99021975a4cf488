"""``python -m composer COMMAND``: command-line tools that need no web server.

python -m composer lint FILE...                      check notice text (see docs/linter.md)
python -m composer draft --facts JSON                print a first draft written from the facts
python -m composer render DRAFT.md --format FORMAT -o OUT
                                                     render a draft: pdf, email (.eml), html, sms
                                                     (see docs/rendering.md)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip() if __doc__ else "")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "lint":
        from composer.cli.lint import main as lint_main

        return lint_main(rest)
    if command == "draft":
        from composer.cli.render import draft_main

        return draft_main(rest)
    if command == "render":
        from composer.cli.render import render_main

        return render_main(rest)
    print(
        f"composer: unknown command '{command}'. Try: python -m composer --help",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
