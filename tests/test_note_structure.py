"""Real notes as written: wrapped lines, inline and SOAP headers, notes flattened to one line,
and the context a coder reads (differentials, review of systems, risks, other people, scope)."""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.engine.reading import build_pipeline
from medcode.terminology import CodeSet


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def coded(coder: Coder, text: str, setting: str = "outpatient") -> list[str]:
    return [c.code for c in coder.code(text, setting=setting).codes]


def excluded(coder: Coder, text: str, setting: str = "outpatient") -> dict[str, str]:
    return {e.code: e.reason for e in coder.code(text, setting=setting).excluded}


def test_a_denial_wrapped_across_lines_still_negates(coder: Coder) -> None:
    text = (
        "HPI: Cough for three days. He denies chest pain, palpitations,\n"
        "headache, or weight loss.\nAssessment: Acute bronchitis."
    )
    assert coded(coder, text) == ["J20.9"]
    assert excluded(coder, text)["R51.9"] == "A negated condition is not coded (I.A; IV.A)"


def test_uncertainty_wrapped_across_lines_is_kept(coder: Coder) -> None:
    text = "Assessment: Possible\nosteoarthritis of the right knee."
    assert coded(coder, text) == []
    assert "uncertain" in excluded(coder, text)["M17.11"]


def test_a_line_in_capitals_after_a_list_line_starts_a_sentence(codeset: CodeSet) -> None:
    doc = build_pipeline()("Assessment:\nCOPD\nHTN\n\nPlan: follow up in\nclinic.")
    assert [s.text.strip() for s in doc.sents if s.text.strip()] == [
        "Assessment:",
        "COPD",
        "HTN",
        "Plan:",
        "follow up in\nclinic.",
    ]


def test_headers_of_a_note_flattened_to_one_line(codeset: CodeSet) -> None:
    text = (
        "ADMISSION DIAGNOSIS:,  Morbid obesity.,DISCHARGE DIAGNOSIS: , Morbid obesity.,"
        "HISTORY OF PRESENT ILLNESS: , She has had obesity for years.,ALLERGIES:,  Penicillin."
    )
    doc = build_pipeline()(text)
    assert [(s.category, doc[s.title_start : s.title_end].text) for s in doc._.sections] == [
        ("admission_diagnoses", "ADMISSION DIAGNOSIS:"),
        ("discharge_diagnoses", "DISCHARGE DIAGNOSIS:"),
        ("history_of_present_illness", "HISTORY OF PRESENT ILLNESS:"),
        ("allergies", "ALLERGIES:"),
    ]


def test_headers_inline_after_a_full_stop(coder: Coder) -> None:
    text = "Assessment: Hypertension. Family History: none. Social History: smoker."
    assert coded(coder, text) == ["I10", "F17.200"]


def test_soap_headers_are_sections(codeset: CodeSet) -> None:
    doc = build_pipeline()(
        "Subjective: Cough for 3 days.\nObjective: Lungs with rhonchi.\nAssessment: Bronchitis."
    )
    assert [s.category for s in doc._.sections] == [
        "history_of_present_illness",
        "physical_exam",
        "assessment",
    ]


def test_the_hpi_header_is_no_history_cue(coder: Coder) -> None:
    text = "HISTORY OF PRESENT ILLNESS:,  The patient has breast cancer, on tamoxifen."
    assert coded(coder, text) == ["C50.919", "Z79.810"]


def test_differential_diagnoses_are_not_coded_outpatient(coder: Coder) -> None:
    text = "Assessment: Cough. Differential diagnosis includes pneumonia, bronchitis or asthma."
    assert coded(coder, text) == ["R05.9"]
    assert sorted(excluded(coder, text)) == ["J18.9", "J40", "J45.909"]


def test_consider_a_or_b_is_uncertain(coder: Coder) -> None:
    assert coded(coder, "Assessment: Chest pain, consider GERD.") == ["R07.9"]


def test_a_positive_review_of_systems_list_is_not_coded(coder: Coder) -> None:
    text = (
        "Review of Systems: Positive for headache, fatigue and nausea.\nAssessment: Hypertension."
    )
    assert coded(coder, text) == ["I10"]


