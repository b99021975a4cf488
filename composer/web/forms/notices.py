"""The notice editor's form."""

from __future__ import annotations

from composer.web.forms import PostedForm, WholeNumber


class NoticeForm(PostedForm):
    subject: str = ""
    body: str = ""
    #: The version the text was edited from, if any.
    parent: WholeNumber = None
    #: The newest version number the writer had seen when they opened the editor.
    seen_latest: WholeNumber = None
