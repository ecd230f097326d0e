"""Determinism across processes and `medcode replay`: a recorded result re-codes to the same
bytes; every difference is reported (exit 1); unusable input is one line on stderr (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medcode.engine.interfaces.cli import main
from medcode.terminology import CodeSet
from medcode.terminology.cache import load_index, load_lexicon, package_version

NOTES = {
    n["id"]: n
    for n in yaml.safe_load((Path(__file__).parent / "gold" / "notes.yaml").read_text("utf-8"))
}
PICKED = (
    "combination-t2dm-diabetic-ckd-stage-3a-outpatient",
    "negated-migraine-without-aura-outpatient",
    "negated-no-evidence-of-pneumonia-copd-exacerbation-inpatient",
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notes")
    for name in PICKED:
        (folder / f"{name}.txt").write_text(NOTES[name]["text"], encoding="utf-8")
    return folder


# One interpreter writes the JSON Lines, a form feed line, then the HTML page.
BOTH_FORMATS = """
import sys
from medcode.engine.interfaces.cli import main
main(["code", sys.argv[1], "--format", "json"])
print("\\f")
main(["code", sys.argv[1], "--format", "html"])
"""


@pytest.fixture(scope="module")
def recorded(notes: Path, codeset: CodeSet) -> dict[str, bytes]:
    """JSON Lines and HTML for the three notes from two processes with different
    PYTHONHASHSEED values, run side by side (on a warm cache: it is shared with them)."""
    load_lexicon(codeset, load_index(codeset))
    jobs = {
        seed: subprocess.Popen(
            [sys.executable, "-c", BOTH_FORMATS, str(notes)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in ("0", "4242")
    }
    outputs = {}
    for seed, job in jobs.items():
        out, err = job.communicate(timeout=300)
        assert job.returncode == 0, err.decode()
        outputs[f"json-{seed}"], outputs[f"html-{seed}"] = out.split(b"\f\n")
    return outputs


def test_output_is_byte_identical_across_processes_and_hash_seeds(
    recorded: dict[str, bytes], notes: Path
) -> None:
    assert recorded["json-0"] == recorded["json-4242"]
    assert recorded["html-0"] == recorded["html-4242"]
    lines = recorded["json-0"].decode().splitlines()
    assert [json.loads(line)["document"] for line in lines] == [
        str(notes / f"{name}.txt") for name in sorted(PICKED)
    ]


def test_replay_of_another_process_result_is_identical(
    recorded: dict[str, bytes], tmp_path: Path, notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = tmp_path / "result.jsonl"
    result.write_bytes(recorded["json-0"])
    status, out, err = run(capsys, "replay", str(result))
    assert (status, err) == (0, "")
    assert out == "".join(f"{notes / name}.txt: identical\n" for name in sorted(PICKED))
    status, out, _ = run(capsys, "replay", str(result), "--format", "json")
    assert status == 0
    assert json.loads(out.splitlines()[0]) == {
        "document": str(notes / f"{sorted(PICKED)[0]}.txt"),
        "identical": True,
        "input_verified": True,
        "differences": [],
    }


def one_result(recorded: dict[str, bytes], name: str) -> dict:
    lines = recorded["json-0"].decode().splitlines()
    return json.loads(lines[sorted(PICKED).index(name)])


def test_replay_reports_every_difference(
    recorded: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = one_result(recorded, "combination-t2dm-diabetic-ckd-stage-3a-outpatient")
    first, second = (dict(c) for c in result["codes"])  # as the engine wrote them
    assert [(c["code"], c["sequence"]) for c in (first, second)] == [("E11.22", 1), ("N18.31", 2)]
    (dropped,) = result["excluded"]
    assert dropped["reason"] == "documented more specifically as E11.22"
    result["codes"][0]["sequence"], result["codes"][1]["sequence"] = 2, 1
    moved = dict(second["evidence"][0], start=second["evidence"][0]["start"] + 1)
    result["codes"][1]["evidence"] = [moved, *second["evidence"][1:]]
    result["codes"][0]["trace"] = [dict(first["trace"][0], term="t2dm"), *first["trace"][1:]]
    result["codes"].append(dict(first, code="G43.909"))
    result["excluded"] = []
    result["versions"]["engine"] = "0.0.9"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    status, out, err = run(capsys, "replay", str(path))
    dump = json.dumps
    spans = [
        f"{e['start']}:{e['end']} '{e['text']}' [{e['section']}, {e['assertion']}]"
        for e in second["evidence"]
    ]
    tampered = [
        f"{moved['start']}:{moved['end']} '{moved['text']}' [assessment, affirmed]",
        *spans[1:],
    ]
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        f"{result['document']}: 7 difference(s)",
        f"  version changed: engine: 0.0.9 -> {package_version()}",
        f"  code removed: G43.909: #1 {first['description']} ({first['confidence']}) -> (none)",
        "  code resequenced: E11.22: 2 -> 1",
        "  trace changed: E11.22 step 1: "
        f"{dump(dict(first['trace'][0], term='t2dm'))} -> {dump(first['trace'][0])}",
        "  code resequenced: N18.31: 1 -> 2",
        f"  evidence changed: N18.31: {dump(tampered)} -> {dump(spans)}",
        f"  exclusion added: E11.9: (none) -> {dropped['reason']}",
    ]


def test_replay_without_input_record_replays_unverified(
    recorded: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = one_result(recorded, "combination-t2dm-diabetic-ckd-stage-3a-outpatient")
    del result["input"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")  # pretty-printed is fine
    status, out, _ = run(capsys, "replay", str(path))
    assert (status, out.splitlines()) == (
        0,
        [
            f"{result['document']}: identical",
            "  note: the result records no input sha256; the note was not verified",
        ],
    )


def test_replay_of_text_input_needs_the_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "Assessment: essential hypertension."
    _, out, _ = run(capsys, "code", "--text", text, "--format", "json")
    result = tmp_path / "result.json"
    result.write_text(out, encoding="utf-8")
    assert run(capsys, "replay", str(result)) == (
        2,
        "",
        f"medcode replay: {result}: the note was coded from --text; give it with --note PATH\n",
    )
    note = tmp_path / "note.txt"
    note.write_text(text, encoding="utf-8")
    assert run(capsys, "replay", str(result), "--note", str(note)) == (0, "text: identical\n", "")
    note.write_text(text + " Also gout.", encoding="utf-8")
    status, out, err = run(capsys, "replay", str(result), "--note", str(note))
    assert (status, out) == (2, "")
    assert err.startswith(f"medcode replay: {note}: not the note of this result (sha256 ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "{path}:1: not a JSON result (Expecting property name enclosed in double "
                      "quotes, column 2)"),
        ('{"codes": []}', "{path}: not a medcode result (missing document, fy, setting, "
                          "excluded, edits, queries, versions)"),
        ("[1]", "{path}: not a medcode result (a JSON object is expected)"),
        ("", "{path}: no result in the file"),
    ],
)  # fmt: skip
def test_malformed_results_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    expected = "medcode replay: " + message.format(path=path) + "\n"
    assert run(capsys, "replay", str(path)) == (2, "", expected)


def test_missing_result_or_note_exit_2(
    recorded: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    assert run(capsys, "replay", str(missing)) == (
        2,
        "",
        f"medcode replay: {missing}: No such file or directory\n",
    )
    result = one_result(recorded, "negated-migraine-without-aura-outpatient")
    result["document"] = "gone/note.txt"
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result), encoding="utf-8")
    assert run(capsys, "replay", str(path)) == (
        2,
        "",
        f"medcode replay: {path}: note gone/note.txt not found; give it with --note PATH\n",
    )
    lines = tmp_path / "two.jsonl"
    lines.write_bytes(recorded["json-0"])
    assert run(capsys, "replay", str(lines), "--note", "x.txt") == (
        2,
        "",
        f"medcode replay: {lines}: --note applies to one result; the file holds 3\n",
    )


def test_an_llm_answer_from_the_cache_is_no_difference() -> None:
    from medcode.engine.audit.replay import compare

    def result(cached: bool) -> dict:
        step = {"step": "llm", "model": "m", "prompt_sha256": "0" * 64, "status": "chosen"}
        code = {
            "code": "I50.30",
            "sequence": 1,
            "trace": [dict(step, code="I50.30", cached=cached)],
        }
        return {"document": "d", "fy": 2026, "setting": "inpatient", "codes": [code],
                "excluded": [], "edits": [], "queries": [], "versions": {}}  # fmt: skip

    assert compare(result(False), result(True)) == []
    changed = result(True)
    changed["codes"][0]["trace"][0]["code"] = "I50.20"
    assert [d.kind for d in compare(result(False), changed)] == ["trace changed"]
