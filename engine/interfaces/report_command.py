"""`medcode report`: the monitoring report over result lines (docs/MONITORING.md). The audit
modules (and matplotlib) are imported when the command runs, so `medcode --help` stays fast."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

from .console import EXIT_OK, UsageError, say

_THRESHOLD_NAMES = ("psi", "p", "min_change", "min_n")


def threshold(text: str) -> tuple[str, float]:
    """`psi=0.25` -> ("psi", 0.25); argparse turns a ValueError into one usage line."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in _THRESHOLD_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=VALUE with NAME one of psi, p, min-change, min-n"
        )
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be above 0")
    return name, number


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `medcode report` through cli.build_parser's `command` helper."""
    p = command(
        "report",
        run,
        "monitoring report over result lines: measures, breakdowns, drift against a baseline",
        "medcode report results.jsonl -o report.html",
        "medcode report june.jsonl --baseline may.jsonl -o report.html --json report.json",
        "medcode report results.jsonl --baseline old.jsonl -o r.html --threshold psi=0.25",
        "medcode report spark_out/ --baseline batch.jsonl -o report.html",
    )
    p.add_argument(
        "results",
        metavar="RESULTS.jsonl",
        help="output of batch or serve (JSONL), or of spark (its Parquet folder)",
    )
    p.add_argument("--baseline", metavar="OTHER.jsonl", help="results to compare with")
    p.add_argument("-o", "--output", required=True, metavar="report.html")
    p.add_argument("--json", metavar="report.json", help="also write the numbers and figure data")
    p.add_argument(
        "--threshold",
        type=threshold,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="psi (default 0.2), p (0.01), min-change (0.02), min-n (30); repeatable",
    )
    p.add_argument(
        "--by",
        nargs="+",
        metavar="KEY",
        help="metadata keys to break the measures down by (default: specialty note_type)",
    )
    p.add_argument("--tabular", metavar="XML", help="CMS Tabular List XML for the chapters")


def run(args: argparse.Namespace) -> int:
    from medcode.engine.audit.monitor import (
        DIMENSIONS,
        MonitorInputError,
        chapter_lookup,
        read_population,
    )
    from medcode.engine.audit.monitor_figures import (
        MissingPlotting,
        add_figures,
        render_html,
        require_plotting,
    )
    from medcode.engine.audit.monitor_report import build_report
    from medcode.engine.audit.monitor_stats import Thresholds
    from medcode.terminology import load_codeset

    try:
        require_plotting()  # before reading the inputs: say it at once
    except MissingPlotting as exc:
        raise UsageError(f"medcode report: {exc}") from exc
    thresholds = Thresholds(**dict(args.threshold))
    chapter_of = chapter_lookup(load_codeset(args.tabular or os.environ.get("MEDCODE_TABULAR")))
    dimensions = tuple(args.by) if args.by else DIMENSIONS
    try:
        current = read_population(args.results, chapter_of, dimensions)
        baseline = read_population(args.baseline, chapter_of, dimensions) if args.baseline else None
    except MonitorInputError as exc:
        raise UsageError(f"medcode report: {exc}") from exc
    for population in (current, baseline):
        if population is not None and population.skipped.count:
            lines = ", ".join(map(str, population.skipped.first_lines))
            say(
                f"medcode report: {population.path}: skipped {population.skipped.count} torn or "
                f"foreign lines (first: line {lines})"
            )
    report = build_report(current, baseline, thresholds)
    try:
        figures = add_figures(report)
    except MissingPlotting as exc:
        raise UsageError(f"medcode report: {exc}") from exc
    _write(Path(args.output), render_html(report, figures))
    if args.json:
        _write(Path(args.json), json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    flags = len(report["flags"])
    say(
        f"medcode report: {current.overall.documents} documents, {current.overall.errors} errors"
        + (f"; {flags} drift flags against the baseline" if baseline else "")
        + f"; wrote {args.output}"
    )
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    """Write through a temporary file, so a failed run leaves no half report."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"medcode report: {path}: {exc.strerror or exc}") from exc
