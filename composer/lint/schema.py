"""Schema of the rule catalogue (``composer/lint/rules/*.yaml``). Unknown keys are errors."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from composer.lint.findings import CATEGORIES

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z-]+\.[a-z0-9-]+$")]
Text = Annotated[str, StringConstraints(min_length=1)]
#: Parse-based checks implemented in composer/lint/syntax.py, referred to by name.
PARSE_CHECKS = ("agentless-passive", "modal-hedge", "vague-agent", "vague-amount")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Examples(Strict):
    #: Sentences the rule must flag (the test suite runs them).
    flag: list[Text] = Field(min_length=1)
    #: Near misses it must leave alone.
    accept: list[Text] = Field(min_length=1)


class Rule(Strict):
    id: RuleId
    #: A span category, or a document-level one for a rule about what the text still lacks
    #: (placeholder.yaml: a slot left in is a missing element, never merged with wording findings).
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    severity: Literal["error", "warning", "suggestion"] = "warning"
    #: ``{text}`` in the message is replaced by the words found ("[DATE] is a slot ...").
    message: Text
    explanation: Text
    #: A rewrite with visible slots such as [DATE], [WHO], [N].
    suggestion: Text
    #: Case-insensitive regular expressions; a group named ``span`` narrows what is reported.
    patterns: list[Text] = []
    #: A parse-based check by name, instead of (or as well as) patterns.
    check: Literal[PARSE_CHECKS] | None = None  # type: ignore[valid-type]
    #: A hit is dropped when one of these matches text overlapping it.
    unless: list[Text] = []
    #: A hit is kept only when one of these matches somewhere in its sentence.
    if_sentence: list[Text] = []
    #: A hit is dropped when one of these matches anywhere in its sentence.
    unless_sentence: list[Text] = []
    #: A hit is dropped when one of these matches anywhere in the document ("security incident"
    #: is a euphemism only when the notice never says plainly what happened).
    unless_document: list[Text] = []
    #: A hit is dropped when one of these matches earlier in the document (a passive does not
    #: hide an actor the reader has already been told about).
    unless_before: list[Text] = []
    enabled: bool = True
    examples: Examples

    @field_validator(
        "patterns", "unless", "if_sentence", "unless_sentence", "unless_document", "unless_before"
    )
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(
                    f"pattern {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        return patterns


class RuleFile(Strict):
    rules: list[Rule] = Field(min_length=1)
