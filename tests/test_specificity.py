"""The specificity walk picks the Index default when the note documents nothing more."""

from __future__ import annotations

import pytest

from medcode.engine.coding.specificity import SpecificityWalker
from medcode.terminology import CodeSet
from medcode.terminology.lexicon import normalize_tokens


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
        ("K25", "K25.9"),  # "unspecified as acute or chronic"
        ("J96.9", "J96.90"),  # "unspecified whether with hypoxia or hypercapnia"
        ("L25", "L25.9"),  # "unspecified cause"
        ("K40", "K40.90"),  # unilateral unless bilateral is documented
        ("F32", "F32.A"),  # Index: Depression F32.A
        ("G40.9", "G40.909"),
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


def test_other_in_the_note_is_no_evidence_for_an_other_code(walker: SpecificityWalker) -> None:
    assert walker.most_specific("B96.2", frozenset({"other"})).code == "B96.20"
    # "the graft is not functioning" says nothing of "... not involving the macula"
    assert walker.most_specific("E11", frozenset({"not", "involving"})).code == "E11.9"


def test_function_words_are_no_evidence(walker: SpecificityWalker) -> None:
    # "stable on diuretics" is not "acute on chronic right heart failure"
    assert walker.most_specific("I50", frozenset({"chf", "stable", "on", "diuretics"})).code == (
        "I50.9"
    )
    assert walker.most_specific("I50", frozenset({"acute", "on", "chronic", "systolic"})).code == (
        "I50.23"
    )


def test_undocumented_dominance_follows_the_side(walker: SpecificityWalker) -> None:
    # I.C.6.a: right is dominant, left nondominant
    assert walker.most_specific("G81.9", frozenset({"left"})).code == "G81.94"
    assert walker.most_specific("G81.9", frozenset({"right"})).code == "G81.91"


def test_an_index_term_picks_the_subterm_its_sentence_supports(
    walker: SpecificityWalker,
) -> None:
    keys = ["M19.9", "M17", "M16", "M18", "M19.0"]
    assert walker.choose(keys, "osteoarthritis", frozenset({"left", "hip"})) == "M16"
    assert walker.choose(keys, "osteoarthritis", frozenset({"knee"})) == "M17"
    assert walker.choose(keys, "osteoarthritis", frozenset({"osteoarthritis"})) == "M19.9"


@pytest.mark.parametrize(
    ("key", "term", "text", "expected"),
    [
        # the term matched past the note's side: its siblings are weighed
        ("M79.603", "Pain in arm, unspecified", "Pain in right arm", "M79.601"),
        (
            "Q37.1",
            "Cleft hard palate with cleft lip NOS",
            "Cleft hard palate with bilateral cleft lip",
            "Q37.0",
        ),
        (
            "S97.109S",
            "Crushing injury of unspecified toe(s), sequela",
            "Crushing injury of unspecified left toe(s), sequela",
            "S97.102S",
        ),
        # no axis word beyond the term's and the code's own: the match stands
        ("M79.603", "Pain in arm, unspecified", "Pain in arm", "M79.603"),
        ("F10.10", "Alcohol use disorder, mild", "Alcohol use disorder, mild", "F10.10"),
        (
            "A04.72",
            "Enterocolitis due to Clostridium difficile, not specified as recurrent",
            "Enterocolitis due to C. difficile, not specified as recurrent",
            "A04.72",
        ),
    ],
)
def test_a_match_that_passed_over_an_axis_word_is_walked_again(
    walker: SpecificityWalker, key: str, term: str, text: str, expected: str
) -> None:
    words = frozenset(normalize_tokens(text))
    assert walker.from_match(key, term, text, words).code == expected
