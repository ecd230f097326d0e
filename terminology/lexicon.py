"""The lexicon: words that name a code-set node, compiled from the Tabular and curated files.

Terms are normalised to token tuples (`normalize_tokens`), the same way note text is, so
matching is a dictionary lookup per candidate length. Sources, in order of preference when one
term names several nodes: the curated clinical lexicon (rule authors' YAML files), Tabular
titles, inclusion terms, includes notes.

A curated file is a YAML list of `{term, code, case?}`: `code` is one code-set node, a list of
nodes (an Index main term with site or type subterms, e.g. osteoarthritis: [M19.9, M17, M16];
the engine takes the one the sentence's words support, else the first), or `none` (a stop term
that blocks Tabular terms of the same words); `case: exact` matches the term as written.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .codeset import CodeSet, checked, each_checked, normalize_code
from .errors import TerminologyError
from .notes import NoteKind
from .tabular import NodeKind

CURATED_DIR = Path(__file__).with_name("lexicon")
_WORD = re.compile(r"[a-z0-9]+")
_PARENS = re.compile(r"\([^()]*\)")
_NOS = re.compile(r"\bNOS\b")
_UNSAID = re.compile(r"\bwithout foreign body\b", re.I)
# Plural and possessive endings are folded so "fractures" meets "fracture".
_KEEP_S = ("ss", "us", "is", "ys")


@lru_cache(maxsize=200_000)
def normalize_tokens(text: str) -> tuple[str, ...]:
    """Lower-case words with a light plural fold: "Fractures of Ribs" -> (fracture, of, rib)."""
    return tuple(fold(word) for word in _WORD.findall(text.lower()))


# Abbreviations that stand for one word of a term wherever they are written.
_ALIASES = {"fx": "fracture", "fxs": "fracture"}


# British spellings read as American ones, in words of 6 letters or more (so "toe" and "shoe"
# stay themselves): haemorrhage, oedema, anaemia, diarrhoea, tumour, centre, hospitalised.
_BRITISH = (
    (re.compile(r"(?<=[a-z])ae|^ae(?=[^r])"), "e"),
    (re.compile(r"(?<=[a-z])oe(?=[a-z])|^oe"), "e"),
    (re.compile(r"our(s?)$"), r"or\1"),
    (re.compile(r"([bt])re(s?)$"), r"\1er\2"),
    (re.compile(r"is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
)


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """The matching form of one lower-case word ("adenopathies" -> adenopathy, "fx" ->
    fracture, "haemorrhages" -> hemorrhage)."""
    if word in _ALIASES:
        return _ALIASES[word]
    if len(word) >= 6 and word.isalpha():
        for pattern, american in _BRITISH:
            word = pattern.sub(american, word)
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(_KEEP_S):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One way of naming a node: the node key, the source kind and where it is written."""

    key: str
    source: str
    origin: str
    term: str
    case_sensitive: bool = False
    # an Index morphology term ("adenocarcinoma"): the Neoplasm Table column its site is read in
    table: str | None = None


# The key of a stop term (a curated `code: none` line).
STOP = ""
# A Tabular term written as an acronym ("PRES") is matched as written: folded it is a word ("pre").
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,5}$")
# A Tabular term that is one word and a sign ("HR+", "ER-") cannot be matched: the sign is no
# word, and without it the term is something else ("hr", hours; "HR", heart rate).
_SIGNED = re.compile(r"^\w+[+-]$")

# Preference between sources when the same words name several nodes.
SOURCE_RANK = {
    "curated": 0,
    "title": 1,
    "inclusion": 2,
    "includes": 3,
    "index": 4,
}


