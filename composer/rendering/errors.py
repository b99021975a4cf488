"""What can go wrong when a notice is rendered, as typed errors with messages for the user.

Every error a person can cause by what they typed (a draft, a subject, a recipient list) or by a
resource a template asks for is a :class:`RenderError`, so callers can catch one type and show
its message as it is.
"""

from __future__ import annotations


class RenderError(ValueError):
    """The notice could not be rendered; the message says why, for the person who wrote it."""


class MergeFieldError(RenderError):
    """A ``{{ ... }}`` in the draft is not one of the documented merge fields, or is more than a
    plain field name (a filter, an attribute, a block, a comment)."""

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        line: int | None = None,
        part: str | None = None,
    ) -> None:
        #: The problem without its place ("unknown merge field {{ nickname }}. ...").
        self.detail = detail
        #: The field's name, when there is one.
        self.field = field
        #: The line within ``part`` (1-based), when known.
        self.line = line
        #: "subject" or "body" when the draft part is known.
        self.part = part
        if line is not None and part != "subject":
            where = f"Line {line}{' of the ' + part if part else ''}: "
        elif part:
            where = f"In the {part}: "
        else:
            where = ""
        super().__init__(f"{where}{detail}")

    def in_part(self, part: str) -> MergeFieldError:
        """The same error, saying which part of the draft it is in."""
        return MergeFieldError(self.detail, field=self.field, line=self.line, part=part)


class SubjectError(RenderError):
    """The subject line cannot be used in an email header."""


class RecipientError(RenderError):
    """A recipient's details cannot be used (a control character, a missing or overlong value)."""


class ResourceRefused(RenderError):
    """The PDF asked for a resource the renderer will not fetch: anything outside ``static/``,
    another scheme or host, a large or non-image ``data:`` URL. The render fails rather than
    leaving the resource out silently."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"Refused to load {shorten_url(url)}: {reason}")


class RenderTimeout(RenderError):
    """Rendering took longer than its time limit and was stopped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"Rendering the PDF took longer than {seconds:g} seconds and was stopped. "
            "The notice may be very long or hold a very large table or list: shorten it, "
            "or split it into separate notices."
        )


class RenderBusy(RenderError):
    """Every PDF renderer was busy for as long as a caller may wait (``RENDER_MAX_CONCURRENT``
    renders run at once per process); nothing was rendered. Shown as a 503 page with
    ``Retry-After``."""

    def __init__(self, waited: float, retry_after: int) -> None:
        self.waited = waited
        #: Seconds after which trying again is likely to find a free renderer.
        self.retry_after = retry_after
        super().__init__(
            "Every PDF renderer is busy with other letters and previews just now, so this one "
            f"was not made. Try again in {retry_after} seconds."
        )


def shorten_url(url: str, limit: int = 80) -> str:
    """``url`` for a message: a ``data:`` URL can be megabytes long."""
    return url if len(url) <= limit else f"{url[: limit - 3]}..."
