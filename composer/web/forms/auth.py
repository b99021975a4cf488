"""The sign-in form."""

from __future__ import annotations

from composer.web.forms import PostedForm


class SignInForm(PostedForm):
    email: str = ""
    password: str = ""
    #: Where to go after signing in; checked to be a local path before use.
    next: str = ""