def _variants(text: str) -> Iterator[str]:
    """The text, without non-essential modifiers in parentheses, without "NOS"/"unspecified",
    and without the Index defaults a note leaves unsaid: "Unspecified sprain of right wrist" is
    written "sprain of right wrist", "Laceration without foreign body of right forearm"
    "laceration of right forearm"."""
    yield text
    bare = _PARENS.sub(" ", text)
    yield bare
    for form in (text, bare):
        yield _NOS.sub(" ", form)
        if form.rstrip().lower().endswith(", unspecified"):
            yield form.rstrip()[: -len(", unspecified")]
        # only phrases ("sprain of wrist"): a bare "fall" or "asthma" names too much
        if form.lower().startswith("unspecified ") and len(_WORD.findall(form)) > 3:
            yield form[len("unspecified ") :]
        if _UNSAID.search(form):
            yield _UNSAID.sub(" ", form)


class Lexicon:
    """Terms -> lexicon entries, with the lengths to try for each first token.

    Entries are kept as plain tuples indexed from the terms, so that the cached lexicon loads
    in a fraction of the time a pickle of dataclasses takes.
    """

    def __init__(
        self,
        terms: dict[tuple[str, ...], tuple[int, ...]],
        rows: list[tuple],
        spelling: dict[str, str] | None = None,
        lengths: tuple[dict, dict] | None = None,
    ):
        self.terms = terms
        self.rows = rows
        self.spelling = spelling or {}
        self._read: dict[str, str] = {}
        # by first word, and by first two words (what a match tries at a word)
        self.lengths, self.pair_lengths = lengths or (term_lengths(terms), pair_lengths(terms))

    def to_payload(self) -> tuple:
        """Plain data for the on-disk cache (`from_payload` reverses it)."""
        return self.terms, self.rows, self.spelling, (self.lengths, self.pair_lengths)

    @classmethod
    def from_payload(cls, payload: tuple) -> Lexicon:
        """The lexicon of `to_payload`'s data; ValueError when the data has another shape."""
        terms, rows, spelling, lengths = checked(payload, tuple, 4)
        each_checked(checked(terms, dict).values(), tuple)
        each_checked(checked(rows, list), tuple, 6)
        each_checked(checked(spelling, dict).values(), str)
        firsts, pairs = checked(lengths, tuple, 2)
        each_checked(checked(firsts, dict).values(), list)
        each_checked(checked(pairs, dict).values(), list)
        return cls(terms, rows, spelling, (firsts, pairs))

    def __len__(self) -> int:
        return len(self.terms)

    def read(self, word: str) -> str:
        """A note's lower-case word as the terms' words are written: folded
        (`fold`), a misspelling of a long word corrected (`spelled`) before or after the fold
        ("cholecystits" -> cholecystitis, "pnuemonias" -> pneumonia)."""
        read = self._read.get(word)
        if read is None:
            read = fold(word)
            if len(read) >= SPELLED_LENGTH and self.spelling.get(read) not in (read, _ENGLISH):
                right = self.spelled(word)
                read = fold(right) if right != word else self.spelled(read)
            if len(self._read) > 100_000:
                self._read.clear()
            self._read[word] = read
        return read

    def spelled(self, word: str) -> str:
        """A long word one edit away from exactly one word of the terms, as that word
        ("pnuemonia" -> pneumonia, "cholecystits" -> cholecystitis); any other word as it is.
        Words under 7 letters, words of the terms and everyday English words are never
        changed (`spelling_index`)."""
        return _corrected(self.spelling, word)

    def lookup(self, tokens: tuple[str, ...]) -> tuple[LexiconEntry, ...]:
        return tuple(LexiconEntry(*self.rows[i]) for i in self.terms.get(tokens, ()))

    def entries_for(self, key: str) -> list[tuple[tuple[str, ...], LexiconEntry]]:
        """Every term naming `key` (for `medcode explain` and `search`)."""
        return [
            (tokens, LexiconEntry(*self.rows[i]))
            for tokens, ids in self.terms.items()
            for i in ids
            if self.rows[i][0] == key
        ]


def term_lengths(terms: Iterable[tuple[str, ...]]) -> dict[str, list[int]]:
    """The lengths of the terms that start with each word, longest first."""
    lengths: dict[str, set[int]] = {}
    for tokens in terms:
        lengths.setdefault(tokens[0], set()).add(len(tokens))
    return {first: sorted(found, reverse=True) for first, found in lengths.items()}


