"""A line-aware sentence splitter: clinical notes put one finding per line or list item.

Replaces PyRuSH (70% of medspaCy's default run time) with a rule that is linear in tokens.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

_ENDERS = {".", "?", "!", ";"}


@Language.component("medcode_sentences")
def split_sentences(doc: Doc) -> Doc:
    """A sentence starts after a line break or after . ? ! ; followed by a space."""
    for i, token in enumerate(doc):
        previous = doc[i - 1] if i else None
        token.is_sent_start = previous is None or (
            "\n" in previous.text or (previous.text in _ENDERS and bool(previous.whitespace_))
        )
    return doc
