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

from medcode.terminology import CodeSet, normalize_code

from . import Encounter, Fact, Outcome, RuleBook, RuleEngine
from .book import display_path

CASE_KEYS = {"name", "codes", "text", "setting", "age", "sex", "expect"}
EXPECT_KEYS = {"codes", "absent", "edits"}

# Codes a note text leads to, and what the rules did on the way (the Coder, loaded lazily).
NoteRunner = Callable[[str, str], tuple[list[str], Outcome]]


class RuleTestError(ValueError):
    """A test file that cannot be read: file:line and what is wrong."""


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
            return float(
                (yaml.safe_load(meta.read_text(encoding="utf-8")) or {}).get("coverage", 0)
            )
    return 0.0


def read_cases(path: Path) -> list[Case]:
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
        nodes = yaml.compose(text)
        items = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleTestError(f"{shown}: cannot read test file: {exc}") from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise RuleTestError(f"{shown}:1: a test file is a list of cases")
    lines = [node.start_mark.line + 1 for node in nodes.value]
    return [_case(shown, line, item) for line, item in zip(lines, items, strict=True)]


def _case(path: str, line: int, item: object) -> Case:
    where = f"{path}:{line}"
    if not isinstance(item, dict) or "name" not in item:
        raise RuleTestError(f"{where}: a case is a mapping with a name")
    unknown = set(item) - CASE_KEYS
    if unknown:
        raise RuleTestError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    if ("codes" in item) == ("text" in item):
        raise RuleTestError(f"{where}: a case gives either codes or text")
    expect = item.get("expect") or {}
    if not isinstance(expect, dict) or set(expect) - EXPECT_KEYS:
        raise RuleTestError(f"{where}: expect holds codes, absent and edits")
    codes = item.get("codes")
    return Case(
        path,
        line,
        str(item["name"]),
        tuple(normalize_code(str(c)) for c in codes) if codes is not None else None,
        item.get("text"),
        str(item.get("setting", "inpatient")),
        item.get("age"),
        item.get("sex"),
        expect,
    )


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
                raise RuleTestError(f"{case.path}:{case.line}: unknown codes {', '.join(unknown)}")
            if case.codes is not None:
                encounter = Encounter(
                    [Fact(c) for c in case.codes], case.setting, case.age, case.sex
                )
                outcome = engine.run(encounter)
                codes = outcome.codes
            elif notes is None:
                raise RuleTestError(f"{case.path}:{case.line}: note cases need the coder")
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