def pair_lengths(terms: Iterable[tuple[str, ...]]) -> dict[tuple[str, str], list[int]]:
    """The lengths of the terms of two words or more that start with each two words."""
    lengths: dict[tuple[str, str], set[int]] = {}
    for tokens in terms:
        if len(tokens) > 1:
            lengths.setdefault(tokens[:2], set()).add(len(tokens))
    return {pair: sorted(found, reverse=True) for pair, found in lengths.items()}


def curated_files(folder: Path = CURATED_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def curated_digest(folder: Path = CURATED_DIR) -> str:
    """sha256 over the curated files and this module (how terms are compiled), so that a
    change to either rebuilds a cached lexicon."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in curated_files(folder):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_curated(codeset: CodeSet, folder: Path = CURATED_DIR) -> Iterator[LexiconEntry]:
    """Curated entries, each checked against the code set; a wrong entry is an error."""
    for path in curated_files(folder):
        lines = path.read_text(encoding="utf-8").splitlines()
        try:
            items = yaml.safe_load("\n".join(lines)) or []
        except yaml.YAMLError as exc:
            raise TerminologyError(f"{path}: invalid YAML: {exc}") from exc
        term_lines = [i + 1 for i, line in enumerate(lines) if re.match(r"\s*- term:", line)]
        for item, line in zip(items, term_lines, strict=False):
            where = f"{path.parent.name}/{path.name}:{line}"
            if not isinstance(item, dict) or "term" not in item or "code" not in item:
                raise TerminologyError(f"{where}: an entry needs 'term' and 'code'")
            # A list of codes is an Index main term with site or type subterms ("osteoarthritis":
            # M19.9, M17 knee, M16 hip): the engine takes the first, or the one whose subtree
            # the note's words support.
            # `code: none` is a stop term: words that name no condition in a note, though a
            # Tabular term has them ("Activity, unspecified", "Axis"); it blocks those terms.
            if str(item["code"]).lower() == "none":
                yield LexiconEntry(STOP, "curated", where, str(item["term"]))
                continue
            codes = item["code"] if isinstance(item["code"], list) else [item["code"]]
            for code in codes:
                key = normalize_code(str(code))
                if key not in codeset:
                    raise TerminologyError(f"{where}: unknown code {code!r}")
                yield LexiconEntry(
                    key, "curated", where, str(item["term"]), item.get("case") == "exact"
                )


def tabular_entries(codeset: CodeSet) -> Iterator[LexiconEntry]:
    """Titles, inclusion terms and includes notes of every code node."""
    for node in codeset.nodes():
        if node.kind in (NodeKind.CHAPTER, NodeKind.SECTION):
            continue
        yield LexiconEntry(node.key, "title", f"Tabular {node.key} title", node.title)
        for note in node.notes:
            if note.kind is NoteKind.INCLUSION_TERM:
                yield LexiconEntry(
                    node.key, "inclusion", f"Tabular {node.key} inclusion term", note.text
                )
            elif note.kind is NoteKind.INCLUDES and node.kind is not NodeKind.CHAPTER:
                yield LexiconEntry(node.key, "includes", f"Tabular {node.key} includes", note.text)


SPELLED_LENGTH = 7


def _deletions(word: str) -> Iterator[str]:
    yield word
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]


# In the spelling index: an everyday English word, kept as it is and never a correction.
_ENGLISH = "="


def _corrected(index: dict[str, str], word: str) -> str:
    if len(word) < SPELLED_LENGTH or not word.isalpha() or index.get(word) in (word, _ENGLISH):
        return word
    found = {index.get(k) for k in _deletions(word)} - {None, "", _ENGLISH}
    if len(found) != 1:
        return word
    (right,) = found
    return right if _one_edit(word, right) else word


def _one_edit(a: str, b: str) -> bool:
    """Whether exactly one insertion, deletion, substitution or swap of neighbours makes a
    into b."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if start is None:
        return True  # one is the other plus a last letter
    if len(a) == len(b):
        rest_a, rest_b = a[start + 1 :], b[start + 1 :]
        swapped = a[start + 1 : start + 2] == b[start] and b[start + 1 : start + 2] == a[start]
        return rest_a == rest_b or (swapped and a[start + 2 :] == b[start + 2 :])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1 :] == shorter[start:]


