"""medcode on Apache Spark: code a DataFrame of notes with the real engine (docs/SPARK.md).

`code_notes(df)` codes a DataFrame of `document`, `text`, `setting`? and any other columns (the
metadata); `code_jsonl(spark, path)` the JSON Lines of `medcode batch`. The driver only plans.
A Python worker turns each input row into a batch `Task` with the parser of `medcode batch`
(the same checks, the same messages), codes it with `batch.code_task` (the Coder of
`batch._coder`: one per process, loaded on its first note and kept for every later task of the
reused worker; notes stream through `mapInArrow` in Arrow batches) and unfolds the JSON line
into rows: one per reported code, or one with a null code for a document without codes or one
that failed. The document's JSON, on its first row, is the batch line itself, byte for byte,
result or error; nothing a note does can fail its task, so no partition is lost.

`medcode spark IN -o OUT` runs it on JSONL, Parquet or CSV into a Parquet folder. A local IN is
checked before Spark starts (there, its format, the columns `document` and `text`): bad input
is one line and exit 2 with no JVM output. Run directly, `--master` picks the master (default
`local[*]`), a session already running in the process (a notebook, the tests) is used and left
running, and the JVM's standard error goes to a log file; `spark-submit` runs this file
(`python -m medcode.engine.interfaces.spark --script` prints its path).

One module, longer than most: the DataFrame API, its workers and the command that drives them
are one interface, and the command is most of what a reader of the API needs to see. Importing
it does not import PySpark, so `medcode --help` works without it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from medcode.engine.interfaces.batch import INPUT_FIELDS, Failure, Task, code_task, parse_line
from medcode.engine.interfaces.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, say
from medcode.terminology.cache import CACHE_ENV, cache_dir
from medcode.terminology.index_release import CMS_DIR_ENV

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

# One row per reported code; `result_json` on the document's first row only (it is the whole
# document), `error` on the row of a document that could not be coded.
COLUMN_TYPES = (
    ("document", "string"),
    ("code", "string"),
    ("description", "string"),
    ("sequence", "int"),
    ("confidence", "string"),
    ("evidence", "array<struct<start:int,end:int>>"),
    ("setting", "string"),
    ("versions", "map<string,string>"),
    ("input_sha256", "string"),
    ("result_json", "string"),
    ("error", "string"),
)
OUTPUT_COLUMNS = tuple(name for name, _ in COLUMN_TYPES)
# What the workers return: the columns, and the metadata as JSON (typed columns afterwards).
WORKER_SCHEMA = ", ".join(
    f"`{name}` {kind}" for name, kind in (*COLUMN_TYPES, ("metadata", "string"))
)
FLUSH = 32  # documents per Arrow batch returned to the JVM: rows stream, memory stays small
CORRUPT = "_corrupt_record"  # the column Spark's JSON reader adds for lines it cannot parse


class SparkInputError(ValueError):
    """The notes cannot be coded as given (a missing column, a column of the wrong type)."""


def code_notes(
    notes: DataFrame,
    *,
    setting: str = "auto",
    tabular: str | None = None,
    budget: float | None = None,
    cache: str | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """Code a DataFrame of notes: a string column `document`, a string column `text`, an
    optional `setting` (a null takes `setting`), optional `age`, `sex`, `discharge_status`,
    `date` (the patient of the claim, as in batch's JSONL) and any other columns, the
    metadata, kept in the result's JSON under "metadata" and as columns of the result.
    `budget`: seconds of work a note may take; `cache`: the name `ship_cache` returned;
    `partitions`: how many tasks (default: at least the session's parallelism). Lazy, like
    every DataFrame."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructType

    for needed in ("document", "text"):
        if needed not in notes.columns:
            found = ", ".join(notes.columns) or "none"
            raise SparkInputError(f"no column {needed!r} (columns: {found})")
    kind = notes.schema["text"].dataType
    if not isinstance(kind, StringType):
        raise SparkInputError(f"column 'text' is {kind.simpleString()}, not a string")
    metadata = StructType([f for f in notes.schema.fields if f.name not in INPUT_FIELDS])
    _check_names(metadata)

    def column(name: str) -> Any:
        return F.col(f"`{name}`")

    blank = F.lit(None).cast("string")
    given = column("setting").cast("string") if "setting" in notes.columns else blank
    # The other fields (the patient, the metadata) travel as the JSON object batch would read.
    others = [c for c in notes.columns if c not in ("document", "text", "setting")]
    carried = F.to_json(F.struct(*map(column, others))) if others else blank
    prepared = notes.select(
        column("document").cast("string").alias("document"),
        column("text").alias("text"),
        given.alias("setting"),
        carried.alias("metadata"),  # to_json leaves null fields out, as batch does
    )
    options = dict(kind="table", source="", setting=setting, tabular=tabular, budget=budget)
    coded = _spread(prepared, partitions).mapInArrow(
        partial(code_batches, **options, cache=cache), WORKER_SCHEMA
    )
    return _with_metadata(coded, metadata)


def code_jsonl(
    spark: SparkSession,
    path: str,
    *,
    setting: str = "auto",
    tabular: str | None = None,
    budget: float | None = None,
    cache: str | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """Code the JSON Lines file of `medcode batch` (`document`, `text`, `setting`?, any other
    fields): each line is read by batch's own parser, so a line's JSON, result or error, is
    the one batch writes for it, line numbers in messages included. The metadata columns of
    the result are the other fields, typed as Spark's JSON reader infers them."""
    from pyspark.sql.types import StructType

    numbered = (
        spark.read.text(path).rdd.zipWithIndex().map(_numbered).toDF("number long, value string")
    )
    inferred = spark.read.json(path).schema
    skip = {*INPUT_FIELDS, CORRUPT}
    metadata = StructType([f for f in inferred.fields if f.name not in skip])
    _check_names(metadata)
    source = PurePath(path).name
    options = dict(kind="jsonl", source=source, setting=setting, tabular=tabular, budget=budget)
    coded = _spread(numbered, partitions).mapInArrow(
        partial(code_batches, **options, cache=cache), WORKER_SCHEMA
    )
    return _with_metadata(coded, metadata)


def ship_cache(spark: SparkSession, tabular: str | None = None) -> str:
    """Build the terminology cache on the driver (about 15 s the first time) and ship it with
    the job (`SparkContext.addFile`): every worker loads its Coder from the shipped copy
    instead of building one of its own. Returns the name to pass as `cache=`."""
    from medcode.engine.coding.coder import Coder

    Coder(tabular)  # builds what is missing, loads the rest
    folder = cache_dir()
    spark.sparkContext.addFile(str(folder), recursive=True)
    return folder.name


# -- in the workers -------------------------------------------------------------------------------


def code_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    kind: str,
    source: str,
    setting: str,
    tabular: str | None,
    budget: float | None,
    cache: str | None,
) -> Iterator[pa.RecordBatch]:
    """The function `mapInArrow` runs: input rows in, result rows out, `FLUSH` documents at a
    time. `kind` "jsonl" reads rows of (number, value: the line of `source`), "table" rows of
    (document, text, setting, metadata as JSON)."""
    import pyarrow as pa

    if cache is not None:
        from pyspark import SparkFiles

        os.environ[CACHE_ENV] = SparkFiles.get(cache)  # before this process's Coder loads
    schema = _arrow_schema(pa)
    rows: list[dict[str, Any]] = []
    documents = 0
    for batch in batches:
        for record in batch.to_pylist():
            task = _task(record, kind, source, setting)
            if task is None:  # a blank line: batch skips it too
                continue
            line, _ = task.line() if isinstance(task, Failure) else code_task(task, tabular, budget)
            rows.extend(result_rows(line))
            documents += 1
            if documents % FLUSH == 0:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)
                rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _task(record: dict[str, Any], kind: str, source: str, setting: str) -> Task | Failure | None:
    if kind == "jsonl":
        raw = record["value"].encode("utf-8")
        return parse_line(raw, f"{source}:{record['number']}", setting) if raw.strip() else None
    # A table row is checked as the JSONL object it would be: same rules, same messages.
    document = record["document"]
    where = f"document {document}" if document else "a row without a document id"
    fields: dict[str, Any] = {"document": document, "text": record["text"]}
    if record["setting"] is not None:
        fields["setting"] = record["setting"]
    if record["metadata"]:
        fields.update(json.loads(record["metadata"]))
    line = json.dumps({k: v for k, v in fields.items() if v is not None}, ensure_ascii=False)
    return parse_line(line.encode("utf-8"), where, setting)


def result_rows(line: str) -> list[dict[str, Any]]:
    """A batch line -> its rows: one per reported code, or one with a null code."""
    record = json.loads(line)
    given = record.get("input") or {}
    metadata = record.get("metadata")
    versions = record.get("versions")
    base = {
        "document": record.get("document"),
        "setting": record.get("setting"),
        "versions": None if versions is None else sorted(versions.items()),
        "input_sha256": given.get("sha256"),
        "error": record.get("error"),
        "metadata": None if metadata is None else json.dumps(metadata, ensure_ascii=False),
    }
    rows = []
    for index, code in enumerate(record.get("codes") or [None]):
        row = dict(base, result_json=line if index == 0 else None)
        if code is None:
            row.update(code=None, description=None, sequence=None, confidence=None, evidence=None)
        else:
            row.update(
                code=code["code"],
                description=code["description"],
                sequence=code["sequence"],
                confidence=code["confidence"],
                evidence=[{"start": e["start"], "end": e["end"]} for e in code["evidence"]],
            )
        rows.append(row)
    return rows


def _arrow_schema(pa: Any) -> pa.Schema:
    evidence = pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32())]))
    kinds = {
        "string": pa.string(),
        "int": pa.int32(),
        "array<struct<start:int,end:int>>": evidence,
        "map<string,string>": pa.map_(pa.string(), pa.string()),
    }
    fields = [(name, kinds[kind]) for name, kind in COLUMN_TYPES]
    return pa.schema([*fields, ("metadata", pa.string())])


