"""What a provider query is worth on the claim: the encounter regrouped with every code the
query could yield, and the best change it can make (DRG and severity inpatient, HCCs and RAF
outpatient). Queries are then listed by that worth, those that change nothing last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from medcode.engine.coding.specificity import head_words
from medcode.engine.reading.words import content_words
from medcode.terminology import CodeSet

from .hcc import hcc_order

# The codes a query could yield are those of its code's category that name the same condition;
# a few categories hold hundreds (injuries, diabetes): past this many, the first in Tabular order.
MAX_ALTERNATIVES = 128
SEVERITY_RANK = {"NONE": 0, "CC": 1, "MCC": 2}
SEVERITY_NAME = {"NONE": "no CC/MCC", "CC": "CC", "MCC": "MCC"}


@dataclass(frozen=True, slots=True)
class Standing:
    """What a code set is worth on the claim: inpatient the MS-DRG and its severity,
    outpatient the risk score and its HCCs."""

    drg: int | None = None
    severity: str | None = None
    description: str | None = None
    risk_score: float | None = None
    hccs: tuple[str, ...] = ()

    @property
    def inpatient(self) -> bool:
        return self.drg is not None

    def label(self) -> str:
        if self.inpatient:
            return f"DRG {self.drg} ({SEVERITY_NAME.get(self.severity or '', self.severity)})"
        hccs = ", ".join(f"HCC {h}" for h in self.hccs) or "no HCC"
        return f"RAF {self.risk_score:.3f} ({hccs})"

    def to_json(self) -> dict[str, Any]:
        if self.inpatient:
            return {"drg": self.drg, "severity": self.severity, "description": self.description}
        return {"risk_score": self.risk_score, "hccs": list(self.hccs)}


@dataclass(frozen=True, slots=True)
class Impact:
    """The best change a query can make: from `before` to `after`, reached by `codes`;
    `score` orders queries (severity steps x 10, plus 1 for another DRG; or the RAF gained)."""

    before: Standing
    after: Standing
    codes: tuple[str, ...]
    change: str | None
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "score": self.score,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "codes": list(self.codes),
        }


def alternatives(codeset: CodeSet, code: str) -> list[str]:
    """The billable codes a query on `code` could yield: those of its category whose titles
    hold the words that name the condition (I48.91 "Unspecified atrial fibrillation": the
    paroxysmal, persistent and permanent ones, not atrial flutter; a word may be a prefix,
    stage "3" of "3a"), `code` itself excluded."""
    named = head_words(codeset.node(code).title)
    found = []
    for other in codeset.billable_descendants(code[:3]):
        words = content_words(codeset.node(other).title)
        if other != code and all(any(w.startswith(n) for w in words) for n in named):
            found.append(other)
            if len(found) == MAX_ALTERNATIVES:
                break
    return found


def query_impact(
    codeset: CodeSet,
    codes: Sequence[str],
    code: str,
    missing: str,
    standing: Callable[[tuple[str, ...]], Standing | None],
    before: Standing,
) -> Impact:
    """Regroup `codes` with `code` replaced by each alternative; the best outcome wins, ties
    going to the first code in Tabular order. `standing` answers None for a code set the
    grouper cannot take (that alternative is skipped)."""
    best: tuple[float, Standing, list[str]] | None = None
    for alternative in alternatives(codeset, code):
        after = standing(tuple(alternative if c == code else c for c in codes))
        if after is None:
            continue
        score = _score(before, after)
        if best is None or score > best[0]:
            best = (score, after, [alternative])
        elif score == best[0] and after == best[1]:
            best[2].append(alternative)
    if best is None or best[0] <= 0:
        return Impact(before, before, (), None, 0.0)
    score, after, reaching = best
    return Impact(
        before,
        after,
        tuple(reaching),
        _sentence(codeset, code, missing, reaching, before, after),
        score,
    )


def _score(before: Standing, after: Standing) -> float:
    if before.inpatient:
        steps = SEVERITY_RANK.get(after.severity or "", 0) - SEVERITY_RANK.get(
            before.severity or "", 0
        )
        return steps * 10.0 + (after.drg != before.drg)
    return round((after.risk_score or 0.0) - (before.risk_score or 0.0), 3)


def _sentence(
    codeset: CodeSet,
    code: str,
    missing: str,
    reaching: list[str],
    before: Standing,
    after: Standing,
) -> str:
    first = reaching[0]
    more = f" or {len(reaching) - 1} other code(s)" if len(reaching) > 1 else ""
    lead = (
        f"documenting the {missing} of {code} ({codeset.node(code).title}) as {first} "
        f"({codeset.node(first).title}){more}"
    )
    if before.inpatient:
        was, now = (SEVERITY_NAME[s.severity or "NONE"] for s in (before, after))
        severity = f": {was} to {now}" if now != was else ""
        if severity:
            return f"{lead} can move DRG {before.drg} to {after.drg}{severity}"
        # the same severity in another DRG: whether it pays more is the DRG weights' to say
        return (
            f"{lead} can move DRG {before.drg} ({before.description}) to {after.drg} "
            f"({after.description})"
        )
    gained = sorted(set(after.hccs) - set(before.hccs), key=hcc_order)
    hccs = f" (adds {', '.join(f'HCC {h}' for h in gained)})" if gained else ""
    return (
        f"{lead} can raise the RAF from {before.risk_score:.3f} to {after.risk_score:.3f} "
        f"(+{after.risk_score - before.risk_score:.3f}){hccs}"
    )
