"""`medcode report`: the monitoring report's measures, breakdowns and drift statistics on small
synthetic result files (values worked out by hand), torn and foreign lines, bad input, the page
in a headless browser, and CodiEsp against MTSamples (skipped without ../shared/data)."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medcode.engine.audit.monitor import chapter_lookup, read_population
from medcode.engine.audit.monitor_figures import svg_count
from medcode.engine.audit.monitor_report import build_report
from medcode.engine.audit.monitor_stats import Thresholds, chi_square_2x2, psi, psi_band
from medcode.engine.interfaces.cli import main
from medcode.terminology import CodeSet
from tests.conftest import SHARED_DATA
from tests.test_report_html import _chromium, _png_pixels

pytest.importorskip("matplotlib", reason="the report extra: pip install 'medcode[report]'")

NEGATED = "A negated condition is not coded (I.A; IV.A)"
TITLES = {
    "I10": "Essential (primary) hypertension",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "I50.9": "Heart failure, unspecified",
    "G43.909": "Migraine, unspecified, not intractable, without status migrainosus",
}
CIRCULATORY = "9 Diseases of the circulatory system (I00-I99)"


def result(
    document: str,
    codes: list[tuple[str, str]] = (),
    *,
    setting: str = "outpatient",
    queries: tuple[str, ...] = (),
    edits: tuple[tuple[str, str], ...] = (),
    excluded: tuple[str, ...] = (),
    llm: tuple[str, ...] = (),
    metadata: dict | None = None,
) -> dict:
    """A result line shaped as `medcode code --format json` prints it (evidence trimmed)."""
    evidence = [{"start": 0, "end": 1, "text": "x", "section": None, "assertion": "affirmed"}]
    trace = [{"step": "match", "term": "x", "node": "x", "source": "test", "alternatives": []}]
    line = {
        "document": document,
        "fy": 2026,
        "setting": setting,
        "codes": [
            {
                "code": code,
                "description": TITLES[code],
                "sequence": i,
                "confidence": confidence,
                "evidence": evidence,
                "trace": trace + [{"step": "llm", "status": s} for s in (llm if i == 1 else ())],
            }
            for i, (code, confidence) in enumerate(codes, start=1)
        ],
        "excluded": [
            {"code": "R31.9", "reason": r, "evidence": evidence, "trace": trace} for r in excluded
        ],
        "edits": [
            {"rule": r, "severity": s, "codes": [], "message": "m", "source": "rules/x:1"}
            for r, s in edits
        ],
        "queries": [
            {"code": "I50.9", "missing": m, "question": "?", "evidence": []} for m in queries
        ],
        "versions": {"engine": "0.1.0", "code_set": "FY2026 0123456789abcdef", "rules": "0" * 64},
    }
    if metadata:
        line["metadata"] = metadata
    return line


def write(path: Path, lines: list[dict | str]) -> Path:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def small_current(tmp_path: Path) -> Path:
    cardiology = {"specialty": "cardiology", "note_type": "progress"}
    return write(
        tmp_path / "current.jsonl",
        [
            result("a1", [("I10", "high"), ("E11.9", "medium")], excluded=(NEGATED,),
                   metadata=cardiology),
            result(
                "a2",
                [("I50.9", "low")],
                queries=("type",),
                edits=(("llm-needs-review", "warning"),),
                llm=("timeout",),
                metadata=cardiology,
            ),
            result(
                "a3",
                [("G43.909", "medium")],
                setting="inpatient",
                excluded=("Urinary symptoms integral to the diagnosis: N13.30 (I.B.5)",),
                metadata={"specialty": "neurology"},
            ),
            {"document": "a4", "error": "binary", "input": {"sha256": "0" * 64},
             "metadata": {"specialty": "neurology"}},
            '{"document": "a5", "codes": [',  # torn: the writer was killed mid-line
            "[1, 2]",
            '{"hello": 1}',
        ],
    )  # fmt: skip


def test_psi_of_a_tiny_case_is_a_quarter_of_ln_3() -> None:
    # shares a 1/4, b 3/4 against 1/2, 1/2: (-1/4) ln(1/2) + (1/4) ln(3/2) = ln(3) / 4
    assert psi({"a": 1, "b": 3}, {"a": 1, "b": 1}) == pytest.approx(math.log(3) / 4, abs=1e-12)
    assert psi({"a": 5}, {"a": 2}) == 0.0
    # a category on one side only: its 0 share counts as 0.0001
    assert psi({"a": 1}, {"b": 1}) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4), abs=1e-12)
    assert psi({}, {"a": 1}) is None


def test_psi_bands_and_the_minimum_sample() -> None:
    t = Thresholds()
    assert [psi_band(v, t, 30) for v in (0.05, 0.1, 0.2, 0.21, None)] == [
        "stable", "moderate", "moderate", "shift", "n/a",
    ]  # fmt: skip
    assert psi_band(5.0, t, 29) == "too few"  # 29 items on the smaller side: never a flag


def test_chi_square_of_two_proportions() -> None:
    # 10/20 against 5/20: expected 7.5 and 12.5 in each row; (2.5^2/7.5 + 2.5^2/12.5) * 2 = 8/3
    test = chi_square_2x2(10, 20, 5, 20)
    assert test.statistic == pytest.approx(8 / 3, abs=1e-12)
    assert test.p == pytest.approx(0.10247043485974947, abs=1e-12)  # erfc(sqrt(4/3))
    assert chi_square_2x2(0, 20, 0, 30) is None  # no hits anywhere: undefined
    assert chi_square_2x2(1, 0, 1, 3) is None


def test_measures_of_a_small_file(tmp_path: Path, codeset: CodeSet) -> None:
    population = read_population(small_current(tmp_path), chapter_lookup(codeset))
    assert population.lines == 7
    assert population.skipped.to_json() == {"count": 3, "first_lines": [5, 6, 7]}
    m = population.overall.to_json()
    assert (m["documents"], m["errors"], m["codes"], m["llm_consultations"]) == (3, 1, 4, 1)
    assert m["codes_per_document"] == pytest.approx(1.333333)
    rates = {k: (v["count"], v["of"]) for k, v in m["rates"].items()}
    assert rates == {
        "error_rate": (1, 4),
        "unspecified_rate": (2, 4),  # I50.9 and G43.909 say "unspecified"; E11.9 does not
        "query_rate": (1, 3),
        "review_share": (1, 3),  # a2: a low-confidence code and an llm-needs-review edit
        "llm_rate": (1, 3),
        "error_edit_rate": (0, 3),
    }
    d = m["distributions"]
    assert d["chapters"] == {
        CIRCULATORY: 2,
        "4 Endocrine, nutritional and metabolic diseases (E00-E89)": 1,
        "6 Diseases of the nervous system (G00-G99)": 1,
    }
    assert d["confidence"] == {"medium": 2, "high": 1, "low": 1}
    assert d["missing_axes"] == {"type": 1}
    assert d["llm_status"] == {"timeout": 1}
    assert d["edits_by_rule"] == {"llm-needs-review": 1}
    assert d["excluded_by_reason"] == {
        NEGATED: 1,
        "Urinary symptoms integral to the diagnosis: <code> (I.B.5)": 1,
    }
    assert d["setting"] == {"outpatient": 2, "inpatient": 1}


def test_spark_parquet_output_is_read_by_its_result_json_column(
    tmp_path: Path, codeset: CodeSet, capsys: pytest.CaptureFixture[str]
) -> None:
    """`medcode spark`'s output, a folder of part files: a document's JSON on its first row,
    null on the other rows of its codes; the same tally as the JSONL of the same lines."""
    parquet = pytest.importorskip("pyarrow.parquet")
    pyarrow = pytest.importorskip("pyarrow")
    lines = small_current(tmp_path).read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "coded"
    folder.mkdir()
    for part, chunk in enumerate((lines[:2], lines[2:])):
        values = [x for line in chunk for x in (line, None)]  # a second row per document
        table = pyarrow.table({"document": ["d"] * len(values), "result_json": values})
        parquet.write_table(table, folder / f"part-{part:05d}.parquet")
    jsonl = read_population(tmp_path / "current.jsonl", chapter_lookup(codeset))
    spark = read_population(folder, chapter_lookup(codeset))
    assert spark.overall.to_json() == jsonl.overall.to_json()
    assert spark.skipped.to_json() == {"count": 3, "first_lines": [5, 6, 7]}
    # a folder that is not medcode spark's output: one line, exit 2
    other = tmp_path / "other"
    other.mkdir()
    parquet.write_table(pyarrow.table({"code": ["I10"]}), other / "part-0.parquet")
    assert main(["report", str(other), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medcode report: {other}: not medcode spark's Parquet output")
    assert len(err.splitlines()) == 1


def test_every_measure_is_broken_down_by_setting_and_metadata(
    tmp_path: Path, codeset: CodeSet
) -> None:
    population = read_population(small_current(tmp_path), chapter_lookup(codeset))
    report = build_report(population, None, Thresholds())
    groups = report["breakdowns"]
    assert list(groups) == ["setting", "specialty", "note_type"]
    assert {v: g["documents"] for v, g in groups["setting"].items()} == {
        "inpatient": 1,
        "outpatient": 2,
    }
    neurology = groups["specialty"]["neurology"]
    assert (neurology["documents"], neurology["errors"]) == (1, 1)
    assert neurology["rates"]["error_rate"] == {"count": 1, "of": 2, "rate": 0.5}
    assert neurology["distributions"]["chapters"] == {
        "6 Diseases of the nervous system (G00-G99)": 1
    }
    cardiology = groups["specialty"]["cardiology"]
    assert cardiology["rates"]["unspecified_rate"] == {"count": 1, "of": 3, "rate": 0.333333}
    assert cardiology["distributions"]["confidence"] == {"high": 1, "low": 1, "medium": 1}
    # a3 has no note type, nor has the error line
    assert {v: (g["documents"], g["errors"]) for v, g in groups["note_type"].items()} == {
        "(none)": (1, 1),
        "progress": (2, 0),
    }
    assert report["drift"] == [] and report["flags"] == []
    assert report["baseline"] is report["baseline_breakdowns"] is None


def drift_files(tmp_path: Path) -> tuple[Path, Path]:
    """Current: 100 documents, half with a query, all I10; baseline: 100, a fifth with a query,
    half I10 and half E11.9."""
    current = [
        result(
            f"c{i}", [("I10", "high")], queries=("type",) * (i < 50), metadata={"specialty": "a"}
        )
        for i in range(100)
    ]
    baseline = [
        result(
            f"b{i}",
            [("I10" if i % 2 else "E11.9", "high")],
            queries=("type",) * (i < 20),
            metadata={"specialty": "a"},
        )
        for i in range(100)
    ]
    return write(tmp_path / "now.jsonl", current), write(tmp_path / "then.jsonl", baseline)


def test_drift_flags_a_shifted_distribution_and_a_moved_rate(tmp_path: Path) -> None:
    now, then = drift_files(tmp_path)
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    status = main(
        ["report", str(now), "--baseline", str(then), "-o", str(out), "--json", str(data)]
    )
    assert status == 0
    report = json.loads(data.read_text(encoding="utf-8"))
    overall = {r["measure"]: r for r in report["drift"] if r["group"] is None}
    # chapters: 100% circulatory against 50/50 circulatory and endocrine
    # (1 - .5) ln(1 / .5) + (.0001 - .5) ln(.0001 / .5)
    chapters = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert overall["chapters"]["value"] == pytest.approx(chapters, abs=1e-6)
    assert overall["chapters"]["flag"] is True
    # queries 50/100 against 20/100: expected 35 and 65 a row; 15^2 (2/35 + 2/65) = 19.78022
    query = overall["query_rate"]
    assert (query["value"], query["p"], query["change"]) == (19.78022, 8.68771e-06, 0.3)
    assert query["flag"] is True
    assert overall["confidence"]["value"] == 0.0 and overall["confidence"]["flag"] is False
    assert overall["unspecified_rate"]["value"] is None  # no unspecified code on either side
    assert report["flags"][:3] == [
        "chapters: PSI 4.604",
        "codes: PSI 4.604",
        "query_rate: 20.0% -> 50.0% (chi-square 19.78, p 8.7e-06)",
    ]
    # the same statistics again for each group both files have
    grouped = {
        (r["group"]["dimension"], r["group"]["value"]) for r in report["drift"] if r["group"]
    }
    assert grouped == {("setting", "outpatient"), ("specialty", "a")}
    assert report["baseline_breakdowns"]["specialty"]["a"]["rates"]["query_rate"] == {
        "count": 20, "of": 100, "rate": 0.2,
    }  # fmt: skip
    assert overall["chapters"]["n"] == [100, 100]
    # a stricter p and a larger minimum change silence the rate's flag; a minimum sample above
    # 100 codes a side, the PSI flags
    status = main(
        ["report", str(now), "--baseline", str(then), "-o", str(out), "--json", str(data),
         "--threshold", "p=1e-6", "--threshold", "min-change=0.4", "--threshold", "min-n=101"]
    )  # fmt: skip
    assert status == 0
    report = json.loads(data.read_text(encoding="utf-8"))
    assert report["flags"] == []
    assert report["thresholds"] == {"psi": 0.2, "p": 1e-6, "min_change": 0.4, "min_n": 101}
    assert {r["band"] for r in report["drift"] if r["measure"] == "chapters"} == {"too few"}


def test_torn_and_foreign_lines_are_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["report", str(small_current(tmp_path)), "-o", str(out), "--json", str(data)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("current.jsonl: skipped 3 torn or foreign lines (first: line 5, 6, 7)")
    assert err[1].startswith("medcode report: 3 documents, 1 errors; wrote ")
    report = json.loads(data.read_text(encoding="utf-8"))
    assert report["input"]["skipped"] == {"count": 3, "first_lines": [5, 6, 7]}
    assert "(lines 5, 6, 7)" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no result lines to report on (no lines)"),
        ("\n\n", "no result lines to report on (no lines)"),
        (
            '{"document": "x", "codes": [\n[]\n',
            "no result lines to report on (2 torn or foreign lines)",
        ),
    ],
)
def test_an_input_without_results_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err == f"medcode report: {path}: {message}\n"
    assert not (tmp_path / "r.html").exists()


def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = small_current(tmp_path)
    assert main(["report", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err.endswith("absent.jsonl: No such file or directory\n")
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--threshold", "x=1"]) == 2
    assert (
        "expected NAME=VALUE with NAME one of psi, p, min-change, min-n" in capsys.readouterr().err
    )
    assert main(["report", str(path), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 2  # the skipped lines, then the error


def test_without_matplotlib_the_report_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    assert main(["report", str(small_current(tmp_path)), "-o", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err == (
        "medcode report: the report needs matplotlib: pip install 'medcode[report]'\n"
    )


def test_the_page_is_self_contained_and_the_json_twins_match_the_figures(tmp_path: Path) -> None:
    now, then = drift_files(tmp_path)
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    assert (
        main(["report", str(now), "--baseline", str(then), "-o", str(out), "--json", str(data)])
        == 0
    )
    page = out.read_text(encoding="utf-8")
    report = json.loads(data.read_text(encoding="utf-8"))
    ids = [f["id"] for f in report["figures"]]
    assert ids == [
        "rates", "chapters", "codes", "confidence", "missing_axes", "edits_by_rule",
        "excluded_by_reason", "llm_status", "setting", "drift", "by_setting", "by_specialty",
    ]  # fmt: skip
    assert svg_count(page) == len(ids) == page.count("<svg")
    # nothing fetched: no script, stylesheet link, font or image by URL; url() only names
    # ids of the page, and no two figures share one
    for marker in ("<script", "<link", "<img", "@import", 'href="http'):
        assert marker not in page
    assert not re.search(r"url\((?!#)", page)
    ids_on_page = re.findall(r' id="([^"]+)"', page)
    assert len(ids_on_page) == len(set(ids_on_page)) > 100
    codes = report["figures"][ids.index("codes")]
    assert codes["categories"] == ["I10", "E11.9"]
    assert codes["series"] == {"current": [1.0, 0.0], "baseline": [0.5, 0.5]}
    assert codes["counts"] == {"current": [100, 0], "baseline": [50, 50]}


def test_headless_chromium_renders_every_figure(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium); the browser check is skipped")
    now, then = drift_files(tmp_path)
    page, data = tmp_path / "report.html", tmp_path / "report.json"
    args = ["report", str(now), "--baseline", str(then), "-o", str(page), "--json", str(data)]
    assert main(args) == 0
    html = page.read_text(encoding="utf-8")
    empty = {
        f"figure-{f['id']}" for f in json.loads(data.read_text())["figures"] if not f["categories"]
    }
    assert empty == {"figure-edits_by_rule", "figure-excluded_by_reason", "figure-llm_status"}
    # A copy with a probe: the size, the drawn paths and the text of each figure, as laid out
    probe = (
        "<script>document.body.dataset.rendered = JSON.stringify(Array.from("
        "document.querySelectorAll('figure.plot > svg'), s => [s.parentNode.id, "
        "Math.round(s.getBoundingClientRect().width), "
        "Math.round(s.getBoundingClientRect().height), "
        "Array.from(s.querySelectorAll('path')).filter(p => p.getBBox().width > 0).length, "
        "s.textContent.includes('none in these results')]))</script></body>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", probe), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", probed.as_uri()],
        capture_output=True, timeout=120, check=True, text=True,
    ).stdout  # fmt: skip
    rendered = json.loads(
        dom.split('data-rendered="', 1)[1].split('"', 1)[0].replace("&quot;", '"')
    )
    assert len(rendered) == svg_count(html) == 12
    for figure_id, width, height, drawn, says_none in rendered:
        assert width > 300 and height > 100, figure_id
        if figure_id in empty:
            assert says_none, figure_id
        else:
            assert drawn > 5, figure_id  # the axes, ticks and bars were laid out
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    blue = bytes.fromhex("1565c0")  # the current series' bars
    painted = sum(row[i : i + 3] == blue for row in rows for i in range(0, len(row), 3))
    assert painted > 2000


MTSAMPLES = SHARED_DATA / "mtsamples" / "mtsamples.csv"
CODIESP = SHARED_DATA / "codiesp-train" / "text_files_en"
SAMPLE = 20


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """SAMPLE CodiEsp case reports and SAMPLE MTSamples transcriptions, coded, as result files
    with a specialty and a note type, as batch writes them."""
    if not (MTSAMPLES.is_file() and CODIESP.is_dir()):
        pytest.skip("../shared/data (CodiEsp, MTSamples) is not here")
    from medcode.engine.coding.coder import Coder

    coder = Coder()
    folder = tmp_path_factory.mktemp("corpora")

    def coded(document: str, text: str, metadata: dict) -> dict:
        line = coder.code(text, document=document).with_input(text).to_json()
        return {**line, "metadata": metadata}

    reports = sorted(CODIESP.glob("*.txt"))[:SAMPLE]
    case = {"specialty": "case reports", "note_type": "case report"}
    codiesp = [coded(p.stem, p.read_text(encoding="utf-8"), case) for p in reports]
    with MTSAMPLES.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["transcription"].strip()]
    chosen = [r for r in rows if r["medical_specialty"].strip() == "Cardiovascular / Pulmonary"]
    mtsamples = [
        coded(
            f"mts-{r['note_id']}",
            r["transcription"],
            {"specialty": r["medical_specialty"].strip(), "note_type": "transcription"},
        )
        for r in chosen[:SAMPLE]
    ]
    return write(folder / "codiesp.jsonl", codiesp), write(folder / "mtsamples.jsonl", mtsamples)


def test_mtsamples_against_codiesp_shows_drift_flags(
    corpora: tuple[Path, Path], tmp_path: Path
) -> None:
    codiesp, mtsamples = corpora
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    args = ["report", str(mtsamples), "--baseline", str(codiesp), "-o", str(out)]
    assert main([*args, "--json", str(data)]) == 0
    report = json.loads(data.read_text(encoding="utf-8"))
    assert (report["input"]["documents"], report["baseline"]["documents"]) == (SAMPLE, SAMPLE)
    assert list(report["breakdowns"]["specialty"]) == ["Cardiovascular / Pulmonary"]
    assert list(report["breakdowns"]["note_type"]) == ["transcription"]
    flagged = {r["measure"] for r in report["drift"] if r["group"] is None and r["flag"]}
    # cardiology transcriptions against case reports of every specialty: other chapters, codes
    assert {"chapters", "codes"} <= flagged
    chapters = report["measures"]["distributions"]["chapters"]
    assert max(chapters, key=chapters.get) == CIRCULATORY
    assert report["flags"][0].startswith("chapters: PSI ")
    assert svg_count(out.read_text(encoding="utf-8")) == len(report["figures"]) == 13


def test_hostile_metadata_stays_text_on_the_page(tmp_path: Path) -> None:
    names = ["<script>alert(1)</script>", "$x^{$ costs", "a\u202eb"]
    lines = [
        result(f"d{i}", [("I10", "high")], metadata={"specialty": n, "note_type": "$$"})
        for i, n in enumerate(names)
    ]
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    args = ["report", str(write(tmp_path / "in.jsonl", lines)), "-o", str(out), "--json", str(data)]
    assert main(args) == 0
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "$x^{$ costs" in page  # drawn as written, not as mathtext
    report = json.loads(data.read_text(encoding="utf-8"))
    assert sorted(report["breakdowns"]["specialty"]) == sorted(names)
