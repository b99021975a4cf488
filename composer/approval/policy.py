"""The approval policy: how many approvals an incident's notice needs, and an admin changing it.

No Flask here.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from composer import audit
from composer.approval.errors import ApprovalError, ApprovalRefused
from composer.approval.queries import open_review
from composer.models import Incident, Role, User

#: Approvals a notice needs when neither the incident nor the site says otherwise.
DEFAULT_REQUIRED_APPROVALS: Final = 1
#: The most approvals an incident can ask for (more would stall every notice).
MAX_REQUIRED_APPROVALS: Final = 10


def required_approvals(incident: Incident, default: int = DEFAULT_REQUIRED_APPROVALS) -> int:
    """How many approvals a new review of this incident's notice needs."""
    return incident.required_approvals or default


def set_required_approvals(
    session: Session, incident: Incident, value: int, *, by: User, default: int
) -> None:
    """Set how many approvals the incident's notice needs (admins only). While a review is
    open the number can go up (and the open review needs the new number) but not down."""
    if not by.has_role(Role.ADMIN):
        raise ApprovalRefused("Only admins can change how many approvals a notice needs.")
    if not 1 <= value <= MAX_REQUIRED_APPROVALS:
        raise ApprovalError(
            f"The number of approvals must be between 1 and {MAX_REQUIRED_APPROVALS}."
        )
    before = required_approvals(incident, default)
    current = open_review(session, incident)
    if current is not None and value < current.required_approvals:
        raise ApprovalRefused(
            f"Version {current.version.number} is in review and needs "
            f"{current.required_approvals} approval{'s' if current.required_approvals != 1 else ''}"
            ". The number cannot be lowered while a review is open; it can be raised."
        )
    if value == before and incident.required_approvals is not None:
        return
    incident.required_approvals = value
    raised_open = None
    if current is not None and value > current.required_approvals:
        current.required_approvals = value
        raised_open = current.id
    session.flush()
    audit.record(
        session,
        actor=by,
        action="approval_policy.changed",
        subject_type="incident",
        subject_id=incident.id,
        before={"required": before},
        after={"required": value, "open_review_raised": raised_open},
    )
