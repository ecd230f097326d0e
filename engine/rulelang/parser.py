"""Parse rule packs (grammar: rules.lark) into typed rules, with errors at file:line:column."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from medcode.terminology import NoteKind
from medcode.terminology.coderefs import parse_references

from .model import (
    Add,
    AddSupported,
    Ask,
    AttributeTest,
    CodeFact,
    Definition,
    Drop,
    EncounterTest,
    FlagTest,
    FromTabular,
    Literal,
    Location,
    Named,
    RaiseEdit,
    Remark,
    Replace,
    Resequence,
    Rule,
    RulePack,
    Written,
)

_GRAMMAR = Path(__file__).with_name("rules.lark")

# What the author is asked for, in words, instead of terminal names.
_EXPECTED = {
    "CODE_PATTERN": "a code or range (E11.22, E11.-, I10-I16)",
    "VAR": "a name such as ?a",
    "STRING": 'a "quoted text"',
    "NAME": "a name",
    "RULE_ID": "a rule id (lowercase letters, digits, hyphens)",
    "SIGNED_INT": "a number",
    "INT": "a number",
    "COMPARISON": "a comparison (<, <=, =, >=, >)",
    "SEVERITY": "error, warning or info",
    "FLAG": "billable, header, manifestation or unspecified",
}


class RuleSyntaxError(ValueError):
    """A rule file that does not parse: location, message and the line with a caret."""

    def __init__(self, at: Location, message: str, context: str = ""):
        super().__init__(f"{at}: {message}")
        self.at = at
        self.message = message
        self.context = context

    def render(self) -> str:
        return f"{self}\n{self.context}".rstrip()


@cache
def _parser() -> Lark:
    """The LALR parser, built from the grammar once per process (~25 ms). Lark's own file
    cache is not used: Lark reads it with pickle, so a file planted in the cache folder would
    run code, and it saves only ~20 ms."""
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


class _ToRules(Transformer):
    """One method per grammar rule: the parse tree becomes typed rule objects."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _at(self, item: Token | object) -> Location:
        if isinstance(item, Token):
            return Location(self.path, item.line or 0, item.column or 0)
        meta = item
        return Location(self.path, getattr(meta, "line", 0), getattr(meta, "column", 0))

    # -- pack ------------------------------------------------------------------------------

    def start(self, items: list) -> RulePack:
        return RulePack(
            self.path,
            tuple(i for i in items if isinstance(i, Definition)),
            tuple(i for i in items if isinstance(i, Rule)),
        )

    @v_args(meta=True)
    def definition(self, meta, items: list) -> Definition:
        name, members = items
        return Definition(str(name), members, self._at(meta))

    @v_args(meta=True)
    def rule(self, meta, items: list) -> Rule:
        rule_id, title, *rest = items
        metas = [i for i in rest if isinstance(i, tuple) and i and i[0] in ("cites", "priority")]
        condition = next(
            i for i in rest if isinstance(i, tuple) and i and isinstance(i[0], Literal)
        )
        actions = tuple(i for i in rest if not isinstance(i, tuple))
        values = dict(metas)
        return Rule(
            str(rule_id),
            _unquote(title),
            str(values.get("cites", "")),
            int(values.get("priority", 0)),
            condition,
            actions,
            self._at(meta),
        )

    def cites(self, items: list) -> tuple[str, str]:
        return ("cites", _unquote(items[0]))

    def priority(self, items: list) -> tuple[str, int]:
        return ("priority", int(items[0]))

    # -- conditions ------------------------------------------------------------------------

    def condition(self, items: list) -> tuple[Literal, ...]:
        return tuple(items)

    def present(self, items: list) -> Literal:
        return Literal(items[0], False)

    def absent(self, items: list) -> Literal:
        return Literal(items[0], True)

    @v_args(meta=True)
    def code_fact(self, meta, items: list) -> CodeFact:
        var, members, excluded, tests = items
        return CodeFact(
            str(var) if var else None, members, tests or (), self._at(meta), excluded or ()
        )

    @v_args(meta=True)
    def code_literal(self, meta, items: list) -> CodeFact:
        return CodeFact(None, (self._written(items[0]),), (), self._at(meta))

    def membership(self, items: list) -> tuple:
        return items[0]

    def exclusion(self, items: list) -> tuple:
        return items[0]

    def tests(self, items: list) -> tuple:
        return tuple(items)

    def setting(self, items: list) -> EncounterTest:
        return EncounterTest("setting", "is", str(items[0]), self._at(items[0]))

    def sex(self, items: list) -> EncounterTest:
        return EncounterTest("sex", "is", str(items[0]), self._at(items[0]))

    def age(self, items: list) -> EncounterTest:
        operator, value = items
        return EncounterTest("age", str(operator), int(value), self._at(operator))

    def mentions(self, items: list) -> EncounterTest:
        return EncounterTest("mentions", "is", _unquote(items[0]), self._at(items[0]))

    def attribute(self, items: list) -> AttributeTest:
        attribute, negation, *values = items
        return AttributeTest(
            str(attribute), tuple(str(v) for v in values), negation is not None, self._at(values[0])
        )

    def flag(self, items: list) -> FlagTest:
        return FlagTest(str(items[0]), True, self._at(items[0]))

    def not_flag(self, items: list) -> FlagTest:
        return FlagTest(str(items[0]), False, self._at(items[0]))

    @v_args(meta=True)
    def first(self, meta, items: list) -> FlagTest:
        return FlagTest("first", True, self._at(meta))

    # -- code sets -------------------------------------------------------------------------

    def set_expr(self, items: list) -> tuple:
        return tuple(items)

    def _written(self, token: Token) -> Written:
        try:
            refs = parse_references(str(token))
        except ValueError as exc:
            raise RuleSyntaxError(self._at(token), f"not a code or range: {token}") from exc
        return Written(str(token), refs, self._at(token))

    def written(self, items: list) -> Written:
        return self._written(items[0])

    def named(self, items: list) -> Named:
        return Named(str(items[0]), self._at(items[0]))

    def _tabular(self, kind: NoteKind | str, var: Token) -> FromTabular:
        return FromTabular(kind, str(var), self._at(var))

    def from_notes(self, items: list) -> FromTabular:
        if isinstance(items[0], Token) and items[0].type == "OWN":
            scope, (kind, var) = "own", items[1:]
        else:
            kind, var, below = items
            scope = "below chapter" if below is not None else "inherited"
        return FromTabular(kind, str(var), self._at(var), scope)

    def excludes1(self, _: list) -> NoteKind:
        return NoteKind.EXCLUDES1

    def excludes2(self, _: list) -> NoteKind:
        return NoteKind.EXCLUDES2

    def code_first(self, _: list) -> NoteKind:
        return NoteKind.CODE_FIRST

    def use_additional(self, _: list) -> NoteKind:
        return NoteKind.USE_ADDITIONAL_CODE

    def code_also(self, _: list) -> NoteKind:
        return NoteKind.CODE_ALSO

    def category(self, items: list) -> FromTabular:
        return self._tabular("category", items[0])

    def block(self, items: list) -> FromTabular:
        return self._tabular("block", items[0])

    def parent(self, items: list) -> FromTabular:
        return self._tabular("parent", items[0])

    # -- actions ---------------------------------------------------------------------------

    def add(self, items: list) -> Add:
        return Add(self._written(items[0]), self._at(items[0]))

    @v_args(meta=True)
    def add_supported(self, meta, items: list) -> AddSupported:
        targets, var, otherwise = items
        return AddSupported(targets, str(var), otherwise, self._at(meta))

    def otherwise(self, items: list) -> RaiseEdit:
        return self.edit(items)

    def drop(self, items: list) -> Drop:
        return Drop(str(items[0]), self._at(items[0]))

    def replace(self, items: list) -> Replace:
        var, code = items
        return Replace(str(var), self._written(code), self._at(var))

    def sequence_first(self, items: list) -> Resequence:
        return Resequence(str(items[0]), "first", None, self._at(items[0]))

    def sequence_last(self, items: list) -> Resequence:
        return Resequence(str(items[0]), "last", None, self._at(items[0]))

    def sequence_before(self, items: list) -> Resequence:
        return Resequence(str(items[0]), "before", str(items[1]), self._at(items[0]))

    def edit(self, items: list) -> RaiseEdit:
        severity, message = items
        return RaiseEdit(str(severity), _unquote(message), self._at(severity))

    def query(self, items: list) -> Ask:
        missing, var = items
        return Ask(_unquote(missing), str(var), self._at(missing))

    def note(self, items: list) -> Remark:
        var, message = items
        return Remark(str(var), _unquote(message), self._at(var))


