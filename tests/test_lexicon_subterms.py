"""Lexicon terms as notes write them: site subterms, Index-default variants, side words."""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.terminology import CodeSet
from medcode.terminology.lexicon import read_curated


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def mention_codes(coder: Coder, text: str) -> list[str]:
    """The codes the note's own mentions lead to (rule packs may add others), sorted."""
    result = coder.code(text, setting="outpatient")
    return sorted(c.code for c in result.codes if c.trace[0]["step"] == "match")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # side and article words inside a term
        ("Assessment: Sprain of the left ankle, initial encounter.", ["S93.402A"]),
        ("Assessment: Closed fracture of left femoral neck, initial encounter.", ["S72.002A"]),
        ("Assessment: Osteoarthritis of right knee.", ["M17.11"]),
        # "Unspecified sprain of right wrist" and "Laceration without foreign body of ..."
        ("Assessment: Sprain of right wrist, initial encounter.", ["S63.501A"]),
        ("Assessment: Laceration of right forearm, initial encounter.", ["S51.811A"]),
        # site and type subterms of one term
        ("Assessment: Primary osteoarthritis, left hip.", ["M16.12"]),
        ("Assessment: Osteoarthritis.", ["M19.90"]),
        ("Assessment: Pneumonia, likely viral.", ["J12.9"]),
        ("Assessment: Pneumonia.", ["J18.9"]),
        ("Assessment: Scar of left hand, sequela of old laceration.", ["L90.5", "S61.412S"]),
        ("Assessment: Acute acalculous cholecystitis.", ["K81.0"]),
    ],
)
def test_terms_as_notes_write_them(coder: Coder, text: str, expected: list[str]) -> None:
    assert mention_codes(coder, text) == expected


def test_a_curated_line_with_a_code_list_names_each_node(codeset: CodeSet) -> None:
    entries = [e for e in read_curated(codeset) if e.term == "primary osteoarthritis"]
    assert [e.key for e in entries] == ["M19.9", "M17", "M16", "M18", "M19.0"]
    assert len({e.origin for e in entries}) == 1


def test_stop_terms_and_acronyms_name_nothing_in_plain_words(coder: Coder) -> None:
    text = "Assessment: Activity as tolerated. Wound care. Pre-operative visit."
    assert mention_codes(coder, text) == []
    assert mention_codes(coder, "Assessment: PRES.") == ["I67.83"]
