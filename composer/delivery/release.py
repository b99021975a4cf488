"""What a send run may still send: its bundle rebuilt as it would be sent now and checked
against legal's approval (``approval.release_check``), and the content of each cohort.

Every worker (``composer.workers``) checks a run here before its first batch and again while it
sends: if anything changed since legal signed, the run stops and says what. Email and letters
(``composer.delivery.letters``) both start here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session

from composer import approval
from composer.checklist import Catalogue
from composer.delivery.gateways import CohortContent
from composer.models import Incident, NoticeVersion, RunState, SendRun
from composer.settings import Settings

log = logging.getLogger(__name__)

#: Outcomes after which a worker looks for more work at once rather than resting.
BUSY_OUTCOMES = frozenset({"sent", RunState.PREPARING.value})


def run_release(
    session: Session,
    run: SendRun,
    *,
    settings: Settings,
    catalogue: Catalogue,
    today: date,
    recount: bool = True,
) -> tuple[NoticeVersion, approval.Release]:
    """The notice version and release ``run`` may still send: the bundle rebuilt as it would be
    sent now, checked against the approval and against the bundle the run started with, and
    (``recount``) the recipient rows against the list's recorded digest.
    Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise. Email
    (``content_for_run``) and letters (``composer.delivery.letters``) both start here."""
    from composer.notices.versions import latest_version

    incident = session.get(Incident, run.incident_id)
    assert incident is not None
    version = latest_version(session, incident)
    if version is None:
        raise approval.NotApproved("Not sent: the notice has no versions.")
    bundle = approval.incident_bundle(
        session, incident, version, settings=settings, catalogue=catalogue, today=today
    )
    release = approval.release_check(session, incident, bundle, check_recipients_rows=recount)
    if release.bundle.sha256 != run.bundle_sha256:
        raise approval.BundleMismatch(
            release.review, ["the approval changed since this send started"]
        )
    return version, release


def content_for_run(
    session: Session,
    run: SendRun,
    *,
    settings: Settings,
    catalogue: Catalogue,
    today: date,
    recount: bool = True,
) -> Callable[[str], CohortContent]:
    """Rebuild the run's bundle and check it against the approval; returns the content for each
    cohort key. Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise."""
    _, release = run_release(
        session, run, settings=settings, catalogue=catalogue, today=today, recount=recount
    )
    variants = {v.spec.key: v for v in release.bundle.variants}
    fallback = release.bundle.variants[0]

    def content(key: str) -> CohortContent:
        variant = variants.get(key, fallback if len(variants) == 1 else None)
        if variant is None:
            raise approval.BundleMismatch(
                release.review, [f"a recipient cohort ({key}) that legal has not seen"]
            )
        return CohortContent(subject=variant.subject, html=variant.html, text=variant.text)

    return content
