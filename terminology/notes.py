"""Typed Tabular List notes and the code references they cite."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NoteKind(StrEnum):
    """The instructional notes of the Tabular List, named by their XML element."""

    INCLUDES = "includes"
    INCLUSION_TERM = "inclusionTerm"
    EXCLUDES1 = "excludes1"
    EXCLUDES2 = "excludes2"
    CODE_FIRST = "codeFirst"
    USE_ADDITIONAL_CODE = "useAdditionalCode"
    CODE_ALSO = "codeAlso"
    NOTES = "notes"
    SEVEN_CHR_NOTE = "sevenChrNote"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def inherited(self) -> bool:
        """Whether a note of this kind governs the node's descendants (inclusion terms do not)."""
        return self is not NoteKind.INCLUSION_TERM


_LABELS = {
    NoteKind.INCLUDES: "Includes",
    NoteKind.INCLUSION_TERM: "Inclusion term",
    NoteKind.EXCLUDES1: "Excludes1",
    NoteKind.EXCLUDES2: "Excludes2",
    NoteKind.CODE_FIRST: "Code first",
    NoteKind.USE_ADDITIONAL_CODE: "Use additional code",
    NoteKind.CODE_ALSO: "Code also",
    NoteKind.NOTES: "Note",
    NoteKind.SEVEN_CHR_NOTE: "7th character note",
}

# Notes whose code references are checked: these drive the coding conventions.
REFERENCE_KINDS = (
    NoteKind.EXCLUDES1,
    NoteKind.EXCLUDES2,
    NoteKind.CODE_FIRST,
    NoteKind.USE_ADDITIONAL_CODE,
    NoteKind.CODE_ALSO,
)


@dataclass(frozen=True, slots=True)
class CodeRef:
    """One code reference as written in a note: a code, a code with `.-`/`-`, or a range.

    `first` and `last` are codes without dots; `last` equals `first` for a single code.
    `open_ended` marks `E08.-` / `O24.4-` (the code and everything below it). A qualifier
    narrows the codes: "with fifth or sixth character 1-4 or 6" keeps codes having one of
    `chars` at one of the 1-based `positions` (counted without the dot); "with .51-.52" keeps
    codes whose characters after the category fall in one of the `endings` (low, high), and
    "with final characters -28" those whose last characters do.
    """

    first: str
    last: str
    open_ended: bool = False
    text: str = ""
    positions: tuple[int, ...] = ()
    chars: str = ""
    endings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Note:
    """One instructional note: its kind, text and the code references parsed from the text."""

    kind: NoteKind
    text: str
    refs: tuple[CodeRef, ...] = ()
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppliedNote:
    """A note that applies to a code, with the node it is written on (the origin)."""

    note: Note
    origin: str
