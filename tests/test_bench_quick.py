"""The benchmark harness's pure parts (tools/bench_tasks.py, floors of tools/bench.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from bench import below_floors, remeasure_remark
from bench_report import _ambiguity, _rule_engine
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


def _latency(ms: float) -> dict[str, float]:
    return {"ms_p50": ms, "ms_p95": ms + 1, "per_s": round(1000 / ms, 1)}


RULE_ENGINE = {
    "status": "measured",
    "packs": ["rules/a.rules", "rules/b.rules"],
    "rules": 7,
    "codeset_load_s": 0.2,
    "engine_build_s": 0.1,
    "cache_limits": {"tabular": 5000},
    "codes_per_encounter": 20,
    "target_ms": 1.0,
    "random": {
        "encounters": 10,
        "cold_first_pass": _latency(5.0),
        "warm": _latency(2.5),
        "repeated_at_once": _latency(0.8),
        "firings_per_encounter": 3.0,
        "edits_per_encounter": 0.5,
    },
    "realistic": {
        "codes": ["I10", "N18.30"],
        "first_run_ms": 9.0,
        "repeats": 10,
        "warm": _latency(2.0),
        "output": ["I12.9", "N18.30"],
        "edits": 1,
        "firings": 2,
    },
    "peak_rss_mb": 200.0,
}


def test_rule_engine_section_judges_each_warm_row_against_the_target() -> None:
    text = _rule_engine(RULE_ENGINE)
    assert "| 2.5 / 3.5 | 400.0 | <= 1.0 ms: missed (2.5x) |" in text
    assert "| 0.8 / 1.8 | 1250.0 | <= 1.0 ms: met |" in text
    assert "comes out as I12.9, N18.30 (2 firings, 1 edit)" in text
    assert _rule_engine({"status": "failed", "detail": "E"}).endswith("**failed** (E).")


def test_ambiguity_section_names_its_sample_and_the_gold_shares() -> None:
    report = {
        "documents": 4,
        "ambiguity": {
            "notes": 4,
            "notes_with_ambiguity": 1,
            "mentions": 2,
            "in_reported_codes": 2,
            "in_excluded_candidates": 0,
            "per_note_mean": 0.5,
            "per_note_max": 2,
            "per_note_distribution": {"0": 3, "1": 0, "2": 1, "3": 0, "4": 0, "5+": 0},
            "reasons": {"the note does not document the laterality": 2},
            "reported_headroom": {"kept code is gold": 1, "another candidate is gold": 1},
            "top_candidate_sets": {"M79.601 | M79.602 | M79.603": 2},
        },
    }
    text = _ambiguity(report, 4)
    assert "on all the notes of section 4" in text
    assert "| notes with >= 1 ambiguous mention | 1 (25.0%) |" in text
    assert "| ... another candidate is gold | 1 (50.0%) |" in text
    assert "seeded sample of 4" in _ambiguity(report, 500)


def test_remeasure_remark_quotes_the_earlier_measurement() -> None:
    earlier = {
        "speed": {
            "medcode_one_process": {"per_s": 30.9},
            "medcode_pool": {"per_s": 19.7},
            "medspacy_default": {"per_s": 9.3},
            "command_line": {"warm_s_median": 3.1},
        },
        "rule_engine": RULE_ENGINE,
        "load_average": {"speed": [5.1, 4.0, 3.0]},
    }
    text = remeasure_remark(earlier, [1.2, 2.0, 3.0], [1.9, 2.0, 3.0])
    assert "load average 1.2 before and 1.9 after" in text
    assert "(load average 5.1 before section 5) medcode ran 30.9 notes/s" in text
    assert text.endswith("the rule engine 2.0 ms per realistic encounter (2.5 ms per random one).")
