"""Find and parse the code references written in Tabular List notes (grammar: coderefs.lark)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError

from .notes import CodeRef

_GRAMMAR = Path(__file__).with_name("coderefs.lark")
_ORDINALS = {"fourth": 4, "fifth": 5, "sixth": 6, "six": 6, "seventh": 7}

# A code's first three characters: a letter, then a digit and a digit or letter, or (FY2026's
# QA0 chapter) a letter and a digit. The grammars (coderefs.lark, rules.lark) write the same.
CATEGORY = r"[A-Z](?:[0-9][0-9A-Z]|[A-Z][0-9])"
# A parenthesised group, or "category/categories/subcategory/code(s)" followed by references.
_ONE_CODE = rf"{CATEGORY}(?:\.[0-9A-Z]{{1,4}})?"
_PAREN = re.compile(r"\(([^()]*)\)")
_CODE_START = re.compile(rf"\s*{_ONE_CODE}\b")
_NAMED = re.compile(
    r"\b(?:categories|category|subcategories|subcategory|codes|code)\s+"
    rf"({_ONE_CODE}(?:\.?-(?:{_ONE_CODE})?)?(?:\s*(?:,|and|or)\s*{_ONE_CODE}(?:\.?-)?)*)"
)


def _dotless(code: str) -> str:
    return code.replace(".", "")


def _position(token: str) -> int:
    word = token.lower()
    return _ORDINALS.get(word) or int(word[0])


@dataclass(frozen=True, slots=True)
class _Qualifier:
    positions: tuple[int, ...] = ()
    chars: str = ""
    endings: tuple[tuple[str, str], ...] = ()


@v_args(inline=True)
class _ToCodeRefs(Transformer):
    """One method per grammar rule: the parse tree becomes CodeRef values."""

    def start(self, *items: CodeRef | _Qualifier) -> tuple[CodeRef, ...]:
        spans = [item for item in items if isinstance(item, CodeRef)]
        qualifier = items[-1] if isinstance(items[-1], _Qualifier) else None
        if qualifier is None:
            return tuple(spans)
        return tuple(
            replace(
                span,
                positions=qualifier.positions,
                chars=qualifier.chars,
                endings=qualifier.endings,
            )
            for span in spans
        )

    def range(self, first: Token, last: Token) -> CodeRef:
        return CodeRef(_dotless(first), _dotless(last), True, f"{first}-{last}")

    def open_code(self, code: Token) -> CodeRef:
        text = f"{code}-" if "." in code else f"{code}.-"
        return CodeRef(_dotless(code), _dotless(code), True, text)

    def single_code(self, code: Token) -> CodeRef:
        return CodeRef(_dotless(code), _dotless(code), False, str(code))

    def qualifier(self, rule: _Qualifier) -> _Qualifier:
        return rule

    def position_rule(self, *items: Token | str) -> _Qualifier:
        positions = tuple(_position(t) for t in items if isinstance(t, Token))
        chars = "".join(sorted({c for t in items if not isinstance(t, Token) for c in t}))
        return _Qualifier(positions=positions, chars=chars)

    def ending_rule(self, *endings: tuple[str, str]) -> _Qualifier:
        return _Qualifier(endings=endings)

    def ending(self, low: Token, high: Token | None = None) -> tuple[str, str]:
        return str(low), str(high or low)

    def char_range(self, low: Token, high: Token) -> str:
        return "".join(chr(c) for c in range(ord(low), ord(high) + 1))

    def char_one(self, char: Token) -> str:
        return str(char)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", transformer=_ToCodeRefs())


def parse_references(text: str) -> tuple[CodeRef, ...]:
    """Parse one reference list such as "C00-C96, D00-D09"; raise ValueError when it is not one."""
    try:
        return _parser().parse(text)
    except LarkError as exc:
        raise ValueError(f"not a code reference: {text!r}") from exc


def find_references(note_text: str) -> tuple[tuple[CodeRef, ...], tuple[str, ...]]:
    """Every code reference in a note's text, and the code-like groups that did not parse."""
    refs: list[CodeRef] = []
    failed: list[str] = []
    candidates = [m.group(1) for m in _PAREN.finditer(note_text) if _CODE_START.match(m.group(1))]
    outside = _PAREN.sub(" ", note_text)
    candidates += [re.sub(r"\s+(?:and|or)\s+", ", ", m.group(1)) for m in _NAMED.finditer(outside)]
    for group in candidates:
        try:
            refs.extend(parse_references(group))
        except ValueError:
            failed.append(group)
    return tuple(refs), tuple(failed)
