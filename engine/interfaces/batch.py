"""`medcode batch IN -o OUT.jsonl`: code many notes in worker processes, resumably.

IN is a folder of *.txt notes (the document id is the file name) or a JSON Lines file of
`{"document", "text", "setting"?, "age"?, "sex"?, "discharge_status"?, "date"?}` objects (the
patient and date of the claim, docs/CLAIMS.md; a bad one is an error line for its document).
OUT gets one line per document, in input order:
the JSON of `medcode code --format json`, or `{"document": ID, "error": MESSAGE, "input":
{"sha256": ...}}` for a document that could not be coded (unreadable, binary, unknown setting,
an engine failure); the others go on. A document id used twice is reported, and both
documents are coded. Any other fields of a JSONL object ("specialty", "note_type", ...) are
kept under the additive key "metadata" of its line, result or error (fields whose value is
null are left out, as a table's empty cell; no such fields, no key).

A document's identity is its id and the sha256 of its text (`input.sha256`, on result and
error lines alike; of the raw bytes, the file or the JSONL line, when there is no text to
hash). Each line is written with one unbuffered write, so a killed run leaves complete lines and
at most one torn last line. A rerun reads OUT, drops a torn last line, and codes the documents
whose identity OUT does not hold yet, each line of OUT answering for one document (error lines
count as done: delete them to retry). A document whose text changed since is coded again. A
line of OUT that is not a batch line refuses the run: nothing is taken as done that was not.

Each worker process loads its own Coder once (medspaCy's `nlp.pipe(n_process>1)` cannot pickle
its rules, E871) and returns plain JSON strings; it dies with the parent, even one killed with
SIGKILL.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import IO, Any

from .console import one_line
from .inputs import UnreadableInput, decode_note

Identity = tuple[str, str]  # (document id, sha256 of its text)


class BatchError(ValueError):
    """IN or OUT cannot be used: the batch does not start, or stops (OUT cannot be written)."""


@dataclass(frozen=True, slots=True)
class Task:
    """One document to code."""

    document: str
    setting: str
    text: str
    sha256: str
    metadata: dict[str, Any] | None = None  # the input's other fields
    patient: dict[str, Any] | None = None  # its age, sex, discharge_status, date, as given

    @property
    def identity(self) -> Identity:
        return self.document, self.sha256


@dataclass(frozen=True, slots=True)
class Failure:
    """A document that cannot be coded, known before any worker sees it."""

    document: str
    error: str
    sha256: str
    metadata: dict[str, Any] | None = None

    @property
    def identity(self) -> Identity:
        return self.document, self.sha256

    def line(self) -> tuple[str, bool]:
        return error_line(self.document, self.error, self.sha256, self.metadata), True


def error_line(
    document: str, error: str, sha256: str, metadata: dict[str, Any] | None = None
) -> str:
    line: dict[str, Any] = {"document": document, "error": error, "input": {"sha256": sha256}}
    return json.dumps(with_metadata(line, metadata), ensure_ascii=False)


def with_metadata(line: dict[str, Any], metadata: dict[str, Any] | None) -> dict[str, Any]:
    """`line` with the input's other fields under "metadata", after the contract's keys."""
    if metadata:
        line["metadata"] = metadata
    return line


# The patient of the claim (docs/CLAIMS.md) is an input, not metadata.
PATIENT_FIELDS = ("age", "sex", "discharge_status", "date")
INPUT_FIELDS = ("document", "text", "setting", *PATIENT_FIELDS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run did; `interrupted` when Ctrl-C stopped it before the end."""

    total: int
    already: int
    coded: int
    failed: int
    seconds: float
    interrupted: bool = False

    @property
    def remaining(self) -> int:
        """Documents not coded yet (a rerun codes them)."""
        return self.total - self.already - self.coded - self.failed


# -- input --------------------------------------------------------------------------------------


def count_documents(source: Path) -> int:
    if source.is_dir():
        return len(list(source.glob("*.txt")))
    with source.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def read_tasks(
    source: Path, setting: str, warn: Callable[[str], None] = lambda _: None
) -> Iterator[Task | Failure]:
    """The documents of IN, in order (a folder's files sorted by name); a document id used
    again is reported to `warn`, and the document is kept."""
    if source.is_dir():
        for file in sorted(source.glob("*.txt")):
            yield _file_task(file, setting)
        return
    seen: dict[str, int] = {}
    with source.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{source.name}:{number}"
            task = parse_line(raw, where, setting)
            document = task.document
            if document != where:  # a line with a document id
                if document in seen:
                    first = seen[document]
                    warn(f"{where}: document id {document!r} also at line {first}; both coded")
                seen.setdefault(document, number)
            yield task


