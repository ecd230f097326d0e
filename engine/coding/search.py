"""Ranked candidate codes for a phrase: exact lexicon terms first, then word overlap."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from medcode.terminology import CodeSet
from medcode.terminology.lexicon import Lexicon, normalize_tokens

from .specificity import SpecificityWalker

CANDIDATE_TERMS = 3_000


@dataclass(frozen=True, slots=True)
class Candidate:
    code: str
    description: str
    score: float
    matched: str

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "description": self.description,
            "score": self.score,
            "matched": self.matched,
        }


class Searcher:
    """Phrase -> billable candidate codes. An exact term scores 1.0 (walked to a billable
    code with the phrase's own words); other terms score by the share of IDF-weighted words
    they have in common with the phrase."""

    def __init__(self, codeset: CodeSet, lexicon: Lexicon, walker: SpecificityWalker):
        self.codeset = codeset
        self.lexicon = lexicon
        self.walker = walker

    @cached_property
    def _postings(self) -> dict[str, list[tuple[str, ...]]]:
        postings: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for term in self.lexicon.terms:
            for word in set(term):
                postings[word].append(term)
        return postings

    def _idf(self, word: str) -> float:
        return math.log(1 + len(self.lexicon.terms) / (1 + len(self._postings.get(word, ()))))

    def search(self, phrase: str, limit: int = 10) -> list[Candidate]:
        words = normalize_tokens(phrase)
        if not words:
            return []
        found: dict[str, Candidate] = {}
        for entry in self.lexicon.lookup(words):
            code = self.walker.most_specific(entry.key, frozenset(words)).code
            found.setdefault(code, Candidate(code, self._title(code), 1.0, entry.term))
        if len(found) >= limit:
            return sorted(found.values(), key=lambda c: -c.score)[:limit]
        wanted = set(words)
        idf = {w: self._idf(w) for w in sorted(wanted)}
        total = sum(idf.values())
        scored: dict[tuple[str, ...], float] = {}
        for term in self._sharing(wanted):
            # summed in sorted order: a float sum in set order differs in its last bits from one
            # process to the next, and equal scores would rank in no fixed order
            extra = sorted(set(term) - wanted)
            shared = sorted(wanted.intersection(term))
            scored[term] = sum(idf[w] for w in shared) / (total + sum(map(self._idf, extra)))
        for term, score in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(found) >= limit:
                break
            for entry in self.lexicon.lookup(term):
                code = self.walker.most_specific(entry.key, frozenset(words)).code
                if code not in found:
                    found[code] = Candidate(code, self._title(code), round(score, 4), entry.term)
        return sorted(found.values(), key=lambda c: -c.score)[:limit]

    def _sharing(self, wanted: set[str]) -> set[tuple[str, ...]]:
        """The terms sharing a word with the phrase, from its rarest words on: once a few
        thousand are gathered, terms that share only common words ("of", "disease") could
        not outrank them."""
        terms: set[tuple[str, ...]] = set()
        for word in sorted(wanted, key=lambda w: (len(self._postings.get(w, ())), w)):
            if len(terms) >= CANDIDATE_TERMS:
                break
            terms.update(self._postings.get(word, ()))
        return terms

    def _title(self, code: str) -> str:
        return self.codeset.node(code).title
