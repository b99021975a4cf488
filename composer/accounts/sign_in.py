"""Signing in: checking passwords (at the same cost whether or not the account exists),
throttling wrong ones, re-typed passwords that confirm a step, and signing out everywhere."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from composer.models import LoginAttempt, User
from composer.models.user import PasswordRecheck, new_session_nonce


@functools.lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    # Checked when the account does not exist, at the same cost, so timing does not reveal
    # which accounts exist.
    return PasswordHasher(time_cost, memory_cost, parallelism).hash("not a password")


# Throttling -------------------------------------------------------------------------------------
#
# No attempt ever locks an account for everyone. Wrong passwords slow down the place they come
# from: one client address guessing at one account waits longer and longer between tries,
# one address guessing across accounts is stopped for a while, and guesses from many
# addresses at one account stop only addresses that have not signed in to it lately, so the
# real user at their usual address still gets in. docs/security.md gives the numbers.

#: The wait after the first failure past the free ones; each further failure doubles it.
FIRST_DELAY = timedelta(minutes=1)
#: How long failures for one account from one address (or at one user's re-checks) count
#: towards the growing wait, unless a right password from the same place clears them.
FAILURE_MEMORY = timedelta(hours=24)
#: A client address with a successful sign-in to an account this recently is known for it.
KNOWN_ADDRESS_FOR = timedelta(days=30)


@dataclass(frozen=True)
class Throttle:
    """Sign-in throttling's numbers (the ``LOGIN_*`` settings)."""

    #: Wrong passwords for one account from one address before waits start.
    free_failures: int
    #: The longest wait between tries for one account from one address.
    max_delay: timedelta
    #: Failures from one address, across all accounts, within ``window``.
    max_per_address: int
    #: Failures for one account within ``window`` after which addresses not known for it wait.
    max_per_account: int
    window: timedelta


class TooManyAttempts(Exception):
    """Wait ``retry_after`` before trying again; the message says why, for the user."""

    def __init__(self, retry_after: timedelta, reason: str) -> None:
        self.retry_after = max(retry_after, timedelta(seconds=1))
        super().__init__(f"{reason} {_wait_words(self.retry_after)}")


def _wait_words(wait: timedelta) -> str:
    seconds = math.ceil(wait.total_seconds())
    if seconds < 60:
        return f"Wait {seconds} second{'s' if seconds != 1 else ''} and try again."
    minutes = math.ceil(seconds / 60)
    return f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again."


def growing_delay(failures: int, throttle: Throttle) -> timedelta:
    """The wait after ``failures`` wrong passwords in a row from one place: none for the
    free ones, then ``FIRST_DELAY``, doubling each time, at most ``throttle.max_delay``."""
    beyond = failures - throttle.free_failures
    if beyond < 0:
        return timedelta(0)
    return min(FIRST_DELAY * (1 << min(beyond, 30)), throttle.max_delay)


def _prune_login_attempts(session: Session, now: datetime, throttle: Throttle) -> None:
    failures_until = now - max(FAILURE_MEMORY, throttle.window)
    session.execute(
        delete(LoginAttempt).where(
            ((~LoginAttempt.succeeded) & (LoginAttempt.at < failures_until))
            | (LoginAttempt.succeeded & (LoginAttempt.at < now - KNOWN_ADDRESS_FOR))
        )
    )


def _streak(
    session: Session, model: type[LoginAttempt] | type[PasswordRecheck], *where: Any, now: datetime
) -> tuple[int, datetime | None]:
    """Failures in a row (within ``FAILURE_MEMORY``, since the last success) matching
    ``where``, and when the last of them was."""
    last_success = session.scalar(select(func.max(model.at)).where(*where, model.succeeded))
    since = now - FAILURE_MEMORY
    if last_success is not None and last_success > since:
        since = last_success
    count, last = session.execute(
        select(func.count(), func.max(model.at)).where(*where, ~model.succeeded, model.at > since)
    ).one()
    return int(count or 0), last


