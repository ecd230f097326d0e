"""The drugs of a note's medication and allergy lists, as status concepts: a drug on the
medication list is long-term (current) drug therapy (Z79.-, I.C.21.c.3), one on the allergy list
an allergy status (Z88.-); the class decides the code (terminology/drugs.yaml). A drug named
anywhere else (the history, the plan) is no list and gives nothing here."""

from __future__ import annotations

from spacy.tokens import Doc, Span

from medcode.terminology.drugs import DrugTable
from medcode.terminology.lexicon import LexiconEntry, normalize_tokens

ORIGIN = "terminology/drugs.yaml"
# the section of a list -> which code of a drug's class it implies
LISTS = {"medications": "long_term", "allergies": "allergy"}
# how far after a drug's name its list entry may say a short course
_ENTRY_TOKENS = 12


def drug_spans(doc: Doc, table: DrugTable, label: str) -> list[Span]:
    """Spans of the drugs named in the medication and allergy sections, each with the entry
    of the status code its class and list give."""
    words: list[tuple[str, int, str]] = []  # (word, token index, the list it is on)
    for section in doc._.sections:  # only the lists' tokens: most of a note is neither
        kind = LISTS.get(section.category)
        if kind is not None:
            start, end = section.section_span
            words += [(w, t.i, kind) for t in doc[start:end] for w in normalize_tokens(t.text)]
    spans = []
    plain = [word for word, _, _ in words]
    i = 0
    while i < len(words):
        found = table.match(plain, i)
        if found is None:
            i += 1
            continue
        length, name, drug_class = found
        first, last, kind = words[i][1], words[i + length - 1][1], words[i][2]
        code = getattr(drug_class, kind)
        if kind == "long_term" and _short_course(doc, last, table):
            code = None
        if code is not None and words[i + length - 1][2] == kind:
            span = Span(doc, first, last + 1, label=label)
            span._.lexicon_entries = (LexiconEntry(code, "drug list", ORIGIN, name),)
            span._.match_words = length
            spans.append(span)
        i += length
    return spans


def _short_course(doc: Doc, last: int, table: DrugTable) -> bool:
    """Whether the list entry after the drug's name says a short course ("x5 days", "taper")."""
    if table.short_course is None:
        return False
    end = last + 1
    while end < len(doc) and end - last <= _ENTRY_TOKENS and not _ends_entry(doc[end]):
        end += 1
    return bool(table.short_course.search(doc[last + 1 : end].text))


def _ends_entry(token) -> bool:
    return "\n" in token.text or token.text in (",", ";") or token.is_sent_start
