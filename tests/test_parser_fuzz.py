"""Property-based fuzzing of the rule parser and of the code-reference grammar (issue 19).

Any text given as a rule file parses into a pack or fails with the rule language's own error at
file:line:column; lint and the engine take whatever parses without crashing. Rules generated
from their parts parse back into those parts. Any text given as a code reference parses or
fails with ValueError, and references written as the Tabular writes them read back as written.
Deterministic (derandomized) and bounded: the file runs in seconds."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medcode.engine import rulelang
from medcode.engine.rulelang import Encounter, Fact, RuleBook, RuleEngine, RuleSyntaxError
from medcode.engine.rulelang.book import parse_rules
from medcode.engine.rulelang.lint import Finding, check_packs
from medcode.engine.rulelang.model import (
    Add,
    Ask,
    AttributeTest,
    CodeFact,
    Drop,
    EncounterTest,
    FlagTest,
    RaiseEdit,
    Remark,
    Replace,
    Resequence,
    Rule,
    RulePack,
)
from medcode.terminology import CodeRef, CodeSet, coderefs
from medcode.terminology.coderefs import find_references, parse_references

FUZZ = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LOCATED = re.compile(r"^fuzz\.rules:(\d+):(\d+): \S")

# -- rule files: any text --------------------------------------------------------------------

# The grammar's own keywords (so that the fuzzing follows it), values, codes and junk.
GRAMMAR = Path(rulelang.__file__).with_name("rules.lark").read_text(encoding="utf-8")
KEYWORDS = sorted(set(re.findall(r'"([a-z0-9]+)"', GRAMMAR)))
PIECES = [
    *KEYWORDS,
    *("affirmed", "uncertain", "inpatient", "assessment", "F", "M", "a-b", "ckd", "x_1"),
    *("E11.9", "e11.9", "I10", "I10-I16", "E11.-", "e11.-", "N18.1-N18.4", "Z79.4"),
    *("O24.4-", "Q99.99-Q99.98", "E11.99", "?a", "?b", "?", "=", ",", "<=", ">", "(", "."),
    *('"t"', '"{?a} and {?a.title}"', '"{?b.colour}"', '"open', "#", "\\", "-"),
    *("0", "18", "-5", "131", "9" * 5000, "# a comment\n", "below chapter", "below"),
]
SEPARATORS = st.sampled_from([" ", " ", "\n", "\n  ", "\t", "", "\r\n"])


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    """Text made of the rule language's own words and codes, in any order, with junk."""
    tokens = draw(
        st.lists(
            st.one_of(st.sampled_from(PIECES), st.text(max_size=4)),
            max_size=40,
        )
    )
    return "".join(token + draw(SEPARATORS) for token in tokens)


@st.composite
def almost_rules(draw: st.DrawFn) -> str:
    """A valid rule with one piece deleted, doubled or replaced: near misses of the grammar."""
    words = draw(valid_rules())[0].split(" ")
    index = draw(st.integers(0, len(words) - 1))
    change = draw(st.sampled_from(["delete", "double", "replace"]))
    if change == "delete":
        del words[index]
    elif change == "double":
        words.insert(index, words[index])
    else:
        words[index] = draw(st.sampled_from(PIECES))
    return " ".join(words)


def parse_or_locate(text: str) -> RulePack | None:
    """The pack, or None after checking that the error is located and one line."""
    try:
        return parse_rules(text, "fuzz.rules")
    except RuleSyntaxError as error:
        match = LOCATED.match(str(error))
        assert match, str(error)
        line, column = int(match[1]), int(match[2])
        assert 1 <= line <= text.count("\n") + 1 and column >= 1
        assert str(error).isprintable()  # one line, whatever the text
        return None


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_at_a_location(text: str) -> None:
    parse_or_locate(text)


@FUZZ
@given(st.one_of(token_soup(), almost_rules()))
def test_rule_like_text_parses_or_fails_at_a_location_and_lint_takes_what_parses(
    codeset: CodeSet, text: str
) -> None:
    pack = parse_or_locate(text)
    if pack is not None:
        findings = check_packs([pack], codeset)
        assert all(isinstance(f, Finding) and f.at.path == "fuzz.rules" for f in findings)


# -- rule files: generated rules read back as written ------------------------------------------

SETS = ["E11.9", "I10", "I10-I16", "E11.-", "N18.1-N18.4", "Z79.4", "O24.4-", "R50.9"]
BILLABLE = ["E11.9", "I12.9", "Z79.4", "N18.30", "R50.9"]
TEXT = st.text(
    st.characters(blacklist_characters='"\n\r', blacklist_categories=("Cs",)), max_size=20
)
MESSAGE = st.builds(
    lambda words, var: f"{words} {{{var}}}" if var else words,
    TEXT.filter(lambda t: "{" not in t),
    st.sampled_from([None, "?a", "?a.title"]),
)
GAP = st.sampled_from([" ", "\n  ", "\t", "  # why\n   "])


