"""`medcode code` and `medcode search`: the JSON contract, inputs, errors, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medcode.engine.interfaces.cli import main
from medcode.engine.rulelang import RULES_DIR

NOTE = (
    "Chief complaint: shortness of breath.\n"
    "Family History: mother had breast cancer.\n"
    "Assessment and Plan:\n"
    "1. Acute on chronic systolic congestive heart failure.\n"
    "2. Type 2 diabetes mellitus with hyperglycemia.\n"
    "3. No pneumonia.\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_code_json_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "code", "--text", NOTE, "--format", "json")
    result = json.loads(out)
    assert status == 0
    assert list(result) == [
        "document", "fy", "setting", "codes", "excluded", "edits", "queries", "versions",
        "setting_reason",  # additive: how the setting was chosen (auto: read from the note)
        "input",  # additive: sha256 and length of the note, for `medcode replay`
        "claim",  # additive: the MS-DRG or HCCs, POA, the patient (docs/CLAIMS.md)
    ]  # fmt: skip
    assert [c["code"] for c in result["codes"]] == ["I50.23", "E11.65"]
    first = result["codes"][0]
    assert first["evidence"][0]["section"] == "assessment_and_plan"
    assert NOTE[first["evidence"][0]["start"] : first["evidence"][0]["end"]] == (
        "Acute on chronic systolic congestive heart failure"
    )
    assert {"step": "sequence", "position": 1} in first["trace"]
    excluded = {(e["code"], e["reason"]) for e in result["excluded"]}
    assert ("J18.9", "A negated condition is not coded (I.A; IV.A)") in excluded
    # a relative's breast cancer does not bear on heart failure and diabetes
    assert (
        "Z80.3",
        "A family history of breast, genital or urinary cancer or disease bears on a condition "
        "of those organs (I.C.21.c.4)",
    ) in excluded
    assert (
        "R06.02",
        "Dyspnea and hypoxemia integral to heart failure or a pulmonary embolism: I50.23 (I.B.5)",
    ) in excluded
    assert result["versions"]["code_set"].startswith("FY2026 ")


def test_outpatient_uncertain_diagnosis_is_not_coded(capsys: pytest.CaptureFixture[str]) -> None:
    text = "Assessment: cough and fever, probable pneumonia."
    _, out, _ = run(capsys, "code", "--text", text, "--setting", "outpatient", "--format", "json")
    result = json.loads(out)
    assert [c["code"] for c in result["codes"]] == ["R05.9", "R50.9"]
    assert [(e["code"], e["reason"]) for e in result["excluded"]] == [
        (
            "J18.9",
            "Outpatient: an uncertain diagnosis is not coded; its signs and symptoms are (IV.H)",
        )
    ]
    _, out, _ = run(capsys, "code", "--text", text, "--setting", "inpatient", "--format", "json")
    assert [c["code"] for c in json.loads(out)["codes"]] == ["J18.9"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02", "binary file, not a text note"),
        (b"caf\xe9", "not UTF-8 text (byte 3: b'\\xe9')"),
    ],
)
def test_unreadable_notes_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    note = tmp_path / "note.txt"
    note.write_bytes(content)
    status, out, err = run(capsys, "code", str(note))
    assert (status, out, err) == (2, "", f"medcode: {note}: {message}\n")


def test_an_empty_note_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = tmp_path / "empty.txt"
    note.write_bytes(b" \n\t\n")
    status, out, err = run(capsys, "code", str(note), "--format", "json")
    assert (status, out) == (2, "")
    assert err == f"medcode: {note}: empty note: there is nothing to code\n"


def test_missing_path_and_no_input_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "code", "/nonexistent.txt")[2] == (
        "medcode: /nonexistent.txt: no such file or folder\n"
    )
    assert run(capsys, "code")[0] == 2


def test_large_note_is_coded_in_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    text = "Assessment: essential hypertension.\n" * 12_000  # 430 kB
    status, out, _ = run(capsys, "code", "--text", text, "--format", "json")
    result = json.loads(out)
    assert status == 0
    assert [c["code"] for c in result["codes"]] == ["I10"]
    assert len(result["codes"][0]["evidence"]) == 12_000


def test_output_is_byte_identical_across_processes_and_hash_seeds() -> None:
    command = [
        sys.executable,
        "-m",
        "medcode.engine.interfaces.cli",
        "code",
        "--text",
        NOTE,
        "--format",
        "json",
    ]
    outputs = {
        subprocess.run(
            command, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, check=True
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_search_ranks_the_exact_title_first(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "search", "Acute on chronic systolic (congestive) heart failure", "--format", "json"
    )
    result = json.loads(out)
    assert status == 0
    assert result["candidates"][0] == {
        "code": "I50.23",
        "description": "Acute on chronic systolic (congestive) heart failure",
        "score": 1.0,
        "matched": "Acute on chronic systolic (congestive) heart failure",
    }


def line_of(rule_id: str, pack: str) -> int:
    """Where a shipped rule is written, so that the test survives rules added above it."""
    lines = (RULES_DIR / f"{pack}.rules").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(f"rule {rule_id} "))


def test_code_text_shows_edits_and_provider_queries(capsys: pytest.CaptureFixture[str]) -> None:
    note = "Assessment: Type 1 diabetes. Type 2 diabetes. Urosepsis. CKD stage 3."
    status, out, _ = run(capsys, "code", "--setting", "inpatient", "--text", note)
    assert status == 0
    assert out.splitlines()[4:] == [
        "  claim: MS-DRG 700 Other Kidney and Urinary Tract Diagnoses without CC/MCC (MDC 11, "
        "NONE; grouper v431, FY2026)",
        "  patient: age ? (unknown), sex ? (unknown), discharge status 1 (default)",
        "  error: E10.22, E11.22: E10.22 (Type 1 diabetes mellitus with diabetic chronic kidney "
        "disease) and E11.22 (Type 2 diabetes mellitus with diabetic chronic kidney disease) are "
        "never reported together: Excludes1 at E10.22  "
        f"[excludes1-conflict, rules/tabular.rules:{line_of('excludes1-conflict', 'tabular')}]",
        "  warning: The note says urosepsis: a nonspecific term with no default code, not "
        "synonymous with sepsis. Query the provider: sepsis, or a urinary tract infection?  "
        f"[urosepsis-query, rules/infections.rules:{line_of('urosepsis-query', 'infections')}]",
        "  query: N18.30 missing stage: The note supports only N18.30 (Chronic kidney disease, "
        'stage 3 unspecified) for "CKD stage 3". Please document the stage.',
        "    impact: none on the claim",
    ]


@pytest.mark.parametrize(
    "command",
    [
        "code",
        "search",
        "validate",
        "show",
        "terminology",
        "check",
        "rules",
        "serve",
        "batch",
        "replay",
        "explain",
    ],
)
def test_every_command_help_ends_with_an_example(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    examples = out[out.index("\nexamples:\n") :].splitlines()[2:]
    assert examples and all(e.startswith(f"  medcode {command} ") for e in examples)
