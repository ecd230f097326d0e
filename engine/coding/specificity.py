"""Walk the hierarchy from a matched node to the most specific billable code the words support."""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache

from medcode.engine.reading.words import (
    FILLER,
    PARENS,
    READS_AS,
    REGION_WORDS,
    content_words,
    one_word_phrases,
)
from medcode.terminology import CodeSet, NoteKind
from medcode.terminology.lexicon import normalize_tokens

# Words of the fallback child a coder picks when the note says nothing more.
_DEFAULT_WORDS = frozenset(
    {"unspecified", "without", "complication", "nos", "site", "organism", "uncomplicated"}
)
# Phrases of a title that name the default, not a distinction: "not specified as recurrent",
# "not intractable", "not elsewhere classified". They read as "unspecified".
_DEFAULT_PHRASES = re.compile(
    r"\bnot (?:elsewhere classified|otherwise specified|specified as \w+|intractable)\b"
    r"|\bunspecified (?:part|site|ligament|region|level|location) of\b"
    # "unspecified as acute or chronic", "unspecified whether with hypoxia or hypercapnia"
    r"|\bunspecified (?:as (?:to )?|whether (?:with )?)\w+ (?:or|versus) \w+"
    r"|\bunspecified as to (?:length of time|cause|type|perforation|time of onset)"
    r"|\bunspecified cause\b"
    # "ulcer of left heel with unspecified severity": the severity is the default, no clause
    r"|\bwith unspecified severity\b",
    re.I,
)
_GENERIC = frozenset({"disease", "disorder", "syndrome", "condition", "other", "unspecified"})
# "Other" and "Other specified" children are the Index default only when no "unspecified" one is.
_OTHER_WORDS = frozenset({"other", "specified"})
# Words of a title that a note's words never make more likely: "other" in a note is no
# evidence for an "Other ..." code.
_NO_SUPPORT = _DEFAULT_WORDS | _OTHER_WORDS | {"not", "no", "involving"}
# The side a title need not say: unilateral is the default, bilateral is documented.
_UNMARKED = frozenset({"unilateral"})
# Axes along which siblings differ, named for provider queries.
AXES: tuple[tuple[str, frozenset[str]], ...] = (
    ("stage", frozenset({"stage", "3a", "3b"})),
    ("type", frozenset({"type", "systolic", "diastolic", "combined"})),
    ("acuity", frozenset({"acute", "chronic", "subacute", "recurrent", "exacerbation"})),
    ("severity", frozenset({"mild", "moderate", "severe", "intermittent", "persistent"})),
    ("episode of care", frozenset({"initial", "subsequent", "sequela"})),
    ("laterality", frozenset({"right", "left", "bilateral", "unilateral"})),
    ("organism", frozenset({"bacterial", "viral", "organism", "streptococcal", "staphylococcal"})),
    ("trimester", frozenset({"trimester"})),
)

_NOT_LENT = _GENERIC | dict(AXES)["laterality"] | dict(AXES)["episode of care"]
# Words that name no condition of their own, so support no additional code by themselves.
UNTELLING = _GENERIC | dict(AXES)["acuity"]
_AXIS_WORDS = frozenset().union(*(words for _, words in AXES))
_SIDES = frozenset({"right", "left", "bilateral"})
# Where the clause of a title's "without" ends.
_CLAUSE_END = re.compile(r",|\b(?:of|with|in|due|at|on|following|involving|complicating)\b")


@dataclass(frozen=True, slots=True)
class Step:
    """One move down the hierarchy, with the words that justified it (none for a fallback)."""

    parent: str
    child: str
    words: tuple[str, ...]
    fallback: bool


@dataclass(frozen=True, slots=True)
class Specific:
    """The billable code reached, the steps taken, and the axes the note left open."""

    code: str
    steps: tuple[Step, ...]
    missing: tuple[str, ...]


