"""The Alphabetic Index as lexicon terms, and the Neoplasm Table as a site lookup.

Every Index path that carries a code (after "see" references are followed) becomes terms in two
word orders: as printed ("pneumonia cytomegaloviral") and as clinicians write it, the short
modifiers before the main term and the "with" / "due to" / "in" phrases after it ("type 2
diabetes with chronic kidney disease"). Generic main terms (disease, disorder, syndrome...) are
terms only with a subterm. Subterms a note never says ("specified NEC", "other") are skipped.

A morphology term that sends the coder to the Neoplasm Table ("Adenocarcinoma - see also
Neoplasm, malignant, by site") becomes a term whose entry names the table column; the site is
read from the words of the mention's phrase (`NeoplasmTable.site`), as a coder reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Set
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .cms_index import CmsIndex, IndexFile, IndexTerm
from .codeset import checked, each_checked
from .drug_table import DRUG_PHRASES, DrugPhrases
from .index_codes import Reconciled
from .lexicon import LexiconEntry, normalize_tokens
from .neoplasm_table import FILLER, NEOPLASM_WORDS, NeoplasmTable, bare, neoplasm_words

_MODULES = tuple(
    Path(__file__).with_name(name)
    for name in (
        "cms_index.py",
        "index_release.py",
        "index_codes.py",
        "index_terms.py",
        "drug_table.py",
        "neoplasm_table.py",
    )
)
SOURCE = "index"
INDEX_WORDS = Path(__file__).with_name("index_words.yaml")
_NEOPLASM_REF = re.compile(r"^\s*Neoplasm\b", re.I)


@lru_cache(maxsize=1)
def index_words() -> dict[str, frozenset[str]]:
    """index_words.yaml: generic main terms, connectors, skipped categories."""
    table = yaml.safe_load(INDEX_WORDS.read_text(encoding="utf-8"))
    return {name: frozenset(words) for name, words in table.items()}


#: A path's continuation past its first connector: the words it needs, its code, its titles.
Continuation = tuple[frozenset[str], str, tuple[str, ...], bool]


def index_entries(
    index: CmsIndex,
    reconciled: Reconciled,
    continuations: dict[str, list[Continuation]],
    stems: dict[tuple[str, ...], list[str]],
) -> Iterator[LexiconEntry]:
    """Lexicon entries for every Index path with a code, in both word orders, up to its first
    connector ("Diabetes, type 2"); what follows the connector ("with, chronic kidney disease")
    is recorded in `continuations` under the path before it, to be read in the sentence's
    words, since there it names a condition of its own (the CKD, coded as well). `stems` gets
    the words of every path that may be continued, by its forms, so that a Tabular term of the
    same words ("dermatitis") is continued too."""
    file = index.get("index")
    if file is None:
        return
    columns = _neoplasm_columns(index)
    named: set[str] = set()  # origins with lexicon entries: the stems continuations hang on
    for chain in file.walk():
        term = chain[-1]
        if len(chain) == 1 and _generic(chain[0].title):
            continue
        key, table = _target(index, file, term, reconciled, columns)
        if key is None or key[:3] in index_words()["skipped_categories"]:
            continue
        origin = " > ".join(("Index", *(t.title for t in chain)))
        cut = _first_connector(chain)
        if cut is not None and bare(chain[cut].title).lower() != "without":
            stem = " > ".join(("Index", *(t.title for t in chain[:cut])))
            if stem in named:
                words = _continuation_words(chain[cut:])
                if words:
                    titles = tuple(t.title for t in chain)
                    # "with", or a connector the Index also prints as "(with)": "in (due to)
                    # (with)" (I.A.15)
                    connector = chain[cut]
                    first_word = bare(connector.title).split(" ", 1)[0].lower()
                    presumed = "with" in {first_word, *connector.nemod}
                    continuations.setdefault(stem, []).append((words, key, titles, presumed))
                continue
        named.add(origin)
        for form in dict.fromkeys(_forms(chain)):
            tokens = normalize_tokens(form)
            if table is None:
                stems.setdefault(tokens, []).append(origin)
            if table is not None or not _everyday(tokens):
                yield LexiconEntry(key, SOURCE, origin, form, table=table)
    table_file = index.get("neoplasm")
    if table_file is None or not table_file.main_terms:
        return
    main = table_file.main_terms[0]
    morphology = neoplasm_words()["morphology"]
    for word, column in morphology.items():
        printed = main.cell(column)
        key = reconciled.key(printed) if printed else None
        if key is not None:
            yield LexiconEntry(key, SOURCE, f"Neoplasm table > {main.title}", word, table=column)


def _target(
    index: CmsIndex,
    file: IndexFile,
    term: IndexTerm,
    reconciled: Reconciled,
    columns: dict[str, str],
) -> tuple[str | None, str | None]:
    """The node a term leads to, and the Neoplasm Table column when the site decides."""
    if term.code:
        return reconciled.key(term.code), None
    reference = term.see or term.see_also
    if not reference:
        return None, None
    if _NEOPLASM_REF.match(reference):
        column = _column(reference, columns)
        if column is None:
            return None, None
        # "Neoplasm, malignant, by site": the site is read from the note; a fixed site
        # ("Neoplasm, skin, benign") is looked up now.
        site = [p.strip() for p in reference.split(",")[1:]]
        site = [p for p in site if p and p.lower() != "by site" and _column(p, columns) is None]
        hit = index.lookup(site, column=column, kind="neoplasm") if site else None
        if hit is not None and hit.code:
            return reconciled.key(hit.printed or hit.code), None
        main = index.get("neoplasm")
        default = main.main_terms[0].cell(column) if main and main.main_terms else None
        return (reconciled.key(default), column) if default else (None, None)
    if term.see is None:
        return None, None
    path = [p.strip() for p in reference.split(",") if p.strip()]
    try:
        hit = index.lookup(path, kind=file.kind)
    except ValueError:
        return None, None
    if hit is None or not hit.code:
        return None, None
    return reconciled.key(hit.printed or hit.code), None


def _everyday(words: tuple[str, ...]) -> bool:
    """Words of everyday English that a coder reads as a condition only because the Index is
    looked up from a diagnosis: "old" (Old, myocardial infarction), "may" (May-Hegglin),
    "examination", "follow up", "blood loss", "h". In a note they are no diagnosis. One word
    counts when it is short or common (Zipf frequency >= 3, about once per million words);
    several when all are very common (>= 4.5: "blood loss", "follow up"; not "drug abuse"
    or "alcohol withdrawal"). Tabular and curated terms are not affected."""
    if len(words) == 1:
        return len(words[0]) < 4 or _zipf(words[0]) >= _EVERYDAY_WORD
    return all(_zipf(w) >= _EVERYDAY_PHRASE for w in words)


@lru_cache(maxsize=100_000)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency  # only when an Index is compiled

    return zipf_frequency(word, "en")


_EVERYDAY_WORD = 2.5
_EVERYDAY_PHRASE = 4.5


def _generic(title: str) -> bool:
    """ "Disease, diseased", "Syndrome": a main term that is a generic word ("Aarskog's
    syndrome" is not)."""
    return set(normalize_tokens(title.split(",")[0])) <= index_words()["generic_main"]


def _column(text: str, columns: dict[str, str]) -> str | None:
    words = normalize_tokens(text)
    return next((heading for word, heading in columns.items() if word in words), None)


def _neoplasm_columns(index: CmsIndex) -> dict[str, str]:
    """The Neoplasm Table headings by the word a reference uses: "malignant" (primary),
    "situ", "benign", "uncertain", "unspecified"."""
    table = index.get("neoplasm")
    if table is None:
        return {}
    words = neoplasm_words()["references"]
    return {word: heading for word, heading in words.items() if heading in table.columns}


def _first_connector(chain: tuple[IndexTerm, ...]) -> int | None:
    return next(
        (
            i
            for i, t in enumerate(chain)
            if i and bare(t.title).split(" ", 1)[0].lower() in index_words()["connectors"]
        ),
        None,
    )


def _continuation_words(terms: tuple[IndexTerm, ...]) -> frozenset[str]:
    """The words a continuation needs; none when a connector that is all its title carries a
    code: the flattened CSV keeps only the text before a nonessential modifier ("in (due to)
    renal impairment" reads "in"), and the condition it names is lost."""
    if any(
        t.code and not set(normalize_tokens(t.title)) - index_words()["connectors"] for t in terms
    ):
        return frozenset()
    words = {w for t in terms for w in normalize_tokens(bare(t.title))}
    return frozenset(words - index_words()["connectors"] - FILLER)


def _forms(chain: tuple[IndexTerm, ...]) -> Iterator[str]:
    """The path as printed, and as written: modifiers before the main term, phrases after. A
    connector's nonessential modifiers are its synonyms ("in (due to)")."""
    main = _alternatives(bare(chain[0].title))
    if len(chain) == 1:
        # alone, only the noun: "thrombocytopenic", "epileptic" name no condition by themselves
        main = main[:1]
    subs = []
    for term in chain[1:]:
        title = bare(term.title)
        connector = title.split(" ", 1)[0].lower() in index_words()["connectors"]
        subs.append((connector, [*_alternatives(title), *(term.nemod if connector else ())]))
    cut = next((i for i, (connector, _) in enumerate(subs) if connector), len(subs))
    for head in main:
        for words in _choices([s for _, s in subs]):
            yield " ".join((head, *words))
            yield " ".join((*reversed(words[:cut]), head, *words[cut:]))


def _choices(options: list[list[str]], limit: int = 4) -> Iterator[list[str]]:
    """Each way of writing the subterms, at most `limit` of them (synonyms multiply)."""
    ways: list[list[str]] = [[]]
    for choices in options:
        ways = [[*way, choice] for way in ways for choice in choices][:limit]
    yield from ways


def _alternatives(title: str) -> list[str]:
    """A title's ways of being written: "Disease, diseased" is either word; "Acrospiroma,
    eccrine" is "eccrine acrospiroma"."""
    parts = [p.strip() for p in title.split(",") if p.strip()]
    if len(parts) < 2:
        return parts or [title]
    stem = parts[0][:4].lower()
    if all(p[:4].lower() == stem for p in parts[1:]):
        return parts
    return [" ".join((*reversed(parts[1:]), parts[0])), " ".join(parts)]


@dataclass(frozen=True, slots=True)
class IndexBuild:
    """What the engine keeps of an Index release: its label, how its codes reconciled with
    FY2026, its lexicon entries and the Neoplasm Table's sites."""

    label: str
    identity: str
    counts: dict[str, int]
    entries: tuple[LexiconEntry, ...]
    neoplasm: NeoplasmTable
    continuations: dict[str, tuple[Continuation, ...]]
    stems: dict[tuple[str, ...], tuple[str, ...]]
    drugs: DrugPhrases
    cms_dir: str | None = None  # the release folder given, None for the packaged one

    def to_payload(self) -> tuple:
        """Plain data for the on-disk cache (`from_payload` reverses it), without the entries
        (the cached lexicon holds them) and the release folder (given at each start)."""
        neoplasm, drugs = self.neoplasm.to_payload(), self.drugs.to_payload()
        return (
            self.label,
            self.identity,
            self.counts,
            neoplasm,
            self.continuations,
            self.stems,
            drugs,
        )

    @classmethod
    def from_payload(cls, payload: tuple) -> IndexBuild:
        """An Index without entries from `to_payload`'s data; ValueError when the data has
        another shape."""
        label, identity, counts, neoplasm, continuations, stems, drugs = checked(payload, tuple, 7)
        each_checked(checked(continuations, dict).values(), tuple)
        each_checked([c for found in continuations.values() for c in found], tuple, 4)
        each_checked(checked(stems, dict).values(), tuple)
        return cls(
            checked(label, str),
            checked(identity, str),
            checked(counts, dict),
            (),
            NeoplasmTable.from_payload(neoplasm),
            continuations,
            stems,
            DrugPhrases.from_payload(drugs),
        )

    def continue_path(
        self, term: tuple[str, ...], sentence: Set[str], phrase: Set[str]
    ) -> Continuation | None:
        """The continuation that the words say most of, of the Index paths written as `term`
        (its normalised words). A "with" continuation is read in the sentence's words, other
        concepts' included (I.A.15 presumes the link); "due to", "in" and the rest only in
        the mention's own phrase, where the note writes the link."""
        fits = [
            found
            for origin in self.stems.get(term, ())
            for found in self.continuations.get(origin, ())
            if found[0] <= (sentence if found[3] else phrase)
        ]
        return max(fits, key=lambda c: (len(c[0]), -len(c[2])), default=None)


def build_index(index: CmsIndex, label: str, identity: str, reconciled: Reconciled) -> IndexBuild:
    continuations: dict[str, list[Continuation]] = {}
    stems: dict[tuple[str, ...], list[str]] = {}
    entries = tuple(index_entries(index, reconciled, continuations, stems))
    neoplasm = NeoplasmTable.from_index(index, reconciled)
    frozen = {stem: tuple(found) for stem, found in continuations.items()}
    written = {
        tokens: tuple(dict.fromkeys(o for o in origins if o in frozen))
        for tokens, origins in stems.items()
        if any(o in frozen for o in origins)
    }
    drugs = DrugPhrases.from_index(index, reconciled, lambda chain: dict.fromkeys(_forms(chain)))
    return IndexBuild(label, identity, reconciled.counts, entries, neoplasm, frozen, written, drugs)


def index_digest() -> str:
    """sha256 over how an Index is read and compiled (these modules and the word tables), so
    that a change to any of them rebuilds a cached Index."""
    digest = hashlib.sha256()
    for path in (*_MODULES, NEOPLASM_WORDS, DRUG_PHRASES, INDEX_WORDS):
        digest.update(path.read_bytes())
    return digest.hexdigest()
