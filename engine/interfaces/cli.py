"""The `medcode` command line: a stable contract (see docs/CLI.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from medcode.engine.coding.llm import LLMConfigError
from medcode.terminology import TerminologyError
from medcode.terminology.cache import package_version

from .console import EXIT_OK, EXIT_USAGE, UsageError, say

SETTING_CHOICES = ("auto", "inpatient", "outpatient")
SETTING_HELP = (
    "coding rules of the setting (II/III inpatient, IV outpatient); auto, the default, reads it "
    "from the kind of document: discharge summaries and admission H&Ps are inpatient"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def positive_int(text: str) -> int:
    """argparse type of counts and limits: a whole number of at least 1 (`--limit 0` would
    print nothing and succeed)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """argparse type of a time budget: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value


def patient_options(parser: argparse.ArgumentParser) -> None:
    """The patient and date of the claim (docs/CLAIMS.md), checked by the claim's own Patient
    and fiscal-year tables (one line each); in a note, those not given are read from it."""
    parser.add_argument("--age", metavar="YEARS", help="age in years (0-124)")
    parser.add_argument("--sex", metavar="F|M")
    parser.add_argument(
        "--discharge-status",
        metavar="CODE",
        help="CMS patient discharge status (default 1 home; 3 SNF, 20 expired, ...)",
    )
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="discharge or service date: the MS-DRG version, MCE tables and HCC year "
        "(default: FY2026)",
    )


def _terminology_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tabular", metavar="XML", help="CMS Tabular List XML (default: FY2026, $MEDCODE_TABULAR)"
    )
    parser.add_argument(
        "--cms-dir",
        metavar="DIR",
        help="CMS release folder with Index, E-Index, Drug and Neoplasm XML ($MEDCODE_CMS_DIR)",
    )


def _format_option(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument("--format", choices=("text", *choices), default="text")


def _rules_action(args: argparse.Namespace) -> int:
    from . import rule_commands

    return {"lint": rule_commands.rules_lint, "test": rule_commands.rules_test}[args.action](args)


def build_parser() -> argparse.ArgumentParser:
    from . import commands, rule_commands
    from . import spark as spark_command

    parser = _Parser(prog="medcode", description="Deterministic ICD-10-CM coding engine.")
    parser.add_argument("--version", action="version", version=f"medcode {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_: str, *examples: str
    ):
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the examples' lines
        )
        p.set_defaults(handler=handler)
        return p

    p = command(
        "code",
        commands.code,
        "code clinical notes: files, folders, - or --text",
        'medcode code --text "Type 2 diabetes mellitus with hyperglycemia."',
        "medcode code notes/ --format json --rules my_rules/",
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--text", help="code this text instead of files")
    p.add_argument("--setting", choices=SETTING_CHOICES, default="auto", help=SETTING_HELP)
    p.add_argument("--explain", action="store_true", help="show traces and rejected candidates")
    patient_options(p)
    p.add_argument(
        "--fhir",
        metavar="FILE",
        help="FHIR R4 DocumentReference or Bundle (JSON, - for stdin); prints a FHIR Bundle",
    )
    _format_option(p, "json", "html")
    rule_commands.add_rules_options(p)
    _terminology_options(p)

    p = command(
        "search",
        commands.search,
        "ranked candidate codes for a phrase",
        "medcode search acute systolic heart failure --limit 5",
    )
    p.add_argument("phrase", nargs="+", metavar="PHRASE")
    p.add_argument("--limit", type=positive_int, default=10, metavar="N")
    _format_option(p, "json")
    _terminology_options(p)

    p = command(
        "validate",
        commands.validate,
        "valid? billable? description, suggestions",
        "medcode validate E11.9 I50.2",
    )
    p.add_argument("codes", nargs="+", metavar="CODE")
    _format_option(p, "json")
    _terminology_options(p)

    p = command(
        "show",
        commands.show,
        "hierarchy path and every Tabular note of a code",
        "medcode show E11.65 --format json",
    )
    p.add_argument("code", metavar="CODE")
    _format_option(p, "json")
    _terminology_options(p)

    p = command(
        "terminology",
        commands.terminology_info,
        "facts about the loaded code set",
        "medcode terminology info",
    )
    p.add_argument("action", choices=("info",))
    _format_option(p, "json")
    _terminology_options(p)

    # Rules: claim-scrubber mode and the rule authors' tools (docs/RULES.md).
    p = command(
        "check",
        rule_commands.check,
        "rule edits on a set of codes (claim scrubber); --drg: the MS-DRG or HCCs and the MCE",
        "medcode check I10 N18.30 --setting outpatient",
        "medcode check N40.0 --sex F --age 70 --rules my_rules/",
        "medcode check J13 J96.21 J44.1 --drg --age 72 --sex M --date 2026-03-01",
    )
    p.add_argument("codes", nargs="+", metavar="CODE")
    p.add_argument("--setting", choices=("inpatient", "outpatient"), default="inpatient")
    p.add_argument("--drg", action="store_true", help="group the claim and run the MCE too")
    patient_options(p)
    rule_commands.add_rules_options(p)
    _format_option(p, "json")
    _terminology_options(p)

    p = command(
        "rules",
        _rules_action,
        "lint or test rule packs",
        "medcode rules lint my_rules/",
        "medcode rules test",
    )
    p.add_argument("action", choices=("lint", "test"))
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="rule files or folders (default: rules/)"
    )
    _terminology_options(p)

    # Embedding: the REST service and batch coding (docs/SERVICE.md).
    p = command(
        "serve",
        commands.serve,
        "REST service: /v1/code, /v1/check, FHIR R4 ...",
        "medcode serve --port 8000 --workers 2",
        "medcode serve --rules my_rules/",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers", type=positive_int, default=1, help="processes, each with its own engine"
    )
    p.add_argument("--max-body-bytes", type=positive_int, default=2_000_000, metavar="N")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to answer besides the bind address and localhost (repeatable)",
    )
    p.add_argument("--header-timeout", type=positive_seconds, default=10.0, metavar="SECONDS")
    p.add_argument("--read-timeout", type=positive_seconds, default=30.0, metavar="SECONDS")
    p.add_argument("--keep-alive-timeout", type=positive_seconds, default=5.0, metavar="SECONDS")
    p.add_argument("--max-connections", type=positive_int, default=100, metavar="N")
    p.add_argument("--max-header-bytes", type=positive_int, default=16_384, metavar="N")
    p.add_argument(
        "--budget",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="time budget of a note (seconds of work); a note over it gets 422",
    )
    p.add_argument(
        "--api-keys-file",
        metavar="FILE",
        help="the API keys, one a line (or MEDCODE_API_KEYS, comma-separated)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without API keys: only on a loopback --host",
    )
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.add_argument("--openapi", action="store_true", help="print the OpenAPI spec and exit")
    rule_commands.add_rules_options(p)
    _terminology_options(p)

    p = command(
        "batch",
        commands.batch,
        "code a folder of *.txt or a JSONL file; resumable",
        "medcode batch notes/ -o results.jsonl --workers 4",
        "medcode batch notes.jsonl -o results.jsonl --rules my_rules/",
    )
    p.add_argument("source", metavar="IN", help="folder of *.txt, or JSONL of {document, text}")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N")
    p.add_argument("--setting", choices=SETTING_CHOICES, default="auto", help=SETTING_HELP)
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (shown on a terminal only)"
    )
    p.add_argument(
        "--budget",
        type=positive_seconds,
        metavar="SECONDS",
        help="time budget of a note (seconds of work); a note over it is an error line",
    )
    rule_commands.add_rules_options(p)
    _terminology_options(p)

    # Spark: the same notes on a cluster (docs/SPARK.md); PySpark is imported when it runs.
    spark_command.register(command)

    # Audit: replay a recorded result, explain one code (docs/AUDIT.md).
    p = command(
        "replay",
        commands.replay,
        "re-code the note of a JSON result; report differences",
        "medcode replay result.json --note note.txt",
    )
    p.add_argument("result", metavar="RESULT.json", help="output of medcode code --format json")
    p.add_argument("--note", metavar="PATH", help="the note (default: the result's document)")
    _format_option(p, "json")
    _terminology_options(p)

    p = command(
        "explain",
        commands.explain,
        "why a code was or was not reported for a note",
        "medcode explain note.txt --code I50.23",
    )
    p.add_argument("note", nargs="?", metavar="NOTE", help="note file, or - for stdin")
    p.add_argument("--text", help="explain for this text instead of a file")
    p.add_argument("--code", required=True, metavar="CODE")
    p.add_argument("--setting", choices=SETTING_CHOICES, default="auto", help=SETTING_HELP)
    _format_option(p, "json")
    _terminology_options(p)

    # Monitoring: measures and drift over many results (docs/MONITORING.md).
    from . import report_command

    report_command.register(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 findings, 2 usage/input error)."""
    if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
        # A name that is not UTF-8 (a file name's bytes, decoded with surrogateescape) is
        # written escaped (`\udcff`, still valid JSON) rather than raising mid-output.
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        args = build_parser().parse_args(argv)
        if sys.stdout is None and args.command not in ("batch", "serve"):
            raise UsageError("medcode: standard output is closed; nowhere to write the result")
        status = args.handler(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk fails here, not in the interpreter's exit
    except (UsageError, TerminologyError, LLMConfigError) as exc:
        for message in map(str, exc.args if isinstance(exc, UsageError) else [exc]):
            say(message if message.startswith("medcode") else f"medcode: {message}")
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        _drop_stdout()
        return EXIT_OK
    except OSError as exc:  # what no command turned into a message: writing stdout, mostly
        _drop_stdout()
        where = exc.filename or "cannot write the output"
        say(f"medcode: {where}: {exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not try again what
    could not be written (and print a traceback of its own)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # no stdout, or no file
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
