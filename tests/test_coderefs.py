"""Code references in Tabular notes: the Lark grammar and their resolution to code-set nodes."""

from __future__ import annotations

import pytest
import yaml

from medcode.terminology import CodeRef, CodeSet
from medcode.terminology.coderefs import find_references, parse_references

from .conftest import FIXTURES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("E08.-", [CodeRef("E08", "E08", True, "E08.-")]),
        ("O24.4-", [CodeRef("O244", "O244", True, "O24.4-")]),
        ("N18.1-N18.6", [CodeRef("N181", "N186", True, "N18.1-N18.6")]),
        ("Z79.4", [CodeRef("Z794", "Z794", False, "Z79.4")]),
        (
            "C00-C96, D00-D09",
            [CodeRef("C00", "C96", True, "C00-C96"), CodeRef("D00", "D09", True, "D00-D09")],
        ),
        (
            "T36-T65 with fifth or sixth character 1-4 or 6",
            [CodeRef("T36", "T65", True, "T36-T65", (5, 6), "12346")],
        ),
        (
            "E08-E13 with .51-.52",
            [CodeRef("E08", "E13", True, "E08-E13", endings=((".51", ".52"),))],
        ),
    ],
)
def test_grammar_reads_the_reference_shapes_of_the_tabular(text: str, expected: list) -> None:
    assert list(parse_references(text)) == expected


def test_references_are_found_in_note_prose() -> None:
    refs, failed = find_references("type 1 diabetes mellitus (E10.-), see category F01 (acute)")
    assert [r.text for r in refs] == ["E10.-", "F01"]
    assert failed == ()


def test_a_parenthesised_abbreviation_is_not_a_reference() -> None:
    assert find_references("deficiency of glucose-6-phosphate dehydrogenase (G6PD)") == ((), ())


def test_not_a_reference_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not a code reference"):
        parse_references("acute")


def test_ranges_resolve_to_the_nodes_between(codeset: CodeSet) -> None:
    (hypertensive,) = parse_references("I10-I16")
    assert codeset.resolve(hypertensive) == ("I10", "I11", "I12", "I13", "I15", "I16")
    (ending,) = parse_references("I69. with final characters -28")
    assert codeset.resolve(ending) == (
        "I69.028", "I69.128", "I69.228", "I69.328", "I69.828", "I69.928",
    )  # fmt: skip
    (missing,) = parse_references("E11.99")
    assert codeset.resolve(missing) == ()


def test_coverage_is_above_99_5_percent_and_exceptions_are_reviewed(codeset: CodeSet) -> None:
    resolved, total, failures = codeset.reference_coverage()
    assert total == 11117
    assert resolved / total >= 0.995
    reviewed = yaml.safe_load((FIXTURES / "coderef_exceptions.yaml").read_text())
    assert all(entry["reason"] for entry in reviewed)
    assert sorted((k, str(kind), text) for k, kind, text in failures) == sorted(
        (e["node"], e["kind"], e["text"]) for e in reviewed
    )
