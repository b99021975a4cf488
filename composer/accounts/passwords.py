"""Passwords: the strength rules a new password must meet (ASVS 5.0), and generated ones."""

from __future__ import annotations

import functools
import re
import secrets
import string
from importlib.resources import files

from composer.accounts.errors import AccountError

MIN_PASSWORD_LENGTH = 12
#: Listed passwords with only digits and symbols added count as listed when the listed part
#: has at least this many characters ("monkey2026!!"); shorter cores are too often chance.
MIN_LISTED_CORE = 4
#: Parts of the email address shorter than this are not looked for in the password.
MIN_CONTEXT_WORD = 3
#: The common and breached passwords list shipped inside the package (its header says where
#: it came from and its licence).
COMMON_PASSWORDS = "common_passwords.txt"
_DECORATION = string.digits + string.punctuation + " "
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lower-cased; read once a process."""
    text = files("composer.accounts").joinpath(COMMON_PASSWORDS).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _context_words(email: str) -> list[str]:
    """The address, its name part and the words in it, and the domain's names but the last."""
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    words = {email, local, *re.split(r"[^0-9a-z]+", local), *domain.split(".")[:-1]}
    # Longest first, so "ana.smith" goes before "ana".
    return sorted((w for w in words if len(w) >= MIN_CONTEXT_WORD), key=len, reverse=True)


def _is_run(text: str) -> bool:
    """Whether ``text`` is the same few characters over and over ("abcabcabcabc"), or a run
    along the alphabet, the digits or a keyboard row, either way ("123456789012", "lkjhgfdsa")."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return True
    for run in _RUNS:
        line = run * (len(text) // len(run) + 2)
        if text in line or text[::-1] in line:
            return True
    return False


def check_password_strength(password: str, email: str) -> None:
    """Refuse a password an attacker would try early, with a message saying why.

    ASVS 5.0's rules: at least ``MIN_PASSWORD_LENGTH`` characters, any characters (spaces and
    any language), no rules about character kinds; not on the common and breached list (nor
    a listed password with digits or symbols added), not a run or repeat, and not made mostly
    of the account's email address.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Use a password of at least {MIN_PASSWORD_LENGTH} characters. A few unrelated "
            "words make one that is easy to remember."
        )
    lowered = password.lower()
    listed = common_passwords()
    core = lowered.strip(_DECORATION)
    if lowered in listed or (len(core) >= MIN_LISTED_CORE and core in listed):
        raise AccountError(
            "That password is on a list of common and leaked passwords that attackers try "
            "first, so choose another. Adding digits or symbols to a common password does "
            "not make it safe."
        )
    if _is_run(lowered):
        raise AccountError(
            "That password is a repeat or a run of characters (like “aaaa…” or “1234…”), "
            "which attackers try first. Choose another."
        )
    rest = lowered
    for word in _context_words(email):
        rest = rest.replace(word, "")
    if len(rest) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"The password is mostly your email address. Besides the address and its parts, "
            f"it needs at least {MIN_PASSWORD_LENGTH} characters of its own."
        )


def generate_password(email: str) -> str:
    """A random password (about 120 bits) that ``check_password_strength`` accepts for
    ``email``; handed to the person once."""
    while True:
        password = secrets.token_urlsafe(15)
        try:
            check_password_strength(password, email)
        except AccountError:  # pragma: no cover - about once in 2**40 tries
            continue
        return password
