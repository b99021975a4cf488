"""Load YAML data files keeping line numbers, so schema errors can name file, key and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(Exception):
    """A data file is unreadable or does not match its schema.

    The message names the file, the key path and the line, e.g.
    ``checklists/incident.yaml:42: sections[0].steps[1].questions[2].type: Input should be ...``.
    """

    def __init__(self, path: Path | str, line: int | None, key: str, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


@dataclass(frozen=True)
class YamlSource:
    """A parsed YAML document plus its node tree, for locating keys."""

    path: Path
    data: Any
    root: yaml.Node | None

    @classmethod
    def read(cls, path: Path) -> YamlSource:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(path, None, "", f"cannot read the file ({exc})") from exc
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = mark.line + 1 if mark is not None else None
            raise DataFileError(path, line, "", f"not valid YAML: {exc.problem}") from exc
        return cls(path=path, data=data, root=root)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The 1-based line of the value at ``loc``, or of its nearest existing parent."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for key_node, value_node in node.value:
                    if key_node.value == part:
                        child = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                child = node.value[part]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def error(self, loc: Sequence[str | int], problem: str) -> DataFileError:
        return DataFileError(self.path, self.line_of(loc), format_loc(loc), problem)

    def validate(self, model: type[M]) -> M:
        """Validate the document against ``model``; the first error names file, key and line."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = [p for p in first["loc"] if isinstance(p, str | int)]
            raise self.error(loc, first["msg"]) from None


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
