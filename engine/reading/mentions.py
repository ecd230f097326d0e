"""Mentions: the conditions a note names, each with its section, ConText modifiers, assertion
and the words of its sentence that may make its code specific."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from medcode.engine.result import Evidence
from medcode.terminology.lexicon import LexiconEntry, normalize_tokens

from .document import DocumentType, DocumentTypes
from .measurements import ORIGIN as MEASUREMENT_ORIGIN
from .sentences import PHRASE, SentenceIndex
from .words import read_as

# Notes are read in chunks cut at line ends, so memory stays bounded on huge inputs.
CHUNK_CHARS = 20_000
ASSERTION_ORDER = ("negated", "other", "family", "hypothetical", "historical", "uncertain")
SECTION_ASSERTIONS = {
    "family_history": "family",
    "past_medical_history": "historical",
    "past_surgical_history": "historical",
}

# The words a concept of the sentence lends the walk of another, by its code, its text and
# whether the note links the two (no "and", "or" or comma between them).
Lender = Callable[[str, str, bool], frozenset[str]]


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
    sentence_words: frozenset[str]  # its clause's words and what other concepts lend it
    sentence: int
    attached_words: frozenset[str] = frozenset()  # the words written with it, in its phrase
    phrase_words: frozenset[str] = frozenset()  # the same, reaching further (a neoplasm's site)

    def evidence(self) -> Evidence:
        return Evidence(self.start, self.end, self.text, self.section, self.assertion)


@dataclass(frozen=True, slots=True)
class Reading:
    """What reading a note gives coding: its mentions and the kind of document it is (with the
    setting a coder codes it in)."""

    mentions: list[Mention]
    document_type: DocumentType


class MentionReader:
    """Runs the pipeline over a note, chunk by chunk, and reads each concept as a Mention."""

    def __init__(self, nlp: Language, lend: Lender):
        self.nlp = nlp
        self.lend = lend
        self.document_types = DocumentTypes()

    def read(self, text: str, step: Callable[[], AbstractContextManager] = nullcontext) -> Reading:
        """The note's mentions and the kind of document it is; each chunk of the text is read
        within `step()` (the caller's lock and time budget)."""
        mentions: list[Mention] = []
        sections: set[str] = set()
        # One object per distinct word set: a long note repeats the same sentences and lists,
        # and each mention keeps three sets (a 20 MB note holds ~100,000 mentions).
        shared: dict[frozenset[str], frozenset[str]] = {}
        for offset, end in self._chunks(text):
            with step():
                doc = self.nlp(text[offset:end])
                mentions += self._mentions(doc, offset, shared)
                sections.update(s.category for s in doc._.sections if s.category)
        kind = self.document_types.classify(text, frozenset(sections))
        return Reading(mentions, kind)

    def _chunks(self, text: str) -> Iterator[tuple[int, int]]:
        """The text in pieces of at most CHUNK_CHARS, cut at a line's end where there is one."""
        offset = 0
        while offset < len(text):
            end = min(len(text), offset + CHUNK_CHARS)
            if end < len(text):
                cut = text.rfind("\n", offset, end)
                end = cut + 1 if cut > offset else end
            yield offset, end
            offset = end

    def _mentions(
        self, doc: Doc, offset: int, shared: dict[frozenset[str], frozenset[str]]
    ) -> Iterator[Mention]:
        sentences = SentenceIndex(doc)
        trimester = _trimester(doc)
        for span in doc.ents:
            section = span._.section_category
            words = self._context_words(span, sentences)
            if trimester and span._.lexicon_entries[0].key.startswith("O"):
                words |= trimester  # the weeks the note gives date every pregnancy code
            attached = frozenset(read_as(sentences.attached(span)))
            phrase = frozenset(normalize_tokens(span.text)) | frozenset(
                sentences.attached(span, PHRASE)
            )
            yield Mention(
                offset + span.start_char,
                offset + span.end_char,
                span.text,
                section,
                assertion(span, section),
                tuple(_modifier(doc[slice(*m.modifier_span)], m, offset) for m in span._.modifiers),
                span._.lexicon_entries,
                shared.setdefault(words, words),
                offset + doc[sentences.bounds(span)[0]].idx,
                shared.setdefault(attached, attached),
                shared.setdefault(phrase, phrase),
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
                words |= self.lend(key, other.text, sentences.linked(span, other))
        return frozenset(words)


def assertion(span: Span, section: str | None) -> str:
    """The mention's assertion: the first of ASSERTION_ORDER that ConText or the section gives."""
    # "resolved" where the note reports the stay (discharge diagnoses, hospital course): the
    # condition was present and treated; elsewhere it is history.
    resolved = section not in ("discharge_diagnoses", "hospital_course") and any(
        m.category == "RESOLVED" for m in span._.modifiers
    )
    flags = {
        "negated": span._.is_negated,
        "other": span._.is_other_person,
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
