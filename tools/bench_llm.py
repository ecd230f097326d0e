"""Ambiguous mentions on the CodiEsp English training notes, and what the LLM fallback changes.

    python tools/bench_llm.py [--limit N]     count ambiguous mentions (no model, no network)
    MEDCODE_LLM_URL=http://127.0.0.1:8000/v1 MEDCODE_LLM_MODEL=qwen2.5-7b-instruct \\
        python tools/bench_llm.py              and precision/recall with the model

Ambiguous mentions are the coder's trace steps {"step": "ambiguity", "candidates": [...],
"reason": ...} in reported codes and excluded candidates. The baseline is coded with the LLM
turned off; the model is then asked about each reported ambiguous code (per-document budget,
answer cache of engine/llm) and a chosen candidate replaces the code the engine kept. Rules are
not re-run after the replacement: the numbers measure the choices, not their rule effects.
Results go to docs/bench_llm.json. Needs ../shared/data/codiesp-train; skips without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bench_tasks import Micro, category, sample

from medcode.engine.coding.llm import (
    Ambiguity,
    LLMChooser,
    LLMConfig,
    LLMConfigError,
    candidates_from_codeset,
)
from medcode.engine.result import CodingResult, Evidence

if TYPE_CHECKING:
    from medcode.engine.coding.coder import Coder

ROOT = Path(__file__).resolve().parents[1]
CODIESP = ROOT.parent / "shared" / "data" / "codiesp-train"
OUTPUT = ROOT / "docs" / "bench_llm.json"
SEED = 20261126
NO_MARKING = (
    'no ambiguity marking found: the coder reported no {{"step": "ambiguity"}} trace step in '
    "{n} notes, so there is nothing for the LLM to decide (is the ambiguity marking of "
    "engine/coder.py in place?)"
)


@dataclass(frozen=True, slots=True)
class Mark:
    """One ambiguous mention: the code the engine kept and the candidates it hesitated over."""

    code: str
    reported: bool
    candidates: tuple[str, ...]
    reason: str
    evidence: Evidence


def marks(result: CodingResult) -> list[Mark]:
    """The ambiguity steps of a result's codes and excluded candidates, in result order."""
    found = []
    for reported, entries in ((True, result.codes), (False, result.excluded)):
        for entry in entries:
            for step in entry.trace:
                if step.get("step") == "ambiguity":
                    candidates = tuple(step.get("candidates", ()))
                    reason = str(step.get("reason", ""))
                    found.append(Mark(entry.code, reported, candidates, reason, entry.evidence[0]))
    return found


def sentence_of(text: str, evidence: Evidence) -> str:
    """The line around the evidence (CodiEsp notes hold one sentence per line)."""
    start = text.rfind("\n", 0, evidence.start) + 1
    end = text.find("\n", evidence.end)
    return text[start : len(text) if end < 0 else end].strip()


def replaced(codes: Iterable[str], changes: Iterable[tuple[str, str]]) -> set[str]:
    """The reported codes after each (kept, chosen) replacement."""
    result = set(codes)
    for kept, chosen in changes:
        result.discard(kept)
        result.add(chosen)
    return result


def headroom(mark: Mark, gold: frozenset[str]) -> str:
    """What an oracle choosing among the candidates could do for a reported mark."""
    if mark.code in gold:
        return "kept code is gold"
    if any(c in gold for c in mark.candidates):
        return "another candidate is gold"
    return "no candidate is gold"


def distribution(counts: list[int]) -> dict[str, int]:
    bins = Counter(str(n) if n < 5 else "5+" for n in counts)
    return {key: bins[key] for key in ("0", "1", "2", "3", "4", "5+")}


def counting(per_note: dict[str, list[Mark]], docs: dict) -> dict[str, object]:
    """The no-model part: how many ambiguous mentions, why, and what a perfect choice could gain."""
    all_marks = [m for found in per_note.values() for m in found]
    counts = [len(found) for found in per_note.values()]
    reported = [(m, docs[doc][1]) for doc, found in per_note.items() for m in found if m.reported]
    sets = Counter(" | ".join(sorted(m.candidates)) for m in all_marks)
    return {
        "notes": len(counts),
        "notes_with_ambiguity": sum(1 for n in counts if n),
        "mentions": len(all_marks),
        "in_reported_codes": len(reported),
        "in_excluded_candidates": len(all_marks) - len(reported),
        "per_note_mean": round(len(all_marks) / len(counts), 3) if counts else 0.0,
        "per_note_max": max(counts, default=0),
        "per_note_distribution": distribution(counts),
        "candidates_per_mention": dict(
            sorted(Counter(len(m.candidates) for m in all_marks).items())
        ),
        "reasons": dict(Counter(m.reason for m in all_marks).most_common(15)),
        "reported_headroom": dict(Counter(headroom(m, gold) for m, gold in reported).most_common()),
        "top_candidate_sets": dict(sets.most_common(15)),
    }


