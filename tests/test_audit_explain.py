"""`medcode explain NOTE --code CODE`: the trace of a reported code, the deciding step of a
rejected one, and for a code that never became a candidate the nearest matches and the words
the note would need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcode.engine.audit.explain import Explanation, explain, render_text
from medcode.engine.coding.coder import Coder
from medcode.engine.coding.search import Searcher
from medcode.engine.interfaces.cli import main
from medcode.terminology import CodeSet

NOTE = "Assessment: probable pneumonia. No chest pain.\nType 2 diabetes with hyperglycemia.\n"


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def answer(coder: Coder, code: str, setting: str = "outpatient") -> Explanation:
    result = coder.code(NOTE, document="note.txt", setting=setting)
    searcher = Searcher(coder.codeset, coder.lexicon, coder.walker)
    return explain(result, NOTE, code, coder.codeset, coder.lexicon, searcher)


def test_reported_code_shows_its_sequence_evidence_and_trace(coder: Coder) -> None:
    e = answer(coder, "E11.65")
    data = e.to_json()
    assert (e.status, e.description, e.billable) == (
        "coded",
        "Type 2 diabetes mellitus with hyperglycemia",
        True,
    )
    assert list(data) == [
        "code", "description", "billable", "status", "document", "setting", "coded",
        "named_in", "coded_in_category",
    ]  # fmt: skip
    assert data["coded"]["evidence"][0]["text"] == "Type 2 diabetes"
    assert data["coded"]["trace"][-1] == {"step": "sequence", "position": 1}
    lines = render_text(e).splitlines()
    assert lines[:3] == [
        "E11.65  Type 2 diabetes mellitus with hyperglycemia  (billable)",
        "CODED: sequence 1, confidence high",
        '  evidence: "Type 2 diabetes" [47:62] assessment, affirmed',
    ]
    assert lines[-2:] == [
        f"    {len(data['coded']['trace'])}. sequence: position=1",
        "  named in the trace of R73.9 (excluded), step 4: combination: into=E11.65, "
        "words=['hyperglycemia']",
    ]


def test_negated_code_names_the_rule_that_excluded_it(coder: Coder) -> None:
    e = answer(coder, "R07.9")
    [rejected] = e.data["excluded"]
    assert (e.status, rejected["reason"]) == (
        "excluded",
        "A negated condition is not coded (I.A; IV.A)",
    )
    step = rejected["deciding_step"]
    assert (step["step"], step["rule"], step["source"], step["action"]) == (
        "rule",
        "negated-not-coded",
        "rules/assertion.rules:6",
        "drop R07.9",
    )
    assert render_text(e).splitlines()[1:3] == [
        "NOT CODED: A negated condition is not coded (I.A; IV.A)",
        '  evidence: "chest pain" [35:45] assessment, negated',
    ]


def test_uncertain_diagnosis_is_rejected_outpatient_and_coded_inpatient(coder: Coder) -> None:
    outpatient = answer(coder, "J18.9", "outpatient")
    assert (outpatient.status, outpatient.data["excluded"][0]["reason"]) == (
        "excluded",
        "Outpatient: an uncertain diagnosis is not coded; its signs and symptoms are (IV.H)",
    )
    assert outpatient.data["excluded"][0]["deciding_step"]["citation"] == "IV.H"
    assert answer(coder, "J18.9", "inpatient").status == "coded"


def test_symptom_of_a_combination_code_names_the_combination(coder: Coder) -> None:
    [rejected] = answer(coder, "R73.9").data["excluded"]
    assert rejected["reason"] == "combined into E11.65 (I.B.11)"
    assert rejected["deciding_step"] == {
        "step": "combination",
        "into": "E11.65",
        "words": ["hyperglycemia"],
    }


def test_code_never_a_candidate_gets_nearest_matches_and_missing_words(coder: Coder) -> None:
    e = answer(coder, "I50.9")
    data = e.to_json()
    assert e.status == "not a candidate"
    assert data["nearest"][0] == {
        "code": "I50.9",
        "description": "Heart failure, unspecified",
        "score": 1.0,
        "matched": "Heart failure, unspecified",
    }
    assert "Heart failure, unspecified" in data["terms"]
    assert (data["title_words_found"], data["title_words_missing"]) == ([], ["heart", "failure"])
    assert (data["named_in"], data["coded_in_category"]) == ([], [])
    assert "  documentation needed (title words not in the note): heart, failure" in (
        render_text(e).splitlines()
    )


def test_sibling_of_a_reported_code_points_to_it(coder: Coder) -> None:
    data = answer(coder, "E11.9").to_json()
    assert data["status"] == "not a candidate"
    assert data["coded_in_category"] == ["E11.65"]
    # "mellitus" is documented by the concept "Type 2 diabetes" (E11, Type 2 diabetes mellitus)
    assert data["title_words_found"] == ["type", "2", "diabetes", "mellitus"]
    assert data["title_words_missing"] == ["without", "complications"]


def test_header_code_lists_billable_codes_and_the_traces_naming_it(coder: Coder) -> None:
    data = answer(coder, "J18").to_json()
    assert (data["billable"], data["status"]) == (False, "not a candidate")
    assert data["billable_below"] == ["J18.0", "J18.1", "J18.2", "J18.8", "J18.9"]
    assert next((n["code"], n["kind"], n["step"]["step"]) for n in data["named_in"]) == (
        "J18.9",
        "excluded",
        "match",
    )


def test_cli_prints_json_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    status = main(
        ["explain", str(note), "--code", "r079", "--setting", "inpatient", "--format", "json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (data["code"], data["document"], data["setting"], data["status"]) == (
        "R07.9",
        str(note),
        "inpatient",
        "excluded",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--text", NOTE, "--code", "Q99.99"], "medcode explain: Q99.99 is not an ICD-10-CM code"),
        (["/nonexistent.txt", "--code", "J18.9"], "medcode explain: /nonexistent.txt: no such "
                                                  "file or folder"),
        (["--code", "J18.9"], "medcode explain: give a NOTE path, - for stdin, or --text"),
        (["--text", NOTE], "medcode explain: the following arguments are required: --code"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status = main(["explain", *argv])
    assert (status, *capsys.readouterr()) == (2, "", message + "\n")
