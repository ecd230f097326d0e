"""A coded note's claim: the patient (given, or read from the note), present-on-admission
indicators, the MS-DRG or risk score, the Medicare Code Editor's edits, and the worth of each
provider query. `ClaimView.apply` turns a CodingResult into the same result with its claim."""

from __future__ import annotations

import datetime
from dataclasses import replace

from medcode.engine.coding.errors import InputError
from medcode.engine.reading.demographics import Demographics, read_demographics
from medcode.engine.result import CodedCode, CodingResult
from medcode.terminology import CodeSet

from .fiscal import tables
from .grouping import ClaimGrouper
from .impact import Standing, query_impact
from .model import Claim, Patient
from .poa import PoaDecision, decide_poa


class ClaimView:
    """One grouper per Coder, opened on the first claim."""

    def __init__(self, codeset: CodeSet) -> None:
        self.codeset = codeset
        self.grouper = ClaimGrouper()

    def patient(
        self,
        text: str,
        age: int | None = None,
        sex: str | None = None,
        discharge_status: int | None = None,
    ) -> Patient:
        """The demographics given, and those not given as the note states them ("72-year-old
        male"); the source of each says which (docs/CLAIMS.md)."""
        read: Demographics | None = None
        if age is None or sex is None or discharge_status is None:
            read = read_demographics(text)

        def pick(given, name: str):
            if given is not None:
                return given, "given"
            value = getattr(read, name, None) if read is not None else None
            return value, (read.source(name) if value is not None else None)

        age, age_source = pick(age, "age")
        sex, sex_source = pick(sex, "sex")
        status, status_source = pick(discharge_status, "discharge_status")
        return Patient(
            age=age,
            sex=sex,
            discharge_status=1 if status is None else status,
            age_source=age_source,
            sex_source=sex_source,
            discharge_status_source=status_source,
        )

    def apply(
        self,
        result: CodingResult,
        text: str,
        patient: Patient,
        date: datetime.date | None = None,
    ) -> CodingResult:
        """`result` with its claim: POA on each inpatient code's trace, the MCE's edits among
        the edits, each query's impact, the queries ordered by it (no change last). A result
        without codes has no claim."""
        if not result.codes:
            return result
        codes = tuple(c.code for c in result.codes)
        setting = result.setting
        poa = {}
        if setting == "inpatient":
            poa = decide_poa(text, result.codes, codes[0])
        indicators = {code: decision.indicator for code, decision in poa.items()}
        claim = self.grouper.claim(
            codes, setting=setting, patient=patient, date=date, poa=indicators, strict=False
        )

        worth: dict[tuple[str, ...], Standing | None] = {}  # two queries on one code

        def standing(alternative: tuple[str, ...]) -> Standing | None:
            if alternative not in worth:
                worth[alternative] = regroup(alternative)
            return worth[alternative]

        def regroup(alternative: tuple[str, ...]) -> Standing | None:
            try:
                regrouped = self.grouper.claim(
                    alternative,
                    setting=setting,
                    patient=patient,
                    date=date,
                    poa={**indicators, **_carried(indicators, alternative, codes)},
                    strict=False,
                    edits=False,
                )
            except InputError:
                return None
            return _standing(regrouped)

        queries = list(result.queries)
        if (before := _standing(claim)) is not None:
            queries = [
                replace(
                    q,
                    impact=query_impact(
                        self.codeset, codes, q.code, q.missing, standing, before
                    ).to_json(),
                )
                if q.code in codes
                else q
                for q in queries
            ]
            # stable: equal worth keeps the order the engine found them in
            queries.sort(key=lambda q: -(q.impact or {}).get("score", 0.0))
        view = claim.to_json()
        del view["edits"]  # they join the result's edits
        return replace(
            result,
            codes=tuple(_with_poa(c, poa.get(c.code)) for c in result.codes),
            edits=(*result.edits, *claim.edits),
            queries=tuple(queries),
            claim=view,
        )


def _standing(claim: Claim) -> Standing | None:
    if claim.drg is not None:
        if claim.drg.drg is None or claim.drg.drg in tables()["ungroupable_drgs"]:
            return None
        return Standing(
            drg=claim.drg.drg, severity=claim.drg.severity, description=claim.drg.description
        )
    if claim.hcc is not None:
        return Standing(risk_score=claim.hcc.risk_score, hccs=tuple(h.hcc for h in claim.hcc.hccs))
    return None


def _carried(
    indicators: dict[str, str], alternative: tuple[str, ...], codes: tuple[str, ...]
) -> dict[str, str]:
    """A query's candidate code keeps the POA indicator of the code it would replace."""
    return {
        new: indicators[old]
        for new, old in zip(alternative, codes, strict=True)
        if new != old and old in indicators
    }


def _with_poa(code: CodedCode, decision: PoaDecision | None) -> CodedCode:
    """The code with its POA decision in the trace, before its place in the sequence (the
    trace's last step)."""
    if decision is None:
        return code
    step = {"step": "poa", "indicator": decision.indicator, "reason": decision.reason}
    return replace(code, trace=(*code.trace[:-1], step, *code.trace[-1:]))
