"""``composer.settings``: every setting typed and checked, wrong values named as users set them."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from composer.extensions import current_settings
from composer.settings import Defaults, SettingError, Settings, settings_of


def test_every_default_is_a_typed_setting_and_back() -> None:
    defaults = {name for name in vars(Defaults) if name.isupper()}
    assert {name.upper() for name in Settings.model_fields} == defaults
    settings = Settings()
    for name in defaults:
        value = getattr(Defaults, name)
        if isinstance(value, list):
            value = tuple(value)
        assert getattr(settings, name.lower()) == value, name


def test_settings_come_from_an_app_or_a_mapping_ignoring_other_keys() -> None:
    config = {"SEND_THREADS": 4, "TESTING": True, "SOMETHING_ELSE": object()}
    assert settings_of(config).send_threads == 4
    assert settings_of(SimpleNamespace(config=config)).send_threads == 4
    assert settings_of({}) == Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        settings_of({}).send_threads = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("config", "attribute", "value"),
    [
        # As Flask's from_prefixed_env hands them over: JSON where it parses, else text.
        ({"SEND_THREADS": 3}, "send_threads", 3),
        ({"SEND_PREPARE_ROWS": "300"}, "send_prepare_rows", 300),
        ({"LETTER_RENDER_PROCESSES": " 2 "}, "letter_render_processes", 2),
        ({"KEPT_FORM_HOURS": "0.5"}, "kept_form_hours", 0.5),
        ({"LINT_TIME_BUDGET_SECONDS": "2.5"}, "lint_time_budget_seconds", 2.5),
        ({"LETTER_HOME_COUNTRY": " je "}, "letter_home_country", "JE"),
        ({"LINT_DISABLED": "cliche, jargon.pii,"}, "lint_disabled", ("cliche", "jargon.pii")),
        ({"LINT_EXCEPTIONS": ["Acme Cloud"]}, "lint_exceptions", ("Acme Cloud",)),
        ({"SENDGRID_TIMEOUT_SECONDS": "3"}, "sendgrid_timeout_seconds", 3.0),
        ({"PERMANENT_SESSION_LIFETIME": 3600}, "permanent_session_lifetime", timedelta(hours=1)),
        ({"RENDER_MAX_CONCURRENT": None}, "render_max_concurrent", None),
        ({"AUDIT_SIGNING_KEY": None}, "audit_signing_key", ""),
    ],
)
def test_values_are_converted_as_the_app_always_read_them(
    config: dict[str, Any], attribute: str, value: object
) -> None:
    assert getattr(settings_of(config), attribute) == value


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"SEND_THREADS": 0}, r"SEND_THREADS must be a whole number of 1 or more .*it is 0\."),
        ({"SEND_THREADS": "2"}, "SEND_THREADS must be a whole number"),
        ({"RENDER_MAX_CONCURRENT": True}, "RENDER_MAX_CONCURRENT must be a whole number"),
        ({"LINT_TIME_BUDGET_SECONDS": "inf"}, "LINT_TIME_BUDGET_SECONDS must be a number of sec"),
        ({"LETTER_HOME_COUNTRY": "UK"}, r"LETTER_HOME_COUNTRY .*\(the United Kingdom is GB\)"),
        ({"LETTER_RENDER_PROCESSES": 1.5}, "LETTER_RENDER_PROCESSES must be a whole number"),
        ({"KEPT_FORM_HOURS": float("nan")}, "KEPT_FORM_HOURS must be a number of hours above 0"),
        ({"SEND_PREPARE_ROWS": True}, "SEND_PREPARE_ROWS must be a whole number"),
        ({"AUDIT_SIGNING_KEY": "short"}, "AUDIT_SIGNING_KEY must be at least 32"),
        ({"SENDGRID_TIMEOUT_SECONDS": "soon"}, "SENDGRID_TIMEOUT_SECONDS must be a number of sec"),
        ({"LINT_MAX_CHARS": "many"}, r"LINT_MAX_CHARS must be a whole number; it is 'many'\."),
        ({"CHECKLISTS_DIR": 3}, "CHECKLISTS_DIR must be text, or unset; it is 3"),
        ({"LOGIN_MAX_DELAY": "soon"}, "LOGIN_MAX_DELAY must be a length of time"),
        ({"LINT_DISABLED": 5}, "LINT_DISABLED must be a list of names"),
    ],
)
def test_a_wrong_value_is_named_as_users_set_it(config: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingError, match=says) as caught:
        settings_of(config)
    assert caught.value.settings == tuple(config)


def test_every_wrong_setting_is_named_at_once() -> None:
    with pytest.raises(SettingError) as caught:
        settings_of({"SEND_THREADS": 0, "KEPT_FORM_HOURS": 0, "COMPANY_NAME": "fine"})
    assert caught.value.settings == ("SEND_THREADS", "KEPT_FORM_HOURS")
    assert len(str(caught.value).splitlines()) == 2


def test_the_app_s_settings_follow_its_config(app: Flask) -> None:
    with app.app_context():
        assert current_settings().send_worker == app.config["SEND_WORKER"]
        app.config.update(SEND_THREADS=5)
        assert current_settings().send_threads == 5
        app.config["KEPT_FORM_HOURS"] = 0
        with pytest.raises(SettingError, match="KEPT_FORM_HOURS"):
            current_settings()
