"""Evaluate rule packs on one encounter: a deterministic, bounded forward chaining.

A pass runs every rule once, in order of priority (highest first), then id, so the file order
never matters; passes repeat until one changes nothing. A rule fires at most once for each
combination of codes its ?names bind. A cap on firings stops rules that would undo each other
forever, with an edit that says so. Edits about codes that a later rule removed or replaced
are withdrawn at the end.

One module, longer than most: the matcher, the set resolution and the actions share the
state of one evaluation (bindings, snapshots, firing counts) and its caches, which are the
speed of the rule engine (docs/BENCHMARKS.md section 6); split, they would pass it all around.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medcode.engine.result import Edit
from medcode.terminology import NoteKind, validate_code

from .model import (
    Add,
    AddSupported,
    Ask,
    AttributeTest,
    CodeFact,
    Drop,
    EncounterTest,
    FlagTest,
    FromTabular,
    Literal,
    RaiseEdit,
    Remark,
    Replace,
    Resequence,
    Rule,
    SetExpr,
)
from .sets import CodeSets

MAX_FIRINGS = 500
# Actions that can change the reported codes or their order.
_CHANGES = (Add, AddSupported, Drop, Replace, Resequence)
_PLACEHOLDER = re.compile(r"\{(\?[a-z][a-z0-9_]*)(?:\.([a-z0-9_]+))?\}")
# Fields a message can show of a bound code: {?a.title}, {?a.code_first}...
MESSAGE_FIELDS = {
    "title": None,
    "validation": None,
    "excludes1": NoteKind.EXCLUDES1,
    "excludes2": NoteKind.EXCLUDES2,
    "code_first": NoteKind.CODE_FIRST,
    "use_additional": NoteKind.USE_ADDITIONAL_CODE,
    "own_use_additional": NoteKind.USE_ADDITIONAL_CODE,
    "code_also": NoteKind.CODE_ALSO,
}


@dataclass(slots=True, eq=False)  # a fact is itself: two codes alike are still two facts
class Fact:
    """A code of the encounter with the attributes rules can test."""

    code: str
    assertion: str = "affirmed"
    section: str | None = None
    # input (claim codes), note (found in the text), measurement (a value the note gives,
    # "BMI 24.5"), rule (added)
    source: str = "input"
    words: frozenset[str] = frozenset()  # the words of its evidence's sentences
    handle: Any = None  # the caller's object (the coder's candidate)
    origin: tuple[Fact, ...] = ()  # for added codes: the facts the rule matched
    active: bool = True
    reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    id: int = 0


@dataclass(slots=True)
class Encounter:
    """The facts of one encounter: its codes in sequence, setting, age, sex and note text."""

    facts: list[Fact]
    setting: str = "inpatient"
    age: int | None = None
    sex: str | None = None
    text: str = ""

    @property
    def active(self) -> list[Fact]:
        return [f for f in self.facts if f.active]


@dataclass(frozen=True, slots=True)
class RuleQuery:
    code: str
    missing: str
    rule: str
    fact: Fact


# Chooses the code to add under some nodes for a fact (from its words), or None.
Supporter = Callable[[tuple[str, ...], Fact], str | None]


@dataclass(slots=True)
class Outcome:
    """What the rules did: the final facts (active ones in sequence), edits, queries, firings."""

    encounter: Encounter
    supporter: Supporter | None = None
    edits: list[Edit] = field(default_factory=list)
    queries: list[RuleQuery] = field(default_factory=list)
    firings: list[dict[str, Any]] = field(default_factory=list)
    edit_facts: list[tuple[Fact, ...]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.encounter.active]

    def settle(self) -> Outcome:
        """Keep the edits whose codes are still reported as they were when raised."""
        kept = [
            (edit, facts)
            for edit, facts in zip(self.edits, self.edit_facts, strict=True)
            if not facts  # about the run itself
            or (all(f.active for f in facts) and tuple(f.code for f in facts) == edit.codes)
        ]
        self.edits = [edit for edit, _ in kept]
        self.edit_facts = [facts for _, facts in kept]
        return self


def _dynamic(expr: SetExpr) -> bool:
    return any(isinstance(t, FromTabular) for t in expr)


def _encounter_test(encounter: Encounter, test: EncounterTest) -> bool:
    if test.attribute == "setting":
        return encounter.setting == test.value
    if test.attribute == "sex":
        return encounter.sex == test.value
    if test.attribute == "mentions":
        pattern = rf"(?<!\w){re.escape(str(test.value))}(?!\w)"
        return re.search(pattern, encounter.text, re.IGNORECASE) is not None
    if encounter.age is None:
        return False
    age, value = encounter.age, int(test.value)
    return {
        "<": age < value,
        "<=": age <= value,
        "=": age == value,
        ">=": age >= value,
        ">": age > value,
    }[test.operator]


def _predicate(
    tests: Sequence[AttributeTest | FlagTest], sets: CodeSets
) -> Callable[[Fact], bool] | None:
    """One function for the `where` tests of a condition (None when there are none)."""
    checks: list[Callable[[Fact], bool]] = []
    for test in tests:
        if isinstance(test, AttributeTest):
            attribute, values, negated = test.attribute, test.values, test.negated
            checks.append(lambda f, a=attribute, v=values, n=negated: (getattr(f, a) in v) != n)
        else:
            flag, expected = test.flag, test.expected
            checks.append(lambda f, flag=flag, e=expected: sets.flag(f.code, flag) == e)
    if len(checks) <= 1:
        return checks[0] if checks else None
    return lambda fact: all(check(fact) for check in checks)


class _Plan:
    """A code condition split into what depends on no other code (checked once per look at
    the encounter) and what depends on bound codes or on the sequence."""

    __slots__ = (
        "accepts",
        "bound_excluded",
        "bound_members",
        "excluded",
        "first",
        "members",
        "needs_binding",
        "single",
    )

    def __init__(self, atom: CodeFact, sets: CodeSets):
        members, excluded = atom.members, atom.excluded
        dynamic = members is not None and _dynamic(members)
        first = [t for t in atom.tests if isinstance(t, FlagTest) and t.flag == "first"]
        self.members = None if dynamic else members
        self.excluded = () if _dynamic(excluded) else excluded
        self.accepts = _predicate([t for t in atom.tests if t not in first], sets)
        self.bound_members = members if dynamic else None
        self.bound_excluded = excluded if _dynamic(excluded) else ()
        self.first = tuple(t.expected for t in first)
        self.needs_binding = dynamic or bool(self.bound_excluded or self.first)
        # `in excludes1 of ?a` alone, the most common join: its nodes come straight from the
        # Tabular for the bound code
        self.single = members[0] if dynamic and len(members) == 1 else None


class _Pass:
    """One look at the encounter between changes: its active codes, an index from every
    hierarchy node to the codes at or below it, and per condition the codes that pass it."""

    def __init__(self, encounter: Encounter, sets: CodeSets, tested: dict[int, bool]):
        self.encounter = encounter
        self.sets = sets
        self.active = encounter.active
        self.static: dict[int, list[Fact]] = {}
        self.tested = tested  # the encounter tests, kept for the whole run
        below: dict[str, set[int]] = {}
        for fact in self.active:
            for node in sets.lineage(fact.code):
                if node in below:
                    below[node].add(fact.id)
                else:
                    below[node] = {fact.id}
        self.below = below
        self.nodes = frozenset(below)
        self.found: dict[frozenset[str], set[int] | frozenset[int]] = {}

    def after(self, change: int) -> _Pass:
        """The look after a change: 0 (the codes changed) looks again; 1 (only their order)
        keeps the index and the sets found, which do not depend on the order."""
        if change == 0:
            return _Pass(self.encounter, self.sets, self.tested)
        look = object.__new__(_Pass)
        look.encounter, look.sets, look.tested = self.encounter, self.sets, self.tested
        look.active = self.encounter.active
        look.static = {}
        look.below, look.nodes, look.found = self.below, self.nodes, self.found
        return look

    def ids_in(self, roots: frozenset[str]) -> set[int] | frozenset[int]:
        """The ids of the active codes at or below one of `roots` (kept for the pass: the
        rules of one kind of note ask for the same code's set)."""
        found = self.found.get(roots)
        if found is None:
            below = self.below
            if roots.isdisjoint(self.nodes):
                found = frozenset()
            elif len(roots) < len(below):
                found = set().union(*(below[node] for node in roots if node in below))
            else:
                found = set().union(*(ids for node, ids in below.items() if node in roots))
            self.found[roots] = found
        return found

    def test(self, test: EncounterTest) -> bool:
        found = self.tested.get(id(test))
        if found is None:
            found = self.tested[id(test)] = _encounter_test(self.encounter, test)
        return found


class Evaluator:
    """Runs ordered rules over encounters; holds nothing mutable between encounters."""

    def __init__(self, rules: Sequence[Rule], sets: CodeSets):
        self.rules = sorted(rules, key=lambda r: (-r.priority, r.id))
        self.sets = sets
        self.variables = {rule.id: rule.variables for rule in self.rules}
        # rules whose condition depends on the sequence (`first`)
        self._ordered = {
            rule.id
            for rule in self.rules
            for lit in rule.condition
            if isinstance(lit.atom, CodeFact)
            and any(isinstance(t, FlagTest) and t.flag == "first" for t in lit.atom.tests)
        }
        self.plans = {
            id(lit.atom): _Plan(lit.atom, sets)
            for rule in self.rules
            for lit in rule.condition
            if isinstance(lit.atom, CodeFact)
        }
        # per rule, the written sets that some code of the encounter must fall in for the
        # rule to match: most rules are passed over with one set operation each
        self._required = {
            rule.id: tuple(
                plan.members
                for lit in rule.condition
                if isinstance(lit.atom, CodeFact)
                and not lit.negated
                and (plan := self.plans[id(lit.atom)]).members is not None
            )
            for rule in self.rules
        }
        self._required_roots: dict[str, tuple[frozenset[str], ...]] = {}
        # rules that only add what the Tabular asks for: idle for a code that asks for nothing
        self._adders = {
            rule.id for rule in self.rules if all(isinstance(a, AddSupported) for a in rule.actions)
        }

    def run(self, encounter: Encounter, supporter: Supporter | None = None) -> Outcome:
        """Apply the rules to the encounter in place; `supporter` chooses codes to add from
        the words of the note (without it, `add supported` falls to its `otherwise`)."""
        for number, fact in enumerate(encounter.facts, 1):
            fact.id = number
        outcome = Outcome(encounter, supporter)
        fired: set[tuple[str, tuple[int, ...]]] = set()
        seen_edits: set[tuple[str, frozenset[str]]] = set()
        tested: dict[int, bool] = {}
        # A rule that saw the encounter as it is now has nothing more to do. `seen` counts the
        # changes to the codes and to their order; a rule that ran through without changing
        # anything keeps the count it saw (the order only matters to rules that test `first`).
        seen = [0, 0]
        settled: dict[str, tuple[int, int]] = {}
        changed = True
        look = _Pass(encounter, self.sets, tested)  # looked at again after each change
        while changed:  # passes, until one changes nothing
            changed = False
            for rule in self.rules:
                now = (seen[0], seen[1] if rule.id in self._ordered else 0)
                if settled.get(rule.id) == now or not self._possible(look, rule):
                    continue
                rule_changed = False
                bindings: list[dict[str, Fact]] = []
                self._match(look, rule.condition, 0, {}, bindings)
                variables = self.variables[rule.id]
                for binding in bindings:
                    key = (rule.id, tuple(binding[v].id for v in variables))
                    if key in fired or (rule.id in self._adders and self._idle(rule, binding)):
                        continue
                    if rule_changed and not self._holds(look, rule, binding):
                        continue  # an earlier binding of this rule changed the encounter
                    if len(fired) >= MAX_FIRINGS:
                        outcome.edits.append(_unsettled(outcome.codes))
                        outcome.edit_facts.append(())
                        return outcome.settle()
                    fired.add(key)
                    change = self._fire(rule, binding, outcome, seen_edits)
                    if change is not None:
                        rule_changed = changed = True
                        seen[change] += 1
                        look = look.after(change)
                if not rule_changed:
                    settled[rule.id] = now
        return outcome.settle()

    def _possible(self, look: _Pass, rule: Rule) -> bool:
        required = self._required_roots.get(rule.id)
        if required is None:
            required = tuple(self.sets.root_set(m, {}) for m in self._required[rule.id])
            self._required_roots[rule.id] = required
        nodes = look.nodes
        for roots in required:  # noqa: SIM110 - a loop, not all(): runs for each rule at each look
            if roots.isdisjoint(nodes):
                return False
        return True

    def _idle(self, rule: Rule, binding: dict[str, Fact]) -> bool:
        """Whether every action adds from a set that is empty for these codes."""
        bound = {name: f.code for name, f in binding.items()}
        return not any(self.sets.root_set(a.targets, bound) for a in rule.actions)

    def _holds(self, look: _Pass, rule: Rule, binding: dict[str, Fact]) -> bool:
        found: list[dict[str, Fact]] = []
        self._match(look, rule.condition, 0, dict(binding), found)
        return bool(found)

    # -- matching --------------------------------------------------------------------------

    def _match(
        self,
        look: _Pass,
        literals: Sequence[Literal],
        k: int,
        binding: dict[str, Fact],
        out: list[dict[str, Fact]],
    ) -> None:
        """Append to `out` each way of extending `binding` so that literals[k:] hold."""
        if k == len(literals):
            out.append(dict(binding))
            return
        literal = literals[k]
        atom = literal.atom
        if isinstance(atom, EncounterTest):
            if look.test(atom) != literal.negated:
                self._match(look, literals, k + 1, binding, out)
            return
        plan = self.plans[id(atom)]
        var = atom.var
        if var is not None and var in binding:  # re-checking a given binding
            fact = binding.pop(var)
            holds = fact in self._candidates(plan, look, binding)
            binding[var] = fact
            if holds:
                self._match(look, literals, k + 1, binding, out)
            return
        candidates = self._candidates(plan, look, binding)
        if literal.negated or var is None:
            if (not candidates) == literal.negated:
                self._match(look, literals, k + 1, binding, out)
            return
        for fact in candidates:
            binding[var] = fact
            self._match(look, literals, k + 1, binding, out)
        if candidates:
            del binding[var]

    def _candidates(self, plan: _Plan, look: _Pass, binding: dict[str, Fact]) -> list[Fact]:
        """The active codes that pass a code condition, given the codes bound so far."""
        found = look.static.get(id(plan))
        if found is None:
            found = look.static[id(plan)] = self._static(plan, look)
        if found and plan.needs_binding:
            found = self._bound(plan, found, binding, look)
        if found and binding:
            taken = binding.values()
            found = [f for f in found if f not in taken]
        return found

    def _static(self, plan: _Plan, look: _Pass) -> list[Fact]:
        """The active codes that pass the parts of a condition that depend on no other code."""
        sets, found = self.sets, look.active
        if plan.members:
            ids = look.ids_in(sets.root_set(plan.members, {}))
            found = [f for f in found if f.id in ids]
        if plan.excluded:
            out = look.ids_in(sets.root_set(plan.excluded, {}))
            found = [f for f in found if f.id not in out]
        if plan.accepts is not None:
            found = [f for f in found if plan.accepts(f)]
        return found

    def _bound(
        self, plan: _Plan, candidates: list[Fact], binding: dict[str, Fact], look: _Pass
    ) -> list[Fact]:
        """Keep the candidates that pass the parts depending on bound codes or the sequence."""
        if plan.single is not None:
            term = plan.single
            ids = look.ids_in(self.sets.tabular(binding[term.var].code, term.kind, term.scope))
            if not ids:
                return []
            candidates = [f for f in candidates if f.id in ids]
        elif plan.bound_members is not None:
            bound = {name: f.code for name, f in binding.items()}
            ids = look.ids_in(self.sets.root_set(plan.bound_members, bound))
            if not ids:
                return []
            candidates = [f for f in candidates if f.id in ids]
        if plan.bound_excluded:
            bound = {name: f.code for name, f in binding.items()}
            out = look.ids_in(self.sets.root_set(plan.bound_excluded, bound))
            candidates = [f for f in candidates if f.id not in out]
        if plan.first:
            head = look.active[0] if look.active else None
            candidates = [f for f in candidates if all((f is head) == e for e in plan.first)]
        return candidates

    # -- actions ---------------------------------------------------------------------------

    def _fire(
        self, rule: Rule, binding: dict[str, Fact], outcome: Outcome, seen_edits: set
    ) -> int | None:
        """Run a rule's actions and record those that did something. Returns 0 when the codes
        changed, 1 when only their order did, None when neither."""
        encounter = outcome.encounter
        matched = {name: f.code for name, f in binding.items()}
        # the reported codes, taken before the first action that may change them, and after
        start = codes = None
        for action in rule.actions:
            changes = isinstance(action, _CHANGES)
            if changes and codes is None:
                start = codes = [f.code for f in encounter.active]
            # described before acting: a replacement changes the code it names
            described = describe(action, binding, self) if isinstance(action, Replace) else None
            edits, queries = len(outcome.edits), len(outcome.queries)
            affected = self._act(rule, action, binding, outcome, seen_edits)
            before = codes
            if changes:
                codes = [f.code for f in encounter.active]
            if not affected and len(outcome.edits) == edits and len(outcome.queries) == queries:
                continue
            if before is None:  # nothing has changed the codes yet
                before = codes = [f.code for f in encounter.active]
            step = {
                "step": "rule",
                "rule": rule.id,
                "title": rule.title,
                "citation": rule.citation,
                "source": rule.at.source,
                "matched": matched,
                "action": described or describe(action, binding, self),
                "before": before,
                "after": codes,
            }
            outcome.firings.append(step)
            for fact in affected:
                fact.steps.append(step)
        if start is None or codes == start:
            return None
        return 0 if sorted(codes) != sorted(start) else 1

    def _act(
        self,
        rule: Rule,
        action: object,
        binding: dict[str, Fact],
        outcome: Outcome,
        seen_edits: set,
    ) -> list[Fact]:
        encounter = outcome.encounter
        if isinstance(action, Add):
            return self._add(encounter, action.code.text, binding)
        if isinstance(action, AddSupported):
            bound = {n: f.code for n, f in binding.items()}
            if not self.sets.root_set(action.targets, bound):  # the notes ask for nothing
                return []
            roots = self.sets.roots(action.targets, bound)
            fact = binding[action.var]
            code = outcome.supporter(roots, fact) if outcome.supporter else None
            if code is not None:
                return self._add(encounter, code, binding)
            if action.otherwise is not None:
                self._edit(rule, action.otherwise, binding, outcome, seen_edits)
            return []
        if isinstance(action, Drop):
            fact = binding[action.var]
            fact.active = False
            fact.reason = _reason(rule, [f.code for f in binding.values() if f is not fact])
            return [fact]
        if isinstance(action, Replace):
            return self._replace(rule, binding[action.var], action.code.text, encounter)
        if isinstance(action, Resequence):
            return self._sequence(encounter, action, binding)
        if isinstance(action, RaiseEdit):
            self._edit(rule, action, binding, outcome, seen_edits)
            return []
        if isinstance(action, Ask):
            fact = binding[action.var]
            outcome.queries.append(RuleQuery(fact.code, action.missing, rule.id, fact))
            return [fact]
        if isinstance(action, Remark):
            return [binding[action.var]]
        raise TypeError(f"unknown action {action!r}")

    @staticmethod
    def _add(encounter: Encounter, code: str, binding: dict[str, Fact]) -> list[Fact]:
        if any(f.code == code for f in encounter.active):
            return []
        origin = tuple(binding.values())
        fact = Fact(
            code,
            source="rule",
            words=frozenset().union(*(f.words for f in origin)),
            origin=origin,
            id=max((f.id for f in encounter.facts), default=0) + 1,
        )
        encounter.facts.append(fact)
        return [fact]

    @staticmethod
    def _replace(rule: Rule, fact: Fact, code: str, encounter: Encounter) -> list[Fact]:
        if any(f.code == code and f is not fact for f in encounter.active):
            fact.active = False
            fact.reason = _reason(rule, [code])
        else:
            fact.code = code
        return [fact]

    @staticmethod
    def _sequence(encounter: Encounter, action: Resequence, binding: dict[str, Fact]) -> list:
        facts = encounter.facts
        fact = binding[action.var]
        old = facts.index(fact)
        facts.remove(fact)
        if action.position == "first":
            facts.insert(0, fact)
        elif action.position == "last":
            facts.append(fact)
        else:
            other = binding[action.other or ""]
            at = facts.index(other)
            facts.insert(at if old > at else old, fact)
        return [fact] if facts.index(fact) != old else []

    def _edit(
        self, rule: Rule, action: RaiseEdit, binding: dict, outcome: Outcome, seen: set
    ) -> None:
        codes = tuple(f.code for f in binding.values())
        key = (rule.id, frozenset(codes))
        if key in seen:
            return
        seen.add(key)
        message = self.render(action.message, binding)
        outcome.edits.append(Edit(rule.id, action.severity, codes, message, rule.at.source))
        outcome.edit_facts.append(tuple(binding.values()))

    def render(self, message: str, binding: dict[str, Fact]) -> str:
        """Fill {?a} and {?a.field} placeholders of an edit message."""

        def fill(match: re.Match) -> str:
            fact = binding[match.group(1)]
            field_name = match.group(2)
            if field_name is None:
                return fact.code
            if field_name == "title":
                node = self.sets.codeset.get(fact.code)
                return node.title if node else "unknown code"
            if field_name == "validation":
                return validate_code(self.sets.codeset, fact.code).message
            own = field_name.startswith("own_")
            return self.sets.note_text(fact.code, MESSAGE_FIELDS[field_name], own)

        return _PLACEHOLDER.sub(fill, message)


def _reason(rule: Rule, others: list[str]) -> str:
    """Why a code was dropped: "Hyperglycemia is part of diabetes: E11.65 (I.B.5)"."""
    reason = f"{rule.title}: {', '.join(others)}" if others else rule.title
    return f"{reason} ({rule.citation})" if rule.citation else reason


def _unsettled(codes: list[str]) -> Edit:
    return Edit(
        "rules-did-not-settle",
        "warning",
        tuple(codes),
        f"rules were stopped after {MAX_FIRINGS} firings; some may undo each other",
        "medcode",
    )


def describe(action: object, binding: dict[str, Fact], evaluator: Evaluator) -> str:
    """An action in words, for traces: "replace I10 with I12.9"."""

    def code(var: str) -> str:
        return binding[var].code if var in binding else var

    if isinstance(action, Add):
        return f"add {action.code.text}"
    if isinstance(action, AddSupported):
        targets = ", ".join(_terms(action.targets, binding))
        return f"add the code of {targets} that the note supports for {code(action.var)}"
    if isinstance(action, Drop):
        return f"drop {code(action.var)}"
    if isinstance(action, Replace):
        return f"replace {code(action.var)} with {action.code.text}"
    if isinstance(action, Resequence):
        target = f"before {code(action.other)}" if action.other else action.position
        return f"sequence {code(action.var)} {target}"
    if isinstance(action, RaiseEdit):
        return f"{action.severity} edit"
    if isinstance(action, Ask):
        return f"query the {action.missing} of {code(action.var)}"
    if isinstance(action, Remark):
        return f"note on {code(action.var)}: {evaluator.render(action.message, binding)}"
    return type(action).__name__


def _terms(expr: SetExpr, binding: dict[str, Fact]) -> list[str]:
    words = []
    for term in expr:
        if isinstance(term, FromTabular):
            code = binding[term.var].code if term.var in binding else term.var
            kind = term.kind.label if isinstance(term.kind, NoteKind) else term.kind
            own = "own " if term.scope == "own" else ""
            below = " below chapter" if term.scope == "below chapter" else ""
            words.append(f"{own}{kind} of {code}{below}")
        else:
            words.append(getattr(term, "text", None) or getattr(term, "name", ""))
    return words
