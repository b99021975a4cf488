"""Email to staff ("a notice is waiting for your review"): queued, then delivered.

``queue`` adds the messages in the caller's transaction, so they exist exactly when the change
they report was committed; ``deliver_pending`` sends them after that commit through the
configured gateway, committing each result on its own. A message marked sent is never sent
again; one whose attempt failed stays pending, with the error, for the next run
(``flask --app composer mail deliver`` is the retry path).

Email addresses never go to the log: log lines name staff messages by their ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from composer.delivery.gateways import (
    MAX_SUBJECT_CHARS,
    GatewayError,
    GatewayRejected,
    InvalidMessage,
    MailGateway,
    MailMessage,
)
from composer.models import StaffMessage, User, utcnow

log = logging.getLogger(__name__)

#: A message is given up on after this many attempts (an admin can see why in ``last_error``).
MAX_ATTEMPTS: Final = 5
#: How long a delivery run may hold a message before another run may take it. Longer than any
#: gateway timeout, so two runs at once never both send one message.
CLAIM_LEASE: Final = timedelta(minutes=5)

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class StaffMailError(ValueError):
    """A staff message that cannot be queued as asked (a bad subject or link)."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    #: Messages the gateway accepted in this run.
    sent: int
    #: Messages whose attempt failed in this run; they stay pending.
    failed: int


def queue(
    session: Session, users: Iterable[User], *, subject: str, text: str, link: str
) -> list[StaffMessage]:
    """Add one message per active user (each user once) to ``session``; nothing is committed.

    ``link`` is a path in the app (``/incidents/3/review``); it is made absolute when the
    message is sent. Raises ``StaffMailError`` for a subject with a line break or control
    character, or a link that is not such a path.
    """
    if _CONTROL.search(subject):
        raise StaffMailError("A staff email's subject cannot contain line breaks.")
    if not subject.strip() or len(subject) > MAX_SUBJECT_CHARS:
        raise StaffMailError(f"A staff email needs a subject of 1 to {MAX_SUBJECT_CHARS} letters.")
    if not text.strip():
        raise StaffMailError("A staff email needs some text.")
    _check_link(link)
    rows: list[StaffMessage] = []
    seen: set[int] = set()
    for user in users:
        if not user.active or user.id in seen:
            continue
        seen.add(user.id)
        rows.append(
            StaffMessage(
                to_user_id=user.id,
                to_email=user.email,
                subject=subject,
                text=text,
                link=link,
                attempts=0,
            )
        )
    session.add_all(rows)
    return rows


def deliver_pending(
    session: Session,
    gateway: MailGateway,
    *,
    base_url: str,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    now: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send up to ``limit`` pending staff messages, oldest first, and record each result.

    Commits ``session`` after each message (call it with no uncommitted changes of your own).
    Each message is claimed before it is sent, so another run at the same time skips it. A
    message that fails keeps ``sent_at`` empty and records ``attempts`` and ``last_error``; the
    run stops at the first failure that is not about that message alone (the provider down,
    the key refused, the rate limit reached), leaving the rest for the next run.
    """
    root = _checked_base_url(base_url)
    ids = session.scalars(
        select(StaffMessage.id)
        .where(
            StaffMessage.sent_at.is_(None),
            StaffMessage.attempts < max_attempts,
            _claimable(now()),
        )
        .order_by(StaffMessage.id)
        .limit(limit)
    ).all()
    session.commit()
    sent = failed = 0
    for message_id in ids:
        if not _claim(session, message_id, now()):
            continue
        row = session.get(StaffMessage, message_id)
        assert row is not None
        recipient = session.get(User, row.to_user_id)
        attempt = row.attempts
        try:
            gateway_id = gateway.send(
                MailMessage(
                    to_email=row.to_email,
                    to_name=recipient.display_name if recipient is not None else "",
                    subject=row.subject,
                    text=f"{row.text.rstrip()}\n\n{root}{row.link}\n",
                )
            )
        except (GatewayError, InvalidMessage) as exc:
            row.last_error = str(exc)
            row.claimed_at = None
            session.commit()
            failed += 1
            log.warning(
                "Staff message %d not sent (attempt %d, %s): %s",
                message_id,
                attempt,
                type(exc).__name__,
                exc,
            )
            if isinstance(exc, GatewayError) and not isinstance(exc, GatewayRejected):
                break
            continue
        except Exception as exc:
            # A bug, not a delivery problem: record it so the row explains itself, then let it
            # surface. Only the type is kept: its text could quote the message's data.
            session.rollback()
            row.last_error = f"Unexpected error while sending ({type(exc).__name__})."
            row.claimed_at = None
            session.commit()
            raise
        row.sent_at = now()
        row.gateway_message_id = gateway_id[:128] or None
        row.last_error = None
        session.commit()
        sent += 1
        log.info("Staff message %d sent through %s as %s", message_id, gateway.name, gateway_id)
    return DeliveryReport(sent=sent, failed=failed)


def count_unsent(session: Session) -> int:
    """Staff messages not yet accepted by a gateway (pending, or given up after failures)."""
    return (
        session.scalar(
            select(func.count()).select_from(StaffMessage).where(StaffMessage.sent_at.is_(None))
        )
        or 0
    )


def _claimable(at: datetime) -> Any:
    return or_(StaffMessage.claimed_at.is_(None), StaffMessage.claimed_at < at - CLAIM_LEASE)


def _claim(session: Session, message_id: int, at: datetime) -> bool:
    """Take the message for this run, counting the attempt; False if it was sent or taken."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(StaffMessage)
            .where(
                StaffMessage.id == message_id,
                StaffMessage.sent_at.is_(None),
                _claimable(at),
            )
            .values(claimed_at=at, attempts=StaffMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    session.commit()
    return result.rowcount == 1


def _check_link(link: str) -> None:
    # A path on our own site only: "//evil.example" and "/\evil.example" are other sites
    # to a browser.
    if (
        not link.startswith("/")
        or link.startswith("//")
        or "\\" in link
        or any(c.isspace() for c in link)
        or _CONTROL.search(link)
        or len(link) > 500
    ):
        raise StaffMailError(f"A staff email's link must be a path in the app, not {link!r}.")


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StaffMailError(
            f"APP_BASE_URL must be the app's address, like https://notices.example.com, "
            f"not {base_url!r}."
        )
    return base_url.strip().rstrip("/")