def with_model(coder: Coder, config: LLMConfig, results: dict, docs: dict) -> dict[str, object]:
    """Ask the model about every reported ambiguous code; score before and after."""
    chooser = LLMChooser(config)
    scores = {name: Micro() for name in ("exact", "category", "exact_llm", "category_llm")}
    statuses: Counter[str] = Counter()
    changes_total, cached, started = 0, 0, time.perf_counter()
    for doc, (result, found) in results.items():
        text, gold = docs[doc]
        session = chooser.session()
        changes = []
        for mark in (m for m in found if m.reported and m.code in m.candidates):
            ambiguity = Ambiguity(
                mark.evidence.text,
                sentence_of(text, mark.evidence),
                mark.evidence.section,
                candidates_from_codeset(coder.codeset, mark.candidates),
                mark.reason,
            )
            choice = session.choose(ambiguity)
            statuses[choice.status] += 1
            cached += choice.cached
            if choice.code is not None and choice.code != mark.code:
                changes.append((mark.code, choice.code))
        changes_total += len(changes)
        before = {c.code for c in result.codes}
        after = replaced(before, changes)
        for suffix, emitted in (("", before), ("_llm", after)):
            scores[f"exact{suffix}"].add(emitted, set(gold))
            scores[f"category{suffix}"].add(
                {category(c) for c in emitted}, {category(c) for c in gold}
            )
    out = {name: micro.to_json() for name, micro in scores.items()}
    return {
        "model": config.model,
        "url_host": config.url.split("/")[2],
        "max_calls_per_note": config.max_calls,
        "statuses": dict(sorted(statuses.items())),
        "answered_from_cache": cached,
        "codes_changed": changes_total,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "scores": out,
        "delta": {
            view: {
                k: round(out[f"{view}_llm"][k] - out[view][k], 4)
                for k in ("precision", "recall", "f1")
            }
            for view in ("exact", "category")
        },
    }


def code_notes(coder: Coder, docs: dict, chosen: list[str]) -> dict[str, tuple]:
    """doc -> (result, ambiguity marks) of each chosen note, setting inpatient."""
    results = {}
    for doc in chosen:
        result, _ = coder.code_traced(docs[doc][0], document=doc, setting="inpatient")
        results[doc] = (result, marks(result))
    return results


def report(coder: Coder, docs: dict, results: dict, coding_s: float) -> dict[str, object]:
    """docs/bench_llm.json without the model part ("llm")."""
    per_note = {doc: found for doc, (_, found) in results.items()}
    return {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "versions": coder.versions,
        "documents": len(results),
        "coding_s": round(coding_s, 1),
        "ambiguity": counting(per_note, docs),
    }


def without_model(coder: Coder, docs: dict, chosen: list[str]) -> dict[str, object]:
    """The no-model count of tools/bench.py: ambiguous mentions of the chosen notes, coded by
    `coder` (which must have no LLM chooser: the baseline is the deterministic engine)."""
    if getattr(coder.ambiguity, "chooser", None) is not None:
        raise RuntimeError("the coder has an LLM chooser: unset MEDCODE_LLM_URL/_CONFIG")
    started = time.perf_counter()
    results = code_notes(coder, docs, chosen)
    out = report(coder, docs, results, time.perf_counter() - started)
    if not out["ambiguity"]["mentions"]:
        out["status"] = NO_MARKING.format(n=len(chosen))
    out["llm"] = {
        "status": "not run: tools/bench.py counts without a model; set MEDCODE_LLM_URL and run "
        "python tools/bench_llm.py for the model's precision/recall"
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codiesp", type=Path, default=CODIESP, help="CodiEsp training split")
    parser.add_argument("--limit", type=int, help="a seeded sample of N notes (default: all)")
    parser.add_argument("--json", type=Path, default=OUTPUT, help="results file")
    args = parser.parse_args(argv)
    if not (args.codiesp / "trainD.tsv").is_file():
        print(f"bench_llm: skipped: {args.codiesp} not found (CodiEsp training split)")
        return 0
    # The baseline is the deterministic engine: the LLM settings are read here, then hidden.
    try:
        config = LLMConfig.from_env()
    except LLMConfigError as error:
        print(f"bench_llm: {error}", file=sys.stderr)
        return 2
    for name in [n for n in os.environ if n.startswith("MEDCODE_LLM_")]:
        del os.environ[name]

    from bench_accuracy import read_codiesp

    from medcode.engine.coding.coder import Coder

    docs = read_codiesp(args.codiesp)
    chosen = sample(list(docs), args.limit, SEED)
    coder, started = Coder(), time.perf_counter()
    results = code_notes(coder, docs, chosen)
    out = report(coder, docs, results, time.perf_counter() - started)
    if not out["ambiguity"]["mentions"]:
        print(f"bench_llm: {NO_MARKING.format(n=len(chosen))}", file=sys.stderr)
        return 1
    out["llm"] = (
        with_model(coder, config, results, docs)
        if config is not None
        else {"status": "not run: MEDCODE_LLM_URL is not set"}
    )
    args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"ambiguity": out["ambiguity"], "llm": out["llm"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
