"""Contact details in text: the facts' phone, email, web page or postal address, or any."""

from __future__ import annotations

import re

# Lengths are bounded as the standards bound them (64 characters before the @, 63 per part of a
# domain name) and a phone number to 30 characters: unbounded, a long run of letters or digits
# was scanned to its end from each of its characters.
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}")
_URL = re.compile(
    r"\bhttps?://\S+|\bwww\.[\w-]{1,63}\.\S+|\b[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}/\S*",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w/-])\+?\(?\d[\d\s().\-]{6,30}\d(?![\w/-])")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def phone_in(text: str, phone: str) -> bool:
    digits = _digits(phone)
    if len(digits) < 6:
        return phone.strip().lower() in text.lower()
    tail = digits[-9:]
    pattern = r"[\s().\-]{0,3}".join(tail)
    return re.search(rf"{pattern}(?!\d)", text) is not None


def email_in(text: str, email: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(email)}(?![\w-])", text, re.IGNORECASE) is not None


def web_in(text: str, url: str) -> bool:
    bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.strip(), flags=re.IGNORECASE).rstrip("/")
    if not bare:
        return False
    pattern = rf"(?<![\w.-])(?:https?://)?(?:www\.)?{re.escape(bare)}/?(?![\w/-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def postal_in(text: str, postal: str) -> bool:
    first = next((line.strip() for line in postal.splitlines() if line.strip()), "")
    if not first:
        return False
    flat = " ".join(text.split()).lower()
    return " ".join(first.split()).lower().rstrip(",") in flat


def any_contact(text: str) -> bool:
    if _EMAIL.search(text) or _URL.search(text):
        return True
    return any(len(_digits(m.group())) >= 9 for m in _PHONE.finditer(text))
