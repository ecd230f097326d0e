"""Custom spaCy attributes of medcode, declared once."""

from __future__ import annotations

from spacy.tokens import Span


def declare_extensions() -> None:
    """Declare `Span._.lexicon_entries` (the lexicon entries a concept span matched) and
    `Span._.match_words` (how many normalised words it covered)."""
    for name, default in (("lexicon_entries", ()), ("match_words", 0)):
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
