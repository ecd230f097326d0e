"""`medcode rules test`: test cases written beside the rules, and the rule coverage they reach.

A test file `NAME.tests.yaml` sits beside `NAME.rules`; each case gives claim codes or a note
text, the encounter (setting, age, sex), and what to expect:

    - name: hypertension and CKD stage 3 make hypertensive CKD
      codes: [I10, N18.30]
      expect:
        codes: [I12.9, N18.30]     # reported codes, in sequence
        absent: [I10]              # codes that must not be reported
        edits: []                  # ids of the rules that raise edits, exactly

The coverage threshold lives in `pack.yaml` beside the packs (`coverage: 100`, a percentage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from medcode.terminology import CodeSet, normalize_code

from . import Encounter, Fact, Outcome, RuleBook, RuleEngine
from .book import display_path
from .model import MAX_AGE, SETTINGS, SEXES

# Lists within mappings within lists: a test file needs 4 levels; deeper is a mistake, and
# deep enough would exhaust the recursion that reads YAML.
MAX_DEPTH = 20

# Codes a note text leads to, and what the rules did on the way (the Coder, loaded lazily).
NoteRunner = Callable[[str, str], tuple[list[str], Outcome]]


class RuleTestError(ValueError):
    """A test file that cannot be read: one line, file:line:column and what is wrong."""

    def __init__(self, message: str):
        # one line whatever the file holds: control characters are shown escaped
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))


# -- the schema of a test file -----------------------------------------------------------
# A field is checked by a function that returns None, or what the value should have been
# ("a list of codes, such as [I10, N18.30], not 5").

Check = Callable[[object], str | None]


def _one_line(value: object) -> str | None:
    ok = isinstance(value, str) and value.strip() and value.strip().isprintable()
    return None if ok else f"one line of text, not {_shown(value)}"


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else f"text, not {_shown(value)}"


def _one_of(allowed: tuple[str, ...]) -> Check:
    def check(value: object) -> str | None:
        return None if value in allowed else f"{' or '.join(allowed)}, not {_shown(value)}"

    return check


def _age(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_AGE:
        return None
    return f"a whole number of years, 0 to {MAX_AGE}, not {_shown(value)}"


def _list_of_text(kind: str, example: str) -> Check:
    def check(value: object) -> str | None:
        wanted = f"a list of {kind}, such as {example}"
        if not isinstance(value, list):
            return f"{wanted}, not {_shown(value)}"
        for number, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                return f"{wanted}; item {number} is {_shown(item)}"
        return None

    return check


def _mapping(value: object) -> str | None:
    return (
        None
        if isinstance(value, dict)
        else f"a mapping of codes, absent and edits, not {_shown(value)}"
    )


CASE_FIELDS: dict[str, Check] = {
    "name": _one_line,
    "codes": _list_of_text("codes", "[I10, N18.30]"),
    "text": _text,
    "setting": _one_of(SETTINGS),
    "age": _age,
    "sex": _one_of(SEXES),
    "expect": _mapping,
}
EXPECT_FIELDS: dict[str, Check] = {
    "codes": _list_of_text("codes", "[I12.9, N18.30]"),
    "absent": _list_of_text("codes", "[I10]"),
    "edits": _list_of_text("rule ids", "[excludes1-conflict]"),
}
CASE_KEYS = set(CASE_FIELDS)
EXPECT_KEYS = set(EXPECT_FIELDS)


@dataclass(frozen=True, slots=True)
class Case:
    path: str
    line: int
    name: str
    codes: tuple[str, ...] | None
    text: str | None
    setting: str
    age: int | None
    sex: str | None
    expect: dict


@dataclass(slots=True)
class CaseResult:
    case: Case
    failures: list[str]
    fired: set[str]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(slots=True)
class TestReport:
    results: list[CaseResult] = field(default_factory=list)
    rules: tuple[str, ...] = ()
    threshold: float = 0.0

    @property
    def covered(self) -> set[str]:
        return {r for result in self.results if result.passed for r in result.fired}

    @property
    def coverage(self) -> float:
        return (
            100.0 * len(self.covered & set(self.rules)) / len(self.rules) if self.rules else 100.0
        )

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and self.coverage >= self.threshold


def test_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("*.tests.yaml"))
        elif path.name.endswith(".tests.yaml"):
            found.append(path)
        elif path.suffix == ".rules":
            beside = path.with_name(path.name[: -len(".rules")] + ".tests.yaml")
            found += [beside] if beside.exists() else []
    return list(dict.fromkeys(found))


def threshold(paths: Iterable[Path]) -> float:
    """The coverage threshold of `pack.yaml` in the first folder given (0 without one)."""
    for path in paths:
        folder = path if path.is_dir() else path.parent
        meta = folder / "pack.yaml"
        if meta.exists():
            shown = display_path(meta)
            data, root = _load(meta, shown)
            if data is None:
                return 0.0
            if not isinstance(data, dict):
                raise RuleTestError(f"{_at(shown, root)}: pack.yaml is a mapping (coverage: 100)")
            value = data.get("coverage", 0)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not 0 <= value <= 100:
                where = _at(shown, _fields(shown, root, data)["coverage"][1])
                raise RuleTestError(
                    f"{where}: coverage must be a percentage from 0 to 100, not {_shown(value)}"
                )
            return float(value)
    return 0.0


def read_cases(path: Path) -> list[Case]:
    """The cases of one test file, each checked against the schema (CASE_FIELDS); the first
    mistake is a RuleTestError naming the file, line, column, case and field."""
    shown = display_path(path)
    items, root = _load(path, shown)
    if items is None:
        return []
    if not isinstance(items, list) or not isinstance(root, SequenceNode):
        raise RuleTestError(f"{_at(shown, root)}: a test file is a list of cases")
    return [
        _case(shown, number, node, item)
        for number, (node, item) in enumerate(zip(root.value, items, strict=True), 1)
    ]


def _case(path: str, number: int, node: Node, item: object) -> Case:
    where = _at(path, node)
    if not isinstance(item, dict) or not isinstance(node, MappingNode):
        raise RuleTestError(
            f"{where}: case {number}: a case is a mapping of name, codes or text, expect..."
        )
    fields = _fields(path, node, item)
    name = item.get("name")
    label = f"case {_shown(name)}" if _one_line(name) is None else f"case {number}"
    if "name" not in item:
        raise RuleTestError(f"{where}: {label}: a case needs a name")
    _check(path, label, "", item, fields, CASE_FIELDS)
    if ("codes" in item) == ("text" in item):
        raise RuleTestError(f"{where}: {label}: a case gives either codes or text")
    expect = item.get("expect", {})
    if "expect" in item:
        expected = _fields(path, fields["expect"][1], expect)
        _check(path, label, "expect.", expect, expected, EXPECT_FIELDS)
    codes = item.get("codes")
    return Case(
        path,
        node.start_mark.line + 1,
        name,
        tuple(normalize_code(c) for c in codes) if codes is not None else None,
        item.get("text"),
        item.get("setting", "inpatient"),
        item.get("age"),
        item.get("sex"),
        expect,
    )


def _check(
    path: str,
    label: str,
    prefix: str,
    values: dict,
    fields: dict[object, tuple[Node, Node]],
    schema: dict[str, Check],
) -> None:
    """Every field of a mapping against its schema, in written order."""
    for key, value in values.items():
        key_node, value_node = fields[key]
        if key not in schema:
            known = ", ".join(schema)
            raise RuleTestError(
                f"{_at(path, key_node)}: {label}: unknown field {_shown(f'{prefix}{key}')}"
                f" (known: {known})"
            )
        wanted = schema[key](value)
        if wanted is not None:
            raise RuleTestError(f"{_at(path, value_node)}: {label}: {prefix}{key} must be {wanted}")


def _fields(path: str, node: Node | None, values: dict) -> dict[object, tuple[Node, Node]]:
    """The key and value nodes of each field of a mapping: where it is written."""
    pairs = node.value if isinstance(node, MappingNode) else []
    if len(pairs) != len(values):  # a key written twice: YAML would keep the last silently
        seen: set[object] = set()
        for key_node, _ in pairs:
            if key_node.value in seen:
                raise RuleTestError(
                    f"{_at(path, key_node)}: field {_shown(key_node.value)} is given twice"
                )
            seen.add(key_node.value)
        raise RuleTestError(f"{_at(path, node)}: a field is given twice")
    return dict(zip(values, pairs, strict=True))


def _shown(value: object) -> str:
    """A value as the message quotes it, at most 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _at(path: str, node: Node | None) -> str:
    if node is None:
        return f"{path}:1:1"
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


