"""Sending forms: starting a send, and the count an admin confirms before anything is sent."""

from __future__ import annotations

from composer.web.forms import PostedForm, Stripped


class ConfirmationForm(PostedForm):
    #: The number of recipients the admin was shown and agreed to; None until they were asked.
    confirm: str | None = None


class StartSendForm(PostedForm):
    #: The bundle the page showed, so a send never goes out with text nobody looked at.
    bundle_sha256: str | None = None
    #: "now" or "schedule".
    intent: str = ""
    #: The local date and time typed for a scheduled send.
    send_at: Stripped = ""
