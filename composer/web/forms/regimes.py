"""Legal's form for one rule of a regime (the rule-by-rule page)."""

from __future__ import annotations

from composer.web.forms import PostedForm, Stripped, WholeNumber


class OverrideForm(PostedForm):
    """One rule's form: what to do, the correction when there is one, and why."""

    key: str = ""
    action: str = ""
    reason: str = ""
    unit: Stripped = ""
    amount: WholeNumber = None
    months: WholeNumber = None