@st.composite
def valid_rules(draw: st.DrawFn) -> tuple[str, tuple]:
    """A rule's text and what it says: (id, title, citation, priority, conditions, actions)."""
    rule_id = "id-" + draw(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True))
    title = draw(TEXT)
    citation = draw(st.one_of(st.none(), TEXT))
    priority = draw(st.integers(-500, 500))
    variables = ["?a", *draw(st.lists(st.sampled_from(["?b", "?c"]), max_size=2, unique=True))]

    words: list[str] = ["rule", rule_id, f'"{title}"']
    if citation is not None:
        words += ["cites", f'"{citation}"']
    words += ["priority", str(priority), "when"]
    conditions: list[tuple] = []
    for var in variables:
        codes = tuple(draw(st.lists(st.sampled_from(SETS), min_size=1, max_size=3)))
        tests = draw(
            st.lists(st.sampled_from(["billable", "not unspecified", "first"]), max_size=2)
        )
        assertion = draw(st.one_of(st.none(), st.sampled_from(["affirmed", "not uncertain"])))
        words += ["code", var, "in", ", ".join(codes)]
        shown_tests = [*tests, *([f"assertion is {assertion}"] if assertion else [])]
        if shown_tests:
            words += ["where", ", ".join(shown_tests)]
        conditions.append(("code", var, codes, tuple(shown_tests), False))
        words.append("and")
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["setting", "age", "sex", "mentions", "absent"]))
        if kind == "setting":
            value = draw(st.sampled_from(["inpatient", "outpatient"]))
            words += ["setting", "is", value]
            conditions.append(("setting", "is", value))
        elif kind == "age":
            operator, years = (
                draw(st.sampled_from(["<", "<=", "=", ">=", ">"])),
                draw(st.integers(0, 130)),
            )
            words += ["age", operator, str(years)]
            conditions.append(("age", operator, years))
        elif kind == "sex":
            value = draw(st.sampled_from(["F", "M"]))
            words += ["sex", "is", value]
            conditions.append(("sex", "is", value))
        elif kind == "mentions":
            phrase = draw(TEXT)
            words += ["note", "mentions", f'"{phrase}"']
            conditions.append(("mentions", "is", phrase))
        else:
            codes = tuple(draw(st.lists(st.sampled_from(SETS), min_size=1, max_size=2)))
            words += ["not", "code", "in", ", ".join(codes)]
            conditions.append(("code", None, codes, (), True))
        words.append("and")
    words[-1] = "then"

    actions: list[tuple] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["add", "drop", "replace", "sequence", "edit", "query", "note"])
        )
        var = draw(st.sampled_from(variables))
        if kind == "add":
            code = draw(st.sampled_from(BILLABLE))
            words += ["add", code]
            actions.append(("add", code))
        elif kind == "drop":
            words += ["drop", var]
            actions.append(("drop", var))
        elif kind == "replace":
            code = draw(st.sampled_from(BILLABLE))
            words += ["replace", var, "with", code]
            actions.append(("replace", var, code))
        elif kind == "sequence":
            position = draw(st.sampled_from(["first", "last"]))
            words += ["sequence", var, position]
            actions.append(("sequence", var, position))
        elif kind == "edit":
            severity, message = draw(st.sampled_from(["error", "warning", "info"])), draw(MESSAGE)
            words += [severity, f'"{message}"']
            actions.append(("edit", severity, message))
        elif kind == "query":
            missing = draw(TEXT)
            words += ["query", f'"{missing}"', "for", var]
            actions.append(("query", missing, var))
        else:
            message = draw(MESSAGE)
            words += ["note", var, f'"{message}"']
            actions.append(("note", var, message))
        words.append("and")
    words.pop()
    said = (rule_id, title, citation or "", priority, tuple(conditions), tuple(actions))
    return "".join(word + draw(GAP) for word in words), said


