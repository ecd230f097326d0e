"""Throughput of `medcode spark` on local[1] and local[2] beside `medcode batch --workers 1/2`.

    python tools/bench_spark.py [--notes 500] [--out docs/bench_spark.json]

Codes the 500 CodiEsp training notes (../shared/data/codiesp-train/text_files_en, English
machine translations; one JSONL line each) in one run, each way a fresh process on this machine:

- end to end: `medcode batch` with 1 and 2 workers, `medcode spark` on local[1] and local[2]:
  wall time (start-up included), notes/s, peak RSS of each kind of process (driver, JVM,
  Python workers) and the CPU seconds each kind used, sampled from /proc every 0.2 s. CPU
  seconds per note hold on a shared machine where wall time does not; they are what a
  cluster pays.
- warm: in one SparkSession per master, the start-up of its Python workers (importing medcode,
  loading the Coder from the cache, timed inside each worker), then the same notes coded by the
  warm workers (`code_jsonl(...).write.parquet`): the rate a long job runs at, per core, and
  the CPU seconds the coding took in every process of the session (driver, JVM, workers):
  notes per CPU second is the rate of a core that does nothing else, whatever else ran here.

The spark results must equal batch's lines (the JSON column, byte for byte), or the run fails.
Writes --out (JSON) and the measured table of docs/SPARK.md (between markers); prints the
table, for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT.parent / "shared" / "data" / "codiesp-train" / "text_files_en"
RESULTS = ROOT / "docs" / "bench_spark.json"
SPARK_DOC = ROOT / "docs" / "SPARK.md"
BEGIN, END = "<!-- bench_spark:begin -->", "<!-- bench_spark:end -->"
MEDCODE = [sys.executable, "-m", "medcode.engine.interfaces.cli"]
TICK = os.sysconf("SC_CLK_TCK")


# -- processes: memory and CPU ------------------------------------------------------------------


def _stats() -> dict[int, tuple[int, float]]:
    """Every process: (parent, CPU seconds so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return found


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _kind(pid: int, root: int) -> str:
    """driver (the command), jvm, worker (Spark's Python workers, batch's pool) or other."""
    if pid == root:
        return "driver"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    text = b" ".join(command).decode("utf-8", "replace")
    if "pyspark.daemon" in text or "multiprocessing" in text:
        return "worker"
    return "jvm" if command and command[0].endswith(b"java") else "other"


class Sampler:
    """Peak RSS and CPU seconds of each kind of process under `root`, every `interval` s."""

    def __init__(self, root: int, interval: float = 0.2):
        self.root, self.interval = root, interval
        self.peak: dict[str, float] = {}
        self.together = 0.0  # the workers' RSS at once
        self.cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = _stats()
            tree: dict[int, list[int]] = {}
            for pid, (parent, _) in stats.items():
                tree.setdefault(parent, []).append(pid)
            todo, together = [self.root], 0.0
            while todo:
                pid = todo.pop()
                todo.extend(tree.get(pid, []))
                if pid not in stats:
                    continue
                kind = self.cpu[pid][0] if pid in self.cpu else _kind(pid, self.root)
                rss = _rss_mib(pid)
                self.peak[kind] = max(self.peak.get(kind, 0.0), rss)
                together += rss if kind == "worker" else 0.0
                self.cpu[pid] = (kind, stats[pid][1])
            self.together = max(self.together, together)
            self._stop.wait(self.interval)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        cpu: dict[str, float] = {}
        for kind, seconds in self.cpu.values():
            cpu[kind] = cpu.get(kind, 0.0) + seconds
        return {
            "peak_rss_mib": {k: round(v, 1) for k, v in sorted(self.peak.items())},
            "peak_rss_workers_together_mib": round(self.together, 1),
            "cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items())},
        }


def timed(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    start = time.monotonic()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid)
    _, err = process.communicate()
    seconds = time.monotonic() - start
    measured = sampler.stop()
    if process.returncode not in (0, 1):
        raise SystemExit(f"bench_spark: {' '.join(command)} failed: {err.strip()[-500:]}")
    summary = err.strip().splitlines()[-1]
    return {"seconds": round(seconds, 2), **measured, "load_before": load, "summary": summary}


# -- the warm probe: one session, its workers' start-up, then the notes ---------------------------

PROBE = r"""
import json, os, sys, time
from pyspark.sql import SparkSession
from medcode.engine.interfaces.spark import code_jsonl

cores, notes, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.monotonic()
spark = (SparkSession.builder.master(f"local[{cores}]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64").getOrCreate())
session = time.monotonic() - start

def load(batches):
    import pyarrow as pa
    t0 = time.monotonic()
    from medcode.engine.interfaces.batch import _coder
    t1 = time.monotonic()
    _coder(None)
    t2 = time.monotonic()
    for _ in batches:
        pass
    yield pa.RecordBatch.from_pylist([{"pid": os.getpid(), "imp": t1 - t0, "load": t2 - t1}])

start = time.monotonic()
rows = spark.range(cores, numPartitions=cores).mapInArrow(load, "pid long, imp double, load double")
workers = [r.asDict() for r in rows.collect()]
warm_up = time.monotonic() - start
def cpu_tree():  # CPU seconds of this process and its descendants (the JVM, the workers)
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    todo, total = [os.getpid()], 0
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo.extend(p for p, (parent, _) in stats.items() if parent == pid)
    return total / os.sysconf("SC_CLK_TCK")

cpu, start = cpu_tree(), time.monotonic()
code_jsonl(spark, notes, partitions=cores).write.parquet(out)
coding, cpu = time.monotonic() - start, cpu_tree() - cpu
print(json.dumps({"session": session, "warm_up": warm_up, "workers": workers, "coding": coding,
                  "cpu": cpu}))
spark.stop()
"""


def warm(cores: int, notes: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-c", PROBE, str(cores), str(notes), str(out)]
    load = os.getloadavg()[0]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid)
    printed, _ = process.communicate()
    measured = sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"bench_spark: the warm probe on local[{cores}] failed")
    found = json.loads(printed.strip().splitlines()[-1])
    workers = found["workers"]
    return {
        "session_s": round(found["session"], 2),
        "workers_ready_s": round(found["warm_up"], 2),
        "worker_import_s": round(max(w["imp"] for w in workers), 2),
        "worker_coder_load_s": round(max(w["load"] for w in workers), 2),
        "coding_s": round(found["coding"], 2),
        "coding_cpu_s": round(found["cpu"], 2),
        "load_before": load,
        **measured,
    }


