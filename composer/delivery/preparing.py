"""Starting a send run and preparing it: one ``delivery`` row per recipient, written by a
worker in committed steps.

Pressing Send makes the run ``preparing`` and returns at once (:func:`start_run`). A worker
then writes the delivery rows a step at a time (:func:`prepare_step`): each step's rows and the
run's ``prepared_through`` cursor commit together, so a worker killed mid-step loses the whole
step and the next one repeats it, and two workers preparing at once cannot both move the cursor.
When no recipient is left the run is running (or scheduled) and the start is recorded with its
counts. Recipients with no email address go straight to the letters list (state ``post``).

Plain functions over a session; no Flask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Text, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from composer import audit
from composer.approval import Release
from composer.delivery.tables import NO_SYNC, RECIPIENT, RUN, rowcount, table
from composer.models import (
    Delivery,
    DeliveryState,
    Incident,
    RecipientList,
    RunState,
    SendRun,
    User,
    utcnow,
)
from composer.recipients.cohorts import cohort_key

#: Recipients written per prepare step (one transaction each): a million-recipient list is
#: fifty steps, each holding SQLite's write lock for a fraction of a second.
PREPARE_ROWS: Final = 20_000
_COHORT_KEYS_KEPT = 10_000


def start_run(
    session: Session,
    incident: Incident,
    recipient_list: RecipientList,
    release: Release,
    *,
    by: User,
    batch_size: int = 1000,
    scheduled_for: datetime | None = None,
) -> SendRun:
    """Make a run of the approved ``release`` (from ``approval.release_check``, called by the
    caller just before) to ``recipient_list``, in the ``preparing`` state, and return at once:
    a worker writes one delivery per recipient (:func:`prepare_step`, in chunks), then the run
    is running, or scheduled for ``scheduled_for`` (``composer.delivery.schedule``). Recipients
    with no email go straight to the letters list. The caller commits."""
    run = SendRun(
        state=RunState.PREPARING.value,
        not_before=scheduled_for,
        incident_id=incident.id,
        review_id=release.review.id,
        bundle_sha256=release.bundle.sha256,
        list_id=recipient_list.id,
        created_by_id=by.id,
        batch_size=batch_size,
    )
    session.add(run)
    session.flush()
    return run


def prepare_step(session: Session, run_id: int, *, rows: int = PREPARE_ROWS, now: datetime) -> bool:
    """Write the delivery rows of the next ``rows`` recipients of a ``preparing`` run (by
    recipient id, after ``prepared_through``) and commit them together with the new
    ``prepared_through``; when none are left, the run becomes running (or scheduled) and
    ``send.started`` (or ``send.scheduled``) is recorded with its counts. Returns False when
    the run is not preparing (cancelled, or finished preparing by another worker).

    Crash-safe and idempotent: rows and cursor commit together, so a worker killed mid-step
    loses the whole step and the next one repeats it; two workers preparing at once both try
    to move the cursor on from the same value, and only one of them can."""
    if rows < 1:
        raise ValueError("a prepare step writes at least one recipient")
    connection = session.connection()
    found = connection.execute(
        select(RUN.state, RUN.prepared_through, RUN.list_id).where(RUN.id == run_id)
    ).one_or_none()
    if found is None or found.state != RunState.PREPARING.value:
        session.rollback()
        return False
    cursor = found.prepared_through or 0
    picked = connection.execute(
        select(
            RECIPIENT.id,
            RECIPIENT.email,
            RECIPIENT.country,
            RECIPIENT.us_state,
            cast(RECIPIENT.data_categories, Text),
        )
        .where(RECIPIENT.list_id == found.list_id, RECIPIENT.id > cursor)
        .order_by(RECIPIENT.id)
        .limit(rows)
    ).all()
    if not picked:
        return _finish_preparing(session, run_id, now=now)
    moved = connection.execute(
        update(table(SendRun))
        .where(
            RUN.id == run_id,
            RUN.state == RunState.PREPARING.value,
            func.coalesce(RUN.prepared_through, 0) == cursor,
        )
        .values(prepared_through=picked[-1][0])
    )
    if rowcount(moved) == 0:  # cancelled, or another worker wrote this step first
        session.rollback()
        return False
    _insert_deliveries(connection, _delivery_rows(connection, run_id, picked, now=now))
    session.commit()
    return True


def prepare(session: Session, run_id: int, *, rows: int = PREPARE_ROWS) -> None:
    """Prepare ``run_id`` to the end in this process (the command line, tests, benchmarks);
    each step commits."""
    while prepare_step(session, run_id, rows=rows, now=utcnow()):
        pass


def _delivery_rows(
    connection: Connection,
    run_id: int,
    picked: Iterable[Sequence[Any]],
    *,
    now: datetime,
) -> list[tuple[object, ...]]:
    """Delivery rows (``_DELIVERY_COLUMNS`` order) for recipients ``(id, email, country,
    us_state, categories)``, a cohort's next to each other: a batch is claimed from, and
    written back to, a few adjacent pages rather than rows spread across the step (a third of
    the database time of sending a batch)."""
    # Plain rows in and out (Core, and on SQLite the driver itself, with the time converted
    # once): SQLAlchemy's handling of each row's parameters took three times as long as
    # storing them.
    stamp = _delivery_time(connection, now)
    queued, post = DeliveryState.QUEUED.value, DeliveryState.POST.value
    # A list has a few cohorts: each one's key is worked out once (up to a limit).
    keys: dict[tuple[str, str, str], str] = {}
    keyed: list[tuple[str, int, object]] = []
    for recipient_id, email, country, us_state, categories in picked:
        group = (country or "", (us_state or "") if country == "US" else "", categories or "[]")
        key = keys.get(group)
        if key is None:
            ids = tuple(sorted(set(json.loads(group[2]) or [])))
            key = cohort_key(group[0], group[1], ids)
            if len(keys) < _COHORT_KEYS_KEPT:
                keys[group] = key
        keyed.append((key, recipient_id, queued if email else post))
    keyed.sort(key=lambda row: (row[0], row[1]))
    return [(run_id, recipient_id, key, state, stamp) for key, recipient_id, state in keyed]


def _finish_preparing(session: Session, run_id: int, *, now: datetime) -> bool:
    """Every delivery is written: the run becomes running (scheduled when it has a time) and
    the start is recorded with its counts, once (a conditional update)."""
    run = session.get(SendRun, run_id, populate_existing=True)
    if run is None or run.state != RunState.PREPARING.value:
        session.rollback()
        return False
    scheduled = run.not_before is not None
    changed = session.execute(
        update(SendRun)
        .where(SendRun.id == run_id, SendRun.state == RunState.PREPARING.value)
        .values(
            state=RunState.SCHEDULED.value if scheduled else RunState.RUNNING.value,
            prepared_at=now,
        )
        .execution_options(**NO_SYNC)
    )
    if rowcount(changed) == 0:
        session.rollback()
        return False
    counts = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.state)
        ).all()
    )
    by_post = int(counts.get(DeliveryState.POST.value, 0))
    audit.record(
        session,
        actor=session.get(User, run.created_by_id),
        action="send.scheduled" if scheduled else "send.started",
        subject_type="incident",
        subject_id=run.incident_id,
        after={
            **({"at": run.not_before.isoformat()} if run.not_before is not None else {}),
            "run": run.id,
            "review": run.review_id,
            "bundle_sha256": run.bundle_sha256,
            "list": run.list_id,
            "by_email": sum(int(n) for n in counts.values()) - by_post,
            "by_post": by_post,
        },
    )
    session.commit()
    session.expire(run)
    return True


_DELIVERY_INSERT: Final = insert(table(Delivery))
_DELIVERY_COLUMNS: Final = ("run_id", "recipient_id", "cohort_key", "state", "updated_at")
_SQLITE_DELIVERY_INSERT: Final = str(
    insert(table(Delivery))
    .values({name: bindparam(name) for name in _DELIVERY_COLUMNS})
    .compile(dialect=sqlite.dialect())
)


def _delivery_time(connection: Connection, at: datetime) -> object:
    """``at`` as ``delivery.updated_at`` takes it: on SQLite already as the driver stores it
    (the column type's own conversion, done once); elsewhere left to SQLAlchemy."""
    if connection.dialect.name != "sqlite":
        return at
    process = table(Delivery).c.updated_at.type.bind_processor(connection.dialect)
    return process(at) if process is not None else at


def _insert_deliveries(connection: Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert delivery rows given in ``_DELIVERY_COLUMNS`` order."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_SQLITE_DELIVERY_INSERT, rows)
    else:
        connection.execute(
            _DELIVERY_INSERT, [dict(zip(_DELIVERY_COLUMNS, row, strict=True)) for row in rows]
        )
