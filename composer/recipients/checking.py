"""Checking a recipient file's rows: each value checked and normalised, each row rejected
(with its problems) or kept.

``RowChecker`` checks one value with the rules of ``composer.rendering.merge_fields.Recipient``
(plus country, US state, language and data categories), with per-import caches; ``RowChecks``
checks whole rows with it, records the rejected ones' problems and hands the kept ones to a
``Deduplicator`` (``composer.recipients.duplicates``), or, in the second process, straight out.

Nothing here touches the database or imports Flask.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from operator import itemgetter
from typing import Any, Final

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from composer.recipients.duplicates import Deduplicator
from composer.recipients.pending import Chunk, Pending, json_texts
from composer.recipients.reading import ADDRESS_COLUMNS, COLUMNS, Header, cut
from composer.rendering.errors import RecipientError
from composer.rendering.merge_fields import Recipient

#: The columns checked as merge_fields.Recipient checks names, references and address lines,
#: and the Recipient field each one's rules come from.
_TEXT_COLUMNS: Final = ("first_name", "last_name", "reference", *ADDRESS_COLUMNS)
_TEXT_FIELDS: Final = ("first_name", "last_name", "reference", *["postal_address"] * 6)
#: Mirrors ``merge_fields.Recipient``: the longest name, reference or address line, and email
#: address.
MAX_TEXT: Final = 200
MAX_EMAIL: Final = 254

# Characters merge_fields.Recipient refuses (Unicode categories Cc, Zl and Zp, exactly), as one
# regex: checking a value this way is ten times faster than asking unicodedata about each
# character.
# tests/sending/test_recipients.py keeps the two in step.
UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Invisible characters refused in names, references and address lines: the bidirectional
#: embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make a value show
#: in another order than it holds (a name can read backwards), and the zero-width space,
#: joiners, word joiner and byte-order mark (U+200B-U+200D, U+2060, U+FEFF), which make two
#: values that look the same differ. A list exported from a spreadsheet has no reason to hold
#: them.
INVISIBLE: Final = re.compile("[\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
#: UNSAFE and INVISIBLE together: the fast test of whether a row's texts need a closer look.
_SUSPECT: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + INVISIBLE.pattern[1:])
_INVISIBLE_NAMES: Final = {
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u2060": "word joiner",
    "\ufeff": "zero-width no-break space (byte-order mark)",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
}
_ASCII_DOMAIN: Final = re.compile(r"[A-Za-z0-9.-]+\Z")
_ASCII_UPPER: Final = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_LANGUAGE: Final = re.compile(
    r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?\Z"
)
_TWO_LETTERS: Final = re.compile(r"[A-Za-z]{2}\Z")
#: Small per-import caches of values that repeat down a column (a country, a list of data
#: categories, a domain): bounded, so a file of a million different values cannot grow them.
CACHE_LIMIT: Final = 10_000

#: A row's country, US state, language and data categories (JSON text) as stored, and the
#: problems with them: (column, problem, value).
_CheckedCodes = tuple[str, str, str, str, tuple[tuple[str, str, str], ...]]


def shown(value: str) -> str:
    """``value`` for the error report: each invisible character written as ``<U+202E>``, so
    the report shows where it is and cannot itself be shown in a misleading order."""
    if not INVISIBLE.search(value):
        return value
    return INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)


class RowChecker:
    """Checks and normalises one row's values; holds the per-import caches."""

    def __init__(
        self,
        categories: Collection[str],
        countries: Collection[str] | None,
        us_states: Collection[str] | None,
    ) -> None:
        self._categories = frozenset(categories)
        self._countries = frozenset(countries) if countries is not None else None
        self._us_states = frozenset(us_states) if us_states is not None else None
        self._domains: dict[str, str] = {}
        self._category_lists: dict[str, tuple[str, str | None]] = {}
        self._codes: dict[tuple[str, str], tuple[str, str | None]] = {}

    # Text values: exactly merge_fields.Recipient's rules. The fast check decides almost every
    # value; anything it doubts is handed to Recipient itself, whose message is the one reported.

    @staticmethod
    def text(value: str, field: str) -> str | None:
        """The problem with a name, reference or address line, or None."""
        if len(value) <= MAX_TEXT and not _SUSPECT.search(value):
            return None
        invisible = INVISIBLE.search(value)
        if invisible and not UNSAFE.search(value):
            char = invisible.group()
            return (
                f"The value holds an invisible character, U+{ord(char):04X} "
                f"({_INVISIBLE_NAMES[char]}), which can make it show differently from what it "
                "holds. Remove it (retype the value) and upload the file again."
            )
        try:
            if field == "first_name":
                Recipient(first_name=value)
            elif field == "last_name":
                Recipient(last_name=value)
            elif field == "reference":
                Recipient(reference=value)
            else:
                Recipient(postal_address=(value,))
        except RecipientError as exc:
            return str(exc)
        return None

    def email(self, value: str) -> tuple[str, str | None]:
        """The address normalised for storing and comparing (lower-case), or its problem."""
        local, at, domain = value.rpartition("@")
        normal_domain = self._domains.get(domain) if at else None
        if (
            normal_domain is not None
            and len(value) <= EMAIL_MAX_LENGTH
            and len(local) <= 64
            and DOT_ATOM_TEXT.match(local)
        ):
            # What validate_email returns for a plain ASCII local part and a domain it has
            # already accepted in this import (the test suite checks the two agree).
            normalized = local + "@" + normal_domain
        else:
            if len(value) > MAX_EMAIL or UNSAFE.search(value):
                return "", self.text_email_problem(value)
            try:
                result = validate_email(value, check_deliverability=False)
            except EmailNotValidError as exc:
                return "", f"The recipient's email address is not valid: {exc}"
            normalized = result.normalized
            if _ASCII_DOMAIN.match(result.domain) and len(self._domains) < CACHE_LIMIT:
                self._domains[value.rpartition("@")[2]] = result.domain
        if normalized.isascii():
            return normalized.lower(), None
        # Only ASCII letters are folded: lower-casing other scripts can change the address.
        return normalized.translate(_ASCII_UPPER), None

    @staticmethod
    def text_email_problem(value: str) -> str:
        try:
            Recipient(email=value)
        except RecipientError as exc:
            return str(exc)
        return "The recipient's email address is not valid."  # pragma: no cover

    def country(self, value: str) -> tuple[str, str | None]:
        key = ("country", value)
        found = self._codes.get(key)
        if found is None:
            found = self._country(value)
            if len(self._codes) < CACHE_LIMIT:
                self._codes[key] = found
        return found

    def _country(self, value: str) -> tuple[str, str | None]:
        code = value.upper()
        if code == "UK":
            return "", "“UK” is not an ISO 3166-1 code: the United Kingdom is GB."
        if not _TWO_LETTERS.match(code):
            return "", (
                f"“{cut(value)}” is not a two-letter country code (ISO 3166-1 alpha-2, "
                "such as GB, US, FR or DE)."
            )
        if self._countries is not None and code not in self._countries:
            return "", f"“{code}” is not an ISO 3166-1 country code."
        return code, None

    def us_state(self, value: str, country: str) -> tuple[str, str | None]:
        code = value.upper()
        if country != "US":
            where = f"the country is {country}" if country else "no country is given"
            return "", f"A US state is only for addresses in the US (country US); {where}."
        key = ("us_state", code)
        found = self._codes.get(key)
        if found is None:
            if not _TWO_LETTERS.match(code):
                found = (
                    "",
                    (f"“{cut(value)}” is not a two-letter US state code (such as CA, NY or TX)."),
                )
            elif self._us_states is not None and code not in self._us_states:
                found = "", f"“{code}” is not a US state or territory code."
            else:
                found = code, None
            if len(self._codes) < CACHE_LIMIT:
                self._codes[key] = found
        return found

    def language(self, value: str) -> tuple[str, str | None]:
        key = ("language", value)
        found = self._codes.get(key)
        if found is None:
            match = _LANGUAGE.match(value)
            if match is None:
                found = (
                    "",
                    (f"“{cut(value)}” is not a language tag such as en, en-GB, fr or pt-BR."),
                )
            else:
                language, script, region = match.groups()
                parts = [language.lower()]
                if script:
                    parts.append(script.title())
                if region:
                    parts.append(region.upper())
                found = "-".join(parts), None
            if len(self._codes) < CACHE_LIMIT:
                self._codes[key] = found
        return found

    def data_categories_json(self, value: str) -> tuple[str, str | None]:
        """The data category ids, sorted, as JSON text (``[]`` when there is a problem), or
        the problem."""
        found = self._category_lists.get(value)
        if found is None:
            ids, problem = self._data_categories(value)
            found = json_texts(list(ids)), problem
            if len(self._category_lists) < CACHE_LIMIT:
                self._category_lists[value] = found
        return found

    def _data_categories(self, value: str) -> tuple[tuple[str, ...], str | None]:
        ids = {part.strip().lower() for part in value.split(";")} - {""}
        unknown = sorted(ids - self._categories)
        if not unknown:
            return tuple(sorted(ids)), None
        hints = []
        for name in unknown[:3]:
            if "," in name:
                hints.append("separate categories with semicolons (;), not commas")
                break
            close = difflib.get_close_matches(name, self._categories, n=1)
            if close:
                hints.append(f"did you mean “{close[0]}” for “{cut(name)}”?")
        listed = ", ".join(f"“{cut(name)}”" for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        hint = f" ({'; '.join(hints)})" if hints else ""
        return (), (
            f"Unknown data categor{'ies' if len(unknown) > 1 else 'y'} {listed}{more}{hint}. "
            "Use the data category ids the upload page lists, separated by semicolons."
        )


class RowChecks:
    """One import's rows checked: each row counted as rejected (with its problems) or handed
    to ``deduplicator``, and the rows and row errors handed out in chunks (``take``) for
    writing. Without a deduplicator, the checked rows are handed out as they are, for a
    deduplicator in another process."""

    def __init__(
        self, list_id: int, header: Header, checker: RowChecker, deduplicator: Deduplicator | None
    ) -> None:
        self.list_id = list_id
        self.header = header
        self.checker = checker
        self.deduplicator = deduplicator
        self.rows = self.rejected = 0
        # Checked rows for the deduplicator in another process, in file order.
        self._checked: list[Pending] = []
        self._keep = deduplicator.keep if deduplicator is not None else self._checked.append
        self._errors: list[dict[str, Any]] = []
        self._width = len(header.names)
        # The file's values in COLUMNS order; a column the file lacks reads the "" that
        # _check appends to each row.
        self._pick = itemgetter(*(header.index.get(column, self._width) for column in COLUMNS))
        #: Each column as the file spells it, for the error report.
        self._name = {column: header.names[i] for column, i in header.index.items()}
        self._checked_codes: dict[tuple[str, str, str, str], _CheckedCodes] = {}

    # One row ----------------------------------------------------------------------------

    def reject(self, row: int, problems: Iterable[tuple[str, str, str]]) -> None:
        """Count ``row`` as rejected, with (column, problem, value) for each problem."""
        self.rejected += 1
        for column, problem, value in problems:
            self._errors.append(
                {
                    "list_id": self.list_id,
                    "row": row,
                    "column": column,
                    "problem": problem,
                    "value": cut(value),
                }
            )

    def add_problem(self, row: int, problem: str) -> None:
        """One more problem for a row already rejected."""
        self._errors.append(
            {"list_id": self.list_id, "row": row, "column": "", "problem": problem, "value": ""}
        )

    def add(self, row: int, cells: list[str], first_line: int, last_line: int) -> None:
        """Check one data row (lines ``first_line`` to ``last_line`` of the file): reject it
        or keep it (``_read_rows`` counts the rows)."""
        width = self._width
        if len(cells) != width:
            if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                del cells[width:]  # empty cells after the last column
            elif not any(cell.strip() for cell in cells):
                self.reject(row, [("", "The row is empty.", "")])
                return
            else:
                self.reject(
                    row,
                    [
                        (
                            "",
                            f"The row has {len(cells)} cells but the first line names "
                            f"{width} columns{_spanning(first_line, last_line)}. A value with a "
                            "comma in it must be in double quotes; a stray quote mark joins "
                            "cells or lines together.",
                            ",".join(cells),
                        )
                    ],
                )
                return
        recipient = self._check(row, cells)
        if recipient is not None:
            self._keep(recipient)

    def _check(self, row: int, cells: list[str]) -> Pending | None:
        """The row as a recipient to store, or None after recording why it was rejected."""
        cells.append("")  # what a column the file does not have reads as
        values = list(map(str.strip, self._pick(cells)))
        if not values[0] and not any(values):
            cells.pop()
            empty = (
                "The row has no values in the recipient columns."
                if any(cell.strip() for cell in cells)
                else "The row is empty."
            )
            self.reject(row, [("", empty, "")])
            return None
        (
            raw_email,
            first_name,
            last_name,
            reference,
            line_1,
            _line_2,
            _line_3,
            city,
            _region,
            postcode,
            raw_country,
            raw_state,
            raw_language,
            raw_categories,
        ) = values
        checker = self.checker
        name = self._name
        problems: list[tuple[str, str, str]] = []
        problem: str | None

        email = ""
        if raw_email:
            email, problem = checker.email(raw_email)
            if problem:
                problems.append((name["email"], problem, raw_email))
        texts = values[1:10]
        joined = "".join(texts)
        if _SUSPECT.search(joined) or (len(joined) > MAX_TEXT and max(map(len, texts)) > MAX_TEXT):
            for column, field, text in zip(_TEXT_COLUMNS, _TEXT_FIELDS, texts, strict=True):
                if text and (problem := checker.text(text, field)):
                    problems.append((name[column], problem, shown(text)))
        address = list(filter(None, texts[3:]))
        codes = (raw_country, raw_state, raw_language, raw_categories)
        checked = self._checked_codes.get(codes) or self._check_codes(codes)
        country, us_state, language, categories, code_problems = checked
        if code_problems:
            problems.extend(code_problems)
        if len(address) > 5 and not problems:
            try:
                Recipient(postal_address=tuple(address))
            except RecipientError as exc:
                problems.append(("", str(exc), ", ".join(address)))
        if not raw_email and not problems and not (line_1 and (city or postcode) and country):
            problems.append(
                (
                    "",
                    "The row has no email address and no complete postal address "
                    "(address_line_1, city or postcode, and country), so the notice "
                    "cannot reach this person.",
                    "",
                )
            )
        if problems:
            self.reject(row, problems)
            return None
        # The names and address lines together, or failing that the address lines alone.
        plain = joined if joined.isascii() else "".join(address)
        if plain.isascii() and '"' not in plain and "\\" not in plain:
            # Printable ASCII (controls were refused above) with nothing JSON escapes: what
            # json_texts makes, made faster.
            address_json = '["' + '", "'.join(address) + '"]' if address else "[]"
        else:
            address_json = json_texts(address)
        return (
            self.list_id,
            email,
            first_name,
            last_name,
            reference,
            address_json,
            country,
            us_state,
            language,
            categories,
            f"[{row}]",
        )

    def _check_codes(self, codes: tuple[str, str, str, str]) -> _CheckedCodes:
        """Country, US state, language and data categories, checked together: a list has few
        different combinations of them, so each is checked once (up to a limit)."""
        raw_country, raw_state, raw_language, raw_categories = codes
        checker = self.checker
        name = self._name
        problems: list[tuple[str, str, str]] = []
        problem: str | None
        country = ""
        if raw_country:
            country, problem = checker.country(raw_country)
            if problem:
                problems.append((name["country"], problem, raw_country))
        us_state = ""
        if raw_state:
            us_state, problem = checker.us_state(raw_state, country or raw_country.upper())
            if problem:
                problems.append((name["us_state"], problem, raw_state))
        language = ""
        if raw_language:
            language, problem = checker.language(raw_language)
            if problem:
                problems.append((name["language"], problem, raw_language))
        categories = "[]"
        if raw_categories:
            categories, problem = checker.data_categories_json(raw_categories)
            if problem:
                problems.append((name["data_categories"], problem, raw_categories))
        checked = (country, us_state, language, categories, tuple(problems))
        if len(self._checked_codes) < CACHE_LIMIT:
            self._checked_codes[codes] = checked
        return checked

    def take(self) -> Chunk:
        """The rows checked since the last ``take``, for writing: from the deduplicator, or (with
        none) every row kept, in file order, as ``new``; and the row errors."""
        errors, self._errors = self._errors, []
        if self.deduplicator is not None:
            return Chunk(*self.deduplicator.take(), errors)
        checked = self._checked
        self._checked = []
        self._keep = self._checked.append
        return Chunk(checked, {}, errors)


def _spanning(first_line: int, last_line: int) -> str:
    if last_line > first_line:
        return f" (it runs over lines {first_line} to {last_line} of the file)"
    return ""
