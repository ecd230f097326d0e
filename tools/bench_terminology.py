"""Terminology benchmarks: cold build, warm load, `medcode validate` end to end, and the
structured-description task (each billable code's own description -> `search`, first answer).

Usage: python tools/bench_terminology.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date

from medcode.engine.specificity import SpecificityWalker
from medcode.terminology.cache import load_codeset, load_lexicon
from medcode.terminology.lexicon import normalize_tokens


def _timed(func):
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ["MEDCODE_CACHE_DIR"] = tempfile.mkdtemp()
    _, cold = _timed(lambda: load_codeset())
    codeset, warm = _timed(lambda: load_codeset())
    _, lexicon_cold = _timed(lambda: load_lexicon(codeset))
    lexicon, lexicon_warm = _timed(lambda: load_lexicon(codeset))
    command = [sys.executable, "-m", "medcode.engine.cli", "validate", "E11.9"]
    runs = [
        _timed(lambda: subprocess.run(command, check=True, capture_output=True))[1]
        for _ in range(5)
    ]
    # The first answer of `medcode search` for a phrase that is a lexicon term: the term's
    # preferred entry walked down with the phrase's words (scored 1.0, ranked first).
    walker = SpecificityWalker(codeset)
    billable = list(codeset.billable_codes())
    exact = invalid = 0
    start = time.perf_counter()
    for code in billable:
        words = normalize_tokens(codeset.node(code).title)
        entries = lexicon.lookup(words)
        top = walker.most_specific(entries[0].key, frozenset(words)).code if entries else None
        exact += top == code
        invalid += top is not None and not codeset.node(top).billable
    elapsed = time.perf_counter() - start
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "codeset_cold_build_s": round(cold, 3),
        "codeset_warm_load_s": round(warm, 3),
        "lexicon_cold_build_s": round(lexicon_cold, 3),
        "lexicon_warm_load_s": round(lexicon_warm, 3),
        "validate_e2e_warm_s_median": round(sorted(runs)[len(runs) // 2], 3),
        "descriptions": len(billable),
        "descriptions_exact": exact,
        "descriptions_exact_pct": round(100 * exact / len(billable), 3),
        "descriptions_invalid_outputs": invalid,
        "descriptions_per_s": round(len(billable) / elapsed, 1),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
