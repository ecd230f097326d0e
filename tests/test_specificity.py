"""The specificity walk picks the Index default when the note documents nothing more."""

from __future__ import annotations

import pytest

from medcode.engine.specificity import SpecificityWalker
from medcode.terminology import CodeSet


@pytest.fixture(scope="module")
def walker(codeset: CodeSet) -> SpecificityWalker:
    return SpecificityWalker(codeset)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("E11", "E11.9"),  # "without complications", not "with unspecified complications"
        ("G43.0", "G43.009"),  # not intractable, without status migrainosus
        ("G43.00", "G43.009"),
        ("A04.7", "A04.72"),  # "not specified as recurrent"
        ("I26", "I26.99"),  # "other" pulmonary embolism, not "septic"
        ("J18", "J18.9"),  # "unspecified" before "other"
        ("J44", "J44.9"),
        ("K35", "K35.80"),
        ("S72.0", "S72.009A"),  # "unspecified part of" neck of femur, initial encounter
        ("J45.90", "J45.909"),
        ("R65.2", "R65.20"),
    ],
)
def test_undocumented_axes_fall_back_to_the_index_default(
    walker: SpecificityWalker, start: str, expected: str
) -> None:
    assert walker.most_specific(start, frozenset()).code == expected


def test_documented_words_still_lead_the_walk(walker: SpecificityWalker) -> None:
    assert walker.most_specific("G43.0", frozenset({"intractable"})).code == "G43.019"
    assert walker.most_specific("A04.7", frozenset({"recurrent"})).code == "A04.71"
    assert walker.most_specific("E11", frozenset({"hyperglycemia"})).code == "E11.65"
