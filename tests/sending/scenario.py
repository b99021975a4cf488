"""Test set-up shared by the sending tests and the send benchmark: legal approves a version;
an approved notice for a list of recipients, with a send run."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from composer import approval
from composer.delivery import preparing
from composer.models import Incident, NoticeVersion, SendRun, User
from composer.notices import versions


def approve_version(
    session: Session,
    incident: Incident,
    version: NoticeVersion,
    *,
    author: User,
    approver: User,
    config: Any,
    catalogue: Any,
) -> approval.Release:
    """Submit ``version`` (as if lint-clean) and approve it for the incident's current
    recipient list; returns the release sending would get. Commits."""

    def bundle() -> approval.Bundle:
        return approval.incident_bundle(
            session, incident, version, config=config, catalogue=catalogue, today=date.today()
        )

    review = approval.submit(
        session,
        incident,
        version,
        by=author,
        summary={"errors": 0},
        warnings=[],
        reasons={},
        bundle=bundle(),
    )
    approval.approve(session, review, by=approver, bundle=bundle())
    session.commit()
    return approval.release_check(session, incident, bundle())


@dataclass
class ApprovedSend:
    """What :func:`approved_send` made."""

    incident: Incident
    version: NoticeVersion
    release: approval.Release
    run: SendRun | None


def approved_send(
    session: Session,
    people: str | bytes,
    *,
    author: User,
    approver: User,
    config: Any,
    catalogue: Any,
    title: str = "Leak",
    subject: str = "We lost your email address",
    body: str = "Dear {{ first_name }},\n\nA criminal copied your email address on 3 May.\n",
    start: bool = True,
) -> ApprovedSend:
    """An incident whose notice legal approved for the recipients in the CSV text ``people``,
    and (``start``) a send run for them, not yet dispatched. Commits."""
    from composer.incidents import create_incident
    from composer.recipients.cohorts import latest_list
    from composer.recipients.lists import import_csv

    incident = create_incident(session, catalogue, title=title, by=author)
    version = versions.save_version(
        session, incident, subject=subject, body=body, by=author
    ).version
    assert version is not None
    data = people.encode() if isinstance(people, str) else people
    import_csv(
        session,
        io.BytesIO(data),
        incident=incident,
        by=author,
        categories=set(catalogue.categories),
        places=catalogue.place_names,
        filename="people.csv",
        max_bytes=len(data) + 1,
    )
    session.commit()
    release = approve_version(
        session,
        incident,
        version,
        author=author,
        approver=approver,
        config=config,
        catalogue=catalogue,
    )
    run = None
    if start:
        recipient_list = latest_list(session, incident)
        assert recipient_list is not None
        run = preparing.start_run(session, incident, recipient_list, release, by=author)
        session.commit()
        preparing.prepare(session, run.id)  # as the worker would
    return ApprovedSend(incident, version, release, run)


def started_run(app: Any, users: dict[str, int], people: str, *, batch_size: int = 0) -> int:
    """``approved_send`` in ``app`` by the ``users`` fixture's author and approver, started
    (batches of ``batch_size`` when given); returns the run's id."""
    from composer.extensions import db

    with app.app_context():
        session = db.session()
        author, approver = session.get(User, users["author"]), session.get(User, users["approver"])
        assert author is not None
        assert approver is not None
        made = approved_send(
            session,
            people,
            author=author,
            approver=approver,
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
        )
        assert made.run is not None
        if batch_size:
            made.run.batch_size = batch_size
            session.commit()
        return made.run.id
