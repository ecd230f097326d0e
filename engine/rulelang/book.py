"""A rule book: the rule packs of some files or folders, loaded together."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .model import Definition, Rule, RulePack
from .parser import RuleSyntaxError, load_pack

RULES_DIR = Path(str(files("medcode.rules"))).resolve()


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


@dataclass(frozen=True, slots=True)
class RuleBook:
    packs: tuple[RulePack, ...]
    digest: str

    @classmethod
    def load(cls, paths: Iterable[Path] = (RULES_DIR,)) -> RuleBook:
        """Parse every pack; the first syntax error is raised (lint reports them all)."""
        files = rule_files(paths)
        packs = tuple(load_pack(f, display_path(f)) for f in files)
        digest = hashlib.sha256()
        for f in files:
            digest.update(display_path(f).encode() + b"\0" + f.read_bytes())
        return cls(packs, digest.hexdigest())

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for p in self.packs for r in p.rules)

    @property
    def definitions(self) -> dict[str, Definition]:
        return {d.name: d for p in self.packs for d in p.definitions}


__all__ = [
    "RULES_DIR",
    "RuleBook",
    "RuleSyntaxError",
    "display_path",
    "rule_files",
    "shipped_digest",
]
