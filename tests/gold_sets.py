"""The gold sets of tests/gold: notes with the codes a certified coder reports, and the notes
the engine does not yet code right, tracked as strict expected failures (like Semgrep's
`todoruleid`): fixing one fails the suite until its line is removed from the gaps file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

GOLD = Path(__file__).parent / "gold"


def notes(name: str) -> list[dict]:
    return yaml.safe_load((GOLD / name).read_text(encoding="utf-8"))


def known_gaps(name: str) -> set[str]:
    lines = (GOLD / name).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def params(gold: list[dict], gaps: set[str]) -> list:
    """One pytest parameter per note, named by its id; a known gap is a strict xfail."""
    return [
        pytest.param(n, id=n["id"], marks=pytest.mark.xfail(strict=True, reason="known gap"))
        if n["id"] in gaps
        else pytest.param(n, id=n["id"])
        for n in gold
    ]
