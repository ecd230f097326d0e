"""`medcode replay RESULT.json [--note PATH]`: re-code a note and report every difference from
a recorded result.

A result records what decides its output except the text itself: the setting, the fiscal year,
the versions (engine, code set, rules) and, in `input`, the sha256 and length of the text. The
note is not copied into the result (notes carry PHI); replay takes it from `--note` or from the
path the result names as its `document`, and refuses a note whose sha256 differs from the one
recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED_KEYS = ("document", "fy", "setting", "codes", "excluded", "edits", "queries", "versions")
# Documents named this way were not read from a file: replay needs --note.
NOT_A_FILE = {"-": "stdin", "text": "--text"}


class ReplayError(ValueError):
    """A result file that cannot be replayed (unreadable, malformed, note missing or changed)."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the replayed result differs from the recorded one."""

    kind: str
    subject: str
    recorded: Any
    replayed: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "recorded": self.recorded,
            "replayed": self.replayed,
        }

    def text(self) -> str:
        return f"{self.kind}: {self.subject}: {_show(self.recorded)} -> {_show(self.replayed)}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def load_results(path: str) -> list[dict[str, Any]]:
    """The results in a file written by `medcode code --format json`: one JSON object, JSON
    Lines, or a JSON list of objects."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror or exc}") from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        whole = json.loads(content)
        results = whole if isinstance(whole, list) else [whole]
    except json.JSONDecodeError:
        results = []
        for number, line in enumerate(content.splitlines(), 1):
            if line.strip():
                try:
                    results.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ReplayError(
                        f"{path}:{number}: not a JSON result ({exc.msg}, column {exc.colno})"
                    ) from exc
    if not results:
        raise ReplayError(f"{path}: no result in the file")
    for number, result in enumerate(results, 1):
        _check_shape(result, f"{path} (result {number})" if len(results) > 1 else path)
    return results


def _check_shape(result: Any, where: str) -> None:
    if not isinstance(result, dict):
        raise ReplayError(f"{where}: not a medcode result (a JSON object is expected)")
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ReplayError(f"{where}: not a medcode result (missing {', '.join(missing)})")
    if result["setting"] not in ("inpatient", "outpatient"):
        raise ReplayError(f"{where}: unknown setting {result['setting']!r}")
    for key in ("codes", "excluded", "edits", "queries"):
        items = result[key]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ReplayError(f"{where}: {key!r} must be a list of objects")
    if not all("code" in i for key in ("codes", "excluded", "queries") for i in result[key]):
        raise ReplayError(f"{where}: an entry of codes, excluded or queries has no 'code'")
    if not isinstance(result["versions"], dict):
        raise ReplayError(f"{where}: 'versions' must be an object")
    record = result.get("input")
    if record is not None and not (isinstance(record, dict) and "sha256" in record):
        raise ReplayError(f"{where}: 'input' must be an object with a sha256")


def note_path(result: dict[str, Any], note: str | None, result_file: str) -> str:
    """Where the note of `result` is: --note, else its document path (as given when coding,
    then relative to the result file's folder)."""
    if note is not None:
        return note
    document = str(result["document"])
    if document in NOT_A_FILE:
        raise ReplayError(
            f"{result_file}: the note was coded from {NOT_A_FILE[document]}; "
            "give it with --note PATH"
        )
    path = Path(document)
    if path.is_file():
        return document
    beside = Path(result_file).parent / path
    if not path.is_absolute() and beside.is_file():
        return str(beside)
    raise ReplayError(f"{result_file}: note {document} not found; give it with --note PATH")


def verify_input(result: dict[str, Any], text: str, name: str) -> bool:
    """True when the result records the note's sha256 and it matches; False when the result
    records none (nothing to check). A different note is an error, not a difference."""
    record = result.get("input")
    if record is None:
        return False
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != record["sha256"]:
        raise ReplayError(
            f"{name}: not the note of this result (sha256 {digest[:16]}..., "
            f"recorded {str(record['sha256'])[:16]}...)"
        )
    return True


def compare(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[Difference]:
    """Every difference, in a fixed order: versions, codes, excluded candidates, edits,
    queries; then anything else the two results do not share. Whether an LLM answer came
    from the cache is not a difference: the answer is the same (docs/LLM.md)."""
    recorded, replayed = _uncached(recorded), _uncached(replayed)
    diffs: list[Difference] = []
    for key in ("document", "fy", "setting"):
        if recorded.get(key) != replayed.get(key):
            diffs.append(Difference(f"{key} changed", key, recorded.get(key), replayed.get(key)))
    recorded, converted = _converted(recorded, replayed.get("fy"))
    diffs += converted
    old_v, new_v = recorded.get("versions", {}), replayed.get("versions", {})
    for key in dict.fromkeys([*old_v, *new_v]):
        if old_v.get(key) != new_v.get(key):
            diffs.append(Difference("version changed", key, old_v.get(key), new_v.get(key)))
    diffs += _compare_codes(recorded["codes"], replayed["codes"])
    diffs += _compare_excluded(recorded["excluded"], replayed["excluded"])
    diffs += _compare_keyed(
        "edit", recorded["edits"], replayed["edits"], lambda e: json.dumps(e, sort_keys=True)
    )
    diffs += _compare_keyed(
        "query",
        recorded["queries"],
        replayed["queries"],
        lambda q: f"{q.get('code')} missing {q.get('missing')}",
    )
    if not diffs and _canonical(recorded) != _canonical(replayed):
        keys = [k for k in dict.fromkeys([*recorded, *replayed]) if k != "input"]
        changed = [k for k in keys if _dump(recorded.get(k)) != _dump(replayed.get(k))]
        diffs.append(Difference("output changed", ", ".join(changed) or "key order", None, None))
    return diffs


def _converted(result: dict[str, Any], fy: Any) -> tuple[dict[str, Any], list[Difference]]:
    """A result of another fiscal year with its codes as codes of `fy` (the CMS conversion
    table), so that a code the new year renamed is not reported removed and added; each
    conversion is a difference of its own."""
    old = result.get("fy")
    if not isinstance(old, int) or not isinstance(fy, int) or old == fy:
        return result, []
    from medcode.engine.coding.claim.fiscal import converter

    copy = dict(result)
    diffs: list[Difference] = []
    for key in ("codes", "excluded"):
        entries = []
        for entry in result[key]:
            (new,), changes = converter().convert_all([str(entry["code"])], old, fy)
            for change in changes:
                diffs.append(
                    Difference("code converted", f"FY{old} -> FY{fy}", change.original, new)
                )
            entries.append(dict(entry, code=new))
        copy[key] = entries
    return copy, diffs


def _uncached(result: dict[str, Any]) -> dict[str, Any]:
    """The result without the `cached` mark of its `llm` trace steps."""

    def steps(trace: list) -> list:
        return [
            {k: v for k, v in s.items() if k != "cached"} if s.get("step") == "llm" else s
            for s in trace
        ]

    copy = dict(result)
    for key in ("codes", "excluded"):
        copy[key] = [dict(c, trace=steps(c.get("trace") or [])) for c in result.get(key, [])]
    return copy


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _canonical(result: dict[str, Any]) -> str:
    """The serialised result without `input` (a result without one still replays)."""
    return _dump({k: v for k, v in result.items() if k != "input"})


def _compare_codes(old: list[dict], new: list[dict]) -> Iterator[Difference]:
    before = {c["code"]: c for c in old}
    after = {c["code"]: c for c in new}
    for code, c in before.items():
        if code not in after:
            yield Difference("code removed", code, _summary(c), None)
    for code, c in after.items():
        if code not in before:
            yield Difference("code added", code, None, _summary(c))
    for code, c in before.items():
        n = after.get(code)
        if n is None:
            continue
        for key, kind in (
            ("sequence", "code resequenced"),
            ("description", "description changed"),
            ("confidence", "confidence changed"),
        ):
            if c.get(key) != n.get(key):
                yield Difference(kind, code, c.get(key), n.get(key))
        yield from _compare_words_and_trace(code, c, n)


def _compare_excluded(old: list[dict], new: list[dict]) -> Iterator[Difference]:
    before = {(x["code"], x.get("reason")): x for x in old}
    after = {(x["code"], x.get("reason")): x for x in new}
    for key in before:
        if key not in after:
            yield Difference("exclusion removed", key[0], key[1], None)
    for key in after:
        if key not in before:
            yield Difference("exclusion added", key[0], None, key[1])
    for key, x in before.items():
        if key in after:
            yield from _compare_words_and_trace(f"{key[0]} (not coded)", x, after[key])


def _compare_words_and_trace(subject: str, old: dict, new: dict) -> Iterator[Difference]:
    if old.get("evidence") != new.get("evidence"):
        yield Difference(
            "evidence changed", subject, _spans(old.get("evidence")), _spans(new.get("evidence"))
        )
    old_t, new_t = old.get("trace") or [], new.get("trace") or []
    if old_t != new_t:
        first = next(
            (i for i, (a, b) in enumerate(zip(old_t, new_t, strict=False)) if a != b),
            min(len(old_t), len(new_t)),
        )
        yield Difference(
            "trace changed",
            f"{subject} step {first + 1}",
            old_t[first] if first < len(old_t) else None,
            new_t[first] if first < len(new_t) else None,
        )


def _spans(evidence: list[dict] | None) -> list[str]:
    return [
        f"{e.get('start')}:{e.get('end')} {e.get('text')!r} "
        f"[{e.get('section') or '-'}, {e.get('assertion')}]"
        for e in evidence or []
    ]


def _summary(coded: dict) -> str:
    return f"#{coded.get('sequence')} {coded.get('description')} ({coded.get('confidence')})"


def _compare_keyed(kind: str, old: list[dict], new: list[dict], key) -> Iterator[Difference]:
    before = {key(x): x for x in old}
    after = {key(x): x for x in new}
    for k, x in before.items():
        if k not in after:
            yield Difference(f"{kind} removed", str(x.get("code", x.get("rule"))), x, None)
    for k, x in after.items():
        if k not in before:
            yield Difference(f"{kind} added", str(x.get("code", x.get("rule"))), None, x)
    for k, x in before.items():
        if k in after and x != after[k]:
            yield Difference(f"{kind} changed", str(x.get("code", x.get("rule"))), x, after[k])


__all__ = [
    "Difference",
    "ReplayError",
    "compare",
    "load_results",
    "note_path",
    "verify_input",
]
