"""Accuracy benchmarks through the engine's public API: structured descriptions, multiple
conditions, inclusion terms (all through `Coder.code`) and CodiEsp real notes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from bench_tasks import (
    MISS_LABELS,
    Micro,
    Tally,
    category,
    classify_miss,
    is_combination,
    join_pair,
    make_pairs,
    pair_outcome,
    pct,
    sample,
    words,
)

from medcode.engine.coding.coder import Coder
from medcode.engine.coding.search import Searcher
from medcode.engine.result import CodingResult
from medcode.terminology import CodeSet, NodeKind, NoteKind

Item = tuple[str, frozenset[str]]
_CITATION = re.compile(r"\(([^()]*)\)\s*$")  # a phrase and the billable codes that answer it


@dataclass(frozen=True, slots=True)
class Engine:
    """One loaded engine: the coder, the `medcode search` searcher, the billable codes."""

    coder: Coder
    searcher: Searcher
    billable: tuple[str, ...]

    @classmethod
    def load(cls) -> Engine:
        coder = Coder()
        searcher = Searcher(coder.codeset, coder.lexicon, coder.walker)
        return cls(coder, searcher, tuple(coder.codeset.billable_codes()))

    @property
    def codeset(self) -> CodeSet:
        return self.coder.codeset

    def title(self, code: str) -> str:
        return self.codeset.node(code).title

    def is_billable(self, code: str) -> bool:
        node = self.codeset.get(code)
        return node is not None and node.billable

    def first_code(self, phrase: str) -> str | None:
        """`Coder.code(phrase)`'s first code."""
        codes = self.coder.code(phrase).codes
        return codes[0].code if codes else None

    def first_candidate(self, phrase: str) -> str | None:
        """`medcode search PHRASE`'s first candidate."""
        candidates = self.searcher.search(phrase, 1)
        return candidates[0].code if candidates else None


# -- phrase sets -------------------------------------------------------------------------------


def description_items(engine: Engine) -> list[Item]:
    """Every billable code's own description, answered by that code."""
    return [(engine.title(code), frozenset({code})) for code in engine.billable]


def inclusion_items(engine: Engine) -> list[Item]:
    """Every distinct Tabular inclusion term, answered by the code it is listed under, or by any
    billable code below it when it is listed under a header (the term names the whole
    subdivision). A term listed under several nodes accepts any of their codes."""
    codeset = engine.codeset
    targets: dict[str, set[str]] = {}
    for node in codeset.nodes():
        if node.kind in (NodeKind.CHAPTER, NodeKind.SECTION):
            continue
        for note in node.notes:
            if note.kind is NoteKind.INCLUSION_TERM:
                below = codeset.billable_descendants(node.key)
                targets.setdefault(note.text.strip(), set()).update(below)
    return [(term, frozenset(codes)) for term, codes in sorted(targets.items()) if codes]


def score_phrases(items: list[Item], answer, is_billable) -> Tally:
    """First answers against their targets."""
    tally = Tally()
    for phrase, targets in items:
        code = answer(phrase)
        tally.add(phrase, targets, code, code is None or is_billable(code))
    return tally


def phrases(engine: Engine, size: int | None, seed: int) -> dict[str, object]:
    """Benchmarks 1 and 3 through `Coder.code`: descriptions and inclusion terms."""
    out: dict[str, object] = {}
    for name, items in (
        ("descriptions", description_items(engine)),
        ("inclusion_terms", inclusion_items(engine)),
    ):
        chosen = _sample_items(items, size, seed)
        tally = score_phrases(chosen, engine.first_code, engine.is_billable)
        out[name] = {"population": len(items), **tally.to_json(examples=100)}
    return out


def _sample_items(items: list[Item], size: int | None, seed: int) -> list[Item]:
    by_phrase = dict(items)
    return [(p, by_phrase[p]) for p in sample([p for p, _ in items], size, seed)]


# -- multiple conditions -----------------------------------------------------------------------


