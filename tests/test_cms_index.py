"""Tests for the CMS index-family loader (Alphabetic Index, E-Index, Drug and Neoplasm tables)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from medcode.terminology.cms_index import (
    DRUG_SEVENTH_CHARACTERS,
    CmsIndex,
    IndexEntry,
    IndexTerm,
    load_cms_dir,
    load_index_file,
)
from medcode.terminology.errors import TerminologyError

FIXTURES = Path(__file__).parent / "fixtures" / "cms"
RELEASE = FIXTURES / "release"
INDEX_XML = RELEASE / "icd10cm-index-2025.xml"
EINDEX_XML = RELEASE / "icd10cm_eindex_2025.xml"
DRUG_XML = RELEASE / "icd-10-cm-drug-2025.xml"
NEOPLASM_XML = RELEASE / "icd10cm_neoplasm_2025.xml"
TRUNCATED_XML = FIXTURES / "broken" / "icd10cm-index-2025.xml"
TABULAR_STUB = RELEASE / "icd10cm-tabular-2025.xml"

SHARED = Path(__file__).parents[1].parent / "shared" / "data" / "cms-fy2025"
REAL_EINDEX = SHARED / "icd-10-cm-eindex-2025.xml"
REAL_DRUG = SHARED / "icd-10-cm-drug-2025.xml"
REAL_NEOPLASM = SHARED / "icd-10-cm-neoplasm-2025.xml"
needs_shared = pytest.mark.skipif(
    not (REAL_EINDEX.is_file() and REAL_DRUG.is_file() and REAL_NEOPLASM.is_file()),
    reason=f"CMS FY2025 index files not present in {SHARED} (development data only)",
)

CODE_AS_PRINTED = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?-?$")


@pytest.fixture(scope="module")
def release() -> CmsIndex:
    return load_cms_dir(RELEASE)


@pytest.fixture(scope="module")
def real() -> CmsIndex:
    if not SHARED.is_dir():
        pytest.skip(f"CMS FY2025 release folder not present: {SHARED}")
    return load_cms_dir(SHARED)


def _terms_below_main(index_file) -> list[IndexTerm]:
    return [chain[-1] for chain in index_file.walk() if len(chain) > 1]


# -- the model, on fixtures ---------------------------------------------------------------


def test_alphabetic_index_fixture_model():
    index = load_index_file(INDEX_XML)
    assert index.kind == "index"
    assert index.title == "ICD-10-CM INDEX TO DISEASES and INJURIES"
    assert index.version == "2025"
    assert index.columns == ()
    assert [t.title for t in index.main_terms] == [
        "Abnormal, abnormality, abnormalities",
        "Amyloidosis",
        "Diabetes, diabetic",
        "Fracture, traumatic",
        "Neoplasm, neoplastic",
    ]
    abnormal, amyloidosis, diabetes, fracture, neoplasm = index.main_terms
    assert abnormal.see_also == "Anomaly"
    assert abnormal.code is None
    gait = abnormal.children[0]
    assert (gait.title, gait.level, gait.code, gait.see_also) == ("gait", 1, "R26.9", "Gait")

    assert amyloidosis.label == "Amyloidosis (generalized) (primary)"
    assert amyloidosis.nemod == ("generalized", "primary")
    assert amyloidosis.code == "E85.9"
    heart = amyloidosis.children[0]
    assert (heart.code, heart.manif) == ("E85.4", "I43")

    assert diabetes.label == "Diabetes, diabetic (mellitus) (sugar)"
    deepest = [chain for chain in diabetes.walk() if chain[-1].code == "E10.11"]
    assert [(t.title, t.level) for t in deepest[0]] == [
        ("Diabetes, diabetic", 0),
        ("type 1", 1),
        ("with", 2),
        ("ketoacidosis", 3),
        ("with coma", 4),
    ]
    assert [t.title for t in _terms_below_main(index)] == [
        "gait",
        "hysterical",
        "heart",
        "with",
        "chronic kidney disease",
        "hyperglycemia",
        "type 1",
        "with",
        "ketoacidosis",
        "with coma",
        "femur, femoral",
        "neck",
    ]
    assert fracture.see_also == "Fracture, pathological"
    assert fracture.children[0].code == "S72.9-"
    assert fracture.children[0].children[0].see == "Fracture, femur, upper end, neck"
    assert neoplasm.see == "Table of Neoplasms"
    assert neoplasm.cells == ()


def test_eindex_fixture_nemod_inside_title_and_category_references():
    eindex = load_index_file(EINDEX_XML)
    assert eindex.kind == "eindex"
    abandonment = eindex.main_terms[0]
    assert abandonment.title == "Abandonment NEC"
    assert abandonment.label == (
        "Abandonment (causing exposure to weather conditions) (with intent to injure or kill) NEC"
    )
    assert abandonment.nemod == (
        "causing exposure to weather conditions",
        "with intent to injure or kill",
    )
    lightning = eindex.main_terms[1].children[1].children[1]
    assert (lightning.title, lightning.subcat, lightning.code) == ("lightning", "T75.0", None)
    strangulation = eindex.main_terms[2]
    assert (strangulation.title, strangulation.seecat) == ("Strangulation", "T71")


def test_drug_fixture_columns_and_cells():
    drug = load_index_file(DRUG_XML)
    assert drug.kind == "drug"
    assert drug.title is None
    assert drug.columns == (
        "Substance",
        "Poisoning Accidental (unintentional)",
        "Poisoning Intentional self-harm",
        "Poisoning Assault",
        "Poisoning Undetermined",
        "Adverse effect",
        "Underdosing",
    )
    acetylene = drug.main_terms[1]
    assert acetylene.cells == (
        ("Poisoning Accidental (unintentional)", "T59.891"),
        ("Poisoning Intentional self-harm", "T59.892"),
        ("Poisoning Assault", "T59.893"),
        ("Poisoning Undetermined", "T59.894"),
        ("Adverse effect", None),
        ("Underdosing", None),
    )
    assert acetylene.cell("Poisoning Assault") == "T59.893"
    assert acetylene.cell("Adverse effect") is None
    assert drug.main_terms[2].see == "Naproxen"
    assert drug.column_label("Poisoning Accidental (unintentional)") == (
        "poisoning, accidental (unintentional)"
    )
    assert drug.column_label("Adverse effect") == "adverse effect"


def test_neoplasm_fixture_single_main_term_and_dash_cells():
    neoplasm = load_index_file(NEOPLASM_XML)
    assert neoplasm.kind == "neoplasm"
    assert [t.title for t in neoplasm.main_terms] == ["Neoplasm, neoplastic"]
    assert len(_terms_below_main(neoplasm)) == 10
    connective = neoplasm.main_terms[0].children[0].children[0].children[0]
    assert connective.title == "connective tissue"
    assert connective.cells[:3] == (
        ("Malignant Primary", "C49.4"),
        ("Malignant Secondary", "C79.8-"),
        ("Ca in situ", None),
    )
    assert neoplasm.column_label("Malignant Primary") == "malignant, primary"
    assert neoplasm.column_label("Ca in situ") == "ca in situ"


# -- lookup, on fixtures ------------------------------------------------------------------


def test_lookup_follows_main_term_and_subterms(release: CmsIndex):
    hit = release.lookup(("diabetes", "with", "chronic kidney disease"))
    assert hit is not None
    assert (hit.kind, hit.code, hit.printed) == ("index", "E11.22", "E11.22")
    assert hit.path == ("Diabetes, diabetic", "with", "chronic kidney disease")
    assert hit.source == "Index > Diabetes, diabetic > with > chronic kidney disease"
    assert hit.more_characters_required is False
    assert hit.seventh_characters == ()


def test_lookup_ignores_case_modifiers_and_trailing_punctuation(release: CmsIndex):
    hit = release.lookup(("DIABETES (mellitus)", "With:", "Chronic kidney disease."))
    assert hit is not None and hit.code == "E11.22"
    hit = release.lookup(("diabetic", "type 1", "with", "ketoacidosis", "with coma"))
    assert hit is not None and hit.code == "E10.11"
    assert release.lookup(("diabetes", "with", "gout")) is None
    assert release.lookup(("gout",)) is None


def test_lookup_manifestation_see_and_incomplete_code(release: CmsIndex):
    heart = release.lookup(("Amyloidosis", "heart"))
    assert heart is not None
    assert (heart.code, heart.manif) == ("E85.4", "I43")

    neoplasm = release.lookup(("neoplasm",), kind="index")
    assert neoplasm is not None
    assert (neoplasm.code, neoplasm.see) == (None, "Table of Neoplasms")

    gait = release.lookup(("abnormality", "gait"))
    assert gait is not None and (gait.code, gait.see_also) == ("R26.9", "Gait")

    femur = release.lookup(("fracture", "femur"))
    assert femur is not None
    assert (femur.printed, femur.code, femur.more_characters_required) == ("S72.9-", "S72.9", True)
    assert femur.seventh_characters == ()


def test_lookup_nec_and_comma_parts_in_external_cause_index(release: CmsIndex):
    hit = release.lookup(("abandonment",))
    assert hit is not None
    assert (hit.kind, hit.code, hit.path) == ("eindex", "X58", ("Abandonment NEC",))
    hit = release.lookup(("accident", "caused by", "animal"))
    assert hit is not None
    assert hit.code == "W64"
    assert hit.source == "External cause index > Accident > caused by, due to > animal NEC"
    hit = release.lookup(("strangulation",))
    assert hit is not None and (hit.code, hit.term.seecat) == (None, "T71")


@pytest.mark.parametrize(
    ("column", "heading", "code"),
    [
        ("Poisoning Accidental (unintentional)", "Poisoning Accidental (unintentional)", "T39.1X1"),
        (
            "poisoning, accidental (unintentional)",
            "Poisoning Accidental (unintentional)",
            "T39.1X1",
        ),
        ("poisoning accidental", "Poisoning Accidental (unintentional)", "T39.1X1"),
        ("accidental", "Poisoning Accidental (unintentional)", "T39.1X1"),
        ("unintentional", "Poisoning Accidental (unintentional)", "T39.1X1"),
        ("intentional self-harm", "Poisoning Intentional self-harm", "T39.1X2"),
        ("self harm", "Poisoning Intentional self-harm", "T39.1X2"),
        ("assault", "Poisoning Assault", "T39.1X3"),
        ("undetermined", "Poisoning Undetermined", "T39.1X4"),
        ("adverse effect", "Adverse effect", "T39.1X5"),
        ("Underdosing", "Underdosing", "T39.1X6"),
    ],
)
def test_drug_column_names_and_aliases(release: CmsIndex, column: str, heading: str, code: str):
    hit = release.lookup(("acetaminophen",), column=column)
    assert hit is not None
    assert (hit.kind, hit.column, hit.code) == ("drug", heading, code)


def test_drug_codes_need_a_seventh_character(release: CmsIndex):
    hit = release.lookup(("acetaminophen",), column="poisoning, accidental")
    assert hit is not None
    assert hit.printed == hit.code == "T39.1X1"
    assert hit.more_characters_required is True
    assert hit.seventh_characters == DRUG_SEVENTH_CHARACTERS == ("A", "D", "S")
    assert hit.complete("A") == "T39.1X1A"
    assert hit.source == "Drug table > Acetaminophen [poisoning, accidental (unintentional)]"
    with pytest.raises(ValueError, match="7th character 'B'"):
        hit.complete("B")

    combustion = release.lookup(("acetylene", "incomplete combustion of"), column="undetermined")
    assert combustion is not None
    assert combustion.code == "T58.14"
    assert combustion.complete("S") == "T58.14XS"

    empty = release.lookup(("acetylene (gas)",), column="adverse effect")
    assert empty is not None
    assert (empty.printed, empty.code, empty.more_characters_required) == (None, None, False)
    assert empty.seventh_characters == ()


def test_duplicate_titles_are_told_apart_by_their_modifiers(release: CmsIndex):
    first = release.lookup(("carbamate",), column="adverse effect")
    assert first is not None
    assert (first.term.label, first.code) == ("Carbamate (insecticide)", None)
    sedative = release.lookup(("Carbamate (sedative)",), column="adverse effect")
    assert sedative is not None
    assert (sedative.term.label, sedative.code) == ("Carbamate (sedative)", "T42.6X5")


@pytest.mark.parametrize(
    "path",
    [("colon",), ("neoplasm", "colon"), ("Neoplasm, neoplastic", "colon"), ("NEOPLASTIC", "Colon")],
)
def test_neoplasm_lookup_with_or_without_the_main_term(release: CmsIndex, path):
    hit = release.lookup(path, column="malignant primary")
    assert hit is not None
    assert (hit.kind, hit.code, hit.column) == ("neoplasm", "C18.9", "Malignant Primary")
    assert hit.path == ("Neoplasm, neoplastic", "colon")
    assert hit.see_also == "Neoplasm, intestine, large"
    assert hit.source == "Neoplasm table > Neoplasm, neoplastic > colon [malignant, primary]"


@pytest.mark.parametrize(
    ("path", "column", "printed", "code", "more"),
    [
        (("colon",), "secondary", "C78.5", "C78.5", False),
        (("colon",), "in situ", None, None, False),
        (("intestine", "large", "colon"), "carcinoma in situ", "D01.0", "D01.0", False),
        (("intestine", "large", "colon"), "benign", "D12.6", "D12.6", False),
        (("intestine", "large", "colon"), "uncertain", "D37.4", "D37.4", False),
        (("intestine", "large", "colon"), "unspecified", "D49.0", "D49.0", False),
        (("abdomen",), "malignant secondary", "C79.8-", "C79.8", True),
        (("breast (glandular tissue)", "areola"), "ca in situ", "D05.-", "D05", True),
        (("skin",), "uncertain behaviour", "D48.5", "D48.5", False),
        (("neoplasm",), "malignant primary", "C80.1", "C80.1", False),
    ],
)
def test_neoplasm_columns(release: CmsIndex, path, column, printed, code, more):
    hit = release.lookup(path, column=column)
    assert hit is not None
    assert (hit.printed, hit.code, hit.more_characters_required) == (printed, code, more)
    assert hit.seventh_characters == ()


def test_lookup_argument_errors(release: CmsIndex):
    with pytest.raises(ValueError, match="ambiguous"):
        release.lookup(("colon",), column="malignant")
    with pytest.raises(ValueError, match="no loaded table has a column 'dosage'"):
        release.lookup(("colon",), column="dosage")
    with pytest.raises(ValueError, match="empty"):
        release.lookup(())
    with pytest.raises(ValueError, match="unknown index kind 'tabular'"):
        release.lookup(("colon",), kind="tabular")  # type: ignore[arg-type]


def test_lookup_kind_and_table_without_column(release: CmsIndex):
    assert release.lookup(("colon",), kind="drug") is None
    hit = release.lookup(("colon",), kind="neoplasm")
    assert hit is not None
    assert (hit.code, hit.column) == (None, None)
    assert hit.term.cell("Malignant Primary") == "C18.9"
    only_index = CmsIndex((load_index_file(INDEX_XML),))
    assert only_index.lookup(("colon",), column="malignant primary") is None


# -- entries and codes_for, on fixtures ---------------------------------------------------


def test_entries_of_the_external_cause_index(release: CmsIndex):
    eindex_entries = [e for e in release.entries() if e.source.startswith("External cause")]
    assert eindex_entries == [
        IndexEntry(("Abandonment NEC",), "X58", "External cause index > Abandonment NEC"),
        IndexEntry(("Accident",), "X58", "External cause index > Accident"),
        IndexEntry(
            ("Accident", "caused by, due to", "animal NEC"),
            "W64",
            "External cause index > Accident > caused by, due to > animal NEC",
        ),
        IndexEntry(
            ("Accident", "caused by, due to", "lightning"),
            "T75.0",
            "External cause index > Accident > caused by, due to > lightning [see subcategory]",
        ),
        IndexEntry(
            ("Strangulation",), "T71", "External cause index > Strangulation [see category]"
        ),
    ]


def test_entries_order_sources_and_counts(release: CmsIndex):
    entries = list(release.entries())
    assert entries == list(load_cms_dir(RELEASE).entries())
    kinds = [e.source.split(" > ")[0] for e in entries]
    assert kinds == sorted(
        kinds,
        key=["Index", "External cause index", "Drug table", "Neoplasm table"].index,
    )
    assert kinds.count("Index") == 12  # 11 codes + 1 manifestation
    assert kinds.count("Drug table") == 24  # 30 cells, 6 of them "--"
    assert kinds.count("Neoplasm table") == 61  # 66 cells, 5 of them "-"
    assert entries[:3] == [
        IndexEntry(
            ("Abnormal, abnormality, abnormalities", "gait"),
            "R26.9",
            "Index > Abnormal, abnormality, abnormalities > gait",
        ),
        IndexEntry(
            ("Abnormal, abnormality, abnormalities", "gait", "hysterical"),
            "F44.4",
            "Index > Abnormal, abnormality, abnormalities > gait > hysterical",
        ),
        IndexEntry(("Amyloidosis",), "E85.9", "Index > Amyloidosis"),
    ]
    path, code, source = entries[4]
    assert (path, code, source) == (
        ("Amyloidosis", "heart"),
        "I43",
        "Index > Amyloidosis > heart [manifestation, with E85.4]",
    )
    assert all(CODE_AS_PRINTED.match(e.code) for e in entries)


def test_codes_for(release: CmsIndex):
    assert [e.source for e in release.codes_for("I43")] == [
        "Index > Amyloidosis > heart [manifestation, with E85.4]"
    ]
    assert [e.source for e in release.codes_for("e1122")] == [
        "Index > Diabetes, diabetic > with > chronic kidney disease"
    ]
    assert release.codes_for("E11.2") == []
    assert [e.source for e in release.codes_for("T39.1X1A")] == [
        "Drug table > Acetaminophen [poisoning, accidental (unintentional)]"
    ]
    assert [e.source for e in release.codes_for("T58.11XA")] == [
        "Drug table > Acetylene > incomplete combustion of [poisoning, accidental (unintentional)]"
    ]
    assert [e.code for e in release.codes_for("W64.XXXA")] == ["W64"]
    assert [e.code for e in release.codes_for("T75.01XA")] == ["T75.0"]
    assert [e.code for e in release.codes_for("T71.9")] == ["T71"]
    assert [e.code for e in release.codes_for("S72.91XA")] == ["S72.9-"]
    assert [(e.path[-1], e.code) for e in release.codes_for("C79.81")] == [
        ("abdomen, abdominal", "C79.8-"),
        ("connective tissue", "C79.8-"),
        ("breast", "C79.81"),
        ("areola", "C79.81"),
    ]
    assert [e.code for e in release.codes_for("D05.11")] == ["D05.-", "D05.-"]
    assert release.codes_for("") == []


# -- recognising files, on fixtures -------------------------------------------------------


def test_load_cms_dir_recognises_files_and_skips_others(release: CmsIndex):
    assert release.kinds == ("index", "eindex", "drug", "neoplasm")
    assert [f.path.name for f in release.files] == [
        "icd10cm-index-2025.xml",
        "icd10cm_eindex_2025.xml",
        "icd-10-cm-drug-2025.xml",
        "icd10cm_neoplasm_2025.xml",
    ]
    assert release.get("drug") is release.files[2]


def test_files_are_recognised_by_content_not_name(tmp_path: Path):
    for source, name in [
        (NEOPLASM_XML, "a.xml"),
        (DRUG_XML, "b.XML"),
        (EINDEX_XML, "c.xml"),
        (INDEX_XML, "d.xml"),
    ]:
        shutil.copy(source, tmp_path / name)
    loaded = load_cms_dir(tmp_path)
    assert loaded.kinds == ("index", "eindex", "drug", "neoplasm")
    assert [f.path.name for f in loaded.files] == ["d.xml", "c.xml", "b.XML", "a.xml"]


def test_untitled_external_cause_index_is_recognised_by_its_codes(tmp_path: Path):
    text = EINDEX_XML.read_text(encoding="utf-8")
    untitled = tmp_path / "untitled.xml"
    untitled.write_text(
        text.replace("<title>ICD-10-CM EXTERNAL CAUSE of INJURIES INDEX</title>", ""),
        encoding="utf-8",
    )
    assert load_index_file(untitled).kind == "eindex"
    assert load_index_file(untitled).title is None


# -- errors -------------------------------------------------------------------------------


def _one_line_error(excinfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_truncated_file_raises(tmp_path: Path):
    with pytest.raises(TerminologyError) as excinfo:
        load_index_file(TRUNCATED_XML)
    assert "malformed index XML" in _one_line_error(excinfo, TRUNCATED_XML)
    with pytest.raises(TerminologyError) as excinfo:
        load_cms_dir(TRUNCATED_XML.parent)
    assert "malformed index XML" in _one_line_error(excinfo, TRUNCATED_XML)


def test_non_index_files_raise():
    with pytest.raises(TerminologyError) as excinfo:
        load_index_file(TABULAR_STUB)
    message = _one_line_error(excinfo, TABULAR_STUB)
    assert "not a CMS ICD-10-CM index file (root <ICD10CM.tabular>" in message
    missing = RELEASE / "nope.xml"
    with pytest.raises(TerminologyError) as excinfo:
        load_index_file(missing)
    assert _one_line_error(excinfo, missing) == f"index file not found: {missing}"


def test_folder_errors(tmp_path: Path):
    with pytest.raises(TerminologyError) as excinfo:
        load_cms_dir(tmp_path / "absent")
    _one_line_error(excinfo, tmp_path / "absent")
    shutil.copy(TABULAR_STUB, tmp_path / "tabular.xml")
    with pytest.raises(TerminologyError) as excinfo:
        load_cms_dir(tmp_path)
    assert _one_line_error(excinfo, tmp_path) == f"no ICD-10-CM index XML files in {tmp_path}"
    shutil.copy(DRUG_XML, tmp_path / "drug-2025.xml")
    shutil.copy(DRUG_XML, tmp_path / "drug-2026.xml")
    with pytest.raises(TerminologyError, match="two Drug table files"):
        load_cms_dir(tmp_path)


def test_addenda_files_are_skipped_in_a_folder_and_rejected_alone(tmp_path: Path):
    addenda = tmp_path / "icd10cm_index_addenda_2026.xml"
    addenda.write_text(
        '<?xml version="1.0"?>\n<ICD10CM.index isAddenda="true"><letter><title>A</title>'
        "<mainTerm><title>Abscess</title></mainTerm></letter></ICD10CM.index>\n",
        encoding="utf-8",
    )
    shutil.copy(EINDEX_XML, tmp_path / "eindex.xml")
    assert load_cms_dir(tmp_path).kinds == ("eindex",)
    with pytest.raises(TerminologyError, match="addenda"):
        load_index_file(addenda)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<letter><title>A</title><mainTerm><title>Abscess</title>"
            '<term level="2"><title>brain</title></term></mainTerm></letter>',
            "has level '2' but is nested at level 1",
        ),
        (
            "<letter><title>A</title><mainTerm><code>L02.91</code></mainTerm></letter>",
            "<mainTerm> at line 2 has no <title>",
        ),
        (
            '<indexHeading><head col="1">Substance</head><head col="2">Adverse effect</head>'
            "</indexHeading><letter><title>A</title><mainTerm><title>Aspirin</title>"
            '<cell col="3">T39.015</cell></mainTerm></letter>',
            "names column '3', which has no <head>",
        ),
        ("<version>2025</version>", "no <letter>"),
    ],
)
def test_structural_errors(tmp_path: Path, body: str, expected: str):
    path = tmp_path / "bad.xml"
    path.write_text(f'<?xml version="1.0"?>\n<ICD10CM.index>{body}</ICD10CM.index>\n', "utf-8")
    with pytest.raises(TerminologyError) as excinfo:
        load_index_file(path)
    assert expected in _one_line_error(excinfo, path)


# -- the real FY2025 files ----------------------------------------------------------------


@needs_shared
def test_real_external_cause_index_counts():
    eindex = load_index_file(REAL_EINDEX)
    assert eindex.kind == "eindex"
    assert eindex.title == "ICD-10-CM EXTERNAL CAUSE of INJURIES INDEX"
    assert eindex.version == "2025"
    assert len(eindex.main_terms) == 314
    terms = _terms_below_main(eindex)
    assert len(terms) == 7750
    assert {t.level for t in terms} == set(range(1, 9))
    abandonment = eindex.main_terms[0]
    assert (abandonment.title, abandonment.code) == ("Abandonment NEC", "X58")


@needs_shared
def test_real_neoplasm_table_counts():
    neoplasm = load_index_file(REAL_NEOPLASM)
    assert neoplasm.kind == "neoplasm"
    assert [t.title for t in neoplasm.main_terms] == ["Neoplasm, neoplastic"]
    assert len(_terms_below_main(neoplasm)) == 1938
    assert neoplasm.columns == (
        "Neoplasm",
        "Malignant Primary",
        "Malignant Secondary",
        "Ca in situ",
        "Benign",
        "Uncertain Behavior",
        "Unspecified Behavior",
    )


@needs_shared
def test_real_drug_table_counts():
    drug = load_index_file(REAL_DRUG)
    assert drug.kind == "drug"
    assert drug.columns[1:] == (
        "Poisoning Accidental (unintentional)",
        "Poisoning Intentional self-harm",
        "Poisoning Assault",
        "Poisoning Undetermined",
        "Adverse effect",
        "Underdosing",
    )
    assert len(drug.main_terms) == 5177
    assert len(_terms_below_main(drug)) == 2251


def test_real_folder_holds_exactly_the_three_files(real: CmsIndex):
    assert real.kinds == ("eindex", "drug", "neoplasm")
    assert real.get("index") is None
    assert [f.path.name for f in real.files] == [
        "icd-10-cm-eindex-2025.xml",
        "icd-10-cm-drug-2025.xml",
        "icd-10-cm-neoplasm-2025.xml",
    ]


def test_real_acetaminophen(real: CmsIndex):
    hit = real.lookup(("acetaminophen",), column="poisoning, accidental")
    assert hit is not None
    assert (hit.code, hit.more_characters_required) == ("T39.1X1", True)
    assert hit.seventh_characters == ("A", "D", "S")
    assert hit.source == "Drug table > Acetaminophen [poisoning, accidental (unintentional)]"
    adverse = real.lookup(("Acetaminophen",), column="adverse effect")
    underdosing = real.lookup(("Acetaminophen",), column="underdosing")
    assert adverse is not None and adverse.code == "T39.1X5"
    assert underdosing is not None and underdosing.complete("D") == "T39.1X6D"
    sources = [e.source for e in real.codes_for("T39.1X5A")]
    assert "Drug table > Acetaminophen [adverse effect]" in sources
    assert "Drug table > Paracetamol [adverse effect]" in sources


def test_real_colon(real: CmsIndex):
    for path in (("colon",), ("neoplasm", "colon")):
        hit = real.lookup(path, column="malignant primary")
        assert hit is not None
        assert (hit.code, hit.path) == ("C18.9", ("Neoplasm, neoplastic", "colon"))
    secondary = real.lookup(("colon",), column="secondary")
    assert secondary is not None and secondary.code == "C78.5"
    deep = real.lookup(("intestine", "large", "colon"), column="benign")
    assert deep is not None and deep.code == "D12.6"


def test_real_external_cause_lookups(real: CmsIndex):
    hit = real.lookup(("Bumping against, into", "object"))
    assert hit is not None
    assert (hit.code, hit.path) == ("W22.8", ("Bumping against, into", "object NEC"))
    hit = real.lookup(("accident", "aircraft", "due to, caused by cataclysm"))
    assert hit is not None and hit.see == "Forces of nature, by type"


def test_real_entries(real: CmsIndex):
    entries = list(real.entries())
    counts = {
        label: sum(e.source.startswith(label + " > ") for e in entries)
        for label in ("External cause index", "Drug table", "Neoplasm table")
    }
    # E-Index: 6,650 <code> + 11 <subcat> + 3 <seecat>; tables: non-empty cells only
    # (Drug 43,212 cells, 3,186 "--"; Neoplasm 10,916 cells, 1,898 "-").
    assert counts == {"External cause index": 6664, "Drug table": 40026, "Neoplasm table": 9018}
    assert len(entries) == 55708
    assert all(CODE_AS_PRINTED.match(e.code) for e in entries)
    # The Neoplasm table's one <manif> holds prose, not a code: it yields no entry.
    book_leaf = real.lookup(("book-leaf",), kind="neoplasm")
    assert book_leaf is not None
    assert book_leaf.manif == "ventral surface of tongue and floor of mouth"
    assert not any("manifestation" in e.source for e in entries)
