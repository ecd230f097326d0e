"""The Alphabetic Index family as the engine uses it: the packaged FY2025 release, its codes
reconciled with FY2026, Index paths and Neoplasm Table cells found in clinicians' wording."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from medcode.engine.coding.coder import Coder
from medcode.terminology import load_codeset
from medcode.terminology.cache import load_index
from medcode.terminology.errors import TerminologyError
from medcode.terminology.index_release import (
    PACKAGED_DIR,
    PACKAGED_INDEX_CSV,
    read_index_csv,
    resolve_index_source,
)
from medcode.terminology.lexicon import _one_edit, fold

BROKEN_RELEASE = Path(__file__).parent / "fixtures" / "cms" / "broken"


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


def test_packaged_release_reconciles_every_code_with_fy2026() -> None:
    index = load_index(load_codeset())
    assert index.label == "CMS FY2025 (packaged)"
    # every code the FY2025 Index family cites is a FY2026 node: 11,185 of them FY2026
    # headers (expanded codes, "-" codes, Drug Table codes without their 7th character)
    assert index.counts == {"kept": 13714, "walked": 11185, "converted": 0, "dropped": 0}
    assert len(index.neoplasm.rows) == 1938


def test_packaged_index_csv_keeps_the_term_tree() -> None:
    index = read_index_csv(PACKAGED_DIR / PACKAGED_INDEX_CSV)
    assert index.kind == "index"
    assert sum(1 for _ in index.walk()) == 81024
    pneumonia = next(t for t in index.main_terms if t.title == "Pneumonia")
    assert pneumonia.code == "J18.9"
    assert pneumonia.nemod[:2] == ("acute", "double")
    cmv = next(c for c in pneumonia.children if c.title == "cytomegaloviral")
    assert (cmv.level, cmv.code) == (1, "B25.0")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,A,0,Abasia,,,,F44.4\n2,A,2,deep,,,,F44.4\n", "level 2 has no parent term"),
        ("1,A,zero,Abasia,,,,F44.4\n", "malformed Index row"),
        ("1,A,0,Abasia\n", "malformed Index row"),
    ],
)
def test_index_csv_rejects_broken_rows(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "index.csv.xz"
    header = "RowID,Letter,Level,Term,See,SeeAlso,NonEssModif,Code\n"
    path.write_bytes(lzma.compress((header + rows).encode()))
    with pytest.raises(TerminologyError, match=message):
        read_index_csv(path)


def test_index_csv_with_foreign_columns(tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text("code,description\nA00,Cholera\n")
    with pytest.raises(TerminologyError, match="not the flattened Index CSV"):
        read_index_csv(path)


def test_cms_dir_names_its_year(tmp_path: Path) -> None:
    with pytest.raises(TerminologyError, match="no ICD-10-CM index XML"):
        resolve_index_source(tmp_path)


@pytest.mark.parametrize(
    ("phrase", "code", "path"),
    [
        ("cytomegaloviral pneumonia", "B25.0", ["Pneumonia", "cytomegaloviral"]),
        ("Pneumonia, cytomegaloviral", "B25.0", ["Pneumonia", "cytomegaloviral"]),
        ("masochism", "F65.51", ["Masochism"]),
        ("arteriospasm", "I73.9", ["Arteriospasm"]),
    ],
)
def test_index_paths_in_clinicians_wording(coder: Coder, phrase, code, path) -> None:
    result = coder.code(phrase, setting="outpatient")
    assert [c.code for c in result.codes] == [code]
    step = next(s for s in result.codes[0].trace if s["step"] == "index")
    assert step == {"step": "index", "path": path, "code": code}


@pytest.mark.parametrize(
    ("phrase", "codes", "site", "column"),
    [
        ("hard palate cancer", ["C05.0"], ["palate", "hard"], "Malignant Primary"),
        ("gallbladder neoplasm", ["D49.0"], ["gallbladder"], "Unspecified Behavior"),
        # "malignant" is no site, though a row has it ("Meckel's diverticulum, malignant")
        ("malignant neoplasm of the ankle", ["C76.50"], ["ankle"], "Malignant Primary"),
        (
            "squamous cell carcinoma of the tonsil",
            ["C09.9"],
            ["tonsil"],
            "Malignant Primary",
        ),
    ],
)
def test_neoplasm_table_site_by_behavior(coder: Coder, phrase, codes, site, column) -> None:
    result = coder.code(phrase, setting="outpatient")
    assert [c.code for c in result.codes] == codes
    step = next(s for s in result.codes[0].trace if s["step"] == "index")
    assert (step["table"], step["site"], step["column"]) == ("neoplasm", site, column)


def test_primary_site_and_its_metastases(coder: Coder) -> None:
    result = coder.code(
        "Assessment: adenocarcinoma of the ascending colon with liver metastases.",
        setting="outpatient",
    )
    assert sorted(c.code for c in result.codes) == ["C18.2", "C78.7"]


def test_everyday_words_are_no_index_terms(coder: Coder) -> None:
    # "Old" (myocardial infarction, I25.2) and "May" (May-Hegglin, D72.0) are Index main
    # terms; in a note they are an age and a month
    result = coder.code("Assessment: 72-year-old seen in May for follow up.", setting="outpatient")
    assert [c.code for c in result.codes] == []


def test_index_terms_only_in_diagnostic_statements(coder: Coder) -> None:
    text = "Procedure: excision.\nEstimated blood loss: minimal.\nAssessment: arteriospasm."
    assert [c.code for c in coder.code(text, setting="outpatient").codes] == ["I73.9"]


def test_terminology_info_reports_the_index() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "medcode.engine.interfaces.cli",
            "terminology",
            "info",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    assert info["index"] == "CMS FY2025 (packaged)"
    assert [info[f"index_codes_{s}"] for s in ("kept", "walked", "converted", "dropped")] == [
        13714,
        11185,
        0,
        0,
    ]


def test_broken_cms_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "medcode.engine.interfaces.cli",
            "code",
            "--text",
            "asthma",
            "--cms-dir",
            str(BROKEN_RELEASE),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("medcode: malformed index XML")


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("acetaminophen overdose", ["T39.1X1A"]),
        ("intentional overdose of Tylenol", ["T39.1X2A"]),
        ("hypokalemia due to furosemide", ["E87.6", "T50.1X5A"]),
        ("missed doses of Coumadin", ["T45.516A"]),
        ("lithium toxicity", ["T43.595A"]),
        # an everyday word one edit from "digitalis" ("digitals") is no correction of it
        ("renal insufficiency and digitalis toxicity", ["N28.9", "T46.0X5A"]),
    ],
)
def test_drug_table_by_intent(coder: Coder, text: str, codes: list[str]) -> None:
    result = coder.code(f"Assessment: {text}.", setting="outpatient")
    assert [c.code for c in result.codes] == codes


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("haemorrhage", "hemorrhage"),
        ("oedema", "edema"),
        ("anaemia", "anemia"),
        ("diarrhoea", "diarrhea"),
        ("tumours", "tumor"),
        ("oesophageal", "esophageal"),
        ("hospitalised", "hospitalized"),
        ("toe", "toe"),  # short words stay themselves
    ],
)
def test_british_spellings_read_as_american(british: str, american: str) -> None:
    assert fold(british) == fold(american) == american


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("mixed hyperlipidaemia", ["E78.2"]),
        ("cholecystits", ["K81.9"]),  # one letter left out of a long word
        ("acute cholecystits", ["K81.0"]),
        ("pnuemonias", ["J18.9"]),  # two letters swapped, and a plural
        ("patient presented and was treated", []),  # everyday words are no misspellings
    ],
)
def test_clinical_spelling(coder: Coder, text: str, codes: list[str]) -> None:
    assert [c.code for c in coder.code(f"Assessment: {text}.", setting="outpatient").codes] == codes


@pytest.mark.parametrize(
    ("a", "b", "one"),
    [
        ("pneumonia", "pnuemonia", True),
        ("cholecystitis", "cholecystits", True),
        ("fasciitis", "fascitis", True),
        ("hypertension", "hypertention", True),
        ("pneumonia", "pneumonia", False),
        ("pneumonia", "pnuemonai", False),
    ],
)
def test_one_edit(a: str, b: str, one: bool) -> None:
    assert _one_edit(a, b) is one


def test_entities_in_a_cms_dir_are_never_resolved(tmp_path: Path) -> None:
    (tmp_path / "index.xml").write_text(
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE ICD10CM.index [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n'
        "<ICD10CM.index><version>2026</version><title>Index</title><letter><title>A</title>"
        "<mainTerm><title>Abasia &xxe;</title><code>F44.4</code></mainTerm>"
        "</letter></ICD10CM.index>\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "medcode.engine.interfaces.cli",
            "search",
            "abasia",
            "--cms-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert (
        out.stderr
        == f"medcode: index XML declares entities, which are not read: {tmp_path}/index.xml\n"
    )
