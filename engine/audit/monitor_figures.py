"""The monitoring report's figures and page: matplotlib bar charts written as inline SVG (text
kept as text, no external asset), each with a JSON twin (the data it draws), in one HTML file
that works offline. Numbers come from `monitor.build_report`.

matplotlib is the `report` extra; `MissingPlotting` says how to install it.
"""

from __future__ import annotations

import io
import re
from html import escape
from typing import Any

from .monitor import DISTRIBUTIONS, RATES

# Categories drawn per figure (most frequent first); the JSON report keeps every count.
SHOWN = 15
CURRENT, BASELINE = "current", "baseline"
COLOURS = {CURRENT: "#1565c0", BASELINE: "#9e9e9e"}
FLAG_COLOUR = "#c62828"
_LABEL = 48  # characters of a category name on an axis
_CHAR_WIDTH = 0.0085  # of the figure's width, one character of an 8 pt label (7.5 in wide)
RATE_TITLES = {key: f"{what} / {of}" for key, what, of in RATES}


class MissingPlotting(RuntimeError):
    """matplotlib is not installed."""


def require_plotting() -> Any:
    """matplotlib's Figure class; MissingPlotting (with the pip command) without it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingPlotting("the report needs matplotlib: pip install 'medcode[report]'") from exc
    return Figure


def add_figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Draw every figure of `report`; store their JSON twins under report["figures"] and
    return the figures (twin + "svg")."""
    figure_class = require_plotting()
    figures = [_draw(figure_class, spec) for spec in figure_specs(report)]
    report["figures"] = [{k: v for k, v in f.items() if k != "svg"} for f in figures]
    return figures


