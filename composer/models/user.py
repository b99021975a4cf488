"""Staff accounts, their roles, and sign-in attempts."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    AUTHOR = "author"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def description(self) -> str:
        return {
            Role.AUTHOR: "drafts incidents and notices",
            Role.APPROVER: "reviews and signs off notices (legal)",
            Role.ADMIN: "manages users and sending",
        }[self]


def new_session_nonce() -> str:
    return secrets.token_urlsafe(16)


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Sign-in name, stored lower-cased.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    #: Argon2id PHC string.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    #: Part of every session cookie; changing it signs the user out everywhere.
    session_nonce: Mapped[str] = mapped_column(String(64), default=new_session_nonce)
    #: IANA timezone for showing times; None means the site default.
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.role_rows)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def set_roles(self, roles: set[Role]) -> None:
        keep = [r for r in self.role_rows if Role(r.role) in roles]
        have = {Role(r.role) for r in keep}
        self.role_rows = keep + [UserRole(role=str(r)) for r in sorted(roles - have)]

    # Flask-Login protocol, kept here so the web layer stays thin.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")


class LoginAttempt(Base):
    """One sign-in attempt, kept for throttling (``composer.accounts``) and pruned by it."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_account_at", "account", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The sign-in name as typed, lower-cased.
    account: Mapped[str] = mapped_column(String(254))
    #: Client address as seen by the app. Kept for the failure memory (failures) or for
    #: ``KNOWN_ADDRESS_FOR`` (successes, which mark the address as known for the account).
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)


class PasswordRecheck(Base):
    """One password re-typed by a signed-in user to confirm a step (approving a notice).

    Counted apart from sign-in attempts: the signed-in user's own mistakes slow only their own
    re-checks, and anonymous guesses at the sign-in form never hold up an approval.
    """

    __tablename__ = "password_recheck"
    __table_args__ = (Index("ix_password_recheck_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    succeeded: Mapped[bool] = mapped_column(default=False)
