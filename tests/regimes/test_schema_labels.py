"""Every element a regime may require or forbid has words the rule pages show."""

from __future__ import annotations

from typing import get_args

from composer.regimes.schema import ELEMENT_LABELS, Element


def test_every_element_has_a_label_in_plain_words() -> None:
    elements = set(get_args(Element))
    assert set(ELEMENT_LABELS) == elements
    for element, label in ELEMENT_LABELS.items():
        assert "_" not in label, element
        assert label[0].isupper(), element
