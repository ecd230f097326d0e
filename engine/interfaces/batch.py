"""`medcode batch IN -o OUT.jsonl`: code many notes in worker processes, resumably.

IN is a folder of *.txt notes (the document id is the file name) or a JSON Lines file of
`{"document", "text", "setting"?}` objects. OUT gets one line per document, in input order:
the JSON of `medcode code --format json`, or `{"document": ID, "error": MESSAGE}` for a
document that could not be coded (unreadable, binary, unknown setting, an engine failure); the
others go on.

Each line is written with one unbuffered write, so a killed run leaves complete lines and at
most one torn last line. A rerun reads OUT, drops a torn last line, and codes only the documents
OUT does not hold yet (error lines count as done: delete them to retry). Every document ends up
in OUT exactly once.

Each worker process loads its own Coder once (medspaCy's `nlp.pipe(n_process>1)` cannot pickle
its rules, E871) and returns plain JSON strings.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from .inputs import UnreadableInput, decode_note


class BatchError(ValueError):
    """IN or OUT cannot be used: the batch does not start."""


@dataclass(frozen=True, slots=True)
class Task:
    """One document to code: its text is read by the worker (from `path`) or given."""

    document: str
    setting: str
    path: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A document that cannot be coded, known before any worker sees it."""

    document: str
    error: str

    def line(self) -> tuple[str, bool]:
        return error_line(self.document, self.error), True


def error_line(document: str, error: str) -> str:
    return json.dumps({"document": document, "error": error}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    already: int
    coded: int
    failed: int
    seconds: float


# -- input --------------------------------------------------------------------------------------


def count_documents(source: Path) -> int:
    if source.is_dir():
        return len(list(source.glob("*.txt")))
    with source.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def read_tasks(source: Path, setting: str) -> Iterator[Task | Failure]:
    """The documents of IN, in order (a folder's files sorted by name)."""
    if source.is_dir():
        for file in sorted(source.glob("*.txt")):
            yield Task(file.name, setting, path=str(file))
        return
    seen: dict[str, int] = {}
    with source.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{source.name}:{number}"
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Failure(where, f"{where}: not a JSON object ({exc})")
                continue
            document = record.get("document") if isinstance(record, dict) else None
            if not isinstance(document, str) or not document:
                yield Failure(where, f'{where}: needs a non-empty string "document"')
                continue
            if document in seen:
                first = seen[document]
                yield Failure(document, f"{where}: document id already used at line {first}")
                continue
            seen[document] = number
            text = record.get("text")
            if not isinstance(text, str):
                yield Failure(document, f'{where}: needs a string "text"')
                continue
            if "\x00" in text:
                yield Failure(document, f"{where}: text holds NUL characters: binary, not a note")
                continue
            given = record.get("setting", setting)
            yield Task(document, given if isinstance(given, str) else repr(given), text=text)


# -- output and resume ------------------------------------------------------------------------


def resume(out: Path) -> tuple[set[str], int, int]:
    """The documents OUT already holds, its number of lines, and the bytes of a torn last line
    it dropped (a run killed mid-write). A complete line that is not a result is an error: OUT
    is not ours."""
    if not out.exists():
        return set(), 0, 0
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1
    torn = len(data) - end
    if torn:
        with out.open("r+b") as handle:
            handle.truncate(end)
    done: set[str] = set()
    lines = data[:end].splitlines()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("document"), str):
            raise BatchError(f"{out}:{number}: not a medcode batch line; give a new OUT")
        done.add(record["document"])
    return done, len(lines), torn


# -- workers ------------------------------------------------------------------------------------


@cache
def _coder(tabular: str | None) -> Any:
    """This process's Coder, loaded once (in each worker, at start-up)."""
    from medcode.engine.coding.coder import Coder

    return Coder(tabular)


