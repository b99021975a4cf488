"""The deadlines panel on the fact sheet and the approval view: every clock that applies to an
incident, with who is told, by when in the user's time zone, the time left in words, what it
requires and its citation. The clocks themselves come from ``composer.regimes``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from flask import current_app

from composer import incidents
from composer.extensions import db
from composer.models import Incident
from composer.regimes import (
    Deadline,
    RegimeSet,
    deadlines,
    effective_regimes,
    incident_overrides,
    situation_from_facts,
)
from composer.web.common import catalogue, localtime, today

#: The question whose answer starts every clock.
DISCOVERY_QUESTION: Final = "discovered"

#: Order on the panel: what is already late, then what is close, then the rest by due time, then
#: "as soon as practicable", then clocks that wait on another step.
_STATE_ORDER: Final = {"past": 0, "near": 1, "ok": 2, "open-ended": 3, "waiting": 4}

#: A state in words, so the warning never rests on colour alone.
STATE_LABELS: Final = {
    "past": "Past due",
    "near": "Due soon",
    "ok": "Open",
    "open-ended": "No fixed time",
    "waiting": "Not started",
}

#: What starts a clock, in words, for one that waits on it.
_EVENT_WORDS: Final = {
    "discovery": "the breach is discovered",
    "awareness": "you became aware of the breach",
    "determination": "you determined a breach happened",
    "individuals-notified": "the people affected are told",
}


@dataclass(frozen=True)
class DeadlineRow:
    """One clock as the panel shows it."""

    regime: str
    who: str
    #: The due date and time in the user's time zone; None when there is no fixed time.
    due: str | None
    #: "2 days 4 hours left", "5 days late", "no fixed time: as soon as practicable".
    time_left: str
    #: "past", "near", "ok", "open-ended" (no fixed due time) or "waiting" (its start, such as
    #: telling the people affected, has not happened yet).
    state: str
    requires: str
    citation: str
    #: True when a threshold counted as met only because a count is not known yet.
    assumed: bool

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass(frozen=True)
class MissingAnswer:
    """The question to answer before the clocks can be worked out."""

    label: str
    step_id: str
    question_id: str


@dataclass(frozen=True)
class DeadlinesPanel:
    rows: tuple[DeadlineRow, ...]
    #: Set when the discovery date is not known, so no clock can be computed yet.
    missing: MissingAnswer | None = None

    @property
    def past(self) -> int:
        return sum(r.state == "past" for r in self.rows)

    @property
    def near(self) -> int:
        return sum(r.state == "near" for r in self.rows)


def incident_regimes(incident: Incident) -> RegimeSet:
    """The regimes that hold for ``incident``: the app's, loaded at start-up, with legal's
    corrections for this incident applied (``composer.regimes.effective_regimes``)."""
    loaded: RegimeSet = current_app.extensions["composer.regimes"]
    return effective_regimes(loaded, incident_overrides(db.session(), incident))


def deadlines_panel(incident: Incident, *, now: datetime | None = None) -> DeadlinesPanel:
    """Every clock that applies to ``incident`` at ``now`` (default: this moment), past ones
    first, then near ones, then by due time; clocks with no fixed time last."""
    now = now or datetime.now(UTC)
    cat = catalogue()
    document = incidents.facts_document(cat, incident, today=today())
    situation = situation_from_facts(document)
    if situation is None:
        question = cat.questions[DISCOVERY_QUESTION]
        step = cat.step_of[DISCOVERY_QUESTION]
        return DeadlinesPanel(
            rows=(),
            missing=MissingAnswer(question.label, step.step.id, DISCOVERY_QUESTION),
        )
    found = deadlines(incident_regimes(incident), situation, now)
    rows = [_row(d, now) for d in found]
    # ``deadlines`` gives them soonest first, and sorting keeps that order within a state.
    return DeadlinesPanel(rows=tuple(sorted(rows, key=lambda r: _STATE_ORDER[r.state])))


def _row(d: Deadline, now: datetime) -> DeadlineRow:
    clock = d.clock
    if d.starts is None:
        event = _EVENT_WORDS.get(clock.start, clock.start)
        time_left = f"starts when {event}"
        state = "waiting"
    elif d.due is None:
        time_left = f"no fixed time: {clock.standard or 'as soon as practicable'}"
        state = "open-ended"
    elif d.state == "past":
        time_left = f"{duration_words(now - d.due)} late"
        state = d.state
    else:
        time_left = f"{duration_words(d.due - now)} left"
        state = d.state
    return DeadlineRow(
        regime=d.regime.name,
        who=clock.who,
        due=localtime(d.due) if d.due is not None else None,
        time_left=time_left,
        state=state,
        requires=clock.requires,
        citation=clock.citation,
        assumed=d.assumed,
    )


def duration_words(span: timedelta) -> str:
    """``span`` in plain words, to the hour: "2 days 4 hours", "1 day", "3 hours",
    "40 minutes"."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        parts = [_plural(days, "day")]
        if hours:
            parts.append(_plural(hours, "hour"))
        return " ".join(parts)
    if hours:
        return _plural(hours, "hour")
    return _plural(max(minutes, 1), "minute")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"