def pairs(engine: Engine, count: int, seed: int, examples: int = 10) -> dict[str, object]:
    """Benchmark 2: seeded pairs of billable descriptions joined three ways, through
    `Coder.code`. Success: both codes emitted, or one emitted code whose own description
    names both conditions (`is_combination`)."""
    outcomes: Counter[str] = Counter()
    by_connector: dict[str, Counter[str]] = {}
    why: Counter[str] = Counter()
    failures = []
    for first, second, connector in make_pairs(engine.billable, count, seed):
        text = join_pair(engine.title(first), connector, engine.title(second))
        result = engine.coder.code(text)
        emitted = [c.code for c in result.codes]
        combined = any(
            is_combination(engine.title(c), engine.title(first), engine.title(second))
            for c in emitted
            if c not in (first, second)
        )
        outcome = pair_outcome(emitted, first, second, combined)
        outcomes[outcome] += 1
        by_connector.setdefault(connector.strip() or "space", Counter())[outcome] += 1
        if outcome in ("both", "combination"):
            continue
        missing = [c for c in (first, second) if c not in emitted]
        reasons = [_missing_reason(code, result) for code in missing]
        why.update(reasons)
        if len(failures) < examples:
            failures.append(
                {"input": text, "expected": [first, second], "emitted": emitted, "why": reasons}
            )
    solved = outcomes["both"] + outcomes["combination"]
    return {
        "n": count,
        "seed": seed,
        "success": solved,
        "success_pct": pct(solved, count),
        "outcomes": dict(sorted(outcomes.items())),
        "by_connector": {
            k: {
                "n": sum(v.values()),
                "success_pct": pct(v["both"] + v["combination"], sum(v.values())),
            }
            for k, v in sorted(by_connector.items())
        },
        "missing_code_reasons": dict(why.most_common()),
        "failures": failures,
    }


def _missing_reason(code: str, result: CodingResult) -> str:
    """What became of an expected code: excluded (and why), a sibling emitted, or nothing."""
    for excluded in result.excluded:
        if excluded.code == code:
            return f"excluded: {_reason(excluded.reason)}"
    if any(category(c.code) == category(code) for c in result.codes):
        return "another code of its category emitted"
    if any(category(e.code) == category(code) for e in result.excluded):
        return "another code of its category excluded"
    return "nothing of its category found"


def _reason(reason: str) -> str:
    """The kind of an exclusion reason: the guideline a rule cites ("... integral to the
    diagnosis: N99.533 (I.B.5)" -> "rule I.B.5"), else the assertion ("negated")."""
    cited = _CITATION.search(reason)
    return f"rule {cited.group(1)}" if cited else reason.split(" ")[0].rstrip(":")


# -- real notes --------------------------------------------------------------------------------


