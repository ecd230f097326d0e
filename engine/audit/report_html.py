"""`medcode code --format html`: a self-contained audit report (inline CSS, no script, no
external assets) showing the note with each code's evidence highlighted, the sequenced codes
with their traces, the rejected candidates with reasons, queries, edits and versions.

Every piece of the note and of the result is escaped: a note containing `<script>` stays text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

from medcode.engine.result import CodingResult, Evidence

# Colours are named once; tests and the headless-browser check look for them in the page.
CODED_COLOUR = "#ffd54f"
EXCLUDED_COLOUR = "#cfd8dc"

STYLE = f"""
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem;
  padding: 0 1rem; color: #1b1b1b; background: #fff; }}
h1 {{ font-size: 1.4rem; margin: 0 0 .3rem; }}
h2 {{ font-size: 1.2rem; border-bottom: 2px solid #37474f; padding-bottom: .2rem; }}
h3 {{ font-size: 1.05rem; margin: 1.2rem 0 .4rem; }}
.meta {{ color: #455a64; margin: 0 0 .8rem; }}
pre.note {{ white-space: pre-wrap; word-wrap: break-word; font: 14px/1.6 ui-monospace,
  monospace; background: #fafafa; border: 1px solid #cfd8dc; padding: .8rem; }}
mark {{ padding: 0 1px; color: inherit; }}
mark.coded {{ background: {CODED_COLOUR}; }}
mark.excluded {{ background: {EXCLUDED_COLOUR}; text-decoration: underline dotted; }}
mark[data-codes]::after {{ content: attr(data-codes); font: 10px system-ui, sans-serif;
  vertical-align: super; margin-left: 2px; color: #37474f; }}
table {{ border-collapse: collapse; width: 100%; margin: .3rem 0; }}
th, td {{ border: 1px solid #cfd8dc; padding: .3rem .45rem; text-align: left;
  vertical-align: top; }}
th {{ background: #eceff1; }}
code {{ font: 13px ui-monospace, monospace; }}
.confidence {{ font-weight: 600; padding: 0 .35rem; border-radius: 3px; }}
.confidence-high {{ background: #c8e6c9; }}
.confidence-medium {{ background: #fff3c4; }}
.confidence-low {{ background: #ffcdd2; }}
details {{ margin: .2rem 0; }}
summary {{ cursor: pointer; color: #37474f; }}
ol.trace {{ margin: .3rem 0; padding-left: 1.6rem; }}
ol.trace .step {{ font-weight: 600; }}
.legend mark {{ margin-right: .8rem; }}
.empty {{ color: #607d8b; font-style: italic; }}
"""


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    coded: bool
    label: str


def render_page(documents: Sequence[str], title: str = "medcode audit report") -> str:
    """A complete HTML page around the rendered documents (see `render_document`)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(title)}</h1>",
            '<p class="legend"><mark class="coded">reported code</mark>'
            '<mark class="excluded">candidate not reported</mark></p>',
            *documents,
            "</body>",
            "</html>",
            "",
        ]
    )


def render_document(
    result: CodingResult,
    text: str,
    *,
    anchor: str = "d1",
    describe: Callable[[str], str | None] = lambda code: None,
) -> str:
    """One `<section>` for one coded note. `anchor` prefixes the element ids (unique per page);
    `describe` gives the title of an excluded code (the result only names it)."""
    parts = [
        f'<section class="document" id="{escape(anchor)}">',
        f"<h2>{escape(result.document)}</h2>",
        f'<p class="meta">setting: {escape(result.setting)} · FY{result.fy} · '
        f"{len(result.codes)} code(s), {len(result.excluded)} not reported</p>",
        "<h3>Note</h3>",
        f'<pre class="note">{highlight(text, result, anchor)}</pre>',
        "<h3>Codes, in sequence</h3>",
        _codes(result, anchor),
        "<h3>Candidates not reported</h3>",
        _excluded(result, anchor, describe),
        "<h3>Claim</h3>",
        _claim(result),
        "<h3>Provider queries, by what they could change on the claim</h3>",
        _queries(result),
        "<h3>Edits</h3>",
        _edits(result),
        "<h3>Versions</h3>",
        _versions(result),
        "</section>",
    ]
    return "\n".join(parts)


def highlight(text: str, result: CodingResult, anchor: str = "d1") -> str:
    """The escaped note with every evidence span in a `<mark>`: class "coded" for the words of
    reported codes, "excluded" for those of rejected candidates only. Overlapping spans are cut
    at every boundary, so each mark's data-start/data-end are its exact offsets in the note."""
    spans = [_Span(e.start, e.end, True, c.code) for c in result.codes for e in c.evidence] + [
        _Span(e.start, e.end, False, x.code) for x in result.excluded for e in x.evidence
    ]
    spans = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    bounds = sorted({0, len(text)} | {s.start for s in spans} | {s.end for s in spans})
    starts: dict[int, list[_Span]] = {}
    for s in spans:
        starts.setdefault(s.start, []).append(s)
    active: list[_Span] = []
    out: list[str] = []
    for a, b in pairwise(bounds):
        active = [s for s in active if s.end > a] + starts.get(a, [])
        piece = escape(text[a:b])
        if not active:
            out.append(piece)
            continue
        coded = any(s.coded for s in active)
        labels = _unique(s.label for s in active if s.coded == coded)
        ids = f' id="{anchor}-ev-{a}"' if a in starts else ""
        out.append(
            f'<mark class="{"coded" if coded else "excluded"}"{ids} data-start="{a}" '
            f'data-end="{b}" data-codes="{escape(" ".join(labels))}">{piece}</mark>'
        )
    return "".join(out)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _evidence_links(evidence: Sequence[Evidence], anchor: str) -> str:
    return "<br>".join(
        f'<a href="#{anchor}-ev-{e.start}">“{escape(e.text)}”</a> '
        f"<small>[{e.start}:{e.end}] {escape(e.section or '-')}, {escape(e.assertion)}</small>"
        for e in evidence
    )


def _trace(trace: Sequence[dict[str, Any]], open_: bool = False) -> str:
    steps = "".join(
        f'<li><span class="step">{escape(str(step.get("step", "?")))}</span> '
        + escape(", ".join(f"{k}: {_value(v)}" for k, v in step.items() if k != "step"))
        + "</li>"
        for step in trace
    )
    return (
        f"<details{' open' if open_ else ''}><summary>trace: {len(trace)} step(s)</summary>"
        f'<ol class="trace">{steps}</ol></details>'
    )


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _codes(result: CodingResult, anchor: str) -> str:
    if not result.codes:
        return '<p class="empty">No code reported.</p>'
    rows = "".join(
        f'<tr id="{anchor}-code-{escape(c.code)}"><td>{c.sequence}</td>'
        f"<td><code>{escape(c.code)}</code></td><td>{escape(c.description)}</td>"
        f'<td><span class="confidence confidence-{escape(c.confidence)}">'
        f"{escape(c.confidence)}</span></td>"
        f"<td>{_evidence_links(c.evidence, anchor)}{_trace(c.trace)}</td></tr>"
        for c in result.codes
    )
    return (
        '<table class="codes"><thead><tr><th>#</th><th>Code</th><th>Description</th>'
        f"<th>Confidence</th><th>Evidence and trace</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _excluded(result: CodingResult, anchor: str, describe: Callable[[str], str | None]) -> str:
    if not result.excluded:
        return '<p class="empty">No candidate was rejected.</p>'
    rows = "".join(
        f"<tr><td><code>{escape(x.code)}</code></td><td>{escape(describe(x.code) or '')}</td>"
        f"<td>{escape(x.reason)}</td>"
        f"<td>{_evidence_links(x.evidence, anchor)}{_trace(x.trace)}</td></tr>"
        for x in result.excluded
    )
    return (
        '<table class="excluded"><thead><tr><th>Code</th><th>Description</th><th>Reason</th>'
        f"<th>Evidence and trace</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _queries(result: CodingResult) -> str:
    if not result.queries:
        return '<p class="empty">No query.</p>'
    items = "".join(
        f"<li><code>{escape(q.code)}</code> missing <b>{escape(q.missing)}</b>: "
        f"{escape(q.question)}{_impact(q.impact)}</li>"
        for q in result.queries
    )
    return f'<ul class="queries">{items}</ul>'


def _impact(impact: dict[str, Any] | None) -> str:
    if impact is None:
        return ""
    change = impact["change"] or "no change on the claim"
    return f'<br><span class="impact">Impact: {escape(change)}</span>'


def _claim(result: CodingResult) -> str:
    """What the codes group to, the patient they were grouped for, and per code its CC/MCC,
    POA and HCCs (docs/CLAIMS.md)."""
    claim = result.claim
    if claim is None:
        return '<p class="empty">No claim (no code).</p>'
    if (drg := claim["drg"]) is not None:
        head = (
            f"MS-DRG <b>{drg['drg']}</b> {escape(drg['description'])} · MDC {drg['mdc']} · "
            f"severity {escape(drg['severity'])}"
        )
    elif (hcc := claim["hcc"]) is not None:
        head = f"RAF <b>{hcc['risk_score']:.3f}</b> · {escape(hcc['model'])}"
    else:
        head = "not grouped"
    head += f" · grouper v{claim['grouper_version']}, FY{claim['fy']}"
    patient = claim["patient"]
    who = " · ".join(
        f"{name.replace('_', ' ')} {escape(str(patient[name]))} "
        f"<small>({escape(patient['sources'][name])})</small>"
        for name in ("age", "sex", "discharge_status")
    )
    rows = "".join(
        f"<tr><td><code>{escape(line['code'])}</code></td><td>{escape(line['role'])}</td>"
        f"<td>{escape(line['cc_mcc'] or '')}</td><td>{escape(line['poa'] or '')}</td>"
        f"<td>{escape(', '.join(line['hccs']))}</td></tr>"
        for line in claim["lines"]
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in claim["notes"])
    return (
        f'<p class="claim">{head}</p><p class="patient">{who}</p>'
        '<table class="claim-lines"><thead><tr><th>Code</th><th>Role</th><th>CC/MCC</th>'
        f"<th>POA</th><th>HCC</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )


def _edits(result: CodingResult) -> str:
    if not result.edits:
        return '<p class="empty">No edit.</p>'
    items = "".join(
        f"<li>{escape(e.severity)} <code>{escape(e.rule)}</code> "
        f"({escape(', '.join(e.codes))}): {escape(e.message)} <small>{escape(e.source)}</small>"
        "</li>"
        for e in result.edits
    )
    return f'<ul class="edits">{items}</ul>'


def _versions(result: CodingResult) -> str:
    rows = list(result.versions.items())
    if result.input is not None:
        rows += [("input sha256", result.input.sha256), ("input chars", str(result.input.chars))]
    cells = "".join(
        f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in rows
    )
    return f'<table class="versions">{cells}</table>'


__all__ = ["CODED_COLOUR", "EXCLUDED_COLOUR", "highlight", "render_document", "render_page"]
