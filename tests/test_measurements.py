"""Measurements a note writes as values: the body mass index (I.B.14), the weeks of gestation
(I.C.15.a.3)."""

from __future__ import annotations

import pytest

from medcode.engine.coding.coder import Coder
from medcode.engine.reading.measurements import bmi_code, gestation_code
from medcode.terminology import CodeSet


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (17.5, "Z68.1"),
        (19.99, "Z68.1"),
        (20.0, "Z68.20"),
        (36.4, "Z68.36"),
        (39.9, "Z68.39"),
        (40.0, "Z68.41"),
        (44.9, "Z68.41"),
        (45.0, "Z68.42"),
        (59.9, "Z68.43"),
        (65.0, "Z68.44"),
        (70.0, "Z68.45"),
        (82.0, "Z68.45"),
    ],
)
def test_a_value_falls_in_its_adult_range(codeset: CodeSet, value: float, code: str) -> None:
    assert bmi_code(value) == code
    assert codeset.node(code).billable


@pytest.fixture(scope="module")
def coder(codeset: CodeSet) -> Coder:
    return Coder()


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Assessment: Morbid obesity, BMI 41.2.", ["E66.01", "Z68.41"]),
        ("Assessment: Obesity. Body mass index of 36.4", ["E66.9", "Z68.36"]),
        # a percentile is no adult BMI
        ("Assessment: Obesity, BMI 97th percentile.", ["E66.9"]),
        # without an associated diagnosis the BMI is not coded
        ("Vitals: BMI 24.5.\nAssessment: Essential hypertension.", ["I10"]),
    ],
)
def test_a_bmi_is_coded_with_its_diagnosis(coder: Coder, text: str, codes: list[str]) -> None:
    assert [c.code for c in coder.code(text, setting="outpatient").codes] == codes


@pytest.mark.parametrize(
    ("weeks", "code"), [(5, "Z3A.01"), (8, "Z3A.08"), (32, "Z3A.32"), (44, "Z3A.49")]
)
def test_weeks_of_gestation(codeset: CodeSet, weeks: int, code: str) -> None:
    assert gestation_code(weeks) == code
    assert codeset.node(code).billable


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        # the weeks date the pregnancy codes: the third trimester from 28 weeks (I.C.15.a.3)
        ("Assessment: Gestational hypertension. IUP at 32w3d.", ["O13.3", "Z3A.32"]),
        ("Gestational hypertension, 32 weeks 3 days gestation.", ["O13.3", "Z3A.32"]),
        ("Gestational hypertension. Pregnant, 39 wks GA.", ["O13.3", "Z3A.39"]),
        ("Gestational hypertension. Pregnant, 20 wks GA.", ["O13.2", "Z3A.20"]),
        # weeks that date no pregnancy of this record, or no gestation at all
        ("History: born at 34 weeks gestation.\nAssessment: Asthma.", ["J45.909"]),
        ("Assessment: Low back pain for 3 weeks.", ["M54.50"]),
    ],
)
def test_weeks_of_gestation_are_coded_on_a_pregnancy_record(
    coder: Coder, text: str, codes: list[str]
) -> None:
    assert [c.code for c in coder.code(text, setting="outpatient").codes] == codes
