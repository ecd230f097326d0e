"""Hostile input on the command line (issue 19): every bad input gets one line on stderr and
exit status 2, never a traceback, and nothing is lost: the other documents are still coded."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medcode.engine.coding.coder import Coder
from medcode.engine.interfaces import batch
from medcode.engine.interfaces.cli import main

CLI = [sys.executable, "-m", "medcode.engine.interfaces.cli"]
COPD = "Assessment: COPD with acute exacerbation."
ASTHMA = "Assessment: mild intermittent asthma."


@pytest.fixture(scope="module")
def coder() -> Coder:
    """Also warms the session's cache, so subprocesses under resource limits only read it."""
    return Coder()


@pytest.fixture
def shared_coder(coder: Coder, monkeypatch: pytest.MonkeyPatch) -> Coder:
    monkeypatch.setattr(batch, "_coder", lambda tabular: coder)
    return coder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_cli(*argv: str | bytes, **options) -> subprocess.CompletedProcess[bytes]:
    options.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([*CLI, *argv], stderr=subprocess.PIPE, timeout=300, **options)


def one_line(err: str | bytes) -> str:
    """The only line of stderr (asserts there is exactly one, and no traceback)."""
    text = err.decode("utf-8", "backslashreplace") if isinstance(err, bytes) else err
    assert "Traceback" not in text
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return text[:-1]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def jsonl(path: Path, *records: dict | str) -> Path:
    lines = (r if isinstance(r, str) else json.dumps(r) for r in records)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# -- medcode code: every readable note is coded ---------------------------------------------


def test_code_folder_codes_every_readable_note_and_reports_each_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(COPD, encoding="utf-8")
    (folder / "b.txt").write_bytes(b"MZ\x90\x00\x03")
    (folder / "c.txt").write_bytes("Assessment: caf\xe9 asthma.".encode("latin-1"))
    (folder / "d.txt").write_text(ASTHMA, encoding="utf-8")
    missing = tmp_path / "missing.txt"
    status, out, err = run(capsys, "code", str(folder), str(missing), "--format", "json")
    assert status == 2
    assert [json.loads(line)["document"] for line in out.splitlines()] == [
        str(folder / "a.txt"),
        str(folder / "d.txt"),
    ]
    assert err.splitlines() == [
        f"medcode: {folder / 'b.txt'}: binary file, not a text note",
        f"medcode: {folder / 'c.txt'}: not UTF-8 text (byte 15: b'\\xe9')",
        f"medcode: {missing}: no such file or folder",
    ]
    assert "Traceback" not in err


# -- medcode batch: resume keys on the input's identity -------------------------------------


def test_batch_never_takes_foreign_lines_in_out_as_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = jsonl(tmp_path / "in.jsonl", {"document": "a", "text": COPD})
    out = tmp_path / "out.jsonl"
    out.write_bytes(source.read_bytes())  # OUT holds the input lines: none is a result
    status, _, err = run(capsys, "batch", str(source), "-o", str(out), "--no-progress")
    assert status == 2
    assert one_line(err) == f"medcode batch: {out}:1: not a medcode batch line; give a new OUT"
    assert out.read_bytes() == source.read_bytes()
    # Not even a torn last line is cut from a file that is not ours.
    out.write_bytes(b"notes, not results")
    assert run(capsys, "batch", str(source), "-o", str(out), "--no-progress")[0] == 2
    assert out.read_bytes() == b"notes, not results"