class SpecificityWalker:
    """Chooses, level by level, the child whose subtree the note's words support best."""

    def __init__(self, codeset: CodeSet):
        self.codeset = codeset
        self._words: dict[str, frozenset[str]] = {}
        self._with: dict[str, int] = {}
        self._without: dict[str, frozenset[str]] = {}
        self._lent: dict[tuple[str, str], frozenset[str]] = {}
        self._subtrees: dict[str, tuple[frozenset[str], ...]] = {}
        # a long note says the same thing in the same words many times (a problem list
        # carried through every encounter): the same walk, once
        self.from_match = lru_cache(maxsize=4096)(self._from_match)
        self._most_specific = lru_cache(maxsize=4096)(self._walk)

    def words(self, key: str) -> frozenset[str]:
        """The title's words, and `=CODE` for each code its "use additional code" notes ask
        for, so that a sentence naming that code supports it ("BPH with nocturia": N40.1)."""
        words = self._words.get(key)
        if words is None:
            title = _DEFAULT_PHRASES.sub(" unspecified ", self.codeset.node(key).title)
            additional = self.codeset.reference_targets(key, NoteKind.USE_ADDITIONAL_CODE)
            words = self._words[key] = (
                content_words(title)
                | one_word_phrases(title)
                | {code_word(target) for target, _ in additional}
            )
        return words

    def _with_clauses(self, key: str) -> int:
        """How many "with ..." clauses the title has: "with unspecified complications" still
        documents a complication, "without complications" does not."""
        count = self._with.get(key)
        if count is None:
            title = _DEFAULT_PHRASES.sub(" unspecified ", self.codeset.node(key).title)
            count = self._with[key] = normalize_tokens(PARENS.sub(" ", title)).count("with")
        return count

    def denied(self, key: str) -> frozenset[str]:
        """The words a title puts after "without", up to a comma or the next phrase ("of",
        "with"...): "Encounter for general adult medical examination without abnormal
        findings" -> abnormal, findings; "Laceration without foreign body of left hand" ->
        foreign, body. Where the note has them, not under a negation, the "without" code is
        the wrong one."""
        denied = self._without.get(key)
        if denied is None:
            title = PARENS.sub(" ", self.codeset.node(key).title).lower()
            clauses = [_CLAUSE_END.split(part)[0] for part in title.split(" without ")[1:]]
            denied = frozenset(normalize_tokens(" ".join(clauses))) - _NO_SUPPORT - FILLER
            self._without[key] = denied
        return denied

    def _default_rank(self, key: str, parent: str) -> tuple[int, int, int, int, int]:
        """The Index default when the note says nothing more: no added "with" clause; a child
        that says "unspecified"/"without" where its parent does not; fewest other words
        ("other" is no distinction); "unspecified" before "other"."""
        words, parent_words = self.words(key), self.words(parent)
        new = words - parent_words
        return (
            int(self._with_clauses(key) > self._with_clauses(parent)),
            0 if new & _DEFAULT_WORDS else 1,
            len(new - _DEFAULT_WORDS - _OTHER_WORDS - _UNMARKED),
            int("other" in new),
            0 if words & _DEFAULT_WORDS else 1,
        )

    def _support(self, key: str, parent_words: frozenset[str], context: Set[str]) -> int:
        return max(len((said & context) - parent_words) for said in self._subtree(key))

    def _subtree(self, key: str) -> tuple[frozenset[str], ...]:
        """The words that may support each node of a subtree: its title's, less those that
        support nothing and those it says "without" ("Vomiting without nausea")."""
        found = self._subtrees.get(key)
        if found is None:
            found = self._subtrees[key] = tuple(
                self.words(k) - _NO_SUPPORT - self.denied(k)
                for k in (key, *self.codeset.descendants(key))
            )
        return found

    def choose(self, keys: list[str], term: str, context: Set[str]) -> str:
        """Among the nodes one term names (an Index main term's subterms: "osteoarthritis" is
        M19.9, M17 knee, M16 hip), the first whose subtree the note's other words support
        best; the first when none is supported."""
        if len(keys) == 1:
            return keys[0]
        own = frozenset(normalize_tokens(term))
        scores = [self._support(k, own, context) for k in keys]
        return keys[scores.index(max(scores))]

    def concept_words(self, key: str, text: str = "") -> frozenset[str]:
        """The words a concept of the sentence lends the walk of another: its title's and
        its text's ("CKD": chronic, kidney). Generic nouns ("disease" of GERD) would support
        unrelated complications; its side, episode of care and numbers are its own
        ("glaucoma, right eye"; the 2 of "DM2" is no obesity class 2)."""
        lent = self._lent.get((key, text))
        if lent is None:
            title = self.codeset.node(key).title
            words = (
                content_words(title)
                | content_words(text)
                | one_word_phrases(title)
                | one_word_phrases(text)
            )
            lent = frozenset(
                w for w in words - _NOT_LENT if "_" in w or not any(c.isdigit() for c in w)
            )
            if len(self._lent) > 100_000:
                self._lent.clear()
            self._lent[key, text] = lent
        return lent

    def lent_words(self, key: str, text: str, linked: bool) -> frozenset[str]:
        """What a concept of the sentence, coded `key` and written `text`, lends the walk of
        another: its words and its codes. Its acuity only where the note links the two ("T2DM
        with CKD": chronic kidney disease); a concept listed beside another keeps it ("COPD and
        atrial fibrillation" is no chronic atrial fibrillation)."""
        words = self.concept_words(key, text) | self.code_words(key)
        return words if linked else words - dict(AXES)["acuity"]

    def code_words(self, key: str) -> frozenset[str]:
        """The context words of a concept coded in the sentence: its node and ancestors."""
        return frozenset(code_word(k) for k in (key, *self.codeset.ancestors(key)) if "-" not in k)

    def _axis(self, parent_words: frozenset[str], children: list[str]) -> str:
        words = set().union(*(self.words(c) for c in children)) - parent_words
        return next((name for name, axis in AXES if words & axis), "specificity")

    def _from_match(
        self, key: str, term: str, text: str, context: Set[str], attached: Set[str] = frozenset()
    ) -> Specific:
        """`most_specific` from a node matched by `term`. A term may match past an axis word
        of the note ("right arm" meets "Pain in arm, unspecified"; "bilateral cleft lip" meets
        "cleft lip NOS", the unilateral code): when the mention says an axis word that neither
        the term nor the code reached has, the siblings of the matched node are weighed too,
        and one the words choose outright wins. A region the sentence names that the code
        lacks ("diverticulosis of sigmoid colon": large intestine, not "part unspecified") is
        looked for up to the category. `attached` is the words written with the mention, in its
        phrase: an axis word there counts as said ("COPD exacerbation" is COPD with
        exacerbation). The
        term's own words that its node's title lacks name the node ("headache" of "migraine
        headache" is migraine, G43, not the periodic headache syndromes below it): they support
        no child, unless they are axis words."""
        term_words = content_words(term)
        consumed = term_words - self.words(key) - _AXIS_WORDS
        context = context - consumed if consumed & context else context
        specific = self.most_specific(key, context)
        words = self.words(specific.code)
        said = content_words(_DEFAULT_PHRASES.sub(" unspecified ", text)) - term_words
        said |= (attached & _AXIS_WORDS) - term_words
        if (said - words) & _AXIS_WORDS:
            parent = self.codeset.parent(key)
            if parent and _seventh(parent, self.codeset.children(parent)):
                parent = self.codeset.parent(parent)  # the axis is above the 7th character
            starts, wanted = ([parent] if parent and ":" not in parent else []), None
        else:
            # a region the sentence names that the code reached lacks, unless it names the
            # site itself ("juvenile osteochondrosis, right hand" is no upper limb code)
            sites = {w for w in context if w in READS_AS}
            wanted = set() if sites & words else (context & REGION_WORDS) - words
            if not wanted:
                return specific
            starts = [a for a in reversed(self.codeset.ancestors(key)) if ":" not in a]
        for start in starts:
            again = self.most_specific(start, context)
            if (
                again.code != specific.code
                and not any(s.fallback for s in again.steps)
                and (not wanted or wanted & self.words(again.code))
            ):
                return again
        return specific

    def most_specific(self, start: str, context: Set[str]) -> Specific:
        """From `start` down to a billable code; with no support, the unspecified child."""
        return self._most_specific(start, frozenset(context))

    def _walk(self, start: str, context: frozenset[str]) -> Specific:
        codeset = self.codeset
        key, steps, missing = start, [], []
        while not codeset.node(key).billable and (children := codeset.children(key)):
            parent_words = self.words(key)
            ranked = sorted(
                children,
                key=lambda c: (
                    # the side the note names decides first ("both eyes": bilateral, not the
                    # "unspecified eye" that the word "eye" supports as well)
                    -len(self.words(c) & _SIDES & context),
                    -self._support(c, parent_words, context),
                    len(self.denied(c) & context),
                    # a child that drops a word of its parent which the note uses ("neck" of
                    # "head and neck") fits less well
                    len((parent_words - self.words(c)) & context),
                    -len((self.words(c) - parent_words - _NO_SUPPORT) & context),
                    _dominance(self.words(c), context),
                    self._default_rank(c, key),
                ),
            )
            unsupported = self._support(ranked[0], parent_words, context) == 0
            seventh = _seventh(key, children)
            # 7th characters: with nothing documented, the first (A, initial encounter).
            best = children[0] if unsupported and seventh else ranked[0]
            supported = tuple(sorted((self.words(best) - parent_words - _NO_SUPPORT) & context))
            if unsupported and seventh:
                missing.append("episode of care")
            elif unsupported and len(children) > 1 and "unspecified" in self.words(best):
                missing.append(self._axis(parent_words, children))
            steps.append(Step(key, best, supported, not supported))
            key = best
        return Specific(key, tuple(steps), tuple(dict.fromkeys(missing)))


def code_word(key: str) -> str:
    """The context word that stands for a code named in the sentence."""
    return f"={key}"


def head_words(title: str) -> frozenset[str]:
    """The words that name a concept itself, without axis words: "Acute sinusitis" -> sinusitis."""
    return content_words(title) - _DEFAULT_WORDS - frozenset().union(*(a for _, a in AXES))


def _dominance(words: frozenset[str], context: Set[str]) -> int:
    """I.C.6.a: with dominance undocumented, the right side is dominant and the left side
    nondominant (hemiplegia, monoplegia, their sequelae)."""
    if "dominant" not in words and "nondominant" not in words:
        return 0
    side = "nondominant" if "left" in context and "right" not in context else "dominant"
    return 0 if side in words else 1


def _seventh(key: str, children: list[str]) -> bool:
    """Whether the children are the 7th-character extensions of `key`."""
    return all(len(c) == 8 and c.startswith(key) for c in children)
