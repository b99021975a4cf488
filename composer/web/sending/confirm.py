"""The one question asked before anything is sent, with the count the server checks again."""

from __future__ import annotations

from flask import render_template

from composer.models import Incident
from composer.web.forms.sending import ConfirmationForm


def confirm_page(
    *,
    incident: Incident,
    title: str,
    what: str,
    count: int,
    action: str,
    button: str,
    fields: dict[str, str] | None = None,
    warning: str = "",
    changed: str = "",
    back: str,
) -> str:
    """The one question before anything is sent: what will happen, to how many people. The
    form posts back with ``confirm`` set to the count, which the server checks again."""
    return render_template(
        "sending/confirm.html",
        incident=incident,
        title=title,
        what=what,
        count=count,
        action=action,
        button=button,
        fields=fields or {},
        warning=warning,
        changed=changed,
        back=back,
    )


def confirmation(count: int) -> tuple[bool, str]:
    """Whether the form carries the admin's confirmation of ``count``; when it carries another
    count, a sentence saying the figure changed."""
    given = ConfirmationForm.posted().confirm
    if given is None:
        return False, ""
    if given == str(count):
        return True, ""
    return False, f"The number changed since you were asked: it is now {count:,}. Check again."