def _unquote(token: Token) -> str:
    return str(token)[1:-1]


def parse_pack(text: str, path: str) -> RulePack:
    """Parse one rule file; raise RuleSyntaxError with file:line:column on any mistake."""
    parser = _parser()
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, path, parser) from None
    try:
        return _ToRules(path).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RuleSyntaxError):
            error = exc.orig_exc
            raise RuleSyntaxError(error.at, error.message, _caret(text, error.at)) from None
        raise


def load_pack(path: Path, display: str | None = None) -> RulePack:
    """Read and parse a rules file; `display` is the path shown in errors and traces."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleSyntaxError(Location(shown, 0, 0), f"cannot read rules file: {exc}") from None
    return parse_pack(text, shown)


def _caret(text: str, at: Location) -> str:
    lines = text.splitlines()
    if not 1 <= at.line <= len(lines):
        return ""
    line = lines[at.line - 1]
    return f"    {line}\n    {' ' * (at.column - 1)}^"


def _syntax_error(exc: UnexpectedInput, text: str, path: str, parser: Lark) -> RuleSyntaxError:
    line, column = exc.line, exc.column
    token = getattr(exc, "token", None)
    at_end = token is not None and token.type == "$END"
    if isinstance(exc, UnexpectedEOF) or at_end or line is None or line < 1:
        lines = text.rstrip().splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    if isinstance(exc, UnexpectedCharacters):
        message = f"unexpected character {text[exc.pos_in_stream]!r}"
        if exc.allowed:
            message += f"; expected {_describe(exc.allowed, parser)}"
    else:
        found = "end of file" if token is None or at_end else f"'{token}'"
        expected = _describe(getattr(exc, "expected", set()) or set(), parser)
        message = f"unexpected {found}; expected {expected}"
    at = Location(path, line, column)
    return RuleSyntaxError(at, message, _caret(text, at))


def _describe(terminals: set[str], parser: Lark) -> str:
    words = set()
    for name in terminals:
        if name in _EXPECTED:
            words.add(_EXPECTED[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        words.add(f"`{pattern.value}`" if pattern.type == "str" else name.lower())
    ordered = sorted(words)
    return ", ".join(ordered[:-1]) + f" or {ordered[-1]}" if len(ordered) > 1 else "".join(ordered)
