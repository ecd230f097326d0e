"""The Python API, `import medcode` (docs/API.md): the Coder, `medcode.code`, `pipe`,
demographics, and the readings of a result (DataFrame, FHIR, HTML)."""

from __future__ import annotations

import datetime
import pickle
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import medcode
from medcode.engine.result import CodingResult

ROOT = Path(__file__).resolve().parents[1]
BPH = "Assessment: benign prostatic hyperplasia. Patient denies pneumonia."
NOTES = [
    BPH,
    "Assessment: type 2 diabetes mellitus with diabetic chronic kidney disease stage 3a.",
    "Discharge diagnoses: possible pneumonia.",
]


@pytest.fixture(scope="module")
def coder() -> medcode.Coder:
    return medcode.Coder()


def test_import_is_cheap_and_versioned() -> None:
    # spaCy and the code set load when a Coder is built, not at `import medcode`
    script = "import sys, medcode; print(medcode.__version__, 'spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert out.stdout.split() == [version("medcode"), "False"]


def test_code_reports_the_codes_in_sequence_with_their_evidence(coder: medcode.Coder) -> None:
    result = coder.code(BPH, setting="outpatient")
    assert isinstance(result, medcode.Result) and isinstance(result, CodingResult)
    assert [(c.sequence, c.code, c.confidence) for c in result.codes] == [(1, "N40.0", "high")]
    assert [(e.start, e.end, e.text) for e in result.codes[0].evidence] == [
        (12, 40, "benign prostatic hyperplasia")
    ]
    assert [(e.code, e.evidence[0].assertion) for e in result.excluded] == [("J18.9", "negated")]
    assert result.edits == ()
    assert "text" not in result.to_json()  # the note (PHI) is never serialised


def test_sex_reaches_the_rule_packs(coder: medcode.Coder) -> None:
    result = coder.code(BPH, setting="outpatient", sex="F", age=40)
    assert [e.to_json() for e in result.edits] == [
        {
            "rule": "sex-male-code-for-female",
            "severity": "error",
            "codes": ["N40.0"],
            "message": "N40.0 (Benign prostatic hyperplasia without lower urinary tract "
            "symptoms) is for male patients only; the patient is female",
            "source": "rules/demographics.rules:13",
        }
    ]
    assert coder.code(BPH, setting="outpatient", sex="M").edits == ()


def test_age_reaches_the_rule_packs(coder: medcode.Coder) -> None:
    note = "Assessment: obesity. BMI 32.0, adult."
    result = coder.code(note, setting="outpatient", age=15)
    assert [c.code for c in result.codes] == ["E66.9", "Z68.32"]
    assert [e.to_json() for e in result.edits] == [
        {
            "rule": "age-adult-bmi",
            "severity": "error",
            "codes": ["Z68.32"],
            "message": "Z68.32 is an adult BMI code, for persons 20 years of age or older; "
            "use Z68.5-",
            "source": "rules/demographics.rules:23",
        }
    ]
    assert coder.code(note, setting="outpatient", age=40).edits == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sex": "female"}, "sex 'female' is not F or M"),
        ({"age": -1}, "age -1 is outside 0-124 years"),
        ({"age": 4.5}, "age 4.5 is not a whole number of years"),
        ({"age": 125}, "age 125 is outside 0-124 years"),
        (
            {"date": datetime.date(1999, 1, 1)},
            "date 1999-01-01 is outside the supported fiscal years (2022-10-01 to 2027-03-31, "
            "MS-DRG v400-v440)",
        ),
    ],
)
def test_bad_demographics_are_input_errors(coder: medcode.Coder, options, message) -> None:
    with pytest.raises(ValueError) as raised:
        coder.code(BPH, **options)
    assert str(raised.value) == message


def test_module_level_code_uses_one_shared_coder() -> None:
    result = medcode.code(BPH, setting="outpatient", sex="F")
    assert [c.code for c in result.codes] == ["N40.0"]
    assert [e.rule for e in result.edits] == ["sex-male-code-for-female"]
    assert medcode.default_coder() is medcode.default_coder()


def test_pipe_equals_code_in_input_order(coder: medcode.Coder) -> None:
    expected = [coder.code(t, document=str(n), sex="F") for n, t in enumerate(NOTES, 1)]
    assert list(coder.pipe(iter(NOTES), sex="F")) == expected
    # two spawned workers, one note per task: order and values survive the round trip
    assert list(coder.pipe(NOTES, sex="F", n_process=2, batch_size=1)) == expected


def test_pipe_rejects_no_workers(coder: medcode.Coder) -> None:
    with pytest.raises(ValueError):
        list(coder.pipe(NOTES, n_process=0))


def test_result_pickles(coder: medcode.Coder) -> None:
    result = coder.code(BPH)
    assert pickle.loads(pickle.dumps(result)) == result


def test_to_dataframe_has_one_row_per_evidence(coder: medcode.Coder) -> None:
    pytest.importorskip("pandas")
    frame = coder.code(BPH, document="note-1", setting="outpatient").to_dataframe()
    assert frame.to_dict("records") == [
        {
            "document": "note-1",
            "sequence": 1,
            "code": "N40.0",
            "description": "Benign prostatic hyperplasia without lower urinary tract symptoms",
            "confidence": "high",
            "evidence_start": 12,
            "evidence_end": 40,
            "evidence_text": "benign prostatic hyperplasia",
        }
    ]


def test_to_dataframe_without_pandas_names_the_extra(
    coder: medcode.Coder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(ImportError) as raised:
        coder.code(BPH).to_dataframe()
    assert str(raised.value) == "Result.to_dataframe needs pandas: pip install 'medcode[dataframe]'"


def test_to_fhir_is_the_bundle_of_the_fhir_output(coder: medcode.Coder) -> None:
    from medcode.engine.interfaces.fhir import FhirNote, to_bundle

    result = coder.code(BPH, document="note-1", setting="outpatient", sex="F")
    subject = {"reference": "Patient/p1"}
    bundle = result.to_fhir(subject=subject, recorded="2026-01-02T03:04:05Z")
    note = FhirNote("note-1", BPH, {"display": "note-1"}, subject, None)
    assert bundle == to_bundle([(note, result)], "2026-01-02T03:04:05Z")
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Condition", "Condition", "OperationOutcome", "Provenance"]
    assert bundle["entry"][0]["resource"]["code"]["coding"][0]["code"] == "N40.0"


def test_to_html_marks_the_evidence(coder: medcode.Coder) -> None:
    result = coder.code(BPH, setting="outpatient")
    page = result.to_html()
    assert page.startswith("<!DOCTYPE html>")
    section = result.to_html(page=False)
    assert section.startswith('<section class="document" id="d1">') and section in page
    assert 'data-start="12" data-end="40"' in section
    assert "Pneumonia, unspecified organism" in section  # the excluded code's title


def test_api_docs_are_generated_from_the_docstrings() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "api_docs.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (ROOT / "docs" / "API.md").read_text(encoding="utf-8") == generated
