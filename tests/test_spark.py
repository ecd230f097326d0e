"""`medcode spark` and the Spark API on a real local[2] session: the JSON column equals the
line `medcode batch` writes for the same note, byte for byte; metadata is carried; a failing
note is an error row while the others are coded; the command writes a Parquet folder."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("pyspark", reason="PySpark not installed: pip install 'medcode[spark]'")
pyarrow = pytest.importorskip("pyarrow")
parquet = pytest.importorskip("pyarrow.parquet")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no Java runtime: Spark needs one", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402

from medcode.engine.coding.coder import Coder  # noqa: E402
from medcode.engine.interfaces import batch  # noqa: E402
from medcode.engine.interfaces.cli import main  # noqa: E402
from medcode.engine.interfaces.spark import (  # noqa: E402
    OUTPUT_COLUMNS,
    SparkInputError,
    code_jsonl,
    code_notes,
)

# PySpark 4 warns of pandas 3 on every mapInArrow; the engine's results are what is tested.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

GOLD = Path(__file__).resolve().parent / "gold" / "notes.yaml"
SPECIALTIES = ("Pulmonology", "Cardiology", "Nephrology")


@pytest.fixture(scope="module")
def spark() -> SparkSession:
    # The workers run this interpreter; Spark listens on loopback only.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("medcode tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six gold notes with a specialty (one also a note type), an empty note, a line that is
    not JSON and one without a text, as the JSONL batch reads."""
    gold = yaml.safe_load(GOLD.read_text(encoding="utf-8"))[:6]
    records = [
        {"document": n["id"], "text": n["text"], "specialty": SPECIALTIES[i % 3]}
        for i, n in enumerate(gold)
    ]
    records[1] |= {"note_type": "discharge summary", "setting": "inpatient"}
    lines = [json.dumps(r) for r in records]
    lines[3:3] = [
        json.dumps({"document": "empty", "text": "", "specialty": "Cardiology"}),
        "not json",
        json.dumps({"document": "no-text", "specialty": "Cardiology"}),
    ]
    path = tmp_path_factory.mktemp("spark") / "notes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def batch_lines(notes: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """What `medcode batch` writes for the notes, with the Coder loaded in this process."""
    out = tmp_path_factory.mktemp("batch") / "out.jsonl"
    coder = Coder()
    original = batch._coder
    batch._coder = lambda tabular: coder
    try:
        assert main(["batch", str(notes), "-o", str(out), "--no-progress"]) == 1
    finally:
        batch._coder = original
    return out.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def coded(spark: SparkSession, notes: Path) -> list:
    return code_jsonl(spark, str(notes)).collect()


def test_the_json_column_is_the_batch_line_byte_for_byte(
    coded: list, batch_lines: list[str]
) -> None:
    firsts = {row.document: row.result_json for row in coded if row.result_json is not None}
    assert len(firsts) == len(batch_lines) == 9
    for line in batch_lines:
        assert firsts[json.loads(line)["document"]] == line


def test_one_row_per_reported_code_and_one_for_a_note_without(
    coded: list, batch_lines: list[str]
) -> None:
    expected = []
    for line in batch_lines:
        result = json.loads(line)
        codes = result.get("codes") or [None]
        for code in codes:
            evidence = None if code is None else [(e["start"], e["end"]) for e in code["evidence"]]
            expected.append(
                (
                    result["document"],
                    None if code is None else code["code"],
                    None if code is None else code["sequence"],
                    None if code is None else code["confidence"],
                    evidence,
                    result.get("setting"),
                )
            )
    got = [
        (
            r.document,
            r.code,
            r.sequence,
            r.confidence,
            None if r.evidence is None else [(e.start, e.end) for e in r.evidence],
            r.setting,
        )
        for r in coded
    ]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert any(code is not None for _, code, *_ in got)
    versions = {r.document: r.versions for r in coded if r.error is None}
    assert all(v == json.loads(batch_lines[0])["versions"] for v in versions.values())


def test_a_failing_note_is_an_error_row_and_the_others_are_coded(coded: list) -> None:
    errors = {r.document: r.error for r in coded if r.error is not None}
    assert errors == {
        "empty": "empty note: there is nothing to code",
        "notes.jsonl:5": "notes.jsonl:5: not a JSON object (Expecting value: line 1 column 1 "
        "(char 0))",
        "no-text": 'notes.jsonl:6: needs a string "text"',
    }
    coded_documents = {r.document for r in coded if r.error is None}
    assert len(coded_documents) == 6


def test_metadata_fields_are_columns_and_in_the_json(coded: list) -> None:
    assert list(coded[0].asDict()) == [*OUTPUT_COLUMNS, "note_type", "specialty"]
    by_document = {r.document: r for r in coded if r.result_json is not None}
    second = json.loads(next(r.result_json for r in coded if r.note_type is not None))
    assert second["metadata"] == {"specialty": "Cardiology", "note_type": "discharge summary"}
    assert second["setting"] == "inpatient"
    assert by_document["empty"].specialty == "Cardiology"
    assert json.loads(by_document["empty"].result_json)["metadata"] == {"specialty": "Cardiology"}
    assert by_document["notes.jsonl:5"].specialty is None


def test_a_dataframe_of_notes_keeps_its_columns(spark: SparkSession, batch_lines) -> None:
    gold = yaml.safe_load(GOLD.read_text(encoding="utf-8"))[:2]
    frame = spark.createDataFrame(
        [(gold[0]["id"], gold[0]["text"], None, "Pulmonology", None), ("blank", "", None, None, 2)],
        "document string, text string, setting string, specialty string, visit int",
    )
    rows = code_notes(frame).collect()
    assert list(rows[0].asDict()) == [*OUTPUT_COLUMNS, "specialty", "visit"]
    first = next(r for r in rows if r.document == gold[0]["id"] and r.result_json)
    assert first.result_json == batch_lines[0]  # the same note, the same metadata (no nulls)
    assert (first.specialty, first.visit) == ("Pulmonology", None)
    blank = [r for r in rows if r.document == "blank"]
    assert [(r.code, r.error, r.visit) for r in blank] == [
        (None, "empty note: there is nothing to code", 2)
    ]
    with pytest.raises(SparkInputError, match="no column 'text'"):
        code_notes(frame.drop("text"))


def test_the_command_writes_a_parquet_folder(
    notes: Path, tmp_path: Path, batch_lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "coded"
    command = ["spark", str(notes), "-o", str(out), "--partitions", "3", "--ship-cache"]
    assert main(command) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("medcode spark: 9 documents: 6 coded, 3 failed; ")
    assert (out / "_SUCCESS").exists()
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 3
    table = pyarrow.concat_tables(parquet.read_table(p) for p in parts)
    lines = [j for j in table.column("result_json").to_pylist() if j is not None]
    assert sorted(lines) == sorted(batch_lines)
    assert f"; {table.num_rows} rows in {out}; " in err


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "notes.csv"
    table.write_text("document,body\na,Assessment: COPD.\n", encoding="utf-8")
    cases = {
        str(tmp_path / "none.jsonl"): f"{tmp_path / 'none.jsonl'}: no such file or folder",
        str(table): f"{table}: no column 'text' (columns: document, body)",
        str(GOLD): f"{GOLD}: cannot tell JSONL, Parquet or CSV from its name; give --input-format",
    }
    for source, message in cases.items():
        assert main(["spark", source, "-o", str(tmp_path / "out")]) == 2
        assert capsys.readouterr().err == f"medcode spark: {message}\n"
    assert main(["spark", str(notes), "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"medcode spark: {tmp_path}: exists; OUT is a new folder\n"


def test_without_pyspark_the_command_says_what_to_install(
    tmp_path: Path, notes: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    assert main(["spark", str(notes), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == "medcode spark: needs PySpark: pip install 'medcode[spark]'\n"


def test_parquet_and_csv_notes_code_as_their_jsonl_lines(
    notes: Path, tmp_path: Path, batch_lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The coded gold notes, given as a table: the same JSON as batch's lines for them."""
    import csv

    lines = notes.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    records = [r for r in records if r.get("text")]
    columns = ["document", "text", "setting", "specialty", "note_type"]
    table = pyarrow.table({c: [r.get(c) for r in records] for c in columns})
    parquet.write_table(table, tmp_path / "notes.parquet")
    with (tmp_path / "notes.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)  # the notes' line breaks inside quoted fields
        writer.writerows([columns, *([r.get(c) or "" for c in columns] for r in records)])
    expected = sorted(line for line in batch_lines if '"codes": [' in line)
    assert len(expected) == len(records) == 6
    for source in ("notes.parquet", "notes.csv"):
        out = tmp_path / f"coded-{source}"
        assert main(["spark", str(tmp_path / source), "-o", str(out)]) == 0
        assert capsys.readouterr().err.startswith("medcode spark: 6 documents: 6 coded, 0 failed")
        coded = pyarrow.concat_tables(parquet.read_table(p) for p in out.glob("part-*.parquet"))
        assert sorted(j for j in coded.column("result_json").to_pylist() if j) == expected
        assert coded.column_names[-2:] == ["specialty", "note_type"]


def test_the_patient_of_the_claim_is_an_input_not_metadata(
    spark: SparkSession, tmp_path: Path
) -> None:
    """age and sex given with a note reach the claim, from a table as from batch's JSONL, and
    are not metadata columns."""
    text = "Assessment: COPD with acute exacerbation."
    record = {"document": "p", "text": text, "age": 70, "sex": "F", "specialty": "Pulmonology"}
    source = tmp_path / "patient.jsonl"
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    from_jsonl = code_jsonl(spark, str(source)).collect()
    frame = spark.createDataFrame(
        [record], "document string, text string, age int, sex string, specialty string"
    )
    from_table = code_notes(frame).collect()
    assert [r.result_json for r in from_table] == [r.result_json for r in from_jsonl]
    result = json.loads(from_table[0].result_json)
    assert (result["claim"]["patient"]["age"], result["claim"]["patient"]["sex"]) == (70, "F")
    assert result["metadata"] == {"specialty": "Pulmonology"}
    assert list(from_table[0].asDict()) == [*OUTPUT_COLUMNS, "specialty"]
