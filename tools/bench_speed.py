"""Speed and memory: terminology loads, notes/s (one process and a pool), the `medcode code`
command cold and warm, beside medspaCy's default pipeline and the PyPI package icd10-coder.

Every engine measurement runs in a freshly spawned process, so peak RSS (ru_maxrss) belongs to
that measurement alone and no cache is shared by accident.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from statistics import median
from typing import Any

from bench_tasks import Tally, percentile

SPAWN = multiprocessing.get_context("spawn")
RULE_ENGINE_MODULE = "medcode.engine.rulelang"


def in_fresh_process(func: Callable[..., dict], *args: Any) -> dict:
    """Run `func(*args)` in a new interpreter and return its (plain) result."""
    with ProcessPoolExecutor(1, mp_context=SPAWN) as executor:
        return executor.submit(func, *args).result()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB: VmHWM, which starts afresh at exec
    (ru_maxrss does not: Linux carries it over from the forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def _latencies(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "ms_p50": round(1000 * percentile(seconds, 50), 2),
        "ms_p95": round(1000 * percentile(seconds, 95), 2),
        "per_s": round(len(seconds) / sum(seconds), 1),
    }


# -- terminology -------------------------------------------------------------------------------


def terminology() -> dict:
    """Code set and lexicon cold build and warm load, `medcode validate` end to end."""
    return in_fresh_process(_terminology)


def _terminology() -> dict:
    os.environ["MEDCODE_CACHE_DIR"] = tempfile.mkdtemp(prefix="medcode-bench-")
    from medcode.terminology.cache import load_codeset, load_index, load_lexicon

    timings = {}
    for phase in ("cold", "warm"):
        start = time.perf_counter()
        codeset = load_codeset()
        timings[f"codeset_{phase}_s"] = round(time.perf_counter() - start, 3)
    # as a first run builds them: the Index, then the lexicon with the Index's terms in hand;
    # then both from the cache, as every later run loads them
    for phase in ("cold", "warm"):
        start = time.perf_counter()
        index = load_index(codeset)
        timings[f"index_{phase}_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        load_lexicon(codeset, index)
        timings[f"lexicon_{phase}_s"] = round(time.perf_counter() - start, 3)
    runs = [_run_command([*medcode_command(), "validate", "E11.9"])[0] for _ in range(5)]
    timings["validate_warm_s_median"] = round(median(runs), 3)
    return timings


# -- the command line --------------------------------------------------------------------------


def medcode_command() -> list[str]:
    """The installed `medcode` console script beside this interpreter (else `python -m`)."""
    script = Path(sys.executable).with_name("medcode")
    return (
        [str(script)]
        if script.exists()
        else [sys.executable, "-m", "medcode.engine.interfaces.cli"]
    )


# Runs a command and prints [exit status, seconds, peak RSS KiB]. A small process of its own
# forks the command, because a child's ru_maxrss starts from its forking parent's (the
# benchmark process is large).
_MEASURE = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)
"""


