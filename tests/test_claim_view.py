"""The claim in every result (docs/CLAIMS.md): the patient given or read from the note, POA on
inpatient codes, the MS-DRG or risk score, and the impact of each provider query."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

from medcode.engine.coding.claim import Patient
from medcode.engine.coding.claim.impact import Standing, query_impact
from medcode.engine.coding.coder import Coder

DISCHARGE = (
    "DISCHARGE SUMMARY\n"
    "HISTORY: The patient is a 72-year-old male admitted with pneumonia.\n"
    "DISCHARGE DIAGNOSES:\n1. Pneumonia.\n2. Heart failure.\n3. Type 2 diabetes mellitus.\n"
    "Discharged home in stable condition."
)
OFFICE = (
    "OFFICE VISIT\n67-year-old woman seen for follow-up.\nASSESSMENT:\n"
    "1. Type 2 diabetes mellitus without complications.\n2. Essential hypertension.\n"
    "3. Chronic kidney disease stage 3."
)


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


def test_heart_failure_query_reports_the_drg_change_of_acute_systolic_failure(
    coder: Coder,
) -> None:
    result = coder.code(DISCHARGE)
    assert [c.code for c in result.codes] == ["J18.9", "I50.9", "E11.9"]
    assert result.claim["drg"]["drg"] == 195
    assert result.claim["drg"]["severity"] == "NONE"
    # the query worth most comes first, whatever order the engine found them in
    assert [(q.code, q.missing) for q in result.queries] == [
        ("I50.9", "type"),
        ("J18.9", "specificity"),
    ]
    impact = result.queries[0].impact
    assert impact == {
        "change": "documenting the type of I50.9 (Heart failure, unspecified) as I50.21 (Acute "
        "systolic (congestive) heart failure) or 5 other code(s) can move DRG 195 to 193: "
        "no CC/MCC to MCC",
        "score": 21.0,
        "before": {
            "drg": 195,
            "severity": "NONE",
            "description": "Simple Pneumonia and Pleurisy without CC/MCC",
        },
        "after": {
            "drg": 193,
            "severity": "MCC",
            "description": "Simple Pneumonia and Pleurisy with MCC",
        },
        "codes": ["I50.21", "I50.23", "I50.31", "I50.33", "I50.41", "I50.43"],
    }
    # another DRG at the same severity: named with both descriptions, ranked below
    assert result.queries[1].impact["score"] == 1.0
    assert result.queries[1].impact["after"]["drg"] == 189


def test_patient_is_read_from_the_note_unless_given(coder: Coder) -> None:
    read = coder.code(DISCHARGE).claim["patient"]
    assert read == {
        "age": 72,
        "sex": "M",
        "discharge_status": 1,
        "sources": {
            "age": "note: '72-year-old male'",
            "sex": "note: '72-year-old male'",
            "discharge_status": "note: 'Discharged home in stable condition.'",
        },
    }
    given = coder.code(DISCHARGE, age=80, discharge_status=3).claim["patient"]
    assert (given["age"], given["sex"], given["discharge_status"]) == (80, "M", 3)
    assert given["sources"]["age"] == "given"
    assert given["sources"]["discharge_status"] == "given"


def test_inpatient_codes_carry_poa_in_the_claim_and_the_trace(coder: Coder) -> None:
    result = coder.code(DISCHARGE)
    lines = {line["code"]: line for line in result.claim["lines"]}
    for code in result.codes:
        step = next(s for s in code.trace if s["step"] == "poa")
        assert step["indicator"] == lines[code.code]["poa"]
        assert step["reason"]
        assert code.trace[-1]["step"] == "sequence"
    # the reason for admission, present when the admission was ordered
    assert lines["J18.9"]["poa"] == "Y"
    assert lines["J18.9"]["role"] == "principal"


def test_outpatient_claim_gives_hccs_and_a_query_without_impact_last(coder: Coder) -> None:
    result = coder.code(OFFICE)
    assert [c.code for c in result.codes] == ["I12.9", "E11.22", "N18.30"]
    hcc = result.claim["hcc"]
    assert [h["hcc"] for h in hcc["hccs"]] == ["37", "329"]
    assert hcc["risk_score"] == 0.623
    assert result.claim["drg"] is None
    assert all(line["poa"] is None for line in result.claim["lines"])
    assert [(q.code, q.impact["change"], q.impact["score"]) for q in result.queries] == [
        ("N18.30", None, 0.0)
    ]


def test_date_picks_the_grouper_version(coder: Coder) -> None:
    claim = coder.code(DISCHARGE, date=datetime.date(2025, 1, 15)).claim
    assert (claim["fy"], claim["grouper_version"], claim["date"]) == (2025, 420, "2025-01-15")
    assert coder.code(DISCHARGE).claim["grouper_version"] == 431  # no date: never today's


def test_result_without_codes_has_no_claim(coder: Coder) -> None:
    result = coder.code("Assessment: no acute distress. Denies chest pain.")
    assert result.codes == ()
    assert "claim" not in result.to_json()


def test_query_impact_keeps_the_first_code_of_the_best_outcome(codeset) -> None:
    """Ties go to Tabular order; a change that lowers the claim is no impact."""
    worth = {"I50.21": ("MCC", 193), "I50.23": ("MCC", 193), "I50.1": ("NONE", 190)}

    def standing(codes: tuple[str, ...]) -> Standing:
        severity, drg = worth.get(codes[1], ("CC", 194))
        return Standing(drg=drg, severity=severity, description=f"DRG {drg}")

    before = Standing(drg=194, severity="CC", description="DRG 194")
    impact = query_impact(codeset, ("J18.9", "I50.9"), "I50.9", "type", standing, before)
    assert impact.codes == ("I50.21", "I50.23")
    assert impact.score == 11.0  # one severity step, and another DRG
    assert impact.change.endswith("can move DRG 194 to 193: CC to MCC")

    def lower(codes: tuple[str, ...]) -> Standing:
        return Standing(drg=195, severity="NONE", description="DRG 195")

    none = query_impact(codeset, ("J18.9", "I50.9"), "I50.9", "type", lower, before)
    assert (none.change, none.score, none.codes, none.after) == (None, 0.0, (), before)


def _medcode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medcode.engine.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_code_cli_shows_the_claim_and_refuses_bad_demographics() -> None:
    shown = _medcode("code", "--text", DISCHARGE, "--age", "81", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    claim = json.loads(shown.stdout)["claim"]
    assert (claim["patient"]["age"], claim["patient"]["sources"]["age"]) == (81, "given")
    for args, message in [
        (("--age", "200"), "medcode code: age 200 is outside 0-124 years"),
        (
            ("--date", "1999-01-01"),
            "medcode code: date 1999-01-01 is outside the supported fiscal years (2022-10-01 to "
            "2027-03-31, MS-DRG v400-v440)",
        ),
        (("--date", "2026-13-01"), "medcode code: date '2026-13-01' is not a date (YYYY-MM-DD)"),
        (("--discharge-status", "home"), "medcode code: discharge status 'home' is not a whole"),
        (("--sex", "X"), "medcode code: sex 'X' is not F or M"),
    ]:
        refused = _medcode("code", "--text", DISCHARGE, *args)
        assert refused.returncode == 2
        assert refused.stdout == ""
        assert len(refused.stderr.splitlines()) == 1
        assert message in refused.stderr


def test_fy2026_codes_with_a_letter_second_are_grouped(coder: Coder) -> None:
    """QA0.8 (FY2026's new neurodevelopmental chapter) is an ICD-10-CM code like any other."""
    patient = Patient(age=7, sex="M")
    claim = coder.claims.grouper.claim(["QA0.8"], setting="outpatient", patient=patient)
    assert [line.code for line in claim.lines] == ["QA0.8"]
    assert (claim.notes, claim.edits) == ((), ())
