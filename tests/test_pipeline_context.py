"""Context, sections and history: what a coder reads around a diagnosis."""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.terminology import CodeSet


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


def codes(coder: Coder, text: str, setting: str = "outpatient") -> list[str]:
    """The codes the note's own mentions lead to (rule packs may add others), sorted."""
    result = coder.code(text, setting=setting)
    return sorted(c.code for c in result.codes if c.trace[0]["step"] == "match")


@pytest.mark.parametrize(
    ("text", "setting", "expected"),
    [
        # hypothetical triggers after the condition
        (
            "Hospital Course: Enoxaparin for DVT prophylaxis.\nDischarge Diagnoses: CAP.",
            "inpatient",
            ["J18.9"],
        ),
        (
            "Assessment: T2DM.\nPlan: reviewed how to treat hypoglycemia if it occurs.",
            "outpatient",
            ["E11.9"],
        ),
        # a status's words are no complication: "oral" antidiabetics is not E11.63-
        (
            "Assessment: Type 2 diabetes mellitus treated with oral antidiabetics.",
            "outpatient",
            ["E11.9", "Z79.84"],
        ),
        # "never" negates what follows it in the sentence
        (
            "HPI: Treated with urinary antiseptics, never demonstrated urolithiasis. "
            "Never smoker.\nAssessment: Cystitis.",
            "outpatient",
            ["N30.90"],
        ),
        # a relative's possessive is family history
        ("Assessment: Prediabetes, given father's diabetes.", "outpatient", ["R73.03", "Z83.3"]),
        # resolved during the stay is coded; resolved before the visit is history
        (
            "Discharge Diagnoses:\n1. UTI\n2. Acute kidney injury, resolved",
            "inpatient",
            ["N17.9", "N39.0"],
        ),
        ("Assessment: Pneumonia, resolved.", "outpatient", ["Z87.01"]),
        ("Assessment: Pneumonia, resolving.", "outpatient", ["J18.9"]),
        # words under a negation do not make a code specific
        (
            "Discharge Diagnoses: Acute appendicitis, no perforation or abscess.",
            "inpatient",
            ["K35.80"],
        ),
        # "both" is bilateral
        ("Assessment: Carpal tunnel syndrome of both wrists.", "outpatient", ["G56.03"]),
        # an age is no past, nor is the length of the present illness
        ("A 37-year-old man with fever and weight loss.", "inpatient", ["R50.9", "R63.4"]),
        (
            "She presented with a two-month history of malaise and weight loss.",
            "inpatient",
            ["R53.81", "R63.4"],
        ),
        # a scope ends at a terminating word: the complaint, "but"
        ("History of asthma, presented with fever.", "inpatient", ["J45.909", "R50.9"]),
        ("No fever but productive cough.", "inpatient", ["R05.9"]),
        # ...yet "consistent with" carries the negation on
        ("No findings consistent with pneumonia.", "inpatient", []),
        # "without" and a trailing "negative" qualify one item of a list
        (
            "PMH: DM2 without retinopathy, HTN, hypothyroidism.",
            "outpatient",
            ["E03.9", "E11.9", "I10"],
        ),
        (
            "Assessment: invasive ductal carcinoma of left breast, ER positive, HER2 negative.",
            "outpatient",
            ["C50.912", "Z17.0", "Z17.32"],
        ),
        # a vaccine names the disease it prevents; "FH" is family history
        ("Tetanus up to date. Dog is vaccinated against rabies.", "outpatient", []),
        ("Hep A vaccine given today.", "outpatient", ["Z23"]),
        ("Assessment: FH colon cancer.", "outpatient", ["Z80.0"]),
        # "hr" is hours, not the HR+ of Z17.41; "growth" is no neoplasm
        ("Symptoms started 2 hr ago. Exam: growth and development normal.", "outpatient", []),
        # the type the sentence names; the 2 of "DM2" is no obesity class
        ("Assessment: DKA in type 1 DM.", "inpatient", ["E10.10"]),
        ("PMH: DM2, obesity.", "outpatient", ["E11.9", "E66.9"]),
        # "with" what a sibling says "without"
        ("Assessment: annual physical exam with abnormal findings.", "outpatient", ["Z00.01"]),
        # the side the note names; a site read as its region; the default severity
        ("HPI: primary open-angle glaucoma both eyes, moderate stage.", "outpatient", ["H40.1132"]),
        ("Assessment: cellulitis of left foot.", "outpatient", ["L03.116"]),
        ("Discharge diagnoses: primary osteoarthritis of bilateral knees.", "inpatient", ["M17.0"]),
        # a past year is history, and no evidence for the COVID-19 codes
        (
            "HPI: paraplegia from T10 spinal cord injury in 2015.\n"
            "Assessment: complete paraplegia.",
            "outpatient",
            ["G82.21"],
        ),
        ("Pneumonia in 2019.", "outpatient", ["Z87.01"]),
    ],
)
def test_context_decides_what_is_coded(
    coder: Coder, text: str, setting: str, expected: list[str]
) -> None:
    assert codes(coder, text, setting) == expected


def test_past_history_list_codes_chronic_conditions_and_history_codes(coder: Coder) -> None:
    text = "Past Medical History: HTN, T2DM, GERD.\nAssessment: Acute bronchitis."
    assert codes(coder, text) == ["E11.9", "I10", "J20.9", "K21.9"]
    text = (
        "Past Medical History: history of DVT, prior MI, former smoker.\n"
        "Assessment: Acute bronchitis."
    )
    assert codes(coder, text) == ["I25.2", "J20.9", "Z86.718", "Z87.891"]


