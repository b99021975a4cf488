"""Lenient, typed reading of a facts document's values, for writers of notices.

``Facts(document)`` checks the document with ``parse_facts`` (FactsError when it is not one),
then reads values by fact path. A value the status marks unknown, missing or invalid, or one of
the wrong shape, reads as None: a writer shows a slot or an honest "not yet known" for it, and
never crashes. No Flask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final, TypeGuard

from composer.facts.document import Category, iso_date_or_none, parse_facts

#: Most serious first: the order information is listed in, and the SMS call to action's source.
#: Money and sign-in first (readers must act today), then what identifies them, then contact
#: details, then the rest.
SERIOUSNESS: Final = (
    "card-full-number",
    "card-cvv",
    "card-pin",
    "bank-account",
    "password-plain",
    "password-hashed",
    "two-step-secrets",
    "session-tokens",
    "security-questions",
    "ssn",
    "driving-licence",
    "passport",
    "national-id",
    "tax-id",
    "ni-number",
    "id-document-copy",
    "health",
    "health-insurance",
    "genetic",
    "special-category",
    "biometric",
    "children",
    "criminal-record",
    "location",
    "messages",
    "uploaded-files",
    "card-expiry",
    "cardholder-name",
    "card-last-digits",
    "financial-history",
    "date-of-birth",
    "username",
    "account-number",
    "name",
    "email",
    "phone",
    "postal-address",
    "photo",
    "employment",
    "purchase-history",
    "usage-history",
    "gender",
    "ip-address",
    "device-info",
)
_FLAG_RANK = ("payment-card", "credential", "ssn", "government-id", "health", "financial")


def seriousness(category: Category) -> tuple[int, int]:
    """Sort key, most serious first; a category this module does not know goes by its flags."""
    if category.id in SERIOUSNESS:
        return (0, SERIOUSNESS.index(category.id))
    ranks = [_FLAG_RANK.index(f) for f in category.flags if f in _FLAG_RANK]
    return (1, min(ranks, default=len(_FLAG_RANK)))


class Facts:
    """Typed, lenient access to a facts document's values and their status.

    A value of the wrong shape counts as invalid (a writer shows a slot for it). Raises
    FactsError when ``document`` is not a facts document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        parse_facts(document)
        self.body: Mapping[str, Any] = document["facts"]
        status = document.get("status")
        status = status if isinstance(status, Mapping) else {}
        self.unknown = frozenset(_strings(status.get("unknown")))
        self.gaps = frozenset(_strings(status.get("missing"))) | frozenset(
            _strings(status.get("invalid"))
        )

    def lookup(self, path: str) -> tuple[bool, Any]:
        """Whether the fact is shown (present), and its value."""
        node: Any = self.body
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False, None
            node = node[part]
        return True, node

    def present(self, path: str) -> bool:
        return self.lookup(path)[0]

    def not_known(self, path: str) -> bool:
        """True when the fact is shown and honestly not known: marked unknown, or null with no
        other explanation. (Missing and invalid answers are gaps for the author, not unknowns.)"""
        present, value = self.lookup(path)
        if not present or path in self.gaps:
            return False
        return path in self.unknown or value is None

    def _value(self, path: str) -> Any:
        present, value = self.lookup(path)
        if not present or path in self.unknown or path in self.gaps:
            return None
        return value

    def text(self, path: str) -> str | None:
        value = self._value(path)
        return value if isinstance(value, str) and value.strip() else None

    def day(self, path: str) -> date | None:
        return iso_date_or_none(self._value(path))

    def date_range(self, path: str) -> tuple[date, date] | None:
        value = self._value(path)
        if not isinstance(value, Mapping):
            return None
        start, end = iso_date_or_none(value.get("start")), iso_date_or_none(value.get("end"))
        if start is None or end is None or end < start:
            return None
        return start, end

    def count(self, path: str) -> tuple[int, int] | None:
        value = self._value(path)
        if not isinstance(value, Mapping):
            return None
        low, high = value.get("min"), value.get("max")
        if _is_int(low) and _is_int(high) and 0 <= low <= high:
            return low, high
        return None

    def flag(self, path: str) -> bool | None:
        value = self._value(path)
        return value if isinstance(value, bool) else None

    def integer(self, path: str) -> int | None:
        value = self._value(path)
        return value if _is_int(value) else None

    def choice(self, path: str, options: Iterable[str]) -> str | None:
        value = self._value(path)
        return value if isinstance(value, str) and value in set(options) else None

    def choices(self, path: str, options: Iterable[str]) -> list[str] | None:
        value = self._value(path)
        if not isinstance(value, list):
            return None
        allowed = set(options)
        return [v for v in value if isinstance(v, str) and v in allowed]

    def categories(self) -> list[Category] | None:
        """The information involved, most serious first; None when not known."""
        value = self._value("data.categories")
        if not isinstance(value, list) or not value:
            return None
        out: dict[str, Category] = {}
        for item in value:
            if not isinstance(item, Mapping):
                continue
            cid, label = item.get("id"), item.get("label")
            if not isinstance(cid, str) or not isinstance(label, str) or not label.strip():
                continue
            if cid in out:
                continue
            title, advice = item.get("title"), item.get("advice")
            out[cid] = Category(
                id=cid,
                title=title if isinstance(title, str) else "",
                label=" ".join(label.split()),
                advice=" ".join(advice.split()) if isinstance(advice, str) else "",
                flags=tuple(f for f in item.get("flags") or () if isinstance(f, str)),
            )
        return sorted(out.values(), key=seriousness) or None

    def phones_by_country(self) -> dict[str, str] | None:
        """The phone number for readers in each country, by country code (``"GB"``), in the
        order given; None when none is given. Entries of the wrong shape are left out."""
        value = self._value("next_steps.contact.phones_by_country")
        if not isinstance(value, list):
            return None
        out: dict[str, str] = {}
        for item in value:
            if not isinstance(item, Mapping):
                continue
            code, phone = item.get("code"), item.get("phone")
            if isinstance(code, str) and isinstance(phone, str) and phone.strip():
                out.setdefault(code, phone.strip())
        return out or None


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
