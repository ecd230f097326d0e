"""The rule packs on a list of codes, without a note: `medcode check`, the claim scrubber."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medcode.engine.result import Edit
from medcode.terminology import CodeSet, normalize_code, validate_code

from . import RuleEngine
from .evaluate import Encounter, Fact, Outcome


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The rule packs on a list of codes: `to_json` is `medcode check --format json`."""

    given: list[str]
    encounter: Encounter
    outcome: Outcome
    edits: list[Edit]

    @property
    def has_errors(self) -> bool:
        return any(e.severity == "error" for e in self.edits)

    def to_json(self) -> dict[str, Any]:
        return {
            "codes": self.outcome.codes,
            "edits": [e.to_json() for e in self.edits],
            "given": self.given,  # additive: the codes as checked, normalised
            "trace": self.outcome.firings,  # additive: every rule that acted
        }


def check_codes(
    codeset: CodeSet,
    engine: RuleEngine,
    codes: Sequence[str],
    setting: str = "inpatient",
    age: int | None = None,
    sex: str | None = None,
) -> CheckReport:
    """Claim-scrubber mode without I/O: codes as written by a user (`e119` is E11.9); codes
    not in the code set become `unknown-code` error edits, first."""
    given = [normalize_code(c) for c in codes]
    unknown = [text for text, c in zip(codes, given, strict=True) if c not in codeset]
    facts = [Fact(c, source="input") for c in dict.fromkeys(given) if c in codeset]
    encounter = Encounter(facts, setting, age, sex)
    outcome = engine.run(encounter)
    edits = [_unknown(codeset, c) for c in unknown] + outcome.edits
    return CheckReport(given, encounter, outcome, edits)


def _unknown(codeset: CodeSet, code: str) -> Edit:
    validation = validate_code(codeset, code)
    fy = codeset.provenance.fy
    return Edit("unknown-code", "error", (code,), validation.message, f"FY{fy} code set")
