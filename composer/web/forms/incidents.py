"""Incident forms (the checklist's steps are read by ``composer.checklist.raw_from_form``, as
their questions are data)."""

from __future__ import annotations

from composer.web.forms import PostedForm


class NewIncidentForm(PostedForm):
    title: str = ""


class StepForm(PostedForm):
    """A checklist step's button: "next", "back", "exit", "summary" or "goto:<step id>". The
    answers are read by ``composer.checklist.raw_from_form``, one per question of the step."""

    action: str = "next"
