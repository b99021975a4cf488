"""SQLAlchemy 2.0 typed models. Importable without Flask."""

from composer.models.audit import AuditEvent, AuditHead
from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.incident import Answer, Incident
from composer.models.mail import DevOutboxMessage, StaffMessage
from composer.models.notice import NoticeVersion, VersionSource
from composer.models.review import DecisionKind, Review, ReviewComment, ReviewDecision, ReviewState
from composer.models.user import LoginAttempt, Role, User, UserRole

__all__ = [
    "Answer",
    "AuditEvent",
    "AuditHead",
    "Base",
    "DecisionKind",
    "DevOutboxMessage",
    "Incident",
    "LoginAttempt",
    "NoticeVersion",
    "Review",
    "ReviewComment",
    "ReviewDecision",
    "ReviewState",
    "Role",
    "StaffMessage",
    "UTCDateTime",
    "User",
    "UserRole",
    "VersionSource",
    "utcnow",
]
