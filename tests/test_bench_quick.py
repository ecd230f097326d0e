"""The benchmark harness's pure parts (tools/bench_tasks.py, floors of tools/bench.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from bench import below_floors
from bench_tasks import (
    MISS_LABELS,
    Micro,
    Tally,
    build_notes,
    classify_miss,
    is_combination,
    join_pair,
    make_pairs,
    pair_outcome,
    percentile,
    sample,
    words,
)

CODES = ["A00.0", "B01.1", "C02.2", "D03.3", "E04.4"]


def test_pairs_are_seeded_and_take_connectors_in_turn() -> None:
    assert make_pairs(CODES, 4, 7) == [
        ("C02.2", "B01.1", " and "),
        ("D03.3", "A00.0", " with "),
        ("A00.0", "E04.4", "; "),
        ("C02.2", "A00.0", " and "),
    ]
    assert make_pairs(CODES, 50, 7) == make_pairs(CODES, 50, 7)
    assert all(first != second for first, second, _ in make_pairs(CODES, 200, 1))


def test_pair_text_joins_descriptions() -> None:
    assert join_pair("Cholera", "; ", "Typhoid fever") == "Cholera; Typhoid fever"


def test_sample_keeps_order_and_is_seeded() -> None:
    assert sample(CODES, 2, 3) == ["B01.1", "E04.4"]
    assert sample(CODES, None, 3) == CODES
    assert sample(CODES, 9, 3) == CODES


def test_words_drop_modifiers_stop_words_and_plurals() -> None:
    assert words("Fractures of ribs (multiple), unspecified") == {"fracture", "rib"}


def test_combination_needs_every_word_of_both_descriptions() -> None:
    both = "Type 2 diabetes mellitus with diabetic chronic kidney disease"
    assert is_combination(both, "Type 2 diabetes mellitus", "Chronic kidney disease")
    assert not is_combination(both, "Type 2 diabetes mellitus", "Hypertensive heart disease")
    assert not is_combination("Cholera", "", "")


def test_pair_outcomes() -> None:
    assert pair_outcome(["A00.0", "B01.1"], "A00.0", "B01.1", False) == "both"
    assert pair_outcome(["E11.22"], "E11.9", "N18.9", True) == "combination"
    assert pair_outcome(["A00.0"], "A00.0", "B01.1", False) == "second missing"
    assert pair_outcome(["B01.1"], "A00.0", "B01.1", False) == "first missing"
    assert pair_outcome([], "A00.0", "B01.1", False) == "both missing"


def test_tally_scores_exact_category_invalid_and_empty() -> None:
    tally = Tally()
    tally.add("a", {"E11.9"}, "E11.9", True)
    tally.add("b", {"E11.9"}, "E11.65", True)
    tally.add("c", {"E11.9"}, "E11", False)
    tally.add("d", {"E11.9"}, None, True)
    result = tally.to_json()
    assert (result["n"], result["exact"], result["category"]) == (4, 1, 3)
    assert (result["invalid"], result["empty"], result["exact_pct"]) == (1, 1, 25.0)
    assert result["failures"][0] == {"input": "b", "expected": ["E11.9"], "answer": "E11.65"}


def test_micro_precision_recall_f1() -> None:
    micro = Micro()
    micro.add({"A", "B", "C"}, {"A", "B", "D", "E"})
    micro.add(set(), {"F"})
    assert micro.to_json() == {
        "tp": 2,
        "fp": 1,
        "fn": 3,
        "precision": 0.6667,
        "recall": 0.4,
        "f1": 0.5,
    }


def test_misses_are_labelled_by_the_first_heuristic_that_applies() -> None:
    note = words("Fever and painful swelling of the right testicle")

    def label(gold: str, title: str, *, billable: bool = True, emitted=(), excluded=()) -> str:
        return classify_miss(
            gold,
            billable=billable,
            emitted=set(emitted),
            excluded=set(excluded),
            title=title,
            note_words=note,
        )

    assert label("R51", "Headache", billable=False) == MISS_LABELS[0]
    assert label("R50.9", "Fever, unspecified", excluded=["R50.9"]) == MISS_LABELS[1]
    assert label("R50.9", "Fever, unspecified", emitted=["R50.81"]) == MISS_LABELS[2]
    assert label("N50.89", "Other specified disorders of the testicle") == MISS_LABELS[3]
    assert label("R69", "Illness, unspecified") == MISS_LABELS[4]


def test_notes_are_whole_lines_reaching_the_word_count() -> None:
    texts = ["one two three\nfour five\n", "six seven eight nine\n"]
    assert build_notes(texts, 4, 3) == [
        "one two three\nfour five\n",
        "six seven eight nine\n",
        "one two three\nfour five\n",
    ]


def test_nearest_rank_percentile() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([5, 1, 4, 2, 3], 95) == 5


def test_floors_report_only_present_values_below_them() -> None:
    results = {
        "phrases": {"descriptions": {"exact_pct": 98.0}, "inclusion_terms": {"exact_pct": 99.0}},
        "pairs": {"success_pct": 99.0},
        "lookup": {"descriptions": {"medcode": {"exact_pct": 100.0}}},
        "codiesp": {"status": "skipped"},
    }
    assert below_floors(results) == ["phrases.descriptions.exact_pct = 98.0 < floor 99.0"]
