"""Candidates -> the encounter the rule packs act on: one fact per code in first sequence, and
the supporter through which rules add the code the note's words support."""

from __future__ import annotations

from medcode.engine.reading.words import content_words
from medcode.engine.rulelang import Encounter, Fact
from medcode.terminology import CodeSet

from .assignment import Candidate
from .specificity import UNTELLING, SpecificityWalker, head_words

# Sections whose diagnoses are the provider's conclusions, in the order they lead the sequence
# (II: the principal diagnosis is the condition established after study; IV.G: the first-listed
# is the reason for the encounter the provider concludes). The rest follow in note order.
FIRST_LISTED_SECTIONS = (
    "discharge_diagnoses",
    "assessment_and_plan",
    "assessment",
    "problem_list",
    "plan",
    "admission_diagnoses",
    "chief_complaint",
)
CONCLUSION_SECTIONS = frozenset(FIRST_LISTED_SECTIONS[:5])
# Words that never tell one additional code from another.
_FILLER_WORDS = frozenset({"unspecified", "other", "specified"})


def encounter(
    candidates: list[Candidate],
    setting: str,
    text: str,
    age: int | None = None,
    sex: str | None = None,
) -> Encounter:
    """One fact per code, in first sequence: conclusions, then note order; `age` and `sex`
    are the patient's, for the demographic edits."""
    # negated and hypothetical mentions of a code are a fact of their own, for the policy
    # rules to drop without touching the mentions that report it
    groups: dict[tuple[str, bool], list[Candidate]] = {}
    for c in candidates:
        if c.action == "code":
            groups.setdefault((c.code, c.real), []).append(c)
    facts = []
    for (code, _), group in sorted(groups.items(), key=lambda item: _sequence_key(item[1])):
        assertions = [c.mention.assertion for c in group]
        sections = [c.mention.section for c in group]
        concluded = [s for s in sections if s in CONCLUSION_SECTIONS]
        facts.append(
            Fact(
                code,
                "affirmed" if "affirmed" in assertions else assertions[0],
                (concluded or sections)[0],
                "measurement" if all(c.measured for c in group) else "note",
                frozenset().union(*(c.mention.sentence_words for c in group)),
                group,
            )
        )
    return Encounter(facts, setting, age, sex, text=text)


def _sequence_key(group: list[Candidate]) -> tuple[int, int]:
    """By the first section of FIRST_LISTED_SECTIONS the code is documented in, in the order
    the provider lists them there; then the rest in note order (rules resequence after)."""
    return min((rank_for_first(c.mention.section), c.mention.start) for c in group)


def rank_for_first(section: str | None) -> int:
    """A section's place in FIRST_LISTED_SECTIONS; the others after them."""
    if section in FIRST_LISTED_SECTIONS:
        return FIRST_LISTED_SECTIONS.index(section)
    return len(FIRST_LISTED_SECTIONS)


class WordSupporter:
    """What a rule's `add supported` asks: the code under given roots that the note supports."""

    def __init__(self, codeset: CodeSet, walker: SpecificityWalker):
        self.codeset = codeset
        self.walker = walker

    def __call__(self, roots: tuple[str, ...], fact: Fact) -> str | None:
        """The code under `roots` that the words around `fact` support, or None.

        The roots are siblings for this choice (N18.1-N18.6 for "stage of CKD"): a root is
        supported by a word of the note, beyond the fact's own title, that sets it or a code
        below it apart from the others ("3a" for N18.31), never a generic or acuity word alone;
        a single root only by the note naming it ("end stage" heart failure). Then the walk goes
        as deep as the words allow. Numbers of the fact's own title never count: "type 2" is not
        "stage 2".
        """
        own = content_words(self.codeset.node(fact.code).title)
        words = fact.words - {w for w in own if w.isdigit()}
        # words of the note beyond what the code itself says; a generic or acuity word
        # ("chronic", "disease") names no condition of its own ("chronic" of COPD is no
        # chronic kidney disease)
        telling = fact.words - own - UNTELLING
        common = frozenset.intersection(*(self.walker.words(r) for r in roots)) | _FILLER_WORDS

        def support(root: str) -> int:
            keys = (root, *self.codeset.descendants(root))
            return max(len((self.walker.words(k) - common) & telling) for k in keys)

        def named(root: str) -> bool:  # one root: the note names it, not only the fact's title
            head = head_words(self.codeset.node(root).title)
            return bool(head) and head <= fact.words | own and bool(head & telling)

        ranked = sorted(roots, key=lambda r: (-support(r), r))
        # one root must be named: a word of a code below it ("cervical" of S11.2) is no
        # evidence of the root itself ("open wound")
        if not ranked or not (named(ranked[0]) if len(roots) == 1 else support(ranked[0])):
            return None
        specific = self.walker.most_specific(ranked[0], words | self.walker.words(ranked[0]))
        return specific.code if self.codeset.node(specific.code).billable else None
