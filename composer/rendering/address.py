"""The lines a letter's envelope window shows, below the recipient's name.

What is reformatted, and what is not (docs/letters.md says the same for admins):

- A letter to another country than the company's own (``LETTER_HOME_COUNTRY``) ends with the
  country's English name in capitals, on its own line, as the Universal Postal Union asks:
  "GERMANY", "UNITED STATES". A letter at home gets none; a recipient with no country is taken
  to live at home. A last line that already names the recipient's country ("Germany", "USA")
  gives way to that line rather than printing it twice (and is left out at home).
- US addresses get city, state and ZIP on one line, "San Francisco, CA 94105" (a form USPS
  reads): the state from the address lines when they hold one, otherwise from the recipient's
  ``us_state``. A state or ZIP already on the city's line is left as written.
- Every other line, and every other country's address, is printed as given: postal formats
  differ too much to guess at, and the lines come from the customer's own records.

Country names come from the ISO 3166-1 list the app ships (``checklists/places.yaml``, the
same one the recipient import checks codes against); nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Final

import yaml

from composer.rendering.errors import RecipientError
from composer.rendering.merge_fields import Recipient
from composer.support.resources import CHECKLISTS_DIR

#: The country letters are posted from unless ``LETTER_HOME_COUNTRY`` says otherwise.
DEFAULT_HOME_COUNTRY: Final = "GB"
#: The shipped ISO 3166-1 country list and USPS state codes (read, never written, here).
PLACES_FILE: Final = CHECKLISTS_DIR / "places.yaml"
#: What a last line may say instead of the country's name, by code (upper case, no dots).
COUNTRY_ALIASES: Final[Mapping[str, frozenset[str]]] = {
    "US": frozenset({"US", "USA", "UNITED STATES OF AMERICA", "AMERICA"}),
    "GB": frozenset({"UK", "GB", "GREAT BRITAIN", "UNITED KINGDOM OF GREAT BRITAIN"}),
}
#: A US state's full name that is also a big city in that state: alone on a line it is the city.
_CITY_NAMES: Final = frozenset({"NEW YORK"})

_ZIP = re.compile(r"(?P<head>.*?)[\s,]*\b(?P<zip>[0-9]{5}(?:-[0-9]{4})?)")
_CODE_AT_END = re.compile(r"(?:(?P<rest>.*?)[\s,]+)?(?P<code>[A-Za-z]{2})\.?")


class UnknownCountry(RecipientError):
    """A country code the shipped list has no name for (a letter abroad needs the name)."""


@cache
def _places() -> tuple[dict[str, str], dict[str, str]]:
    doc = yaml.safe_load(PLACES_FILE.read_text(encoding="utf-8"))
    countries = {str(p["code"]).upper(): str(p["name"]) for p in doc["countries"]}
    states = {str(p["code"]).upper(): str(p["name"]) for p in doc["us_states"]}
    return countries, states


def country_name(code: str) -> str:
    """The English name of the ISO 3166-1 alpha-2 ``code`` ("DE" -> "Germany"). Raises
    :class:`UnknownCountry` when the shipped list does not have it."""
    countries, _ = _places()
    name = countries.get(code.strip().upper())
    if name is None:
        raise UnknownCountry(
            f"The country code “{code[:12]}” is not one we have a name for "
            "(ISO 3166-1 alpha-2, such as GB, US or DE); a letter abroad must name its country."
        )
    return name


def envelope_lines(
    lines: Sequence[str], *, country: str = "", us_state: str = "", home_country: str
) -> tuple[str, ...]:
    """The address lines to print under the name: ``lines`` as given, US city, state and ZIP
    joined on one line, and the country's name in capitals last when ``country`` is not
    ``home_country``. Raises :class:`UnknownCountry` for a country code with no known name
    (even at home: the code is wrong, so the address may be)."""
    country = country.strip().upper()
    home = home_country.strip().upper()
    out = [line for line in (" ".join(line.split()) for line in lines) if line]
    if not country:
        return tuple(out)
    name = country_name(country)
    if len(out) > 1 and _names_country(out[-1], country, name):
        out.pop()  # printed once, in capitals, below (and not at all at home)
    if country == "US":
        out = _us_lines(out, us_state.strip().upper())
    if country == home:
        return tuple(out)
    return (*out, name.upper())


def recipient_lines(recipient: Recipient, *, home_country: str) -> tuple[str, ...]:
    """The lines under ``recipient``'s name in the envelope window, and in the print house's
    manifest: :func:`envelope_lines` of their address, country and US state."""
    return envelope_lines(
        recipient.postal_address,
        country=recipient.country,
        us_state=recipient.us_state,
        home_country=home_country,
    )


def _names_country(line: str, code: str, name: str) -> bool:
    said = line.replace(".", "").strip().upper()
    return said == name.upper() or said in COUNTRY_ALIASES.get(code, frozenset({code}))


def _state_at_end(text: str, *, alone: bool, us_state: str) -> tuple[str, str | None]:
    """(what comes before the state, the state's USPS code) when ``text`` ends with a state's
    code or, after a comma, its full name. ``alone``: the whole of ``text`` may be a full name
    (a line of its own: "California"), unless the recipient's ``us_state`` says another state
    (a city called "Washington" in DC) or the name is also its state's big city."""
    _, states = _places()
    match = _CODE_AT_END.fullmatch(text)
    if match and match["code"].upper() in states:
        return (match["rest"] or "").rstrip(" ,"), match["code"].upper()
    upper = text.upper()
    for code, name in states.items():
        name = name.upper()
        if upper == name and alone and us_state in ("", code) and name not in _CITY_NAMES:
            return "", code
        if upper.endswith(", " + name) or upper.endswith("," + name):
            return text[: len(text) - len(name)].rstrip(" ,"), code
    return text, None


def _us_lines(lines: list[str], us_state: str) -> list[str]:
    if not lines:
        return lines
    zip_match = _ZIP.fullmatch(lines[-1])
    if zip_match is None:
        # No ZIP: a lone state line joins the city's; a missing state follows the city.
        rest, state = _state_at_end(lines[-1], alone=True, us_state=us_state)
        if state and not rest and len(lines) >= 2:
            return [*lines[:-2], f"{lines[-2]}, {state}"]
        if state is None and us_state and len(lines) >= 2:
            return [*lines[:-1], f"{lines[-1]}, {us_state}"]
        return lines
    body = lines[:-1]
    head, zip_code = zip_match["head"].rstrip(" ,"), zip_match["zip"]
    city, state = _state_at_end(head, alone=True, us_state=us_state) if head else ("", None)
    if city and state:
        return lines  # "San Francisco, CA 94105" already
    if head and state is None:
        city = head  # "San Francisco 94105"
    elif body:
        # The ZIP (and maybe the state) alone: the city is on a line above.
        above, found = _state_at_end(body[-1], alone=len(body) >= 2, us_state=us_state)
        if state is None and found and not above and len(body) >= 2:
            state, city = found, body[-2]  # "San Francisco" / "CA" / "94105"
            body = body[:-2]
        elif state is None and found and above:
            state, city = found, above  # "San Francisco, CA" / "94105"
            body = body[:-1]
        else:
            city = body[-1]
            body = body[:-1]
    state = state or us_state or None
    last = f"{city}, {state}" if city and state else city or state or ""
    return [*body, f"{last} {zip_code}".strip()]