def spelling_index(terms: Iterable[tuple[str, ...]]) -> dict[str, str]:
    """For `Lexicon.spelled`: every long word of the terms as itself, and each of its
    one-letter deletions as it (or "" when two words share one). Everyday English words one
    edit from a term's word ("treated", "started") are kept as themselves: they are words,
    not misspellings (wordfreq's 300,000 most frequent English words)."""
    from wordfreq import top_n_list  # only when a lexicon is compiled

    vocabulary = {w for t in terms for w in t if len(w) >= SPELLED_LENGTH and w.isalpha()}
    index: dict[str, str] = {}
    for word in sorted(vocabulary):
        for key in _deletions(word):
            if key != word:
                index[key] = "" if index.get(key, word) != word else word
    index.update((word, word) for word in vocabulary)
    plain_fold = fold.__wrapped__  # 300,000 words would only flush the cache of note words
    protected = [
        word
        for english in top_n_list("en", 300_000)
        if len(english) >= SPELLED_LENGTH and english.isalpha()
        for word in (english, plain_fold(english))
        if _corrected(index, word) != word  # only those a correction would change
    ]
    index.update((word, _ENGLISH) for word in protected)
    return index


def build_lexicon(codeset: CodeSet, extra: Iterable[LexiconEntry] = ()) -> Lexicon:
    """Compile the lexicon: curated files, the Tabular, and any extra entries (CMS Index)."""
    rows: list[tuple] = []
    terms: dict[tuple[str, ...], list[int]] = {}
    # (term, row) pairs reached only by dropping "unspecified"/"NOS"/"without foreign body":
    # the node whose own title the words are ("Osteoarthritis of knee", M17) comes first, so
    # that the walk can still use the note's words (M17.11), not its unspecified child (M17.9).
    defaulted: set[tuple[tuple[str, ...], int]] = set()
    stops: set[tuple[str, ...]] = set()
    for entry in (*read_curated(codeset), *tabular_entries(codeset), *extra):
        if entry.key == STOP:
            stops.add(normalize_tokens(entry.term))
            continue
        if entry.source != "curated" and _SIGNED.match(entry.term):
            continue
        exact = entry.case_sensitive or bool(_ACRONYM.match(entry.term))
        rows.append((entry.key, entry.source, entry.origin, entry.term, exact, entry.table))
        row = len(rows) - 1
        # curated and Index terms are written as notes write them; the Tabular's lose their
        # "NOS", "unspecified" and parenthesised modifiers
        written = entry.source in ("curated", "index")
        texts = [entry.term] if written else set(_variants(entry.term))
        as_written = {normalize_tokens(entry.term), normalize_tokens(_PARENS.sub(" ", entry.term))}
        for text in texts:
            tokens = tuple(sys.intern(t) for t in normalize_tokens(text))
            ids = terms.setdefault(tokens, [])
            if tokens and row not in ids:
                ids.append(row)
                if tokens not in as_written:
                    defaulted.add((tokens, row))

    def ranked(tokens: tuple[str, ...], ids: list[int]) -> tuple[int, ...]:
        def rank(i: int) -> tuple[int, bool, bool]:
            key, source = rows[i][:2]
            return SOURCE_RANK[source], (tokens, i) in defaulted, not codeset.node(key).billable

        return tuple(sorted(ids, key=rank))

    kept = {t: ranked(t, ids) for t, ids in terms.items() if t and t not in stops}
    return Lexicon(kept, rows, spelling_index(kept))
