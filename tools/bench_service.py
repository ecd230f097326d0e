"""Load test of `medcode serve` on loopback, and `medcode batch` throughput.

    python tools/bench_service.py [--requests 400] [--max-seconds 60] [--documents 200]

Starts `medcode serve` (1 worker, then 2) on a free loopback port; codes ~400-word notes
(lines of the gold notes, tests/gold/notes.yaml) with 1, 4 and 16 concurrent clients, each
client a thread with its own keep-alive connection; checks every answer against the answer to
the same note sent alone (zero lost or failed requests is the pass mark); reports requests/s,
p50/p95/p99 latency and the server's RSS before and after. Then times `medcode batch` over a
folder of notes with 1 and 2 workers. Bounded: at most --requests requests and --max-seconds
per level. The runs are without authentication (`--no-auth`, loopback), but for one level run
again with an API key on every request, to show what checking it costs. The client runs on
the same 2 cores as the server: the numbers are a floor.

Writes docs/bench_service.json and the results section of docs/SERVICE.md (between markers).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from bench_tasks import build_notes, percentile

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "tests" / "gold" / "notes.yaml"
RESULTS = ROOT / "docs" / "bench_service.json"
SERVICE_DOC = ROOT / "docs" / "SERVICE.md"
BEGIN, END = "<!-- bench_service:begin -->", "<!-- bench_service:end -->"
NOTE_WORDS = 400
DISTINCT_NOTES = 40
CLIENTS = (1, 4, 16)
AUTH_CLIENTS = 4  # the level run again with an API key
# A key for this run only: the server is on loopback and stops with the run.
BENCH_KEY = "bench-" + os.urandom(16).hex()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    total = 0
    for process in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
    return round(total / 1024, 1)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


class Server:
    """`medcode serve` in a subprocess on a free loopback port; with `key`, the only API key it
    takes, else without authentication."""

    def __init__(self, workers: int, key: str | None = None):
        self.port = free_port()
        self.key = key
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MEDCODE_API_KEYS")}
        if key is None:
            environ["MEDCODE_NO_AUTH"] = "1"  # `medcode serve --no-auth`, loopback only
        else:
            environ["MEDCODE_API_KEYS"] = key
            environ.pop("MEDCODE_NO_AUTH", None)
        command = [
            sys.executable,
            "-m",
            "medcode.engine.interfaces.cli",
            "serve",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers), "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            env=environ,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", self.port)
                if post(probe, "/readyz", None)[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("medcode serve did not start")
            time.sleep(0.1)
        time.sleep(0.5 * (workers > 1))  # every worker loaded, not only the first to answer

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def post(
    conn: http.client.HTTPConnection, path: str, body: object, key: str | None = None
) -> tuple[int, Any]:
    """One request on `conn`, with `key` as a bearer token if given: (status, JSON)."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    if body is None:
        conn.request("GET", path, headers=headers)
    else:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        conn.request("POST", path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def load(
    port: int,
    notes: list[str],
    expected: list[Any],
    clients: int,
    requests: int,
    max_seconds: float,
    key: str | None = None,
) -> dict[str, Any]:
    """`requests` codings spread over `clients` threads, with `key` if given; every answer
    checked."""
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    failures: list[str] = []
    stop_at = time.monotonic() + max_seconds

    def client(_: int) -> None:
        nonlocal issued
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if issued >= requests or time.monotonic() > stop_at:
                    break
                number = issued
                issued += 1
            i = number % len(notes)
            started = time.perf_counter()
            try:
                body = {"text": notes[i], "document": f"n{i}"}
                status, answer = post(conn, "/v1/code", body, key)
                ok = status == 200 and answer == expected[i]
                why = "" if ok else f"request {number}: status {status} or a different answer"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                ok, why = False, f"request {number}: {type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    failures.append(why)
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    seconds = time.perf_counter() - started
    return {
        "clients": clients,
        "api_key": key is not None,
        "requests": issued,
        "ok": len(latencies),
        "failed": len(failures),
        "lost": issued - len(latencies) - len(failures),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p95_ms": round(1000 * percentile(latencies, 95), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "max_ms": round(1000 * max(latencies, default=0.0), 1),
        "failures": failures[:5],
    }


def service(
    workers: int,
    notes: list[str],
    clients: tuple[int, ...],
    requests: int,
    max_seconds: float,
    key: str | None = None,
) -> dict[str, Any]:
    """The levels of `clients` against a server of `workers`, with API key `key` if given."""
    server = Server(workers, key)
    try:
        rss_loaded = rss_mb(server.process.pid)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        expected = []
        for i, text in enumerate(notes):  # each note alone first: the answer to compare with
            status, answer = post(conn, "/v1/code", {"text": text, "document": f"n{i}"}, key)
            assert status == 200, answer
            expected.append(answer)
        if key is not None:  # the key is checked: a request without it is refused
            assert post(conn, "/v1/code", {"text": notes[0]})[0] == 401
        conn.close()
        levels = [
            load(server.port, notes, expected, c, requests, max_seconds, key) for c in clients
        ]
        rss_after = rss_mb(server.process.pid)
    finally:
        server.stop()
    return {
        "workers": workers,
        "api_key": key is not None,
        "rss_mb_loaded": rss_loaded,
        "rss_mb_after": rss_after,
        "levels": levels,
    }


def long_note_beside(
    notes: list[str], long_note: str, clients: int, requests: int, max_seconds: float
) -> dict[str, Any]:
    """Ordinary requests alone, then again while one long note is coded (issue 19: none may
    wait more than its usual p99 plus 2 s; 0 lost)."""
    server = Server(1)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        expected = []
        for i, text in enumerate(notes):
            status, answer = post(conn, "/v1/code", {"text": text, "document": f"n{i}"})
            assert status == 200, answer
            expected.append(answer)
        conn.close()
        alone = load(server.port, notes, expected, clients, requests, max_seconds)
        long_answer: dict[str, Any] = {}

        def code_long() -> None:
            started = time.perf_counter()
            own = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
            status, answer = post(own, "/v1/code", {"text": long_note, "document": "long"})
            own.close()
            long_answer.update(
                status=status,
                codes=len(answer.get("codes", [])),
                s=round(time.perf_counter() - started, 2),
            )

        thread = threading.Thread(target=code_long)
        thread.start()
        time.sleep(0.2)  # the long note is in the engine before the others come
        beside = load(server.port, notes, expected, clients, requests, max_seconds)
        thread.join()
    finally:
        server.stop()
    return {
        "long_note_chars": len(long_note),
        "long_note": long_answer,
        "alone": alone,
        "beside_long_note": beside,
        "limit_ms": round(alone["p99_ms"] + 2000, 1),
    }


def batch(workers: int, folder: Path, documents: int) -> dict[str, Any]:
    """`medcode batch` wall time; steady docs/s from the first line written to the end (the
    workers' start-up, a Coder load each, is the difference)."""
    out = folder.parent / f"out-{workers}.jsonl"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "medcode.engine.interfaces.cli",
        "batch",
        str(folder),
        "-o",
        str(out),
    ]
    started = time.perf_counter()
    run = subprocess.Popen(
        [*command, "--workers", str(workers), "--no-progress"], stderr=subprocess.PIPE
    )
    first = None
    while run.poll() is None:
        if first is None and out.exists() and out.stat().st_size:
            first = time.perf_counter()
        time.sleep(0.005)
    wall = time.perf_counter() - started
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    errors = sum("error" in line for line in lines)
    if run.returncode != 0 or len(lines) != documents or errors:
        raise RuntimeError(f"batch failed: {run.stderr.read().decode() if run.stderr else ''}")
    steady = (documents - 1) / (wall - (first - started)) if first else 0.0
    return {
        "workers": workers,
        "documents": documents,
        "wall_s": round(wall, 2),
        "docs_per_s": round(documents / wall, 1),
        "steady_docs_per_s": round(steady, 1),
        "startup_s": round(first - started, 2) if first else None,
    }


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()}"


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']} (commit {results['commit']}), "
        f"{results['notes']['count']} distinct notes of about {results['notes']['words']} words; "
        f"client and server share the cores; load average before: "
        f"{' '.join(map(str, results['load_average_before']))}.",
        "",
        "| server workers | clients | API key | requests | ok | failed + lost | requests/s "
        "| p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["service"]:
        for level in run["levels"]:
            keyed = "yes" if level["api_key"] else "no"
            lines.append(
                f"| {run['workers']} | {level['clients']} | {keyed} | {level['requests']} "
                f"| {level['ok']} "
                f"| {level['failed'] + level['lost']} | {level['requests_per_s']} "
                f"| {level['p50_ms']} | {level['p95_ms']} | {level['p99_ms']} |"
            )
    keyed = next(r["levels"][0] for r in results["service"] if r["api_key"])
    plain = next(
        level
        for r in results["service"]
        if r["workers"] == 1 and not r["api_key"]
        for level in r["levels"]
        if level["clients"] == keyed["clients"]
    )
    lines += [
        "",
        f"With an API key on every request (1 worker, {keyed['clients']} clients): p95 "
        f"{keyed['p95_ms']} ms against {plain['p95_ms']} ms without, "
        f"{keyed['failed'] + keyed['lost']} failed or lost.",
    ]
    lines += [
        "",
        "| server workers | RSS loaded (MiB) | RSS after the load (MiB) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['workers']} | {r['rss_mb_loaded']} | {r['rss_mb_after']} |"
        for r in results["service"]
        if not r["api_key"]
    ]
    lines += [
        "",
        "| batch workers | documents | wall s | docs/s | steady docs/s | start-up s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {b['workers']} | {b['documents']} | {b['wall_s']} | {b['docs_per_s']} "
        f"| {b['steady_docs_per_s']} | {b['startup_s']} |"
        for b in results["batch"]
    ]
    long = results["long_note"]
    lines += [
        "",
        f"One {long['long_note_chars']:,}-character note (answered {long['long_note']['status']} "
        f"in {long['long_note']['s']} s) among {long['beside_long_note']['requests']} ordinary "
        "requests from 4 clients, one server worker (target: no ordinary request waits more "
        f"than its p99 alone plus 2 s, {long['limit_ms']} ms):",
        "",
        "| ordinary requests | ok | failed + lost | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {level['ok']} | {level['failed'] + level['lost']} | {level['p50_ms']} "
        f"| {level['p99_ms']} | {level['max_ms']} |"
        for name, level in (
            ("alone", long["alone"]),
            ("beside the long note", long["beside_long_note"]),
        )
    ]
    return "\n".join(lines)


