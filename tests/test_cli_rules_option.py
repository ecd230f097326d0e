"""`--rules` adds a pack to the shipped ones and `--rules-only` replaces them, on code, batch,
serve and check; a pack is linted first, and one with problems is never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcode.engine.interfaces.cli import main
from medcode.engine.rulelang import RULES_DIR, RuleBook
from medcode.engine.rulelang.book import RULES_ENV, shipped_digest

PACK = Path(__file__).resolve().parent / "fixtures" / "rules_added"
SOURCE = f"{PACK / 'heart_failure_review.rules'}:4"
NOTE = "Assessment: acute on chronic systolic heart failure. Type 1 diabetes. Type 2 diabetes."
REVIEW = {
    "rule": "local-heart-failure-review",
    "severity": "warning",
    "codes": ["I50.23"],
    "message": "I50.23 (Acute on chronic systolic (congestive) heart failure): heart failure is "
    "reviewed by the local team",
    "source": SOURCE,
}
# The shipped pack's edit on the same note: added rules do not hide the shipped ones.
EXCLUDES1 = ("excludes1-conflict", "error", ["E10.9", "E11.9"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def combined_digest() -> str:
    return RuleBook.load([RULES_DIR, PACK]).digest


@pytest.fixture
def bad_pack(tmp_path: Path) -> Path:
    """Two files with one problem each: a lowercase code and a code not in the code set."""
    (tmp_path / "a.rules").write_text('rule a "t" when code ?a in e11.9 then drop ?a\n', "utf-8")
    (tmp_path / "b.rules").write_text('rule b "t" when code ?a in E11.99 then drop ?a\n', "utf-8")
    return tmp_path


def test_code_with_an_added_pack_shows_its_edit_and_names_the_combined_book(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "code", "--text", NOTE, "--rules", str(PACK), "--format", "json")
    result = json.loads(out)
    assert status == 0
    assert [c["code"] for c in result["codes"]] == ["I50.23", "E10.9", "E11.9"]
    assert [(e["rule"], e["severity"], e["codes"]) for e in result["edits"]] == [
        EXCLUDES1,
        ("local-heart-failure-review", "warning", ["I50.23"]),
    ]
    assert result["edits"][1] == REVIEW
    assert result["versions"]["rules"] == combined_digest()
    assert combined_digest() != shipped_digest()


def test_code_text_shows_the_added_edit(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "code", "--text", NOTE, "--rules", str(PACK))
    assert status == 0
    assert out.splitlines()[-1] == (
        f"  warning: I50.23: {REVIEW['message']}  [local-heart-failure-review, {SOURCE}]"
    )


def test_check_adds_the_pack_to_the_shipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("check", "I50.23", "E10.9", "E11.9", "--format", "json")
    status, out, _ = run(capsys, *argv, "--rules", str(PACK))
    assert status == 1  # the shipped Excludes1 error
    edits = json.loads(out)["edits"]
    assert [(e["rule"], e["severity"], e["codes"]) for e in edits] == [
        EXCLUDES1,
        ("local-heart-failure-review", "warning", ["I50.23"]),
    ]
    assert edits[1] == REVIEW


def test_check_with_rules_only_runs_the_pack_alone(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "I50.23", "E10.9", "E11.9", "--rules-only", str(PACK))
    assert status == 0  # no shipped rule: no Excludes1 error
    assert out.splitlines() == [
        "  1. I50.23    Acute on chronic systolic (congestive) heart failure",
        "  2. E10.9     Type 1 diabetes mellitus without complications",
        "  3. E11.9     Type 2 diabetes mellitus without complications",
        f"  warning: I50.23: {REVIEW['message']}  [local-heart-failure-review, {SOURCE}]",
    ]


def test_batch_codes_with_the_added_pack(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source, out = tmp_path / "notes.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"document": "hf", "text": NOTE}) + "\n", "utf-8")
    status, _, _ = run(capsys, "batch", str(source), "-o", str(out), "--rules", str(PACK))
    (result,) = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert status == 0
    assert result["edits"][1] == REVIEW
    assert result["versions"]["rules"] == combined_digest()


@pytest.mark.parametrize(
    "argv",
    [
        ["code", "--text", NOTE],
        ["check", "I10"],
        ["batch", "IN", "-o", "OUT"],
        ["serve"],
    ],
    ids=["code", "check", "batch", "serve"],
)
@pytest.mark.parametrize("option", ["--rules", "--rules-only"])
def test_a_pack_with_lint_errors_is_one_line_a_finding_and_exit_2(
    capsys: pytest.CaptureFixture[str], bad_pack: Path, argv: list[str], option: str
) -> None:
    argv = [str(bad_pack / "notes.jsonl") if a == "IN" else a for a in argv]
    argv = [str(bad_pack / "out.jsonl") if a == "OUT" else a for a in argv]
    status, out, err = run(capsys, *argv, option, str(bad_pack))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"medcode {argv[0]}: {bad_pack / 'a.rules'}:1:28: codes are written in capitals: "
        "e11.9 -> E11.9",
        f"medcode {argv[0]}: {bad_pack / 'b.rules'}:1:28: unknown code or empty range: E11.99",
    ]
    assert not (bad_pack / "out.jsonl").exists()  # never coded with a broken pack


def test_a_missing_pack_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check", "I10", "--rules", "no/such/pack")
    assert (status, out, err) == (
        2,
        "",
        "medcode check: no such rules file or folder: no/such/pack\n",
    )


def test_serve_hands_the_book_to_its_workers_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from medcode.engine.interfaces.cli import build_parser
    from medcode.engine.interfaces.rule_commands import rules_environment

    args = build_parser().parse_args(["serve", "--rules", str(PACK)])
    environment = rules_environment(args)
    assert environment == {RULES_ENV: f"{RULES_DIR}:{PACK}"}
    monkeypatch.setenv(RULES_ENV, environment[RULES_ENV])
    book = RuleBook.from_environment()
    assert book is not None and book.digest == combined_digest()
    monkeypatch.delenv(RULES_ENV)
    assert RuleBook.from_environment() is None  # the shipped packs
    assert rules_environment(build_parser().parse_args(["serve"])) == {}
