"""Mentions the words cannot settle: marked in the trace, and offered to an LLM when one is
configured (docs/LLM.md). Without a model the deterministic choice stands (the unspecified
code, low confidence, a provider query); with one, the model may only pick a candidate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medcode.engine.result import Edit
from medcode.terminology import CodeSet

from .llm import Ambiguity, LLMChooser, LLMConfig, candidates_from_codeset, review_edit
from .specificity import SpecificityWalker

MAX_CANDIDATES = 12


class AmbiguityResolver:
    """Finds the ambiguous mentions of a note and, with a chooser, asks the model once each."""

    def __init__(self, codeset: CodeSet, walker: SpecificityWalker, chooser: LLMChooser | None):
        self.codeset = codeset
        self.walker = walker
        self.chooser = chooser

    @classmethod
    def from_env(cls, codeset: CodeSet, walker: SpecificityWalker) -> AmbiguityResolver:
        """The chooser of the file named by $MEDCODE_LLM_CONFIG, else of $MEDCODE_LLM_URL and
        friends; none when neither is set (no network)."""
        path = os.environ.get("MEDCODE_LLM_CONFIG")
        config = LLMConfig.from_file(Path(path)) if path else LLMConfig.from_env()
        return cls(codeset, walker, LLMChooser(config) if config else None)

    def resolve(self, candidates: Sequence[Any], text: str) -> list[Edit]:
        """Mark each reported candidate that fell back to an unspecified code for want of an
        axis; let the model choose among the alternatives; return the review edits."""
        session = self.chooser.session() if self.chooser else None
        edits: list[Edit] = []
        for candidate in candidates:
            if candidate.action != "code" or not candidate.missing:
                continue
            if candidate.mention.assertion in ("negated", "hypothetical"):
                continue  # not coded whatever its code: nothing to ask
            codes = self._alternatives(candidate)
            if len(codes) < 2:
                continue
            reason = f"the note does not document the {', '.join(candidate.missing)}"
            candidate.trace.append({"step": "ambiguity", "reason": reason, "candidates": codes})
            if session is None:
                continue
            ambiguity = Ambiguity(
                candidate.mention.text,
                _sentence(text, candidate.mention),
                candidate.mention.section,
                candidates_from_codeset(self.codeset, codes),
                reason,
            )
            choice = session.choose(ambiguity)
            candidate.trace.append(choice.to_trace())
            if choice.code is not None:
                candidate.code, candidate.missing = choice.code, ()
            elif (edit := review_edit(ambiguity, choice, candidate.code)) is not None:
                edits.append(edit)
        return edits

    def _alternatives(self, candidate: Any) -> list[str]:
        """The fallback code and the default code under each of its siblings: where the walk
        stopped for want of words, what each other branch would have given."""
        fallbacks = [s for s in candidate.trace if s.get("step") == "specificity" and s["fallback"]]
        if not fallbacks:
            return []
        parent = fallbacks[-1]["from"]
        codes = [candidate.code]
        for child in self.codeset.children(parent):
            code = self.walker.most_specific(child, frozenset()).code
            if self.codeset.node(code).billable and code not in codes:
                codes.append(code)
        return codes[:MAX_CANDIDATES]


def _sentence(text: str, mention: Any) -> str:
    """The mention's sentence as the note writes it (to the end of its line)."""
    end = text.find("\n", mention.end)
    return text[mention.sentence : end if end != -1 else len(text)].strip()
