"""Present-on-admission (POA) indicators of an inpatient stay's codes, read from the note: Y,
N, U, W or exempt, each with its reason and the words it was read from.

Per code, in this order (docs/CLAIMS.md; the phrases and lists are in poa.yaml):
1. exempt: the code is on the CMS POA exempt list (Appendix I of the ICD-10-CM Official
   Guidelines).
2. The sentences of the code's evidence: the cue nearest the evidence decides ("unable to
   determine whether present on admission" W; "developed on hospital day 3", "hospital-acquired"
   N; "presented with", "on admission", "in the ED", "history of" Y). Across the evidence of a
   code W wins, then Y, then N.
3. Defaults, when no sentence says: the principal diagnosis is Y (the reason for admission); a
   code stated in a section that describes the patient before admission (chief complaint, HPI,
   admission diagnoses, past history, problem list) is Y; a chronic condition is Y even if
   diagnosed during the stay (Appendix I: "diagnosed on hospital day 2" is no N cue; only
   words that the condition developed, was acquired or was absent on admission are).
4. Otherwise U: the documentation does not say (the coder queries the provider).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from medcode.engine.result import CodedCode, Evidence

CUES_FILE = Path(__file__).with_name("poa.yaml")
# Across the evidence of one code, the first indicator of this order that a sentence gives.
_STRENGTH = ("W", "Y", "N")
# Sentence ends, and the ",HEADER:" and ".,2." of notes flattened to one line
_BOUNDARY = re.compile(r"[.!?;](?=[\s,])|\n\s*\n|,(?=[A-Z][A-Z /&]{2,}:)")


@dataclass(frozen=True, slots=True)
class Cue:
    """Words of the note an indicator was read from: character offsets and the words."""

    start: int
    end: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True, slots=True)
class PoaDecision:
    """A code's POA indicator (Y, N, U, W or exempt), why, and the words it was read from."""

    indicator: str
    reason: str
    evidence: tuple[Cue, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "reason": self.reason,
            "evidence": [c.to_json() for c in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class _Rule:
    indicator: str
    reason: str
    pattern: re.Pattern[str]
    before: int | None  # counts only when it ends at most this many characters before


@dataclass(frozen=True, slots=True)
class _Exempt:
    low: str
    high: str
    title: str
    excepted: tuple[str, ...]

    def covers(self, code: str) -> bool:
        head = code[: len(self.low)]
        return (
            len(head) == len(self.low)
            and self.low <= head <= self.high
            and not code.startswith(self.excepted)
        )

    @property
    def name(self) -> str:
        return self.low if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class _Table:
    sentence_chars: int
    rules: tuple[_Rule, ...]
    sections: dict[str, str]
    chronic_title: re.Pattern[str]
    not_chronic_title: re.Pattern[str]
    chronic: tuple[tuple[str, str], ...]
    exempt: tuple[_Exempt, ...]


def _span(codes: str) -> tuple[str, str]:
    low, _, high = codes.partition("-")
    return low, high or low


@lru_cache(maxsize=1)
def table() -> _Table:
    """The cue phrases, sections, chronic categories and exempt list of poa.yaml."""
    data = yaml.safe_load(CUES_FILE.read_text(encoding="utf-8"))
    rules = tuple(
        _Rule(
            indicator,
            cue["reason"],
            re.compile(cue["pattern"], re.IGNORECASE),
            int(cue["before"]) if "before" in cue else None,
        )
        for indicator in ("W", "N", "Y")
        for cue in data["cues"][indicator]
    )
    return _Table(
        sentence_chars=int(data["sentence_chars"]),
        rules=rules,
        sections=dict(data["before_admission_sections"]),
        chronic_title=re.compile(data["chronic_title"], re.IGNORECASE),
        not_chronic_title=re.compile(data["not_chronic_title"], re.IGNORECASE),
        chronic=tuple(_span(entry) for entry in data["chronic"]),
        exempt=tuple(
            _Exempt(*_span(entry["codes"]), entry["title"], tuple(entry.get("except", ())))
            for entry in data["exempt"]
        ),
    )


def exemption(code: str) -> str | None:
    """The exempt-list entry covering `code` ("Z37: Outcome of delivery"), or None."""
    for entry in table().exempt:
        if entry.covers(code):
            return f"{entry.name}: {entry.title}"
    return None


def is_chronic(code: str, title: str = "") -> bool:
    """Whether `code` names a chronic condition: its title says "chronic" (not "acute"), or
    its category is in poa.yaml's chronic list."""
    t = table()
    if t.chronic_title.search(title) and not t.not_chronic_title.search(title):
        return True
    return any(low <= code[: len(low)] <= high for low, high in t.chronic)


def decide_poa(
    text: str, codes: Sequence[CodedCode], principal: str | None
) -> dict[str, PoaDecision]:
    """The POA indicator of each code of an inpatient stay, keyed by code, from the note `text`
    and each code's evidence; `principal` is the principal diagnosis (Y unless the note says
    otherwise)."""
    decisions: dict[str, PoaDecision] = {}
    for coded in codes:
        if coded.code not in decisions:
            decisions[coded.code] = _decide(text, coded, coded.code == principal)
    return decisions


def _decide(text: str, coded: CodedCode, principal: bool) -> PoaDecision:
    t = table()
    if (entry := exemption(coded.code)) is not None:
        return PoaDecision("exempt", f"exempt from POA reporting (Appendix I: {entry})")
    chronic = is_chronic(coded.code, coded.description)
    found: dict[str, tuple[_Rule, Cue]] = {}
    for evidence in coded.evidence:
        said = _nearest_cue(text, evidence, t)
        if said is not None and said[0].indicator not in found:
            found[said[0].indicator] = said
    for indicator in _STRENGTH:
        if indicator in found:
            rule, cue = found[indicator]
            return PoaDecision(indicator, f"{rule.reason}: '{cue.text}'", (cue,))
    if principal:
        return PoaDecision(
            "Y",
            "principal diagnosis, the reason for admission: present when the inpatient "
            "admission was ordered (default; the note says nothing otherwise)",
        )
    for evidence in coded.evidence:
        if evidence.section in t.sections:
            words = Cue(evidence.start, evidence.end, evidence.text)
            return PoaDecision("Y", f"stated in {t.sections[evidence.section]}", (words,))
    if chronic:
        return PoaDecision(
            "Y", "chronic condition: present on admission even if diagnosed during the stay"
        )
    return PoaDecision(
        "U",
        "the note does not say whether it was present on admission (documentation "
        "insufficient; query the provider)",
    )


def _nearest_cue(text: str, evidence: Evidence, t: _Table) -> tuple[_Rule, Cue] | None:
    """The cue of the evidence's sentence nearest the evidence, or None."""
    start, end = _sentence(text, evidence.start, evidence.end, t.sentence_chars)
    sentence = text[start:end]
    hits: list[tuple[_Rule, int, int]] = []
    for rule in t.rules:
        hits += [
            (rule, start + m.start(), start + m.end()) for m in rule.pattern.finditer(sentence)
        ]
    strong = [(s, e) for rule, s, e in hits if rule.indicator != "Y"]
    hits = [
        (rule, s, e)
        for rule, s, e in hits
        if (rule.indicator != "Y" or not any(a <= s and e <= b for a, b in strong))
        and (rule.before is None or (s <= evidence.start and evidence.start - e <= rule.before))
    ]
    if not hits:
        return None

    def distance(hit: tuple[_Rule, int, int]) -> tuple[int, int]:
        rule, s, e = hit
        gap = max(0, s - evidence.end, evidence.start - e)
        return gap, "WNY".index(rule.indicator)

    rule, s, e = min(hits, key=distance)
    return rule, Cue(s, e, text[s:e])


def _sentence(text: str, start: int, end: int, limit: int) -> tuple[int, int]:
    """The sentence around text[start:end], at most `limit` characters either side."""
    floor = max(0, start - limit)
    begin = floor
    for found in _BOUNDARY.finditer(text, floor, start):
        begin = found.end()
    stop = _BOUNDARY.search(text, end, min(len(text), end + limit))
    return begin, stop.start() if stop else min(len(text), end + limit)
