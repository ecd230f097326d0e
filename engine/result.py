"""The result of coding one document: typed values that serialise to the JSON contract."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

Trace = tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Words of the note: character offsets into the original text, section, assertion."""

    start: int
    end: int
    text: str
    section: str | None
    assertion: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "section": self.section,
            "assertion": self.assertion,
        }


@dataclass(frozen=True, slots=True)
class CodedCode:
    """A reported code: its place in the sequence, how sure the engine is (high, medium,
    low), the words that support it and every step that led to it."""

    code: str
    description: str
    sequence: int
    confidence: str
    evidence: tuple[Evidence, ...]
    trace: Trace

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "sequence": self.sequence,
            "confidence": self.confidence,
            "evidence": [e.to_json() for e in self.evidence],
            "trace": list(self.trace),
        }


@dataclass(frozen=True, slots=True)
class ExcludedCode:
    """A candidate code not reported, with the reason (negated, uncertain in an outpatient
    note, replaced by a combination code, ...) and the words it came from."""

    code: str
    reason: str
    evidence: tuple[Evidence, ...]
    trace: Trace

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "reason": self.reason,
            "evidence": [e.to_json() for e in self.evidence],
            "trace": list(self.trace),
        }


@dataclass(frozen=True, slots=True)
class Edit:
    """A finding of a rule pack: `severity` error, warning or info, on `codes`, with the rule's
    file and line as `source`."""

    rule: str
    severity: str
    codes: tuple[str, ...]
    message: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "codes": list(self.codes),
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Query:
    """A documentation question for the provider: the element the note lacks for a code."""

    code: str
    missing: str
    question: str
    evidence: tuple[Evidence, ...]
    # what answering it could change on the claim (engine/coding/claim/impact.py), plain JSON
    impact: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        query = {
            "code": self.code,
            "missing": self.missing,
            "question": self.question,
            "evidence": [e.to_json() for e in self.evidence],
        }
        if self.impact is not None:  # additive
            query["impact"] = self.impact
        return query


@dataclass(frozen=True, slots=True)
class InputRecord:
    """Identifies the coded text without repeating it (notes carry PHI): the sha256 of its
    UTF-8 bytes and its length in characters, the unit of every evidence offset."""

    sha256: str
    chars: int

    @classmethod
    def of(cls, text: str) -> InputRecord:
        return cls(hashlib.sha256(text.encode("utf-8")).hexdigest(), len(text))

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "chars": self.chars}


@dataclass(frozen=True, slots=True)
class CodingResult:
    """The coding of one document: codes in sequence, candidates not reported, edits, provider
    queries and the versions that made them."""

    document: str
    fy: int
    setting: str
    codes: tuple[CodedCode, ...]
    excluded: tuple[ExcludedCode, ...]
    edits: tuple[Edit, ...] = ()
    queries: tuple[Query, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    input: InputRecord | None = None
    setting_reason: str | None = None  # how the setting was chosen: given, or read (auto)
    # the claim view (docs/CLAIMS.md): DRG or HCCs, POA, patient, as plain JSON
    claim: dict[str, Any] | None = None

    def with_input(self, text: str) -> CodingResult:
        """This result, recording which text it was coded from (for `medcode replay`)."""
        return replace(self, input=InputRecord.of(text))

    def to_json(self) -> dict[str, Any]:
        """The object `medcode code --format json` prints (docs/ARCHITECTURE.md)."""
        result = {
            "document": self.document,
            "fy": self.fy,
            "setting": self.setting,
            "codes": [c.to_json() for c in self.codes],
            "excluded": [e.to_json() for e in self.excluded],
            "edits": [e.to_json() for e in self.edits],
            "queries": [q.to_json() for q in self.queries],
            "versions": dict(self.versions),
        }
        # additive, after the keys of the contract
        if self.setting_reason is not None:
            result["setting_reason"] = self.setting_reason
        if self.input is not None:
            result["input"] = self.input.to_json()
        if self.claim is not None:
            result["claim"] = self.claim
        return result
