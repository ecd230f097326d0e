"""Pure parts of the benchmark harness: seeded samples, pair generation, scoring, miss labels.

Nothing here loads the engine, so these functions are unit-tested with exact values
(tests/test_bench_quick.py).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# The three ways a pair of conditions is written in the multiple-conditions task.
CONNECTORS = (" and ", " with ", "; ")
# Words that name no condition: left out when comparing descriptions with a note's words.
STOP_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "be", "by", "due", "for", "from", "in", "is", "not", "of"}
    | {"on", "or", "other", "the", "to", "with", "without", "unspecified", "specified", "nos"}
    | {"site", "type"}
)
_WORD = re.compile(r"[a-z0-9]+")
_PARENS = re.compile(r"\([^()]*\)")
# Miss labels for real notes, in the order they are tried (see `classify_miss`).
MISS_LABELS = (
    "gold code not billable in FY2026",
    "context or policy (recognised, then excluded)",
    "wrong specificity (same category found)",
    "lexicon miss (description words in the text)",
    "not in text (description words absent)",
)


def sample(items: Sequence[str], size: int | None, seed: int) -> list[str]:
    """A seeded sample in the items' order; all items when `size` is None or too large."""
    if size is None or size >= len(items):
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), size))
    return [item for i, item in enumerate(items) if i in chosen]


def make_pairs(codes: Sequence[str], count: int, seed: int) -> list[tuple[str, str, str]]:
    """`count` seeded (first, second, connector) triples of two different codes; the
    connectors take turns so each is used for a third of the pairs."""
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        first, second = rng.sample(range(len(codes)), 2)
        pairs.append((codes[first], codes[second], CONNECTORS[i % len(CONNECTORS)]))
    return pairs


def join_pair(first: str, connector: str, second: str) -> str:
    """The input text of one pair: "A and B", "A with B", "A; B"."""
    return f"{first}{connector}{second}"


def words(text: str) -> frozenset[str]:
    """A text's condition words: lower case, plurals folded ("ribs" -> "rib"), no
    parenthesised modifiers, no stop words."""
    found = _WORD.findall(_PARENS.sub(" ", text.lower()))
    return frozenset(_fold(w) for w in found) - STOP_WORDS


def _fold(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    return word


def is_combination(title: str, first: str, second: str) -> bool:
    """Whether a code's description names both conditions of a pair: every condition word of
    both descriptions is in it. Strict on purpose: a combination code only counts when its own
    title carries everything the two descriptions say."""
    return bool(words(first) | words(second)) and words(first) | words(second) <= words(title)


def pair_outcome(emitted: Sequence[str], first: str, second: str, combined: bool) -> str:
    """'both' (both codes emitted), 'combination' (see `is_combination`), or what is missing."""
    has_first, has_second = first in emitted, second in emitted
    if has_first and has_second:
        return "both"
    if combined:
        return "combination"
    if has_first:
        return "second missing"
    if has_second:
        return "first missing"
    return "both missing"


def category(code: str) -> str:
    """The 3-character category of a code ("E11.22" -> "E11")."""
    return code[:3]


@dataclass(slots=True)
class Tally:
    """Phrase -> first answer scores: exact, 3-character category, invalid and empty answers."""

    n: int = 0
    exact: int = 0
    category: int = 0
    invalid: int = 0
    empty: int = 0
    failures: list[dict[str, object]] = field(default_factory=list)

    def add(self, phrase: str, targets: Iterable[str], answer: str | None, valid: bool) -> None:
        """Score one answer against the set of acceptable billable codes."""
        targets = sorted(targets)
        self.n += 1
        hit = answer in targets
        self.exact += hit
        self.category += answer is not None and category(answer) in {category(t) for t in targets}
        self.empty += answer is None
        self.invalid += answer is not None and not valid
        if not hit:
            self.failures.append({"input": phrase, "expected": targets[:3], "answer": answer})

    def to_json(self, examples: int = 10) -> dict[str, object]:
        return {
            "n": self.n,
            "exact": self.exact,
            "exact_pct": pct(self.exact, self.n),
            "category": self.category,
            "category_pct": pct(self.category, self.n),
            "invalid": self.invalid,
            "invalid_pct": pct(self.invalid, self.n),
            "empty": self.empty,
            "failures": self.failures[:examples],
        }


@dataclass(slots=True)
class Micro:
    """Micro-averaged precision, recall and F1 over documents' code sets."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], gold: set[str]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def to_json(self) -> dict[str, float | int]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
        }


def classify_miss(
    gold: str,
    *,
    billable: bool,
    emitted: set[str],
    excluded: set[str],
    title: str | None,
    note_words: frozenset[str],
) -> str:
    """Why a gold code of a real note was not emitted, by the first heuristic that applies:

    1. the gold code is not a billable FY2026 code (no exact match is possible);
    2. the engine found this exact code and excluded it (negated, family, history, uncertain,
       combined): a context or policy decision, which may be right under US rules;
    3. a code of the same 3-character category was emitted or excluded: wrong specificity;
    4. at least half of the gold description's condition words occur in the note: the words
       are there but the lexicon did not name them;
    5. otherwise the description's words are absent (paraphrase, inference, lost in
       translation, or a catch-all code such as R69).
    """
    if not billable:
        return MISS_LABELS[0]
    if gold in excluded:
        return MISS_LABELS[1]
    if category(gold) in {category(c) for c in emitted | excluded}:
        return MISS_LABELS[2]
    wanted = words(title or "")
    if wanted and 2 * len(wanted & note_words) >= len(wanted):
        return MISS_LABELS[3]
    return MISS_LABELS[4]


def build_notes(texts: Sequence[str], min_words: int, count: int) -> list[str]:
    """`count` notes of at least `min_words` words made of whole lines of `texts`, taken in
    order and wrapping around: real sentences at a fixed length."""
    lines = [line for text in texts for line in text.splitlines() if line.strip()]
    notes, current, size, i = [], [], 0, 0
    while len(notes) < count:
        line = lines[i % len(lines)]
        current.append(line)
        size += len(line.split())
        i += 1
        if size >= min_words:
            notes.append("\n".join(current) + "\n")
            current, size = [], 0
    return notes


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def pct(part: int, whole: int) -> float:
    """A percentage rounded to 3 decimals (0 for an empty whole)."""
    return round(100 * part / whole, 3) if whole else 0.0
