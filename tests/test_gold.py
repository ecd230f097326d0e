"""The gold set: short notes with the codes a certified coder reports (tests/gold/notes.yaml).

Notes listed in tests/gold/known_gaps.txt are strict expected failures: tracked gaps, like
Semgrep's `todoruleid`. Fixing one makes its test fail until the line is removed.
"""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.terminology import CodeSet

from . import gold_sets

NOTES = gold_sets.notes("notes.yaml")
GAPS = gold_sets.known_gaps("known_gaps.txt")


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def test_gold_expectations_are_billable_fy2026_codes(codeset: CodeSet) -> None:
    codes = {code for note in NOTES for code in note["codes"] + note.get("excluded", [])}
    assert len(NOTES) == 89
    assert [c for c in sorted(codes) if not codeset.node(c).billable] == []


def test_known_gaps_name_real_notes() -> None:
    assert {note["id"] for note in NOTES} >= GAPS


@pytest.mark.parametrize("note", gold_sets.params(NOTES, GAPS))
def test_gold_note(coder: Coder, note: dict) -> None:
    result = coder.code(note["text"], document=note["id"], setting=note["setting"])
    reported = [c.code for c in result.codes]
    assert sorted(reported) == sorted(note["codes"])
    assert not set(note.get("excluded", [])) & set(reported)
    text = note["text"]
    for coded in result.codes:
        assert coded.trace
        for evidence in coded.evidence:
            assert text[evidence.start : evidence.end] == evidence.text
