"""Code a clinical note: pipeline -> mentions -> specific codes -> assertion policy -> result."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from spacy.tokens import Doc, Span

from medcode.terminology import CodeSet, NoteKind
from medcode.terminology.cache import package_version
from medcode.terminology.lexicon import Lexicon, LexiconEntry, normalize_tokens

from .ambiguity import AmbiguityResolver
from .pipeline import build_pipeline
from .pipeline.measurements import ORIGIN as MEASUREMENT_ORIGIN
from .pipeline.sentences import SentenceIndex
from .policy import RULES_DIR, SETTINGS, AssertionPolicy
from .result import CodedCode, CodingResult, Edit, Evidence, ExcludedCode, Query
from .rulelang import Encounter, Fact, Outcome, RuleBook, RuleEngine
from .specificity import SpecificityWalker, content_words, head_words, read_as

# Notes are processed in chunks cut at line ends, so memory stays bounded on huge inputs.
CHUNK_CHARS = 20_000
MAX_CHARS = 20_000_000
# Words that never tell one additional code from another.
_FILLER_WORDS = frozenset({"unspecified", "other", "specified"})
# Sections whose diagnoses are the provider's conclusions: they lead the sequence.
CONCLUSION_SECTIONS = frozenset(
    {"discharge_diagnoses", "assessment_and_plan", "assessment", "problem_list", "plan"}
)
ASSERTION_ORDER = ("negated", "family", "hypothetical", "historical", "uncertain")
SECTION_ASSERTIONS = {
    "family_history": "family",
    "past_medical_history": "historical",
    "past_surgical_history": "historical",
}


class InputError(ValueError):
    """The note cannot be coded (too large); the CLI reports it with exit status 2."""


@dataclass(frozen=True, slots=True)
class Mention:
    """A concept found in the note, with its context and the code it leads to."""

    start: int
    end: int
    text: str
    section: str | None
    assertion: str
    modifiers: tuple[dict[str, Any], ...]
    entries: tuple[LexiconEntry, ...]
    sentence_words: frozenset[str]
    sentence: int

    def evidence(self) -> Evidence:
        return Evidence(self.start, self.end, self.text, self.section, self.assertion)


@dataclass(slots=True)
class _Candidate:
    code: str
    mention: Mention
    trace: list[dict[str, Any]]
    missing: tuple[str, ...]
    action: str
    reason: str
    support: frozenset[str] = frozenset()


class Coder:
    """The coding engine: load once, then `code(text)` many times (thread-compatible reads)."""

    def __init__(
        self,
        tabular: str | None = None,
        rules: RuleBook | None = None,
        ambiguity: AmbiguityResolver | None = None,
    ):
        """`ambiguity` decides whether an LLM is consulted; by default, only when
        $MEDCODE_LLM_URL is set (docs/LLM.md)."""
        self.nlp = build_pipeline(tabular)
        matcher = self.nlp.get_pipe("medcode_concepts")
        self.codeset: CodeSet = matcher.codeset
        self.lexicon: Lexicon = matcher.lexicon
        self.walker = SpecificityWalker(self.codeset)
        self.policy = AssertionPolicy(self.codeset)
        self.rules = RuleEngine(self.codeset, rules)
        self.ambiguity = ambiguity or AmbiguityResolver.from_env(self.codeset, self.walker)
        self.versions = {
            "engine": package_version(),
            "code_set": f"FY{self.codeset.provenance.fy} {self.codeset.provenance.sha256[:16]}",
            # the shipped packs and tables, or the rule book given
            "rules": rules_digest() if rules is None else rules.digest,
        }

    def code(self, text: str, *, document: str = "-", setting: str = "inpatient") -> CodingResult:
        """Code one note. `setting` decides the policy for uncertain diagnoses (II.H / IV.H)."""
        return self.code_traced(text, document=document, setting=setting)[0]

    def code_traced(
        self, text: str, *, document: str = "-", setting: str = "inpatient"
    ) -> tuple[CodingResult, Outcome]:
        """`code`, plus what the rule packs did (every firing), for rule tests and audits."""
        if setting not in SETTINGS:
            raise InputError(f"unknown setting {setting!r} (inpatient or outpatient)")
        if len(text) > MAX_CHARS:
            raise InputError(f"note too large: {len(text)} characters (limit {MAX_CHARS})")
        mentions = [m for offset, doc in self._docs(text) for m in self._mentions(doc, offset)]
        candidates = [self._candidate(m, setting) for m in mentions]
        self._combine(candidates)
        reviews = self.ambiguity.resolve(candidates, text)
        outcome = self.rules.run(self._encounter(candidates, setting, text), self._supported)
        return self._result(document, setting, candidates, outcome, reviews), outcome

    # -- text -> mentions --------------------------------------------------------------------

    def _docs(self, text: str) -> Iterator[tuple[int, Doc]]:
        offset = 0
        while offset < len(text):
            end = min(len(text), offset + CHUNK_CHARS)
            if end < len(text):
                cut = text.rfind("\n", offset, end)
                end = cut + 1 if cut > offset else end
            yield offset, self.nlp(text[offset:end])
            offset = end

    def _mentions(self, doc: Doc, offset: int) -> Iterator[Mention]:
        sentences = SentenceIndex(doc)
        trimester = _trimester(doc)
        for span in doc.ents:
            section = span._.section_category
            words = self._context_words(span, sentences)
            if trimester and span._.lexicon_entries[0].key.startswith("O"):
                words |= trimester  # the weeks the note gives date every pregnancy code
            yield Mention(
                offset + span.start_char,
                offset + span.end_char,
                span.text,
                section,
                _assertion(span, section),
                tuple(_modifier(doc[slice(*m.modifier_span)], m, offset) for m in span._.modifiers),
                span._.lexicon_entries,
                words,
                offset + doc[sentences.bounds(span)[0]].idx,
            )

    def _context_words(self, span: Span, sentences: SentenceIndex) -> frozenset[str]:
        """The sentence's words, plus the title words and codes of the other concepts in it
        ("CKD" brings "chronic kidney disease"), so that "T2DM with CKD" supports E11.22.
        Words a negation covers are left out ("no perforation or abscess" supports nothing),
        so are the words of a status (Z code) concept; "both" reads as "bilateral", a site
        as its region ("foot": lower limb)."""
        # a year is no evidence ("pneumonia in 2019" is not the COVID-19 pneumonia J12.82)
        words = read_as(w for w in sentences.words(span) if not _is_year(w))
        for other in sentences.ents(span):
            if other != span and not other._.is_negated:
                key = other._.lexicon_entries[0].key
                if key.startswith("Z"):
                    # a status ("treated with oral antidiabetics") is no complication: its
                    # words say nothing of the condition ("oral" is not E11.63-)
                    words -= set(normalize_tokens(other.text))
                    continue
                words |= self.walker.concept_words(key, other.text) | self.walker.code_words(key)
        return frozenset(words)

    # -- mention -> candidate code -----------------------------------------------------------

    def _candidate(self, mention: Mention, setting: str) -> _Candidate:
        first = mention.entries[0]
        # one curated line may name several nodes (an Index term's subterms by site or type)
        subterms = [e for e in mention.entries if e.origin == first.origin]
        chosen = self.walker.choose([e.key for e in subterms], first.term, mention.sentence_words)
        entry = next(e for e in subterms if e.key == chosen)
        trace: list[dict[str, Any]] = [
            {
                "step": "match",
                "term": entry.term,
                "node": entry.key,
                "source": entry.origin,
                "alternatives": [e.key for e in mention.entries if e is not entry],
            },
            {
                "step": "context",
                "assertion": mention.assertion,
                "section": mention.section,
                "modifiers": list(mention.modifiers),
            },
        ]
        specific = self.walker.from_match(
            entry.key, entry.term, mention.text, mention.sentence_words
        )
        trace += [
            {
                "step": "specificity",
                "from": s.parent,
                "to": s.child,
                "words": list(s.words),
                "fallback": s.fallback,
            }
            for s in specific.steps
        ]
        decision = self.policy.decide(setting, mention.assertion)
        trace.append(
            {
                "step": "policy",
                "setting": setting,
                "assertion": mention.assertion,
                "action": decision.action,
                "citation": decision.citation,
                "source": decision.source,
            }
        )
        code, action, reason = specific.code, decision.action, mention.assertion
        service = self.policy.incidental_service(code, mention.section)
        if action == "code" and service is not None:
            action, reason = "exclude", f"not the reason for the encounter ({service.citation})"
            trace.append(
                {
                    "step": "policy",
                    "setting": setting,
                    "assertion": mention.assertion,
                    "action": service.action,
                    "citation": service.citation,
                    "source": service.source,
                }
            )
        missing = specific.missing
        if action in ("family", "history"):
            z_code, row = self.policy.history_code(code, action)
            if z_code is not None and row is not None:
                trace.append({"step": "history", "from": code, "to": z_code, "source": row.source})
                code, action, missing = z_code, "code", ()
            elif (
                action == "history"
                and (row is None or row.history is None)
                and SECTION_ASSERTIONS.get(mention.section or "") == "historical"
                and not any(m["category"] in ("historical", "resolved") for m in mention.modifiers)
            ):
                # A past-history list (no "history of", no "resolved") names the patient's chronic
                # conditions (HTN, T2DM, CKD); those with a personal-history code are over.
                source = row.source if row is not None else decision.source
                trace.append(
                    {"step": "history", "from": code, "to": code, "source": source, "chronic": True}
                )
                action = "code"
            else:
                action, reason = "exclude", f"{mention.assertion}: no {action}-history code"
        support = frozenset(w for s in specific.steps for w in s.words)
        return _Candidate(code, mention, trace, missing, action, reason, support)

    def _combine(self, candidates: list[_Candidate]) -> None:
        """I.A.15 / I.B.11: a concept whose words made another code of its sentence specific,
        or that the code's title names already, is part of that combination code ("T2DM with
        hyperglycemia" is E11.65, not + R73.9; "Graves disease with diffuse goiter" E05.00, not
        + E04.9), unless the combination code asks for it as an additional code (E11.22 +
        N18.31)."""
        real = [c for c in candidates if c.action == "code" and _real(c)]
        by_sentence: dict[int, list[_Candidate]] = {}
        for c in real:
            by_sentence.setdefault(c.mention.sentence, []).append(c)
        for part in (c for group in by_sentence.values() for c in group):
            # the concept's own words, as the Tabular or the note names it ("neuropathy")
            heads = [
                head_words(self.codeset.node(part.trace[0]["node"]).title),
                head_words(part.mention.text),
            ]
            for whole in by_sentence[part.mention.sentence]:
                said = whole.support | self._implied(whole)
                head = next((h for h in heads if h and h <= said), None)
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

    def _implied(self, whole: _Candidate) -> frozenset[str]:
        """What the node a mention's term names says beyond the mention's words ("Graves
        disease" names E05.0, "Thyrotoxicosis with diffuse goiter": goiter), not counting what
        it says "without"."""
        node = whole.trace[0]["node"]
        title = head_words(self.codeset.node(node).title)
        return title - self.walker.denied(node) - content_words(whole.mention.text)

    def _same_condition(self, coded: list[_Candidate]) -> None:
        """A mention that left an axis to the default ("DM2", "distal radius fracture", the
        fracture of the HPI without its encounter) names the same condition as a mention coded
        more specifically below the same node ("T2DM with CKD", "Colles' fracture of right
        radius", "..., subsequent encounter"): the more specific code stands for both."""

        def walked(c: _Candidate) -> bool:
            return not any(s["step"] == "history" and s["to"] != s["from"] for s in c.trace)

        for less in coded:
            if not walked(less) or not any(
                s["step"] == "specificity" and s["fallback"] for s in less.trace
            ):
                continue
            start = less.trace[0]["node"]
            for more in coded:
                if (
                    more is less
                    or more.action != "code"
                    or more.code == less.code
                    or not walked(more)
                    or not self.codeset.is_below(more.code, start)
                    or not less.support <= content_words(self.codeset.node(more.code).title)
                ):
                    continue
                less.action, less.reason = "exclude", f"documented more specifically as {more.code}"
                less.trace.append({"step": "same condition", "into": more.code})
                break

    def _additional(self, code: str, other: str) -> bool:
        targets = self.codeset.reference_targets(code, NoteKind.USE_ADDITIONAL_CODE)
        return any(self.codeset.is_below(other, target) for target, _ in targets)

    # -- candidates -> rules -> result -----------------------------------------------------

    def _encounter(self, candidates: list[_Candidate], setting: str, text: str) -> Encounter:
        """One fact per code, in first sequence: conclusions, then note order."""
        # negated and hypothetical mentions of a code are a fact of their own, for the policy
        # rules to drop without touching the mentions that report it
        groups: dict[tuple[str, bool], list[_Candidate]] = {}
        for c in candidates:
            if c.action == "code":
                groups.setdefault((c.code, _real(c)), []).append(c)
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
                    # a value the note measured ("BMI 24.5"), not a condition it states
                    "measurement" if all(_measured(c) for c in group) else "note",
                    frozenset().union(*(c.mention.sentence_words for c in group)),
                    group,
                )
            )
        return Encounter(facts, setting, text=text)

    def _supported(self, roots: tuple[str, ...], fact: Fact) -> str | None:
        """The code under `roots` that the words around `fact` support, or None.

        The roots are siblings for this choice (N18.1-N18.6 for "stage of CKD"): a root is
        supported by a word of the note, beyond the fact's own title, that sets it or a code
        below it apart from the others ("3a" for N18.31); a single root only by the note naming
        it ("end stage" heart failure). Then the walk goes as deep as the words allow. Numbers
        of the fact's own title never count: "type 2" is not "stage 2".
        """
        own = content_words(self.codeset.node(fact.code).title)
        words = fact.words - {w for w in own if w.isdigit()}
        telling = fact.words - own  # words of the note beyond what the code itself says
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

    def _result(
        self,
        document: str,
        setting: str,
        candidates: list[_Candidate],
        outcome: Outcome,
        reviews: list[Edit],
    ) -> CodingResult:
        codes, queries = [], []
        active = _merged(outcome.encounter.active)
        for position, fact in enumerate(active, 1):
            group = _group(fact)
            evidence = tuple(c.mention.evidence() for c in group)
            trace = (
                *(group[0].trace if fact.handle else ()),
                *fact.steps,
                {"step": "sequence", "position": position},
            )
            confidence = _confidence(group) if fact.handle else "medium"
            title = self.codeset.node(fact.code).title
            codes.append(CodedCode(fact.code, title, position, confidence, evidence, trace))
            first = group[0]
            if fact.handle and fact.code == first.code and all(c.missing for c in group):
                queries += [
                    Query(fact.code, m, _question(self.codeset, fact.code, m, first), evidence)
                    for m in first.missing
                ]
        for q in outcome.queries:
            title = self.codeset.node(q.code).title
            question = f"Please document the {q.missing} for {q.code} ({title})."
            evidence = tuple(c.mention.evidence() for c in _group(q.fact))
            queries.append(Query(q.code, q.missing, question, evidence))
        reported = set(outcome.codes)
        excluded: dict[tuple[str, str], list[tuple[_Candidate, tuple]]] = {}
        for c in candidates:
            if c.action != "code" and c.code not in reported:
                excluded.setdefault((c.code, c.reason), []).append((c, ()))
        for fact in outcome.encounter.facts:
            if not fact.active and fact.code not in reported:
                for c in _group(fact):
                    excluded.setdefault((fact.code, fact.reason), []).append((c, fact.steps))
        return CodingResult(
            document,
            self.codeset.provenance.fy,
            setting,
            tuple(codes),
            tuple(
                ExcludedCode(
                    code,
                    reason,
                    tuple(c.mention.evidence() for c, _ in group),
                    (*group[0][0].trace, *group[0][1]),
                )
                for (code, reason), group in excluded.items()
            ),
            edits=(*outcome.edits, *reviews),
            queries=tuple(queries),
            versions=self.versions,
        )