# -- the run ------------------------------------------------------------------------------------


def write_notes(folder: Path, count: int) -> Path:
    files = sorted(NOTES.glob("*.txt"))[:count]
    lines = [json.dumps({"document": f.stem, "text": f.read_text(encoding="utf-8")}) for f in files]
    path = folder / "notes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def spark_lines(out: Path) -> list[str]:
    import pyarrow.parquet as pq

    lines: list[str] = []
    for part in sorted(out.glob("part-*.parquet")):
        lines += [j for j in pq.read_table(part, columns=["result_json"])[0].to_pylist() if j]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not NOTES.is_dir():
        print(f"bench_spark: {NOTES} not found (../shared/data is a development folder)")
        return 2
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as temp:
        folder = Path(temp)
        notes = write_notes(folder, args.notes)
        count = len(notes.read_text(encoding="utf-8").splitlines())
        # Untimed, so that every timed run finds the terminology cache built.
        subprocess.run([*MEDCODE, "code", "--text", "COPD."], env=env, capture_output=True)
        for workers in (1, 2):
            out = folder / f"batch{workers}.jsonl"
            command = [*MEDCODE, "batch", str(notes), "-o", str(out), "--no-progress"]
            runs[f"batch --workers {workers}"] = timed([*command, "--workers", str(workers)], env)
        expected = sorted((folder / "batch1.jsonl").read_text(encoding="utf-8").splitlines())
        assert expected == sorted(
            (folder / "batch2.jsonl").read_text(encoding="utf-8").splitlines()
        )
        for cores in (1, 2):
            out = folder / f"spark{cores}"
            command = [*MEDCODE, "spark", str(notes), "-o", str(out), "--master", f"local[{cores}]"]
            runs[f"spark local[{cores}]"] = timed(command, env)
            size = sum(f.stat().st_size for f in out.glob("part-*.parquet"))
            runs[f"spark local[{cores}]"]["parquet_bytes_per_note"] = round(size / count)
            runs[f"spark local[{cores}]"]["warm"] = warm(cores, notes, folder / f"warm{cores}", env)
            for result in (out, folder / f"warm{cores}"):
                if sorted(spark_lines(result)) != expected:
                    raise SystemExit(f"bench_spark: {result.name}: results differ from batch")
    results = summarise(runs, count)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown(results)
    text = SPARK_DOC.read_text(encoding="utf-8") if SPARK_DOC.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        SPARK_DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}", "utf-8")
    print(table)
    return 0


