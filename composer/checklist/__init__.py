"""The incident checklist: data files, validation, and the pure step machine. No Flask."""

from composer.checklist.answers import Parsed, parse, raw_from_form
from composer.checklist.catalogue import Catalogue, StepRef, load_catalogue
from composer.checklist.engine import Evaluation, Problem, QuestionState, describe
from composer.support.datafiles import DataFileError

__all__ = [
    "Catalogue",
    "DataFileError",
    "Evaluation",
    "Parsed",
    "Problem",
    "QuestionState",
    "StepRef",
    "describe",
    "load_catalogue",
    "parse",
    "raw_from_form",
]
