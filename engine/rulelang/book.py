"""A rule book: the rule packs of some files or folders, loaded together."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from lark import Token, Tree
from lark.exceptions import VisitError

from medcode.terminology.coderefs import parse_references

from .model import Definition, Location, Rule, RulePack
from .parser import RuleSyntaxError, parse_pack

RULES_DIR = Path(str(files("medcode.rules"))).resolve()
# The rule files and folders of a book, joined with os.pathsep: how `medcode serve` hands the
# book of --rules / --rules-only to its worker processes. Unset: the shipped packs.
RULES_ENV = "MEDCODE_RULES"


def book_paths(added: Iterable[str] = (), only: Iterable[str] = ()) -> tuple[Path, ...]:
    """The files and folders of a book: `only` when given (--rules-only replaces the shipped
    packs), else the shipped packs and `added` (--rules adds to them)."""
    replaced = tuple(Path(p) for p in only)
    return replaced or (RULES_DIR, *(Path(p) for p in added))


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """The *.rules files named or found (recursively) in folders, in sorted order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("*.rules"))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such rules file or folder: {path}")
    return list(dict.fromkeys(found))


def display_path(path: Path) -> str:
    """Shipped packs show as rules/NAME.rules wherever the package is installed."""
    try:
        return f"rules/{path.resolve().relative_to(RULES_DIR).as_posix()}"
    except ValueError:
        return str(path)


def shipped_digest() -> str:
    """sha256 over the shipped rule packs and their tables (the policy and history-code YAML),
    recorded in every result as the rules version."""
    digest = hashlib.sha256()
    for path in sorted(RULES_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".rules"):
            digest.update(path.relative_to(RULES_DIR).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


# A word of a rule that may be a code or range: letters, digits, dots and hyphens.
_WORD = re.compile(r"[A-Za-z0-9.-]+")


def capitalized(word: str) -> str | None:
    """The code a word in lowercase stands for (`e11.9` -> `E11.9`), or None when it is none."""
    upper = word.upper()
    if upper == word or not _WORD.fullmatch(word):
        return None
    try:
        parse_references(upper)
    except ValueError:
        return None
    return upper


def parse_rules(text: str, path: str) -> RulePack:
    """Parse one rules file as an author reads it: every mistake is a RuleSyntaxError at
    file:line:column, a code in lowercase is named as one, and a value no rule can hold (a
    priority of 5,000 digits) is a mistake at its place rather than a crash."""
    try:
        return parse_pack(text, path)
    except RuleSyntaxError as exc:
        error = _in_capitals(exc, text)
    except VisitError as exc:
        error = _unreadable(exc, text, path)
    at = error.at
    if error.message.startswith("unexpected end of file"):
        # after the last written line, counted as Lark counts lines: a form feed or a line
        # separator inside a title is not a line break
        lines = text.rstrip().split("\n")
        at = Location(at.path, len(lines), len(lines[-1]) + 1)
    # one line: a control character in the offending text is shown escaped
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in error.message)
    raise RuleSyntaxError(at, message, caret(text, at))


def read_rules(path: Path, display: str | None = None) -> RulePack:
    """Read and parse a rules file with `parse_rules`; `display` is the path shown."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleSyntaxError(Location(shown, 0, 0), f"cannot read rules file: {exc}") from None
    return parse_rules(text, shown)


def _in_capitals(error: RuleSyntaxError, text: str) -> RuleSyntaxError:
    """The error again, or "codes are written in capitals" when a lowercase code caused it
    (`add e11.9` stops at `e11`, `code ?a in e11.9` at the dot after the name `e11`)."""
    lines = text.split("\n")
    if not 1 <= error.at.line <= len(lines):
        return error
    line = lines[error.at.line - 1]
    index = error.at.column - 1
    for match in _WORD.finditer(line):
        if match.start() <= index <= match.end():
            code = capitalized(match.group())
            if code is None:
                return error
            at = Location(error.at.path, error.at.line, match.start() + 1)
            message = f"codes are written in capitals: {match.group()} -> {code}"
            return RuleSyntaxError(at, message, caret(text, at))
    return error


def _unreadable(error: VisitError, text: str, path: str) -> RuleSyntaxError:
    """A part of a rule that parsed but cannot be made a value, at its place."""
    tree = error.obj
    tokens = [t for t in getattr(tree, "children", ()) if isinstance(t, Token)]
    numbers = [t for t in tokens if t.lstrip("+-").isdigit()]
    place = (numbers or tokens or [tree])[-1]
    meta = place if isinstance(place, Token) else getattr(place, "meta", None)
    at = Location(path, getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1)
    if numbers and isinstance(error.orig_exc, ValueError):
        message = f"number too large: {len(numbers[-1].lstrip('+-'))} digits"
    else:
        rule = tree.data if isinstance(tree, Tree) else error.rule
        message = " ".join(f"cannot read this {rule}: {error.orig_exc}".split())
    return RuleSyntaxError(at, message, caret(text, at))


def caret(text: str, at: Location) -> str:
    """The line of `at`, and a caret under its column (tabs kept, so that it lines up)."""
    lines = text.split("\n")
    if not 1 <= at.line <= len(lines):
        return ""
    line = lines[at.line - 1].rstrip("\r")
    indent = "".join(c if c == "\t" else " " for c in line[: at.column - 1])
    return f"    {line}\n    {indent}^"


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Rule packs loaded together; `digest` (sha256 over their files) names them in results."""

    packs: tuple[RulePack, ...]
    digest: str

    @classmethod
    def load(cls, paths: Iterable[Path] = (RULES_DIR,)) -> RuleBook:
        """Parse every pack; the first syntax error is raised (lint reports them all)."""
        files = rule_files(paths)
        packs = tuple(read_rules(f, display_path(f)) for f in files)
        digest = hashlib.sha256()
        for f in files:
            digest.update(display_path(f).encode() + b"\0" + f.read_bytes())
        return cls(packs, digest.hexdigest())

    @classmethod
    def from_environment(cls) -> RuleBook | None:
        """The book that `$MEDCODE_RULES` names, or None (the shipped packs) when it is unset."""
        named = os.environ.get(RULES_ENV)
        return cls.load(Path(p) for p in named.split(os.pathsep)) if named else None

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for p in self.packs for r in p.rules)

    @property
    def definitions(self) -> dict[str, Definition]:
        return {d.name: d for p in self.packs for d in p.definitions}


__all__ = [
    "RULES_DIR",
    "RULES_ENV",
    "RuleBook",
    "RuleSyntaxError",
    "book_paths",
    "capitalized",
    "display_path",
    "parse_rules",
    "read_rules",
    "rule_files",
    "shipped_digest",
]
