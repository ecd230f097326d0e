"""The ICD-10-CM code set: Tabular nodes in a networkx hierarchy, with typed, inherited notes."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import TerminologyError

if TYPE_CHECKING:
    import networkx as nx
from .notes import REFERENCE_KINDS, AppliedNote, CodeRef, Note, NoteKind
from .tabular import CodeNode, NodeKind, TabularData, dotted

# A node as plain tuples (see `_to_row`): a pickle of these loads in ~0.06 s, dataclasses ~0.4 s.
Row = tuple


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a code set was read from: fiscal year, source file and its digest."""

    fy: int
    source: str
    sha256: str


def checked(value: Any, kind: type, size: int | None = None) -> Any:
    """`value` when it is exactly a `kind` (of `size` items), else ValueError. A payload read
    from the cache is checked as it is unpacked, so that a damaged file is rebuilt at once
    rather than failing later, in the middle of coding."""
    if type(value) is not kind or (size is not None and len(value) != size):
        raise ValueError(f"expected a {kind.__name__}")
    return value


def each_checked(values: Collection[Any], kind: type, size: int | None = None) -> None:
    """`checked` for every item (the rows of a payload: their fields are not looked into)."""
    # sets of types and lengths: the loops run in C, 3x faster than a generator
    if set(map(type, values)) - {kind} or (size is not None and set(map(len, values)) - {size}):
        raise ValueError(f"expected items of type {kind.__name__}")


def _to_row(node: CodeNode) -> Row:
    notes = tuple(
        (
            str(n.kind),
            n.text,
            tuple(
                (r.first, r.last, r.open_ended, r.text, r.positions, r.chars, r.endings)
                for r in n.refs
            ),
            n.unresolved,
        )
        for n in node.notes
    )
    return (
        node.key,
        node.code,
        node.title,
        str(node.kind),
        node.billable,
        notes,
        node.seventh,
        node.placeholder,
    )


def _from_row(row: Row) -> CodeNode:
    key, code, title, kind, billable, notes, seventh, placeholder = row
    return CodeNode(
        key,
        code,
        title,
        NodeKind(kind),
        billable,
        tuple(
            Note(NoteKind(k), text, tuple(CodeRef(*r) for r in refs), unresolved)
            for k, text, refs, unresolved in notes
        ),
        seventh,
        placeholder,
    )


def normalize_code(text: str) -> str:
    """`" e119 "` -> `"E11.9"`: strip, upper-case (ASCII only: the long s of "\u017f11.9" is no
    S), put the dot after the third character."""
    return dotted(text.strip())


