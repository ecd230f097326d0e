"""Present-on-admission indicators decided from the note (engine/coding/claim/poa.py), after
Appendix I of the ICD-10-CM Official Guidelines."""

from __future__ import annotations

import pytest

from medcode.engine.coding.claim.poa import Cue, PoaDecision, decide_poa, exemption, is_chronic
from medcode.engine.result import CodedCode, Evidence

UNKNOWN = (
    "the note does not say whether it was present on admission (documentation insufficient; "
    "query the provider)"
)


def coded(code: str, text: str, words: str, section: str | None = None, title: str = ""):
    """A code whose evidence is the first `words` of `text`."""
    start = text.index(words)
    evidence = Evidence(start, start + len(words), words, section, "present")
    return CodedCode(code, title, 1, "high", (evidence,), ())


def without_evidence(code: str, title: str = "") -> CodedCode:
    return CodedCode(code, title, 1, "high", (), ())


STAY = (
    "The patient presented with community-acquired pneumonia. On hospital day 3 she developed "
    "a urinary tract infection. She fell in the hospital on day 4 and fractured her wrist. The "
    "stage 2 pressure ulcer of the sacrum was not present on admission. Unable to determine "
    "whether the deep vein thrombosis was present on admission. Hypokalemia was treated."
)


def test_each_indicator_with_its_reason_and_words() -> None:
    codes = [
        coded("J18.9", STAY, "pneumonia"),
        coded("N39.0", STAY, "urinary tract infection"),
        coded("S62.101A", STAY, "fractured her wrist"),
        coded("L89.152", STAY, "pressure ulcer"),
        coded("I82.409", STAY, "deep vein thrombosis"),
        coded("E87.6", STAY, "Hypokalemia"),
        without_evidence("Y92.239"),
    ]
    decided = decide_poa(STAY, codes, "J18.9")
    assert {code: d.indicator for code, d in decided.items()} == {
        "J18.9": "Y",
        "N39.0": "N",
        "S62.101A": "N",
        "L89.152": "N",
        "I82.409": "W",
        "E87.6": "U",
        "Y92.239": "exempt",
    }
    assert decided["J18.9"] == PoaDecision(
        "Y", "the reason for admission: 'presented with'", (Cue(12, 26, "presented with"),)
    )
    assert (
        decided["N39.0"].reason == "it developed after admission: 'On hospital day 3 she developed'"
    )
    assert decided["S62.101A"].reason == "a fall during the stay: 'fell in the hospital'"
    assert decided["L89.152"].reason == (
        "the note says it was not present on admission: 'was not present on admission'"
    )
    assert decided["I82.409"].reason == (
        "the provider cannot clinically determine whether it was present on admission: "
        "'Unable to determine whether the deep vein thrombosis was present on admission'"
    )
    assert decided["E87.6"] == PoaDecision("U", UNKNOWN)
    assert decided["Y92.239"].reason == (
        "exempt from POA reporting (Appendix I: Y92: Place of occurrence of the external cause)"
    )
    cue = decided["N39.0"].evidence[0]
    assert STAY[cue.start : cue.end] == cue.text


def test_the_cue_nearest_the_evidence_decides_within_a_sentence() -> None:
    text = "He presented with chest pain and developed atrial fibrillation on hospital day 2."
    decided = decide_poa(
        text,
        [coded("R07.9", text, "chest pain"), coded("I48.91", text, "atrial fibrillation")],
        None,
    )
    assert (decided["R07.9"].indicator, decided["I48.91"].indicator) == ("Y", "N")


@pytest.mark.parametrize(
    ("text", "words", "indicator", "reason"),
    [
        ("Hospital-acquired pneumonia was treated.", "pneumonia", "N", "hospital-acquired"),
        ("Ileus developed postoperatively.", "Ileus", "N", "it developed after admission"),
        ("She was admitted for sepsis.", "sepsis", "Y", "the reason for admission"),
        ("Hyponatremia noted on admission.", "Hyponatremia", "Y", "present on admission"),
        (
            "Atrial fibrillation in the emergency department.",
            "Atrial fibrillation",
            "Y",
            "present in the emergency department, before the inpatient admission order",
        ),
        (
            "He has known atrial fibrillation.",
            "atrial fibrillation",
            "Y",
            "a known or chronic condition",
        ),
        ("Gout flare prior to admission.", "Gout", "Y", "present before admission"),
    ],
)
def test_cue_phrases(text: str, words: str, indicator: str, reason: str) -> None:
    decision = decide_poa(text, [coded("X00.0", text, words)], None)["X00.0"]
    assert decision.indicator == indicator
    assert decision.reason.startswith(f"{reason}: '")


