"""The regime files load, and each kind of mistake in them is named by file, key and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from composer import create_app
from composer.checklist import load_catalogue
from composer.regimes import load_regimes
from composer.support.datafiles import DataFileError
from tests.paths import REPO_ROOT

DATA = REPO_ROOT / "checklists"
CATALOGUE = load_catalogue(DATA)


@pytest.fixture
def regimes_dir(tmp_path: Path) -> Path:
    target = tmp_path / "regimes"
    shutil.copytree(DATA / "regimes", target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in ``path``; returns the 1-based line it was on."""
    text = path.read_text()
    index = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text.count("\n", 0, index) + 1


def test_shipped_regimes_load() -> None:
    regimes = load_regimes(DATA / "regimes", CATALOGUE)
    california = regimes.get("california")
    assert california is not None
    assert california.notice.title is not None
    assert california.notice.title.text == "Notice of Data Breach"
    assert regimes.get("no-such-law") is None


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "problem"),
    [
        (
            "california.yaml",
            "    within: {days: 30}",
            "    within: {days: 30, weeks: 4}",
            "clocks[0].within.weeks",
            "Extra inputs are not permitted",
        ),
        (
            "california.yaml",
            "    within: {days: 15}",
            "    within: {days: 15, hours: 2}",
            "clocks[1].within",
            "give exactly one of 'hours', 'days' and 'business_days'",
        ),
        (
            "texas.yaml",
            "    when: {people: {at_least: 250}}",
            "    when: {people: {at_least: 250, more_than: 249}}",
            "clocks[1].when.people",
            "give exactly one of 'more_than' and 'at_least'",
        ),
        (
            "massachusetts.yaml",
            "    - element: affected_count",
            "    - element: number_affected",
            "notice.forbidden[1].element",
            "Input should be 'description'",
        ),
        (
            "massachusetts.yaml",
            "  places: [US-MA]",
            "  places: [US-XX]",
            "covers.places[0]",
            "'US-XX' is not a place in places.yaml",
        ),
        (
            "massachusetts.yaml",
            "  places: [US-MA]",
            "  places: [Massachusetts]",
            "covers.places[0]",
            "String should match pattern",
        ),
        (
            "hipaa.yaml",
            "  categories: [any]",
            "  categories: [medical]",
            "covers.categories[0]",
            "'medical' is not a category in data_categories.yaml",
        ),
        (
            "california.yaml",
            "      when: {categories: [ssn, driving-licence]}\n      citation: Cal. Civ. Code"
            " 1798.82(d)(2)(G)\n      summary: >-\n        When a Social",
            "      when: {categories: [ssn, drivers-license]}\n      citation: Cal. Civ. Code"
            " 1798.82(d)(2)(G)\n      summary: >-\n        When a Social",
            "notice.required[7].when.categories[1]",
            "'drivers-license' is not a category",
        ),
        (
            "texas.yaml",
            "  - id: credit-bureaus",
            "  - id: attorney-general",
            "clocks[2].id",
            "clock id 'attorney-general' is used more than once",
        ),
        (
            "texas.yaml",
            "      attorney-general: 2026-12-02T23:59:59Z\n  - name: 120",
            "      ag: 2026-12-02T23:59:59Z\n  - name: 120",
            "examples[0].clocks.ag",
            "no clock with id 'ag'",
        ),
        (
            "gdpr.yaml",
            "id: gdpr",
            "id: eu-gdpr",
            "id",
            "the id 'eu-gdpr' must match the file name",
        ),
        (
            "massachusetts.yaml",
            "  forbidden:\n    - element: description",
            "  forbidden:\n    - element: police_report_right",
            "notice.forbidden[0].element",
            "'police_report_right' is both required and forbidden",
        ),
        (
            "hipaa.yaml",
            "  flags: [hipaa-covered-entity]\n  unless_flags",
            "  flags: [covered]\n  unless_flags",
            "covers.flags[0]",
            "Input should be 'hipaa-covered-entity'",
        ),
    ],
)
def test_mistakes_are_named_by_file_key_and_line(
    regimes_dir: Path, file: str, old: str, new: str, key: str, problem: str
) -> None:
    line = edit(regimes_dir / file, old, new)
    with pytest.raises(DataFileError) as caught:
        load_regimes(regimes_dir, CATALOGUE)
    error = caught.value
    assert Path(error.path).name == file
    assert error.key == key
    assert problem in error.problem
    assert error.line is not None
    assert line <= error.line <= line + new.count("\n") + 1


def test_a_missing_key_is_named_at_its_parent(regimes_dir: Path) -> None:
    line = edit(regimes_dir / "card-brands.yaml", "    requires: That card", "    needs: That card")
    with pytest.raises(DataFileError) as caught:
        load_regimes(regimes_dir, CATALOGUE)
    assert caught.value.key == "clocks[0].requires"
    assert caught.value.problem == "Field required"
    assert caught.value.line is not None
    assert caught.value.line < line


def test_a_clock_without_any_limit_is_refused(regimes_dir: Path) -> None:
    edit(regimes_dir / "massachusetts.yaml", "    standard: as soon as practicable\n", "")
    with pytest.raises(
        DataFileError, match=r"massachusetts\.yaml:\d+: clocks\[0\]: .*a clock needs"
    ):
        load_regimes(regimes_dir, CATALOGUE)


def test_broken_yaml_is_named_with_its_line(regimes_dir: Path) -> None:
    line = edit(regimes_dir / "florida.yaml", "clocks:\n", "clocks: [\n")
    with pytest.raises(DataFileError, match=r"florida\.yaml:\d+: not valid YAML") as caught:
        load_regimes(regimes_dir, CATALOGUE)
    assert caught.value.line is not None
    assert caught.value.line > line


def test_missing_or_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="the regimes folder is missing"):
        load_regimes(tmp_path / "regimes", CATALOGUE)
    (tmp_path / "regimes").mkdir()
    with pytest.raises(DataFileError, match=r"no regime files"):
        load_regimes(tmp_path / "regimes", CATALOGUE)


def test_app_loads_the_regimes_and_refuses_to_start_with_a_broken_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "checklists"
    shutil.copytree(DATA, data_dir)
    config = {
        "SECRET_KEY": "x",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
        "CHECKLISTS_DIR": str(data_dir),
    }
    app = create_app(config)
    assert app.extensions["composer.regimes"].get("massachusetts") is not None
    edit(data_dir / "regimes" / "texas.yaml", "within: {days: 60}", "within: {days: sixty}")
    with pytest.raises(DataFileError, match=r"texas\.yaml:\d+: clocks\[0\]\.within\.days: "):
        create_app(config)
