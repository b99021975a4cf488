"""Posted forms (``composer.web.forms``): reading one never fails and never rewords anything.
A missing field reads as empty text (None for a number or a file), as the views' hand-written
``request.form.get(name, "")`` did, so what is wrong is still said by the domain."""

from __future__ import annotations

import importlib
import io
import pkgutil
from typing import Any

import pytest
from flask import Flask

from composer.models import Role
from composer.web import forms as forms_package
from composer.web.forms import PostedForm
from composer.web.forms.admin import ActiveForm, NewUserForm, RolesForm
from composer.web.forms.auth import SignInForm
from composer.web.forms.incidents import NewIncidentForm, StepForm
from composer.web.forms.notices import NoticeForm
from composer.web.forms.recipients import UploadForm
from composer.web.forms.regimes import OverrideForm
from composer.web.forms.reviews import (
    ApproveForm,
    CommentForm,
    NoteForm,
    RequiredApprovalsForm,
    SubmitForm,
)
from composer.web.forms.sending import ConfirmationForm, StartSendForm


@pytest.fixture
def bare() -> Flask:
    return Flask(__name__)


def _posted(app: Flask, form: type[PostedForm], data: dict[str, Any], **kwargs: Any) -> Any:
    with app.test_request_context("/", method="POST", data=data, **kwargs):
        return form.posted()


# (form, posted fields, expected attributes)
EXAMPLES: list[tuple[type[PostedForm], dict[str, Any], dict[str, Any]]] = [
    (SignInForm, {}, {"email": "", "password": "", "next": ""}),
    (SignInForm, {"email": " a@example.com ", "next": "/x"}, {"email": " a@example.com "}),
    (
        NewUserForm,
        {"email": "a@example.com", "roles": ["admin", "no-such-role", "author"]},
        {"roles": frozenset({Role.ADMIN, Role.AUTHOR}), "display_name": ""},
    ),
    (RolesForm, {}, {"roles": frozenset()}),
    (ActiveForm, {"active": "1"}, {"activate": True}),
    (ActiveForm, {"active": "0"}, {"activate": False}),
    (ActiveForm, {}, {"activate": False}),
    (NewIncidentForm, {}, {"title": ""}),
    (StepForm, {}, {"action": "next"}),
    (StepForm, {"action": "goto:data"}, {"action": "goto:data"}),
    (NoticeForm, {"parent": "3", "seen_latest": "x"}, {"parent": 3, "seen_latest": None}),
    (NoticeForm, {"parent": "-1", "seen_latest": "²"}, {"parent": None, "seen_latest": None}),
    (NoticeForm, {"subject": " kept as typed "}, {"subject": " kept as typed ", "body": ""}),
    (UploadForm, {"file": "not a file"}, {"file": None}),
    (CommentForm, {"quote": "  a passage "}, {"quote": "a passage", "start": None, "part": ""}),
    (NoteForm, {"note": " as typed "}, {"note": " as typed "}),
    (ApproveForm, {"password": "p"}, {"password": "p", "note": "", "bundle_sha256": None}),
    (RequiredApprovalsForm, {"required": "2"}, {"required": 2, "back": None}),
    (RequiredApprovalsForm, {"required": "two"}, {"required": None}),
    (ConfirmationForm, {}, {"confirm": None}),
    (ConfirmationForm, {"confirm": ""}, {"confirm": ""}),
    (StartSendForm, {"send_at": " 2026-12-08T09:00 "}, {"send_at": "2026-12-08T09:00"}),
    (SubmitForm, {"sha256": "abc", "reason-k": "why", "other": "x"}, {"reasons": {"k": "why"}}),
    (
        OverrideForm,
        {"key": "gdpr/clocks/x", "action": "correct", "unit": " days ", "amount": "30"},
        {"unit": "days", "amount": 30, "months": None, "reason": ""},
    ),
    (OverrideForm, {"amount": "thirty", "months": "-2"}, {"amount": None, "months": None}),
]


@pytest.mark.parametrize(("form", "data", "expected"), EXAMPLES)
def test_posted_forms_read_as_the_views_did(
    bare: Flask, form: type[PostedForm], data: dict[str, Any], expected: dict[str, Any]
) -> None:
    posted = _posted(bare, form, data)
    for name, value in expected.items():
        assert getattr(posted, name) == value, name


def test_an_uploaded_file_is_read(bare: Flask) -> None:
    data = {"file": (io.BytesIO(b"email\na@example.com\n"), "list.csv")}
    posted = _posted(bare, UploadForm, data, content_type="multipart/form-data")
    assert posted.file is not None
    assert posted.file.filename == "list.csv"


def _subclasses(form: type[PostedForm]) -> set[type[PostedForm]]:
    found = set(form.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_every_form_has_examples() -> None:
    for module in pkgutil.iter_modules(forms_package.__path__):
        importlib.import_module(f"{forms_package.__name__}.{module.name}")
    assert _subclasses(PostedForm) <= {form for form, _data, _expected in EXAMPLES}