def _numbered(pair: tuple[Any, int]) -> tuple[int, str]:
    row, index = pair
    return index + 1, row[0]


# -- on the driver ----------------------------------------------------------------------------


def _check_names(metadata: StructType) -> None:
    taken = set(OUTPUT_COLUMNS)
    for name in metadata.fieldNames():
        if name.lower() in taken:
            raise SparkInputError(f"input column {name!r} is an output column too; rename it")


def _spread(frame: DataFrame, partitions: int | None) -> DataFrame:
    """At least as many partitions as the session has cores (a small file is one split, which
    would leave all but one idle), or exactly `partitions`."""
    if partitions is not None:
        return frame.repartition(partitions)
    cores = frame.sparkSession.sparkContext.defaultParallelism
    return frame.repartition(cores) if frame.rdd.getNumPartitions() < cores else frame


def _with_metadata(coded: DataFrame, metadata: StructType) -> DataFrame:
    """The workers' rows with the metadata JSON turned into typed columns, in input order."""
    from pyspark.sql import functions as F

    if not metadata.fields:
        return coded.drop("metadata")
    parsed = F.from_json(F.col("metadata"), metadata)
    carried = [parsed.getField(name).alias(name) for name in metadata.fieldNames()]
    return coded.select(*OUTPUT_COLUMNS, *carried)