# -- reading YAML safely ---------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases, nested at most MAX_DEPTH deep: aliases of aliases (a
    "billion laughs" of 2 KB) would expand to gigabytes, and deep nesting would exhaust the
    recursion that reads it. A value that cannot be made (a date of February 30) is a
    mistake at its place."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(
                None, None, "aliases (*name) are not allowed in rule tests", event.start_mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} deep", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            if isinstance(node, ScalarNode) and node.tag.endswith(":int"):
                problem = f"number too large: {len(node.value)} characters"
            else:
                problem = " ".join(f"cannot read this value: {exc}".split())
            raise ConstructorError(None, None, problem, node.start_mark) from None


def _load(path: Path, shown: str) -> tuple[object, Node | None]:
    """The value of a YAML file and its node (for the place of each field)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleTestError(f"{shown}: cannot read test file: {exc}") from None
    loader = None
    try:
        loader = _Loader(text)  # which refuses characters YAML does not allow, at once
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        problem = " ".join(" ".join(p for p in (exc.context, exc.problem) if p).split())
        raise RuleTestError(f"{where}: not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - before.rfind("\n")
        raise RuleTestError(
            f"{shown}:{line}:{column}: not valid YAML: character #x{exc.character:04x} is not"
            " allowed"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def run_tests(
    paths: list[Path], codeset: CodeSet, book: RuleBook, notes: NoteRunner | None = None
) -> TestReport:
    """Run every case of the test files found in `paths` against `book`."""
    engine = RuleEngine(codeset, book)
    report = TestReport(rules=tuple(sorted(r.id for r in book.rules)), threshold=threshold(paths))
    for path in test_files(paths):
        for case in read_cases(path):
            unknown = [c for c in case.codes or () if c not in codeset]
            if unknown:
                raise RuleTestError(
                    f"{case.path}:{case.line}: case {case.name!r}: codes not in the code set:"
                    f" {', '.join(unknown)}"
                )
            if case.codes is not None:
                encounter = Encounter(
                    [Fact(c) for c in case.codes], case.setting, case.age, case.sex
                )
                outcome = engine.run(encounter)
                codes = outcome.codes
            elif notes is None:
                raise RuleTestError(
                    f"{case.path}:{case.line}: case {case.name!r}: note cases need the coder"
                )
            else:
                codes, outcome = notes(case.text or "", case.setting)
            report.results.append(_judge(case, codes, outcome))
    return report


def _judge(case: Case, codes: list[str], outcome: Outcome) -> CaseResult:
    expect, failures = case.expect, []
    if "codes" in expect:
        wanted = [normalize_code(str(c)) for c in expect["codes"]]
        if codes != wanted:
            failures.append(f"expected codes {wanted}, got {codes}")
    present = [normalize_code(str(c)) for c in expect.get("absent", []) if str(c) in codes]
    if present:
        failures.append(f"expected absent, but reported: {present}")
    if "edits" in expect:
        wanted_edits = sorted(set(expect["edits"]))
        raised = sorted({e.rule for e in outcome.edits})
        if raised != wanted_edits:
            failures.append(f"expected edits from {wanted_edits}, got {raised}")
    fired = {step["rule"] for step in outcome.firings}
    return CaseResult(case, failures, fired)
