"""Staff accounts: creating them, checking passwords, and throttling sign-in attempts.

The code: ``users`` (creating accounts, roles, activation), ``passwords`` (strength rules,
generated passwords), ``sign_in`` (authentication, throttling, re-typed passwords) and
``errors``. Callers use the names re-exported here.
"""

from composer.accounts.errors import AccountError
from composer.accounts.passwords import (
    COMMON_PASSWORDS,
    MIN_CONTEXT_WORD,
    MIN_LISTED_CORE,
    MIN_PASSWORD_LENGTH,
    check_password_strength,
    common_passwords,
    generate_password,
)
from composer.accounts.sign_in import (
    FAILURE_MEMORY,
    FIRST_DELAY,
    KNOWN_ADDRESS_FOR,
    Throttle,
    TooManyAttempts,
    authenticate,
    check_sign_in_allowed,
    confirm_password,
    growing_delay,
    sign_out_everywhere,
)
from composer.accounts.users import create_user, normalise_email, set_active, set_roles

__all__ = [
    "COMMON_PASSWORDS",
    "FAILURE_MEMORY",
    "FIRST_DELAY",
    "KNOWN_ADDRESS_FOR",
    "MIN_CONTEXT_WORD",
    "MIN_LISTED_CORE",
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "Throttle",
    "TooManyAttempts",
    "authenticate",
    "check_password_strength",
    "check_sign_in_allowed",
    "common_passwords",
    "confirm_password",
    "create_user",
    "generate_password",
    "growing_delay",
    "normalise_email",
    "set_active",
    "set_roles",
    "sign_out_everywhere",
]
