"""Code sets of rules resolved against the code set: written, named, from the Tabular."""

from __future__ import annotations

import re
from collections.abc import Mapping

from medcode.terminology import CodeSet, NoteKind
from medcode.terminology.notes import REFERENCE_KINDS

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
    """Membership of codes in rule sets. Written and named sets are resolved once; the sets a
    code's notes cite, its lineage and its flags are kept per code, in bounded caches."""

    def __init__(self, codeset: CodeSet, definitions: Mapping[str, Definition]):
        self.codeset = codeset
        self.definitions = definitions
        self._written: dict[str, tuple[str, ...]] = {}
        self._static: dict[int, frozenset[str]] = {}  # per set expression without ?names
        self._tabular = BoundedCache(300_000)  # shared sets: an entry is a slot
        self._cited = BoundedCache(20_000)
        self._lineage = BoundedCache(100_000)
        self._flags = BoundedCache(100_000)

    def written(self, term: Written) -> tuple[str, ...]:
        """The nodes a written pattern denotes (each with everything below it)."""
        nodes = self._written.get(term.text)
        if nodes is None:
            nodes = tuple(n for ref in term.refs for n in self.codeset.resolve(ref))
            self._written[term.text] = nodes
        return nodes

    def tabular(self, code: str, kind: NoteKind | str, scope: str = "inherited") -> frozenset[str]:
        """The nodes a code's notes of one kind cite (`scope`: see FromTabular), or its
        3-character category, its block of categories, or its parent."""
        key = (code, kind, scope)
        nodes = self._tabular.get(key)
        if nodes is None:
            if code not in self.codeset:
                nodes = frozenset()
            elif kind == "category":
                nodes = frozenset((code[:3],))
            elif kind == "block":
                blocks = [n for n in self.codeset.ancestors(code) if n.startswith("section:")]
                nodes = frozenset(blocks[-1:])
            elif kind == "parent":
                parent = self.codeset.parent(code)
                nodes = frozenset((parent,) if parent and ":" not in parent else ())
            else:
                nodes = self._noted(code, kind, scope)
            self._tabular.put(key, nodes)
        return nodes

    def _noted(self, node: str, kind: NoteKind | str, scope: str) -> frozenset[str]:
        """The nodes the notes of one kind governing `node` cite: its own notes', and unless
        `scope` is own, its parent's set, kept per node. A code without notes of its own shares
        its parent's set, so the sets of a chapter's codes cost one set, not one per code."""
        own = self._cited_by(node).get(kind, ())
        parent = self.codeset.parent(node) if scope != "own" else None
        if parent is None or (scope == "below chapter" and parent.startswith("chapter:")):
            return frozenset(own)
        inherited = self.tabular(parent, kind, scope)
        return inherited.union(own) if own else inherited

    def _cited_by(self, node: str) -> dict[NoteKind, tuple[str, ...]]:
        """The codes the notes written on one node cite, by kind; kept per node, so the
        notes of a chapter or category are resolved once for all the codes below it."""
        found = self._cited.get(node)
        if found is None:
            found = {}
            for note in self.codeset.node(node).notes:
                if note.kind in REFERENCE_KINDS:
                    targets = tuple(t for ref in note.refs for t in self.codeset.resolve(ref))
                    found[note.kind] = found.get(note.kind, ()) + targets
            self._cited.put(node, found)
        return found

    def roots(self, expr: SetExpr, bound: Mapping[str, str]) -> tuple[str, ...]:
        """The nodes of a set expression, given the codes bound to ?names, in code order."""
        return tuple(sorted(self.root_set(expr, bound)))

    def root_set(self, expr: SetExpr, bound: Mapping[str, str]) -> frozenset[str]:
        """The nodes of a set expression as a set."""
        static = self._static.get(id(expr))
        if static is None:
            static = self._static[id(expr)] = frozenset(self._written_nodes(expr))
        tabular = [t for t in expr if isinstance(t, FromTabular)]
        if not tabular:
            return static
        parts = [self.tabular(bound[t.var], t.kind, t.scope) for t in tabular]
        return static.union(*parts) if static or len(parts) > 1 else parts[0]

    def _written_nodes(self, expr: SetExpr) -> list[str]:
        nodes: list[str] = []
        for term in expr:
            if isinstance(term, Written):
                nodes += self.written(term)
            elif isinstance(term, Named):
                if term.name not in self.definitions:
                    raise UnknownName(term.name)
                nodes += self._written_nodes(self.definitions[term.name].members)
        return nodes

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
        flags = self._flags.get(code)
        if flags is None:
            flags = self._flags.put(code, self._code_flags(code))
        return flag in flags

    def _code_flags(self, code: str) -> frozenset[str]:
        node = self.codeset.get(code)
        if node is None:
            return frozenset()
        flags = {"billable" if node.billable else "header"}
        title = node.title.lower()
        if "classified elsewhere" in title and "as the cause of" not in title:
            # I.A.13; B95-B97 are "... as the cause of diseases classified elsewhere": no
            # manifestation, the organism of a condition coded first
            flags.add("manifestation")
        if _UNSPECIFIED.search(node.title):
            flags.add("unspecified")
        return frozenset(flags)

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