# -- the command ---------------------------------------------------------------------------

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
FORMATS[".csv"] = "csv"
INSTALL = "medcode spark: needs PySpark: pip install 'medcode[spark]'"
NO_JAVA = (
    "medcode spark: no Java runtime (java is not on PATH and JAVA_HOME is not set); "
    "install one, e.g. apt-get install openjdk-17-jre-headless"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add `medcode spark` with `command(name, handler, help, *examples)`, cli.py's helper
    (or `submit`'s, without the rest of the command line)."""
    p = command(
        "spark",
        run,
        "code JSONL, Parquet or CSV notes on Apache Spark into a Parquet folder",
        "medcode spark notes.jsonl -o coded/ --master 'local[4]'",
        "medcode spark notes.parquet -o coded/ --partitions 64 --ship-cache",
        "spark-submit --master yarn $(python -m medcode.engine.interfaces.spark --script) "
        "s3://bucket/notes.parquet -o s3://bucket/coded/",
    )
    p.add_argument(
        "source",
        metavar="IN",
        help="JSONL of {document, text, setting?, ...}, or Parquet or CSV of those columns",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="a new Parquet folder")
    p.add_argument("--master", metavar="URL", help="Spark master (default: local[*])")
    p.add_argument(
        "--partitions",
        type=_at_least_one,
        metavar="N",
        help="tasks to split the notes into (default: at least one per core)",
    )
    p.add_argument("--input-format", choices=("jsonl", "parquet", "csv"), help="default: by name")
    p.add_argument(
        "--ship-cache",
        action="store_true",
        help="build the terminology cache here and ship it with the job (else each executor "
        "finds or builds its own under $MEDCODE_CACHE_DIR)",
    )
    p.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. spark.executor.memory=4g (repeatable)",
    )
    p.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="time budget of a note (seconds of work); a note over it is an error row",
    )
    p.add_argument(
        "--setting",
        choices=("auto", "inpatient", "outpatient"),
        default="auto",
        help="coding rules of the setting for notes without one (as medcode code)",
    )
    p.add_argument("--tabular", metavar="XML", help="CMS Tabular List XML (on every executor)")
    p.add_argument("--cms-dir", metavar="DIR", help="CMS Index release folder (on every executor)")
    return p


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    """The handler: exit 0, 1 when a document failed (as batch), 2 on bad input."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise UsageError(INSTALL) from exc
    source, out = args.source, args.output
    kind = args.input_format or _format(source)
    if _local(source):
        _check_table(Path(source), kind)
    if _local(out) and Path(out).exists():
        raise UsageError(f"medcode spark: {out}: exists; OUT is a new folder")
    if args.budget is not None and not 0 < args.budget < float("inf"):
        raise UsageError(f"medcode spark: --budget must be seconds above 0, not {args.budget}")
    confs = [_setting(item) for item in args.conf]
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit
    if not submitted and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise UsageError(NO_JAVA)
    start = time.monotonic()
    log = Path(tempfile.mkdtemp(prefix="medcode-spark-")) / "spark.log"
    try:
        spark, ours = _session(args.master, submitted, confs, args.cms_dir, log)
    except Exception as exc:  # the JVM did not start
        problem = _first_line(exc)
        raise UsageError(f"medcode spark: Spark did not start: {problem} (its log: {log})") from exc
    try:
        documents, failed, rows = _code(spark, kind, args)
    except UsageError:
        raise
    except Exception as exc:  # Spark's errors are Java stack traces: their first line
        where = f" (Spark's log: {log})" if ours and not submitted else ""
        raise UsageError(f"medcode spark: {_first_line(exc)}{where}") from exc
    finally:
        if ours:
            spark.stop()
    seconds = time.monotonic() - start
    say(
        f"medcode spark: {documents} documents: {documents - failed} coded, {failed} failed; "
        f"{rows} rows in {out}; {seconds:.1f} s"
    )
    return EXIT_FINDINGS if failed else EXIT_OK


def _code(spark: Any, kind: str, args: argparse.Namespace) -> tuple[int, int, int]:
    """Code IN into OUT; (documents, failed, rows), read back from OUT."""
    from pyspark.sql import functions as F

    options = dict(setting=args.setting, tabular=args.tabular, budget=args.budget)
    options["partitions"] = args.partitions
    try:
        options["cache"] = ship_cache(spark, args.tabular) if args.ship_cache else None
        if kind == "jsonl":
            coded = code_jsonl(spark, _literal(args.source), **options)
        else:
            coded = code_notes(_read_table(spark, _literal(args.source), kind), **options)
    except SparkInputError as exc:
        raise UsageError(f"medcode spark: {args.source}: {exc}") from exc
    coded.write.parquet(args.output)
    written = spark.read.parquet(_literal(args.output))
    answers = written.where(F.col("result_json").isNotNull())
    counts = answers.agg(F.count(F.lit(1)), F.count("error")).first()
    return counts[0], counts[1], written.count()


def _read_table(spark: Any, source: str, kind: str) -> Any:
    if kind == "parquet":
        return spark.read.parquet(source)
    # Notes hold line breaks: a quoted field may span lines.
    reader = spark.read.options(header=True, multiLine=True, escape='"')
    return reader.csv(source)


def _session(
    master: str | None,
    submitted: bool,
    confs: list[tuple[str, str]],
    cms_dir: str | None,
    log: Path,
) -> tuple[Any, bool]:
    """The session, and whether this run started it (and so stops it); the JVM's standard
    error goes to `log`."""
    from pyspark.sql import SparkSession

    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
    running = SparkSession.getActiveSession()
    if running is not None:
        return running, False
    master = master or (None if submitted else "local[*]")
    builder = SparkSession.builder.appName("medcode spark")
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        # The workers run this Python (not whichever python3 is first on PATH) and Spark
        # binds loopback only.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if cms_dir:
        os.environ[CMS_DIR_ENV] = cms_dir  # local workers inherit it; executors get it below
        builder = builder.config(f"spark.executorEnv.{CMS_DIR_ENV}", cms_dir)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
    for key, value in confs:
        builder = builder.config(key, value)
    if submitted:  # spark-submit's JVM logs where the cluster says
        return builder.getOrCreate(), True
    with _stderr_to(log):
        return builder.getOrCreate(), True


@contextlib.contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """Standard error sent to `log` while the JVM starts: the JVM (and the Python workers it
    starts) keep it, so Spark's start-up lines, warnings and the stack traces of a failed task
    go to the log, not among medcode's one-line messages."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _format(source: str) -> str:
    """The format of IN by its name, or of the files of a folder (Spark's part files)."""
    path = Path(source)
    if _local(source) and path.is_dir():
        suffixes = {p.suffix for p in path.iterdir() if not p.name.startswith(("_", "."))}
        kinds = {FORMATS.get(s) for s in suffixes if s not in (".crc",)}
        if len(kinds) == 1 and None not in kinds:
            return kinds.pop()
    elif path.suffix.lower() in FORMATS:
        return FORMATS[path.suffix.lower()]
    raise UsageError(
        f"medcode spark: {source}: cannot tell JSONL, Parquet or CSV from its name; "
        "give --input-format"
    )


