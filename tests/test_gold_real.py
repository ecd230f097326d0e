"""The real-note gold set: MTSamples transcriptions coded by two coders and adjudicated
(tests/gold/mtsamples.yaml, chosen by tools/gold_select.py). Each note is a strict test of its
exact code set and first-listed code; the notes the engine does not yet code exactly are listed
in tests/gold/mtsamples_known_gaps.txt (strict expected failures: fixing one fails the suite
until its line is removed). docs/BENCHMARKS.md reports the micro scores."""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.terminology import CodeSet

from . import gold_sets

NOTES = gold_sets.notes("mtsamples.yaml")
GAPS = gold_sets.known_gaps("mtsamples_known_gaps.txt")


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def test_the_set_spans_note_types_and_specialties() -> None:
    assert len(NOTES) == 104
    assert sorted({n["type"] for n in NOTES}) == [
        "consult",
        "discharge summary",
        "ed",
        "h&p",
        "office/progress",
    ]
    assert len({n["specialty"] for n in NOTES}) == 22
    assert sum(len(n["codes"]) for n in NOTES) == 613


def test_every_gold_code_is_a_billable_fy2026_code_with_a_reason(codeset: CodeSet) -> None:
    codes = [c for n in NOTES for c in n["codes"]]
    assert [c["code"] for c in codes if not codeset.node(c["code"]).billable] == []
    assert [c["code"] for c in codes if not c["reason"].strip()] == []
    # two independent codings behind every note
    assert [n["id"] for n in NOTES if not (n["coders"]["a"] and n["coders"]["b"])] == []


def test_known_gaps_name_real_notes() -> None:
    assert {n["id"] for n in NOTES} >= GAPS


@pytest.mark.parametrize("note", gold_sets.params(NOTES, GAPS))
def test_real_note(coder: Coder, note: dict) -> None:
    result = coder.code(note["text"], document=note["id"], setting=note["setting"])
    reported = [c.code for c in result.codes]
    gold = [c["code"] for c in note["codes"]]
    assert (reported[:1], sorted(reported)) == (gold[:1], sorted(gold))