def _run_command(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one run of a command."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    status, seconds, rss_kib = done.stdout.split()
    if int(status):
        raise RuntimeError(f"{' '.join(command)} exited with {status}")
    return float(seconds), round(int(rss_kib) / 1024, 1)


def command_line(notes: Sequence[str], cold_runs: int = 3, warm_runs: int = 5) -> dict:
    """`medcode code note.txt` with an empty and with a filled MEDCODE_CACHE_DIR, and
    `medcode code FOLDER --format json` over all notes (wall time, peak RSS)."""
    folder = Path(tempfile.mkdtemp(prefix="medcode-notes-"))
    for i, text in enumerate(notes):
        (folder / f"note{i:04d}.txt").write_text(text, encoding="utf-8")
    one = [*medcode_command(), "code", str(folder / "note0000.txt")]
    cold = []
    for _ in range(cold_runs):
        env = {**os.environ, "MEDCODE_CACHE_DIR": tempfile.mkdtemp(prefix="medcode-cold-")}
        cold.append(_run_command(one, env)[0])
    env = {**os.environ, "MEDCODE_CACHE_DIR": tempfile.mkdtemp(prefix="medcode-warm-")}
    _run_command(one, env)
    warm = [_run_command(one, env) for _ in range(warm_runs)]
    batch_s, batch_rss = _run_command(
        [*medcode_command(), "code", str(folder), "--format", "json"], env
    )
    return {
        "cold_s_median": round(median(cold), 3),
        "warm_s_median": round(median(s for s, _ in warm), 3),
        "warm_peak_rss_mb": max(rss for _, rss in warm),
        "batch_notes": len(notes),
        "batch_s": round(batch_s, 2),
        "batch_notes_per_s": round(len(notes) / batch_s, 1),
        "batch_peak_rss_mb": batch_rss,
    }


# -- notes per second --------------------------------------------------------------------------


def medcode_one_process(notes: Sequence[str]) -> dict:
    """`Coder.code` note after note in one fresh process (after one warm-up note)."""
    return in_fresh_process(_medcode_one_process, list(notes))


def _medcode_one_process(notes: list[str]) -> dict:
    start = time.perf_counter()
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    load = time.perf_counter() - start
    coder.code(notes[0])
    seconds = []
    for text in notes:
        start = time.perf_counter()
        coder.code(text)
        seconds.append(time.perf_counter() - start)
    return {"load_s": round(load, 2), **_latencies(seconds), "peak_rss_mb": peak_rss_mb()}


_WORKER: dict[str, Any] = {}  # one Coder per pool worker, built by the initializer


def _init_worker() -> None:
    from medcode.engine.coding.coder import Coder

    _WORKER["coder"] = Coder()


def _code_json(text: str) -> dict:
    return _WORKER["coder"].code(text).to_json()


def medcode_pool(notes: Sequence[str], workers: int) -> dict:
    """A spawn pool of `workers` processes, one Coder each, returning plain JSON results."""
    with SPAWN.Pool(workers, initializer=_init_worker) as pool:
        pool.map(_code_json, notes[: 4 * workers], chunksize=1)
        start = time.perf_counter()
        results = pool.map(_code_json, notes, chunksize=4)
        elapsed = time.perf_counter() - start
    assert len(results) == len(notes)
    return {"workers": workers, "per_s": round(len(notes) / elapsed, 1)}


def medspacy_default(notes: Sequence[str]) -> dict:
    """medspaCy's default pipeline (PyRuSH sentences, TargetMatcher, ConText) with a
    TargetRule for every medcode lexicon term, in one fresh process."""
    return in_fresh_process(_medspacy_default, list(notes))


def _medspacy_default(notes: list[str]) -> dict:
    from loguru import logger

    logger.remove()  # PyRuSH logs every token at DEBUG level; that is not its real cost
    start = time.perf_counter()
    import medspacy
    from medspacy.ner import TargetRule

    from medcode.terminology.cache import load_codeset, load_index, load_lexicon

    nlp = medspacy.load()
    codeset = load_codeset()
    terms = sorted({row[3] for row in load_lexicon(codeset, load_index(codeset)).rows})
    nlp.get_pipe("medspacy_target_matcher").add([TargetRule(t, "CONDITION") for t in terms])
    load = time.perf_counter() - start
    nlp(notes[0])
    seconds = []
    for text in notes:
        start = time.perf_counter()
        nlp(text)
        seconds.append(time.perf_counter() - start)
    return {
        "medspacy": version("medspacy"),
        "pipeline": list(nlp.pipe_names),
        "target_rules": len(terms),
        "load_s": round(load, 2),
        **_latencies(seconds),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- phrase lookup beside icd10-coder ----------------------------------------------------------


def lookup(
    items: Sequence[tuple[str, frozenset[str]]],
    answer: Callable[[str], str | None],
    is_billable: Callable[[str], bool],
) -> dict:
    """First answers of a lookup function: accuracy (Tally) and latency."""
    tally, seconds = Tally(), []
    for phrase, targets in items:
        start = time.perf_counter()
        code = answer(phrase)
        seconds.append(time.perf_counter() - start)
        tally.add(phrase, targets, code, code is None or is_billable(code))
    return {**tally.to_json(examples=5), **_latencies(seconds)}


def icd10_coder() -> tuple[Callable[[str], str | None], frozenset[str], str] | None:
    """icd10-coder's `dx` lookup (first answer), the codes it knows, its version; None when
    the package is not installed (`pip install icd10-coder`)."""
    try:
        from icd10_coder import coder as icd
    except ImportError:
        return None
    connection = sqlite3.connect(icd.CM_DB)
    known = frozenset(row[0] for row in connection.execute("SELECT code_dot FROM cm_codes"))

    def first(phrase: str) -> str | None:
        rows = icd.cm_search(connection, phrase, 1)
        return rows[0][0] if rows else None

    return first, known, version("icd10-coder")


# -- the rule engine ---------------------------------------------------------------------------

# One realistic inpatient encounter of 20 codes: hypertension with heart failure and CKD,
# diabetes with CKD, COPD exacerbation, pneumonia with its symptoms, and comorbidities.
REALISTIC_ENCOUNTER = [
    "I10",
    "I50.23",
    "N18.31",
    "E11.22",
    "E78.5",
    "J44.1",
    "R05.9",
    "R50.9",
    "J18.9",
    "K21.9",
    "G47.33",
    "E66.9",
    "Z68.35",
    "M17.11",
    "F32.A",
    "I48.91",
    "Z79.01",
    "N40.1",
    "R35.1",
    "Z87.891",
]
RULE_ENGINE_TARGET_MS = 1.0  # per 20-code encounter, all shipped packs


def rule_engine(encounters: int, seed: int, codes_per_encounter: int = 20) -> dict:
    """Milliseconds per encounter and encounters/s of `RuleEngine.run` with every shipped
    pack, in one fresh process: seeded random encounters of billable codes (a cold first pass,
    a second pass over the same encounters, then each encounter run twice in a row and the
    second run timed, so that its lookups are cached whatever the engine's cache bounds) and
    one realistic encounter (its first run, then repeated)."""
    try:
        importlib.import_module(RULE_ENGINE_MODULE)
    except ImportError as exc:
        return {"status": "not yet available", "detail": f"{type(exc).__name__}: {exc}"}
    try:
        return in_fresh_process(_rule_engine, encounters, seed, codes_per_encounter)
    except Exception as exc:  # e.g. rules that fail lint while others edit them
        return {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"}


def _rule_engine(encounters: int, seed: int, size: int) -> dict:
    import random

    from medcode.engine.rulelang import Encounter, Fact, RuleEngine
    from medcode.terminology import load_codeset

    start = time.perf_counter()
    codeset = load_codeset()
    codeset_s = time.perf_counter() - start
    start = time.perf_counter()
    engine = RuleEngine(codeset)
    engine_s = time.perf_counter() - start
    billable = sorted(codeset.billable_codes())
    rng = random.Random(seed)
    drawn = [rng.sample(billable, size) for _ in range(encounters)]

    def timed(codes: list[str]) -> tuple[float, Any]:
        encounter = Encounter([Fact(code) for code in codes], setting="inpatient")
        start = time.perf_counter()
        outcome = engine.run(encounter)
        return time.perf_counter() - start, outcome

    realistic_first, outcome = timed(REALISTIC_ENCOUNTER)  # the first run of a fresh engine
    cold = [timed(codes)[0] for codes in drawn]
    warm, firings, edits = [], 0, 0
    for codes in drawn:
        seconds, random_outcome = timed(codes)
        warm.append(seconds)
        firings += len(random_outcome.firings)
        edits += len(random_outcome.edits)
    repeated = []  # each encounter again right after itself: its lookups are surely cached
    for codes in drawn:
        timed(codes)
        repeated.append(timed(codes)[0])
    repeats = max(encounters // 2, 10)
    realistic = [timed(REALISTIC_ENCOUNTER)[0] for _ in range(repeats)]
    return {
        "status": "measured",
        "packs": [str(getattr(p, "path", p)) for p in engine.book.packs],
        "rules": len(engine.book.rules),
        "codeset_load_s": round(codeset_s, 3),
        "engine_build_s": round(engine_s, 3),
        "cache_limits": {
            name.lstrip("_"): value.limit
            for name, value in getattr(engine.sets, "__dict__", {}).items()
            if isinstance(getattr(value, "limit", None), int)
        },
        "codes_per_encounter": size,
        "target_ms": RULE_ENGINE_TARGET_MS,
        "random": {
            "encounters": encounters,
            "cold_first_pass": _latencies(cold),
            "warm": _latencies(warm),
            "repeated_at_once": _latencies(repeated),
            "firings_per_encounter": round(firings / encounters, 2),
            "edits_per_encounter": round(edits / encounters, 2),
        },
        "realistic": {
            "codes": list(REALISTIC_ENCOUNTER),
            "first_run_ms": round(1000 * realistic_first, 2),
            "repeats": repeats,
            "warm": _latencies(realistic),
            "output": outcome.codes,
            "edits": len(outcome.edits),
            "firings": len(outcome.firings),
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the results depend on."""
    out = {"python": sys.version.split()[0]}
    for name in ("medcode", "spacy", "medspacy", "simple-icd-10-cm", "icd10-coder"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