def _check_table(path: Path, kind: str) -> None:
    """A local IN: there, readable, and a table with `document` and a string `text`."""
    if not path.exists():
        raise UsageError(f"medcode spark: {path}: no such file or folder")
    first = path
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.is_file() and p.name[0] not in "_.")
        if not parts:
            raise UsageError(f"medcode spark: {path}: folder holds no files")
        first = parts[0]
    try:
        if kind == "parquet":
            columns = _parquet_columns(first)
        elif kind == "csv":
            with first.open(encoding="utf-8", newline="") as handle:
                columns = {name: "string" for name in next(csv.reader(handle), [])}
        else:
            with first.open("rb") as handle:
                handle.read(1)
            return
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problem = getattr(exc, "strerror", None) or exc
        raise UsageError(f"medcode spark: {first}: unreadable as {kind} ({problem})") from exc
    for needed in ("document", "text"):
        if needed not in columns:
            found = ", ".join(columns) or "none"
            raise UsageError(f"medcode spark: {path}: no column {needed!r} (columns: {found})")
    if columns["text"] not in ("string", "large_string"):
        raise UsageError(f"medcode spark: {path}: column 'text' is {columns['text']}, not text")


def _parquet_columns(file: Path) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(file)
    except pa.ArrowException as exc:
        raise OSError(f"not Parquet: {_first_line(exc)}") from exc
    return {field.name: str(field.type) for field in schema}


