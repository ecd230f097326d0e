"""The patient's age, sex and discharge status read from the note, with the words they were
read from (engine/reading/demographics.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from medcode.engine.reading.demographics import Statement, read_demographics

MTSAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mtsamples"


@pytest.mark.parametrize(
    ("text", "age", "sex", "words"),
    [
        ("HPI: The patient is a 72-year-old male with CHF.", 72, "M", "72-year-old male"),
        ("72 y/o M with chest pain.", 72, "M", "72 y/o M"),
        ("This is a 45-year-old woman here for follow-up.", 45, "F", "45-year-old woman"),
        ("This 3-month-old female infant presents with fever.", 0, "F", "3-month-old female"),
        ("A 17 yo gentleman presents.", 17, "M", "17 yo gentleman"),
        ("Age: 54  Sex: Female\nHPI: knee pain.", 54, "F", "Age: 54  Sex: Female"),
        ("An 88-year-old gravida 2 para 2 with bleeding.", 88, "F", "88-year-old gravida"),
        ("HX: This 31 y/o RHF had headaches.", 31, "F", "31 y/o RHF"),
        ("64 YOF with fever.", 64, "F", "64 YOF"),
        ("The patient is a 3-1/2-year-old boy with otitis.", 3, "M", "3-1/2-year-old boy"),
        ("The patient is a one-year-old girl.", 1, "F", "one-year-old girl"),
        ("This 10-and-4/12-year-old female has", 10, "F", "10-and-4/12-year-old female"),
    ],
)
def test_age_and_sex_of_the_opening_statement(text: str, age: int, sex: str, words: str) -> None:
    read = read_demographics(text)
    assert (read.age, read.sex) == (age, sex)
    assert read.sex_evidence is not None
    assert read.sex_evidence.text == words
    assert text[read.sex_evidence.start : read.sex_evidence.end] == words
    assert read.source("sex") == f"note: '{words}'"
    assert read.source("age") == f"note: '{words}'"


def test_the_age_without_a_sex_word_leaves_the_sex_unknown() -> None:
    read = read_demographics("HPI: the patient is a 60-year-old who fell at home.")
    assert (read.age, read.sex) == (60, None)
    assert read.age_evidence == Statement(22, 33, "60-year-old")
    assert read.source("age") == "note: '60-year-old'"
    assert read.source("sex") is None
    # "child" is the patient here; "her 4-year-old child" is not
    assert read_demographics("The patient is a 15-year-old child with otitis.").age == 15
    assert read_demographics("Her 4-year-old child has a cold.").age is None


@pytest.mark.parametrize(
    "text",
    [
        "His 80-year-old mother has dementia.",
        "Father died at age 62 of a myocardial infarction.",
        "She has a 12-year-old son at home.",
        "Asthma was diagnosed at age 12.",
        "Seizures began when she was 5 years old.",
        "It affects people ages 20-60, female gender 3:1.",
    ],
)
def test_ages_of_relatives_and_of_past_events_are_not_the_patients(text: str) -> None:
    assert read_demographics(text).age is None


def test_the_first_statement_about_the_patient_after_a_relatives_age() -> None:
    read = read_demographics("His 80-year-old mother is here. He is a 50-year-old man.")
    assert (read.age, read.sex, read.sex_evidence.text) == (50, "M", "50-year-old man")


def test_a_note_without_demographics_reads_none() -> None:
    read = read_demographics("EXAM: Chest x-ray. FINDINGS: Clear lungs. IMPRESSION: Normal.")
    assert (read.age, read.sex, read.discharge_status) == (None, None, None)
    assert read.to_json() == {
        "age": None,
        "sex": None,
        "discharge_status": None,
        "evidence": {"age": None, "sex": None, "discharge_status": None},
    }


def test_titles_and_pronouns_are_weak_evidence_after_stated_sex() -> None:
    title = read_demographics("Mrs. Jones has MS and returns for follow-up.")
    assert title.sex == "F"
    assert title.sex_evidence == Statement(0, 4, "Mrs.", "weak: title")
    assert title.source("sex") == "note (weak: title): 'Mrs.'"
    # "MS" the disease is no title; pronouns decide only with a clear majority
    pronouns = read_demographics("He has MS. He takes his medicines. He is tired.")
    assert pronouns.sex == "M"
    assert pronouns.sex_evidence.strength == "weak: pronouns"
    assert read_demographics("He said she was tired.").sex is None
    # a stated sex outranks a title
    stated = read_demographics("Mr. Smith is a 40-year-old woman.")
    assert (stated.sex, stated.sex_evidence.strength) == ("F", "stated")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("The patient was discharged home in stable condition.", 1),
        ("DISPOSITION: ,Home.", 1),
        ("She was discharged home with home health services.", 6),
        ("She was discharged to a skilled nursing facility.", 3),
        ("He was discharged to subacute rehab.", 3),
        ("He was discharged to an inpatient rehabilitation facility.", 62),
        ("The patient expired on 03/12 at 04:10.", 20),
        ("He was pronounced dead at 04:10.", 20),
        ("He left against medical advice.", 7),
        ("He was transferred to another acute care hospital for PCI.", 2),
        ("Discharged home with hospice.", 50),
        ("Discharged to hospice.", 51),
        ("Discharged to a long-term acute care hospital.", 63),
    ],
)
def test_discharge_status_from_the_discharge_sentence(text: str, status: int) -> None:
    read = read_demographics(text)
    assert read.discharge_status == status
    assert read.discharge_evidence.text == text.strip(" ,:")


@pytest.mark.parametrize(
    "text",
    [
        "Discharge instructions: diet as tolerated. Nipple discharge was noted.",
        "He was recently discharged from another hospital to a nursing home.",
        "His mother and father have both expired.",
        "He was transferred to our hospital from an outside facility.",
        "He was transferred over to his hospital bed.",
        "She is requesting to be discharged home.",
    ],
)
def test_no_discharge_of_this_stay_is_unknown(text: str) -> None:
    assert read_demographics(text).discharge_status is None


def test_the_last_discharge_statement_wins() -> None:
    text = "Admitted from home. He was discharged to a skilled nursing facility."
    assert read_demographics(text).discharge_status == 3


def test_huge_notes_read_age_and_sex_from_the_opening_only() -> None:
    opening = "The patient is a 72-year-old male. "
    filler = "He walked the hallway and then rested in bed. " * 200_000  # ~9 MB
    read = read_demographics(opening + filler + "Her 40-year-old daughter visited.")
    assert (read.age, read.sex) == (72, "M")
    # an age past the opening is not read at all
    late = read_demographics("x" * 9_000 + " A 45-year-old woman.")
    assert late.age is None


@pytest.mark.skipif(not MTSAMPLES.exists(), reason="../shared/data/mtsamples not present")
def test_mtsamples_discharge_summaries_state_age_and_sex() -> None:
    with (MTSAMPLES / "mtsamples.csv").open(encoding="utf-8") as handle:
        notes = [
            row["transcription"]
            for row in csv.DictReader(handle)
            if "discharge summary" in row["sample_name"].lower() and row["transcription"]
        ]
    read = [read_demographics(n) for n in notes]
    assert len(notes) == 185
    assert sum(r.age is not None for r in read) == 138
    assert sum(r.sex is not None for r in read) == 175
    assert sum(r.discharge_status is not None for r in read) == 81