def test_past_injury_is_not_coded_as_current(coder: Coder) -> None:
    text = "Past Medical History: right wrist fracture.\nAssessment: Acute bronchitis."
    assert codes(coder, text) == ["J20.9"]


def test_counseling_is_coded_only_as_the_reason_for_the_visit(coder: Coder) -> None:
    assert codes(coder, "Assessment: Hyperlipidemia - diet counseling.") == ["E78.5"]
    assert codes(coder, "Reason for visit: dietary counseling.") == ["Z71.3"]
    result = coder.code("Assessment: Hyperlipidemia - diet counseling.", setting="outpatient")
    assert [(e.code, e.reason) for e in result.excluded] == [
        ("Z71.3", "not the reason for the encounter (I.C.21.c.10)")
    ]


def test_less_specific_mention_of_the_same_fracture_folds_into_the_specific_one(
    coder: Coder,
) -> None:
    text = (
        "HPI: 6 weeks after fixation of right femoral neck fracture.\n"
        "Assessment: Right femoral neck fracture, subsequent encounter, routine healing."
    )
    result = coder.code(text, setting="outpatient")
    assert [c.code for c in result.codes] == ["S72.001D"]
    assert [(e.code, e.reason) for e in result.excluded] == [
        ("S72.001A", "documented more specifically as S72.001D")
    ]


@pytest.mark.parametrize(
    ("hpi", "expected"),
    [
        # "history of" a chronic condition: the patient has it
        ("a history of HTN, T2DM and CKD 3a", ["E11.22", "I12.9", "J20.9", "N18.31"]),
        ("a history of AFib", ["I48.91", "J20.9"]),
        # an acute condition of the past: its personal-history code, or nothing
        ("a history of C diff colitis", ["J20.9", "Z86.19"]),
        ("a history of appendicitis", ["J20.9"]),
    ],
)
def test_history_of_a_condition(coder: Coder, hpi: str, expected: list[str]) -> None:
    text = f"HPI: 72-year-old man with {hpi}.\nAssessment: Acute bronchitis."
    assert codes(coder, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # each condition takes the side written on its own side of "and"
        (
            "Double pterygium of left eye and low-tension glaucoma, right eye, indeterminate stage",
            ["H11.032", "H40.1214"],
        ),
        ("Osteoarthritis of right knee and gout of left ankle", ["M10.062", "M17.11"]),
        # a concept still lends its condition words across "with" (E11.22, not E11.9)
        ("Type 2 diabetes with diabetic CKD stage 3a", ["E11.22"]),
    ],
)
def test_two_conditions_of_a_sentence_keep_their_own_words(
    coder: Coder, text: str, expected: list[str]
) -> None:
    assert codes(coder, text, "inpatient") == expected


def test_an_undocumented_severity_is_the_default(coder: Coder) -> None:
    text = "Assessment: type 2 diabetes with diabetic foot ulcer of left heel."
    result = coder.code(text, setting="outpatient")
    # L97.42-: "with unspecified severity", not "limited to breakdown of skin"
    assert [c.code for c in result.codes] == ["E11.621", "L97.429"]


def test_each_context_literal_has_one_rule() -> None:
    # of two rules matching the same words medspaCy keeps one, and which is not defined
    from collections import Counter

    from medcode.engine.reading import context_rules

    counts = Counter(rule.literal.lower() for rule in context_rules())
    assert [literal for literal, n in counts.items() if n > 1] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Assessment: Dog bite of left forearm, initial encounter.", ["S51.852A"]),
        ("On insulin glargine and metformin.", ["Z79.4", "Z79.84"]),
        ("Metformin was discontinued. Stopped warfarin.", []),
        ("Hold lisinopril for hypotension.", ["I95.9"]),
        ("EGD: acute duodenal ulcer with active bleeding.", ["K26.0"]),
        ("Diverticulosis of sigmoid colon.", ["K57.30"]),
        ("Vaccines: Hep A #2 given today.", []),
        ("Assessment: preoperative cardiovascular examination.", ["Z01.810"]),
        ("PMH: CAD s/p PCI.", ["I25.10", "Z98.61"]),
        # template answers and results after the term; "w/o"; short prophylaxis scopes
        ("SH:\nTobacco use: No\nAlcohol use: No\n", []),
        ("ROS: fever (-), chest pain (-), dyspnea (-)", []),
        ("Rapid strep neg. COVID/flu swab neg.", []),
        ("Assessment: MDD, recurrent, severe w/o psychotic features.", ["F33.2"]),
        ("1. Afib - cont apixaban for stroke ppx", ["I48.91", "Z79.01"]),
        ("A/P: 4. Hx breast ca", ["Z85.3"]),
        ("Tobacco use - former, quit 5 yrs ago", ["Z87.891"]),
        # words that name no condition of the patient here; abbreviations
        ("PCP visit. Flu shot given today.", ["Z23"]),
        ("EKG w/ ST depressions", ["R94.31"]),
        ("Gestational DM, diet controlled.", ["O24.410"]),
        ("Closed displaced intertrochanteric fx L femur", ["S72.142A"]),
    ],
)
def test_words_of_real_notes(coder: Coder, text: str, expected: list[str]) -> None:
    assert [c.code for c in coder.code(text, setting="outpatient").codes] == expected
