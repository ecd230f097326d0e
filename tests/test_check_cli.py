"""`medcode check` (claim-scrubber mode) and `medcode rules lint|test` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcode.engine.interfaces.cli import main
from medcode.engine.rulelang import RULES_DIR


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if "--format" in argv else out), err


def line_of(rule_id: str) -> int:
    """Where a shipped rule is written, so that tests survive rules added above it."""
    text = (RULES_DIR / "tabular.rules").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(text, 1) if line.startswith(f"rule {rule_id} "))


def edits(output: dict) -> list[tuple[str, str, list[str]]]:
    return [(e["rule"], e["severity"], e["codes"]) for e in output["edits"]]


def test_check_reports_the_excludes1_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "E11.9", "E10.9", "--format", "json")
    assert status == 1
    assert output["codes"] == ["E11.9", "E10.9"]
    assert edits(output) == [("excludes1-conflict", "error", ["E11.9", "E10.9"])]
    assert output["edits"][0]["source"] == f"rules/tabular.rules:{line_of('excludes1-conflict')}"


def test_check_proposes_hypertensive_ckd(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "I10", "N18.30", "--format", "json")
    assert (status, output["codes"], output["edits"]) == (0, ["I12.9", "N18.30"], [])
    assert [(s["rule"], s["action"]) for s in output["trace"]] == [
        ("htn-ckd", "replace I10 with I12.9")
    ]


def test_check_asks_for_the_ckd_stage_of_diabetic_ckd(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "E11.22", "--format", "json")
    assert (status, output["codes"]) == (0, ["E11.22"])
    assert edits(output) == [("additional-code-from-note", "info", ["E11.22"])]
    assert "stage of chronic kidney disease (N18.1-N18.6)" in output["edits"][0]["message"]


def test_check_raises_the_sequencing_edit_of_a_manifestation_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, output, _ = run(capsys, "check", "F02.80", "--format", "json")
    assert status == 1
    assert edits(output) == [("manifestation-needs-etiology", "error", ["F02.80"])]
    assert output["edits"][0]["message"].startswith(
        "F02.80 is a manifestation code: it is never reported alone or first-listed. Code first "
        "the underlying physiological condition, such as: Alzheimer's (G30.-); "
    )


def test_check_puts_the_etiology_first(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "F02.80", "G30.9", "--format", "json")
    assert (status, output["codes"], output["edits"]) == (0, ["G30.9", "F02.80"], [])


def test_check_says_a_7th_character_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "S72.001", "--format", "json")
    assert status == 1
    assert edits(output) == [("header-code", "error", ["S72.001"])]
    assert output["edits"][0]["message"].startswith(
        "S72.001 is not reportable: needs a 7th character: S72.001A, S72.001B, "
    )


def test_check_reports_unknown_codes_as_edits(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(capsys, "check", "e119", "E11.99", "--format", "json")
    assert (status, output["codes"], output["given"]) == (1, ["E11.9"], ["E11.9", "E11.99"])
    assert output["edits"] == [
        {
            "rule": "unknown-code",
            "severity": "error",
            "codes": ["E11.99"],
            "message": "E11.99 does not exist in the code set; nearest valid codes: E11.9",
            "source": "FY2026 code set",
        }
    ]


def test_check_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "I10", "N18.30")
    assert status == 0
    assert out.splitlines() == [
        "  1. I12.9     Hypertensive chronic kidney disease with stage 1 through stage 4 chronic "
        "kidney disease, or unspecified chronic kidney disease",
        "  2. N18.30    Chronic kidney disease, stage 3 unspecified",
        "  rule htn-ckd: replace I10 with I12.9  (rules/hypertension.rules:42)",
    ]


def test_rules_lint_passes_the_shipped_packs(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "rules", "lint")
    assert (status, err) == (0, "")
    assert out == "153 rules in 23 files: no problems\n"


def test_rules_lint_fails_with_locations_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('rule a "t"\n  when code ?a in E11.99\n  then drop ?a\nrule a "u" wen', "utf-8")
    status, out, err = run(capsys, "rules", "lint", str(tmp_path))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"{bad}:4:12: error: unexpected 'wen'; expected `cites`, `priority` or `when`",
        '    rule a "u" wen',
        "               ^",
        "1 problem(s) in 1 rule file(s)",
    ]
    good = tmp_path / "bad.rules"
    good.write_text('rule a "t"\n  when code ?a in E11.99\n  then drop ?a\n', "utf-8")
    status, _, err = run(capsys, "rules", "lint", str(good))
    assert status == 2
    assert err.splitlines() == [
        f"{good}:2:19: error: unknown code or empty range: E11.99",
        "1 problem(s) in 1 rule file(s)",
    ]


def test_check_with_rules_that_do_not_parse_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('rule a "t" when code ?a then', "utf-8")
    status, out, err = run(capsys, "check", "I10", "--rules", str(bad))
    assert (status, out) == (2, "")
    assert err.startswith(f"medcode check: {bad}:1:29: unexpected end of file;")
    assert err.count("\n") == 1


def test_rules_test_runs_the_shipped_tests(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "rules", "test")
    assert status == 0
    assert out.splitlines()[-1] == (
        "262 passed, 0 failed; rule coverage 153/153 = 100.0% (threshold 100%)"
    )


def test_check_uses_age_and_sex(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = run(
        capsys, "check", "N40.0", "--sex", "F", "--age", "70", "--format", "json"
    )
    assert status == 1
    assert edits(output) == [("sex-male-code-for-female", "error", ["N40.0"])]
    assert run(capsys, "check", "N40.0", "--sex", "M", "--format", "json")[0] == 0


def test_rules_lint_counts_the_files_that_do_not_parse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "good.rules").write_text('rule a "t" when code ?a in I10 then drop ?a\n', "utf-8")
    (tmp_path / "bad.rules").write_text('rule b "t" when code ?a then add e11.9\n', "utf-8")
    status, out, err = run(capsys, "rules", "lint", str(tmp_path))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"{tmp_path / 'bad.rules'}:1:34: error: codes are written in capitals: e11.9 -> E11.9",
        '    rule b "t" when code ?a then add e11.9',
        "                                     ^",
        "1 problem(s) in 2 rule file(s)",
    ]
    (tmp_path / "bad.rules").unlink()
    assert run(capsys, "rules", "lint", str(tmp_path))[:2] == (
        0,
        "1 rules in 1 files: no problems\n",
    )


def test_check_names_a_lowercase_code_in_its_rules_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "x.rules"
    rules.write_text('rule b "t"\n  when code ?a in e11.9\n  then drop ?a\n', "utf-8")
    status, out, err = run(capsys, "check", "I10", "--rules", str(rules))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"medcode check: {rules}:2:19: codes are written in capitals: e11.9 -> E11.9"
    ]


def billion_laughs() -> str:
    """A rule-test case of 1.9 KB whose aliases of aliases would expand to 10^10 codes."""
    lines = ["- name: laughs", "  codes:", "    - &a0 [" + ", ".join(["Z00.00"] * 10) + "]"]
    lines += [f"    - &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 10)]
    return "\n".join(lines) + "\n# " + "ha" * 615 + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (billion_laughs(), "4:12: not valid YAML: aliases (*name) are not allowed in rule tests"),
        (
            "- name: five\n  codes: 5\n",
            "2:10: case 'five': codes must be a list of codes, such as [I10, N18.30], not 5",
        ),
        (
            "- name: old\n  codes: [I10]\n  age: old\n",
            "3:8: case 'old': age must be a whole number of years, 0 to 130, not 'old'",
        ),
        (
            "- name: a\n  codes: [I10, 5]\n",
            "2:10: case 'a': codes must be a list of codes, such as [I10, N18.30]; item 2 is 5",
        ),
        (
            "- name: a\n  codes: [I10]\n  setting: er\n",
            "3:12: case 'a': setting must be inpatient or outpatient, not 'er'",
        ),
        ("- name: a\n  codes: [I10]\n  sex: f\n", "3:8: case 'a': sex must be F or M, not 'f'"),
        (
            "- name: a\n  codes: [I10]\n  expect: [I10]\n",
            "3:11: case 'a': expect must be a mapping of codes, absent and edits, not ['I10']",
        ),
        (
            "- name: a\n  codes: [I10]\n  expect:\n    edits: excludes1-conflict\n",
            "4:12: case 'a': expect.edits must be a list of rule ids, such as "
            "[excludes1-conflict], not 'excludes1-conflict'",
        ),
        (
            "- name: a\n  codes: [I10]\n  colour: red\n",
            "3:3: case 'a': unknown field 'colour' (known: name, codes, text, setting, age, sex, "
            "expect)",
        ),
        ("- name: a\n  codes: [I10]\n  codes: [I12.9]\n", "3:3: field 'codes' is given twice"),
        (
            '- name: a\n  codes: [I10]\n  "x\\ny": 1\n',
            "3:3: case 'a': unknown field 'x\\ny' (known: name, codes, text, setting, age, sex, "
            "expect)",
        ),
        (
            '- name: "a\\a"\n  codes: [I10]\n',
            "1:9: case 1: name must be one line of text, not 'a\\x07'",
        ),
        ("- codes: [I10]\n", "1:3: case 1: a case needs a name"),
        (
            "- name: a\n  text: hi\n  codes: [I10]\n",
            "1:3: case 'a': a case gives either codes or text",
        ),
        ("name: a\n", "1:1: a test file is a list of cases"),
        (
            "- name: a\n  codes: [I10\n",
            "3:1: not valid YAML: while parsing a flow sequence expected ',' or ']', but got "
            "'<stream end>'",
        ),
        (
            "- name: a\n  codes: [I10]\n\t- x\n",
            "3:1: not valid YAML: while scanning for the next "
            "token found character '\\t' that cannot start any token",
        ),
        ("- name: a\x00\n", "1:10: not valid YAML: character #x0000 is not allowed"),
        (
            "- name: a\n  codes: " + "[" * 30 + "]" * 30 + "\n",
            "2:28: not valid YAML: nested more than 20 deep",
        ),
        (
            "- name: a\n  age: " + "9" * 5000 + "\n",
            "2:8: not valid YAML: number too large: 5000 characters",
        ),
        (
            "- name: 2025-02-30\n",
            "1:9: not valid YAML: cannot read this value: day is out of range for month",
        ),
        ("- name: a\n  codes: [I10, E11.99]\n", "1: case 'a': codes not in the code set: E11.99"),
    ],
)
def test_rules_test_refuses_a_bad_test_file_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "x.rules").write_text('rule r "t" when code ?a in I10 then drop ?a\n', "utf-8")
    (tmp_path / "x.tests.yaml").write_text(text, "utf-8")
    status, out, err = run(capsys, "rules", "test", str(tmp_path))
    assert (status, out) == (2, "")
    assert err.splitlines() == [f"medcode: {tmp_path / 'x.tests.yaml'}:{message}"]


def test_rules_test_refuses_a_coverage_that_is_not_a_percentage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "x.rules").write_text('rule r "t" when code ?a in I10 then drop ?a\n', "utf-8")
    (tmp_path / "pack.yaml").write_text("name: mine\ncoverage: all\n", "utf-8")
    status, out, err = run(capsys, "rules", "test", str(tmp_path))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"medcode: {tmp_path / 'pack.yaml'}:2:11: coverage must be a percentage from 0 to 100, "
        "not 'all'"
    ]
