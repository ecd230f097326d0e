"""The rule language: parsing, located errors, lint, evaluation semantics, rule tests."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from medcode.engine.rulelang import (
    RULES_DIR,
    CodeSets,
    Encounter,
    Fact,
    InvalidRules,
    RuleBook,
    RuleEngine,
    RuleSyntaxError,
)
from medcode.engine.rulelang.book import parse_rules
from medcode.engine.rulelang.evaluate import MAX_FIRINGS, Evaluator
from medcode.engine.rulelang.lint import MAX_NESTING, check_packs, lint, section_names
from medcode.engine.rulelang.model import (
    AttributeTest,
    CodeFact,
    EncounterTest,
    FlagTest,
    FromTabular,
    Named,
    Replace,
    Written,
)
from medcode.engine.rulelang.parser import parse_pack
from medcode.engine.rulelang.testing import run_tests
from medcode.terminology import CodeSet, NoteKind

HTN_CKD = """\
# hypertension with CKD
define ckd = N18.1-N18.4, N18.9

rule htn-ckd "Hypertensive CKD"
  cites "I.C.9.a.2"
  priority 48
  when code ?h in I10 and code in ckd where assertion is affirmed
   and not code in I50.- and setting is inpatient and age >= 18
  then replace ?h with I12.9
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run(codeset: CodeSet, text: str, codes: list[str], **encounter) -> tuple[list[str], list]:
    book = RuleBook((parse_pack(text, "t.rules"),), "")
    outcome = RuleEngine(codeset, book).run(Encounter([Fact(c) for c in codes], **encounter))
    return outcome.codes, [(e.rule, e.severity, e.codes, e.message) for e in outcome.edits]


# -- parsing -----------------------------------------------------------------------------


def test_a_rule_parses_into_typed_conditions_and_actions() -> None:
    pack = parse_pack(HTN_CKD, "rules/htn.rules")
    (definition,) = pack.definitions
    (rule,) = pack.rules
    assert (definition.name, [t.text for t in definition.members]) == (
        "ckd",
        ["N18.1-N18.4", "N18.9"],
    )
    assert (rule.id, rule.title, rule.citation, rule.priority) == (
        "htn-ckd",
        "Hypertensive CKD",
        "I.C.9.a.2",
        48,
    )
    assert str(rule.at) == "rules/htn.rules:4:1"
    first, second, third, fourth, fifth = rule.condition
    assert isinstance(first.atom, CodeFact) and first.atom.var == "?h"
    assert isinstance(first.atom.members[0], Written) and first.atom.members[0].text == "I10"
    assert isinstance(second.atom.members[0], Named)
    assert second.atom.tests == (
        AttributeTest("assertion", ("affirmed",), False, second.atom.tests[0].at),
    )
    assert third.negated and third.atom.members[0].text == "I50.-"
    assert isinstance(fourth.atom, EncounterTest) and fourth.atom.value == "inpatient"
    assert (fifth.atom.attribute, fifth.atom.operator, fifth.atom.value) == ("age", ">=", 18)
    (action,) = rule.actions
    assert isinstance(action, Replace) and (action.var, action.code.text) == ("?h", "I12.9")
    assert rule.variables == ("?h",)


def test_codes_with_a_letter_second_are_written_like_any_other() -> None:
    """FY2026's QA0 chapter (QA0.8) in a set and an action, as a range and a category."""
    text = 'rule r "t" when code ?a in QA0.0101-QA0.8, QA0.- then add QA0.8'
    (rule,) = parse_pack(text, "x.rules").rules
    assert [t.text for t in rule.condition[0].atom.members] == ["QA0.0101-QA0.8", "QA0.-"]
    assert rule.actions[0].code.text == "QA0.8"


