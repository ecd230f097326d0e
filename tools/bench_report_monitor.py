"""How long `medcode report` takes on 10,000 results against a 10,000-result baseline
(issue 17: <= 10 s). The results are real coded results, replicated and perturbed: each copy gets
its own document id, a specialty and note type, and a seeded change (a code dropped, a confidence
lowered, a query added) so the population is not 10,000 identical lines.

    python tools/bench_report_monitor.py --results codiesp.results.jsonl mts.results.jsonl
    python tools/bench_report_monitor.py            # codes tests/gold/notes.yaml first

Prints the timings; `--json docs/bench_monitor.json` also writes them for tools/bench.py, which
quotes them in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECIALTIES = ("cardiology", "orthopedics", "neurology", "gastroenterology", "oncology", "general")
NOTE_TYPES = ("progress note", "discharge summary", "consult")


def seed_results(paths: list[str]) -> list[dict]:
    """Real result lines: from the files given, else the gold notes coded now."""
    if paths:
        lines = [json.loads(x) for p in paths for x in Path(p).read_text().splitlines() if x]
        return [x for x in lines if isinstance(x.get("codes"), list)]
    import yaml

    from medcode.engine.coding.coder import Coder

    coder = Coder()
    notes = yaml.safe_load((ROOT / "tests" / "gold" / "notes.yaml").read_text(encoding="utf-8"))
    return [coder.code(n["text"], document=n["id"]).to_json() for n in notes]


def perturbed(seeds: list[dict], n: int, seed: int, shift: float) -> list[dict]:
    """`n` results made from `seeds`; `shift` is the chance of each change (drift to find)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        line = copy.deepcopy(seeds[i % len(seeds)])
        line["document"] = f"doc-{seed}-{i:05}"
        weights = [1 + shift * k for k in range(len(SPECIALTIES))]
        line["metadata"] = {
            "specialty": rng.choices(SPECIALTIES, weights)[0],
            "note_type": rng.choice(NOTE_TYPES),
        }
        if line["codes"] and rng.random() < shift:
            line["codes"].pop()
        for code in line["codes"]:
            if rng.random() < shift:
                code["confidence"] = "low"
        if line["codes"] and rng.random() < shift:
            code = line["codes"][0]["code"]
            line["queries"].append(
                {"code": code, "missing": "acuity", "question": "?", "evidence": []}
            )
        out.append(line)
    if n > 100:  # a few error lines, as batch writes them
        for i in range(0, n, 500):
            out[i] = {"document": out[i]["document"], "error": "binary file", "input": {}}
    return out


def write(path: Path, lines: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", nargs="+", default=[], metavar="JSONL")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the timings here")
    args = parser.parse_args(argv)
    os.environ.setdefault("MEDCODE_CACHE_DIR", str(Path(tempfile.gettempdir()) / "medcode-bench"))
    from medcode.engine.interfaces.cli import main as medcode

    seeds = seed_results(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        current, baseline = folder / "current.jsonl", folder / "baseline.jsonl"
        write(current, perturbed(seeds, args.n, seed=1, shift=0.15))
        write(baseline, perturbed(seeds, args.n, seed=2, shift=0.0))
        size = current.stat().st_size + baseline.stat().st_size
        html, data = folder / "report.html", folder / "report.json"
        command = ["report", str(current), "--baseline", str(baseline), "-o", str(html)]
        command += ["--json", str(data)]
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            status = medcode(command)
            times.append(time.perf_counter() - start)
            if status != 0:
                print(f"medcode report exited {status}", file=sys.stderr)
                return 1
        report = json.loads(data.read_text(encoding="utf-8"))
        page_kb = html.stat().st_size / 1000
    best, median = min(times), statistics.median(times)
    print(f"seed results: {len(seeds)}; inputs: 2 x {args.n:,} lines, {size / 1e6:.1f} MB")
    print(f"runs (s): {', '.join(f'{t:.2f}' for t in times)}; best {best:.2f}, median {median:.2f}")
    print(
        f"figures: {len(report['figures'])}; flags: {len(report['flags'])}; page {page_kb:.0f} kB"
    )
    if args.json is not None:
        measured = {
            "command": "python tools/bench_report_monitor.py " + " ".join(argv or sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d"),
            "results": args.n,
            "seed_results": len(seeds),
            "jsonl_mb": round(size / 1e6, 1),
            "figures": len(report["figures"]),
            "flags": len(report["flags"]),
            "runs_s": [round(t, 2) for t in times],
            "median_s": round(median, 2),
            "best_s": round(best, 2),
            "target_s": 10.0,
        }
        args.json.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
