"""`medcode batch`: one line per document in input order, failures reported and skipped, and a
killed run resumed so that every document is coded exactly once."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from medcode.engine.coding.coder import Coder
from medcode.engine.interfaces import batch
from medcode.engine.interfaces.cli import main

GOLD = Path(__file__).resolve().parent / "gold" / "notes.yaml"
DOCUMENTS = 240


@pytest.fixture(scope="module")
def coder() -> Coder:
    return Coder()


@pytest.fixture
def shared_coder(coder: Coder, monkeypatch: pytest.MonkeyPatch) -> Coder:
    """In-process batches use the module's Coder instead of loading another."""
    monkeypatch.setattr(batch, "_coder", lambda tabular: coder)
    return coder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DOCUMENTS notes, the gold notes over and over, as note-000.txt ..."""
    notes = [n["text"] for n in yaml.safe_load(GOLD.read_text(encoding="utf-8"))]
    path = tmp_path_factory.mktemp("notes")
    for i in range(DOCUMENTS):
        (path / f"note-{i:03}.txt").write_text(notes[i % len(notes)], encoding="utf-8")
    return path


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected(coder: Coder, name: str, text: str, setting: str = "auto") -> dict:
    return coder.code(text, document=name, setting=setting).with_input(text).to_json()


def test_a_killed_batch_resumes_and_codes_every_document_once(
    folder: Path, tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "medcode.engine.interfaces.cli",
        "batch",
        str(folder),
        "-o",
        str(out),
    ]
    run = subprocess.Popen(
        [*command, "--workers", "2", "--no-progress"],
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )
    deadline = time.monotonic() + 90
    while not (out.exists() and out.read_bytes().count(b"\n") >= 10):
        assert run.poll() is None, run.stderr.read().decode() if run.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(10)
    run.stderr.close()
    data = out.read_bytes()
    written = data.count(b"\n")
    assert 10 <= written < DOCUMENTS  # killed mid-run
    # A kill in the middle of a write leaves a torn last line. Whether this kill did depends on
    # timing: cut back to the last whole line, then tear one of a known length.
    out.write_bytes(data[: data.rindex(b"\n") + 1] + b'{"document": "note-1')
    status = main(["batch", str(folder), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0
    assert err.splitlines()[0] == (
        f"medcode batch: {out}: dropped a torn last line (20 bytes); redoing"
    )
    assert err.splitlines()[1].startswith(
        f"medcode batch: {DOCUMENTS} documents: {DOCUMENTS - written} coded, 0 failed, "
        f"{written} already in {out}; "
    )
    results = lines(out)
    names = sorted(p.name for p in folder.glob("*.txt"))
    assert [r["document"] for r in results] == names  # each once, in input order
    for result in results:
        text = (folder / result["document"]).read_text(encoding="utf-8")
        assert result == expected(shared_coder, result["document"], text)
    # Nothing left: a third run codes nothing and leaves OUT as it is.
    before = out.read_bytes()
    assert main(["batch", str(folder), "-o", str(out), "--no-progress"]) == 0
    assert out.read_bytes() == before
    assert f"0 coded, 0 failed, {DOCUMENTS} already in" in capsys.readouterr().err


def test_failed_documents_are_error_lines_and_the_others_are_coded(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "notes.jsonl"
    records = [
        '{"document": "a", "text": "Assessment: COPD with acute exacerbation."}',
        "not json",
        '{"document": "b", "text": "Assessment: possible pneumonia.", "setting": "outpatient"}',
        '{"text": "no id"}',
        '{"document": "a", "text": "again"}',
        '{"document": "c", "text": "COPD", "setting": "emergency"}',
        '{"document": "d", "text": 42}',
        "",
        '{"document": "e", "text": "Discharge Diagnoses: possible pneumonia."}',
    ]
    source.write_text("\n".join(records) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "medcode batch: notes.jsonl:5: document id 'a' also at line 1; both coded"
    assert err[1].startswith(f"medcode batch: 8 documents: 4 coded, 4 failed, 0 already in {out}; ")
    results = lines(out)
    assert results[0] == expected(shared_coder, "a", "Assessment: COPD with acute exacerbation.")
    assert results[2] == expected(
        shared_coder, "b", "Assessment: possible pneumonia.", "outpatient"
    )
    assert results[4] == expected(shared_coder, "a", "again")  # a repeated id loses nothing
    assert [(r["document"], r.get("error")) for r in results] == [
        ("a", None),
        (
            "notes.jsonl:2",
            "notes.jsonl:2: not a JSON object (Expecting value: line 1 column 1 (char 0))",
        ),
        ("b", None),
        ("notes.jsonl:4", 'notes.jsonl:4: needs a non-empty string "document"'),
        ("a", None),
        ("c", "unknown setting 'emergency' (inpatient, outpatient or auto)"),
        ("d", 'notes.jsonl:7: needs a string "text"'),
        ("e", None),
    ]
    # Error lines name their input: the text's sha256, or the raw line's without a text.
    assert results[5]["input"] == {"sha256": sha256(b"COPD")}
    assert results[1]["input"] == {"sha256": sha256(b"not json")}
    assert [c["code"] for c in results[7]["codes"]] == ["J18.9"]
    # Error lines count as done: a rerun has nothing to do.
    assert main(["batch", str(source), "-o", str(out), "--no-progress"]) == 0
    assert len(lines(out)) == 8


def test_unreadable_notes_in_a_folder_are_reported_and_skipped(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Assessment: COPD.", encoding="utf-8")
    (tmp_path / "in" / "b.txt").write_bytes(b"MZ\x90\x00\x03")
    (tmp_path / "in" / "c.txt").write_bytes("Assessment: caf\xe9 asthma.".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--no-progress"]) == 1
    capsys.readouterr()
    folder = tmp_path / "in"
    assert [(r["document"], r.get("error")) for r in lines(out)] == [
        ("a.txt", None),
        ("b.txt", f"{folder / 'b.txt'}: binary file, not a text note"),
        ("c.txt", f"{folder / 'c.txt'}: not UTF-8 text (byte 15: b'\\xe9')"),
    ]


def test_an_out_file_that_is_not_a_batch_output_is_refused(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("hello\nworld\n", encoding="utf-8")
    assert main(["batch", str(folder), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"medcode batch: {out}:1: not a medcode batch line; give a new OUT\n"
    )
    assert out.read_text(encoding="utf-8") == "hello\nworld\n"
    assert main(["batch", str(tmp_path / "none"), "-o", str(out)]) == 2
    assert (
        capsys.readouterr().err == f"medcode batch: {tmp_path / 'none'}: no such file or folder\n"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_counts_documents_and_failures() -> None:
    stream = Terminal()
    bar = batch.Progress(4, stream, interval=0)
    bar.skip()
    bar.step(failed=False)
    bar.step(failed=True)
    bar.step(failed=False)
    bar.close()
    frames = stream.getvalue().split("\r")
    assert [re.sub(r"\[.*\]", "[]", f) for f in frames[1:-2]] == [
        "medcode batch:   0%|          | 0/4 []",
        "medcode batch:  25%|##5       | 1/4 []",
        "medcode batch:  50%|#####     | 2/4 []",
        "medcode batch:  75%|#######5  | 3/4 []",
        "medcode batch: 100%|##########| 4/4 []",
    ]
    assert frames[3].endswith(", failed=0]") and frames[4].endswith(", failed=1]")
    assert frames[-1] == "" and frames[-2].strip() == ""  # cleared: no residue
    assert (bar.already, bar.done, bar.failed) == (1, 3, 1)


def test_a_notice_while_the_bar_is_drawn_is_a_line_of_its_own() -> None:
    stream = Terminal()
    bar = batch.Progress(2, stream, interval=0)
    bar.step(failed=False)
    bar.write(stream, "medcode batch: in.jsonl:2: document id 'a' also at line 1; both coded\n")
    bar.close()
    before, _ = stream.getvalue().split("\n")
    *_, cleared, notice = before.split("\r")
    assert cleared.strip() == ""  # the bar was cleared first
    assert notice == "medcode batch: in.jsonl:2: document id 'a' also at line 1; both coded"


def test_batch_draws_the_bar_on_a_terminal_only(tmp_path: Path, shared_coder: Coder) -> None:
    source = tmp_path / "notes.jsonl"
    source.write_text(
        "".join(
            json.dumps({"document": f"d{i}", "text": "Assessment: COPD."}) + "\n" for i in range(3)
        )
        + '{"document": "bad", "text": "x\\u0000y"}\n',
        encoding="utf-8",
    )
    terminal, log = Terminal(), io.StringIO()
    summary = batch.run_batch(source, tmp_path / "out.jsonl", progress=terminal)
    assert (summary.total, summary.already, summary.coded, summary.failed) == (4, 0, 3, 1)
    assert terminal.getvalue().startswith("\rmedcode batch:   0%|")
    assert terminal.getvalue().split("\r")[-2].strip() == ""  # cleared at the end
    summary = batch.run_batch(source, tmp_path / "again.jsonl", progress=log)
    assert (summary.coded, summary.failed, log.getvalue()) == (3, 1, "")


def test_ctrl_c_ends_a_batch_with_a_summary_and_the_workers_stopped(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "medcode.engine.interfaces.cli", "batch", str(folder)]
    run = subprocess.Popen(
        [*command, "-o", str(out), "--workers", "2"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 90
    while not (out.exists() and out.read_bytes().count(b"\n") >= 10):
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the whole group gets it
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130
    summary = re.fullmatch(
        r"medcode batch: interrupted: (\d+) coded, 0 failed, (\d+) remaining; rerun to resume",
        err.splitlines()[-1],
    )
    assert summary, err
    coded, remaining = int(summary[1]), int(summary[2])
    assert coded == out.read_bytes().count(b"\n")
    assert coded + remaining == DOCUMENTS and remaining > 0
    # The workers are joined before the run exits; multiprocessing's resource tracker, also in
    # the group, ends when it reads that its parent is gone.
    deadline = time.monotonic() + 30
    while _group_alive(run.pid):
        assert time.monotonic() < deadline, "a process of the run outlived it"
        time.sleep(0.05)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_other_input_fields_are_kept_under_metadata(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "notes.jsonl"
    records = [
        {"document": "a", "text": "Assessment: COPD.", "specialty": "Pulmonology", "visit": 3},
        {"document": "b", "text": "Assessment: asthma.", "note_type": None},
        {"document": "c", "text": "", "setting": "outpatient", "note_type": "consult"},
        {"document": "d", "text": 7, "specialty": "Cardiology"},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out), "--no-progress"]) == 1
    capsys.readouterr()
    results = lines(out)
    # Additive, after the contract's keys; absent without other fields (a null is no field).
    a = expected(shared_coder, "a", "Assessment: COPD.")
    assert results[0] == {**a, "metadata": {"specialty": "Pulmonology", "visit": 3}}
    assert list(results[0])[-1] == "metadata"
    assert results[1] == expected(shared_coder, "b", "Assessment: asthma.")
    # Error lines keep them too: a report counts failures by specialty.
    assert results[2] == {
        "document": "c",
        "error": "empty note: there is nothing to code",
        "input": {"sha256": sha256(b"")},
        "metadata": {"note_type": "consult"},
    }
    assert results[3]["metadata"] == {"specialty": "Cardiology"}
    # The key does not disturb resuming: a rerun finds every document done.
    assert main(["batch", str(source), "-o", str(out), "--no-progress"]) == 0
    assert len(lines(out)) == 4


def test_a_jsonl_object_may_give_the_patient_of_its_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """age, sex, discharge_status and date reach the claim (docs/CLAIMS.md) as `medcode code
    --age ...` takes them; they are inputs, not metadata; a bad one fails its document only."""
    note = "Discharge diagnoses: pneumonia. Heart failure."
    source = tmp_path / "notes.jsonl"
    records = [
        {"document": "a", "text": note, "setting": "inpatient", "age": 81, "sex": "F",
         "discharge_status": 3, "date": "2025-01-15", "specialty": "Medicine"},
        {"document": "b", "text": note, "age": 200},
    ]  # fmt: skip
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out), "--no-progress"]) == 1
    capsys.readouterr()
    given, refused = lines(out)
    assert given["claim"]["patient"] == {
        "age": 81,
        "sex": "F",
        "discharge_status": 3,
        "sources": {"age": "given", "sex": "given", "discharge_status": "given"},
    }
    assert (given["claim"]["fy"], given["claim"]["grouper_version"]) == (2025, 420)
    assert given["metadata"] == {"specialty": "Medicine"}
    assert refused == {
        "document": "b",
        "error": "age 200 is outside 0-124 years",
        "input": {"sha256": sha256(note.encode())},
    }
