"""Header values and addresses: what may go into a header, one plain email address, and the
sender setting (``MAIL_SENDER``) read as an address and a name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Final

from composer.delivery.gateways.errors import GatewayConfigError, InvalidMessage

#: C0 and C1 controls, DEL and the Unicode line and paragraph separators: none belongs in a
#: header, and CR/LF there would let text add headers of its own.
HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL_LIKE: Final = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+")
#: Whitespace (``\s`` is ``str.isspace``) and what would make one address read as several.
NOT_IN_ADDRESS: Final = re.compile(r'[\s<>,;"]')

MAX_SUBJECT_CHARS: Final = 998
MAX_NAME_CHARS: Final = 200


def check_header(value: str, what: str) -> None:
    if HEADER_UNSAFE.search(value):
        raise InvalidMessage(f"The {what} contains a line break or control character.")


def check_address(value: str, what: str) -> None:
    check_header(value, what)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or len(value) > 254 or NOT_IN_ADDRESS.search(value):
        raise InvalidMessage(f"The {what} is not a single plain email address.")


@dataclass(frozen=True, slots=True)
class MailAddress:
    email: str
    name: str = ""


def parse_sender(value: str) -> MailAddress:
    """``"Example Ltd <security@example.com>"`` (or a bare address) as an address and a name."""
    if HEADER_UNSAFE.search(value):
        raise GatewayConfigError("MAIL_SENDER contains a line break or control character.")
    name, email = parseaddr(value)
    try:
        check_address(email, "sender's address")
    except InvalidMessage:
        raise GatewayConfigError(
            f"MAIL_SENDER must be an address like 'Example Ltd <security@example.com>', "
            f"not {value!r}."
        ) from None
    return MailAddress(email=email, name=name.strip())


def message_address(value: str, what: str) -> MailAddress:
    """``"Name <address>"`` or a bare address, or ``InvalidMessage``."""
    check_header(value, what)
    name, email = parseaddr(value)
    check_address(email, what)
    return MailAddress(email=email, name=name.strip())
