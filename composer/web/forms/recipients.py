"""The recipient list upload."""

from __future__ import annotations

from composer.web.forms import PostedForm, Upload


class UploadForm(PostedForm):
    file: Upload = None