def write_doc(table: str) -> None:
    text = SERVICE_DOC.read_text(encoding="utf-8")
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{SERVICE_DOC}: no {BEGIN} ... {END} markers")
    SERVICE_DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per concurrency level")
    parser.add_argument("--documents", type=int, default=200, help="notes for the batch runs")
    parser.add_argument("--no-write", action="store_true", help="print, write no file")
    args = parser.parse_args(argv)
    gold = [n["text"] for n in yaml.safe_load(GOLD.read_text(encoding="utf-8"))]
    notes = build_notes(gold, NOTE_WORDS, DISTINCT_NOTES)
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs = [service(1, notes, CLIENTS, args.requests, args.max_seconds)]
    runs.append(service(2, notes, (16,), args.requests, args.max_seconds))
    runs.append(service(1, notes, (AUTH_CLIENTS,), args.requests, args.max_seconds, BENCH_KEY))
    long_note = "\n\n".join(gold * (1 + 1_000_000 // sum(map(len, gold))))[:1_000_000]
    beside = long_note_beside(notes, long_note, 4, args.requests, args.max_seconds)
    folder = Path(tempfile.mkdtemp(prefix="medcode-batch-")) / "notes"
    folder.mkdir()
    for i in range(args.documents):
        (folder / f"note-{i:04}.txt").write_text(notes[i % len(notes)], encoding="utf-8")
    batches = [batch(w, folder, args.documents) for w in (1, 2)]
    results = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "commit": commit(),
        "notes": {"count": len(notes), "words": NOTE_WORDS},
        "load_average_before": load_before,
        "service": runs,
        "batch": batches,
        "long_note": beside,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    table = markdown(results)
    print(table)
    levels = [level for run in runs for level in run["levels"]]
    levels += [beside["alone"], beside["beside_long_note"]]
    lost = sum(level["failed"] + level["lost"] for level in levels)
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_doc(table)
    if lost:
        print(f"{lost} failed or lost requests", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