def _start_worker(tabular: str | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _coder(tabular)


def code_task(task: Task, tabular: str | None) -> tuple[str, bool]:
    """One document -> (its output line, failed?): a result, or an error line; never an
    exception."""
    from medcode.engine.coding.coder import InputError

    try:
        if task.text is not None:
            text = task.text
        else:
            path = Path(str(task.path))
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UnreadableInput(f"{path}: {exc.strerror or exc}") from exc
            text = decode_note(data, str(path))
        result = _coder(tabular).code(text, document=task.document, setting=task.setting)
        return json.dumps(result.with_input(text).to_json(), ensure_ascii=False), False
    except (UnreadableInput, InputError) as exc:
        return error_line(task.document, str(exc)), True
    except Exception as exc:  # an engine failure on one note must not stop the batch
        return error_line(task.document, f"internal error: {type(exc).__name__}: {exc}"), True


# -- the run ------------------------------------------------------------------------------------


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line every few
    seconds otherwise (logs)."""

    WIDTH = 24

    def __init__(self, total: int, already: int, stream: IO[str] | None, every: float):
        self.total, self.already, self.stream, self.every = total, already, stream, every
        self.done = self.failed = 0
        self.shown = time.monotonic()
        self.first = 0.0  # when the first document was done: workers load before that
        self.tty = bool(stream is not None and stream.isatty())

    def step(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        self.first = self.first or now
        if now - self.shown >= (0.2 if self.tty else self.every):
            self.shown = now
            self.show()

    def show(self, final: bool = False) -> None:
        if self.stream is None:
            return
        finished = self.already + self.done
        share = finished / self.total if self.total else 1.0
        bar = "#" * round(share * self.WIDTH)
        elapsed = time.monotonic() - self.first
        rate = (self.done - 1) / elapsed if self.done > 1 and elapsed > 0 else 0.0
        left = self.total - finished
        eta = f", eta {left / rate:.0f}s" if rate and left else ""
        line = (
            f"medcode batch: [{bar:<{self.WIDTH}}] {finished}/{self.total} ({share:.0%}) "
            f"{rate:.1f} docs/s{eta}, {self.failed} failed"
        )
        if self.tty:
            self.stream.write(f"\r{line}" + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_batch(
    source: Path,
    out: Path,
    *,
    workers: int = 1,
    setting: str = "auto",
    tabular: str | None = None,
    progress: IO[str] | None = None,
    every: float = 5.0,
    notices: IO[str] | None = None,
) -> Summary:
    """Code every document of `source` not yet in `out`, appending one line per document;
    the progress bar goes to `progress`, a repaired OUT is reported on `notices`."""
    if not source.exists():
        raise BatchError(f"{source}: no such file or folder")
    if source.is_dir() and not any(source.glob("*.txt")):
        raise BatchError(f"{source}: folder holds no .txt notes")
    if workers < 1:
        raise BatchError(f"--workers must be at least 1, not {workers}")
    done, lines, torn = resume(out)
    if torn and notices is not None:
        notices.write(f"medcode batch: {out}: dropped a torn last line ({torn} bytes); redoing\n")
    total = count_documents(source)
    todo = (t for t in read_tasks(source, setting) if t.document not in done)
    bar = Progress(total, lines, progress, every)
    start = time.monotonic()
    with out.open("ab", buffering=0) as sink:

        def write(answer: tuple[str, bool]) -> None:
            line, failed = answer
            sink.write((line + "\n").encode("utf-8"))  # one write(2): complete or torn, never mixed
            bar.step(failed)

        if workers == 1:
            for task in todo:
                write(task.line() if isinstance(task, Failure) else code_task(task, tabular))
        else:
            _in_pool(todo, workers, tabular, write)
    bar.show(final=True)
    return Summary(total, lines, bar.done - bar.failed, bar.failed, time.monotonic() - start)


def _in_pool(todo: Iterator[Task | Failure], workers: int, tabular: str | None, write) -> None:
    """Results in input order; at most 4 tasks a worker in flight, so memory stays bounded."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(tabular,),
    )
    window: deque[Future[tuple[str, bool]] | tuple[str, bool]] = deque()

    def drain(keep: int) -> None:
        while len(window) > keep:
            head = window.popleft()
            write(head.result() if isinstance(head, Future) else head)

    try:
        for task in todo:
            window.append(
                task.line() if isinstance(task, Failure) else pool.submit(code_task, task, tabular)
            )
            drain(4 * workers)
        drain(0)
    except BrokenProcessPool as exc:
        raise BatchError("a worker process died (out of memory?); rerun to resume") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["BatchError", "Summary", "Task", "code_task", "read_tasks", "resume", "run_batch"]
