"""Posted forms as objects: each form a view reads is declared once, as a frozen pydantic model
whose field names are the names in the HTML (``templates/``), so a view validates, calls the
domain and renders or redirects.

Reading a form never fails and never rewords anything: a missing field reads as empty text (or
``None`` for a number), a number that is not a whole number reads as ``None``, and what is wrong
with the input is still said by the domain, in words written for the person, with what they
typed shown again. CSRFProtect has checked the post's token before any view runs, so these
models do not check it again.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from werkzeug.datastructures import FileStorage


def _whole_number(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        try:
            return int(value)
        except ValueError:  # digits int() does not read, such as "²"
            return None
    return None


#: ``"12"`` as 12; anything else (missing, empty, "-1", "1.5", "x") as None.
WholeNumber = Annotated[int | None, BeforeValidator(_whole_number)]


def _file(value: object) -> FileStorage | None:
    return value if isinstance(value, FileStorage) else None


#: An uploaded file; None when none was chosen (or the name came as a plain field).
Upload = Annotated[FileStorage | None, BeforeValidator(_file)]

#: Text with the spaces around it removed.
Stripped = Annotated[str, StringConstraints(strip_whitespace=True)]


class PostedForm(BaseModel):
    """A form as posted: read it with :meth:`posted`."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    #: Names posted once per ticked box (checkboxes), read as every value in order.
    multi_valued: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def posted(cls) -> Self:
        """This request's form fields (and uploaded files) as this form."""
        return cls.model_validate(cls._values())

    @classmethod
    def _values(cls) -> dict[str, object]:
        values: dict[str, object] = {}
        form, files = request.form, request.files
        for name in cls.model_fields:
            source = files if name in files else form
            if name in cls.multi_valued:
                values[name] = source.getlist(name)
            elif name in source:
                values[name] = source[name]
        return values
