"""The Neoplasm Table as a coder reads it: site x behavior.

A morphology or behavior word ("adenocarcinoma", "metastases", "tumor") names the column
(neoplasm_words.yaml, and the Index's "see also Neoplasm, malignant, by site"); the words of its
phrase name the row ("adenocarcinoma of the ascending colon": intestine > large > colon >
ascending, C18.2).
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from .cms_index import CmsIndex, IndexTerm
from .codeset import checked, each_checked
from .index_codes import Reconciled
from .lexicon import normalize_tokens

NEOPLASM_WORDS = Path(__file__).with_name("neoplasm_words.yaml")
_NEC_NOS = re.compile(r"\s+(?:NEC|NOS)$")


@lru_cache(maxsize=1)
def neoplasm_words() -> dict:
    """neoplasm_words.yaml, read once."""
    return yaml.safe_load(NEOPLASM_WORDS.read_text(encoding="utf-8"))


def bare(title: str) -> str:
    """A title without its final NEC or NOS."""
    return _NEC_NOS.sub("", title.strip())


def behavior(words: Set[str], column: str) -> str:
    """The column the phrase's words decide ("metastatic": secondary), else the entry's own; a
    word of malignancy only turns an unspecified behavior ("tumor") malignant."""
    for heading, said in _behavior_words():
        if said & words:
            return heading if heading != "Malignant Primary" or column == UNSPECIFIED else column
    return column


@lru_cache(maxsize=1)
def _behavior_vocabulary() -> frozenset[str]:
    """Every word of neoplasm_words.yaml's behavior and morphology entries."""
    table = neoplasm_words()
    written = [w for _, said in table["behavior"] for w in said] + list(table["morphology"])
    # "primary" is a site's own word as well ("liver, primary": C22.8)
    return frozenset(w for text in written for w in normalize_tokens(text)) - {"primary"}


@lru_cache(maxsize=1)
def _behavior_words() -> tuple[tuple[str, frozenset[str]], ...]:
    table = neoplasm_words()["behavior"]
    return tuple(
        (heading, frozenset(w for word in said for w in normalize_tokens(word)))
        for heading, said in table
    )


UNSPECIFIED = "Unspecified Behavior"


@dataclass(frozen=True, slots=True)
class SiteRow:
    """One Neoplasm Table row: its path below the main term, its own and its parents' words."""

    path: tuple[str, ...]
    own: tuple[frozenset[str], ...]  # each alternative ("intestine, intestinal") of its title
    above: frozenset[str]
    cells: tuple[tuple[str, str | None], ...]  # column heading, FY2026 node key
    order: int  # its place in the table: of rows the words name equally, the first wins


class NeoplasmTable:
    """Site x behavior: the row whose words the mention's phrase says, and its cell."""

    def __init__(self, rows: tuple[SiteRow, ...], main: tuple[tuple[str, str | None], ...]):
        self.rows = rows
        self.main = main  # the main term's cells: the column's code when no site is said

    def default(self, column: str) -> str | None:
        """The column's code of "Neoplasm, neoplastic" itself (site unspecified)."""
        return dict(self.main).get(column)

    def to_payload(self) -> tuple:
        """Plain data for the on-disk cache (`from_payload` reverses it)."""
        rows = tuple((r.path, r.own, r.above, r.cells, r.order) for r in self.rows)
        return rows, self.main

    @classmethod
    def from_payload(cls, payload: tuple) -> NeoplasmTable:
        """The table of `to_payload`'s data; ValueError when the data has another shape."""
        rows, main = checked(payload, tuple, 2)
        each_checked(checked(rows, tuple), tuple, 5)
        return cls(tuple(SiteRow(*row) for row in rows), checked(main, tuple))

    @classmethod
    def from_index(cls, index: CmsIndex, reconciled: Reconciled) -> NeoplasmTable:
        file = index.get("neoplasm")
        rows: list[SiteRow] = []
        main: tuple[tuple[str, str | None], ...] = ()
        for chain in file.walk() if file is not None else ():
            if len(chain) == 1 and not main:
                main = _reconciled_cells(chain[0], reconciled)
            if len(chain) < 2:
                continue
            titles = [bare(t.title) for t in chain[1:]]
            own = tuple(frozenset(normalize_tokens(a)) - FILLER for a in _site_words(titles[-1]))
            above = frozenset(w for t in titles[:-1] for w in normalize_tokens(t)) - FILLER
            cells = _reconciled_cells(chain[-1], reconciled)
            rows.append(SiteRow(tuple(titles), own, above, cells, len(rows)))
        return cls(tuple(rows), main)

    @cached_property
    def _by_word(self) -> dict[str, list[SiteRow]]:
        table: dict[str, list[SiteRow]] = {}
        for row in self.rows:
            for word in {w for alt in row.own for w in alt}:
                table.setdefault(word, []).append(row)
        return table

    def site(self, words: Set[str], column: str) -> tuple[str, tuple[str, ...]] | None:
        """The cell of `column` in the row the words name best that has one, with the row's
        path: its own title said in full, then the most of its parents' words ("ascending colon" is
        intestine > large > colon > ascending, C18.2); None when no row is named."""
        # a behavior word ("malignant", "neoplasm") names no site, though a row's title has it
        # ("Meckel's diverticulum, malignant")
        words = frozenset(words) - _behavior_vocabulary()
        best: tuple[int, int, int, SiteRow] | None = None
        seen: set[int] = set()
        for word in words:
            for row in self._by_word.get(word, ()):
                if id(row) in seen:
                    continue
                seen.add(id(row))
                said = max((len(alt) for alt in row.own if alt <= words), default=0)
                if not said or dict(row.cells).get(column) is None:
                    continue
                above = len(row.above & words)
                if row.above and not above:
                    continue  # "ascending" alone is no site: it needs its colon
                score = (said + above, -len(row.path), -row.order)
                if best is None or score > best[:3]:
                    best = (*score, row)
        if best is None:
            return None
        row = best[3]
        key = dict(row.cells).get(column)
        return (key, row.path) if key else None


def _reconciled_cells(
    term: IndexTerm, reconciled: Reconciled
) -> tuple[tuple[str, str | None], ...]:
    return tuple((c, reconciled.key(printed) if printed else None) for c, printed in term.cells)


FILLER = frozenset({"of", "the", "and", "or", "to", "in", "with", "a", "an", "nec", "nos"})


def _site_words(title: str) -> list[str]:
    return [p.strip() for p in title.split(",") if p.strip()] or [title]
