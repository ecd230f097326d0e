"""Read a CMS ICD-10-CM Tabular List XML into plain node records (no graph yet)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from lxml import etree

from .coderefs import CATEGORY, find_references
from .errors import TerminologyError
from .notes import REFERENCE_KINDS, Note, NoteKind

CODE_SHAPE = re.compile(rf"^{CATEGORY}(\.[0-9A-Z]{{1,4}})?$")
_SEVENTH = re.compile(r"^[0-9A-Z]$")
_NOTE_KINDS = tuple(NoteKind)


class NodeKind(StrEnum):
    CHAPTER = "chapter"
    SECTION = "section"
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class CodeNode:
    """One node of the Tabular hierarchy.

    `key` is the graph key: the dotted code for codes ("E11.22"), "chapter:4" and
    "section:E08-E13" for the groupings. `seventh` holds the 7th-character definitions written
    on this node (they govern every code below it).
    """

    key: str
    code: str
    title: str
    kind: NodeKind
    billable: bool
    notes: tuple[Note, ...] = ()
    seventh: tuple[tuple[str, str], ...] = ()
    placeholder: bool = False


@dataclass(slots=True)
class TabularData:
    """Nodes in Tabular order and parent -> child edges, as read from one XML file."""

    fy: int
    nodes: list[CodeNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def dotted(code: str) -> str:
    """`E1122` -> `E11.22`; codes of three characters have no dot. Only ASCII is upper-cased:
    str.upper() folds letters of other scripts into ASCII (U+017F, long s, into 'S')."""
    code = code.replace(".", "")
    code = code.upper() if code.isascii() else code
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def with_seventh(code: str, char: str) -> str:
    """The code with a 7th character, placeholder X filling positions 4-6 (`T39.1` -> T39.1XXA)."""
    return dotted(code.replace(".", "").ljust(6, "X") + char)


def load_code_list(path: Path) -> frozenset[str]:
    """The dotless codes of a CMS-style code list (one per line; other lines are ignored)."""
    try:
        lines = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise TerminologyError(f"cannot read code list {path}: {exc}") from exc
    return frozenset(line for line in lines if CODE_SHAPE.match(dotted(line)))


def _text(element: etree._Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _notes(element: etree._Element) -> tuple[Note, ...]:
    notes: list[Note] = []
    for child in element:
        if child.tag not in _NOTE_KINDS:
            continue
        kind = NoteKind(child.tag)
        for note in child.iterfind("note"):
            text = _text(note)
            if kind in REFERENCE_KINDS:
                refs, unresolved = find_references(text)
                notes.append(Note(kind, text, refs, unresolved))
            else:
                notes.append(Note(kind, text))
    return tuple(notes)


def _seventh(element: etree._Element) -> tuple[tuple[str, str], ...]:
    definition = element.find("sevenChrDef")
    if definition is None:
        return ()
    seventh = tuple((ext.get("char", ""), _text(ext)) for ext in definition.iterfind("extension"))
    for char, _ in seventh:
        if not _SEVENTH.match(char):
            raise TerminologyError(f"malformed 7th character {char!r} in the Tabular List")
    return seventh


def _parse(path: Path) -> etree._Element:
    if not path.is_file():
        raise TerminologyError(f"Tabular List XML not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TerminologyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    # Parsed from bytes: lxml then reports bad encodings (a Latin-1 file declared UTF-8) as
    # syntax errors with a line and column; parsing a path raises a bare OSError for them.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root_el = etree.fromstring(data, parser, base_url=str(path))
    except etree.XMLSyntaxError as exc:
        raise TerminologyError(f"malformed Tabular List XML {path}: {exc}") from exc
    if root_el.tag != "ICD10CM.tabular" or root_el.find("chapter") is None:
        raise TerminologyError(f"not an ICD-10-CM Tabular List (no <chapter>): {path}")
    return root_el


def read_tabular(path: Path, code_list: frozenset[str] | None = None) -> TabularData:
    """Read the XML; expand 7th characters, keeping only codes in `code_list` when given.

    The code list matters: some 7th-character restrictions (S06 codes with 6th character 7 or 8
    take only "A") are written only in free-text notes.
    """
    root = _parse(path)
    try:
        fy = int(root.findtext("version", "0").strip())
    except ValueError:
        fy = 0
    data = TabularData(fy)
    seen: set[str] = set()
    for chapter in root.iterfind("chapter"):
        chapter_key = f"chapter:{_text(chapter.find('name'))}"
        data.nodes.append(
            CodeNode(
                chapter_key,
                _text(chapter.find("name")),
                _text(chapter.find("desc")),
                NodeKind.CHAPTER,
                False,
                _notes(chapter),
            )
        )
        for section in chapter.iterfind("section"):
            section_key = f"section:{section.get('id')}"
            data.nodes.append(
                CodeNode(
                    section_key,
                    section.get("id", ""),
                    _text(section.find("desc")),
                    NodeKind.SECTION,
                    False,
                    _notes(section),
                )
            )
            data.edges.append((chapter_key, section_key))
            for diag in section.iterfind("diag"):
                for node, parent in _diags(diag, section_key, (), code_list, data.dropped):
                    if node.key in seen:  # a second node would silently replace the first
                        raise TerminologyError(f"code {node.key} is twice in the Tabular List")
                    seen.add(node.key)
                    data.nodes.append(node)
                    data.edges.append((parent, node.key))
    return data


def _diags(
    diag: etree._Element,
    parent: str,
    seventh: tuple[tuple[str, str], ...],
    code_list: frozenset[str] | None,
    dropped: list[str],
) -> Iterator[tuple[CodeNode, str]]:
    code = _text(diag.find("name"))
    if not CODE_SHAPE.match(code):
        raise TerminologyError(f"malformed code {code!r} in the Tabular List")
    own_seventh = _seventh(diag)
    seventh = own_seventh or seventh
    children = diag.findall("diag")
    title = _text(diag.find("desc"))
    kind = NodeKind.CATEGORY if len(code) == 3 else NodeKind.SUBCATEGORY
    billable = not children and not seventh
    if billable:
        kind = NodeKind.CODE
    placeholder = diag.get("placeholder") == "true"
    yield (
        CodeNode(code, code, title, kind, billable, _notes(diag), own_seventh, placeholder),
        parent,
    )
    for child in children:
        yield from _diags(child, code, seventh, code_list, dropped)
    if children or not seventh:
        return
    for char, meaning in seventh:
        full = with_seventh(code, char)
        if code_list is not None and full.replace(".", "") not in code_list:
            dropped.append(full)
            continue
        yield CodeNode(full, full, f"{title}, {meaning}", NodeKind.CODE, True), code
