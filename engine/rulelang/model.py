"""Typed rule objects: what the Transformer makes of a rule pack (grammar: rules.lark)."""

from __future__ import annotations

from dataclasses import dataclass

from medcode.terminology import CodeRef, NoteKind


@dataclass(frozen=True, slots=True)
class Location:
    """Where a piece of a rule is written: shown in lint errors, traces and edits."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


# -- code sets -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """Codes written in the rule: E11.22, E11.-, I10-I16."""

    text: str
    refs: tuple[CodeRef, ...]
    at: Location


@dataclass(frozen=True, slots=True)
class Named:
    """A set given a name with `define`."""

    name: str
    at: Location


@dataclass(frozen=True, slots=True)
class FromTabular:
    """The codes a Tabular note cites for a bound code (`excludes1 of ?a`), or its category."""

    kind: NoteKind | str  # a note kind, or "category" / "block" / "parent" of the code
    var: str
    at: Location
    # which notes count: "inherited" (the code's and its ancestors'), "own" (the code's
    # only), "below chapter" (all but the chapter's, whose Excludes lists are boilerplate)
    scope: str = "inherited"


SetTerm = Written | Named | FromTabular
SetExpr = tuple[SetTerm, ...]


# -- conditions ----------------------------------------------------------------------------

# The care settings a rule tests (`setting is outpatient`) and an encounter is coded in.
SETTINGS = ("inpatient", "outpatient")
# The patient's sex (`sex is F`) and age (`age >= 65`, in years) as a rule can test them.
SEXES = ("F", "M")
MAX_AGE = 130
ATTRIBUTES = ("assertion", "section", "source")
FLAGS = ("billable", "header", "manifestation", "unspecified", "first")


@dataclass(frozen=True, slots=True)
class AttributeTest:
    """`section is assessment or plan`, `assertion is not uncertain`."""

    attribute: str  # one of ATTRIBUTES
    values: tuple[str, ...]
    negated: bool
    at: Location


@dataclass(frozen=True, slots=True)
class FlagTest:
    flag: str  # one of FLAGS
    expected: bool
    at: Location


Test = AttributeTest | FlagTest


@dataclass(frozen=True, slots=True)
class CodeFact:
    """`code ?a in SET where TESTS`: a code of the encounter, optionally bound to a name."""

    var: str | None
    members: SetExpr | None
    tests: tuple[Test, ...]
    at: Location
    excluded: SetExpr = ()


@dataclass(frozen=True, slots=True)
class EncounterTest:
    """`setting is outpatient`, `age >= 65`, `sex is F`, `note mentions "insulin"`."""

    attribute: str  # setting | age | sex | mentions
    operator: str
    value: str | int
    at: Location


Atom = CodeFact | EncounterTest


@dataclass(frozen=True, slots=True)
class Literal:
    atom: Atom
    negated: bool


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Add:
    code: Written
    at: Location


@dataclass(frozen=True, slots=True)
class RaiseEdit:
    severity: str  # error | warning | info
    message: str
    at: Location


@dataclass(frozen=True, slots=True)
class AddSupported:
    """Add the most specific code of a set that the words of ?var's evidence support."""

    targets: SetExpr
    var: str
    otherwise: RaiseEdit | None
    at: Location


@dataclass(frozen=True, slots=True)
class Drop:
    var: str
    at: Location


@dataclass(frozen=True, slots=True)
class Replace:
    var: str
    code: Written
    at: Location


@dataclass(frozen=True, slots=True)
class Resequence:
    var: str
    position: str  # first | last | before
    other: str | None
    at: Location


@dataclass(frozen=True, slots=True)
class Ask:
    """A provider query naming the missing documentation element."""

    missing: str
    var: str
    at: Location


@dataclass(frozen=True, slots=True)
class Remark:
    """A line in the trace of ?var that changes nothing (Excludes2: both codes are reported)."""

    var: str
    message: str
    at: Location


Action = Add | AddSupported | Drop | Replace | Resequence | RaiseEdit | Ask | Remark


# -- packs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    citation: str
    priority: int
    condition: tuple[Literal, ...]
    actions: tuple[Action, ...]
    at: Location

    @property
    def variables(self) -> tuple[str, ...]:
        """Names bound by the condition, in binding order."""
        return tuple(
            lit.atom.var
            for lit in self.condition
            if not lit.negated and isinstance(lit.atom, CodeFact) and lit.atom.var
        )


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    members: SetExpr
    at: Location


@dataclass(frozen=True, slots=True)
class RulePack:
    """One rules file: its definitions and rules in written order."""

    path: str
    definitions: tuple[Definition, ...]
    rules: tuple[Rule, ...]
