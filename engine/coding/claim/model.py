"""The claim as values: the patient, the lines in order, the MS-DRG (inpatient) or the CMS-HCC
risk score (outpatient), the code conversions and the Medicare Code Editor's edits. `to_json`
is the result's `claim` key; the edits also go into the result's `edits`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medcode.engine.coding.errors import InputError
from medcode.engine.result import Edit

from .fiscal import Conversion, Period, parse_date, period, tables

SEXES = ("F", "M")
# The oldest age the MCE accepts; an older one is a typing error, not a patient.
MAX_AGE = 124
POA_INDICATORS = ("Y", "N", "U", "W", "exempt")


@dataclass(frozen=True, slots=True)
class Patient:
    """Age in years, sex F/M, the CMS discharge status code (1: home), each unknown as None
    (the discharge status defaults to 1) and where each came from ("given", "note",
    "default"...), for the trace. Invalid values are an InputError with one line."""

    age: int | None = None
    sex: str | None = None
    discharge_status: int = 1
    age_source: str | None = None
    sex_source: str | None = None
    discharge_status_source: str | None = None

    def __post_init__(self) -> None:
        if self.age is not None:
            if isinstance(self.age, bool) or not isinstance(self.age, int):
                raise InputError(f"age {self.age!r} is not a whole number of years")
            if not 0 <= self.age <= MAX_AGE:
                raise InputError(f"age {self.age} is outside 0-{MAX_AGE} years")
        if self.sex is not None and self.sex not in SEXES:
            raise InputError(f"sex {self.sex!r} is not F or M")
        statuses = tables()["discharge_statuses"]
        if (
            isinstance(self.discharge_status, bool)
            or not isinstance(self.discharge_status, int)
            or self.discharge_status not in statuses
        ):
            raise InputError(
                f"discharge status {self.discharge_status!r} is not a CMS patient discharge "
                f"status code ({', '.join(str(s) for s in statuses)})"
            )

    @classmethod
    def parse(
        cls,
        age: int | str | None = None,
        sex: str | None = None,
        discharge_status: int | str | None = None,
        source: str = "given",
    ) -> Patient:
        """A patient from user input (CLI, REST): sex in either case, numbers as text."""
        status = _number(discharge_status, "discharge status")
        return cls(
            age=_number(age, "age"),
            sex=sex.strip().upper() if isinstance(sex, str) and sex.strip() else None,
            discharge_status=1 if status is None else status,
            age_source=source if age is not None else None,
            sex_source=source if sex else None,
            discharge_status_source=source if discharge_status is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "age": self.age,
            "sex": self.sex,
            "discharge_status": self.discharge_status,
            "sources": {
                "age": self.age_source or ("unknown" if self.age is None else "given"),
                "sex": self.sex_source or ("unknown" if self.sex is None else "given"),
                "discharge_status": self.discharge_status_source or "default",
            },
        }


def coder_options(
    age: Any = None, sex: Any = None, discharge_status: Any = None, date: Any = None
) -> dict[str, Any]:
    """`Coder.code`'s age, sex, discharge_status and date from user input (command line
    strings, JSONL values), each checked: an InputError with one line for the first that is
    not valid (a date outside the grouper's years included)."""
    patient = Patient.parse(age, sex, discharge_status)
    day = parse_date(date if date is None else str(date))
    if day is not None:
        period(day)
    return {
        "age": patient.age,
        "sex": patient.sex,
        "discharge_status": None if discharge_status is None else patient.discharge_status,
        "date": day,
    }


def _number(value: int | str | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InputError(f"{name} {value!r} is not a whole number") from None


@dataclass(frozen=True, slots=True)
class Hac:
    """A hospital-acquired condition category the grouper found on a line."""

    number: int
    description: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"hac": self.number, "description": self.description, "status": self.status}


@dataclass(frozen=True, slots=True)
class Line:
    """A diagnosis of the claim: `role` principal (inpatient), first-listed (outpatient) or
    secondary; inpatient its CC/MCC status (None for the principal), whether the grouper
    excluded it as a CC, whether it decided the DRG, its POA indicator and HACs; outpatient the
    HCCs it maps to; `converted` the code given to the grouper when the fiscal year differs."""

    code: str
    role: str
    cc_mcc: str | None = None
    cc_excluded: bool = False
    drg_impact: bool = False
    poa: str | None = None
    hacs: tuple[Hac, ...] = ()
    hccs: tuple[str, ...] = ()
    converted: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "role": self.role,
            "cc_mcc": self.cc_mcc,
            "cc_excluded": self.cc_excluded,
            "drg_impact": self.drg_impact,
            "poa": self.poa,
            "hacs": [h.to_json() for h in self.hacs],
            "hccs": list(self.hccs),
            "converted": self.converted,
        }


@dataclass(frozen=True, slots=True)
class Drg:
    """The MS-DRG of an inpatient claim (after the HAC logic) and its MDC; `severity` the
    secondary diagnoses' CC/MCC level that decided it (MCC, CC or NONE); `initial_drg` the DRG
    before the HAC logic."""

    drg: int | None
    description: str
    mdc: int | None
    mdc_description: str
    severity: str
    initial_drg: int | None
    return_code: str

    def to_json(self) -> dict[str, Any]:
        return {
            "drg": self.drg,
            "description": self.description,
            "mdc": self.mdc,
            "mdc_description": self.mdc_description,
            "severity": self.severity,
            "initial_drg": self.initial_drg,
            "return_code": self.return_code,
        }


@dataclass(frozen=True, slots=True)
class Hcc:
    """A payment HCC of the claim (after hierarchies) and the codes that map to it."""

    hcc: str
    label: str
    coefficient: float
    codes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "hcc": self.hcc,
            "label": self.label,
            "coefficient": self.coefficient,
            "codes": list(self.codes),
        }


@dataclass(frozen=True, slots=True)
class RiskScore:
    """The CMS-HCC risk score (RAF) of an outpatient claim: `demographic` the part of age,
    sex and eligibility (`category`, e.g. F65_69), `hcc_part` that of the HCCs and their
    interactions; `assumed` the demographics not known and taken at hccinfhir's defaults."""

    model: str
    payment_year: int
    hccs: tuple[Hcc, ...]
    risk_score: float
    demographic: float
    hcc_part: float
    category: str
    assumed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "payment_year": self.payment_year,
            "hccs": [h.to_json() for h in self.hccs],
            "risk_score": self.risk_score,
            "demographic": self.demographic,
            "hcc_part": self.hcc_part,
            "category": self.category,
            "assumed": list(self.assumed),
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A coded encounter as a payer sees it. `notes` say what could not be done (an invalid
    code, the claims extra missing), one line each."""

    setting: str
    period: Period
    patient: Patient
    lines: tuple[Line, ...]
    drg: Drg | None = None
    hcc: RiskScore | None = None
    conversions: tuple[Conversion, ...] = ()
    edits: tuple[Edit, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(line.code for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            **self.period.to_json(),
            "patient": self.patient.to_json(),
            "lines": [line.to_json() for line in self.lines],
            "drg": self.drg.to_json() if self.drg else None,
            "hcc": self.hcc.to_json() if self.hcc else None,
            "conversions": [c.to_json() for c in self.conversions],
            "edits": [e.to_json() for e in self.edits],
            "notes": list(self.notes),
        }
