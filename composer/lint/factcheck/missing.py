"""Checks for what the facts say and the text does not (``missing-element``, ``structure``):
each kind of data named, the dates, a contact route, steps for the reader, the facts first."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

from composer.facts import Contact
from composer.lint.factcheck.contacts import any_contact, email_in, phone_in, postal_in, web_in
from composer.lint.factcheck.context import Context
from composer.lint.factcheck.dates import same_day
from composer.lint.factcheck.phrases import alternation, phrase_regex
from composer.lint.factcheck.sentences import first_paragraph
from composer.lint.factcheck.wording import join, were
from composer.support.formatting import format_date

# -- 1. data categories named ---------------------------------------------------------------------


def check_categories(ctx: Context) -> None:
    for category in ctx.categories:
        if ctx.category_named(category):
            continue
        label = category.short_label
        ctx.add(
            "facts.category-not-named",
            "missing-element",
            "error",
            None,
            f"The notice does not say that {label} {were(label)} involved.",
            f"The information involved was [{category.label}].",
            "Readers can only protect themselves if they know exactly which of their "
            "information was involved. Name each kind in plain words.",
        )


# -- 2. dates given -------------------------------------------------------------------------------


def _date_given(ctx: Context, value: date) -> tuple[bool, str]:
    """Whether the text gives this date; else a note about an ambiguous numeric form."""
    yearless = ctx.yearless_ok(value.year)
    for mention in ctx.dates:
        if mention.kind == "ambiguous":
            continue
        if any(same_day(d, value, yearless_ok=yearless) for d in mention.days):
            return True, ""
    for mention in ctx.dates:
        if mention.kind == "ambiguous" and any(
            same_day(d, value, yearless_ok=yearless) for d in mention.days
        ):
            said = ctx.text[mention.start : mention.end]
            return False, (
                f' "{said}" could be read as more than one date: write the month as a word.'
            )
    return False, ""


def check_dates(ctx: Context) -> None:
    wh = ctx.doc.facts.what_happened
    explanation = (
        "Dates let readers connect the incident to anything odd they noticed, "
        "and show how quickly you acted."
    )
    if ctx.doc.known("what_happened.occurred", wh.occurred) and wh.occurred is not None:
        start, end = wh.occurred.start, wh.occurred.end
        has_start, note_start = _date_given(ctx, start)
        has_end, note_end = (has_start, note_start) if start == end else _date_given(ctx, end)
        if start == end and not has_start:
            message = f"The notice does not say when it happened ({format_date(start)})."
            suggestion = f"This happened on [{format_date(start)}]."
        elif not has_start and not has_end:
            message = (
                f"The notice does not say when it happened "
                f"({format_date(start)} to {format_date(end)})."
            )
            suggestion = f"This happened between [{format_date(start)}] and [{format_date(end)}]."
        elif not has_start:
            message = f"The notice does not say when it started ({format_date(start)})."
            suggestion = f"It started on [{format_date(start)}]."
        elif not has_end:
            message = f"The notice does not say when it ended ({format_date(end)})."
            suggestion = f"It went on until [{format_date(end)}]."
        else:
            message = ""
        if message:
            note = note_start or note_end
            ctx.add(
                "facts.date-not-given",
                "missing-element",
                "warning",
                None,
                message + note,
                suggestion,
                explanation,
            )
    found = wh.discovered
    if ctx.doc.known("what_happened.discovered", found) and found is not None:
        has, note = _date_given(ctx, found)
        if not has:
            ctx.add(
                "facts.date-not-given",
                "missing-element",
                "warning",
                None,
                f"The notice does not say when you found out ({format_date(found)})." + note,
                f"We found out on [{format_date(found)}].",
                explanation,
            )


# -- 3. contact route and steps -------------------------------------------------------------------


def check_contact(ctx: Context) -> None:
    contact = ctx.doc.facts.next_steps.contact or Contact()
    checks = [
        ("next_steps.contact.phone", contact.phone, phone_in, "call us on"),
        ("next_steps.contact.email", contact.email, email_in, "email"),
        ("next_steps.contact.web", contact.web, web_in, "visit"),
        ("next_steps.contact.postal", contact.postal, postal_in, "write to"),
    ]
    given = [(v, found, verb) for path, v, found, verb in checks if ctx.doc.known(path, v) and v]
    if given:
        if any(found(ctx.text, value) for value, found, _ in given):
            return
        routes = [f"{verb} [{' '.join(value.split())}]" for value, _, verb in given]
        routes = [", ".join(routes[:-1]) + " or " + routes[-1]] if len(routes) > 1 else routes
        message = "The notice does not give any of your contact details from the checklist."
        suggestion = f"If you have questions, {join(routes)}."
    else:
        if any_contact(ctx.text):
            return
        message = "The notice does not tell readers how to contact you."
        suggestion = "If you have questions, call us on [PHONE] or email [EMAIL]."
    ctx.add(
        "facts.contact-missing",
        "missing-element",
        "error",
        None,
        message,
        suggestion,
        "Readers will have questions. Give them a phone number, email address or web page "
        "that is about this incident.",
    )


@cache
def _steps_regexes(
    step_headings: tuple[str, ...], step_actions: tuple[str, ...]
) -> tuple[re.Pattern[str], re.Pattern[str]]:
    headings = re.compile(
        rf"^[\s#*\-\u2022]{{0,40}}+(?:{alternation(step_headings, plural=False)})\b[^\n]{{0,40}}$",
        re.IGNORECASE | re.MULTILINE,
    )
    action = rf"(?:{alternation(step_actions, plural=False)})\b(?!\s+us\b)"
    lead = (
        # At most 40 characters of bullets and spaces, never given back (what follows starts
        # with a letter): unbounded, a run of dots or blank lines was scanned to its end from
        # each of its characters, a time growing with the square of its length.
        r"(?:(?:^|(?<=[.!?:;]))[\s\-*\u2022\d.)]{0,40}+(?:(?:please|also|now|first|always|then|and)\s+)*"
        r"|\bplease\s+(?:do\s+)?|\byou\s+(?:should|can|could|must|need\s+to|may\s+want\s+to|"
        r"might\s+want\s+to|may\s+wish\s+to)\s+(?:also\s+)?|"
        r"\b(?:we|i)\s+(?:(?:strongly|also|would)\s+)*(?:recommend|advise|encourage|urge|suggest|"
        r"ask)\s+(?:that\s+)?(?:you|customers|members|users|all\s+\w+)\s+(?:to\s+)?)"
    )
    return headings, re.compile(lead + action, re.IGNORECASE | re.MULTILINE)


def _key_phrases(actions: str) -> list[str]:
    out = []
    for sentence in re.split(r"[.!?\n]+", actions):
        words = re.findall(r"[\w'\u2019]+", sentence)
        if len(words) >= 2:
            out.append(" ".join(words[:4]).lower())
    return out


def check_steps(ctx: Context) -> None:
    headings, actions = _steps_regexes(ctx.words.step_headings, ctx.words.step_actions)
    if headings.search(ctx.text) or actions.search(ctx.text):
        return
    flat = " ".join(re.findall(r"[\w'\u2019]+", ctx.text)).lower()
    wanted = ctx.doc.facts.next_steps.customer_actions
    if (
        ctx.doc.known("next_steps.customer_actions", wanted)
        and wanted
        and any(phrase in flat for phrase in _key_phrases(wanted))
    ):
        return
    ctx.add(
        "facts.steps-missing",
        "missing-element",
        "warning",
        None,
        "The notice does not tell readers what they can do to protect themselves.",
        "What you can do: [STEP].",
        "Concrete steps (change a password, watch for fake emails, call the bank) are the most "
        "useful part of a notice for the reader.",
    )


# -- 4. facts first -------------------------------------------------------------------------------


def check_facts_first(ctx: Context) -> None:
    span = first_paragraph(ctx.text)
    if span is None:
        return
    start, end = span
    incident = phrase_regex(ctx.words.incident_words)
    says_what = incident.search(ctx.text, start, end) is not None
    says_data = any(
        start <= m.start
        and m.end <= end
        and not (m.key in ctx.classes and ctx.classes[m.key].broad)
        for m in ctx.mentions
    )
    if says_what and says_data:
        return
    if not says_what and not says_data:
        missing = "what happened or which information was involved"
    elif not says_what:
        missing = "what happened"
    else:
        missing = "which information was involved"
    ctx.add(
        "facts.facts-not-first",
        "structure",
        "warning",
        span,
        f"Start with the facts: the first paragraph does not say {missing}.",
        "On [DATE], [WHO] [copied/viewed] [DATA].",
        "Readers decide in the first lines whether the notice matters to them. Say what "
        "happened and which of their information was involved before anything else.",
    )
