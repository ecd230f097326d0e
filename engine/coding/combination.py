"""Combination codes (I.A.15, I.B.11): candidates that one more specific code stands for are
excluded in its favour, unless that code asks for them as additional codes."""

from __future__ import annotations

from collections import deque

from medcode.engine.reading.words import content_words
from medcode.terminology import CodeSet, NoteKind

from .assignment import Candidate, matched_node
from .specificity import SpecificityWalker, head_words

# How many concepts either side of it, in its sentence, a concept may combine with: a sentence
# lists a few; a flattened list of thousands must not cost each concept all the others.
NEAR = 24


class Combiner:
    """Folds the candidates of a note that a combination code, or a more specific code of the
    same condition, already reports."""

    def __init__(self, codeset: CodeSet, walker: SpecificityWalker):
        self.codeset = codeset
        self.walker = walker

    def combine(self, candidates: list[Candidate]) -> None:
        """I.A.15 / I.B.11: a concept whose words made another code of its sentence specific,
        or that the code's title names already, is part of that combination code ("T2DM with
        hyperglycemia" is E11.65, not + R73.9; "Graves disease with diffuse goiter" E05.00, not
        + E04.9), unless the combination code asks for it as an additional code (E11.22 +
        N18.31)."""
        real = [c for c in candidates if c.action == "code" and c.real]
        by_sentence: dict[int, list[Candidate]] = {}
        for c in real:
            by_sentence.setdefault(c.mention.sentence, []).append(c)
        said: dict[int, frozenset[str]] = {}  # per whole, once
        for group in by_sentence.values():
            for i, part in enumerate(group):
                # the concept's own words, as the Tabular or the note names it ("neuropathy")
                heads = [
                    head_words(self.codeset.node(matched_node(part)).title),
                    head_words(part.mention.text),
                ]
                # the concepts near it in its sentence, as a concept reads its sentence
                for whole in group[max(0, i - NEAR) : i + NEAR + 1]:
                    if id(whole) not in said:
                        said[id(whole)] = whole.support | self._implied(whole)
                    head = next((h for h in heads if h and h <= said[id(whole)]), None)
                    if (
                        whole is part
                        or head is None
                        or whole.code == part.code
                        or self._additional(whole.code, part.code)
                    ):
                        continue
                    part.action, part.reason = "exclude", f"combined into {whole.code} (I.B.11)"
                    part.trace.append(
                        {"step": "combination", "into": whole.code, "words": sorted(head)}
                    )
                    break
        self._same_condition([c for c in real if c.action == "code"])

    def _implied(self, whole: Candidate) -> frozenset[str]:
        """What the node a mention's term names says beyond the mention's words ("Graves
        disease" names E05.0, "Thyrotoxicosis with diffuse goiter": goiter), not counting what
        it says "without"."""
        node = matched_node(whole)
        title = head_words(self.codeset.node(node).title)
        return title - self.walker.denied(node) - content_words(whole.mention.text)

    def _same_condition(self, coded: list[Candidate]) -> None:
        """A mention that left an axis to the default ("DM2", "distal radius fracture", the
        fracture of the HPI without its encounter) names the same condition as a mention coded
        more specifically below the same node ("T2DM with CKD", "Colles' fracture of right
        radius", "..., subsequent encounter"): the more specific code stands for both."""

        def walked(c: Candidate) -> bool:
            return not any(s["step"] == "history" and s["to"] != s["from"] for s in c.trace)

        # The candidates of one code are alike here but for their order, so each `less` looks
        # at the codes of the note below its node, not at every other candidate: linear in long
        # notes that repeat the same few conditions.
        order = {id(c): i for i, c in enumerate(coded)}
        by_code: dict[str, deque[Candidate]] = {}
        for c in coded:
            if walked(c):
                by_code.setdefault(c.code, deque()).append(c)
        below: dict[str, list[str]] = {}

        def first_coded(code: str) -> Candidate | None:
            group = by_code[code]
            while group and group[0].action != "code":  # exclusions are final: drop them
                group.popleft()
            return group[0] if group else None

        for less in coded:
            if not walked(less) or not any(
                s["step"] == "specificity" and s["fallback"] for s in less.trace
            ):
                continue
            start = matched_node(less)
            if start not in below:
                below[start] = [k for k in by_code if self.codeset.is_below(k, start)]
            firsts = (
                first_coded(code)
                for code in below[start]
                if code != less.code
                and less.support <= content_words(self.codeset.node(code).title)
            )
            more = min(filter(None, firsts), key=lambda c: order[id(c)], default=None)
            if more is not None:
                less.action, less.reason = "exclude", f"documented more specifically as {more.code}"
                less.trace.append({"step": "same condition", "into": more.code})

    def _additional(self, code: str, other: str) -> bool:
        targets = self.codeset.reference_targets(code, NoteKind.USE_ADDITIONAL_CODE)
        return any(self.codeset.is_below(other, target) for target, _ in targets)