def test_side_effects_explained_are_not_coded(coder: Coder) -> None:
    text = (
        "Assessment: Diffuse large B-cell lymphoma.\n"
        "Plan: chemotherapy; toxicities would include fatigue, nausea and neuropathy."
    )
    assert not {"R53.83", "R11.0", "G62.9"} & set(coded(coder, text))


def test_another_persons_condition_is_not_the_patients(coder: Coder) -> None:
    text = "HPI: Needlestick at work. The source patient is a carrier of hepatitis C."
    assert "B19.20" not in coded(coder, text)
    assert excluded(coder, text)["B19.20"].startswith("Another person's condition")


def test_a_modifier_belongs_to_its_own_condition(coder: Coder) -> None:
    assert coded(coder, "Assessment: COPD and atrial fibrillation.") == ["J44.9", "I48.91"]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Assessment: Stage III chronic kidney disease.", ["N18.30"]),
        ("Assessment: Chronic kidney disease stage IV.", ["N18.4"]),
        ("Assessment: Type II diabetes mellitus.", ["E11.9"]),
    ],
)
def test_roman_numerals_count(coder: Coder, text: str, codes: list[str]) -> None:
    assert coded(coder, text) == codes


def test_a_negated_hypertension_makes_no_hypertensive_heart_disease(coder: Coder) -> None:
    assert coded(coder, "Assessment: Heart failure. No hypertension.") == ["I50.9"]


def test_the_medication_and_allergy_lists_give_status_codes(coder: Coder) -> None:
    text = (
        "Assessment: Type 2 diabetes mellitus.\n"
        "Medications: Metformin 500 mg b.i.d., aspirin 81 mg daily, Levaquin x5 days.\n"
        "Allergies: Penicillin, sulfa."
    )
    # an antibiotic course on the list is no long-term therapy
    assert coded(coder, text) == ["E11.9", "Z79.84", "Z79.82", "Z88.0", "Z88.2"]


def test_the_first_listed_code_says_why_and_names_the_runner_up(coder: Coder) -> None:
    text = "Reason for admission: chest pain.\nDischarge Diagnoses: 1. Pneumonia. 2. Hypertension."
    first = coder.code(text, setting="inpatient").codes[0]
    assert (first.code, [s for s in first.trace if s["step"] == "first-listed"]) == (
        "J18.9",
        [
            {
                "step": "first-listed",
                "guideline": "II",
                "why": 'the first condition documented in discharge_diagnoses "Pneumonia"',
                "runner_up": "I10",
            }
        ],
    )


@pytest.mark.parametrize(
    ("text", "setting", "reason"),
    [
        (
            "DISCHARGE DIAGNOSIS:,  Pneumonia.,HOSPITAL COURSE:,  Treated with antibiotics.",
            "inpatient",
            "auto: discharge summary: section discharge_diagnoses, section hospital_course",
        ),
        (
            "CHIEF COMPLAINT:,  Cough.,ASSESSMENT:,  Acute bronchitis.",
            "outpatient",
            "auto: office or clinic note",
        ),
        (
            "REASON FOR CONSULTATION:,  Hematuria.,IMPRESSION:,  Hematuria.",
            "outpatient",
            'auto: consultation: "CONSULTATION", "REASON FOR CONSULT"',
        ),
    ],
)
def test_the_setting_is_read_from_the_kind_of_document(
    coder: Coder, text: str, setting: str, reason: str
) -> None:
    result = coder.code(text)
    assert (result.setting, result.setting_reason) == (setting, reason)


def test_a_short_course_on_the_medication_list_is_no_long_term_therapy(coder: Coder) -> None:
    text = (
        "Assessment: COPD exacerbation.\n"
        "Medications: Prednisone taper, Lovenox x14 days, Advair 250/50 one puff b.i.d., "
        "aspirin 81 mg daily."
    )
    assert coded(coder, text) == ["J44.1", "Z79.51", "Z79.82"]
