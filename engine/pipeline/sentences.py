"""A line-aware sentence splitter: clinical notes put one finding per line or list item.

Replaces PyRuSH (70% of medspaCy's default run time) with a rule that is linear in tokens.
"""

from __future__ import annotations

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span

from medcode.terminology.lexicon import normalize_tokens

_ENDERS = {".", "?", "!", ";"}


@Language.component("medcode_sentences")
def split_sentences(doc: Doc) -> Doc:
    """A sentence starts after a line break or after . ? ! ; followed by a space."""
    starts = []  # 1: starts a sentence, -1: does not
    after_break = True
    for token in doc:
        starts.append(1 if after_break else -1)
        text = token.text
        after_break = "\n" in text or (text in _ENDERS and bool(token.whitespace_))
    if starts:  # one write for the doc, not one per token (spaCy stores the flags as uint64)
        values = numpy.array(starts, dtype="int64").astype("uint64").reshape(-1, 1)
        doc.from_array([SENT_START], values)
    return doc


class SentenceIndex:
    """A doc's sentences, their concepts and negated tokens, computed once for all its
    concepts (`span.sent` walks the doc at each call)."""

    def __init__(self, doc: Doc):
        self.doc = doc
        self.number: list[int] = []
        self.starts: list[int] = []
        for token in doc:
            if token.is_sent_start or not token.i:
                self.starts.append(token.i)
            self.number.append(len(self.starts) - 1)
        self.starts.append(len(doc))
        self._ents: dict[int, list[Span]] = {}
        self._words: dict[int, list[str]] = {}
        for ent in doc.ents:
            self._ents.setdefault(self.number[ent.start], []).append(ent)
        self.negated: set[int] = set()
        graph = doc._.context_graph if doc.has_extension("context_graph") else None
        for modifier in graph.modifiers if graph is not None else ():
            if modifier.category == "NEGATED_EXISTENCE":
                first, end = modifier.scope_span  # token offsets
                self.negated.update(range(first, end))

    def bounds(self, span: Span) -> tuple[int, int]:
        n = self.number[span.start]
        return self.starts[n], self.starts[n + 1]

    def ents(self, span: Span) -> list[Span]:
        return self._ents.get(self.number[span.start], [])

    def words(self, span: Span) -> list[str]:
        """The sentence's words outside negation scopes (the span's own words always)."""
        n = self.number[span.start]
        words = self._words.get(n)
        if words is None:
            tokens = self.doc[self.starts[n] : self.starts[n + 1]]
            words = self._words[n] = [
                w for t in tokens if t.i not in self.negated for w in normalize_tokens(t.text)
            ]
        own = [
            w
            for i in range(span.start, span.end)
            if i in self.negated
            for w in normalize_tokens(self.doc[i].text)
        ]
        return words + own if own else words
