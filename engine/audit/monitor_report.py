"""The monitoring report as data (docs/MONITORING.md): the measures of `monitor`'s populations,
their breakdowns, and the drift of each measure against a baseline (a PSI per distribution, a
chi-square test per rate) with the flags above the thresholds."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .monitor import (
    DISTRIBUTIONS,
    NONE,
    OTHER_CODES,
    RATES,
    TOP_CODES,
    Population,
    Tally,
    ratio,
    rounded,
)
from .monitor_stats import Thresholds, chi_square_2x2, psi, psi_band


def drift(current: Tally, baseline: Tally, thresholds: Thresholds) -> list[dict[str, Any]]:
    """One statistic per measure: PSI for each distribution, chi-square for each rate."""
    rows: list[dict[str, Any]] = []
    dist_c, dist_b = current.distributions(), baseline.distributions()
    for key, _ in DISTRIBUTIONS:
        c, b = dist_c[key], dist_b[key]
        if key == "codes":
            c, b = top_binned(c, b)
        value = psi(c, b)
        n = (sum(c.values()), sum(b.values()))
        band = psi_band(value, thresholds, min(n))
        rows.append(
            {
                "measure": key,
                "statistic": "psi",
                "value": rounded(value),
                "n": list(n),
                "band": band,
                "flag": band == "shift",
            }
        )
    rates_c, rates_b = current.rate_counts(), baseline.rate_counts()
    for key, _, _ in RATES:
        (hc, nc), (hb, nb) = rates_c[key], rates_b[key]
        test = chi_square_2x2(hc, nc, hb, nb)
        change = hc / nc - hb / nb if nc and nb else None
        rows.append(
            {
                "measure": key,
                "statistic": "chi-square",
                "value": rounded(test.statistic) if test else None,
                "p": float(f"{test.p:.6g}") if test else None,  # six significant digits
                "current": ratio(hc, nc),
                "baseline": ratio(hb, nb),
                "change": rounded(change),
                "flag": bool(
                    test
                    and change is not None
                    and test.p < thresholds.p
                    and abs(change) >= thresholds.min_change
                ),
            }
        )
    return rows


def top_binned(current: Counter[str], baseline: Counter[str]) -> tuple[Counter, Counter]:
    """Both code counts over the TOP_CODES most frequent codes of either side; the rest in
    one OTHER_CODES bin."""
    keep = {k for k, _ in _top(current)} | {k for k, _ in _top(baseline)}

    def binned(counts: Counter[str]) -> Counter[str]:
        out = Counter({k: v for k, v in counts.items() if k in keep})
        rest = sum(v for k, v in counts.items() if k not in keep)
        if rest:
            out[OTHER_CODES] = rest
        return out

    return binned(current), binned(baseline)


def build_report(
    current: Population, baseline: Population | None, thresholds: Thresholds
) -> dict[str, Any]:
    """The report as JSON-ready data (without figures: monitor_figures adds them)."""
    report: dict[str, Any] = {
        "report": "medcode monitoring report",
        "input": current.input_json(),
        "baseline": baseline.input_json() if baseline else None,
        "thresholds": thresholds.to_json(),
        "measures": current.overall.to_json(),
        "baseline_measures": baseline.overall.to_json() if baseline else None,
        "breakdowns": _breakdowns(current),
        "baseline_breakdowns": _breakdowns(baseline) if baseline else None,
        "drift": [],
        "flags": [],
    }
    if baseline is None:
        return report
    rows = [{"group": None, **row} for row in drift(current.overall, baseline.overall, thresholds)]
    for dim, values in _ordered_groups(current):
        for value, tally in sorted(values.items()):
            other = baseline.groups.get(dim, {}).get(value)
            if other is not None:
                group = {"dimension": dim, "value": value}
                rows += [{"group": group, **row} for row in drift(tally, other, thresholds)]
    report["drift"] = rows
    report["flags"] = [_flag_text(row) for row in rows if row["flag"]]
    return report


def _breakdowns(population: Population) -> dict[str, dict[str, Any]]:
    return {
        dim: {value: tally.to_json() for value, tally in sorted(values.items())}
        for dim, values in _ordered_groups(population)
    }


def _ordered_groups(population: Population) -> list[tuple[str, dict[str, Tally]]]:
    """The setting, then each metadata key some line carries (one no line has is left out)."""
    order = ("setting", *population.dimensions)
    return [
        (d, population.groups[d])
        for d in order
        if d in population.groups and (d == "setting" or set(population.groups[d]) != {NONE})
    ]


def _flag_text(row: dict[str, Any]) -> str:
    where = f" [{row['group']['dimension']}={row['group']['value']}]" if row["group"] else ""
    if row["statistic"] == "psi":
        return f"{row['measure']}{where}: PSI {row['value']:.3f}"
    return (
        f"{row['measure']}{where}: {row['baseline']:.1%} -> {row['current']:.1%} "
        f"(chi-square {row['value']:.2f}, p {row['p']:.2g})"
    )


def _top(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CODES]
