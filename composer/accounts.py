"""Staff accounts: creating them, checking passwords, and throttling sign-in attempts."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from composer import audit
from composer.models import LoginAttempt, Role, User
from composer.models.user import new_session_nonce

MIN_PASSWORD_LENGTH = 12


@functools.lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    # Checked when the account does not exist, at the same cost, so timing does not reveal
    # which accounts exist.
    return PasswordHasher(time_cost, memory_cost, parallelism).hash("not a password")


class AccountError(ValueError):
    """A problem with account details, written for the person who typed them."""


@dataclass(frozen=True)
class Throttle:
    max_per_account: int
    max_per_address: int
    window: timedelta


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"“{email}” is not an email address: {exc}") from None


def check_password_strength(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if password.lower() in email.lower() or email.split("@")[0].lower() in password.lower():
        raise AccountError("The password must not contain the email address.")


def create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    email: str,
    display_name: str,
    password: str,
    roles: Iterable[Role],
    created_by: User | None,
    actor_label: str | None = None,
) -> User:
    """Add an account (the caller commits). Raises ``AccountError`` on bad details."""
    email = normalise_email(email)
    role_set = set(roles)
    if not role_set:
        raise AccountError("Give the account at least one role.")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"There is already an account for {email}.")
    check_password_strength(password, email)
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        password_hash=hasher.hash(password),
    )
    user.set_roles(role_set)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=created_by,
        actor_label=actor_label,
        action="user.created",
        subject_type="user",
        subject_id=user.id,
        after={"email": user.email, "roles": sorted(role_set)},
    )
    return user


def set_roles(session: Session, user: User, roles: set[Role], *, by: User) -> None:
    if not roles:
        raise AccountError("Give the account at least one role.")
    if user.id == by.id and Role.ADMIN not in roles:
        raise AccountError("You cannot remove your own admin role; ask another admin.")
    before = sorted(user.roles)
    if set(before) == roles:
        return
    user.set_roles(roles)
    audit.record(
        session,
        actor=by,
        action="user.roles_changed",
        subject_type="user",
        subject_id=user.id,
        before={"roles": before},
        after={"roles": sorted(roles)},
    )


def set_active(session: Session, user: User, active: bool, *, by: User) -> None:
    if user.id == by.id and not active:
        raise AccountError("You cannot deactivate your own account.")
    if user.active == active:
        return
    user.active = active
    user.session_nonce = new_session_nonce()  # signs the user out everywhere
    audit.record(
        session,
        actor=by,
        action="user.activated" if active else "user.deactivated",
        subject_type="user",
        subject_id=user.id,
        before={"active": not active},
        after={"active": active},
    )


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def failures_since(
    session: Session, *, account: str, address: str, since: datetime
) -> tuple[int, int]:
    by_account = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.account == account, ~LoginAttempt.succeeded, LoginAttempt.at >= since)
    )
    by_address = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.address == address, ~LoginAttempt.succeeded, LoginAttempt.at >= since)
    )
    return int(by_account or 0), int(by_address or 0)


class TooManyAttempts(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        minutes = max(1, round(retry_after.total_seconds() / 60))
        super().__init__(
            f"Too many failed sign-in attempts. Wait {minutes} minute"
            f"{'s' if minutes != 1 else ''} and try again, or ask an admin to check your account."
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

    Raises ``TooManyAttempts`` before checking the password once the account or the client
    address has failed too often within the throttle window.
    """
    account = email.strip().lower()[:254]
    since = now - throttle.window
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < since))
    by_account, by_address = failures_since(session, account=account, address=address, since=since)
    if by_account >= throttle.max_per_account or by_address >= throttle.max_per_address:
        oldest = session.scalar(
            select(func.min(LoginAttempt.at)).where(
                (LoginAttempt.account == account) | (LoginAttempt.address == address),
                ~LoginAttempt.succeeded,
                LoginAttempt.at >= since,
            )
        )
        retry = (oldest + throttle.window - now) if oldest else throttle.window
        raise TooManyAttempts(max(retry, timedelta(seconds=1)))
    user = session.scalar(select(User).where(User.email == account))
    ok = False
    try:
        dummy = _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        ok = hasher.verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(at=now, account=account, address=address[:64], succeeded=ok))
    if not ok or user is None:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def sign_out_everywhere(user: User) -> None:
    user.session_nonce = new_session_nonce()