def read_codiesp(folder: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """docid -> (English text, gold diagnosis codes upper-cased), in docid order."""
    gold: dict[str, set[str]] = {}
    for line in (folder / "trainD.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc, code = line.split("\t")
            gold.setdefault(doc, set()).add(code.strip().upper())
    texts = folder / "text_files_en"
    return {
        doc: ((texts / f"{doc}.txt").read_text(encoding="utf-8"), frozenset(gold[doc]))
        for doc in sorted(gold)
        if (texts / f"{doc}.txt").exists()
    }


def codiesp(
    engine: Engine, folder: Path, size: int | None, seed: int, examples: int = 8
) -> dict[str, object]:
    """Benchmark 4: micro P/R/F1 of emitted codes and of recognised codes (emitted plus
    excluded), exact and by category, with every exact miss of the emitted codes labelled."""
    docs = read_codiesp(folder)
    chosen = sample(list(docs), size, seed)
    scores = {
        name: Micro() for name in ("exact", "category", "recognised_exact", "recognised_category")
    }
    misses: Counter[str] = Counter()
    miss_examples: dict[str, list[dict[str, object]]] = {label: [] for label in MISS_LABELS}
    false_positives: Counter[str] = Counter()
    excluded_gold: Counter[str] = Counter()
    for doc in chosen:
        text, gold = docs[doc]
        result = engine.coder.code(text, document=doc, setting="inpatient")
        emitted = {c.code for c in result.codes}
        excluded = {e.code for e in result.excluded}
        for name, predicted, truth in _views(emitted, excluded, gold):
            scores[name].add(predicted, truth)
        false_positives.update(emitted - gold)
        excluded_gold.update(
            _reason(e.reason) for e in result.excluded if e.code in gold and e.code not in emitted
        )
        for label, record in _misses(engine, doc, text, gold, emitted, excluded):
            misses[label] += 1
            if len(miss_examples[label]) < examples:
                miss_examples[label].append(record)
    n_gold = sum(len(docs[d][1]) for d in chosen)
    return {
        "documents": len(chosen),
        "gold_codes": n_gold,
        "gold_not_billable_fy2026": sum(
            not engine.is_billable(c) for d in chosen for c in docs[d][1]
        ),
        **{name: micro.to_json() for name, micro in scores.items()},
        "misses": {label: misses[label] for label in MISS_LABELS},
        "excluded_gold_reasons": dict(excluded_gold.most_common()),
        "miss_examples": miss_examples,
        "top_false_positives": [
            {"code": c, "count": n, "description": engine.title(c)}
            for c, n in sorted(false_positives.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
        ],
    }


def _views(
    emitted: set[str], excluded: set[str], gold: frozenset[str]
) -> Iterator[tuple[str, set[str], set[str]]]:
    recognised = emitted | excluded
    yield "exact", emitted, set(gold)
    yield "category", {category(c) for c in emitted}, {category(c) for c in gold}
    yield "recognised_exact", recognised, set(gold)
    yield "recognised_category", {category(c) for c in recognised}, {category(c) for c in gold}


def _misses(
    engine: Engine,
    doc: str,
    text: str,
    gold: frozenset[str],
    emitted: set[str],
    excluded: set[str],
) -> Iterator[tuple[str, dict[str, object]]]:
    note_words = words(text)
    for code in sorted(gold - emitted):
        node = engine.codeset.get(code) or engine.codeset.get(category(code))
        title = node.title if node is not None else None
        label = classify_miss(
            code,
            billable=engine.is_billable(code),
            emitted=emitted,
            excluded=excluded,
            title=title,
            note_words=note_words,
        )
        found = sorted(c for c in emitted | excluded if category(c) == category(code))
        yield label, {"doc": doc, "gold": code, "description": title, "same_category": found}


# -- the real-note gold set ---------------------------------------------------------------------

REAL_NOTES = Path(__file__).resolve().parents[1] / "tests" / "gold" / "mtsamples.yaml"


def read_real_notes(path: Path = REAL_NOTES) -> list[dict]:
    """The MTSamples gold notes (tests/gold/mtsamples.yaml), in file order."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def real_notes(engine: Engine, path: Path = REAL_NOTES, examples: int = 12) -> dict[str, object]:
    """Benchmark 4: real US notes coded by hand (two coders, adjudicated). Micro P/R/F1 of the
    emitted codes, exact and by category; the first-listed code; notes coded exactly; the
    same by note type; and the notes furthest from the gold."""
    notes = read_real_notes(path)
    exact, cat = Micro(), Micro()
    by_type: dict[str, dict[str, object]] = {}
    first = sets = settings_read = 0
    worst: list[tuple[int, dict[str, object]]] = []
    for note in notes:
        gold = [c["code"] for c in note["codes"]]
        result = engine.coder.code(note["text"], document=note["id"], setting=note["setting"])
        settings_read += engine.coder.code(note["text"]).setting == note["setting"]
        emitted = [c.code for c in result.codes]
        exact.add(set(emitted), set(gold))
        cat.add({category(c) for c in emitted}, {category(c) for c in gold})
        hit = emitted[:1] == gold[:1]
        first += hit
        sets += set(emitted) == set(gold)
        kind = by_type.setdefault(note["type"], {"notes": 0, "first": 0, "micro": Micro()})
        kind["notes"] += 1
        kind["first"] += hit
        kind["micro"].add(set(emitted), set(gold))
        errors = len(set(emitted) ^ set(gold))
        worst.append(
            (
                -errors,
                {
                    "id": note["id"],
                    "first": [gold[:1], emitted[:1]],
                    "missed": sorted(set(gold) - set(emitted)),
                    "extra": sorted(set(emitted) - set(gold)),
                },
            )
        )
    worst.sort(key=lambda item: (item[0], item[1]["id"]))
    coders = {name: Micro() for name in ("a", "b")}
    coders_first = dict.fromkeys(coders, 0)
    for note in notes:
        gold = [c["code"] for c in note["codes"]]
        for name, micro in coders.items():
            micro.add(set(note["coders"][name]), set(gold))
            coders_first[name] += note["coders"][name][:1] == gold[:1]
    return {
        "documents": len(notes),
        "gold_codes": sum(len(n["codes"]) for n in notes),
        "specialties": len({n["specialty"] for n in notes}),
        "exact": exact.to_json(),
        "category": cat.to_json(),
        "first_listed": {"correct": first, "pct": pct(first, len(notes))},
        "exact_sets": sets,
        # `--setting auto`: the setting read from the kind of document, against the gold's
        "setting_auto_agrees": {"notes": settings_read, "pct": pct(settings_read, len(notes))},
        "by_type": {
            kind: {
                "notes": v["notes"],
                "first_listed_pct": pct(v["first"], v["notes"]),
                **{k: v["micro"].to_json()[k] for k in ("precision", "recall", "f1")},
            }
            for kind, v in sorted(by_type.items())
        },
        "worst": [record for _, record in worst[:examples]],
        # each first coder beside the adjudicated gold: how far apart two coders start
        "coders": {
            name: {**micro.to_json(), "first_listed_pct": pct(coders_first[name], len(notes))}
            for name, micro in coders.items()
        },
    }