def test_batch_resume_codes_again_a_document_whose_text_changed(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    first = jsonl(
        tmp_path / "in.jsonl", {"document": "a", "text": COPD}, {"document": "b", "text": COPD}
    )
    assert run(capsys, "batch", str(first), "-o", str(out), "--no-progress")[0] == 0
    jsonl(first, {"document": "a", "text": COPD}, {"document": "b", "text": ASTHMA})
    status, _, err = run(capsys, "batch", str(first), "-o", str(out), "--no-progress")
    assert status == 0
    assert one_line(err).startswith("medcode batch: 2 documents: 1 coded, 0 failed, 1 already in")
    assert [(r["document"], r["input"]["sha256"]) for r in results(out)] == [
        ("a", sha256(COPD)),
        ("b", sha256(COPD)),
        ("b", sha256(ASTHMA)),
    ]


def test_batch_error_lines_carry_the_identity_of_the_failing_input(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Line 1 is not JSON: its error line is {"document": "in.jsonl:1", ...}, an id that line 2
    # really uses. A run killed after line 1 must still code line 2 when resumed.
    source = jsonl(tmp_path / "in.jsonl", "not json", {"document": "in.jsonl:1", "text": COPD})
    out = tmp_path / "out.jsonl"
    assert run(capsys, "batch", str(source), "-o", str(out), "--no-progress")[0] == 1
    done = results(out)
    assert done[0] == {
        "document": "in.jsonl:1",
        "error": "in.jsonl:1: not a JSON object (Expecting value: line 1 column 1 (char 0))",
        "input": {"sha256": sha256("not json")},
    }
    out.write_text(json.dumps(done[0]) + "\n", encoding="utf-8")  # killed after line 1
    assert run(capsys, "batch", str(source), "-o", str(out), "--no-progress")[0] == 0
    assert results(out)[1]["document"] == "in.jsonl:1" and "codes" in results(out)[1]
    # A line that is fixed is a new input: it is retried; the rest is done.
    jsonl(source, {"document": "x", "text": ASTHMA}, {"document": "in.jsonl:1", "text": COPD})
    status, _, err = run(capsys, "batch", str(source), "-o", str(out), "--no-progress")
    assert status == 0
    assert "1 coded, 0 failed, 1 already in" in one_line(err)
    assert [r["document"] for r in results(out)] == ["in.jsonl:1", "in.jsonl:1", "x"]


def test_batch_reports_a_repeated_document_id_and_codes_both(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    same = {"document": "a", "text": COPD}
    source = jsonl(tmp_path / "in.jsonl", same, same, {"document": "a", "text": ASTHMA})
    out = tmp_path / "out.jsonl"
    status, _, err = run(capsys, "batch", str(source), "-o", str(out), "--no-progress")
    assert status == 0
    assert err.splitlines()[:2] == [
        "medcode batch: in.jsonl:2: document id 'a' also at line 1; both coded",
        "medcode batch: in.jsonl:3: document id 'a' also at line 1; both coded",
    ]
    coded = results(out)
    assert [r["input"]["sha256"] for r in coded] == [sha256(COPD), sha256(COPD), sha256(ASTHMA)]
    # Each line of OUT answers for one document: killed after the first, the twin is coded.
    out.write_text(json.dumps(coded[0]) + "\n", encoding="utf-8")
    status, _, err = run(capsys, "batch", str(source), "-o", str(out), "--no-progress")
    assert status == 0
    assert "3 documents: 2 coded, 0 failed, 1 already in" in err.splitlines()[2]
    assert results(out) == coded


def test_batch_workers_die_with_a_parent_killed_by_sigkill(tmp_path: Path, coder: Coder) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(200):
        (folder / f"n{i:03}.txt").write_text(f"{COPD} Visit {i}.", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    command = [*CLI, "batch", str(folder), "-o", str(out), "--workers", "2", "--no-progress"]
    run = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_bytes().count(b"\n") >= 2):  # workers are coding
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        workers = children(run.pid)
        assert len(workers) >= 2  # two workers (and multiprocessing's resource tracker)
        run.send_signal(signal.SIGKILL)  # the parent alone, not its process group
        run.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if alive(pid)] == []
    finally:
        for pid in workers:  # never leave them behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan is reaped by whoever adopts it, maybe never here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- closed stdin and stdout, a full disk -------------------------------------------------------


def _close(fd: int):
    return lambda: os.close(fd)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["code", "-"], "medcode: stdin: standard input is closed"),
        (["code", "--fhir", "-"], "medcode code: stdin: standard input is closed"),
    ],
)
def test_closed_stdin_is_one_line_and_exit_2(argv: list[str], message: str, coder: Coder) -> None:
    result = run_cli(*argv, stdin=subprocess.DEVNULL, preexec_fn=_close(0))
    assert (result.returncode, one_line(result.stderr)) == (2, message)


