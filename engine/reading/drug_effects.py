"""Poisoning, adverse effects and underdosing (I.C.19.e.5): the Drug Table's phrases in a
note's words ("acetaminophen overdose", "hypokalemia due to furosemide"; the table and its
phrasings: terminology/drug_table.py)."""

from __future__ import annotations

from spacy.tokens import Doc, Span

from medcode.terminology.drug_table import SOURCE, DrugPhrases
from medcode.terminology.lexicon import LexiconEntry


def drug_phrase_spans(
    doc: Doc,
    words: list[tuple[str, int]],
    sentence: list[int],
    phrases: DrugPhrases,
    label: str,
) -> list[Span]:
    """A span for each Drug Table phrase of the words (read as the lexicon reads them, with
    their token), within one sentence, with the entry of its row's column."""
    plain = [word for word, _ in words]
    spans = []
    for i, word in enumerate(plain):
        found = phrases.find(plain, i) if word in phrases.lengths else None
        if found is None:
            continue
        first, last = words[found.start][1], words[found.end - 1][1]
        if sentence[first] != sentence[last]:
            continue
        span = Span(doc, first, last + 1, label=label)
        span._.lexicon_entries = (LexiconEntry(found.key, SOURCE, found.origin, span.text),)
        span._.match_words = found.end - found.start
        spans.append(span)
    return spans
