"""What the ``python -m composer`` commands share: the usage error and reading input files."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad arguments or an unreadable file: the command says why and exits with status 2."""


def read_text(path: str) -> str:
    """The UTF-8 text of ``path``, or a ``UsageError`` that names the file and the problem."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
