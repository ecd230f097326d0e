"""Code sets of rules resolved against the code set: written, named, from the Tabular."""

from __future__ import annotations

import re
from collections.abc import Mapping

from medcode.terminology import CodeSet, NoteKind

from .model import Definition, FromTabular, Named, SetExpr, Written

_UNSPECIFIED = re.compile(r"\bunspecified\b", re.IGNORECASE)


class BoundedCache(dict):
    """A dict that forgets everything once it holds `limit` entries: a long-lived engine that
    sees thousands of distinct codes keeps bounded memory, and common codes come back at once."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def put(self, key: object, value: object):
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


class UnknownName(KeyError):
    """A set name used in a rule but never defined."""


class CodeSets:
    """Membership of codes in rule sets; every resolution is computed once and cached."""

    def __init__(self, codeset: CodeSet, definitions: Mapping[str, Definition]):
        self.codeset = codeset
        self.definitions = definitions
        self._written: dict[str, tuple[str, ...]] = {}
        self._tabular = BoundedCache(5_000)
        self._lineage = BoundedCache(100_000)
        self._root_sets = BoundedCache(5_000)

    def written(self, term: Written) -> tuple[str, ...]:
        """The nodes a written pattern denotes (each with everything below it)."""
        nodes = self._written.get(term.text)
        if nodes is None:
            nodes = tuple(n for ref in term.refs for n in self.codeset.resolve(ref))
            self._written[term.text] = nodes
        return nodes

    def tabular(self, code: str, kind: NoteKind | str, own: bool = False) -> tuple[str, ...]:
        """The nodes a code's notes of one kind cite (`own`: written on the code itself), or
        its 3-character category."""
        key = (code, kind, own)
        nodes = self._tabular.get(key)
        if nodes is None:
            if code not in self.codeset:
                nodes = ()
            elif kind == "category":
                nodes = (code[:3],)
            elif kind == "parent":
                parent = self.codeset.parent(code)
                nodes = (parent,) if parent and ":" not in parent else ()
            else:
                targets = self.codeset.reference_targets(code, kind)
                nodes = tuple(
                    dict.fromkeys(t for t, note in targets if not own or note.origin == code)
                )
            self._tabular.put(key, nodes)
        return nodes

    def roots(self, expr: SetExpr, bound: Mapping[str, str]) -> tuple[str, ...]:
        """The nodes of a set expression, given the codes bound to ?names."""
        nodes: list[str] = []
        for term in expr:
            if isinstance(term, Written):
                nodes += self.written(term)
            elif isinstance(term, Named):
                if term.name not in self.definitions:
                    raise UnknownName(term.name)
                nodes += self.roots(self.definitions[term.name].members, bound)
            elif isinstance(term, FromTabular):
                nodes += self.tabular(bound[term.var], term.kind, term.own)
        return tuple(dict.fromkeys(nodes))

    def root_set(self, expr: SetExpr, bound: Mapping[str, str]) -> frozenset[str]:
        """`roots` as a set, cached for the codes bound to the ?names the set depends on."""
        key = (id(expr), *(bound[t.var] for t in expr if isinstance(t, FromTabular)))
        roots = self._root_sets.get(key)
        if roots is None:
            roots = self._root_sets.put(key, frozenset(self.roots(expr, bound)))
        return roots

    def lineage(self, code: str) -> frozenset[str]:
        """The code and its ancestors: it belongs to a set when these meet the set's roots."""
        lineage = self._lineage.get(code)
        if lineage is None:
            lineage = self._lineage.put(code, frozenset((code, *self.codeset.ancestors(code))))
        return lineage

    def contains(self, expr: SetExpr, code: str, bound: Mapping[str, str]) -> bool:
        """Whether `code` is at or below a node of the set."""
        return not self.lineage(code).isdisjoint(self.root_set(expr, bound))

    def flag(self, code: str, flag: str) -> bool:
        """billable, header (not billable), manifestation, unspecified; False for unknown codes."""
        node = self.codeset.get(code)
        if node is None:
            return False
        if flag == "billable":
            return node.billable
        if flag == "header":
            return not node.billable
        if flag == "manifestation":
            # I.A.13: manifestation codes are titled "in diseases classified elsewhere".
            return "classified elsewhere" in node.title.lower()
        return bool(_UNSPECIFIED.search(node.title))

    def note_text(self, code: str, kind: NoteKind, own: bool = False) -> str:
        """The texts of a code's notes of one kind, for edit messages."""
        if code not in self.codeset:
            return ""
        text = ""
        for applied in self.codeset.applicable_notes(code, (kind,)):
            if not own or applied.origin == code:
                # a note ending in ":" introduces the items that follow it
                separator = " " if not text or text.endswith(":") else "; "
                text = f"{text}{separator}{applied.note.text}" if text else applied.note.text
        return text
