"""How the facts check names things in its messages ("your name and your email address were")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from composer.facts import Category


def join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _short_label(category: Category) -> str:
    return category.label.split(",")[0].strip()


def _is_plural(phrase: str) -> bool:
    if " and " in phrase:
        return True
    head = re.split(r"\s(?:about|of|for|that|you|on|with|such|from)\s|,", phrase)[0].strip()
    last = re.sub(r"\([^)]*\)", "", head).split()[-1:] or [""]
    word = last[0].lower()
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def were(phrase: str) -> str:
    return "were" if _is_plural(phrase) else "was"


def labels_of(categories: Iterable[Category]) -> str:
    return join(list(dict.fromkeys(c.short_label for c in categories)))