class CodeSet:
    """The nodes of one Tabular List and the hierarchy between them.

    Keys are dotted codes ("E11.22"), "chapter:N" and "section:A00-A09". The hierarchy is a
    networkx DiGraph (parent -> child, children in Tabular order), built on first use of
    `graph`; parent/children lookups use compact indices so that start-up stays fast.
    """

    def __init__(self, provenance: Provenance, rows: list[Row], edges: list[tuple[str, str]]):
        self.provenance = provenance
        self._rows = {row[0]: row for row in rows}
        self._order = [row[0] for row in rows]
        self._edges = edges
        self._parent = {child: parent for parent, child in edges}
        self._nodes: dict[str, CodeNode] = {}
        self._resolved: dict[CodeRef, tuple[str, ...]] = {}  # bounded: the Tabular's references

    @classmethod
    def from_tabular(cls, data: TabularData, source: str, sha256: str) -> CodeSet:
        """Build from freshly read Tabular data."""
        rows = [_to_row(node) for node in data.nodes]
        return cls(Provenance(data.fy, source, sha256), rows, data.edges)

    def to_payload(self) -> tuple:
        """Plain data for the on-disk cache (`from_payload` reverses it)."""
        p = self.provenance
        return (p.fy, p.source, p.sha256, list(self._rows.values()), self._edges)

    @classmethod
    def from_payload(cls, payload: tuple) -> CodeSet:
        """The code set of `to_payload`'s data; ValueError when the data has another shape."""
        fy, source, sha256, rows, edges = checked(payload, tuple, 5)
        each_checked(checked(rows, list), tuple, 8)
        each_checked(checked(edges, list), tuple, 2)
        return cls(
            Provenance(checked(fy, int), checked(source, str), checked(sha256, str)), rows, edges
        )

    # -- nodes -------------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> CodeNode | None:
        """The node for a key or code (any spelling of a code: `e119`, `E11.9`)."""
        node = self._nodes.get(key)
        if node is not None:  # the common case: a key already looked up
            return node
        if key not in self._rows:
            key = normalize_code(key)
            if key not in self._rows:
                return None
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _from_row(self._rows[key])
        return node

    def node(self, key: str) -> CodeNode:
        """Like `get`, but an unknown code raises TerminologyError."""
        node = self.get(key)
        if node is None:
            raise TerminologyError(f"unknown ICD-10-CM code: {key.strip()}")
        return node

    def nodes(self, kind: NodeKind | None = None) -> Iterator[CodeNode]:
        """Every node in Tabular order, optionally of one kind."""
        for key in self._order:
            if kind is None or self._rows[key][3] == kind:
                yield self.get(key)  # type: ignore[misc]

    def billable_codes(self) -> Iterator[str]:
        """Every billable code, in Tabular order."""
        return (key for key in self._order if self._rows[key][4])

    # -- hierarchy ---------------------------------------------------------------------------

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The hierarchy as a networkx DiGraph, parent -> child (networkx is imported on first
        use: it costs 0.12 s at start-up)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._order)
        graph.add_edges_from(self._edges)
        return graph

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {}
        for parent, child in self._edges:
            children.setdefault(parent, []).append(child)
        return children

    @cached_property
    def _sorted_codes(self) -> list[str]:
        return sorted(k.replace(".", "") for k in self._order if ":" not in k)

    def parent(self, key: str) -> str | None:
        return self._parent.get(key)

    def children(self, key: str) -> list[str]:
        return list(self._children.get(key, ()))

    def ancestors(self, key: str) -> list[str]:
        """The path from the chapter down to the node's parent."""
        path = []
        while (key := self._parent.get(key)) is not None:  # type: ignore[assignment]
            path.append(key)
        return path[::-1]

    def descendants(self, key: str) -> Iterator[str]:
        """Every node below `key`, depth first in Tabular order."""
        stack = list(reversed(self._children.get(key, ())))
        while stack:
            child = stack.pop()
            yield child
            stack.extend(reversed(self._children.get(child, ())))

    def billable_descendants(self, key: str) -> list[str]:
        """The billable codes at or below `key`."""
        keys = [key, *self.descendants(key)]
        return [k for k in keys if self._rows[k][4]]

    def is_below(self, key: str, ancestor: str) -> bool:
        """Whether `key` is `ancestor` or one of its descendants."""
        while key is not None:
            if key == ancestor:
                return True
            key = self._parent.get(key)  # type: ignore[assignment]
        return False

    # -- notes -------------------------------------------------------------------------------

    def applicable_notes(
        self, key: str, kinds: Iterable[NoteKind] | None = None
    ) -> list[AppliedNote]:
        """The notes that govern a code: its own, then its ancestors' from the nearest up.

        Inclusion terms are not inherited; every other note of a category governs its codes.
        """
        wanted = set(kinds) if kinds is not None else set(NoteKind)
        node = self.node(key)
        applied = [AppliedNote(n, node.key) for n in node.notes if n.kind in wanted]
        for origin in reversed(self.ancestors(node.key)):
            applied += [
                AppliedNote(n, origin)
                for n in self.node(origin).notes
                if n.kind in wanted and n.kind.inherited
            ]
        return applied

    def seventh_characters(self, key: str) -> tuple[tuple[str, str], ...]:
        """The 7th-character definitions that govern a code (the nearest definition wins)."""
        for origin in [key, *reversed(self.ancestors(key))]:
            node = self.get(origin)
            if node is not None and node.seventh:
                return node.seventh
        return ()

    # -- code references ---------------------------------------------------------------------

    def resolve(self, ref: CodeRef) -> tuple[str, ...]:
        """The nodes a reference denotes, each standing for itself and everything below it."""
        nodes = self._resolved.get(ref)
        if nodes is None:
            if len(self._resolved) > 50_000:
                self._resolved.clear()
            nodes = self._resolved[ref] = self._resolve(ref)
        return nodes

    def _resolve(self, ref: CodeRef) -> tuple[str, ...]:
        if not (ref.open_ended or ref.positions or ref.endings) or ref.first == ref.last:
            exact = dotted(ref.first)
            if exact not in self._rows:
                return ()
            if not (ref.positions or ref.endings):
                return (exact,)
        codes = self._sorted_codes
        if not (ref.positions or ref.endings):
            # Sorted order puts a node before its descendants: take it, skip its subtree.
            tops, i = [], bisect.bisect_left(codes, ref.first)
            while i < len(codes) and codes[i][: len(ref.last)] <= ref.last:
                tops.append(dotted(codes[i]))
                i = bisect.bisect_left(codes, codes[i] + "\uffff", i)
            return tuple(tops)
        matches: set[str] = set()
        for i in range(bisect.bisect_left(codes, ref.first), len(codes)):
            code = codes[i]
            if code[: len(ref.last)] > ref.last:
                break
            if _qualifies(code, ref):
                matches.add(dotted(code))
        return tuple(key for key in sorted(matches) if self._parent.get(key) not in matches)

    def reference_targets(self, key: str, kind: NoteKind) -> list[tuple[str, AppliedNote]]:
        """Nodes cited by the notes of one kind that govern `key`, with the note citing each."""
        targets = []
        for applied in self.applicable_notes(key, (kind,)):
            for ref in applied.note.refs:
                targets += [(target, applied) for target in self.resolve(ref)]
        return targets

    def reference_coverage(self) -> tuple[int, int, list[tuple[str, NoteKind, str]]]:
        """(references resolved, references in all, the failures as (node, kind, text)).

        Counts the references of Excludes1/2, Code first, Use additional code and Code also
        notes; a code-like group that does not parse counts as one failed reference.
        """
        resolved = total = 0
        failures = []
        for node in self.nodes():
            for note in node.notes:
                if note.kind not in REFERENCE_KINDS:
                    continue
                for ref in note.refs:
                    total += 1
                    if self.resolve(ref):
                        resolved += 1
                    else:
                        failures.append((node.key, note.kind, ref.text))
                total += len(note.unresolved)
                failures += [(node.key, note.kind, text) for text in note.unresolved]
        return resolved, total, failures

    # -- summary -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Chapters, sections, categories, codes (every node below a section) and billable."""
        kinds = [row[3] for row in self._rows.values()]
        return {
            "chapters": kinds.count(NodeKind.CHAPTER),
            "sections": kinds.count(NodeKind.SECTION),
            "categories": sum(1 for k in self._order if len(k) == 3 and ":" not in k),
            "codes": sum(1 for k in self._order if ":" not in k),
            "billable": sum(1 for row in self._rows.values() if row[4]),
        }


def _qualifies(code: str, ref: CodeRef) -> bool:
    if ref.positions and not any(
        len(code) >= p and code[p - 1] in ref.chars for p in ref.positions
    ):
        return False
    return not ref.endings or any(_has_ending(code, low, high) for low, high in ref.endings)


def _has_ending(code: str, low: str, high: str) -> bool:
    """ ".51"-".52": the characters after the category; "-28": the last characters of the code."""
    width = len(low) - 1
    part = code[3 : 3 + width] if low[0] == "." else code[-width:]
    return len(code) - 3 >= width and low[1:] <= part <= high[1:]
