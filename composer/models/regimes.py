"""Legal's per-incident overrides of the regimes' rules (``composer.regimes.records``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.user import User


class RegimeOverride(Base):
    """One decision by legal about one rule for one incident: switched off, corrected, or put
    back as the regime file says. Rows are only ever added; the latest per ``rule_key`` is in
    force, so the history of what applied when stays readable beside the audit log."""

    __tablename__ = "regime_override"
    __table_args__ = (
        CheckConstraint("action IN ('off', 'correct', 'restore')", name="action_known"),
        CheckConstraint(
            "within_unit IS NULL OR within_unit IN ('hours', 'days', 'business_days')",
            name="unit_known",
        ),
        CheckConstraint("within_amount IS NULL OR within_amount >= 1", name="amount_positive"),
        CheckConstraint("months IS NULL OR months >= 1", name="months_positive"),
        Index("ix_regime_override_incident_id_rule_key", "incident_id", "rule_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    #: The rule's key, e.g. "gdpr/clocks/regulator" (``composer.regimes.rule_keys``).
    rule_key: Mapped[str] = mapped_column(String(200))
    #: "off", "correct" or "restore".
    action: Mapped[str] = mapped_column(String(10))
    #: A corrected clock's time limit: its unit ("hours", "days", "business_days") and amount.
    within_unit: Mapped[str | None] = mapped_column(String(20), default=None)
    within_amount: Mapped[int | None] = mapped_column(default=None)
    #: Corrected months of free monitoring.
    months: Mapped[int | None] = mapped_column(default=None)
    #: Why, in legal's words; required.
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by: Mapped[User] = relationship(lazy="joined")
