"""SQLAlchemy 2.0 typed models. Importable without Flask."""

from composer.models.audit import AuditEvent, AuditHead
from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.incident import Answer, Incident
from composer.models.kept_form import KeptForm
from composer.models.letters import Letter, LetterBatch, LetterBatchState, LetterReason
from composer.models.mail import DevOutboxMessage, StaffMessage
from composer.models.notice import NoticeVersion, VersionSource
from composer.models.recipients import Recipient, RecipientList, RecipientRowError
from composer.models.regimes import RegimeOverride
from composer.models.review import DecisionKind, Review, ReviewComment, ReviewDecision, ReviewState
from composer.models.sending import (
    BatchState,
    Delivery,
    DeliveryState,
    RunState,
    SendBatch,
    SendRateLimit,
    SendRun,
    SentAddress,
    WebhookEventSeen,
)
from composer.models.user import LoginAttempt, Role, User, UserRole

__all__ = [
    "Answer",
    "AuditEvent",
    "AuditHead",
    "Base",
    "BatchState",
    "DecisionKind",
    "Delivery",
    "DeliveryState",
    "DevOutboxMessage",
    "Incident",
    "KeptForm",
    "Letter",
    "LetterBatch",
    "LetterBatchState",
    "LetterReason",
    "LoginAttempt",
    "NoticeVersion",
    "Recipient",
    "RecipientList",
    "RecipientRowError",
    "RegimeOverride",
    "Review",
    "ReviewComment",
    "ReviewDecision",
    "ReviewState",
    "Role",
    "RunState",
    "SendBatch",
    "SendRateLimit",
    "SendRun",
    "SentAddress",
    "StaffMessage",
    "UTCDateTime",
    "User",
    "UserRole",
    "VersionSource",
    "WebhookEventSeen",
    "utcnow",
]
