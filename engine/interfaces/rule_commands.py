"""`medcode check`, `medcode rules lint` and `medcode rules test`: the rule packs at work."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from medcode.engine.coding.claim import Claim, Patient, claim_grouper, parse_date
from medcode.engine.coding.errors import InputError
from medcode.engine.result import Edit
from medcode.engine.rulelang import (
    RULES_DIR,
    InvalidRules,
    RuleBook,
    RuleEngine,
    RuleSyntaxError,
    rule_files,
)
from medcode.engine.rulelang.book import RULES_ENV, book_paths
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


def add_rules_options(parser: argparse.ArgumentParser) -> None:
    """--rules and --rules-only: the rule book of code, batch, serve and check."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--rules",
        nargs="+",
        default=[],
        metavar="PATH",
        help="rule files or folders to add to the shipped packs (linted first)",
    )
    choice.add_argument(
        "--rules-only",
        nargs="+",
        default=[],
        metavar="PATH",
        help="rule files or folders to use instead of the shipped packs (linted first)",
    )


def linted_paths(args: argparse.Namespace) -> tuple[Path, ...] | None:
    """The files and folders of the book that --rules / --rules-only name, after `medcode rules
    lint` found no problem in them; None without either (the shipped packs, already checked).
    A book with problems is never used: one line per finding on stderr, exit status 2."""
    from medcode.engine.rulelang.lint import lint

    if not args.rules and not args.rules_only:
        return None
    paths = book_paths(args.rules, args.rules_only)
    try:
        files = rule_files(paths)
    except FileNotFoundError as exc:
        raise UsageError(f"medcode {args.command}: {exc}") from exc
    findings, _ = lint(files, load_codeset(args.tabular))
    if findings:
        raise UsageError(*(f"medcode {args.command}: {f.at}: {f.message}" for f in findings))
    return paths


def linted_book(args: argparse.Namespace) -> RuleBook | None:
    """The linted book of --rules / --rules-only, loaded; None for the shipped packs."""
    paths = linted_paths(args)
    return None if paths is None else RuleBook.load(paths)


def rules_environment(args: argparse.Namespace) -> dict[str, str]:
    """`$MEDCODE_RULES` naming the linted book, for worker processes (empty: shipped packs)."""
    paths = linted_paths(args)
    return {} if paths is None else {RULES_ENV: os.pathsep.join(str(p) for p in paths)}


def check(args: argparse.Namespace) -> int:
    """Claim-scrubber mode: the rule packs on a list of codes, without a note; with --drg also
    the claim (MS-DRG or HCCs) and the Medicare Code Editor's edits."""
    codeset = load_codeset(args.tabular)
    try:
        patient = Patient.parse(args.age, args.sex, args.discharge_status)
        date = parse_date(args.date)
    except InputError as exc:
        raise UsageError(f"medcode check: {exc}") from exc
    book = linted_book(args) or RuleBook.load()
    report = check_codes(
        codeset, _engine(codeset, book), args.codes, args.setting, patient.age, patient.sex
    )
    claim = None
    if args.drg:
        try:
            claim = claim_grouper().claim(
                report.given, setting=args.setting, patient=patient, date=date
            )
        except InputError as exc:
            raise UsageError(f"medcode check: {exc}") from exc
    edits = [*report.edits, *(claim.edits if claim else ())]
    encounter, outcome = report.encounter, report.outcome
    if args.format == "json":
        print_json(check_json(report.to_json(), claim))
    else:
        for position, fact in enumerate(encounter.active, 1):
            print(f"{position:>3}. {fact.code:<9} {codeset.node(fact.code).title}")
        for step in outcome.firings:
            if step["before"] != step["after"]:
                print(f"  rule {step['rule']}: {step['action']}  ({step['source']})")
        for edit in edits:
            print(edit_line(edit))
        if claim is not None:
            for line in claim_lines(claim):
                print(line)
    return EXIT_FINDINGS if any(e.severity == "error" for e in edits) else EXIT_OK


def check_json(report: dict[str, Any], claim: Claim | None) -> dict[str, Any]:
    """`medcode check --format json` (and /v1/check): with a claim, its MCE edits join the
    rule edits and the claim is the additive key "claim"."""
    if claim is None:
        return report
    view = claim.to_json()
    del view["edits"]  # they are among the edits
    return {
        **report,
        "edits": [*report["edits"], *(e.to_json() for e in claim.edits)],
        "claim": view,
    }


def claim_lines(claim: Claim) -> list[str]:
    """The claim as text: the DRG or the risk score, then each code with what it does."""
    when = claim.period
    facts = [claim.setting, f"FY{when.fy}"]
    if claim.drg is not None:
        facts.append(f"MS-DRG v{when.version}")
    if when.dated:
        facts.append(when.discharge_date.isoformat())
    out = [f"claim of the codes as given ({', '.join(facts)})"]
    if claim.drg is not None:
        drg = claim.drg
        out.append(f"  DRG {drg.drg} {drg.description} (MDC {drg.mdc}; severity {drg.severity})")
    if claim.hcc is not None:
        hcc = claim.hcc
        out.append(
            f"  RAF {hcc.risk_score:.3f} = demographic {hcc.demographic:.3f} ({hcc.category})"
            f" + HCCs {hcc.hcc_part:.3f}  [{hcc.model}, payment year {hcc.payment_year}]"
        )
        for item in hcc.hccs:
            out.append(
                f"  HCC {item.hcc} {item.label} ({item.coefficient:.3f}): {', '.join(item.codes)}"
            )
    for number, line in enumerate(claim.lines, 1):
        facts = [line.role]
        if line.cc_mcc and line.cc_mcc != "NONE":
            facts.append(line.cc_mcc + (" (excluded)" if line.cc_excluded else ""))
        if line.drg_impact and line.role == "secondary":
            facts.append("sets the DRG")
        facts += [f"POA {line.poa}" for _ in (1,) if line.poa]
        facts += [f"HAC {h.number:02d} {h.description}" for h in line.hacs]
        facts += [f"HCC {h}" for h in line.hccs]
        converted = f" -> {line.converted}" if line.converted else ""
        out.append(f"{number:>3}. {line.code + converted:<9} {', '.join(facts)}")
    out += [f"  note: {note}" for note in claim.notes]
    return out


def edit_line(edit: Edit) -> str:
    """An edit as `check` and `code` print it; one on the note itself (a question for the
    provider) names no code."""
    codes = f"{', '.join(edit.codes)}: " if edit.codes else ""
    return f"  {edit.severity}: {codes}{edit.message}  [{edit.rule}, {edit.source}]"


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
