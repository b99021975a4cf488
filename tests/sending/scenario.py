"""Test set-up shared by the sending tests and the send benchmark: legal approves a version."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from composer import approval
from composer.models import Incident, NoticeVersion, User


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