def _real(candidate: _Candidate) -> bool:
    """Whether the note says the condition is there (not negated, not hypothetical)."""
    return candidate.mention.assertion not in ("negated", "hypothetical")


def _merged(facts: list[Fact]) -> list[Fact]:
    """Facts reported under the same code (rules kept a negated mention) as one code."""
    first: dict[str, Fact] = {}
    for fact in facts:
        if fact.code in first and fact.handle and first[fact.code].handle:
            first[fact.code].handle = [*first[fact.code].handle, *fact.handle]
        first.setdefault(fact.code, fact)
    return list(first.values())


def _group(fact: Fact) -> list[_Candidate]:
    """The candidates behind a fact; for a code a rule added, those of the codes it matched."""
    if fact.handle:
        return fact.handle
    return [c for origin in fact.origin for c in _group(origin)]


def _is_year(word: str) -> bool:
    return len(word) == 4 and word[:2] in ("19", "20") and word.isdigit()


def _trimester(doc: Doc) -> frozenset[str]:
    """The trimester of the weeks of gestation the note measures (I.C.15.a.3: the first
    before 14 weeks, the second before 28), as the one word the walk reads in titles."""
    weeks = [
        int(entry.key[4:])
        for span in doc.ents
        for entry in span._.lexicon_entries[:1]
        if entry.origin == MEASUREMENT_ORIGIN and entry.key.startswith("Z3A.")
    ]
    if not weeks:
        return frozenset()
    first = weeks[0] if weeks[0] != 1 else 7  # Z3A.01: less than 8 weeks
    name = "first" if first < 14 else "second" if first < 28 else "third"
    return frozenset({f"{name}_trimester"})