def parse_line(raw: bytes, where: str, setting: str) -> Task | Failure:
    """One JSONL line of IN (`where`: file:line, the document of a line without an id) -> the
    document to code, or why it cannot be (`medcode spark` reads its JSONL with this too)."""
    raw_sha = sha256(raw.rstrip(b"\r\n"))
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Failure(where, f"{where}: not a JSON object ({exc})", raw_sha)
    document = record.get("document") if isinstance(record, dict) else None
    if not isinstance(document, str) or not document:
        return Failure(where, f'{where}: needs a non-empty string "document"', raw_sha)
    metadata = {k: v for k, v in record.items() if k not in INPUT_FIELDS and v is not None}
    text = record.get("text")
    if not isinstance(text, str):
        return Failure(document, f'{where}: needs a string "text"', raw_sha, metadata)
    try:
        text_sha = sha256(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # JSON may escape a lone surrogate: "\udcff"
        problem = f"a lone surrogate at character {exc.start}"
        return Failure(document, f"{where}: text is not Unicode ({problem})", raw_sha, metadata)
    if "\x00" in text:
        message = f"{where}: text holds NUL characters: binary, not a note"
        return Failure(document, message, text_sha, metadata)
    given = record.get("setting", setting)
    given = given if isinstance(given, str) else repr(given)
    patient = {k: record[k] for k in PATIENT_FIELDS if record.get(k) is not None}
    return Task(document, given, text, text_sha, metadata or None, patient or None)


def _file_task(file: Path, setting: str) -> Task | Failure:
    # Read here, not in the worker: the text's hash decides whether OUT holds it already.
    try:
        data = file.read_bytes()
    except OSError as exc:
        return Failure(file.name, f"{file}: {exc.strerror or exc}", sha256(b""))
    try:
        text = decode_note(data, str(file))
    except UnreadableInput as exc:
        return Failure(file.name, str(exc), sha256(data))
    return Task(file.name, setting, text, sha256(text.encode("utf-8")))


# -- output and resume ------------------------------------------------------------------------


def resume(out: Path) -> tuple[Counter[Identity], int]:
    """The identities OUT answers for (how many lines each) and the bytes of a torn last line
    it dropped (a run killed mid-write). A line that is not a batch line, or the start of one,
    refuses the run before OUT is touched: OUT is not ours, and nothing in it counts as done."""
    if not out.exists():
        return Counter(), 0
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1
    done: Counter[Identity] = Counter()
    for number, line in enumerate(data[:end].splitlines(), 1):
        identity = _identity(line)
        if identity is None:
            raise BatchError(f"{out}:{number}: not a medcode batch line; give a new OUT")
        done[identity] += 1
    torn = len(data) - end
    if torn and not data[end:].startswith(b'{"document": '[:torn]):
        number = data.count(b"\n") + 1
        raise BatchError(f"{out}:{number}: not a medcode batch line; give a new OUT")
    if torn:
        with out.open("r+b") as handle:
            handle.truncate(end)
    return done, torn


def _identity(line: bytes) -> Identity | None:
    """(document, input sha256) of a result or an error line; None for anything else (an
    input line, another tool's output, a batch line of a version that recorded no hash)."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    document, given = record.get("document"), record.get("input")
    digest = given.get("sha256") if isinstance(given, dict) else None
    answer = isinstance(record.get("error"), str) or isinstance(record.get("codes"), list)
    if isinstance(document, str) and isinstance(digest, str) and answer:
        return document, digest
    return None


# -- workers ------------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@cache
def _coder(tabular: str | None, rules: tuple[Path, ...] | None = None) -> Any:
    """This process's Coder, loaded once (in each worker, at start-up), with the rule book of
    `rules` (None: the shipped packs)."""
    from medcode.engine.coding.coder import Coder
    from medcode.engine.rulelang import RuleBook

    return Coder(tabular, rules=None if rules is None else RuleBook.load(rules))


def _book_coder(tabular: str | None, rules: tuple[Path, ...] | None) -> Any:
    """`_coder`, called as `_coder(tabular)` for the shipped packs: tests that share one
    Coder between batches replace `_coder(tabular)`."""
    return _coder(tabular) if rules is None else _coder(tabular, rules)


def _start_worker(tabular: str | None, rules: tuple[Path, ...] | None, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _die_with(parent)
    _book_coder(tabular, rules)


def _die_with(parent: int) -> None:
    """End this worker when the parent process ends. A parent killed with SIGKILL cannot shut
    its pool down, and a worker left running holds ~300 MiB and its cores. Linux sends a signal
    to the child of a dying parent when asked (prctl PR_SET_PDEATHSIG); elsewhere a thread
    watches the parent id change (the orphan is adopted)."""
    try:
        asked = ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (AttributeError, OSError):  # not Linux
        asked = False
    if not asked:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    elif os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def code_task(
    task: Task,
    tabular: str | None,
    budget: float | None = None,
    rules: tuple[Path, ...] | None = None,
) -> tuple[str, bool]:
    """One document -> (its output line, failed?): a result, or an error line (also for a
    note over its time `budget`, in seconds of work); never an exception."""
    from medcode.engine.coding.claim import coder_options
    from medcode.engine.coding.coder import InputError, Pace

    try:
        coder, pace = _book_coder(tabular, rules), Pace(budget)
        patient = coder_options(**(task.patient or {}))
        result = coder.code(
            task.text, document=task.document, setting=task.setting, pace=pace, **patient
        )
        line = with_metadata(result.with_input(task.text).to_json(), task.metadata)
        return json.dumps(line, ensure_ascii=False), False
    except InputError as exc:
        return error_line(task.document, str(exc), task.sha256, task.metadata), True
    except Exception as exc:  # an engine failure on one note must not stop the batch
        message = f"internal error: {type(exc).__name__}: {exc}"
        return error_line(task.document, message, task.sha256, task.metadata), True


# -- the run ------------------------------------------------------------------------------------


class Progress:
    """Counts of the run, drawn with tqdm on `stream` when it is a terminal (a log gets only
    the summary); the bar is cleared when the run ends, leaving no residue."""

    def __init__(self, total: int, stream: IO[str] | None, interval: float = 0.2):
        """`interval`: the least seconds between two redraws of the bar."""
        self.total, self.already, self.done, self.failed = total, 0, 0, 0
        self.bar = None
        if stream is not None and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=stream,
                leave=False,
                unit="doc",
                desc="medcode batch",
                mininterval=interval,
            )

    def skip(self) -> None:
        """A document OUT answers for already."""
        self.already += 1
        self._advance()

    def step(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        self._advance()

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, refresh=False)
            self.bar.update()

    def write(self, stream: IO[str], line: str) -> None:
        """`line` on `stream` without mixing it into the bar: cleared, written, drawn again."""
        if self.bar is not None:
            self.bar.clear()
        stream.write(line)
        stream.flush()
        if self.bar is not None:
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def summary(self, seconds: float, interrupted: bool = False) -> Summary:
        coded = self.done - self.failed
        return Summary(self.total, self.already, coded, self.failed, seconds, interrupted)


def run_batch(
    source: Path,
    out: Path,
    *,
    workers: int = 1,
    setting: str = "auto",
    tabular: str | None = None,
    progress: IO[str] | None = None,
    notices: IO[str] | None = None,
    budget: float | None = None,
    rules: tuple[Path, ...] | None = None,
) -> Summary:
    """Code every document of `source` that `out` does not answer for yet, appending one line
    per document; the progress bar goes to `progress` (a terminal), a repaired OUT and document
    ids used twice are reported on `notices`. A note over `budget` seconds of work is an error
    line. `rules` are the files and folders of the rule book (None: the shipped packs), linted
    already. Ctrl-C ends the run with the workers stopped and `interrupted` in the summary."""
    _check(source, out, workers)
    code = partial(code_task, tabular=tabular, budget=budget, rules=rules)

    bar: Progress | None = None

    def notice(message: str) -> None:
        if notices is None:
            return
        line = one_line(f"medcode batch: {message}") + "\n"
        if bar is None:
            notices.write(line)
        else:  # a document id used twice, while the bar is drawn
            bar.write(notices, line)

    try:
        done, torn = resume(out)
        if torn:
            notice(f"{out}: dropped a torn last line ({torn} bytes); redoing")
        bar = Progress(count_documents(source), progress)
        start = time.monotonic()
        with out.open("ab", buffering=0) as sink:

            def write(answer: tuple[str, bool]) -> None:
                line, failed = answer
                # One write(2): complete or torn, never mixed. A lone surrogate (a file name
                # that is not UTF-8) is written as the JSON escape \udcff: same string back.
                data = (line + "\n").encode("utf-8", "backslashreplace")
                try:
                    written = sink.write(data)
                    if written != len(data):  # the disk filled up, or a file size limit
                        raise OSError(f"wrote {written} of {len(data)} bytes")
                except OSError as exc:
                    problem = exc.strerror or exc
                    raise BatchError(f"{out}: cannot write ({problem}); rerun to resume") from exc
                bar.step(failed)

            todo = _not_done(read_tasks(source, setting, notice), done, bar)
            try:
                if workers == 1:
                    for task in todo:
                        write(task.line() if isinstance(task, Failure) else code(task))
                else:
                    _in_pool(todo, workers, (tabular, rules), code, write)
            except KeyboardInterrupt:
                return bar.summary(time.monotonic() - start, interrupted=True)
            finally:
                bar.close()
    except OSError as exc:  # IN or OUT unreadable, OUT cannot be created
        raise BatchError(f"{exc.filename or out}: {exc.strerror or exc}") from exc
    return bar.summary(time.monotonic() - start)


def _check(source: Path, out: Path, workers: int) -> None:
    if not source.exists():
        raise BatchError(f"{source}: no such file or folder")
    if source.is_dir():
        if not any(source.glob("*.txt")):
            raise BatchError(f"{source}: folder holds no .txt notes")
    elif not source.is_file():  # a pipe could not be read twice (counted, then coded)
        raise BatchError(f"{source}: not a folder or a regular file")
    if out.is_dir():
        raise BatchError(f"{out}: is a folder; OUT is a file")
    if out.exists() and not out.is_file():  # /dev/full reads without end; a pipe, once
        raise BatchError(f"{out}: not a regular file; OUT is read back to resume")
    if not out.parent.is_dir():
        raise BatchError(f"{out}: no such folder: {out.parent}")
    if out.exists() and out.samefile(source):  # appending to what is being read: no end
        raise BatchError(f"{out}: OUT is IN; give another file")
    if workers < 1:
        raise BatchError(f"--workers must be at least 1, not {workers}")


def _not_done(
    tasks: Iterator[Task | Failure], done: Counter[Identity], bar: Progress
) -> Iterator[Task | Failure]:
    """The tasks OUT does not answer for. Each line of OUT answers for one document, so a
    document given twice (same id, same text) is skipped only as often as OUT holds it."""
    for task in tasks:
        if done[task.identity] > 0:
            done[task.identity] -= 1
            bar.skip()
            continue
        yield task


def _in_pool(
    todo: Iterator[Task | Failure], workers: int, engine: tuple[Any, ...], code, write
) -> None:
    """Results in input order; at most 4 tasks a worker in flight, so memory stays bounded.
    `engine` is what each worker's Coder is loaded from: (tabular, rules)."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(*engine, os.getpid()),
    )
    window: deque[Future[tuple[str, bool]] | tuple[str, bool]] = deque()

    def drain(keep: int) -> None:
        while len(window) > keep:
            head = window.popleft()
            write(head.result() if isinstance(head, Future) else head)

    try:
        for task in todo:
            window.append(task.line() if isinstance(task, Failure) else pool.submit(code, task))
            drain(4 * workers)
        drain(0)
    except BrokenProcessPool as exc:
        raise BatchError("a worker process died (out of memory?); rerun to resume") from exc
    except KeyboardInterrupt:
        # Ctrl-C stops now, not after the notes in flight (a worker may still be loading its
        # engine): the workers ignore SIGINT, so they are ended here. Results not written yet
        # are coded again by a rerun. The executor has no public way to end its processes.
        for process in list(pool._processes.values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["BatchError", "Summary", "Task", "code_task", "read_tasks", "resume", "run_batch"]
