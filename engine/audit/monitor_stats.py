"""The drift statistics of the monitoring report (docs/MONITORING.md): the population stability
index of a distribution and the chi-square test of a rate, in plain math (no scipy: a 2x2 table
has one degree of freedom, whose survival function is erfc)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# A share of 0 has no logarithm: it counts as this share (the usual PSI practice), so a
# category seen on one side only adds a large but finite term.
PSI_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a statistic is a drift flag: PSI above `psi`, with at least `min_n` items on each
    side (a PSI of a handful is noise); a rate whose chi-square p-value is below `p` and that
    moved by at least `min_change` (absolute, 0.02 = 2 points)."""

    psi: float = 0.2
    p: float = 0.01
    min_change: float = 0.02
    min_n: float = 30

    def to_json(self) -> dict[str, float]:
        return {"psi": self.psi, "p": self.p, "min_change": self.min_change, "min_n": self.min_n}


def psi(current: Mapping[str, int], baseline: Mapping[str, int]) -> float | None:
    """Population stability index of two count distributions over the union of their
    categories: sum of (c - b) * ln(c / b) over the shares, a 0 share floored at PSI_FLOOR.
    None when either side is empty (nothing to compare)."""
    total_c, total_b = sum(current.values()), sum(baseline.values())
    if total_c <= 0 or total_b <= 0:
        return None
    value = 0.0
    for key in sorted(set(current) | set(baseline)):
        c = max(current.get(key, 0) / total_c, PSI_FLOOR)
        b = max(baseline.get(key, 0) / total_b, PSI_FLOOR)
        value += (c - b) * math.log(c / b)
    return value


def psi_band(value: float | None, thresholds: Thresholds, n: int) -> str:
    """'stable' (< 0.1), 'moderate' (0.1 up to the threshold), 'shift' (above it); 'n/a'
    without a value, 'too few' when the smaller side has fewer than min_n items."""
    if value is None:
        return "n/a"
    if n < thresholds.min_n:
        return "too few"
    if value > thresholds.psi:
        return "shift"
    return "moderate" if value >= 0.1 else "stable"


@dataclass(frozen=True, slots=True)
class ChiSquare:
    """Pearson's chi-square test of two proportions (a 2x2 table, no continuity correction)."""

    statistic: float
    p: float


def chi_square_2x2(hits_c: int, n_c: int, hits_b: int, n_b: int) -> ChiSquare | None:
    """`hits_c` of `n_c` against `hits_b` of `n_b`: sum of (O - E)^2 / E over the four cells,
    E from the margins; p = erfc(sqrt(x / 2)), the survival function of chi-square with one
    degree of freedom. None when a margin is 0 (the test is undefined)."""
    table = ((hits_c, n_c - hits_c), (hits_b, n_b - hits_b))
    rows = (n_c, n_b)
    cols = (hits_c + hits_b, n_c + n_b - hits_c - hits_b)
    total = n_c + n_b
    if min(rows) <= 0 or min(cols) <= 0:
        return None
    statistic = 0.0
    for i in range(2):
        for j in range(2):
            expected = rows[i] * cols[j] / total
            statistic += (table[i][j] - expected) ** 2 / expected
    return ChiSquare(statistic, math.erfc(math.sqrt(statistic / 2)))
