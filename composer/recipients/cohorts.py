"""Cohorts: recipients grouped by the variant of the notice they need.

A cohort is everyone in a recipient list with the same jurisdiction (country, and US state for
the United States) and the same set of data categories involved for them. Each cohort's notice
is rendered once and is part of what legal approves (``composer.approval.bundle.VariantSpec``);
a cohort that appears after approval (a new list) refuses sending.

No Flask. The database counts the recipients of each combination of stored values, so a
million-row list is grouped without a million rows coming back.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session

from composer.checklist import Catalogue
from composer.models import Incident, Recipient, RecipientList


@dataclass(frozen=True)
class VariantSpec:
    """One version of the notice that a group of recipients (a cohort) gets."""

    #: A short stable id ("all", "us-ma", ...): part of the bundle's part names.
    key: str
    #: What a lawyer reads: "Every recipient", "Massachusetts residents".
    label: str
    #: Who is in it, in words ("2,314 recipients in England"), or "" when not known yet.
    audience: str = ""
    lang: str = "en"


#: Until a recipient list splits recipients into cohorts, everyone gets one variant.
EVERY_RECIPIENT: Final = VariantSpec(
    key="all",
    label="Every recipient",
    audience="No recipient list yet: every recipient will get this variant.",
)


@dataclass(frozen=True)
class Cohort:
    """One group of recipients who get the same variant of the notice."""

    #: Stable and short: "us-ma.3f2a9c1e", "gb.3f2a9c1e", "unknown.00000000".
    key: str
    country: str
    us_state: str
    categories: tuple[str, ...]
    #: Recipients in the cohort, and how many of them have an email address.
    recipients: int
    with_email: int

    @property
    def by_post(self) -> int:
        return self.recipients - self.with_email


def latest_list(session: Session, incident: Incident) -> RecipientList | None:
    """The incident's newest recipient list that has not been purged (None before an upload)."""
    return session.scalar(
        select(RecipientList)
        .where(RecipientList.incident_id == incident.id, RecipientList.purged_at.is_(None))
        .order_by(RecipientList.id.desc())
        .limit(1)
    )


def cohort_key(country: str, us_state: str, categories: tuple[str, ...]) -> str:
    place = country.lower() or "unknown"
    if country == "US" and us_state:
        place = f"us-{us_state.lower()}"
    digest = hashlib.sha256(";".join(categories).encode()).hexdigest()[:8]
    return f"{place}.{digest}"


def cohorts(session: Session, recipient_list: RecipientList) -> list[Cohort]:
    """The list's cohorts, largest first (ties by key, so the order is stable)."""
    counts: Counter[tuple[str, str, tuple[str, ...]]] = Counter()
    emails: Counter[tuple[str, str, tuple[str, ...]]] = Counter()
    # The database counts each combination of the stored values (a list has a handful); they
    # are normalised here, where combinations spelt differently fall into one cohort.
    categories_text = cast(Recipient.data_categories, Text)
    rows = session.execute(
        select(
            Recipient.country,
            Recipient.us_state,
            categories_text,
            func.count(),
            func.sum(case((Recipient.email != "", 1), else_=0)),
        )
        .where(Recipient.list_id == recipient_list.id)
        .group_by(Recipient.country, Recipient.us_state, categories_text)
    )
    for country, us_state, categories, count, with_email in rows:
        state = us_state if country == "US" else ""
        ids = json.loads(categories) if categories else []
        group = (country or "", state or "", tuple(sorted(set(ids or []))))
        counts[group] += count
        emails[group] += with_email or 0
    found = [
        Cohort(
            key=cohort_key(*group),
            country=group[0],
            us_state=group[1],
            categories=group[2],
            recipients=count,
            with_email=emails[group],
        )
        for group, count in counts.items()
    ]
    return sorted(found, key=lambda c: (-c.recipients, c.key))


#: Cohorts already counted, by list digest (``RecipientList.digest``), newest last. The digest
#: covers every value a cohort is made of (country, US state, data categories, and whether
#: there is an email address) for every recipient, so the same digest means the same cohorts;
#: and a list's rows are written once, by its import, and only blanked by the purge, which
#: takes the list out of ``latest_list``. Counting them again is a scan of the whole list (over
#: a second at a million recipients) that the sender repeats with each approval check.
#: The stored digest is only a claim about the rows: rows rewritten in the database behind it
#: would be served stale cohorts from here. That is safe only because the release check
#: (``approval.check_recipients``) recomputes the digest from the rows and refuses to send when
#: it differs; anything else that trusts these cohorts must not skip that check.
_COUNTED: OrderedDict[str, tuple[Cohort, ...]] = OrderedDict()
_COUNTED_KEPT = 16
_COUNTED_LOCK = threading.Lock()


def list_cohorts(session: Session, recipient_list: RecipientList) -> tuple[Cohort, ...]:
    """``cohorts`` of a list, counted once per list digest (a list still being imported, with
    no digest yet, is counted each time)."""
    digest = recipient_list.digest
    if not digest:
        return tuple(cohorts(session, recipient_list))
    with _COUNTED_LOCK:
        known = _COUNTED.get(digest)
        if known is not None:
            _COUNTED.move_to_end(digest)
            return known
    counted = tuple(cohorts(session, recipient_list))
    with _COUNTED_LOCK:
        _COUNTED[digest] = counted
        while len(_COUNTED) > _COUNTED_KEPT:
            _COUNTED.popitem(last=False)
    return counted


def place_name(cohort: Cohort, catalogue: Catalogue) -> str:
    countries: Mapping[str, str] = {p.code: p.name for p in catalogue.places.countries}
    states: Mapping[str, str] = {p.code: p.name for p in catalogue.places.us_states}
    if not cohort.country:
        return "Country not given"
    if cohort.country == "US" and cohort.us_state:
        return f"{states.get(cohort.us_state, cohort.us_state)}, United States"
    return countries.get(cohort.country, cohort.country)


def variant_spec(cohort: Cohort, catalogue: Catalogue) -> VariantSpec:
    """The cohort as a notice variant legal approves: where, which data, how many and how."""
    titles = [
        catalogue.categories[c].title if c in catalogue.categories else c for c in cohort.categories
    ]
    data = ", ".join(titles) if titles else "no data categories given"
    audience = f"{cohort.recipients:,} recipient{'s' if cohort.recipients != 1 else ''}"
    if cohort.by_post:
        audience += f" ({cohort.with_email:,} by email, {cohort.by_post:,} by post)"
    return VariantSpec(
        key=cohort.key,
        label=f"{place_name(cohort, catalogue)} · {data}",
        audience=audience,
    )


def variants_for(
    session: Session, incident: Incident, catalogue: Catalogue
) -> tuple[tuple[VariantSpec, ...] | None, str | None]:
    """The incident's variants and recipient-list digest for the approval bundle: (None, None)
    before any recipients are uploaded (the bundle then has its one "Every recipient" variant)."""
    found = latest_list(session, incident)
    if found is None:
        return None, None
    specs = tuple(variant_spec(c, catalogue) for c in list_cohorts(session, found))
    return specs, found.digest
