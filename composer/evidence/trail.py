"""An incident's audit trail in plain words: what each action is called, the events about an
incident, and a one-line summary of each.

No Flask: the web pages and the command line both call these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composer.models import AuditEvent

#: What each action is called on screen and in exports; unknown actions show as themselves.
ACTION_LABELS: Mapping[str, str] = {
    "incident.created": "Incident created",
    "incident.answers_changed": "Checklist answers changed",
    "incident.checklist_finished": "Checklist finished",
    "notice.version_created": "Notice version saved",
    "review.submitted": "Sent for legal review",
    "review.viewed": "Review opened",
    "review.commented": "Reviewer commented",
    "review.changes_requested": "Changes requested",
    "review.approved": "Approved",
    "review.voided": "Review voided",
    "review.withdrawn": "Review withdrawn",
    "approval_policy.changed": "Approval policy changed",
    "evidence.exported": "Evidence pack exported",
    "recipients.imported": "Recipient list uploaded",
    "recipients.refused": "Recipient file refused",
    "recipients.errors_downloaded": "Recipient error report downloaded",
    "recipients.purged": "Recipients' personal data purged",
    "send.test": "Test email sent",
    "send.started": "Sending started",
    "send.scheduled": "Sending scheduled",
    "send.scheduled_start": "Scheduled send started",
    "send.started_early": "Scheduled send started early",
    "send.paused": "Sending paused",
    "send.resumed": "Sending resumed",
    "send.cancelled": "Sending cancelled",
    "letters.prepared": "Postal letters prepared",
    "letters.rendered": "Postal letters printed to PDF",
    "letters.refused": "Postal letters refused",
    "letters.retried": "Postal letters tried again",
    "letters.downloaded": "Postal letters downloaded",
    "regime_rule.switched_off": "A law's rule switched off for this incident",
    "regime_rule.corrected": "A law's rule corrected for this incident",
    "regime_rule.restored": "A law's rule restored for this incident",
    "user.created": "Account created",
    "user.roles_changed": "Roles changed",
    "user.activated": "Account activated",
    "user.deactivated": "Account deactivated",
    "user.signed_in": "Signed in",
    "user.signed_out": "Signed out",
}

#: Hex digits of a hash shown to people; the full hash is always available next to it.
SHORT_HASH = 12

#: Longest quoted comment or reason in a one-line summary.
QUOTE_LIMIT = 80


def label_for(action: str) -> str:
    """The plain-words name of ``action``, or the action itself when it has none."""
    return ACTION_LABELS.get(action, action)


# The trail --------------------------------------------------------------------------------------


def _incident_events(incident_id: int) -> Any:
    return select(AuditEvent).where(
        AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id)
    )


def incident_trail(session: Session, incident_id: int) -> list[AuditEvent]:
    """Every audit event about the incident, oldest first."""
    return list(session.scalars(_incident_events(incident_id).order_by(AuditEvent.seq)))


@dataclass(frozen=True)
class RecentTrail:
    """The latest few events about an incident, newest first, and how many there are in all."""

    events: list[AuditEvent]
    total: int


def recent_trail(session: Session, incident_id: int, *, limit: int = 10) -> RecentTrail:
    """The ``limit`` latest events about the incident (newest first) and the total count."""
    events = list(
        session.scalars(_incident_events(incident_id).order_by(AuditEvent.seq.desc()).limit(limit))
    )
    total = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id))
    )
    return RecentTrail(events=events, total=total or 0)


# One-line summaries -----------------------------------------------------------------------------


def fields_of(value: Any) -> Mapping[str, Any]:
    """An event's ``before`` or ``after`` as a mapping ({} when it is not one)."""
    # A tampered or future event may hold anything; summaries must still render.
    return value if isinstance(value, Mapping) else {}


def _short(value: Any) -> str | None:
    return value[:SHORT_HASH] if isinstance(value, str) and value else None