def summarise(runs: dict[str, Any], count: int) -> dict[str, Any]:
    for name, run in runs.items():
        run["notes_per_s"] = round(count / run["seconds"], 2)
        coding = run["cpu_s"].get("worker", 0.0) or run["cpu_s"].get("driver", 0.0)
        run["worker_cpu_s_per_note"] = round(coding / count, 4)
        if "warm" in run:
            cores = int(name[-2])
            rate = count / run["warm"]["coding_s"]
            run["warm"]["notes_per_s"] = round(rate, 2)
            run["warm"]["notes_per_s_per_core"] = round(rate / cores, 2)
            run["warm"]["notes_per_cpu_s"] = round(count / run["warm"]["coding_cpu_s"], 2)
    import pyspark

    return {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, PySpark {pyspark.__version__}, {java_version()}",
        "notes": f"{count} CodiEsp training notes (English), ~300 words each",
        "equal_to_batch": True,
        "runs": runs,
    }


def java_version() -> str:
    done = subprocess.run(["java", "-version"], capture_output=True, text=True)
    return (done.stderr or done.stdout).splitlines()[0].replace('"', "")


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    lines = [
        f"Measured {results['date']} on {results['machine']}; {results['notes']}. Every run a "
        "fresh process; peak RSS and CPU seconds sampled from /proc every 0.2 s; the load "
        "average (other work on the machine) before each run is shown. The spark results equal "
        "batch's, byte for byte.",
        "",
        "| run | seconds, end to end | notes/s | worker CPU s a note | peak RSS: one worker "
        "| workers together | JVM | load before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        peak = run["peak_rss_mib"]
        one = peak.get("worker") or peak.get("driver", 0.0)
        together = run["peak_rss_workers_together_mib"] or one
        jvm = f"{peak['jvm']:.0f} MiB" if "jvm" in peak else "-"
        lines.append(
            f"| `medcode {name}` | {run['seconds']} | {run['notes_per_s']} "
            f"| {run['worker_cpu_s_per_note']} | {one:.0f} MiB | {together:.0f} MiB | {jvm} "
            f"| {run['load_before']:.1f} |"
        )
    lines += [
        "",
        "Warm (one session; its workers started first, then the same notes):",
        "",
        "| master | session start s | workers ready s (of which engine load in a worker) "
        "| coding s | notes/s | notes/s per core | CPU s of coding (all processes) "
        "| notes per CPU second | load before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        if "warm" in run:
            w = run["warm"]
            lines.append(
                f"| {name.split()[1]} | {w['session_s']} | {w['workers_ready_s']} "
                f"({w['worker_import_s'] + w['worker_coder_load_s']:.2f}) | {w['coding_s']} "
                f"| {w['notes_per_s']} | {w['notes_per_s_per_core']} | {w['coding_cpu_s']} "
                f"| {w['notes_per_cpu_s']} | {w['load_before']:.1f} |"
            )
    sizes = [
        run["parquet_bytes_per_note"] for run in runs.values() if "parquet_bytes_per_note" in run
    ]
    lines += ["", f"Parquet output: {sizes[0] / 1024:.1f} KiB a note (snappy, JSON included)."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
