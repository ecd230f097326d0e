"""`medcode validate`, `show` and `terminology info`, and their errors (exit 2, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medcode.engine.interfaces.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_validate_accepts_any_spelling_of_a_code(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "e119", " E119 ", "E11.9", "--format", "json")
    assert status == 0
    assert [r["code"] for r in json.loads(out)] == ["E11.9"] * 3
    assert json.loads(out)[0] == {
        "code": "E11.9",
        "valid": True,
        "billable": True,
        "description": "Type 2 diabetes mellitus without complications",
        "message": "valid and billable",
        "suggestions": [],
    }


def test_validate_explains_headers_seventh_characters_and_unknown_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "validate", "E11.2", "S72.001", "E11.99", "--format", "json")
    header, needs_seventh, unknown = json.loads(out)
    assert status == 1
    assert (header["valid"], header["billable"]) == (True, False)
    assert header["suggestions"] == ["E11.21", "E11.22", "E11.29"]
    assert needs_seventh["message"].startswith("needs a 7th character: S72.001A, S72.001B")
    assert needs_seventh["suggestions"][:3] == ["S72.001A", "S72.001B", "S72.001C"]
    assert (unknown["valid"], unknown["suggestions"]) == (False, ["E11.9"])


def test_show_prints_path_and_notes_with_origin(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "show", "E11.22")
    lines = out.splitlines()
    assert status == 0
    assert lines[:5] == [
        "Chapter 4  Endocrine, nutritional and metabolic diseases (E00-E89)",
        "  E08-E13  Diabetes mellitus (E08-E13)",
        "    E11  Type 2 diabetes mellitus",
        "      E11.2  Type 2 diabetes mellitus with kidney complications",
        "        E11.22  Type 2 diabetes mellitus with diabetic chronic kidney disease",
    ]
    assert (
        "Use additional code [E11.22]: code to identify stage of chronic kidney disease "
        "(N18.1-N18.6)" in lines
    )
    assert "Excludes1 [E11]: type 1 diabetes mellitus (E10.-)" in lines


def test_show_json_resolves_references(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "show", "E11.22", "--format", "json")
    note = json.loads(out)["notes"][0]
    assert note["kind"] == "useAdditionalCode"
    assert note["references"] == [
        {
            "text": "N18.1-N18.6",
            "resolves_to": ["N18.1", "N18.2", "N18.3", "N18.4", "N18.5", "N18.6"],
        }
    ]


def test_terminology_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "terminology", "info", "--format", "json")
    info = json.loads(out)
    assert status == 0
    assert list(info) == [
        "fy", "source", "sha256", "chapters", "sections", "categories", "codes", "billable",
        "index", "index_terms", "index_codes_kept", "index_codes_walked",
        "index_codes_converted", "index_codes_dropped",
    ]  # fmt: skip
    assert (info["fy"], info["chapters"], info["billable"]) == (2026, 22, 74719)
    assert info["source"].endswith("icd10c-tabular-April-1-2026.xml")


def test_unknown_code_in_show_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "show", "ZZ9.9")
    assert (status, err) == (2, "medcode: unknown ICD-10-CM code: ZZ9.9\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<ICD10CM.tabular><chapter><name>1</name>", "malformed Tabular List XML"),
        (b"<other/>", "not an ICD-10-CM Tabular List"),
        (b"\x00\x01binary", "malformed Tabular List XML"),
    ],
)
def test_bad_tabular_xml_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    xml = tmp_path / "tabular.xml"
    xml.write_bytes(content)
    status, _, err = run(capsys, "terminology", "info", "--tabular", str(xml))
    assert status == 2
    assert err.count("\n") == 1
    assert message in err and str(xml) in err


def test_missing_tabular_file_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "validate", "E11.9", "--tabular", "/nonexistent/tab.xml")
    assert (status, err) == (2, "medcode: Tabular List XML not found: /nonexistent/tab.xml\n")


def test_corrupt_cache_is_reported_and_rebuilt(tmp_path: Path) -> None:
    env = {**os.environ, "MEDCODE_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "medcode.engine.interfaces.cli", "validate", "E11.9"]
    subprocess.run(command, env=env, check=True, capture_output=True)
    (cache,) = tmp_path.glob("codeset-*.pickle")
    cache.write_bytes(cache.read_bytes()[:1000])
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stderr == f"medcode: rebuilding corrupt cache {cache} (UnpicklingError)\n"
    assert result.stdout.startswith("E11.9\tbillable")
    assert cache.stat().st_size > 1_000_000


def test_usage_error_is_one_line_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "medcode.engine.interfaces.cli", "validate"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == "medcode validate: the following arguments are required: CODE\n"