def whole_number(value: Any) -> int | None:
    """``value`` as a whole number (an int, or a string of digits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _quote(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text:
        return None
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1].rstrip() + "…"
    return f"“{text}”"


def _version_phrase(after: Mapping[str, Any], template: str, fallback: str) -> str:
    version = whole_number(after.get("version"))
    return template.format(version=version) if version is not None else fallback


def _with_hash(text: str, after: Mapping[str, Any], key: str = "sha256", name: str = "") -> str:
    short = _short(after.get(key))
    return f"{text} ({name or key} {short})" if short else text


def _with_reason(text: str, after: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        quoted = _quote(after.get(key))
        if quoted:
            return f"{text}: {quoted}"
    return text


def _incident_created(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    title = _quote(after.get("title"))
    return f"Incident {title} created" if title else "Incident created"


def _answers_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    questions = sorted(key for key in after if not key.startswith("_"))
    if not questions:
        text = "Checklist answers changed"
    else:
        count = len(questions)
        text = f"{count} answer{'s' if count != 1 else ''} changed: {', '.join(questions)}"
    if "_checklist" in after:
        text += "; the checklist was reopened"
    return text


def _version_saved(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    verb = "drafted from the facts" if after.get("source") == "draft-from-facts" else "saved"
    text = _version_phrase(after, f"Version {{version}} {verb}", f"Notice version {verb}")
    return _with_hash(text, after)


def _submitted(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    text = _version_phrase(
        after, "Version {version} sent for legal review", "Notice sent for legal review"
    )
    required = whole_number(after.get("required"))
    if required is not None:
        text += f", needing {required} approval{'s' if required != 1 else ''}"
    return _with_hash(text, after, "bundle_sha256", "bundle sha256")


def _approved(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    text = _version_phrase(after, "Approved version {version}", "Approved")
    approvals, required = whole_number(after.get("approvals")), whole_number(after.get("required"))
    if approvals is not None and required is not None:
        text += f" ({approvals} of {required} approvals)"
    elif approvals is not None:
        text += f" ({approvals} approval{'s' if approvals != 1 else ''} so far)"
    return _with_hash(text, after, "bundle_sha256", "bundle sha256")


def _policy_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    old, new = whole_number(before.get("required")), whole_number(after.get("required"))
    if old is not None and new is not None:
        text = f"Approvals needed changed from {old} to {new}"
    elif new is not None:
        text = f"Approvals needed set to {new}"
    else:
        text = "Approval policy changed"
    return _with_reason(text, after, "reason")


def _exported(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    fmt = after.get("format")
    text = (
        f"Evidence pack exported as {fmt.upper()}"
        if isinstance(fmt, str)
        else "Evidence pack exported"
    )
    events = whole_number(after.get("events"))
    if events is not None:
        text += f" ({events} event{'s' if events != 1 else ''})"
    return text


Describer = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


def _simple(template: str, fallback: str, *reason_keys: str) -> Describer:
    def summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
        return _with_reason(_version_phrase(after, template, fallback), after, *reason_keys)

    return summary


def _counted(template: str, fallback: str, *reason_keys: str) -> Describer:
    """``template`` filled from the event's fields when every field it names is a number (or
    a short text); ``fallback`` otherwise. Counts only: these events hold no personal data."""

    def summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
        try:
            values = {
                k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
                for k, v in after.items()
                if isinstance(v, int | str) and not isinstance(v, bool)
            }
            text = template.format(**values)
        except (KeyError, ValueError, IndexError):
            text = fallback
        return _with_reason(text, after, *reason_keys)

    return summary


def _rule_corrected(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    rule, limit, months = after.get("rule"), after.get("limit"), after.get("months")
    if not isinstance(rule, str):
        return _with_reason("A law's rule corrected", after, "reason")
    if isinstance(limit, str):
        to = f" to {limit}"
    elif isinstance(months, int) and not isinstance(months, bool):
        to = f" to {months} months"
    else:
        to = ""
    return _with_reason(f"Rule {rule} corrected for this incident{to}", after, "reason")


_DESCRIBERS: Mapping[str, Describer] = {
    "recipients.imported": _counted(
        "Recipient list uploaded: {rows} rows, {imported} imported, {merged} merged, "
        "{rejected} rejected",
        "Recipient list uploaded",
    ),
    "recipients.purged": _counted(
        "Personal data of {recipients} recipients purged", "Recipients' personal data purged"
    ),
    "send.started": _counted(
        "Send {run} started: {by_email} by email, {by_post} by post", "Sending started"
    ),
    "send.scheduled": _counted("Send {run} scheduled for {at} (UTC)", "Sending scheduled"),
    "send.scheduled_start": _counted("Scheduled send {run} started", "Scheduled send started"),
    "send.started_early": _counted(
        "Scheduled send {run} started early", "Scheduled send started early"
    ),
    "letters.prepared": _counted(
        "{letters} postal letters prepared for send {run}", "Postal letters prepared"
    ),
    "letters.rendered": _counted(
        "Letter batch {number}: {letters} letters, {pages} pages", "Postal letters printed to PDF"
    ),
    "letters.refused": _counted(
        "Letter batch {number} refused", "Postal letters refused", "reason"
    ),
    "letters.downloaded": _counted(
        "Letter batch {number} downloaded ({file})", "Postal letters downloaded"
    ),
    "incident.created": _incident_created,
    "incident.answers_changed": _answers_changed,
    "notice.version_created": _version_saved,
    "review.submitted": _submitted,
    "review.viewed": _simple("Opened the review of version {version}", "Opened the review"),
    "review.commented": _simple(
        "Comment on version {version}", "Reviewer commented", "comment", "reason"
    ),
    "review.changes_requested": _simple(
        "Changes requested on version {version}", "Changes requested", "note", "reason"
    ),
    "review.approved": _approved,
    "review.voided": _simple("Review of version {version} voided", "Review voided", "reason"),
    "review.withdrawn": _simple(
        "Review of version {version} withdrawn", "Review withdrawn", "reason"
    ),
    "approval_policy.changed": _policy_changed,
    "evidence.exported": _exported,
    "regime_rule.switched_off": _counted(
        "Rule {rule} switched off for this incident", "A law's rule switched off", "reason"
    ),
    "regime_rule.corrected": _rule_corrected,
    "regime_rule.restored": _counted(
        "Rule {rule} restored for this incident", "A law's rule restored", "reason"
    ),
}


def describe(event: AuditEvent) -> str:
    """One line in plain words saying what the event did, e.g. "Approved version 3 (1 of 1
    approvals)". Missing or odd fields make the line shorter, never an error."""
    describer = _DESCRIBERS.get(event.action)
    before, after = fields_of(event.before), fields_of(event.after)
    if describer is not None:
        return describer(before, after)
    return _with_hash(
        _version_phrase(
            after, f"{label_for(event.action)}: version {{version}}", label_for(event.action)
        ),
        after,
    )
