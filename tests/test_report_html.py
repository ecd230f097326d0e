"""`medcode code --format html`: an escaped, self-contained audit report with the evidence
highlighted at its exact offsets; checked in a headless Chromium when one is installed."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from medcode.engine.audit.report_html import CODED_COLOUR, highlight, render_document, render_page
from medcode.engine.interfaces.cli import main
from medcode.engine.result import CodedCode, CodingResult, Evidence, ExcludedCode, Query

TEXT = 'No <script>alert("x")</script> & pneumonia.\nFever.'
# "pneumonia" is at 33:42, "Fever" at 44:49 (the assertion in `result` checks it)


def result(text: str = TEXT) -> CodingResult:
    pneumonia = Evidence(33, 42, "pneumonia", "assessment", "affirmed")
    fever = Evidence(44, 49, "Fever", None, "affirmed")
    assert (text[33:42], text[44:49]) == ("pneumonia", "Fever")
    return CodingResult(
        document="note <1>.txt",
        fy=2026,
        setting="inpatient",
        codes=(
            CodedCode(
                "J18.9",
                "Pneumonia, unspecified organism",
                1,
                "low",
                (pneumonia,),
                (
                    {"step": "match", "term": "pneumonia", "node": "J18", "alternatives": []},
                    {"step": "sequence", "position": 1},
                ),
            ),
        ),
        excluded=(
            ExcludedCode(
                "R50.9",
                "integral to J18.9 (I.B.5)",
                (fever,),
                ({"step": "rule", "rule": "integral-symptoms", "after": None},),
            ),
        ),
        queries=(Query("J18.9", "organism", "Please document the <organism>.", (pneumonia,)),),
        versions={"engine": "0.1.0", "code_set": "FY2026 0123456789abcdef", "rules": "ab" * 32},
    ).with_input(text)


def test_highlight_escapes_the_note_and_marks_exact_offsets() -> None:
    assert highlight(TEXT, result()) == (
        "No &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
        '<mark class="coded" id="d1-ev-33" data-start="33" data-end="42" data-codes="J18.9">'
        "pneumonia</mark>.\n"
        '<mark class="excluded" id="d1-ev-44" data-start="44" data-end="49" data-codes="R50.9">'
        "Fever</mark>."
    )


def test_overlapping_spans_are_cut_at_each_boundary_and_coded_wins() -> None:
    text = "acute on chronic heart failure"
    evidence = (Evidence(9, 30, text[9:30], None, "affirmed"),)
    coded = CodedCode("I50.9", "Heart failure", 1, "medium", evidence, ({"step": "match"},))
    other = ExcludedCode("I50.23", "test", (Evidence(0, 16, text[0:16], None, "affirmed"),), ())
    both = CodingResult("t", 2026, "inpatient", (coded,), (other,))
    assert highlight(text, both, "n") == (
        '<mark class="excluded" id="n-ev-0" data-start="0" data-end="9" data-codes="I50.23">'
        "acute on </mark>"
        '<mark class="coded" id="n-ev-9" data-start="9" data-end="16" data-codes="I50.9">'
        "chronic</mark>"
        '<mark class="coded" data-start="16" data-end="30" data-codes="I50.9">'
        " heart failure</mark>"
    )


class _Page(HTMLParser):
    """Tags, marks with their text, and every external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.marks: list[tuple[dict[str, str | None], str]] = []
        self.refs: list[str] = []
        self._mark: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href") and (v or "#")[0] != "#"]
        if tag == "mark" and "data-start" in dict(attrs):
            self._mark, self._text = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark" and self._mark is not None:
            self.marks.append((self._mark, "".join(self._text)))
            self._mark = None

    def handle_data(self, data: str) -> None:
        if self._mark is not None:
            self._text.append(data)


def test_page_is_self_contained_and_lists_every_part() -> None:
    page = render_page(
        [render_document(result(), TEXT, describe={"R50.9": "Fever, unspecified"}.get)]
    )
    parsed = _Page()
    parsed.feed(page)
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "script" not in parsed.tags
    assert parsed.refs == []
    assert [(m["class"], m["data-start"], m["data-end"], text) for m, text in parsed.marks] == [
        ("coded", "33", "42", "pneumonia"),
        ("excluded", "44", "49", "Fever"),
    ]
    assert parsed.tags.count("details") == 2  # one trace per code and per rejected candidate
    assert "<h2>note &lt;1&gt;.txt</h2>" in page
    assert "<td><code>R50.9</code></td><td>Fever, unspecified</td>" in page
    assert "<td>integral to J18.9 (I.B.5)</td>" in page
    assert '<span class="confidence confidence-low">low</span>' in page
    assert "Please document the &lt;organism&gt;." in page
    assert '<a href="#d1-ev-33">“pneumonia”</a>' in page
    assert (
        '<li><span class="step">match</span> term: pneumonia, node: J18, alternatives: []</li>'
        in page
    )
    assert f"<th>input sha256</th><td><code>{result().input.sha256}</code></td>" in page


def write_note(tmp_path: Path) -> tuple[Path, str]:
    text = (
        "HPI: cough <script>document.title='pwned'</script> & fever.\n"
        "Assessment: community-acquired pneumonia. No chest pain.\n"
        "Type 2 diabetes with hyperglycemia.\n"
    )
    path = tmp_path / "note.txt"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_cli_html_highlights_every_evidence_span(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, text = write_note(tmp_path)
    status = main(["code", str(path), "--format", "html"])
    page = capsys.readouterr().out
    parsed = _Page()
    parsed.feed(page)
    assert status == 0
    assert "script" not in parsed.tags
    assert parsed.refs == []
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt; &amp;" in page
    marks = [(m["class"], m["data-codes"], text) for m, text in parsed.marks]
    assert marks == [
        ("excluded", "R05.9", "cough"),
        ("excluded", "R50.9", "fever"),
        ("coded", "J18.9", "community-acquired pneumonia"),
        ("excluded", "R07.9", "chest pain"),
        ("coded", "E11.65", "Type 2 diabetes"),
        ("excluded", "R73.9", "hyperglycemia"),
    ]
    for attrs, words in parsed.marks:
        assert text[int(attrs["data-start"] or 0) : int(attrs["data-end"] or 0)] == words
    assert re.findall(r'<tr id="d1-code-([^"]+)"><td>(\d)</td>', page) == [
        ("J18.9", "1"),
        ("E11.65", "2"),
    ]


def _chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) in ((8, 2), (8, 6))
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return (
        width,
        height,
        [bytes(r) if bpp == 3 else bytes(r[j] for j in range(len(r)) if j % 4 != 3) for r in rows],
    )


def test_headless_chromium_renders_the_highlights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium); the browser check is skipped")
    path, _ = write_note(tmp_path)
    assert main(["code", str(path), "--format", "html"]) == 0
    page = tmp_path / "report.html"
    page.write_text(capsys.readouterr().out, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=800,600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True, timeout=120, check=True, text=True,
    ).stdout  # fmt: skip
    assert "<title>medcode audit report</title>" in dom  # the note's script never ran
    assert "<script" not in dom
    assert dom.count('<mark class="coded" id=') == 2  # and one in the legend
    assert '<mark class="coded" id="d1-ev-72" data-start="72" data-end="100" ' in dom
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (800, 600)
    colour = bytes.fromhex(CODED_COLOUR[1:])
    highlighted = sum(row[i : i + 3] == colour for row in rows for i in range(0, len(row), 3))
    assert highlighted > 2000  # the legend and two highlighted phrases, painted in the colour
