"""`medcode check`, `medcode rules lint` and `medcode rules test`: the rule packs at work."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medcode.engine.rulelang import (
    RULES_DIR,
    InvalidRules,
    RuleBook,
    RuleEngine,
    RuleSyntaxError,
    rule_files,
)
from medcode.engine.rulelang.check import check_codes
from medcode.terminology import CodeSet, load_codeset

from .console import EXIT_FINDINGS, EXIT_OK, UsageError, print_json

# Rules named in `rules no test fires`: a pack of thousands names the first ones and a count.
_LISTED = 50


def _book(paths: list[str] | None) -> tuple[list[Path], RuleBook]:
    folders = [Path(p) for p in paths] if paths else [RULES_DIR]
    try:
        return folders, RuleBook.load(folders)
    except RuleSyntaxError as exc:
        raise UsageError(f"{exc} (run `medcode rules lint` for every problem)") from exc
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc


def check(args: argparse.Namespace) -> int:
    """Claim-scrubber mode: the rule packs on a list of codes, without a note."""
    codeset = load_codeset(args.tabular)
    _, book = _book(args.rules)
    report = check_codes(
        codeset, _engine(codeset, book), args.codes, args.setting, args.age, args.sex
    )
    encounter, outcome, edits = report.encounter, report.outcome, report.edits
    if args.format == "json":
        print_json(report.to_json())
    else:
        for position, fact in enumerate(encounter.active, 1):
            print(f"{position:>3}. {fact.code:<9} {codeset.node(fact.code).title}")
        for step in outcome.firings:
            if step["before"] != step["after"]:
                print(f"  rule {step['rule']}: {step['action']}  ({step['source']})")
        for edit in edits:
            codes = ", ".join(edit.codes)
            print(f"  {edit.severity}: {codes}: {edit.message}  [{edit.rule}, {edit.source}]")
    return EXIT_FINDINGS if report.has_errors else EXIT_OK


def _engine(codeset: CodeSet, book: RuleBook) -> RuleEngine:
    try:
        return RuleEngine(codeset, book)
    except InvalidRules as exc:
        raise UsageError(str(exc)) from exc


def rules_lint(args: argparse.Namespace) -> int:
    from medcode.engine.rulelang.lint import lint

    folders = [Path(p) for p in args.paths] if args.paths else [RULES_DIR]
    try:
        files = rule_files(folders)  # those that do not parse count too
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    findings, packs = lint(files, load_codeset(args.tabular))
    for finding in findings:
        print(finding.render(), file=sys.stderr)
    rules = sum(len(p.rules) for p in packs)
    if findings:
        print(f"{len(findings)} problem(s) in {len(files)} rule file(s)", file=sys.stderr)
        return 2
    print(f"{rules} rules in {len(files)} files: no problems")
    return EXIT_OK


def rules_test(args: argparse.Namespace) -> int:
    from medcode.engine.rulelang.testing import RuleTestError, run_tests

    folders, book = _book(args.paths)
    codeset = load_codeset(args.tabular)
    coder = None

    def notes(text: str, setting: str):
        nonlocal coder
        if coder is None:
            from medcode.engine.coding.coder import Coder

            coder = Coder(args.tabular, rules=book, cms_dir=args.cms_dir)
        result, outcome = coder.code_traced(text, setting=setting)
        return [c.code for c in result.codes], outcome

    try:
        report = run_tests(folders, codeset, book, notes)
    except (RuleTestError, InvalidRules) as exc:
        raise UsageError(str(exc)) from exc
    for result in report.results:
        case = result.case
        status = "ok  " if result.passed else "FAIL"
        print(f"{case.path}:{case.line}: {status} {case.name}")
        for failure in result.failures:
            print(f"    {failure}")
    missing = sorted(set(report.rules) - report.covered)
    failed = sum(not r.passed for r in report.results)
    print(
        f"{len(report.results) - failed} passed, {failed} failed; rule coverage "
        f"{len(report.rules) - len(missing)}/{len(report.rules)} = {report.coverage:.1f}% "
        f"(threshold {report.threshold:g}%)"
    )
    if missing:
        more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
        print("rules no test fires: " + ", ".join(missing[:_LISTED]) + more)
    return EXIT_OK if report.passed else EXIT_FINDINGS