def check_sign_in_allowed(
    session: Session, throttle: Throttle, *, account: str, address: str, now: datetime
) -> None:
    """Raise ``TooManyAttempts`` when ``address`` must wait before trying ``account`` again.

    Says nothing about whether the account exists: typed names are counted alike.
    """
    _window_limit(
        session,
        LoginAttempt.address == address,
        throttle.max_per_address,
        throttle,
        now=now,
        message="Too many failed sign-in attempts have come from your network.",
    )
    failures, last = _streak(
        session,
        LoginAttempt,
        LoginAttempt.account == account,
        LoginAttempt.address == address,
        now=now,
    )
    wait = growing_delay(failures, throttle)
    if last is not None and wait and now < last + wait:
        raise TooManyAttempts(
            last + wait - now,
            "Too many wrong passwords for this account from your network; each one makes "
            "the wait longer.",
        )
    known = session.scalar(
        select(LoginAttempt.id)
        .where(
            LoginAttempt.account == account,
            LoginAttempt.address == address,
            LoginAttempt.succeeded,
            LoginAttempt.at >= now - KNOWN_ADDRESS_FOR,
        )
        .limit(1)
    )
    if known is not None:
        return
    _window_limit(
        session,
        LoginAttempt.account == account,
        throttle.max_per_account,
        throttle,
        now=now,
        message="This account has had too many failed sign-in attempts from other places, so "
        "only networks it was recently signed in from can try now.",
    )


def _window_limit(
    session: Session,
    which: ColumnElement[bool],
    limit: int,
    throttle: Throttle,
    *,
    now: datetime,
    message: str,
) -> None:
    """Raise ``TooManyAttempts`` (until the oldest leaves the window) when the failed sign-ins
    matching ``which`` in the last ``throttle.window`` number ``limit`` or more."""
    recent = (which, ~LoginAttempt.succeeded, LoginAttempt.at >= now - throttle.window)
    count, oldest = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(*recent)
    ).one()
    if int(count or 0) >= limit:
        raise TooManyAttempts(
            (oldest + throttle.window - now) if oldest else throttle.window, message
        )


def authenticate(
    session: Session,
    hasher: PasswordHasher,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> User | None:
    """The active user with these credentials, or None. Records the attempt (caller commits).

    Raises ``TooManyAttempts``, before checking the password, while ``address`` must wait
    (``check_sign_in_allowed``).
    """
    account = email.strip().lower()[:254]
    address = address[:64]
    _prune_login_attempts(session, now, throttle)
    check_sign_in_allowed(session, throttle, account=account, address=address, now=now)
    user = session.scalar(select(User).where(User.email == account))
    ok = _verify(hasher, user, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(at=now, account=account, address=address, succeeded=ok))
    if not ok or user is None:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def _verify(hasher: PasswordHasher, user: User | None, password: str) -> bool:
    try:
        dummy = _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        return bool(hasher.verify(user.password_hash if user else dummy, password))
    except (VerificationError, InvalidHashError):
        return False


def confirm_password(
    session: Session,
    hasher: PasswordHasher,
    throttle: Throttle,
    user: User,
    password: str,
    *,
    now: datetime,
) -> bool:
    """Whether ``password`` is the signed-in ``user``'s, re-typed to confirm a step. Records
    the check (caller commits).

    Has its own growing wait per user (``throttle.free_failures`` free, then
    ``growing_delay``), apart from sign-in: raises ``TooManyAttempts`` while it runs.
    """
    session.execute(delete(PasswordRecheck).where(PasswordRecheck.at < now - FAILURE_MEMORY))
    failures, last = _streak(session, PasswordRecheck, PasswordRecheck.user_id == user.id, now=now)
    wait = growing_delay(failures, throttle)
    if last is not None and wait and now < last + wait:
        raise TooManyAttempts(
            last + wait - now,
            "You have typed a wrong password too many times; each one makes the wait longer.",
        )
    ok = _verify(hasher, user, password)
    session.add(PasswordRecheck(at=now, user_id=user.id, succeeded=ok))
    return ok


def sign_out_everywhere(user: User) -> None:
    user.session_nonce = new_session_nonce()
