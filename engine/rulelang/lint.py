"""`medcode rules lint`: every mistake a rule author can make, with its file:line:column."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import yaml

from medcode.terminology import CodeSet
from medcode.terminology.coderefs import parse_references

from .book import capitalized, display_path, read_rules, rule_files
from .evaluate import _PLACEHOLDER, MESSAGE_FIELDS
from .model import (
    MAX_AGE,
    SETTINGS,
    SEXES,
    Add,
    AddSupported,
    Ask,
    AttributeTest,
    CodeFact,
    Definition,
    Drop,
    EncounterTest,
    FromTabular,
    Location,
    Named,
    RaiseEdit,
    Remark,
    Replace,
    Resequence,
    Rule,
    RulePack,
    SetExpr,
    Written,
)
from .parser import RuleSyntaxError
from .sets import CodeSets

ASSERTIONS = (
    "affirmed",
    "negated",
    "uncertain",
    "hypothetical",
    "historical",
    "family",
    "other",
)
SOURCES = ("input", "note", "measurement", "rule")
# Names within names (`define a = b, E11.-`): sets are resolved by recursion when rules run.
MAX_NESTING = 50
# Rules named in one loop finding besides those of the loop it shows.
_LISTED = 10


@dataclass(frozen=True, slots=True)
class Finding:
    at: Location
    message: str
    context: str = ""

    def render(self) -> str:
        return f"{self.at}: error: {self.message}" + (f"\n{self.context}" if self.context else "")


def section_names() -> frozenset[str]:
    """The section categories of the pipeline (read as a file: importing the pipeline package
    would load spaCy, which rule checks do not need)."""
    sections = Path(__file__).resolve().parent.parent / "reading" / "sections.yaml"
    return frozenset(yaml.safe_load(sections.read_text(encoding="utf-8")))


def lint(paths: Iterable[Path], codeset: CodeSet) -> tuple[list[Finding], list[RulePack]]:
    """Parse and check rule files; return the findings and the packs that parsed."""
    findings: list[Finding] = []
    packs: list[RulePack] = []
    for path in rule_files(paths):
        try:
            packs.append(read_rules(path, display_path(path)))
        except RuleSyntaxError as exc:
            findings.append(Finding(exc.at, exc.message, exc.context))
    findings += check_packs(packs, codeset)
    return sorted(findings, key=lambda f: (f.at.path, f.at.line, f.at.column)), packs


def check_packs(packs: Sequence[RulePack], codeset: CodeSet) -> list[Finding]:
    """Every check after parsing: codes, names, ?names, values, duplicates, loops. Each takes
    time in proportion to the size of the packs and of the sets their codes denote."""
    findings = _duplicates(packs)
    definitions = {d.name: d for p in packs for d in p.definitions}
    findings += _nesting(definitions)
    checker = _RuleChecker(CodeSets(codeset, definitions), section_names())
    for pack in packs:
        for definition in pack.definitions:
            findings += checker.set_expr(definition.members, set())
        for rule in pack.rules:
            findings += checker.rule(rule)
    findings += _cycles([r for p in packs for r in p.rules], checker.sets)
    return sorted(findings, key=lambda f: (f.at.path, f.at.line, f.at.column))


def _nesting(definitions: Mapping[str, Definition]) -> list[Finding]:
    """Sets defined in terms of themselves (`define a = b` and `define b = a`), and sets that
    nest names deeper than MAX_NESTING: both would exhaust the recursion that resolves them."""
    graph = nx.DiGraph()
    graph.add_nodes_from(definitions)
    for name, definition in definitions.items():
        graph.add_edges_from(
            (name, t.name) for t in definition.members if isinstance(t, Named) and t.name in graph
        )
    findings = []
    order = {name: number for number, name in enumerate(definitions)}
    condensed = nx.condensation(graph)
    depth: dict[int, int] = {}
    for component in reversed(list(nx.topological_sort(condensed))):  # inner names first
        members = sorted(condensed.nodes[component]["members"], key=order.__getitem__)
        first = members[0]
        if len(members) > 1 or graph.has_edge(first, first):
            loop = _chain([*_loop(graph, first, set(members)), first])
            message = f"set {first} is defined in terms of itself: {loop}"
            findings.append(Finding(definitions[first].at, message))
            depth[component] = 1  # reported once, not again by every set that uses it
            continue
        inner = max(condensed.successors(component), key=depth.__getitem__, default=None)
        depth[component] = 1 + (depth[inner] if inner is not None else 0)
        if depth[component] == MAX_NESTING + 1:
            (through,) = condensed.nodes[inner]["members"]
            message = (
                f"set {first} nests names more than {MAX_NESTING} deep"
                f" ({first} -> {through} -> ...)"
            )
            findings.append(Finding(definitions[first].at, message))
    return findings


def _cycles(rules: Sequence[Rule], sets: CodeSets) -> list[Finding]:
    """Rules that may fire forever: each adds a code that the next one removes, round a loop
    (at run time the evaluator stops them after a fixed number of firings).

    One graph holds the rules and, between them, the codes they add (with their ancestors),
    the written sets and the named sets that hold those codes: rule a leads to rule b when a
    adds a code within a set whose codes b drops or replaces. Its strongly connected
    components are the loops, each reported once with a shortest way round it; the graph
    grows with the packs, not with the pairs of rules."""
    edges: list[tuple[Hashable, Hashable]] = []
    written: dict[str, Written] = {}
    for number, rule in enumerate(rules):
        for action in rule.actions:
            if isinstance(action, Add | Replace) and action.code.text in sets.codeset:
                edges += [(number, ("code", node)) for node in sets.lineage(action.code.text)]
        for members in _removed_sets(rule, sets):
            edges += [(_set_node(term, written), number) for term in members]
    for definition in sets.definitions.values():
        for term in definition.members:
            if isinstance(term, Written) or (
                isinstance(term, Named) and term.name in sets.definitions
            ):
                edges.append((_set_node(term, written), ("set", definition.name)))
    for text, term in written.items():
        edges += [(("code", node), ("written", text)) for node in sets.written(term)]
    graph = nx.DiGraph(edges)
    findings = []
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:  # a loop passes through codes or sets between its rules
            continue
        numbers = sorted(n for n in component if isinstance(n, int))
        if not numbers:  # sets defined in terms of themselves: see _nesting
            continue
        loop = _loop(graph, numbers[0], component)
        shown = [n for n in loop if isinstance(n, int)]
        on_loop = set(shown)
        others = [rules[n].id for n in numbers if n not in on_loop]
        names = _chain([rules[n].id for n in [*shown, shown[0]]])
        message = f"rules may fire forever: {names} (each adds a code the next one removes)"
        if others:
            listed = ", ".join(others[:_LISTED])
            more = f" and {len(others) - _LISTED} more" if len(others) > _LISTED else ""
            message += f"; also in this loop: {listed}{more}"
        findings.append(Finding(rules[numbers[0]].at, message))
    return findings


def _chain(names: list[str]) -> str:
    """`a -> b -> c -> a`; a long way round shows its first and last steps and a count."""
    if len(names) <= _LISTED:
        return " -> ".join(names)
    half = _LISTED // 2
    skipped = len(names) - 2 * half
    return " -> ".join([*names[:half], f"({skipped} more)", *names[-half:]])


def _set_node(term: Written | Named, written: dict[str, Written]) -> tuple[str, str]:
    if isinstance(term, Named):
        return ("set", term.name)
    written.setdefault(term.text, term)
    return ("written", term.text)


def _loop(graph: nx.DiGraph, start: Hashable, within: set) -> list:
    """The nodes of a shortest way from `start` back to it inside one strongly connected
    component (breadth first, in the order the edges were added: deterministic)."""
    parent: dict[Hashable, Hashable] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in graph.successors(node):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            if successor in within and successor not in parent:
                parent[successor] = node
                queue.append(successor)
    return [start]


def _removed_sets(rule: Rule, sets: CodeSets) -> list[SetExpr]:
    """The written sets (defined names only) of the codes a rule drops or replaces."""
    removed = {a.var for a in rule.actions if isinstance(a, Drop | Replace)}
    return [
        lit.atom.members
        for lit in rule.condition
        if isinstance(lit.atom, CodeFact)
        and lit.atom.var in removed
        and lit.atom.members
        and all(
            isinstance(t, Written) or (isinstance(t, Named) and t.name in sets.definitions)
            for t in lit.atom.members
        )
    ]


def _duplicates(packs: Sequence[RulePack]) -> list[Finding]:
    findings = []
    rules: dict[str, Location] = {}
    names: dict[str, Location] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in rules:
                findings.append(
                    Finding(rule.at, f"duplicate rule id {rule.id} (first at {rules[rule.id]})")
                )
            rules.setdefault(rule.id, rule.at)
        for definition in pack.definitions:
            if definition.name in names:
                first = names[definition.name]
                findings.append(
                    Finding(
                        definition.at, f"set {definition.name} is defined twice (first at {first})"
                    )
                )
            names.setdefault(definition.name, definition.at)
    return findings


class _RuleChecker:
    def __init__(self, sets: CodeSets, sections: frozenset[str]):
        self.sets = sets
        self.sections = sections

    def rule(self, rule: Rule) -> list[Finding]:
        findings: list[Finding] = []
        bound: set[str] = set()
        seen: dict[tuple, bool] = {}
        for literal in rule.condition:
            atom = literal.atom
            key = _shape(atom)
            if seen.get(key) is (not literal.negated):
                findings.append(
                    Finding(atom.at, "never fires: this condition is required and forbidden")
                )
            seen[key] = literal.negated
            if isinstance(atom, EncounterTest):
                findings += self._encounter(atom)
                continue
            if atom.members is not None:
                findings += self.set_expr(atom.members, bound)
            findings += self.set_expr(atom.excluded, bound)
            for test in atom.tests:
                findings += self._attribute(test)
            if atom.var is None:
                continue
            if literal.negated:
                findings.append(Finding(atom.at, f"{atom.var} cannot be bound under `not`"))
            elif atom.var in bound:
                findings.append(Finding(atom.at, f"{atom.var} is bound twice"))
            bound.add(atom.var)
        for action in rule.actions:
            findings += self._action(action, bound)
        return findings

    def set_expr(self, expr: SetExpr, bound: set[str]) -> list[Finding]:
        findings = []
        for term in expr:
            if isinstance(term, Written) and not self.sets.written(term):
                findings.append(Finding(term.at, f"unknown code or empty range: {term.text}"))
            elif isinstance(term, Named) and term.name not in self.sets.definitions:
                message = f"unknown set name: {term.name}{self._hint(term)}"
                findings.append(Finding(term.at, message))
            elif isinstance(term, FromTabular) and term.var not in bound:
                findings.append(Finding(term.at, f"{term.var} is used before it is bound"))
        return findings

    def _hint(self, term: Named) -> str:
        """`code in e11`: the name was meant as a code."""
        code = capitalized(term.name)
        if code is None or not self.sets.written(Written(code, parse_references(code), term.at)):
            return ""
        return f" (codes are written in capitals: {term.name} -> {code})"

    def _encounter(self, test: EncounterTest) -> list[Finding]:
        allowed = {"setting": SETTINGS, "sex": SEXES}.get(test.attribute)
        if allowed and test.value not in allowed:
            return [
                Finding(test.at, f"never fires: {test.attribute} is one of {', '.join(allowed)}")
            ]
        if test.attribute == "age" and not 0 <= int(test.value) <= MAX_AGE:
            return [Finding(test.at, f"never fires: age {test.value} is out of range")]
        return []

    def _attribute(self, test) -> list[Finding]:
        if not isinstance(test, AttributeTest):
            return []
        allowed = {"assertion": ASSERTIONS, "source": SOURCES, "section": self.sections}
        values = allowed[test.attribute]
        listing = ", ".join(sorted(values))
        return [
            Finding(test.at, f"never fires: {test.attribute} {value!r} is not one of {listing}")
            for value in test.values
            if value not in values
        ]

    def _action(self, action: object, bound: set[str]) -> list[Finding]:
        findings = []
        for var in _action_vars(action):
            if var not in bound:
                findings.append(Finding(action.at, f"{var} is not bound by the condition"))
        if isinstance(action, Add | Replace):
            findings += self._billable(action.code)
        if isinstance(action, AddSupported):
            findings += self.set_expr(action.targets, bound)
        for edit in _edits(action):
            for match in _PLACEHOLDER.finditer(edit.message):
                var, field = match.groups()
                if var not in bound:
                    findings.append(Finding(edit.at, f"message uses {var}, which is not bound"))
                if field is not None and field not in MESSAGE_FIELDS:
                    known = ", ".join(MESSAGE_FIELDS)
                    findings.append(
                        Finding(edit.at, f"unknown message field .{field} (known: {known})")
                    )
        return findings

    def _billable(self, code: Written) -> list[Finding]:
        refs = code.refs
        single = len(refs) == 1 and refs[0].first == refs[0].last and not refs[0].open_ended
        node = self.sets.codeset.get(code.text) if single else None
        if node is None or not node.billable:
            return [
                Finding(code.at, f"{code.text} must be one billable code to add or replace with")
            ]
        return []


def _shape(atom: object) -> tuple:
    """An atom without its location, to spot a condition that is both required and forbidden."""
    if isinstance(atom, EncounterTest):
        return (atom.attribute, atom.operator, atom.value)
    members = tuple(
        getattr(t, "text", None) or getattr(t, "name", None) or repr(t) for t in atom.members or ()
    )
    tests = tuple(
        (
            type(t).__name__,
            getattr(t, "attribute", getattr(t, "flag", "")),
            getattr(t, "value", getattr(t, "expected", "")),
        )
        for t in atom.tests
    )
    return (atom.var, members, tests)


def _action_vars(action: object) -> list[str]:
    if isinstance(action, AddSupported | Drop | Replace | Ask | Remark):
        return [action.var]
    if isinstance(action, Resequence):
        return [action.var] + ([action.other] if action.other else [])
    return []


def _edits(action: object) -> list[RaiseEdit | Remark]:
    if isinstance(action, RaiseEdit | Remark):
        return [action]
    if isinstance(action, AddSupported) and action.otherwise is not None:
        return [action.otherwise]
    return []


__all__ = ["Finding", "check_packs", "lint"]
