"""Which regimes apply to a situation, their clocks with due times, and what a notice needs.

Pure functions over the validated regimes and a ``Situation``: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from composer.regimes.schema import Block, ChannelRule, Clock, Regime, Threshold, When, Within
from composer.regimes.situation import US_STATE_PREFIX, Situation

#: A clock is "near" when less than this share of its time is left.
NEAR_SHARE: Final = 0.25
#: A day-counted deadline ends at the end of its last day, in UTC.
END_OF_DAY: Final = time(23, 59, 59, tzinfo=UTC)

State = Literal["ok", "near", "past"]


@dataclass(frozen=True)
class Deadline:
    """One clock that applies, and where it stands at ``now``."""

    regime: Regime
    clock: Clock
    #: When the clock started; None when it waits on an event not known yet.
    starts: date | None
    #: None when the law sets no fixed limit ("as soon as practicable") or the start is unknown.
    due: datetime | None
    state: State
    #: True when a threshold counted as met only because a count is not known.
    assumed: bool

    @property
    def requires(self) -> str:
        return self.clock.requires

    @property
    def citation(self) -> str:
        return self.clock.citation


@dataclass(frozen=True)
class NoticeRules:
    """What one regime asks of the notice to individuals in a situation."""

    required: frozenset[str]
    forbidden: frozenset[str]
    title: str | None
    headings: tuple[str, ...]
    channels: tuple[ChannelRule, ...]
    blocks: tuple[Block, ...]
    #: The fewest months of free monitoring to offer; None when the regime sets none.
    monitoring_months: int | None


def applicable(regimes: Iterable[Regime], situation: Situation) -> list[Regime]:
    """The regimes that cover ``situation``, in the order given."""
    return [r for r in regimes if _covers(r, situation)[0]]


def deadlines(regimes: Iterable[Regime], situation: Situation, now: datetime) -> list[Deadline]:
    """Every clock that applies, soonest first (clocks with no fixed due time last)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out: list[Deadline] = []
    for regime in regimes:
        covered, assumed = _covers(regime, situation)
        if not covered:
            continue
        for clock in regime.clocks:
            holds, clock_assumed = _holds(clock.when, regime, situation)
            if holds:
                out.append(_deadline(regime, clock, situation, now, assumed or clock_assumed))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda d: d.due or far)


def notice_rules(regime: Regime, situation: Situation) -> NoticeRules:
    """What ``regime`` asks of the notice to individuals in ``situation`` (whether or not the
    regime covers it; call ``applicable`` first)."""
    notice = regime.notice

    def holds(when: When) -> bool:
        return _holds(when, regime, situation)[0]

    months = [m.months for m in notice.monitoring if holds(m.when)]
    return NoticeRules(
        required=frozenset(r.element for r in notice.required if holds(r.when)),
        forbidden=frozenset(r.element for r in notice.forbidden if holds(r.when)),
        title=notice.title.text if notice.title else None,
        headings=tuple(notice.headings.items) if notice.headings else (),
        channels=tuple(c for c in notice.channels if holds(c.when)),
        blocks=tuple(b for b in notice.blocks if holds(b.when)),
        monitoring_months=max(months) if months else None,
    )


def _covers(regime: Regime, situation: Situation) -> tuple[bool, bool]:
    covers = regime.covers
    if covers.incident != situation.incident:
        return False, False
    if not any(_in_places(p, covers.places) for p in situation.places):
        return False, False
    if "any" not in covers.categories and not situation.categories & set(covers.categories):
        return False, False
    return _holds(
        When(flags=covers.flags, unless_flags=covers.unless_flags, people=covers.people),
        regime,
        situation,
    )


def _in_places(place: str, places: Iterable[str]) -> bool:
    return any(
        p in ("any", place) or (p == "US" and place.startswith(US_STATE_PREFIX)) for p in places
    )


def _holds(when: When, regime: Regime, situation: Situation) -> tuple[bool, bool]:
    """Whether ``when`` holds, and whether only because a count is not known."""
    if when.categories and not situation.categories & set(when.categories):
        return False, False
    if not set(when.flags) <= situation.flags or set(when.unless_flags) & situation.flags:
        return False, False
    if when.people is None:
        return True, False
    count = _count(when.people, regime, situation)
    if count is None:
        return True, True
    return count >= when.people.minimum, False


def _count(threshold: Threshold, regime: Regime, situation: Situation) -> int | None:
    """How many people ``threshold`` counts; None when a count it needs is not known."""
    if threshold.counted == "everyone":
        if situation.people is not None:
            return situation.people
        counts = [situation.places[p] for p in situation.places if "-" not in p]
    else:
        places = [p for p in situation.places if _in_places(p, regime.covers.places)]
        if threshold.counted == "residents-of-each-state":
            places = [p for p in places if p.startswith(US_STATE_PREFIX)]
            known = [situation.places[p] for p in places]
            if None in known:
                return None
            return max((k for k in known if k is not None), default=0)
        # A country and its states are the same people counted twice: keep the finer count.
        if any(p.startswith(US_STATE_PREFIX) for p in places):
            places = [p for p in places if p != "US"]
        counts = [situation.places[p] for p in places]
    if None in counts:
        return None
    return sum(c for c in counts if c is not None)


def _deadline(
    regime: Regime, clock: Clock, situation: Situation, now: datetime, assumed: bool
) -> Deadline:
    starts = situation.start(clock.start)
    due = _due(starts, clock.within) if starts is not None and clock.within else None
    state: State = "ok"
    if due is not None and starts is not None:
        begun = datetime.combine(starts, time(0, tzinfo=UTC))
        if now >= due:
            state = "past"
        elif due - now < (due - begun) * NEAR_SHARE:
            state = "near"
    return Deadline(
        regime=regime, clock=clock, starts=starts, due=due, state=state, assumed=assumed
    )


def _due(starts: date, within: Within) -> datetime:
    """Hours run from the start of the starting day (its hour is not known, so the clock errs
    early); days and business days end at the end of their last day."""
    if within.hours is not None:
        return datetime.combine(starts, time(0, tzinfo=UTC)) + timedelta(hours=within.hours)
    if within.days is not None:
        return datetime.combine(starts + timedelta(days=within.days), END_OF_DAY)
    day, left = starts, within.business_days or 0
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, END_OF_DAY)
