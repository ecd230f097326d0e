"""Long notes (issue 19): time and memory grow with the note's length, beside a 4 KB note coded
in the same process (docs/BENCHMARKS.md, section 5c).

Notes are real transcribed notes (MTSamples, CC0) joined in a seeded order until they reach a
size, so that a long note reads like concatenated encounters; the stress note is 200,000 short
lines, each a problem as problem lists write them (every line a condition: the most mentions a
text of its size can hold). Each size is timed in a fresh process after a warm-up note, and the
JSON of the result is built, as `medcode code` would print it.
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

from bench_speed import in_fresh_process, peak_rss_mb

# Targets of issue 19.
TARGETS = {"note_100k_s": 1.5, "lines_200k_s": 30.0, "note_20m_rss_mb": 1024.0, "per_kb_ratio": 2.0}
PROBLEMS = (
    "COPD", "HTN", "CHF", "Asthma", "GERD", "Gout", "Anemia", "Obesity", "CKD 3", "Afib",
    "Migraine", "Anxiety", "Depression", "T2DM", "Hypothyroidism", "Hyperlipidemia",
)  # fmt: skip


def mtsamples_texts(csv_path: Path, seed: int) -> list[str]:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        texts = [row["transcription"].strip() for row in csv.DictReader(handle)]
    texts = [t for t in texts if t]
    random.Random(seed).shuffle(texts)
    return texts


def joined(texts: list[str], size: int) -> str:
    """Whole notes, one after another, cut at `size` characters."""
    parts, total, i = [], 0, 0
    while total < size:
        parts.append(texts[i % len(texts)])
        total += len(parts[-1]) + 2
        i += 1
    return "\n\n".join(parts)[:size]


def problem_lines(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(rng.choice(PROBLEMS) for _ in range(count))


def run(csv_path: Path, seed: int, with_20m: bool = True) -> dict:
    texts = mtsamples_texts(csv_path, seed)
    short = next(t for t in texts if 3_900 <= len(t) <= 4_300)
    notes = {
        "note_4k": short,
        "note_100k": joined(texts, 100_000),
        "note_1m": joined(texts, 1_000_000),
        "lines_200k": problem_lines(200_000, seed),
    }
    timed = in_fresh_process(_timed, notes)
    results = {"notes": {name: {"chars": len(text)} for name, text in notes.items()}}
    for name, seconds in timed["seconds"].items():
        per_char = round(1e6 * seconds / len(notes[name]), 2)
        results["notes"][name].update(s=seconds, us_per_char=per_char)
    small, large = results["notes"]["note_4k"], results["notes"]["note_1m"]
    results["per_kb_ratio"] = round(large["us_per_char"] / small["us_per_char"], 2)
    results["peak_rss_mb"] = timed["peak_rss_mb"]
    if with_20m:
        results["note_20m"] = in_fresh_process(_memory, short, joined(texts, 19_900_000))
    results["targets"] = TARGETS
    return results


def _timed(notes: dict[str, str]) -> dict:
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    coder.code(notes["note_4k"])  # warm-up
    seconds = {}
    for name, text in notes.items():
        start = time.perf_counter()
        coder.code(text).to_json()
        seconds[name] = round(time.perf_counter() - start, 3)
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def _memory(short: str, text: str) -> dict:
    """Peak RSS after a 4 KB note, then after a 20 MB one, in one process."""
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    coder.code(short).to_json()
    before = peak_rss_mb()
    start = time.perf_counter()
    result = coder.code(text).to_json()
    return {
        "chars": len(text),
        "s": round(time.perf_counter() - start, 1),
        "codes": len(result["codes"]),
        "peak_rss_mb_after_4k": before,
        "peak_rss_mb": peak_rss_mb(),
    }
