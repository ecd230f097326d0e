"""Sentences as notes are written: one finding per line or list item, lines wrapped in the
middle of a sentence, headers inline, notes flattened to one line by their export; and the
index of a doc's sentences, their concepts and the words a concept's phrase has.

Replaces PyRuSH (70% of medspaCy's default run time) with a rule that is linear in tokens.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cached_property

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import compile_infix_regex

from medcode.terminology.lexicon import normalize_tokens

_ENDERS = {".", "?", "!", ";"}
# What ends a line's sentence before a line break, or makes a comma after it a flattened break.
_BREAKS = _ENDERS | {":"}
# Words a wrapped line may end with: the sentence goes on below ("... follow-up in\nclinic").
_CONTINUING = {
    "and",
    "or",
    "with",
    "without",
    "of",
    "to",
    "the",
    "a",
    "an",
    "for",
    "in",
    "on",
    "at",
    "by",
    "from",
    "as",
    "but",
    "nor",
    "no",
    "not",
    "denies",
    "possible",
    ",",
}
# Words that join two conditions: the words between two concepts are split at the last one,
# so "pterygium of left eye and glaucoma, right eye" gives each its own side.
# A comma is no joiner: it sets off a site or an episode as often ("scar of left hand,
# sequela of old laceration").
# "L femur", "R knee": a capital letter alone is a side
_SIDES = {"L": ("left",), "R": ("right",)}
_JOINERS = {"and", "with", "or", ";", "plus", "also", "+", "/"}
# Words that list conditions side by side rather than link them.
_LISTING = (_JOINERS - {"with"}) | {",", "."}
_MAX_HEADER_WORDS = 6
_ATTACHED = 3
# How far, in tokens either side, a concept reads its sentence (`SentenceIndex.near`).
WINDOW = 80
# How far a phrase reaches for the site of a neoplasm ("adenocarcinoma of the ascending colon").
PHRASE = 6


def split_flattened_lines(nlp: Language) -> None:
    """Let the tokenizer split "obesity.,DISCHARGE" and "PROCEDURES:,1." into their words and
    punctuation: notes flattened to one line write a line break as a comma after a full stop or
    a colon (see `_starts`)."""
    infixes = [*nlp.Defaults.infixes, r"(?<=[^\s.:;!?,])[.:;!?](?=,)", r"(?<=[.:;!?]),(?=\S)"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


@Language.component("medcode_sentences")
def split_sentences(doc: Doc) -> Doc:
    """Sentences as a note is structured (see `_starts`)."""
    starts = _starts(doc)
    if starts:  # one write for the doc, not one per token (spaCy stores the flags as uint64)
        values = numpy.array(starts, dtype="int64").astype("uint64").reshape(-1, 1)
        doc.from_array([SENT_START], values)
    return doc


def _starts(doc: Doc) -> list[int]:
    """1 where a sentence starts, -1 elsewhere. A sentence starts
    - after . ? ! ; and a space;
    - at a new line, unless the line before was wrapped: it ends without a full stop or colon,
      and ends with a comma or a word that needs more ("in", "and"), or the new line starts in
      lower case ("Possible\nosteoarthritis ..."); a blank line, a list item or a header always
      starts anew;
    - after a comma that follows a full stop or a header colon: a line break as notes
      flattened to one line write it ("obesity.,DISCHARGE DIAGNOSIS: , Morbid obesity.");
    - after a header written in capitals and a colon ("HEENT: normocephalic").
    """
    texts = [t.text for t in doc]  # plain strings: the loop is on every note's every token
    starts = [-1] * len(texts)
    if texts:
        starts[0] = 1
    previous = before = None  # the last two tokens that are not only spaces
    line: list[int] = []  # the current line's tokens so far, while they may be a header
    for i, text in enumerate(texts):
        if text.isspace() and "\n" not in text:
            continue
        if previous is None:
            start = True
        elif "\n" in text:
            start = False  # the line break token itself: the next token decides
        elif "\n" in texts[previous]:
            start = _new_line(texts, previous, before, i)
        else:
            last = texts[previous]
            start = (
                (last in _ENDERS and bool(doc[previous].whitespace_))
                # a comma after a full stop or a header colon is a flattened line break
                or (last == "," and before is not None and texts[before] in _BREAKS)
                or (last == ":" and bool(line) and _is_header([doc[j] for j in line]))
            )
        if start:
            starts[i] = 1
        if start or "\n" in text:
            line = []
        if "\n" not in text:
            line.append(i)
        before, previous = previous, i
    return starts


def _new_line(texts: list[str], line_break: int, before: int | None, first: int) -> bool:
    """Whether the line that starts at token `first` starts a sentence (see `_starts`)."""
    if texts[line_break].count("\n") > 1 or before is None:
        return True
    last = texts[before]
    if "\n" in last or last in _BREAKS:
        return True
    if texts[first][:1].isdigit() or texts[first] in ("-", "*", "\u2022"):
        return True  # a list item
    return not (last.lower() in _CONTINUING or texts[first][:1].islower())


def _is_header(words: list) -> bool:
    """A header in capitals: a few words in upper case ("REVIEW OF SYSTEMS", "HEENT")."""
    return (
        len(words) <= _MAX_HEADER_WORDS
        and any(w.is_alpha for w in words)
        and all(w.is_upper or not w.is_alpha for w in words)
        and all(w.text not in _ENDERS for w in words)
    )


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
        for ent in doc.ents:
            self._ents.setdefault(self.number[ent.start], []).append(ent)
        self._ent_starts = {n: [e.start for e in ents] for n, ents in self._ents.items()}
        self.negated: set[int] = set()
        graph = doc._.context_graph if doc.has_extension("context_graph") else None
        for modifier in graph.modifiers if graph is not None else ():
            if modifier.category == "NEGATED_EXISTENCE":
                first, end = modifier.scope_span  # token offsets
                self.negated.update(range(first, end))

    def bounds(self, span: Span) -> tuple[int, int]:
        n = self.number[span.start]
        return self.starts[n], self.starts[n + 1]

    def near(self, span: Span) -> tuple[int, int]:
        """The span's sentence, at most WINDOW tokens either side of it: what a concept reads
        of its sentence. Real sentences fit; a "sentence" of thousands of comma-listed words
        (a flattened list, a pasted table) then costs each concept the same as a short one."""
        first, end = self.bounds(span)
        return max(first, span.start - WINDOW), min(end, span.end + WINDOW)

    def ents(self, span: Span) -> list[Span]:
        """The concepts of the span's sentence within its reach (`near`)."""
        n = self.number[span.start]
        ents, starts = self._ents.get(n, []), self._ent_starts.get(n, [])
        first, end = self.near(span)
        window = ents[bisect_left(starts, first) : bisect_left(starts, end)]
        return [e for e in window if e.end <= end]

    def words(self, span: Span) -> list[str]:
        """The words of the span's part of its sentence, outside negation scopes (the span's
        own words always). Its part runs from the joiner after the concept before it to the
        joiner before the concept after it; without a joiner between them, two concepts
        share the words between them."""
        first, end = self.clause(span)
        negated, words = self.negated, self._token_words
        return [
            w
            for i in range(first, end)
            if i not in negated or span.start <= i < span.end
            for w in words[i]
        ]

    @cached_property
    def _token_words(self) -> list[tuple[str, ...]]:
        """Each token's words, normalised once for all the concepts of the doc."""
        return [_SIDES.get(t.text) or normalize_tokens(t.text) for t in self.doc]

    def clause(self, span: Span) -> tuple[int, int]:
        """The token range of the span's part of its sentence (see `words`)."""
        first, end = self.near(span)
        before = [e for e in self.ents(span) if e.end <= span.start]
        after = [e for e in self.ents(span) if e.start >= span.end]
        if before and (joiner := self._last_joiner(before[-1].end, span.start)) is not None:
            first = joiner + 1
        if after and (joiner := self._last_joiner(span.end, after[0].start)) is not None:
            end = joiner
        return first, end

    def attached(self, span: Span, reach: int = _ATTACHED) -> list[str]:
        """The words written with the span, in its phrase: up to `reach` tokens either side,
        not past punctuation, a joiner or a negation ("COPD exacerbation improving")."""
        doc, words = self.doc, self._token_words
        near: list[str] = []
        for step, start in ((1, span.end), (-1, span.start - 1)):
            i = start
            while 0 <= i < len(doc) and abs(i - start) < reach:
                token = doc[i]
                if token.is_punct or token.lower_ in _JOINERS or i in self.negated:
                    break
                near += words[i]
                i += step
        return near

    def linked(self, span: Span, other: Span) -> bool:
        """Whether two concepts of a sentence are written as one ("T2DM with CKD"), not listed
        side by side ("COPD and atrial fibrillation", "CKD, T2DM")."""
        first, last = sorted((span, other), key=lambda s: s.start)
        return not any(self.doc[i].lower_ in _LISTING for i in range(first.end, last.start))

    def _last_joiner(self, start: int, stop: int) -> int | None:
        for i in range(stop - 1, start - 1, -1):
            if self.doc[i].lower_ in _JOINERS:
                return i
        return None
