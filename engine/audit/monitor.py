"""The monitoring report's counts (docs/MONITORING.md): read result lines (the JSONL of
`medcode batch`, `medcode spark`'s JSON column, the service's answers) and tally the measures of
every document, overall and by setting and each metadata dimension.

`monitor_report` compares them with a baseline; `monitor_figures` draws the page, and is the
only one of them that needs more than the standard library (matplotlib).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medcode.terminology.coderefs import CATEGORY

# The metadata keys a breakdown is made for by default (batch and spark keep the input's other
# fields under "metadata"); the setting is always one.
DIMENSIONS = ("specialty", "note_type")
# Line numbers of torn or foreign lines named in the report (the count is always complete).
FIRST_LINES = 10
# The codes distribution is compared over the most frequent codes of either side plus one
# "(other codes)" bin: thousands of rare codes would make the PSI measure noise.
TOP_CODES = 20
OTHER_CODES = "(other codes)"
NONE = "(none)"
_UNSPECIFIED = re.compile(r"\bunspecified\b", re.IGNORECASE)
_CODE = re.compile(rf"\b{CATEGORY}(?:\.[0-9A-Z]{{1,4}})?\b")
# Edits that ask a person to look: the engine's own review marker (docs/LLM.md).
REVIEW_RULES = frozenset({"llm-needs-review"})

# The rates: (key, what is counted, of what).
RATES = (
    ("error_rate", "error lines", "lines"),
    ("unspecified_rate", "unspecified codes", "codes"),
    ("query_rate", "documents with a provider query", "documents"),
    ("review_share", "documents routed to human review", "documents"),
    ("llm_rate", "documents with an LLM consultation", "documents"),
    ("error_edit_rate", "documents with an error edit", "documents"),
)
DISTRIBUTIONS = (
    ("chapters", "codes by ICD-10-CM chapter"),
    ("codes", f"codes (top {TOP_CODES} of either side, the rest as one bin)"),
    ("confidence", "codes by confidence"),
    ("missing_axes", "provider queries by missing axis"),
    ("edits_by_rule", "edits by rule"),
    ("excluded_by_reason", "excluded candidates by reason"),
    ("llm_status", "LLM consultations by status"),
    ("setting", "documents by setting"),
)


class MonitorInputError(ValueError):
    """A results file that cannot be reported on (missing, unreadable, no result line)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Lines that are neither a result nor an error line: torn (not JSON) or foreign JSON."""

    count: int = 0
    first_lines: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "first_lines": list(self.first_lines)}


@dataclass(slots=True)
class Tally:
    """The counts of one population of result lines."""

    documents: int = 0
    errors: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    chapters: Counter[str] = field(default_factory=Counter)
    unspecified: int = 0
    confidence: Counter[str] = field(default_factory=Counter)
    with_query: int = 0
    missing_axes: Counter[str] = field(default_factory=Counter)
    review: int = 0
    with_llm: int = 0
    llm_status: Counter[str] = field(default_factory=Counter)
    edits_by_rule: Counter[str] = field(default_factory=Counter)
    with_error_edit: int = 0
    excluded_by_reason: Counter[str] = field(default_factory=Counter)
    setting: Counter[str] = field(default_factory=Counter)

    def add(self, doc: Document) -> None:
        self.documents += 1
        self.codes.update(doc.codes)
        self.chapters.update(doc.chapters)
        self.unspecified += doc.unspecified
        self.confidence.update(doc.confidence)
        self.with_query += bool(doc.missing_axes)
        self.missing_axes.update(doc.missing_axes)
        self.review += doc.review
        self.with_llm += bool(doc.llm_status)
        self.llm_status.update(doc.llm_status)
        self.edits_by_rule.update(doc.edit_rules)
        self.with_error_edit += doc.error_edit
        self.excluded_by_reason.update(doc.excluded_reasons)
        self.setting[doc.setting] += 1

    def rate_counts(self) -> dict[str, tuple[int, int]]:
        """(hits, of) of every rate."""
        n_codes = sum(self.codes.values())
        return {
            "error_rate": (self.errors, self.documents + self.errors),
            "unspecified_rate": (self.unspecified, n_codes),
            "query_rate": (self.with_query, self.documents),
            "review_share": (self.review, self.documents),
            "llm_rate": (self.with_llm, self.documents),
            "error_edit_rate": (self.with_error_edit, self.documents),
        }

    def distributions(self) -> dict[str, Counter[str]]:
        return {key: getattr(self, key) for key, _ in DISTRIBUTIONS}

    def to_json(self) -> dict[str, Any]:
        n_codes = sum(self.codes.values())
        rates = {
            key: {"count": hits, "of": of, "rate": ratio(hits, of)}
            for key, (hits, of) in self.rate_counts().items()
        }
        return {
            "documents": self.documents,
            "errors": self.errors,
            "codes": n_codes,
            "codes_per_document": ratio(n_codes, self.documents),
            "llm_consultations": sum(self.llm_status.values()),
            "rates": rates,
            "distributions": {k: _sorted(v) for k, v in self.distributions().items()},
        }


@dataclass(frozen=True, slots=True)
class Document:
    """What one result line contributes to the measures."""

    setting: str
    groups: dict[str, str]
    codes: tuple[str, ...]
    chapters: tuple[str, ...]
    unspecified: int
    confidence: tuple[str, ...]
    missing_axes: tuple[str, ...]
    review: bool
    llm_status: tuple[str, ...]
    edit_rules: tuple[str, ...]
    error_edit: bool
    excluded_reasons: tuple[str, ...]


@dataclass(slots=True)
class Population:
    """One results file: the overall tally and one per value of each dimension."""

    path: str
    dimensions: tuple[str, ...]
    lines: int = 0
    overall: Tally = field(default_factory=Tally)
    groups: dict[str, dict[str, Tally]] = field(default_factory=dict)
    skipped: Skipped = field(default_factory=Skipped)

    def group(self, dimension: str, value: str) -> Tally:
        return self.groups.setdefault(dimension, {}).setdefault(value, Tally())

    def input_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "lines": self.lines,
            "documents": self.overall.documents,
            "errors": self.overall.errors,
            "skipped": self.skipped.to_json(),
        }


def exclusion_kind(reason: str) -> str:
    """An exclusion reason without the codes it names, so that reasons of one kind count
    together: "... integral to the diagnosis: N13.30 (I.B.5)" -> "...: <code> (I.B.5)"."""
    return _CODE.sub("<code>", reason)


def read_document(
    record: dict[str, Any], chapter_of: Callable[[str], str], dimensions: Iterable[str]
) -> Document:
    """The measures of one result object; KeyError/TypeError/AttributeError on a foreign one."""
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise TypeError("metadata is not an object")
    setting = str(record["setting"])
    groups = {"setting": setting}
    for dimension in dimensions:
        value = metadata.get(dimension)
        groups[dimension] = NONE if value is None or value == "" else str(value)
    codes = [(str(c["code"]), str(c["description"]), str(c["confidence"])) for c in record["codes"]]
    edits = [(str(e["rule"]), str(e["severity"])) for e in record["edits"]]
    llm = [
        str(step.get("status"))
        for item in (*record["codes"], *record["excluded"])
        for step in item.get("trace", ())
        if step.get("step") == "llm"
    ]
    confidence = tuple(conf for _, _, conf in codes)
    return Document(
        setting=setting,
        groups=groups,
        codes=tuple(code for code, _, _ in codes),
        chapters=tuple(chapter_of(code) for code, _, _ in codes),
        unspecified=sum(bool(_UNSPECIFIED.search(title)) for _, title, _ in codes),
        confidence=confidence,
        missing_axes=tuple(str(q["missing"]) for q in record["queries"]),
        review="low" in confidence
        or any(sev == "error" or rule in REVIEW_RULES for rule, sev in edits),
        llm_status=tuple(llm),
        edit_rules=tuple(rule for rule, _ in edits),
        error_edit=any(sev == "error" for _, sev in edits),
        excluded_reasons=tuple(exclusion_kind(str(x["reason"])) for x in record["excluded"]),
    )


# The column of `medcode spark`'s output that holds each document's result line.
SPARK_JSON = "result_json"


def _lines(path: Path) -> Iterator[bytes]:
    """The result lines of a JSONL file, or of `medcode spark`'s Parquet output (a folder of
    part files, or one file): its `result_json` column, one value per document."""
    if path.is_dir() or path.suffix == ".parquet":
        yield from _parquet_lines(path)
        return
    try:
        with path.open("rb") as handle:
            yield from handle
    except OSError as exc:
        raise MonitorInputError(f"{path}: {exc.strerror or exc}") from exc


def _parquet_lines(path: Path) -> Iterator[bytes]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as exc:
        raise MonitorInputError(
            f"{path}: reading Parquet needs pyarrow: pip install 'medcode[spark]'"
        ) from exc
    try:
        table = parquet.read_table(path, columns=[SPARK_JSON])
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's errors derive from these
        raise MonitorInputError(
            f"{path}: not medcode spark's Parquet output (a {SPARK_JSON} column): {exc}"
        ) from exc
    for batch in table.column(SPARK_JSON).chunks:
        # a document's JSON is on its first row; the other rows of its codes hold null
        yield from (value.encode("utf-8") for value in batch.to_pylist() if value is not None)


def read_population(
    path: str | Path,
    chapter_of: Callable[[str], str],
    dimensions: Iterable[str] = DIMENSIONS,
) -> Population:
    """Tally a results file. Torn or foreign lines are counted and skipped; a file with no
    result and no error line raises MonitorInputError."""
    path = Path(path)
    dims = tuple(dimensions)
    population = Population(str(path), dims)
    bad: list[int] = []
    for number, raw in enumerate(_lines(path), start=1):
        population.lines = number
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            bad.append(number)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("document"), str):
            bad.append(number)
        elif isinstance(record.get("error"), str):
            _add_error(population, record, dims)
        else:
            try:
                doc = read_document(record, chapter_of, dims)
            except (KeyError, TypeError, AttributeError, ValueError):
                bad.append(number)
                continue
            population.overall.add(doc)
            for dimension, value in doc.groups.items():
                population.group(dimension, value).add(doc)
    population.skipped = Skipped(len(bad), tuple(bad[:FIRST_LINES]))
    if population.overall.documents + population.overall.errors == 0:
        what = f"{len(bad)} torn or foreign lines" if bad else "no lines"
        raise MonitorInputError(f"{path}: no result lines to report on ({what})")
    return population


def _add_error(population: Population, record: dict[str, Any], dims: tuple[str, ...]) -> None:
    population.overall.errors += 1
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    for dimension in dims:
        value = metadata.get(dimension)
        population.group(dimension, NONE if value in (None, "") else str(value)).errors += 1


def chapter_lookup(codeset: Any) -> Callable[[str], str]:
    """code -> its chapter's label ("4 Endocrine, nutritional ... (E00-E89)") in `codeset`
    (a terminology CodeSet); "(not in the code set)" for a code it lacks."""
    cache: dict[str, str] = {}

    def chapter_of(code: str) -> str:
        if code not in cache:
            path = codeset.ancestors(code) if codeset.get(code) is not None else []
            chapter = codeset.node(path[0]) if path else None
            cache[code] = f"{chapter.code} {chapter.title}" if chapter else "(not in the code set)"
        return cache[code]

    return chapter_of


def _sorted(counts: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name: the same file gives the same JSON."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def ratio(hits: int, of: int) -> float | None:
    """hits / of to six places; None when there is nothing to divide by."""
    return round(hits / of, 6) if of else None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