def test_tabular_sets_flags_and_except_parse() -> None:
    text = (
        'rule r "t" when code ?a where manifestation, not billable, first\n'
        "  and code ?b in use additional of ?a except code first of ?a, category of ?a\n"
        "  and code in own use additional of ?a\n"
        '  then sequence ?a last and note ?b "why"'
    )
    (rule,) = parse_pack(text, "x.rules").rules
    a, b, c = (lit.atom for lit in rule.condition)
    assert [(t.flag, t.expected) for t in a.tests if isinstance(t, FlagTest)] == [
        ("manifestation", True),
        ("billable", False),
        ("first", True),
    ]
    assert [(t.kind, t.var) for t in b.members] == [(NoteKind.USE_ADDITIONAL_CODE, "?a")]
    assert [(t.kind, t.var) for t in b.excluded] == [
        (NoteKind.CODE_FIRST, "?a"),
        ("category", "?a"),
    ]
    assert c.members == (FromTabular(NoteKind.USE_ADDITIONAL_CODE, "?a", c.members[0].at, "own"),)


def test_below_chapter_leaves_out_the_chapter_notes(codeset: CodeSet) -> None:
    # Chapter 11's Excludes2 names E00-E88, so E11.22 is "not part of" K21.9 or K44.9;
    # K21's own Excludes2 names K44 (diaphragmatic hernia).
    pairs = 'rule x "x" when code ?a and code ?b in excludes2 of ?a{} then error "{{?b}}"'
    codes = ["K21.9", "E11.22", "K44.9"]
    assert [e[2] for e in run(codeset, pairs.format(""), codes)[1]] == [
        ("K21.9", "E11.22"),
        ("K21.9", "K44.9"),
        ("K44.9", "E11.22"),
    ]
    assert [e[2] for e in run(codeset, pairs.format(" below chapter"), codes)[1]] == [
        ("K21.9", "K44.9")
    ]
    (rule,) = parse_pack(pairs.format(" below  chapter"), "x.rules").rules
    assert rule.condition[1].atom.members[0].scope == "below chapter"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'rule a-b "t" when code E11.22 tehn drop ?a',
            "rules/bad.rules:1:31: unexpected 'tehn'; expected `and` or `then`\n"
            '    rule a-b "t" when code E11.22 tehn drop ?a\n'
            "                                  ^",
        ),
        (
            'rule a-b "t"\n  when cod ?a',
            "rules/bad.rules:2:8: unexpected 'cod'; expected `age`, `code`, `not`, `note`, "
            "`setting` or `sex`\n"
            "      when cod ?a\n"
            "           ^",
        ),
        (
            'rule a "t"',
            "rules/bad.rules:1:11: unexpected end of file; expected `cites`, `priority` or `when`\n"
            '    rule a "t"\n'
            "              ^",
        ),
        (
            'rule ab "t" when code ?a then add e11.9',
            "rules/bad.rules:1:35: codes are written in capitals: e11.9 -> E11.9\n"
            '    rule ab "t" when code ?a then add e11.9\n'
            "                                      ^",
        ),
        (
            'rule ab "t"\n\twhen code ?a in N18.1-n18.4 then drop ?a',
            "rules/bad.rules:2:18: codes are written in capitals: N18.1-n18.4 -> N18.1-N18.4\n"
            "    \twhen code ?a in N18.1-n18.4 then drop ?a\n"
            "    \t                ^",
        ),
        (
            'rule ab "t" priority ' + "9" * 5000 + " when code ?a then drop ?a",
            "rules/bad.rules:1:22: number too large: 5000 digits\n"
            '    rule ab "t" priority ' + "9" * 5000 + " when code ?a then drop ?a\n"
            "                         ^",
        ),
    ],
)
def test_syntax_errors_carry_file_line_column_and_a_caret(text: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as error:
        parse_rules(text, "rules/bad.rules")
    assert error.value.render() == message


def test_the_parser_alone_stops_at_the_lowercase_name() -> None:
    # parse_rules (what lint, RuleBook.load and every command use) explains it, above
    with pytest.raises(RuleSyntaxError, match=r"^x.rules:1:35: unexpected 'e11'; expected "):
        parse_pack('rule ab "t" when code ?a then add e11.9', "x.rules")


# -- lint --------------------------------------------------------------------------------


def test_the_shipped_packs_lint_clean(codeset: CodeSet) -> None:
    findings, packs = lint([RULES_DIR], codeset)
    assert findings == []
    assert sorted(Path(p.path).name for p in packs) == [
        "acute_chronic.rules",
        "assertion.rules",
        "bmi.rules",
        "circulatory.rules",
        "ckd.rules",
        "demographics.rules",
        "diabetes.rules",
        "drug_therapy.rules",
        "encounters.rules",
        "family_history.rules",
        "genitourinary.rules",
        "heart_failure.rules",
        "hypertension.rules",
        "infections.rules",
        "injuries.rules",
        "neoplasms.rules",
        "obstetrics.rules",
        "respiratory.rules",
        "sections.rules",
        "sequencing.rules",
        "substance_use.rules",
        "symptoms.rules",
        "tabular.rules",
    ]


def test_lint_reports_every_mistake_at_its_location(codeset: CodeSet, tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.rules",
        'rule insulin-to-oral "x" when code ?a in Z79.4 then drop ?a and add Z79.84\n'
        'rule oral-to-insulin "y"\n'
        "  when code ?b in Z79.84 then drop ?b and add Z79.4\n"
        'rule bad-code "z" when code ?a in E11.99, Q99.99-Q99.98 and setting is er'
        " then add E11.2\n",
    )
    write(
        tmp_path,
        "b.rules",
        'rule bad-var "w" when code in excludes1 of ?x and code where section is hpi\n'
        '  then drop ?y and error "{?z} {?a.colour}"\n'
        'rule insulin-to-oral "dup" when code ?c in nowhere then drop ?c\n',
    )
    findings, _ = lint([tmp_path], codeset)
    a, b = str(tmp_path / "a.rules"), str(tmp_path / "b.rules")
    assert [f"{f.at}: {f.message}" for f in findings] == [
        f"{a}:1:1: rules may fire forever: insulin-to-oral -> oral-to-insulin -> insulin-to-oral"
        " (each adds a code the next one removes)",
        f"{a}:4:35: unknown code or empty range: E11.99",
        f"{a}:4:43: unknown code or empty range: Q99.99-Q99.98",
        f"{a}:4:72: never fires: setting is one of inpatient, outpatient",
        f"{a}:4:84: E11.2 must be one billable code to add or replace with",
        f"{b}:1:44: ?x is used before it is bound",
        f"{b}:1:73: never fires: section 'hpi' is not one of {', '.join(sorted(section_names()))}",
        f"{b}:2:13: ?y is not bound by the condition",
        f"{b}:2:20: message uses ?z, which is not bound",
        f"{b}:2:20: message uses ?a, which is not bound",
        f"{b}:2:20: unknown message field .colour (known: title, validation, excludes1, "
        "excludes2, code_first, use_additional, own_use_additional, code_also)",
        f"{b}:3:1: duplicate rule id insulin-to-oral (first at {a}:1:1)",
        f"{b}:3:44: unknown set name: nowhere",
    ]


def test_a_lowercase_set_name_that_is_a_code_says_so(codeset: CodeSet) -> None:
    pack = parse_pack('rule r "t" when code ?a in e11 then drop ?a', "r.rules")
    assert [f"{f.at}: {f.message}" for f in check_packs([pack], codeset)] == [
        "r.rules:1:28: unknown set name: e11 (codes are written in capitals: e11 -> E11)"
    ]


def test_sets_defined_in_terms_of_themselves_are_lint_errors(codeset: CodeSet) -> None:
    pack = parse_pack(
        "define a = b, E11.9\ndefine b = c\ndefine c = a\ndefine d = d\ndefine e = a, I10\n"
        'rule r "t" when code ?x in e then drop ?x and add Z79.4\n',
        "s.rules",
    )
    assert [f"{f.at}: {f.message}" for f in check_packs([pack], codeset)] == [
        "s.rules:1:1: set a is defined in terms of itself: a -> b -> c -> a",
        "s.rules:4:1: set d is defined in terms of itself: d -> d",
    ]


def test_sets_nest_names_at_most_a_bounded_depth(codeset: CodeSet) -> None:
    def chain(depth: int) -> str:
        names = [f"s{n}" for n in range(depth)]
        lines = [f"define {a} = {b}" for a, b in pairwise(names)]
        return "\n".join([*lines, f"define {names[-1]} = E11.9"])

    assert check_packs([parse_pack(chain(MAX_NESTING), "ok.rules")], codeset) == []
    deep = parse_pack(chain(MAX_NESTING + 3), "deep.rules")
    assert [f"{f.at}: {f.message}" for f in check_packs([deep], codeset)] == [
        f"deep.rules:3:1: set s2 nests names more than {MAX_NESTING} deep (s2 -> s3 -> ...)"
    ]


def test_an_engine_refuses_rules_that_fail_lint(codeset: CodeSet) -> None:
    book = RuleBook((parse_pack('rule r "t" when code ?a in E11.99 then drop ?a', "r.rules"),), "")
    with pytest.raises(InvalidRules, match=r"^r.rules:1:28: unknown code or empty range: E11.99$"):
        RuleEngine(codeset, book)


# -- evaluation --------------------------------------------------------------------------


def test_conditions_test_assertion_setting_age_and_absent_codes(codeset: CodeSet) -> None:
    assert run(codeset, HTN_CKD, ["I10", "N18.30"], age=70) == (["I12.9", "N18.30"], [])
    assert run(codeset, HTN_CKD, ["I10", "N18.30"], age=12)[0] == ["I10", "N18.30"]
    assert run(codeset, HTN_CKD, ["I10", "N18.30"])[0] == ["I10", "N18.30"]  # age unknown
    assert run(codeset, HTN_CKD, ["I10", "N18.30", "I50.9"], age=70)[0] == [
        "I10",
        "N18.30",
        "I50.9",
    ]
    assert run(codeset, HTN_CKD, ["I10", "N18.30"], age=70, setting="outpatient")[0] == [
        "I10",
        "N18.30",
    ]


def test_block_of_a_code_is_its_group_of_categories(codeset: CodeSet) -> None:
    text = 'rule r "x" when code ?s in S80.- and code in block of ?s except S80.- then drop ?s'
    # S82 (fracture of lower leg) is in S80-S89 with the contusion; S72 (femur) is not
    assert run(codeset, text, ["S80.01XA", "S82.101A"])[0] == ["S82.101A"]
    assert run(codeset, text, ["S80.01XA", "S72.001A"])[0] == ["S80.01XA", "S72.001A"]


def test_excludes1_sets_come_from_the_tabular(codeset: CodeSet) -> None:
    text = 'rule e1 "x" when code ?a and code ?b in excludes1 of ?a then error "{?a}/{?b.title}"'
    assert run(codeset, text, ["E11.9", "E10.9", "I10"]) == (
        ["E11.9", "E10.9", "I10"],
        [
            (
                "e1",
                "error",
                ("E11.9", "E10.9"),
                "E11.9/Type 1 diabetes mellitus without complications",
            )
        ],
    )


def test_edits_about_codes_a_later_rule_removed_are_withdrawn(codeset: CodeSet) -> None:
    text = (
        'rule conflict "x" priority 9 when code ?a and code ?b in excludes1 of ?a then error "!"\n'
        'rule keep-type-2 "y" priority 1 when code in E11.- and code ?t in E10.- then drop ?t\n'
    )
    assert run(codeset, text, ["E11.9", "E10.9"]) == (["E11.9"], [])


def test_evaluation_is_independent_of_file_order(codeset: CodeSet, tmp_path: Path) -> None:
    write(tmp_path, "a.rules", 'rule a "x" when code ?h in I10 then replace ?h with I11.9')
    write(tmp_path, "b.rules", 'rule b "y" when code ?h in I10 then replace ?h with I12.9')
    forward = RuleBook.load([tmp_path / "a.rules", tmp_path / "b.rules"])
    backward = RuleBook.load([tmp_path / "b.rules", tmp_path / "a.rules"])
    results = [
        RuleEngine(codeset, book).run(Encounter([Fact("I10")])).codes
        for book in (forward, backward)
    ]
    assert results == [["I11.9"], ["I11.9"]]  # equal priority: rule id decides


def test_rules_that_undo_each_other_are_stopped_with_an_edit(codeset: CodeSet) -> None:
    pack = parse_pack(
        'rule a "x" when code ?a in Z79.4 then drop ?a and add Z79.84\n'
        'rule b "y" when code ?b in Z79.84 then drop ?b and add Z79.4\n',
        "loop.rules",
    )
    evaluator = Evaluator(pack.rules, CodeSets(codeset, {}))  # lint would refuse these
    outcome = evaluator.run(Encounter([Fact("Z79.4")]))
    assert [(e.rule, e.message) for e in outcome.edits] == [
        (
            "rules-did-not-settle",
            f"rules were stopped after {MAX_FIRINGS} firings; some may undo each other",
        )
    ]


def test_every_firing_is_recorded_with_its_source_and_codes_before_and_after(
    codeset: CodeSet,
) -> None:
    engine = RuleEngine(codeset)
    outcome = engine.run(Encounter([Fact("I10"), Fact("N18.30")]))
    (firing,) = [f for f in outcome.firings if f["rule"] == "htn-ckd"]
    assert firing == {
        "step": "rule",
        "rule": "htn-ckd",
        "title": "Hypertensive CKD with stage 1-4 or unspecified CKD",
        "citation": "I.C.9.a.2",
        "source": "rules/hypertension.rules:42",
        "matched": {"?h": "I10"},
        "action": "replace I10 with I12.9",
        "before": ["I10", "N18.30"],
        "after": ["I12.9", "N18.30"],
    }


def test_add_supported_asks_when_nothing_supports_the_code(codeset: CodeSet) -> None:
    outcome = RuleEngine(codeset).run(Encounter([Fact("E11.22")]))
    assert outcome.codes == ["E11.22"]
    assert [(e.rule, e.severity, e.message) for e in outcome.edits] == [
        (
            "additional-code-from-note",
            "info",
            "E11.22 asks for an additional code: code to identify stage of chronic kidney "
            "disease (N18.1-N18.6)",
        )
    ]
    supported = RuleEngine(codeset).run(
        Encounter([Fact("E11.22", words=frozenset({"stage", "3a"}))]),
        supporter=lambda roots, fact: "N18.31" if "N18.3" in roots else None,
    )
    assert supported.codes == ["E11.22", "N18.31"]


# -- rule tests --------------------------------------------------------------------------


def test_the_shipped_rule_tests_pass_with_full_coverage(codeset: CodeSet) -> None:
    from medcode.engine.coding.coder import Coder

    coder = Coder()

    def notes(text: str, setting: str):
        result, outcome = coder.code_traced(text, setting=setting)
        return [c.code for c in result.codes], outcome

    report = run_tests([RULES_DIR], codeset, RuleBook.load(), notes)
    assert [f"{r.case.path}:{r.case.line}" for r in report.results if not r.passed] == []
    assert len(report.results) == 262
    assert (report.coverage, report.threshold, report.passed) == (100.0, 100.0, True)


def test_a_failing_rule_test_and_low_coverage_fail(codeset: CodeSet, tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", "coverage: 100\n")
    write(tmp_path, "x.rules", HTN_CKD + 'rule never "n" when code ?a in Z99.2 then drop ?a\n')
    write(
        tmp_path,
        "x.tests.yaml",
        "- name: htn ckd\n  codes: [I10, N18.30]\n  age: 40\n"
        "  expect:\n    codes: [I12.9, N18.30]\n"
        "- name: wrong\n  codes: [I10]\n  expect:\n    codes: [I12.9]\n    absent: [I10]\n",
    )
    report = run_tests([tmp_path], codeset, RuleBook.load([tmp_path]))
    assert [(r.case.line, r.passed, r.failures) for r in report.results] == [
        (1, True, []),
        (
            6,
            False,
            ["expected codes ['I12.9'], got ['I10']", "expected absent, but reported: ['I10']"],
        ),
    ]
    assert (report.coverage, report.passed) == (50.0, False)
