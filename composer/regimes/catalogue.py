"""Load the regime files (``checklists/regimes/*.yaml``) and check what they point at."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from composer.checklist import Catalogue
from composer.regimes.schema import Regime, When
from composer.support.datafiles import DataFileError, YamlSource

REGIMES_FOLDER = "regimes"

Loc = list[str | int]


@dataclass(frozen=True)
class RegimeSet:
    """Every regime, validated, in file-name order. Immutable; share freely."""

    regimes: tuple[Regime, ...]

    def __iter__(self) -> Iterator[Regime]:
        return iter(self.regimes)

    def __len__(self) -> int:
        return len(self.regimes)

    def get(self, regime_id: str) -> Regime | None:
        return next((r for r in self.regimes if r.id == regime_id), None)


def load_regimes(directory: Path, catalogue: Catalogue) -> RegimeSet:
    """Read and check every ``*.yaml`` in ``directory`` against ``catalogue``'s places and data
    categories. Raises ``DataFileError`` naming the file, key and line of the first problem."""
    if not directory.is_dir():
        raise DataFileError(directory, None, "", "the regimes folder is missing")
    places = {c for c in catalogue.place_names["countries"]} | {
        f"US-{c}" for c in catalogue.place_names["us_states"]
    }
    categories = set(catalogue.categories)
    regimes: list[Regime] = []
    for path in sorted(directory.glob("*.yaml")):
        source = YamlSource.read(path)
        regime = source.validate(Regime)
        # The id is the file name, so ids are unique.
        if regime.id != path.stem:
            raise source.error(["id"], f"the id '{regime.id}' must match the file name")
        _check(source, regime, places, categories)
        regimes.append(regime)
    if not regimes:
        raise DataFileError(directory, None, "", "no regime files (*.yaml) in the folder")
    return RegimeSet(tuple(regimes))


def _check(source: YamlSource, regime: Regime, places: set[str], categories: set[str]) -> None:
    def place(loc: Loc, value: str) -> None:
        if value != "any" and value not in places:
            raise source.error(loc, f"'{value}' is not a place in places.yaml")

    def category(loc: Loc, value: str, allow_any: bool = False) -> None:
        if not (allow_any and value == "any") and value not in categories:
            raise source.error(loc, f"'{value}' is not a category in data_categories.yaml")

    def condition(loc: Loc, when: When) -> None:
        for i, cid in enumerate(when.categories):
            category([*loc, "categories", i], cid)

    covers = regime.covers
    for i, pid in enumerate(covers.places):
        place(["covers", "places", i], pid)
    for i, cid in enumerate(covers.categories):
        category(["covers", "categories", i], cid, allow_any=True)
    if "any" in covers.categories and len(covers.categories) > 1:
        raise source.error(["covers", "categories"], "'any' stands alone")

    _unique(source, ((["clocks", i, "id"], c.id) for i, c in enumerate(regime.clocks)), "clock id")
    for i, clock in enumerate(regime.clocks):
        condition(["clocks", i, "when"], clock.when)
    notice = regime.notice
    for key in ("required", "forbidden", "channels", "blocks", "monitoring"):
        for i, rule in enumerate(getattr(notice, key)):
            condition(["notice", key, i, "when"], rule.when)
    _unique(
        source,
        ((["notice", "blocks", i, "id"], b.id) for i, b in enumerate(notice.blocks)),
        "block id",
    )
    always_required = {r.element for r in notice.required if r.when == When()}
    for i, rule in enumerate(notice.forbidden):
        if rule.element in always_required:
            raise source.error(
                ["notice", "forbidden", i, "element"],
                f"'{rule.element}' is both required and forbidden",
            )

    clock_ids = {c.id for c in regime.clocks}
    for i, example in enumerate(regime.examples):
        loc: Loc = ["examples", i]
        for pid in example.situation.places:
            place([*loc, "situation", "places", pid], pid)
        for j, cid in enumerate(example.situation.categories):
            category([*loc, "situation", "categories", j], cid)
        for cid in example.clocks:
            if cid not in clock_ids:
                raise source.error([*loc, "clocks", cid], f"no clock with id '{cid}'")
        if example.clocks and not example.applies:
            raise source.error([*loc, "clocks"], "a regime that does not apply has no clocks")


def _unique(source: YamlSource, items: Iterable[tuple[Loc, str]], what: str) -> None:
    seen: set[str] = set()
    for loc, value in items:
        if value in seen:
            raise source.error(loc, f"{what} '{value}' is used more than once")
        seen.add(value)