def _measured(candidate: _Candidate) -> bool:
    return candidate.trace[0].get("source") == MEASUREMENT_ORIGIN


def _sequence_key(group: list[_Candidate]) -> tuple[int, int]:
    """Conclusions first, in the order the provider lists them, then the rest in note order
    (rules resequence after this)."""
    concluded = [c.mention.start for c in group if c.mention.section in CONCLUSION_SECTIONS]
    if concluded:
        return (0, min(concluded))
    return (1, min(c.mention.start for c in group))


def _assertion(span: Span, section: str | None) -> str:
    # "resolved" where the note reports the stay (discharge diagnoses, hospital course): the
    # condition was present and treated; elsewhere it is history.
    resolved = section not in ("discharge_diagnoses", "hospital_course") and any(
        m.category == "RESOLVED" for m in span._.modifiers
    )
    flags = {
        "negated": span._.is_negated,
        "family": span._.is_family or SECTION_ASSERTIONS.get(section or "") == "family",
        "hypothetical": span._.is_hypothetical,
        "historical": span._.is_historical
        or resolved
        or SECTION_ASSERTIONS.get(section or "") == "historical",
        "uncertain": span._.is_uncertain,
    }
    return next((name for name in ASSERTION_ORDER if flags[name]), "affirmed")


def _modifier(trigger: Span, modifier: Any, offset: int) -> dict[str, Any]:
    """A ConText modifier as a trace records it: category and the words that triggered it."""
    return {
        "category": modifier.category.lower(),
        "trigger": trigger.text,
        "start": offset + trigger.start_char,
        "end": offset + trigger.end_char,
    }


def _confidence(group: list[_Candidate]) -> str:
    """high: an exact term in a conclusion section, nothing left unspecified; medium: exact
    term elsewhere; low: the code is an unspecified fallback (a query goes with it)."""
    if all(c.missing for c in group):
        return "low"
    if any(c.mention.section in CONCLUSION_SECTIONS for c in group):
        return "high"
    return "medium"


def _question(codeset: CodeSet, code: str, missing: str, candidate: _Candidate) -> str:
    return (
        f"The note supports only {code} ({codeset.node(code).title}) for "
        f'"{candidate.mention.text}". Please document the {missing}.'
    )


def rules_digest() -> str:
    """sha256 over the shipped rule packs, recorded in every result."""
    digest = hashlib.sha256()
    for path in sorted(RULES_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".rules"):
            digest.update(path.relative_to(RULES_DIR).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()
