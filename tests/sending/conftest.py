"""Fixtures shared by the sending tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from composer.extensions import db
from composer.models import Incident, Role, User
from tests.conftest import make_user


@pytest.fixture
def ctx(app: Flask) -> Iterator[dict[str, Any]]:
    """An author, an incident and the catalogue's categories and places, for importing lists."""
    author = make_user(app, "ana@example.com", Role.AUTHOR)
    with app.app_context():
        user = db.session.get(User, author)
        assert user is not None
        incident = Incident(
            title="Supplier leak", checklist_id="incident", checklist_version=1, created_by=user
        )
        db.session.add(incident)
        db.session.commit()
        catalogue = app.extensions["composer.catalogue"]
        yield {
            "session": db.session(),
            "incident": incident,
            "user": user,
            "categories": catalogue.categories,
            "places": catalogue.place_names,
        }