def _local(path: str) -> bool:
    """A path of this machine's file system, not a URL (s3://, hdfs://, dbfs:/, gs://)."""
    return "://" not in path and not path.startswith("dbfs:")


def _literal(path: str) -> str:
    """`path` as Spark's readers take it literally: they expand Hadoop globs (`[1]`, `*`), so
    a local file or folder whose name holds one has it escaped."""
    if not _local(path) or not Path(path).exists():
        return path
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", path)


def _setting(item: str) -> tuple[str, str]:
    key, equals, value = item.partition("=")
    if not equals or not key.strip():
        raise UsageError(f"medcode spark: --conf {item!r}: give KEY=VALUE")
    return key.strip(), value


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: a Python worker's exception (the last line of its
    traceback, which Spark wraps), else the message's first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
    if any(line.startswith("Traceback") for line in lines) and raised:
        return raised[-1][:400]
    return (lines[0] if lines else type(exc).__name__)[:400]


def submit(argv: list[str]) -> int:
    """`medcode spark ARGS` without the rest of the command line (spark-submit, python -m);
    `--script` prints the path of this file, for spark-submit."""
    if argv == ["--script"]:
        print(Path(__file__).resolve())
        return EXIT_OK

    def command(name: str, handler: Callable, help_: str, *examples: str) -> Any:
        parser = argparse.ArgumentParser(
            prog=f"medcode {name}",
            description=help_,
            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(handler=handler)
        return parser

    args = register(command).parse_args(argv)
    from medcode.terminology import TerminologyError

    try:
        return run(args)
    except (UsageError, TerminologyError) as exc:
        say(str(exc) if str(exc).startswith("medcode") else f"medcode spark: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


__all__ = [
    "OUTPUT_COLUMNS",
    "SparkInputError",
    "code_jsonl",
    "code_notes",
    "register",
    "run",
    "ship_cache",
    "submit",
]

if __name__ == "__main__":
    # spark-submit runs this file as a script, with this folder first on sys.path: its modules
    # (fhir, inputs, service, ...) must not shadow top-level packages of the same names.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from medcode.engine.interfaces.spark import submit as run_module  # not this __main__ copy

    sys.exit(run_module(sys.argv[1:]))
