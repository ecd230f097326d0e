"""Evaluate rule packs on one encounter: a deterministic, bounded forward chaining.

A pass runs every rule once, in order of priority (highest first), then id, so the file order
never matters; passes repeat until one changes nothing. A rule fires at most once for each
combination of codes its ?names bind. A cap on firings stops rules that would undo each other
forever, with an edit that says so. Edits about codes that a later rule removed or replaced
are withdrawn at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from medcode.terminology import NoteKind, validate_code

from ..result import Edit
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
    source: str = "input"  # input (claim codes), note (found in the text), rule (added)
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


@dataclass(frozen=True, slots=True)
class _Plan:
    """A code condition split into what depends on no other code (checked once per look at
    the encounter) and what depends on bound codes or on the sequence."""

    members: SetExpr | None
    excluded: SetExpr
    tests: tuple[AttributeTest | FlagTest, ...]
    bound_members: SetExpr | None
    bound_excluded: SetExpr
    first: tuple[bool, ...]

    @classmethod
    def of(cls, atom: CodeFact) -> _Plan:
        members, excluded = atom.members, atom.excluded
        dynamic = members is not None and _dynamic(members)
        return cls(
            None if dynamic else members,
            () if _dynamic(excluded) else excluded,
            tuple(t for t in atom.tests if not (isinstance(t, FlagTest) and t.flag == "first")),
            members if dynamic else None,
            excluded if _dynamic(excluded) else (),
            tuple(t.expected for t in atom.tests if isinstance(t, FlagTest) and t.flag == "first"),
        )


class _Pass:
    """One look at the encounter between changes: its active codes, an index from every
    hierarchy node to the codes at or below it, and per condition the codes that pass it."""

    def __init__(self, encounter: Encounter, sets: CodeSets):
        self.encounter = encounter
        self.active = encounter.active
        self.static: dict[int, list[Fact]] = {}
        below: dict[str, set[int]] = {}
        for fact in self.active:
            for node in sets.lineage(fact.code):
                if node in below:
                    below[node].add(fact.id)
                else:
                    below[node] = {fact.id}
        self.below = below

    def ids_in(self, roots: frozenset[str]) -> set[int]:
        """The ids of the active codes at or below one of `roots`."""
        below = self.below
        if len(roots) < len(below):
            return set().union(*(below[node] for node in roots if node in below))
        return set().union(*(ids for node, ids in below.items() if node in roots))


class Evaluator:
    """Runs ordered rules over encounters; holds nothing mutable between encounters."""

    def __init__(self, rules: Sequence[Rule], sets: CodeSets):
        self.rules = sorted(rules, key=lambda r: (-r.priority, r.id))
        self.sets = sets
        # rules whose condition depends on the sequence (`first`)
        self._ordered = {
            rule.id
            for rule in self.rules
            for lit in rule.condition
            if isinstance(lit.atom, CodeFact)
            and any(isinstance(t, FlagTest) and t.flag == "first" for t in lit.atom.tests)
        }
        self.plans = {
            id(lit.atom): _Plan.of(lit.atom)
            for rule in self.rules
            for lit in rule.condition
            if isinstance(lit.atom, CodeFact)
        }

    def run(self, encounter: Encounter, supporter: Supporter | None = None) -> Outcome:
        """Apply the rules to the encounter in place; `supporter` chooses codes to add from
        the words of the note (without it, `add supported` falls to its `otherwise`)."""
        for number, fact in enumerate(encounter.facts, 1):
            fact.id = number
        outcome = Outcome(encounter, supporter)
        fired: set[tuple[str, tuple[int, ...]]] = set()
        seen_edits: set[tuple[str, frozenset[str]]] = set()
        # A rule that saw the encounter as it is now has nothing more to do. `seen` counts the
        # changes to the codes and to their order; a rule that ran through without changing
        # anything keeps the count it saw (the order only matters to rules that test `first`).
        seen = [0, 0]
        settled: dict[str, tuple[int, int]] = {}
        changed = True
        while changed:  # passes, until one changes nothing
            changed = False
            look = _Pass(encounter, self.sets)
            for rule in self.rules:
                now = (seen[0], seen[1] if rule.id in self._ordered else 0)
                if settled.get(rule.id) == now:
                    continue
                rule_changed = False
                for binding in list(self._bindings(look, rule.condition, {})):
                    key = (rule.id, tuple(binding[v].id for v in rule.variables))
                    if key in fired:
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
                        look = _Pass(encounter, self.sets)
                if not rule_changed:
                    settled[rule.id] = now
        return outcome.settle()

    def _holds(self, look: _Pass, rule: Rule, binding: dict[str, Fact]) -> bool:
        return next(self._bindings(look, rule.condition, dict(binding)), None) is not None

    # -- matching --------------------------------------------------------------------------

    def _bindings(
        self, look: _Pass, literals: Sequence[Literal], binding: dict[str, Fact]
    ) -> Iterator[dict[str, Fact]]:
        if not literals:
            yield dict(binding)
            return
        literal, rest = literals[0], literals[1:]
        atom = literal.atom
        if isinstance(atom, EncounterTest):
            if self._encounter_test(look.encounter, atom) != literal.negated:
                yield from self._bindings(look, rest, binding)
            return
        if atom.var is not None and atom.var in binding:  # re-checking a given binding
            fact = binding[atom.var]
            plan = self.plans[id(atom)]
            others = {n: f for n, f in binding.items() if n != atom.var}
            static = fact in self._static(plan, look)
            if static and self._bound(plan, [fact], others, look):
                yield from self._bindings(look, rest, binding)
            return
        plan = self.plans[id(atom)]
        candidates = self._static(plan, look)
        if candidates and (plan.bound_members is not None or plan.bound_excluded or plan.first):
            candidates = self._bound(plan, candidates, binding, look)
        if candidates and binding:
            taken = {f.id for f in binding.values()}
            candidates = [f for f in candidates if f.id not in taken]
        if literal.negated or atom.var is None:
            if (not candidates) == literal.negated:
                yield from self._bindings(look, rest, binding)
            return
        for fact in candidates:
            binding[atom.var] = fact
            yield from self._bindings(look, rest, binding)
            del binding[atom.var]

    def _static(self, plan: _Plan, look: _Pass) -> list[Fact]:
        """The active codes that pass the parts of a condition that depend on no other code."""
        found = look.static.get(id(plan))
        if found is None:
            sets = self.sets
            ids = look.ids_in(sets.root_set(plan.members, {})) if plan.members else None
            out = look.ids_in(sets.root_set(plan.excluded, {})) if plan.excluded else ()
            found = look.static[id(plan)] = [
                f
                for f in look.active
                if (ids is None or f.id in ids)
                and f.id not in out
                and all(self._test(t, f) for t in plan.tests)
            ]
        return found

    def _bound(
        self, plan: _Plan, candidates: list[Fact], binding: dict[str, Fact], look: _Pass
    ) -> list[Fact]:
        """Keep the candidates that pass the parts depending on bound codes or the sequence."""
        bound = {name: f.code for name, f in binding.items()}
        if plan.bound_members is not None:
            ids = look.ids_in(self.sets.root_set(plan.bound_members, bound))
            if not ids:
                return []
            candidates = [f for f in candidates if f.id in ids]
        if plan.bound_excluded:
            out = look.ids_in(self.sets.root_set(plan.bound_excluded, bound))
            candidates = [f for f in candidates if f.id not in out]
        if plan.first:
            head = look.active[0] if look.active else None
            candidates = [f for f in candidates if all((f is head) == e for e in plan.first)]
        return candidates

    def _test(self, test: AttributeTest | FlagTest, fact: Fact) -> bool:
        if isinstance(test, AttributeTest):
            return (getattr(fact, test.attribute) in test.values) != test.negated
        return self.sets.flag(fact.code, test.flag) == test.expected

    @staticmethod
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

    # -- actions ---------------------------------------------------------------------------

    def _fire(
        self, rule: Rule, binding: dict[str, Fact], outcome: Outcome, seen_edits: set
    ) -> int | None:
        """Run a rule's actions and record those that did something. Returns 0 when the codes
        changed, 1 when only their order did, None when neither."""
        encounter = outcome.encounter
        matched = {name: f.code for name, f in binding.items()}
        codes = [f.code for f in encounter.active]
        start = codes
        for action in rule.actions:
            described = describe(action, binding, self)
            edits, queries = len(outcome.edits), len(outcome.queries)
            affected = self._act(rule, action, binding, outcome, seen_edits)
            before = codes
            if isinstance(action, _CHANGES):
                codes = [f.code for f in encounter.active]
            if not affected and len(outcome.edits) == edits and len(outcome.queries) == queries:
                continue
            step = {
                "step": "rule",
                "rule": rule.id,
                "title": rule.title,
                "citation": rule.citation,
                "source": rule.at.source,
                "matched": matched,
                "action": described,
                "before": before,
                "after": codes,
            }
            outcome.firings.append(step)
            for fact in affected:
                fact.steps.append(step)
        if sorted(codes) != sorted(start):
            return 0
        return 1 if codes != start else None

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
            roots = self.sets.roots(action.targets, {n: f.code for n, f in binding.items()})
            if not roots:  # the code's notes ask for nothing
                return []
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
            words.append(f"{'own ' if term.own else ''}{kind} of {code}")
        else:
            words.append(getattr(term, "text", None) or getattr(term, "name", ""))
    return words