def test_closed_stdout_is_one_line_and_exit_2(coder: Coder) -> None:
    result = run_cli("code", "--text", "COPD", preexec_fn=_close(1))
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "medcode: standard output is closed; nowhere to write the result"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_exit_2(coder: Coder) -> None:
    with open("/dev/full", "wb") as full:
        result = run_cli("code", "--text", "COPD", "--format", "json", stdout=full)
    assert result.returncode == 2
    assert one_line(result.stderr) == "medcode: cannot write the output: No space left on device"


def test_batch_out_that_cannot_be_written_is_one_line_and_resumes(
    tmp_path: Path, coder: Coder
) -> None:
    source = jsonl(tmp_path / "in.jsonl", *({"document": f"d{i}", "text": COPD} for i in range(3)))
    out = tmp_path / "out.jsonl"

    def small_files() -> None:  # the first result line (~1.7 kB) does not fit
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    command = ["batch", str(source), "-o", str(out), "--no-progress"]
    result = run_cli(*command, preexec_fn=small_files)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"medcode batch: {out}: cannot write (wrote 1024 of ")
    assert line.endswith(" bytes); rerun to resume")
    result = run_cli(*command)
    assert result.returncode == 0
    assert [r["document"] for r in results(out)] == ["d0", "d1", "d2"]


# -- text that is not UTF-8 ---------------------------------------------------------------------


def test_text_that_is_not_utf8_is_one_line_and_exit_2(coder: Coder) -> None:
    # argv is decoded with surrogateescape: the byte 0xff arrives as the lone surrogate '\udcff'
    result = run_cli("code", "--text", b"COPD \xff", "--format", "json")
    assert (result.returncode, result.stdout) == (2, b"")
    assert one_line(result.stderr) == "medcode: --text: not UTF-8 text (byte 5: b'\\xff')"


def test_a_file_name_that_is_not_utf8_stays_valid_json(tmp_path: Path, coder: Coder) -> None:
    note = os.fsencode(tmp_path) + b"/\xffnote.txt"
    Path(os.fsdecode(note)).write_text(COPD, encoding="utf-8")
    result = run_cli("code", note, "--format", "json")
    assert (result.returncode, result.stderr) == (0, b"")
    assert json.loads(result.stdout)["document"] == os.fsdecode(note)  # '\udcffnote.txt'


def test_batch_text_with_a_lone_surrogate_is_an_error_line(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"document": "s", "text": "COPD \\udcff"}\n'
        '{"document": "\\udcff", "text": "Assessment: COPD."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert run(capsys, "batch", str(source), "-o", str(out), "--no-progress")[0] == 1
    bad, named = results(out)
    assert bad["error"] == "in.jsonl:1: text is not Unicode (a lone surrogate at character 5)"
    assert named["document"] == "\udcff" and named["codes"]
    assert run(capsys, "batch", str(source), "-o", str(out), "--no-progress")[0] == 0


# -- --tabular: non-UTF-8 or malformed XML --------------------------------------------------


HEAD = b"<ICD10CM.tabular><version>2026</version><chapter><name>1</name><desc>c</desc>"
SECTION = b'<section id="A00-A01"><desc>s</desc>'
TAIL = b"</section></chapter></ICD10CM.tabular>"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<diag><name>A00</name><desc>caf\xe9</desc></diag>",
            "malformed Tabular List XML {xml}: Invalid bytes in character encoding",
        ),
        (
            b"<diag><name>A00</name><desc>x</desc></diag>" * 2,
            "code A00 is twice in the Tabular List",
        ),
        (
            b"<diag><name>A00</name><desc>x</desc><sevenChrDef><extension>A</extension>"
            b"</sevenChrDef></diag>",
            "malformed 7th character '' in the Tabular List",
        ),
    ],
)
def test_a_bad_tabular_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, message: str
) -> None:
    xml = tmp_path / "tabular.xml"
    xml.write_bytes(HEAD + SECTION + body + TAIL)
    status, out, err = run(capsys, "validate", "A00", "--tabular", str(xml))
    assert (status, out) == (2, "")
    assert one_line(err).startswith("medcode: " + message.format(xml=xml))


