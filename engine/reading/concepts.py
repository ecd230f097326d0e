"""Concept matching: the longest lexicon term at each position, never inside a section header,
the measurements a note writes as values (measurements.py) and the drugs of its medication and
allergy lists (medications.py)."""

import re

from spacy.language import Language
from spacy.tokens import Doc, Span

from medcode.terminology import CodeSet
from medcode.terminology.drugs import DrugTable
from medcode.terminology.index_terms import SOURCE as INDEX_SOURCE
from medcode.terminology.index_terms import IndexBuild
from medcode.terminology.lexicon import Lexicon

from .drug_effects import drug_phrase_spans
from .extensions import declare_extensions
from .measurements import bmi_spans, gestation_spans
from .medications import drug_spans

CONCEPT_LABEL = "CONDITION"
_WORD = re.compile(r"[a-z0-9]+")
# Words a term may have inside it in a note but not in the lexicon: side and article words.
_PASSED_OVER = frozenset({"right", "left", "bilateral", "both", "the", "rt", "lt"})
_MAX_PASSED_OVER = 3
# Where the Alphabetic Index is looked up: a coder looks up the diagnostic statements (the
# diagnoses, the assessment, the reason for the visit, the conditions the history lists), not
# the words of an exam, a procedure or a lab result; a text without headers is one statement.
INDEX_SECTIONS = frozenset(
    {
        None,
        "chief_complaint",
        "past_medical_history",
        "admission_diagnoses",
        "assessment_and_plan",
        "assessment",
        "discharge_diagnoses",
        "problem_list",
    }
)


class ConceptMatcher:
    """Sets `doc.ents` to non-overlapping concept spans with their lexicon entries."""

    def __init__(
        self,
        codeset: CodeSet,
        lexicon: Lexicon,
        drugs: DrugTable | None = None,
        index: IndexBuild | None = None,
    ):
        declare_extensions()
        self.codeset = codeset
        self.lexicon = lexicon
        self.drugs = drugs or DrugTable.load()
        self.index = index  # the Index release the lexicon holds (its Neoplasm Table sites)
        self._token_words: dict[str, tuple[str, ...]] = {}

    def __call__(self, doc: Doc) -> Doc:
        headers = {t.i for title in _section_titles(doc) for t in title}
        sentence, number = [], -1
        for token in doc:
            number += token.is_sent_start or not token.i
            sentence.append(number)
        words = [
            (word, token.i)
            for token in doc
            if token.i not in headers
            for word in self._words(token.lower_)
        ]
        spans: list[Span] = []
        i = 0
        while i < len(words):
            span = self._longest(doc, words, i, sentence)
            if span is None:
                i += 1
                continue
            spans.append(span)
            i += span._.match_words
        text = doc.text  # built from the tokens at each call
        measured = bmi_spans(doc, text, CONCEPT_LABEL) + gestation_spans(doc, text, CONCEPT_LABEL)
        spans += (s for s in measured if s.start not in headers)
        spans += drug_spans(doc, self.drugs, CONCEPT_LABEL)
        if self.index is not None:
            spans += drug_phrase_spans(doc, words, sentence, self.index.drugs, CONCEPT_LABEL)
        doc.ents = _unique(sorted(spans, key=lambda s: (s.start, -len(s))))
        return doc

    def _words(self, lower: str) -> tuple[str, ...]:
        """A token's words as the lexicon reads them, once per distinct token."""
        words = self._token_words.get(lower)
        if words is None:
            if len(self._token_words) > 200_000:
                self._token_words.clear()
            read = self.lexicon.read
            words = self._token_words[lower] = tuple(read(w) for w in _WORD.findall(lower))
        return words

    def _longest(
        self, doc: Doc, words: list[tuple[str, int]], i: int, sentence: list[int]
    ) -> Span | None:
        """The longest term at word i; side and article words inside a term are passed over
        ("sprain of the left ankle" is the term "sprain of ankle", its side read from the
        sentence), unless the term itself has them ("right upper quadrant pain")."""
        first = words[i][0]
        if first not in self.lexicon.lengths:
            return None
        pairs = self.lexicon.pair_lengths
        # the longest term the next word, or the next word not passed over, may continue
        reach = 1
        for j in range(i + 1, min(len(words), i + 2 + _MAX_PASSED_OVER)):
            found = pairs.get((first, words[j][0]))
            if found:
                reach = max(reach, found[0])
            if words[j][0] not in _PASSED_OVER:
                break
        if reach == 1 and (first,) not in self.lexicon.terms:
            return None
        direct = self._match(doc, [(i, *words[i])], words, i, reach, sentence)
        if first in _PASSED_OVER or reach == 1:
            return direct
        window = words[i : i + reach + _MAX_PASSED_OVER]
        if not any(w in _PASSED_OVER for w, _ in window[1:]):
            return direct
        compact = [
            (i + n, w, t) for n, (w, t) in enumerate(window) if n == 0 or w not in _PASSED_OVER
        ]
        passed = self._match(doc, compact, words, i, reach, sentence, compact=True)
        if passed is not None and (direct is None or passed._.match_words > direct._.match_words):
            return passed
        return direct

    def _match(
        self,
        doc: Doc,
        seq: list[tuple[int, str, int]],
        words: list[tuple[str, int]],
        i: int,
        longest: int,
        sentence: list[int],
        *,
        compact: bool = False,
    ) -> Span | None:
        if not compact:
            seq = [(i + n, w, t) for n, (w, t) in enumerate(words[i : i + longest])]
        tokens = [w for _, w, _ in seq]
        terms = self.lexicon.terms
        # the lengths of the terms that start with these two words, then the word alone
        pair = self.lexicon.pair_lengths.get(tuple(tokens[:2]), ()) if len(tokens) > 1 else ()
        for length in (*pair, 1):
            if length > len(seq):
                continue
            key = tuple(tokens[:length])
            if key not in terms:
                continue
            first, last = seq[0][2], seq[length - 1][2]
            if sentence[first] != sentence[last]:
                continue
            entries = self.lexicon.lookup(key)
            if entries and doc[first]._.section_category not in INDEX_SECTIONS:
                entries = tuple(e for e in entries if e.source != INDEX_SOURCE)
            if not entries:
                continue
            if any(e.case_sensitive for e in entries):
                text = doc[first : last + 1].text
                entries = tuple(e for e in entries if not e.case_sensitive or e.term in text)
            if entries:
                span = Span(doc, first, last + 1, label=CONCEPT_LABEL)
                span._.lexicon_entries = entries
                span._.match_words = seq[length - 1][0] - i + 1
                return span
        return None


def _section_titles(doc: Doc) -> list[Span]:
    return list(doc._.section_titles) if Doc.has_extension("section_titles") else []


def _unique(spans: list[Span]) -> list[Span]:
    # Sub-token words can make two matches share a token; keep the first.
    kept: list[Span] = []
    for span in spans:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


@Language.factory("medcode_concepts", default_config={"tabular": None, "cms_dir": None})
def make_concept_matcher(
    nlp: Language, name: str, tabular: str | None, cms_dir: str | None
) -> "ConceptMatcher":
    """spaCy factory: `nlp.add_pipe("medcode_concepts")` loads the cached FY2026 lexicon with
    the Index (the packaged FY2025 release, or `cms_dir`)."""
    from medcode.terminology.cache import load_codeset, load_index, load_lexicon

    codeset = load_codeset(tabular)
    index = load_index(codeset, cms_dir)
    return ConceptMatcher(codeset, load_lexicon(codeset, index), index=index)