def figure_specs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The data of every figure (the JSON twins), in page order."""
    current, baseline = report["measures"], report.get("baseline_measures")
    specs = [_rates_spec(current, baseline)]
    for key, title in DISTRIBUTIONS:
        specs.append(_distribution_spec(key, title, current, baseline))
    if baseline is not None:
        specs.append(_drift_spec(report))
    for dimension, groups in report["breakdowns"].items():
        specs.append(_breakdown_spec(dimension, groups))
    return specs


def _rates_spec(current: dict, baseline: dict | None) -> dict[str, Any]:
    keys = [key for key, _, _ in RATES]
    series = {CURRENT: [current["rates"][k]["rate"] for k in keys]}
    if baseline is not None:
        series[BASELINE] = [baseline["rates"][k]["rate"] for k in keys]
    return {
        "id": "rates",
        "title": "Rates (share of what each counts)",
        "unit": "share",
        "categories": keys,
        "series": series,
    }


def _distribution_spec(key: str, title: str, current: dict, baseline: dict | None) -> dict:
    counts_c = current["distributions"][key]
    counts_b = baseline["distributions"][key] if baseline else {}
    merged: dict[str, int] = {}
    for counts in (counts_c, counts_b):
        for name, n in counts.items():
            merged[name] = merged.get(name, 0) + n
    shown = sorted(merged, key=lambda k: (-merged[k], k))[:SHOWN]
    series = {CURRENT: _shares(counts_c, shown)}
    counts = {CURRENT: [counts_c.get(k, 0) for k in shown]}
    if baseline is not None:
        series[BASELINE] = _shares(counts_b, shown)
        counts[BASELINE] = [counts_b.get(k, 0) for k in shown]
    return {
        "id": key,
        "title": title[0].upper() + title[1:],
        "unit": "share",
        "categories": shown,
        "series": series,
        "counts": counts,
        "shown": len(shown),
        "total_categories": len(merged),
    }


def _drift_spec(report: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in report["drift"] if r["group"] is None and r["statistic"] == "psi"]
    return {
        "id": "drift",
        "title": "Drift against the baseline: PSI per distribution",
        "unit": "psi",
        "categories": [r["measure"] for r in rows],
        "series": {CURRENT: [r["value"] for r in rows]},
        "flags": [r["flag"] for r in rows],
        "threshold": report["thresholds"]["psi"],
    }


def _breakdown_spec(dimension: str, groups: dict[str, dict]) -> dict[str, Any]:
    shown = sorted(groups, key=lambda g: (-groups[g]["documents"], g))[:SHOWN]
    keys = ["unspecified_rate", "query_rate", "review_share", "error_edit_rate"]
    return {
        "id": f"by_{dimension}",
        "title": f"Rates by {dimension}",
        "unit": "share",
        "categories": shown,
        "series": {k: [groups[g]["rates"][k]["rate"] for g in shown] for k in keys},
        "documents": [groups[g]["documents"] for g in shown],
        "shown": len(shown),
        "total_categories": len(groups),
    }


def _shares(counts: dict[str, int], keys: list[str]) -> list[float]:
    total = sum(counts.values())
    return [round(counts.get(k, 0) / total, 6) if total else 0.0 for k in keys]


def _draw(figure_class: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """A horizontal grouped bar chart of `spec` as SVG text."""
    import matplotlib

    categories = spec["categories"]
    series = spec["series"]
    rows = max(len(categories), 1)
    fig = figure_class(figsize=(7.5, 1.2 + 0.32 * rows * max(len(series), 1) ** 0.5))
    ax = fig.add_subplot()
    if not categories:
        ax.text(0.5, 0.5, "none in these results", ha="center", va="center", color="#607d8b")
        ax.set_axis_off()
    else:
        height = 0.8 / len(series)
        palette = matplotlib.colormaps["tab10"]
        for i, (name, values) in enumerate(series.items()):
            colour = COLOURS.get(name, palette(i))
            positions = [r + (i - (len(series) - 1) / 2) * height for r in range(len(categories))]
            bars = ax.barh(
                positions, [v or 0 for v in values], height=height, label=name, color=colour
            )
            if "flags" in spec:
                for bar, flagged in zip(bars, spec["flags"], strict=True):
                    bar.set_color(FLAG_COLOUR if flagged else colour)
        ax.set_yticks(range(len(categories)), [_short(c) for c in categories], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("PSI" if spec["unit"] == "psi" else "share")
        if "threshold" in spec:
            ax.axvline(spec["threshold"], color=FLAG_COLOUR, linestyle="--", linewidth=1)
        if len(series) > 1:  # beside the axes, where it hides no bar
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        ax.grid(axis="x", color="#eceff1")
        ax.set_axisbelow(True)
    ax.set_title(spec["title"].replace("$", r"\$"), fontsize=10, loc="left")
    # Margins set from the labels' length rather than by tight_layout, which draws each figure
    # once more (a third of the report's time on 10,000 results)
    longest = max((len(_short(c)) for c in categories), default=0)
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=min(0.6, 0.05 + longest * _CHAR_WIDTH),
        right=0.8 if len(series) > 1 else 0.97,
        bottom=0.55 / height,
        top=1 - 0.35 / height,
    )
    buffer = io.StringIO()
    # Text stays text (small, selectable); the salt keeps each figure's ids apart on one page
    # and the same from run to run.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": spec["id"]}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return {**spec, "svg": _own_ids(svg[svg.index("<svg") :], spec["id"])}


def _own_ids(svg: str, prefix: str) -> str:
    """Every id of one figure and each reference to it prefixed with the figure's id: matplotlib
    names the parts of every figure alike (figure_1, patch_1), and one page holds them all."""
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)


def _short(name: str) -> str:
    """A label that fits the axis; a closing "(I00-I99)" is kept (a chapter's range). A "$" is
    escaped: matplotlib would read "$...$" in a specialty's name as mathtext (and fail on some)."""
    if len(name) > _LABEL:
        tail = name[name.rindex(" (") :] if name.endswith(")") and " (" in name else ""
        tail = tail if len(tail) < _LABEL // 2 else ""
        name = name[: _LABEL - 1 - len(tail)].rstrip() + "\u2026" + tail
    return name.replace("$", r"\$")


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 64rem;
  padding: 0 1rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.2rem; border-bottom: 2px solid #37474f; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { border: 1px solid #cfd8dc; padding: .25rem .5rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eceff1; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
.flag { color: #c62828; font-weight: 600; } .ok { color: #2e7d32; }
.meta { color: #455a64; }
"""


def render_html(report: dict[str, Any], figures: list[dict[str, Any]]) -> str:
    """The page: inputs, flags, drift table, figures, breakdown tables. Self-contained."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>medcode monitoring report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>medcode monitoring report</h1>",
        _inputs(report),
        _flags(report),
        _drift_table(report),
        "<h2>Figures</h2>",
    ]
    for number, figure in enumerate(figures, start=1):
        parts.append(
            f'<figure class="plot" id="figure-{escape(figure["id"])}">{figure["svg"]}'
            f"<figcaption>Figure {number}: {escape(figure['title'])}; its data: "
            f"figures[{number - 1}] (id {escape(figure['id'])}) of the JSON report</figcaption>"
            "</figure>"
        )
    parts.append(_breakdowns(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _inputs(report: dict[str, Any]) -> str:
    rows = []
    for name in ("input", "baseline"):
        data = report.get(name)
        if not data:
            continue
        skipped = data["skipped"]
        lines = ", ".join(map(str, skipped["first_lines"]))
        rows.append(
            f"<tr><th>{name}</th><td>{escape(data['path'])}</td>"
            f'<td class="n">{data["lines"]}</td><td class="n">{data["documents"]}</td>'
            f'<td class="n">{data["errors"]}</td><td class="n">{skipped["count"]}'
            f"{f' (lines {lines})' if lines else ''}</td></tr>"
        )
    head = "<tr><th></th><th>file</th><th>lines</th><th>documents</th><th>errors</th>"
    head += "<th>torn or foreign lines skipped</th></tr>"
    return f"<h2>Inputs</h2><table>{head}{''.join(rows)}</table>"


def _flags(report: dict[str, Any]) -> str:
    if report.get("baseline") is None:
        return '<p class="meta">No baseline: no drift statistics.</p>'
    if not report["flags"]:
        return '<h2>Drift flags</h2><p class="ok">No measure drifted past its threshold.</p>'
    items = "".join(f'<li class="flag">{escape(f)}</li>' for f in report["flags"])
    return f"<h2>Drift flags ({len(report['flags'])})</h2><ul>{items}</ul>"


def _drift_table(report: dict[str, Any]) -> str:
    rows = [r for r in report["drift"] if r["group"] is None]
    if not rows:
        return ""
    t = report["thresholds"]
    out = [
        f'<p class="meta">Thresholds: PSI &gt; {t["psi"]} with at least {t["min_n"]:g} items on '
        f"each side; a rate with chi-square p &lt; {t['p']} that moved by at least "
        f"{t['min_change']:.0%}. The same statistics for each group: see the flags and the JSON "
        "report.</p>",
        "<table><tr><th>measure</th><th>statistic</th><th>value</th><th>p</th>"
        "<th>baseline</th><th>current</th><th>flag</th></tr>",
    ]
    for r in rows:
        out.append(
            f"<tr><td>{escape(r['measure'])}</td><td>{r['statistic']}</td>"
            f'<td class="n">{_num(r["value"])}</td><td class="n">{_num(r.get("p"))}</td>'
            f'<td class="n">{_pct(r.get("baseline"))}</td><td class="n">{_pct(r.get("current"))}'
            f"</td><td>{'<span class=flag>FLAG</span>' if r['flag'] else r.get('band', '')}</td>"
            "</tr>"
        )
    out.append("</table>")
    return "".join(out)


def _breakdowns(report: dict[str, Any]) -> str:
    out = ["<h2>Breakdowns</h2>"]
    keys = [key for key, _, _ in RATES]
    for dimension, groups in report["breakdowns"].items():
        out.append(f"<h3>By {escape(dimension)}</h3><table><tr><th>{escape(dimension)}</th>")
        out.append("<th>documents</th><th>codes / document</th>")
        out.extend(f"<th>{escape(RATE_TITLES[k])}</th>" for k in keys)
        out.append("</tr>")
        for value, m in groups.items():
            cells = "".join(f'<td class="n">{_pct(m["rates"][k]["rate"])}</td>' for k in keys)
            out.append(
                f'<tr><td>{escape(value)}</td><td class="n">{m["documents"]}</td>'
                f'<td class="n">{_num(m["codes_per_document"])}</td>{cells}</tr>'
            )
        out.append("</table>")
    return "".join(out)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def svg_count(html: str) -> int:
    """The inline SVG figures of a page (the tests and the browser check count them)."""
    return len(re.findall(r'<figure class="plot"[^>]*><svg', html))
