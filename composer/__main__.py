"""``python -m composer COMMAND``: the command line (``python -m composer --help`` lists every
command; ``flask --app composer COMMAND`` reaches the same ones).

python -m composer lint FILE...                      check notice text (see docs/linter.md)
python -m composer draft --facts JSON                print a first draft written from the facts
python -m composer render DRAFT.md --format FORMAT -o OUT
                                                     render a draft: pdf, email (.eml), html, sms
                                                     (see docs/rendering.md)
python -m composer create-user EMAIL --role ROLE     and the other app commands (need the app)
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: the process's arguments); its exit status."""
    from composer import create_app
    from composer.cli import run

    return run(argv, create_app=create_app)


if __name__ == "__main__":
    raise SystemExit(main())