def test_a_condition_present_on_admission_that_worsened_stays_y() -> None:
    text = (
        "A stage 2 pressure ulcer was present on admission. "
        "On hospital day 4 the pressure ulcer developed into stage 3."
    )
    first = text.index("pressure ulcer")
    second = text.index("pressure ulcer", first + 1)
    code = CodedCode(
        "L89.153",
        "",
        1,
        "high",
        (
            Evidence(first, first + 14, "pressure ulcer", None, "present"),
            Evidence(second, second + 14, "pressure ulcer", None, "present"),
        ),
        (),
    )
    assert decide_poa(text, [code], None)["L89.153"].indicator == "Y"


def test_defaults_principal_section_chronic_unknown() -> None:
    text = "Sepsis. Diabetes. Anemia. Chronic gout. Nausea."
    decided = decide_poa(
        text,
        [
            coded("A41.9", text, "Sepsis"),
            coded(
                "E11.9", text, "Diabetes", title="Type 2 diabetes mellitus without complications"
            ),
            coded("D64.9", text, "Anemia", section="history_of_present_illness"),
            coded(
                "M1A.9XX0",
                text,
                "Chronic gout",
                title="Chronic gout, unspecified, without tophus (tophi)",
            ),
            coded("R11.0", text, "Nausea", section="hospital_course"),
        ],
        "A41.9",
    )
    assert decided["A41.9"] == PoaDecision(
        "Y",
        "principal diagnosis, the reason for admission: present when the inpatient admission "
        "was ordered (default; the note says nothing otherwise)",
    )
    assert decided["E11.9"] == PoaDecision(
        "Y", "chronic condition: present on admission even if diagnosed during the stay"
    )
    assert decided["D64.9"] == PoaDecision(
        "Y",
        "stated in the history of present illness, before admission",
        (Cue(18, 24, "Anemia"),),
    )
    # "Chronic gout" is read as a cue word in its own sentence before any default
    assert decided["M1A.9XX0"].indicator == "Y"
    assert decided["R11.0"] == PoaDecision("U", UNKNOWN)


def test_a_principal_diagnosis_that_developed_after_admission_is_n() -> None:
    text = "He developed pulmonary embolism on hospital day 2."
    assert (
        decide_poa(text, [coded("I26.99", text, "pulmonary embolism")], "I26.99")[
            "I26.99"
        ].indicator
        == "N"
    )


@pytest.mark.parametrize(
    ("code", "entry"),
    [
        (
            "Z37.0",
            "Z36-Z39: Antenatal screening, outcome of delivery, liveborn infants, postpartum care",
        ),
        (
            "Z38.00",
            "Z36-Z39: Antenatal screening, outcome of delivery, liveborn infants, postpartum care",
        ),
        ("O80", "O80: Encounter for full-term uncomplicated delivery"),
        ("B91", "B90-B94: Sequelae of infectious and parasitic diseases"),
        ("I69.351", "I69: Sequelae of cerebrovascular disease"),
        ("Q21.1", "Q00-Q99: Congenital malformations, deformations and chromosomal abnormalities"),
        ("Z3A.32", "Z3A: Weeks of gestation"),
        ("Z68.41", "Z67-Z68: Blood type, body mass index"),
        ("Y93.01", "Y93: Activity codes"),
        ("V43.52XA", "V10-V99: Transport accidents (other than pedestrian)"),
        ("V00.131A", "V00-V09: Pedestrian injured in transport accident"),
        (
            "Z87.891",
            "Z79-Z90: Long-term drug therapy, family and personal history, allergy status, "
            "acquired absence",
        ),
        ("I25.2", "I25.2: Old myocardial infarction"),
    ],
)
def test_exempt_codes(code: str, entry: str) -> None:
    assert exemption(code) == entry


@pytest.mark.parametrize(
    "code", ["W19.XXXA", "W06.XXXA", "V00.811A", "X71.0XXA", "Z78.1", "I25.10", "J18.9", "Z91.2"]
)
def test_codes_that_need_a_poa_indicator(code: str) -> None:
    assert exemption(code) is None


def test_chronic_conditions() -> None:
    assert is_chronic("N18.4")
    assert is_chronic("C34.90")
    assert is_chronic("I50.22", "Chronic systolic (congestive) heart failure")
    assert not is_chronic("I50.23", "Acute on chronic systolic (congestive) heart failure")
    assert not is_chronic("J18.9", "Pneumonia, unspecified organism")
    # dependence is chronic, abuse is not; permanent atrial fibrillation is, paroxysmal is not
    assert is_chronic("F17.210")
    assert not is_chronic("F12.10")
    assert is_chronic("I48.21")
    assert not is_chronic("I48.0")


def test_huge_notes_read_only_the_sentence_around_the_evidence() -> None:
    text = "x " * 5_000_000 + "He presented with sepsis." + " y" * 5_000_000
    decided = decide_poa(text, [coded("A41.9", text, "sepsis")], None)
    assert decided["A41.9"].reason == "the reason for admission: 'presented with'"


def test_a_code_listed_twice_is_decided_once() -> None:
    text = "Admitted with sepsis."
    code = coded("A41.9", text, "sepsis")
    assert list(decide_poa(text, [code, code], "A41.9")) == ["A41.9"]
