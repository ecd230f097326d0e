"""Concept matching: the longest lexicon term at each position, never inside a section header."""

import re

from spacy.language import Language
from spacy.tokens import Doc, Span

from medcode.terminology import CodeSet
from medcode.terminology.lexicon import Lexicon, fold

from .extensions import declare_extensions

CONCEPT_LABEL = "CONDITION"
_WORD = re.compile(r"[a-z0-9]+")


class ConceptMatcher:
    """Sets `doc.ents` to non-overlapping concept spans with their lexicon entries."""

    def __init__(self, codeset: CodeSet, lexicon: Lexicon):
        declare_extensions()
        self.codeset = codeset
        self.lexicon = lexicon

    def __call__(self, doc: Doc) -> Doc:
        headers = {t.i for title in _section_titles(doc) for t in title}
        words = [
            (fold(word), token.i)
            for token in doc
            if token.i not in headers
            for word in _WORD.findall(token.lower_)
        ]
        spans: list[Span] = []
        i = 0
        while i < len(words):
            span = self._longest(doc, words, i)
            if span is None:
                i += 1
                continue
            spans.append(span)
            i += span._.match_words
        doc.ents = _unique(spans)
        return doc

    def _longest(self, doc: Doc, words: list[tuple[str, int]], i: int) -> Span | None:
        for length in self.lexicon.lengths.get(words[i][0], ()):
            if i + length > len(words):
                continue
            first, last = words[i][1], words[i + length - 1][1]
            if doc[first].sent.start != doc[last].sent.start:
                continue
            entries = self.lexicon.lookup(tuple(w for w, _ in words[i : i + length]))
            span = doc[first : last + 1]
            entries = tuple(e for e in entries if not e.case_sensitive or e.term in span.text)
            if entries:
                span = Span(doc, first, last + 1, label=CONCEPT_LABEL)
                span._.lexicon_entries = entries
                span._.match_words = length
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


@Language.factory("medcode_concepts", default_config={"tabular": None})
def make_concept_matcher(nlp: Language, name: str, tabular: str | None) -> "ConceptMatcher":
    """spaCy factory: `nlp.add_pipe("medcode_concepts")` loads the cached FY2026 lexicon."""
    from medcode.terminology.cache import load_codeset, load_lexicon

    codeset = load_codeset(tabular)
    return ConceptMatcher(codeset, load_lexicon(codeset))
