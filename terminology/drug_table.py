"""The Table of Drugs and Chemicals as a note writes it: a substance with the words of a column
around it (I.C.19.e.5).

A bare drug name is no condition (a medication list gives long-term therapy, drugs.yaml); the
words around it say which column: poisoning ("acetaminophen overdose"; accidental unless the
note says intentional self-harm, assault or undetermined), adverse effect of a drug correctly
prescribed and taken ("lithium toxicity", "hypokalemia due to furosemide"), underdosing
("missed doses of Coumadin"). The phrasings and the names the table lacks (brands, drugs newer
than the table) are data: drug_phrases.yaml. A column the table leaves empty ("--") gives
nothing, so "due to alcohol" is no adverse effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .cms_index import CmsIndex, IndexTerm
from .codeset import checked, each_checked
from .errors import TerminologyError
from .index_codes import Reconciled
from .lexicon import normalize_tokens, term_lengths

DRUG_PHRASES = Path(__file__).with_name("drug_phrases.yaml")
SOURCE = "drug table"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One way of writing a column: the words before and after the substance."""

    column: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    text: str  # as written in drug_phrases.yaml: "overdose of {drug}"


@dataclass(frozen=True, slots=True)
class Substance:
    """A Drug Table row: where it is, and its columns with their FY2026 codes."""

    origin: str  # "Drug table > Acetaminophen", a mapped name adds "(tylenol)"
    cells: dict[str, tuple[str, str]]  # column -> (column as printed, node key)


@dataclass(frozen=True, slots=True)
class DrugPhrase:
    """A phrase found in a note's words: its word range, the row and the column's pattern."""

    start: int
    end: int
    substance: Substance
    pattern: Pattern

    @property
    def key(self) -> str:
        return self.substance.cells[self.pattern.column][1]

    @property
    def origin(self) -> str:
        return f"{self.substance.origin} [{self.substance.cells[self.pattern.column][0]}]"


class DrugPhrases:
    """Substances by their words, and the column patterns around them."""

    def __init__(self, substances: dict[tuple[str, ...], Substance], patterns: tuple[Pattern, ...]):
        self.substances = substances
        self.patterns = patterns
        self.lengths = term_lengths(substances)

    def to_payload(self) -> tuple:
        """Plain data for the on-disk cache (`from_payload` reverses it)."""
        substances = {words: (s.origin, s.cells) for words, s in self.substances.items()}
        patterns = tuple((p.column, p.before, p.after, p.text) for p in self.patterns)
        return substances, patterns

    @classmethod
    def from_payload(cls, payload: tuple) -> DrugPhrases:
        """The phrases of `to_payload`'s data; ValueError when the data has another shape."""
        substances, patterns = checked(payload, tuple, 2)
        each_checked(checked(substances, dict).values(), tuple, 2)
        each_checked(checked(patterns, tuple), tuple, 4)
        return cls(
            {words: Substance(*found) for words, found in substances.items()},
            tuple(Pattern(*pattern) for pattern in patterns),
        )

    @classmethod
    def from_index(cls, index: CmsIndex, reconciled: Reconciled, forms) -> DrugPhrases:
        """The rows of the release's Drug Table (each in the ways `forms` writes its path) and
        the names drug_phrases.yaml maps to rows; the first row of a name wins, and a mapped
        name over them all ("lithium" is the drug, Lithium salts, not the metal)."""
        file = index.get("drug")
        table = yaml.safe_load(DRUG_PHRASES.read_text(encoding="utf-8"))
        patterns = tuple(
            Pattern(column, *_around(text), text)
            for column, texts in table["columns"].items()
            for text in texts
        )
        substances: dict[tuple[str, ...], Substance] = {}
        if file is None:
            return cls(substances, patterns)
        labels = {heading: file.column_label(heading) for heading in file.columns}

        def add(names, term: IndexTerm, origin: str, *, mapped: bool = False) -> None:
            cells = {
                column: (labels[column], key)
                for column, printed in term.cells
                if printed and (key := reconciled.key(printed))
            }
            for name in names:
                words = normalize_tokens(name)
                if cells and words and (mapped or words not in substances):
                    substances[words] = Substance(origin, cells)

        for chain in file.walk():
            add(forms(chain), chain[-1], " > ".join(("Drug table", *(t.title for t in chain))))
        for name, path in table["names"].items():
            hit = index.lookup(path.split(" > "), kind="drug")
            if hit is None:
                raise TerminologyError(f"{DRUG_PHRASES.name}: {name}: no Drug Table row {path!r}")
            origin = " > ".join(("Drug table", *hit.path)) + f" ({name})"
            add([name], hit.term, origin, mapped=True)
        return cls(substances, patterns)

    def find(self, words: Sequence[str], i: int) -> DrugPhrase | None:
        """The longest phrase whose substance starts at word i: the longest substance, then
        the pattern with the most words around it whose column the row has."""
        for length in self.lengths.get(words[i], ()):
            if i + length > len(words):
                continue
            substance = self.substances.get(tuple(words[i : i + length]))
            if substance is None:
                continue
            end = i + length
            fits = [
                p
                for p in self.patterns
                if p.column in substance.cells
                and len(p.before) <= i
                and tuple(words[i - len(p.before) : i]) == p.before
                and tuple(words[end : end + len(p.after)]) == p.after
            ]
            if fits:
                best = max(fits, key=lambda p: len(p.before) + len(p.after))
                return DrugPhrase(i - len(best.before), end + len(best.after), substance, best)
        return None


def _around(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    before, _, after = text.partition("{drug}")
    return normalize_tokens(before), normalize_tokens(after)
