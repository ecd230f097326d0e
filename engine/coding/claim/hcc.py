"""The CMS-HCC risk score of an outpatient claim, computed by hccinfhir (the `claims` extra:
`pip install 'medcode[claims]'`); without it the claim says so in one line."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .model import Hcc, Patient, RiskScore

MISSING = "no HCC risk score: hccinfhir is not installed (pip install 'medcode[claims]')"
# hccinfhir's own defaults, used (and named in `assumed`) when the patient's are unknown.
DEFAULT_AGE = 65
DEFAULT_SEX = "F"
# The payment year whose tables hccinfhir loads when imported (its defaults.py): not loaded twice.
LIBRARY_YEAR = 2026


class HccScorer:
    """hccinfhir's tables of one payment year, loaded once on first use."""

    def __init__(self, model: str, payment_year: int) -> None:
        self.model = model
        self.payment_year = payment_year
        self._lock = threading.Lock()
        self._tables: dict[str, Any] | None = None

    def available(self) -> bool:
        try:
            import hccinfhir  # noqa: F401
        except ImportError:
            return False
        return True

    def _load(self) -> dict[str, Any]:
        with self._lock:
            if self._tables is None:
                from hccinfhir import utils

                year = self.payment_year
                if year == LIBRARY_YEAR:
                    self._tables = {}  # the tables hccinfhir loaded when imported: reused
                    return self._tables
                self._tables = {
                    "dx_to_cc_mapping": utils.load_dx_to_cc_mapping(f"ra_dx_to_cc_{year}.csv"),
                    "hierarchies_mapping": utils.load_hierarchies(f"ra_hierarchies_{year}.csv"),
                    "coefficients_mapping": utils.load_coefficients(f"ra_coefficients_{year}.csv"),
                    # hccinfhir ships one set of labels (2026): the HCC names do not change.
                    "labels_mapping": utils.load_labels("ra_labels_2026.csv"),
                }
            return self._tables

    def score(
        self, codes: Sequence[str], patient: Patient, names: Sequence[str] | None = None
    ) -> RiskScore:
        """The risk score of dotted `codes` for `patient`; which HCC each code gives, each
        code named as in `names` (the codes before a fiscal-year conversion)."""
        from hccinfhir import calculate_raf

        plain = {
            code.replace(".", ""): name for code, name in zip(codes, names or codes, strict=True)
        }
        assumed = tuple(
            name for name, value in (("age", patient.age), ("sex", patient.sex)) if value is None
        )
        result = calculate_raf(
            list(plain),
            model_name=self.model,
            age=DEFAULT_AGE if patient.age is None else patient.age,
            sex=patient.sex or DEFAULT_SEX,
            **self._load(),
        )
        details = {d.hcc: d for d in result.hcc_details}
        hccs = []
        for hcc in sorted(result.hcc_list, key=hcc_order):
            mapped = result.cc_to_dx.get(hcc) or ()
            detail = details.get(hcc)
            hccs.append(
                Hcc(
                    hcc,
                    detail.label if detail else "",
                    float(detail.coefficient) if detail else 0.0,
                    tuple(plain[c] for c in sorted(mapped) if c in plain),
                )
            )
        return RiskScore(
            model=self.model,
            payment_year=self.payment_year,
            hccs=tuple(hccs),
            risk_score=round(float(result.risk_score), 3),
            demographic=round(float(result.risk_score_demographics), 3),
            hcc_part=round(float(result.risk_score_hcc), 3),
            category=str(result.demographics.category),
            assumed=assumed,
        )


def hcc_order(hcc: str) -> tuple[int, str]:
    """HCCs in numeric order ("38" before "329"), any that is not a number last."""
    return (int(hcc), hcc) if hcc.isdigit() else (1 << 30, hcc)
