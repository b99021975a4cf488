"""Staff accounts: creating them, their roles, and switching them on and off (audited)."""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import audit
from composer.accounts.errors import AccountError
from composer.accounts.passwords import check_password_strength
from composer.models import Role, User
from composer.models.user import new_session_nonce


def normalise_email(email: str) -> str:
    """The address as accounts store it (checked, normalised, lower-cased); raises
    ``AccountError`` when it is not an email address."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"“{email}” is not an email address: {exc}") from None


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
