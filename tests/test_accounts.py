"""Accounts without the web: which passwords are refused and why, generated passwords, and the
sign-in throttle's numbers with the clock in the test's hands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy.orm import Session

from composer import accounts
from composer.accounts import AccountError, Throttle, TooManyAttempts
from composer.extensions import db
from composer.models import LoginAttempt, Role, User
from tests.conftest import PASSWORD, make_user

EMAIL = "ana.smith@example.com"

# (password, why it is refused): each is one an attacker would try early.
REFUSED = [
    ("short pass", "at least 12 characters"),
    ("", "at least 12 characters"),
    ("password1234", "common and leaked passwords"),
    ("PASSWORD1234", "common and leaked passwords"),
    ("qwerty123456", "common and leaked passwords"),
    ("1qaz2wsx3edc", "common and leaked passwords"),
    # A listed password with digits or symbols around it is still that password.
    ("monkey2026!!!", "common and leaked passwords"),
    ("!!iloveyou!!2026", "common and leaked passwords"),
    ("aaaaaaaaaaaa", "a repeat or a run"),
    ("abcabcabcabc", "a repeat or a run"),
    ("correctcorrect", "a repeat or a run"),
    ("123456789012", "a repeat or a run"),
    ("lkjhgfdsalkjh", "a repeat or a run"),
    ("zyxwvutsrqponm", "a repeat or a run"),
    ("ana.smith@example.com", "mostly your email address"),
    ("Ana.Smith@Example.com!", "mostly your email address"),
    ("smithexample2026", "mostly your email address"),
    ("ana.smith-7Hq", "mostly your email address"),
]

ACCEPTED = [
    "correct horse battery staple",
    "ma vie en rose à paris",  # spaces and any language
    "Tr0ub4dour&3xyz",
    "bananas for breakfast",  # contains "ana", but is not built from the address
    "smith family holiday in 1998",
    "日本語のパスワードです。とても長い",
    "x" * 200 + "y",  # long passwords are allowed
]


@pytest.mark.parametrize(("password", "why"), REFUSED)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why):
        accounts.check_password_strength(password, EMAIL)


@pytest.mark.parametrize("password", ACCEPTED)
def test_strong_passwords_are_accepted_without_composition_rules(password: str) -> None:
    accounts.check_password_strength(password, EMAIL)


def test_the_shipped_list_is_loaded_once_and_holds_lower_cased_passwords() -> None:
    listed = accounts.common_passwords()
    assert listed is accounts.common_passwords()
    assert len(listed) > 30_000
    assert "password1234" in listed
    assert not any(p.startswith("#") or p != p.lower() for p in listed)


@pytest.mark.parametrize(
    "email",
    ["a@example.com", "jo@ex.io", "ana@example.com", "q@q.co", "abc.def-ghi@abc-def.example"],
)
def test_generated_passwords_always_pass_the_real_check(email: str) -> None:
    seen = set()
    for _ in range(2000):
        password = accounts.generate_password(email)
        accounts.check_password_strength(password, email)
        seen.add(password)
    assert len(seen) == 2000


# Throttling ------------------------------------------------------------------------------------

THROTTLE = Throttle(
    free_failures=5,
    max_delay=timedelta(minutes=15),
    max_per_address=30,
    max_per_account=20,
    window=timedelta(minutes=15),
)
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
USER_ADDRESS = "192.0.2.10"
ATTACKER = "198.51.100.66"


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    make_user(app, "ana@example.com", Role.APPROVER)
    with app.app_context():
        yield db.session()


@pytest.fixture
def hasher(app: Flask) -> PasswordHasher:
    return app.extensions["composer.password_hasher"]  # type: ignore[no-any-return]


def attempt(
    session: Session,
    hasher: PasswordHasher,
    *,
    at: datetime,
    typed: str = "wrong guess",
    address: str = ATTACKER,
    email: str = "ana@example.com",
    throttle: Throttle = THROTTLE,
) -> User | None:
    user = accounts.authenticate(
        session, hasher, throttle, email=email, password=typed, address=address, now=at
    )
    session.commit()
    return user


def test_delays_grow_from_one_minute_and_stop_at_the_maximum() -> None:
    waits = [accounts.growing_delay(n, THROTTLE) for n in range(4, 12)]
    minutes = [w.total_seconds() / 60 for w in waits]
    assert minutes == [0, 1, 2, 4, 8, 15, 15, 15]


def test_an_attackers_failures_never_stop_the_user_at_their_own_address(
    session: Session, hasher: PasswordHasher
) -> None:
    for n in range(5):
        attempt(session, hasher, at=START + timedelta(seconds=n))
    with pytest.raises(TooManyAttempts, match="Wait 54 seconds"):
        attempt(session, hasher, at=START + timedelta(seconds=10))
    user = attempt(
        session, hasher, at=START + timedelta(seconds=11), typed=PASSWORD, address=USER_ADDRESS
    )
    assert user is not None
    assert user.email == "ana@example.com"
    # The user's success elsewhere does not clear the attacker's count.
    with pytest.raises(TooManyAttempts):
        attempt(session, hasher, at=START + timedelta(seconds=12))


def test_each_failure_past_the_free_ones_doubles_the_wait(
    session: Session, hasher: PasswordHasher
) -> None:
    at = START
    for _ in range(5):
        attempt(session, hasher, at=at)
    for wait in (1, 2, 4, 8, 15, 15):
        with pytest.raises(TooManyAttempts) as refused:
            attempt(session, hasher, at=at + timedelta(minutes=wait) - timedelta(seconds=1))
        assert refused.value.retry_after == timedelta(seconds=1)
        at += timedelta(minutes=wait)
        assert attempt(session, hasher, at=at) is None
    # The right password is held up like any other, then works once the wait is over.
    with pytest.raises(TooManyAttempts):
        attempt(session, hasher, at=at + timedelta(minutes=14), typed=PASSWORD)
    assert attempt(session, hasher, at=at + timedelta(minutes=15), typed=PASSWORD)
    # And a success clears the count for that address.
    for n in range(5):
        assert attempt(session, hasher, at=at + timedelta(minutes=16, seconds=n)) is None


def test_one_address_guessing_across_accounts_is_stopped_for_the_window(
    session: Session, hasher: PasswordHasher
) -> None:
    for n in range(30):
        attempt(session, hasher, email=f"user{n}@example.com", at=START + timedelta(seconds=n))
    with pytest.raises(TooManyAttempts, match="from your network") as refused:
        attempt(session, hasher, typed=PASSWORD, at=START + timedelta(minutes=1))
    assert refused.value.retry_after == timedelta(minutes=14)
    # Other addresses are not affected, and the address may try again once the window passes.
    assert attempt(session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START)
    assert attempt(session, hasher, typed=PASSWORD, at=START + timedelta(minutes=15, seconds=1))


def test_guesses_from_many_addresses_stop_new_addresses_but_not_the_users_own(
    session: Session, hasher: PasswordHasher
) -> None:
    # The user signed in from their usual address last week.
    assert attempt(
        session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START - timedelta(days=7)
    )
    for n in range(20):
        attempt(session, hasher, address=f"203.0.113.{n}", at=START + timedelta(seconds=n))
    with pytest.raises(TooManyAttempts, match="only networks it was recently signed in from"):
        attempt(session, hasher, typed=PASSWORD, address="203.0.113.200", at=START)
    assert attempt(session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START)


def test_an_account_that_does_not_exist_is_throttled_alike(
    session: Session, hasher: PasswordHasher
) -> None:
    for n in range(5):
        attempt(session, hasher, email="nobody@example.com", at=START + timedelta(seconds=n))
    with pytest.raises(TooManyAttempts, match="Too many wrong passwords for this account"):
        attempt(session, hasher, email="nobody@example.com", at=START + timedelta(seconds=6))


def test_old_attempts_are_pruned_but_recent_sign_ins_are_kept(
    session: Session, hasher: PasswordHasher
) -> None:
    attempt(session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START)
    attempt(session, hasher, at=START)
    attempt(session, hasher, at=START + timedelta(days=2), address="192.0.2.99")
    kept = {(a.address, a.succeeded) for a in session.query(LoginAttempt)}
    assert kept == {(USER_ADDRESS, True), ("192.0.2.99", False)}
    attempt(session, hasher, at=START + timedelta(days=31), address="192.0.2.99")
    assert session.query(LoginAttempt).filter(LoginAttempt.succeeded).count() == 0


def test_the_re_check_at_a_step_has_its_own_per_user_waits(
    session: Session, hasher: PasswordHasher
) -> None:
    user = session.query(User).one()
    assert attempt(
        session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START - timedelta(days=1)
    )
    # Sign-in guesses from everywhere hold up sign-in from new places...
    for n in range(20):
        attempt(session, hasher, address=f"203.0.113.{n}", at=START)
    with pytest.raises(TooManyAttempts):
        attempt(session, hasher, typed=PASSWORD, address="203.0.113.99", at=START)
    # ...but not the signed-in user's re-check.
    assert accounts.confirm_password(session, hasher, THROTTLE, user, PASSWORD, now=START)
    # The user's own wrong re-checks slow only the re-check, growing like sign-in's waits.
    for n in range(5):
        assert not accounts.confirm_password(
            session, hasher, THROTTLE, user, "oops", now=START + timedelta(seconds=n + 1)
        )
    with pytest.raises(TooManyAttempts, match="Wait 55 seconds"):
        accounts.confirm_password(
            session, hasher, THROTTLE, user, PASSWORD, now=START + timedelta(seconds=10)
        )
    assert attempt(session, hasher, typed=PASSWORD, address=USER_ADDRESS, at=START)
    assert accounts.confirm_password(
        session, hasher, THROTTLE, user, PASSWORD, now=START + timedelta(minutes=2)
    )


def test_create_user_on_the_command_line_says_why_a_password_is_refused(runner: Any) -> None:
    result = runner.invoke(
        args=["create-user", "kim@example.com", "--role", "author"],
        input="password1234\npassword1234\n",
    )
    assert result.exit_code == 1
    assert "list of common and leaked passwords" in result.output
    for email in ("a@example.com", "k@k.io"):
        made = runner.invoke(args=["create-user", email, "--role", "author", "--generate-password"])
        assert made.exit_code == 0, made.output
