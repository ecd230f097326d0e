"""The FY2026 code set read from the official CMS Tabular List XML."""

from __future__ import annotations

import pytest

from medcode.terminology import CodeSet, NodeKind, NoteKind
from medcode.terminology.codeset import normalize_code


def test_fy2026_counts_match_the_official_code_list(codeset: CodeSet) -> None:
    assert codeset.provenance.fy == 2026
    assert codeset.counts() == {
        "chapters": 22,
        "sections": 297,
        "categories": 1918,
        "codes": 98186,
        "billable": 74719,
    }


def test_hierarchy_runs_chapter_section_category_subcategory_code(codeset: CodeSet) -> None:
    assert codeset.ancestors("E11.22") == ["chapter:4", "section:E08-E13", "E11", "E11.2"]
    assert codeset.children("E11.2") == ["E11.21", "E11.22", "E11.29"]
    assert codeset.node("E11.2").kind is NodeKind.SUBCATEGORY
    assert codeset.node("E11").kind is NodeKind.CATEGORY
    assert list(codeset.graph.successors("E11.2")) == ["E11.21", "E11.22", "E11.29"]


def test_seventh_character_codes_are_expanded_with_placeholder_x(codeset: CodeSet) -> None:
    assert codeset.node("S72.001A").billable
    assert not codeset.node("S72.001").billable
    assert codeset.node("S72.001A").title == (
        "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture"
    )
    assert codeset.children("T39.1X1") == ["T39.1X1A", "T39.1X1D", "T39.1X1S"]
    assert codeset.children("M48.40") == ["M48.40XA", "M48.40XD", "M48.40XG", "M48.40XS"]


def test_s06_death_codes_take_only_initial_encounter(codeset: CodeSet) -> None:
    # The 76 exceptions live only in a free-text note; the code list decides.
    death_codes = [
        key
        for key in codeset.descendants("S06")
        if len(key) == 7 and key[6] in "78" and not codeset.node(key).billable
    ]
    assert len(death_codes) == 38
    assert all(codeset.children(key) == [key + "A"] for key in death_codes)
    assert "S06.5X7D" not in codeset
    assert codeset.children("S06.0X1") == ["S06.0X1A", "S06.0X1D", "S06.0X1S"]


def test_category_notes_govern_their_codes_with_origin(codeset: CodeSet) -> None:
    excludes1 = codeset.applicable_notes("E11.22", [NoteKind.EXCLUDES1])
    origins = {(a.origin, a.note.text) for a in excludes1}
    assert ("E11", "type 1 diabetes mellitus (E10.-)") in origins
    assert (
        "chapter:4",
        "transitory endocrine and metabolic disorders specific to newborn (P70-P74)",
    ) in origins


def test_inclusion_terms_are_not_inherited(codeset: CodeSet) -> None:
    own = codeset.applicable_notes("A01.0", [NoteKind.INCLUSION_TERM])
    assert [a.note.text for a in own] == ["Infection due to Salmonella typhi"]
    assert codeset.applicable_notes("A01.00", [NoteKind.INCLUSION_TERM]) == []


def test_use_additional_code_of_e11_22_resolves_to_ckd_stages(codeset: CodeSet) -> None:
    targets = codeset.reference_targets("E11.22", NoteKind.USE_ADDITIONAL_CODE)
    own = [t for t, applied in targets if applied.origin == "E11.22"]
    assert own == ["N18.1", "N18.2", "N18.3", "N18.4", "N18.5", "N18.6"]


def test_excludes1_of_e11_contains_e10(codeset: CodeSet) -> None:
    targets = {t for t, _ in codeset.reference_targets("E11.9", NoteKind.EXCLUDES1)}
    assert {"E10", "E08", "E09", "E13", "O24.4", "P70.2"} <= targets


def test_seventh_characters_come_from_the_nearest_definition(codeset: CodeSet) -> None:
    assert codeset.seventh_characters("S06.5X7") == (
        ("A", "initial encounter"),
        ("D", "subsequent encounter"),
        ("S", "sequela"),
    )
    assert codeset.seventh_characters("E11.9") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" e119 ", "E11.9"),
        ("i10", "I10"),
        ("\u017f11.9", "\u017f11.9"),  # the long s
        ("\uff4511.9", "\uff4511.9"),  # a full-width e
    ],
)
def test_codes_are_upper_cased_in_ascii_only(text: str, expected: str) -> None:
    # str.upper() folds the long s into 'S': it would be read as S11.9, a code it is not
    assert normalize_code(text) == expected
