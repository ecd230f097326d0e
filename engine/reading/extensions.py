"""Custom spaCy attributes of medcode, declared once."""

from __future__ import annotations

from spacy.tokens import Span


def declare_extensions() -> None:
    """Declare `Span._.lexicon_entries` (the lexicon entries a concept span matched),
    `Span._.match_words` (how many normalised words it covered) and `Span._.is_other_person`
    (ConText: the condition is someone else's, not a relative's: a donor, a source patient)."""
    for name, default in (("lexicon_entries", ()), ("match_words", 0), ("is_other_person", False)):
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