def what_it_says(rule: Rule) -> tuple:
    """A parsed rule in the terms of `valid_rules`."""
    conditions = []
    for literal in rule.condition:
        atom = literal.atom
        if isinstance(atom, EncounterTest):
            conditions.append((atom.attribute, atom.operator, atom.value))
            continue
        assert isinstance(atom, CodeFact)
        tests = []
        for test in atom.tests:
            if isinstance(test, FlagTest):
                tests.append(test.flag if test.expected else f"not {test.flag}")
            else:
                assert isinstance(test, AttributeTest)
                negation = "not " if test.negated else ""
                tests.append(f"{test.attribute} is {negation}{' or '.join(test.values)}")
        codes = tuple(term.text for term in atom.members or ())
        conditions.append(("code", atom.var, codes, tuple(tests), literal.negated))
    actions = []
    for action in rule.actions:
        if isinstance(action, Add):
            actions.append(("add", action.code.text))
        elif isinstance(action, Drop):
            actions.append(("drop", action.var))
        elif isinstance(action, Replace):
            actions.append(("replace", action.var, action.code.text))
        elif isinstance(action, Resequence):
            actions.append(("sequence", action.var, action.position))
        elif isinstance(action, RaiseEdit):
            actions.append(("edit", action.severity, action.message))
        elif isinstance(action, Ask):
            actions.append(("query", action.missing, action.var))
        else:
            assert isinstance(action, Remark)
            actions.append(("note", action.var, action.message))
    return (
        rule.id,
        rule.title,
        rule.citation,
        rule.priority,
        tuple(conditions),
        tuple(actions),
    )


@FUZZ
@given(valid_rules())
def test_generated_rules_read_back_as_written(rule: tuple[str, tuple]) -> None:
    text, said = rule
    (parsed,) = parse_rules(text, "fuzz.rules").rules
    assert what_it_says(parsed) == said


@settings(FUZZ, max_examples=60)
@given(
    st.lists(valid_rules(), min_size=1, max_size=3, unique_by=lambda rule: rule[1][0]),
    st.lists(st.sampled_from(BILLABLE + SETS[:2]), max_size=4),
)
def test_generated_rules_that_lint_clean_run_the_same_twice(
    codeset: CodeSet, rules: list[tuple[str, tuple]], codes: list[str]
) -> None:
    pack = parse_rules("\n".join(text for text, _ in rules), "fuzz.rules")
    if check_packs([pack], codeset):
        return
    engine = RuleEngine(codeset, RuleBook((pack,), ""))
    outcomes = [
        engine.run(Encounter([Fact(c) for c in dict.fromkeys(codes)], age=70, sex="F"))
        for _ in range(2)
    ]
    first, second = ((o.codes, [(e.rule, e.message) for e in o.edits]) for o in outcomes)
    assert first == second
    assert all(code in codeset for code in first[0])


# -- code references -------------------------------------------------------------------------

CODE = st.from_regex(r"[A-Z](?:[0-9][0-9A-Z]|[A-Z][0-9])(?:\.[0-9A-Z]{1,4})?", fullmatch=True)
REFERENCE_GRAMMAR = Path(coderefs.__file__).with_name("coderefs.lark").read_text("utf-8")
REFERENCE_PIECES = [
    *sorted(set(re.findall(r'"([^"]+)"', REFERENCE_GRAMMAR))),
    *("C00", "C96", "D00.1", "E08", "O24.4", "N18.1", "fifth", "4th", "A", "Z", "1", "6"),
    *(".51", "-28", "(", ")", "category", "codes", "X"),
]


def reference_or_value_error(text: str) -> tuple[CodeRef, ...] | None:
    try:
        refs = parse_references(text)
    except ValueError:
        return None
    assert isinstance(refs, tuple) and all(isinstance(r, CodeRef) for r in refs)
    return refs


@FUZZ
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from(REFERENCE_PIECES), max_size=12).map(" ".join),
    )
)
def test_any_text_is_a_reference_list_or_a_value_error(text: str) -> None:
    reference_or_value_error(text)
    refs, failed = find_references(text)
    assert all(isinstance(r, CodeRef) for r in refs) and all(isinstance(f, str) for f in failed)


@st.composite
def written_references(draw: st.DrawFn) -> tuple[str, list[CodeRef]]:
    """References as the Tabular writes them, and the CodeRef each one is."""
    spans, expected = [], []
    for _ in range(draw(st.integers(1, 4))):
        first = draw(CODE)
        form = draw(st.sampled_from(["single", "open", "range"]))
        dotless = first.replace(".", "")
        if form == "single":
            spans.append(first)
            expected.append(CodeRef(dotless, dotless, False, first))
        elif form == "open":
            text = f"{first}-" if "." in first else f"{first}.-"
            spans.append(text)
            expected.append(CodeRef(dotless, dotless, True, text))
        else:
            last = draw(CODE)
            spans.append(f"{first}-{last}")
            expected.append(CodeRef(dotless, last.replace(".", ""), True, f"{first}-{last}"))
    return ", ".join(spans), expected


@FUZZ
@given(written_references())
def test_written_references_read_back_as_written(reference: tuple[str, list[CodeRef]]) -> None:
    text, expected = reference
    assert list(parse_references(text)) == expected
    assert find_references(f"a note (with a reference) ({text}) and more") == (
        tuple(expected),
        (),
    )