# -- medcode batch: IN and OUT that cannot be used ------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("folder", "{out}: is a folder; OUT is a file"),
        ("missing/out.jsonl", "{out}: no such folder: {tmp}/missing"),
        ("in.jsonl", "{out}: OUT is IN; give another file"),
        ("fifo", "{out}: not a regular file; OUT is read back to resume"),
    ],
)
def test_batch_out_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, message: str
) -> None:
    source = jsonl(tmp_path / "in.jsonl", {"document": "a", "text": COPD})
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    out = tmp_path / given
    status, _, err = run(capsys, "batch", str(source), "-o", str(out), "--no-progress")
    assert status == 2
    assert one_line(err) == "medcode batch: " + message.format(out=out, tmp=tmp_path)
    assert source.read_text(encoding="utf-8").count("\n") == 1


def test_batch_in_that_is_a_pipe_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "fifo")  # read twice (counted, then coded), a pipe would code nothing
    status, _, err = run(capsys, "batch", str(tmp_path / "fifo"), "-o", str(tmp_path / "o"))
    assert status == 2
    assert one_line(err) == f"medcode batch: {tmp_path / 'fifo'}: not a folder or a regular file"


# -- codes: ASCII before case folding, control characters escaped ---------------------------


def test_validate_does_not_fold_other_scripts_into_a_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # str.upper() turns the long s U+017F into 'S': the code would be read as S11.9
    long_s = "\u017f11.9"
    status, out, _ = run(capsys, "validate", long_s)
    assert (status, out) == (1, f"{long_s}\tinvalid\t-\tnot an ICD-10-CM code\n")
    status, out, _ = run(capsys, "validate", long_s, "--format", "json")
    assert json.loads(out)[0]["valid"] is False
    status, _, err = run(capsys, "show", long_s)
    assert (status, one_line(err)) == (2, f"medcode show: not an ICD-10-CM code: {long_s}")


def test_control_characters_echoed_in_messages_are_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "validate", "E11\x1b[31m9")
    assert (status, out) == (1, "E11\\x1b[31m9\tinvalid\t-\tnot an ICD-10-CM code\n")
    status, _, err = run(capsys, "show", "E1\n1\x07")
    assert (status, one_line(err)) == (2, "medcode: unknown ICD-10-CM code: E1\\n1\\x07")


# -- search --limit -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_search_limit_must_be_positive(capsys: pytest.CaptureFixture[str], limit: str) -> None:
    status, out, err = run(capsys, "search", "copd", "--limit", limit)
    assert (status, out) == (2, "")
    assert one_line(err) == (
        f"medcode search: argument --limit: must be a whole number of at least 1, not '{limit}'"
    )


# -- medcode batch --budget -----------------------------------------------------------------


def test_batch_budget_makes_a_note_over_it_an_error_line_and_goes_on(
    tmp_path: Path, shared_coder: Coder, capsys: pytest.CaptureFixture[str]
) -> None:
    source = jsonl(
        tmp_path / "in.jsonl", {"document": "a", "text": COPD}, {"document": "b", "text": ASTHMA}
    )
    out = tmp_path / "out.jsonl"
    # A billionth of a second: every note is over it, whatever the machine.
    command = ["batch", str(source), "-o", str(out), "--no-progress"]
    assert run(capsys, *command, "--budget", "1e-9")[0] == 1
    assert [(r["document"], r["input"]["sha256"]) for r in results(out)] == [
        ("a", sha256(COPD)),
        ("b", sha256(ASTHMA)),
    ]
    assert all(r["error"].startswith("note over the time budget: ") for r in results(out))
    out.unlink()
    assert run(capsys, *command, "--budget", "1e6")[0] == 0
    assert results(out)[0] == (shared_coder.code(COPD, document="a").with_input(COPD).to_json())
    status, _, err = run(capsys, *command, "--budget", "0")
    assert (status, one_line(err)) == (
        2,
        "medcode batch: argument --budget: must be a number of seconds above 0, not '0'",
    )
