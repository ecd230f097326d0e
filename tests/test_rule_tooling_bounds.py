"""Lint and rule tests on hostile packs: their cost grows with the pack, not with its pairs of
rules or its loops (issue 19). The generators below make the packs; run this file to measure:

    python tests/test_rule_tooling_bounds.py     # parse, lint and `rules test` timings

The tests assert what lint finds, never how long it takes."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import pytest

from medcode.engine.interfaces.cli import main
from medcode.engine.rulelang import RuleBook
from medcode.engine.rulelang.lint import check_packs, lint
from medcode.engine.rulelang.model import CodeFact, Literal, Location, Replace, Rule, RulePack
from medcode.engine.rulelang.model import Written as WrittenSet
from medcode.engine.rulelang.testing import run_tests
from medcode.terminology import CodeSet, load_codeset
from medcode.terminology.coderefs import parse_references

RULES = 20_000


def chain_text(codes: list[str], ring: bool = False) -> str:
    """Rules r0, r1...: rule n replaces the n-th code with the next one, and, round a ring,
    the last one with the first (a loop of every rule)."""
    targets = codes[1:] + codes[:1] if ring else codes[1:]
    return "".join(
        f'rule r{n} "step {n}" priority {n % 50}\n'
        f"  when code ?a in {code} and setting is inpatient\n"
        f"  then replace ?a with {target}\n"
        for n, (code, target) in enumerate(zip(codes, targets, strict=False))
    )


def chain_pack(codes: list[str], ring: bool = False) -> RulePack:
    """The rules of `chain_text` built directly (parsing 20,000 rules takes seconds)."""
    rules = []
    refs = {code: parse_references(code) for code in codes}
    targets = codes[1:] + codes[:1] if ring else codes[1:]
    for n, (code, target) in enumerate(zip(codes, targets, strict=False)):
        at = Location("chain.rules", 3 * n + 1, 1)
        members = (WrittenSet(code, refs[code], at),)
        condition = (Literal(CodeFact("?a", members, (), at), False),)
        action = Replace("?a", WrittenSet(target, refs[target], at), at)
        rules.append(Rule(f"r{n}", f"step {n}", "", n % 50, condition, (action,), at))
    return RulePack("chain.rules", (), tuple(rules))


def undoing_text(count: int) -> str:
    """`count` rules that each drop Z79.4 and add it back: every one undoes every other."""
    return "".join(
        f'rule c{n} "again" when code ?a in Z79.4 then drop ?a and add Z79.4\n'
        for n in range(count)
    )


def billable(codeset: CodeSet, count: int) -> list[str]:
    return list(islice(codeset.billable_codes(), count))


# -- lint ------------------------------------------------------------------------------------


def test_a_chain_of_20000_rules_lints_clean(codeset: CodeSet) -> None:
    assert check_packs([chain_pack(billable(codeset, RULES + 1))], codeset) == []


def test_a_ring_of_20000_rules_is_one_loop_shown_by_its_ends(codeset: CodeSet) -> None:
    findings = check_packs([chain_pack(billable(codeset, RULES), ring=True)], codeset)
    assert [f"{f.at}: {f.message}" for f in findings] == [
        "chain.rules:1:1: rules may fire forever: r0 -> r1 -> r2 -> r3 -> r4 -> (19991 more)"
        " -> r19996 -> r19997 -> r19998 -> r19999 -> r0 (each adds a code the next one removes)"
    ]


def test_ten_rules_that_undo_each_other_are_one_finding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pack = tmp_path / "undo.rules"
    pack.write_text(undoing_text(10), "utf-8")
    status = main(["rules", "lint", str(pack)])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"{pack}:1:1: error: rules may fire forever: c0 -> c0 (each adds a code the next one"
        " removes); also in this loop: c1, c2, c3, c4, c5, c6, c7, c8, c9",
        "1 problem(s) in 1 rule file(s)",
    ]


def test_each_loop_is_reported_once_with_a_shortest_way_round(
    codeset: CodeSet, tmp_path: Path
) -> None:
    (tmp_path / "loops.rules").write_text(
        "define stage_3 = N18.30, N18.31, N18.32\n"
        # a ring of three through a named set, with a shortcut back from the second
        'rule a "a" when code ?x in N18.1 then replace ?x with N18.2\n'
        'rule b "b" when code ?x in N18.2 then replace ?x with N18.30 and add N18.1\n'
        'rule c "c" when code ?x in stage_3 then replace ?x with N18.1\n'
        # adds what it drops
        'rule self "s" when code ?x in Z79.4 then drop ?x and add Z79.4\n'
        # drops what no rule adds, and adds what no rule drops
        'rule end "e" when code ?x in Z79.84 then replace ?x with Z79.899\n',
        "utf-8",
    )
    findings, _ = lint([tmp_path], codeset)
    shown = tmp_path / "loops.rules"
    assert [f"{f.at}: {f.message}" for f in findings] == [
        f"{shown}:2:1: rules may fire forever: a -> b -> a (each adds a code the next one"
        " removes); also in this loop: c",
        f"{shown}:5:1: rules may fire forever: self -> self (each adds a code the next one"
        " removes)",
    ]


# -- rule tests ------------------------------------------------------------------------------


def test_rule_tests_on_a_pack_of_2000_rules(codeset: CodeSet, tmp_path: Path) -> None:
    codes = billable(codeset, 2001)
    (tmp_path / "chain.rules").write_text(chain_text(codes), "utf-8")
    (tmp_path / "chain.tests.yaml").write_text(
        f"- name: the last step\n  codes: [{codes[1999]}]\n"
        f"  expect:\n    codes: [{codes[2000]}]\n    edits: []\n",
        "utf-8",
    )
    report = run_tests([tmp_path], codeset, RuleBook.load([tmp_path]))
    assert [(r.case.name, r.passed, sorted(r.fired)) for r in report.results] == [
        ("the last step", True, ["r1999"])
    ]
    assert (len(report.rules), len(report.covered)) == (2000, 1)


def test_rules_no_test_fires_are_named_up_to_50(
    capsys: pytest.CaptureFixture[str], codeset: CodeSet, tmp_path: Path
) -> None:
    (tmp_path / "chain.rules").write_text(chain_text(billable(codeset, 61)), "utf-8")
    assert main(["rules", "test", str(tmp_path)]) == 0
    *_, summary, missing = capsys.readouterr().out.splitlines()
    assert summary == "0 passed, 0 failed; rule coverage 0/60 = 0.0% (threshold 0%)"
    first = sorted(f"r{n}" for n in range(60))[:50]
    assert missing == "rules no test fires: " + ", ".join(first) + " and 10 more"


# -- measuring -------------------------------------------------------------------------------


def _measure() -> dict[str, dict[str, float]]:
    """Wall time of each step on the generated packs, and the process's peak memory after it."""
    codeset = load_codeset()
    codes = billable(codeset, RULES + 1)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        packs = {
            "chain-20000": chain_text(codes),
            "ring-20000": chain_text(codes[:RULES], ring=True),
            "undoing-10": undoing_text(10),
            "undoing-12": undoing_text(12),
        }
        for name, text in packs.items():
            path = Path(folder) / name / f"{name}.rules"
            path.parent.mkdir()
            path.write_text(text, "utf-8")
            path.with_name(f"{name}.tests.yaml").write_text(
                f"- name: one\n  codes: [{codes[0]}]\n", "utf-8"
            )
            start = time.perf_counter()
            book = RuleBook.load([path.parent])
            parsed = time.perf_counter()
            findings = check_packs(book.packs, codeset)
            checked = time.perf_counter()
            if not findings:
                run_tests([path.parent], codeset, book)
            tested = time.perf_counter()
            results[name] = {
                "parse_s": round(parsed - start, 2),
                "lint_checks_s": round(checked - parsed, 2),
                "rules_test_s": round(tested - checked, 2) if not findings else None,
                "findings": len(findings),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            }
            print(name, json.dumps(results[name]), file=sys.stderr)
    return results


if __name__ == "__main__":
    _measure()
