"""What the engine asks about (an ambiguity and its candidates) and what the model answered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medcode.engine.result import Edit

if TYPE_CHECKING:
    from medcode.terminology import CodeSet

ABSTAIN = "abstain"
STATUSES = (
    "chosen",
    "abstained",
    "invalid",
    "malformed",
    "timeout",
    "http-error",
    "refused",
    "budget",
)
NOTES_PER_CANDIDATE = 12
# Notes that tell sibling codes apart; sequencing notes (code first, use additional) do not.
CHOICE_NOTE_KINDS = ("inclusionTerm", "includes", "excludes1", "excludes2", "notes")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A code the engine could report for the mention, with the Tabular notes that apply."""

    code: str
    description: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """A mention whose words support several codes: what the model is shown."""

    span: str
    sentence: str
    section: str | None
    candidates: tuple[Candidate, ...]
    reason: str

    def __post_init__(self) -> None:
        codes = [c.code for c in self.candidates]
        if not codes or len(set(codes)) != len(codes):
            raise ValueError(f"an ambiguity needs distinct candidate codes, not {codes}")

    @property
    def codes(self) -> tuple[str, ...]:
        """The candidate codes, sorted (the order shown to the model)."""
        return tuple(sorted(c.code for c in self.candidates))


@dataclass(frozen=True, slots=True)
class Choice:
    """The model's answer to one ambiguity: a candidate code, or None and why not."""

    code: str | None
    status: str
    model: str
    prompt_sha256: str
    answer: str
    cached: bool = False

    def to_trace(self) -> dict[str, Any]:
        """The trace step: {"step": "llm", "model", "prompt_sha256", "status", "answer", ...}."""
        return {
            "step": "llm",
            "model": self.model,
            "prompt_sha256": self.prompt_sha256,
            "status": self.status,
            "answer": self.answer,
            "code": self.code,
            "cached": self.cached,
        }


_FAILURES = {
    "abstained": "the model abstained",
    "invalid": "the model answered a code outside the candidates",
    "malformed": "the model's answer was not the JSON asked for",
    "timeout": "the model did not answer in time",
    "http-error": "the model server failed",
    "refused": "the model refused",
    "budget": "the document's limit of model calls was reached",
}


def review_edit(ambiguity: Ambiguity, choice: Choice, kept: str) -> Edit | None:
    """The "needs review" edit when the model did not choose: `kept` (the deterministic
    choice) stands, and a coder should confirm it. None when the model chose."""
    if choice.status == "chosen":
        return None
    others = [c for c in ambiguity.codes if c != kept]
    return Edit(
        "llm-needs-review",
        "warning",
        (kept, *others),
        f'"{ambiguity.span}" could also be {", ".join(others) or "none"} ({ambiguity.reason}); '
        f"{_FAILURES.get(choice.status, choice.status)}, so {kept} was kept: please review",
        "engine/llm",
    )


def candidates_from_codeset(codeset: CodeSet, codes: Iterable[str]) -> tuple[Candidate, ...]:
    """Candidates with their titles and the notes that tell them apart: inclusion terms,
    includes, excludes and notes that apply to some candidates but not to all."""
    codes = list(dict.fromkeys(codes))
    applied = {
        code: [
            f"{a.note.kind.label}: {a.note.text}"
            for a in codeset.applicable_notes(code)
            if a.note.kind.value in CHOICE_NOTE_KINDS
        ]
        for code in codes
    }
    shared = set.intersection(*(set(n) for n in applied.values())) if len(codes) > 1 else set()
    notes = {code: [n for n in applied[code] if n not in shared] for code in codes}
    candidates = [
        Candidate(code, codeset.node(code).title, tuple(notes[code][:NOTES_PER_CANDIDATE]))
        for code in codes
    ]
    return tuple(candidates)
