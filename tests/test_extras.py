"""Start-up checks of settings. Celery and the PostgreSQL driver are optional extras: a setting
that needs one that is not installed stops start-up with the command that installs it, instead
of failing at the first send or query. A setting with a wrong value stops it too, named as users
set it."""

from __future__ import annotations

from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest
from flask import request

import composer
from composer import MissingExtra, create_app
from composer.settings import SettingError
from tests.conftest import base_config


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Module names that ``create_app`` will find missing."""
    missing: set[str] = set()
    real = composer.find_spec

    def find_spec(name: str) -> ModuleSpec | None:
        return None if name in missing else real(name)

    monkeypatch.setattr(composer, "find_spec", find_spec)
    return missing


def test_celery_sender_without_celery_names_the_extra(without: set[str], tmp_path: Path) -> None:
    without.add("celery")
    config = {**base_config(tmp_path, f"sqlite:///{tmp_path}/a.db"), "SEND_WORKER": "celery"}
    with pytest.raises(MissingExtra, match=r"pip install 'notice-composer\[celery\]'"):
        create_app(config)
    # The embedded default needs no Celery.
    create_app({**config, "SEND_WORKER": "inprocess"})


def test_postgresql_without_psycopg_names_the_extra(without: set[str], tmp_path: Path) -> None:
    without.add("psycopg")
    uri = "postgresql+psycopg://composer@127.0.0.1:9/composer"
    with pytest.raises(MissingExtra, match=r"pip install 'notice-composer\[postgres\]'"):
        create_app(base_config(tmp_path, uri))
    create_app(base_config(tmp_path, f"sqlite:///{tmp_path}/a.db"))


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_wrong_lint_time_budget_stops_start_up(tmp_path: Path, value: str) -> None:
    config = {**base_config(tmp_path, f"sqlite:///{tmp_path}/a.db")}
    with pytest.raises(ValueError, match="LINT_TIME_BUDGET_SECONDS must be a number of seconds"):
        create_app({**config, "LINT_TIME_BUDGET_SECONDS": value})
    create_app({**config, "LINT_TIME_BUDGET_SECONDS": "2.5"})


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("LINT_MAX_CHARS", "many", r"LINT_MAX_CHARS must be a whole number; it is 'many'\."),
        ("SENDGRID_TIMEOUT_SECONDS", "soon", "SENDGRID_TIMEOUT_SECONDS must be a number of sec"),
        ("LOGIN_MAX_DELAY", "long", "LOGIN_MAX_DELAY must be a length of time"),
    ],
)
def test_any_wrong_setting_stops_start_up_naming_it(
    tmp_path: Path, setting: str, value: object, says: str
) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(SettingError, match=says):
        create_app({**config, setting: value})


def test_a_wrong_setting_from_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSER_RECIPIENT_RETENTION_DAYS", "ninety")
    with pytest.raises(SettingError, match="RECIPIENT_RETENTION_DAYS must be a whole number"):
        create_app(base_config(tmp_path, f"sqlite:///{tmp_path}/a.db"))
    monkeypatch.setenv("COMPOSER_RECIPIENT_RETENTION_DAYS", "30")
    create_app(base_config(tmp_path, f"sqlite:///{tmp_path}/a.db"))


def test_trusted_proxies_are_a_setting(tmp_path: Path) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/a.db")
    app = create_app({**config, "PROXY_FIX_X_FOR": 1})
    client = app.test_client()
    app.add_url_rule("/who", "who", lambda: request.remote_addr or "")
    response = client.get("/who", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.text == "203.0.113.9"
    assert create_app(config).config["PROXY_FIX_X_FOR"] == 0
