"""Read the CMS ICD-10-CM Alphabetic Index, External Cause Index, Drug and Neoplasm tables.

The four files of a CMS "Table and Index" release share one schema (icd10cm-index-YYYY.xsd):
``ICD10CM.index > letter > mainTerm > term[@level] > term ...``. A term has a ``title`` (text with
an optional ``<nemod>``, the nonessential modifiers printed in parentheses), then optional
``see``, ``seeAlso``, ``code``, ``seecat``, ``subcat``, ``manif`` (the bracketed manifestation
code, printed ``E85.4 [I43]``), ``cell[@col]`` (Drug and Neoplasm tables, named by
``indexHeading/head[@col]``) and nested terms.

`load_index_file` reads one file, `load_cms_dir` recognises the files of a release folder by
their content (names vary by year), and `CmsIndex` answers path lookups (`CmsIndex.lookup`) and
lists every code the index cites (`CmsIndex.entries`, `CmsIndex.codes_for`). One module for
the four files because they share one schema and one term tree: what differs (the Drug and
Neoplasm cells) is a few lines of it.

Codes are kept as printed. A trailing ``-`` ("C79.8-") means more characters are required, and
every Drug-table code lacks its 7th character (A, D or S); `IndexHit` carries both facts.
"""

from __future__ import annotations

import lzma
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NamedTuple

from lxml import etree

from .errors import TerminologyError

IndexKind = Literal["index", "eindex", "drug", "neoplasm"]

#: The kinds in their canonical order (the order of `CmsIndex.files`, lookups and entries).
KINDS: tuple[IndexKind, ...] = ("index", "eindex", "drug", "neoplasm")

#: How each kind is named in entry sources ("Drug table > Acetaminophen [...]").
KIND_LABELS: MappingProxyType[str, str] = MappingProxyType(
    {
        "index": "Index",
        "eindex": "External cause index",
        "drug": "Drug table",
        "neoplasm": "Neoplasm table",
    }
)

#: The 7th characters every Drug-table code (T36-T65) takes: initial, subsequent, sequela.
DRUG_SEVENTH_CHARACTERS: tuple[str, ...] = ("A", "D", "S")

_ROOT = "ICD10CM.index"
_EMPTY_CELLS = frozenset({"", "-", "--", "\u2014", "\u2013"})
_CODE_LIKE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?-?$")
_INNER_PARENS = re.compile(r"\([^()]*\)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,;:.])")
_TRAILING_PUNCT = re.compile(r"[\s,.;:]+$")
_NEC_NOS = re.compile(r"\s+(?:nec|nos)$")
_COLUMN_WORD = re.compile(r"[0-9a-z]+")
_COLUMN_SYNONYMS = MappingProxyType({"behaviour": "behavior", "carcinoma": "ca"})
_SNIFF_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_SNIFF_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)([^>]*)")
_SNIFF_ADDENDA = re.compile(rb"""isAddenda\s*=\s*["']true["']""")
_PLACEHOLDER_SEVENTH = re.compile(r"X*[0-9A-Z]")


@dataclass(frozen=True, slots=True)
class IndexTerm:
    """One main term (level 0) or subterm (level 1..9) of an index file.

    `label` is the title as printed, nonessential modifiers included
    ("Abandonment (causing exposure to weather conditions) (with intent to injure or kill) NEC");
    `title` is the same text without the parenthesised modifiers ("Abandonment NEC"), and
    `nemod` holds each modifier without its parentheses. Codes are as printed ("C79.8-").
    `cells` pairs each table column heading with its code, None for an empty cell ("--", "-").
    """

    title: str
    label: str
    nemod: tuple[str, ...] = ()
    level: int = 0
    code: str | None = None
    manif: str | None = None
    see: str | None = None
    see_also: str | None = None
    subcat: str | None = None
    seecat: str | None = None
    cells: tuple[tuple[str, str | None], ...] = ()
    children: tuple[IndexTerm, ...] = ()

    def cell(self, column: str) -> str | None:
        """The code in the column with this exact heading, None if empty or absent."""
        for name, value in self.cells:
            if name == column:
                return value
        return None

    def walk(self) -> Iterator[tuple[IndexTerm, ...]]:
        """This term and every subterm below it, depth first, as chains starting at this term."""
        stack: list[tuple[IndexTerm, ...]] = [(self,)]
        while stack:
            chain = stack.pop()
            yield chain
            stack.extend((*chain, child) for child in reversed(chain[-1].children))


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One parsed index file.

    `columns` are the ``indexHeading/head`` texts in column order (Drug and Neoplasm tables,
    first the row-label column "Substance" / "Neoplasm"); empty for the two indexes.
    `main_terms` lists the main terms of all letters in document order.
    """

    path: Path
    kind: IndexKind
    title: str | None
    version: str | None
    columns: tuple[str, ...]
    main_terms: tuple[IndexTerm, ...]

    @property
    def label(self) -> str:
        """How entry sources name this file: "Index", "External cause index", "Drug table"..."""
        return KIND_LABELS[self.kind]

    def walk(self) -> Iterator[tuple[IndexTerm, ...]]:
        """Every term of the file in document order, as chains from its main term."""
        for main in self.main_terms:
            yield from main.walk()

    def resolve_column(self, column: str) -> str | None:
        """The heading meant by `column`, None if no heading matches.

        Accepts the heading itself or any part of it, case-insensitively and ignoring
        punctuation: "Poisoning Accidental (unintentional)", "poisoning, accidental",
        "accidental", "adverse effect", "malignant primary", "secondary", "in situ",
        "uncertain", "unspecified". An exact word match wins; otherwise the words must
        belong to exactly one heading. Raises ValueError when they fit several ("malignant").
        """
        wanted = _column_words(column)
        if not wanted:
            return None
        headings = [(heading, _column_words(heading)) for heading in self.columns]
        for heading, words in headings:
            if words == wanted:
                return heading
        fits = [heading for heading, words in headings if wanted <= words]
        if len(fits) > 1:
            raise ValueError(f"column {column!r} is ambiguous in the {self.label}: {fits}")
        return fits[0] if fits else None

    def column_label(self, heading: str) -> str:
        """The heading as it reads in the printed table, lower case.

        The XML flattens two header rows ("Poisoning" over "Accidental (unintentional)"); a
        first word shared by several headings is split off with a comma:
        "poisoning, accidental (unintentional)", "malignant, primary".
        """
        first_words = [h.split(" ", 1)[0].casefold() for h in self.columns]
        head, _, rest = heading.partition(" ")
        if rest and first_words.count(head.casefold()) > 1:
            return f"{head}, {rest}".lower()
        return heading.lower()


class IndexEntry(NamedTuple):
    """A code cited by the index: the titles leading to it, the code as printed, and where."""

    path: tuple[str, ...]
    code: str
    source: str


@dataclass(frozen=True, slots=True)
class IndexHit:
    """The result of `CmsIndex.lookup`.

    `printed` is the code as it appears in the file ("C79.8-", "T39.1X1", "E85.4"), `code` the
    same without the trailing "-" ("C79.8"). Both are None when the term (or the asked cell)
    carries no code, e.g. a "see" reference or a "--" cell. `more_characters_required` is True
    for a trailing "-" and for every Drug-table code, which lacks its 7th character;
    `seventh_characters` then lists the ones allowed (A, D, S).
    """

    kind: IndexKind
    path: tuple[str, ...]
    term: IndexTerm
    column: str | None
    printed: str | None
    code: str | None
    more_characters_required: bool
    seventh_characters: tuple[str, ...]
    source: str

    @property
    def manif(self) -> str | None:
        """The manifestation code printed in brackets after the code, if any."""
        return self.term.manif

    @property
    def see(self) -> str | None:
        """The "see" cross-reference of the matched term."""
        return self.term.see

    @property
    def see_also(self) -> str | None:
        """The "see also" cross-reference of the matched term."""
        return self.term.see_also

    def complete(self, seventh: str) -> str:
        """The full code with this 7th character, placeholder X added: T58.11 + A -> T58.11XA.

        Raises ValueError when this hit takes no 7th character or not this one.
        """
        if self.code is None or seventh not in self.seventh_characters:
            raise ValueError(
                f"{self.printed!r} does not take the 7th character {seventh!r} "
                f"(allowed: {', '.join(self.seventh_characters) or 'none'})"
            )
        plain = self.code.replace(".", "").ljust(6, "X") + seventh
        return f"{plain[:3]}.{plain[3:]}"


@dataclass(frozen=True, slots=True)
class _KeyMap:
    """Sibling terms by match key, each list in document order."""

    by_label: dict[str, list[IndexTerm]]
    by_title: dict[str, list[IndexTerm]]
    by_bare: dict[str, list[IndexTerm]]
    by_segment: dict[str, list[IndexTerm]]


@dataclass(frozen=True, slots=True)
class CmsIndex:
    """The index files of one CMS release, at most one per kind, in `KINDS` order."""

    files: tuple[IndexFile, ...]
    _cache: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        seen: dict[str, IndexFile] = {}
        for file in self.files:
            if file.kind in seen:
                raise TerminologyError(
                    f"two {file.label} files: {seen[file.kind].path} and {file.path}"
                )
            seen[file.kind] = file
        object.__setattr__(self, "files", tuple(seen[kind] for kind in KINDS if kind in seen))

    @property
    def kinds(self) -> tuple[IndexKind, ...]:
        """The kinds loaded, in canonical order."""
        return tuple(file.kind for file in self.files)

    def get(self, kind: IndexKind) -> IndexFile | None:
        """The file of this kind, None if the release folder had none."""
        for file in self.files:
            if file.kind == kind:
                return file
        return None

    def lookup(
        self,
        path: Sequence[str],
        *,
        column: str | None = None,
        kind: IndexKind | None = None,
    ) -> IndexHit | None:
        """Follow a main term and subterms to one term, None if the path leads nowhere.

        Each step matches a sibling's title case-insensitively, ignoring parenthesised
        nonessential modifiers, trailing punctuation and accents. Candidates are tried in this
        order, backtracking when a later step fails: the full printed title ("Carbamate
        (sedative)"), the title without modifiers, the title without a final NEC/NOS, one of
        its comma-separated parts ("neoplasm" for "Neoplasm, neoplastic"); document order
        breaks ties. In the Neoplasm table the path may omit the main term.

        With `column` (see `IndexFile.resolve_column`) only the tables having that column are
        searched and the hit carries that cell's code; without it, the code of the term. Files
        are searched in `KINDS` order, or only the file of `kind`. Raises ValueError for an
        empty path, an unknown kind, or a column that no loaded table has (when tables are
        loaded).
        """
        steps = [_StepKeys.of(step) for step in path]
        if not steps:
            raise ValueError("lookup path is empty")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown index kind {kind!r}; kinds: {', '.join(KINDS)}")
        files = self.files if kind is None else tuple(f for f in self.files if f.kind == kind)
        searched_tables = False
        resolved_any = False
        for file in files:
            heading = None
            if column is not None:
                if not file.columns:
                    continue
                searched_tables = True
                heading = file.resolve_column(column)
                if heading is None:
                    continue
                resolved_any = True
            chain = self._resolve(file, file.main_terms, steps)
            if chain is None and file.kind == "neoplasm":
                for main in file.main_terms:
                    rest = self._resolve(main, main.children, steps)
                    if rest is not None:
                        chain = (main, *rest)
                        break
            if chain is not None:
                return _make_hit(file, chain, heading)
        if column is not None and searched_tables and not resolved_any:
            known = sorted({h for f in files for h in f.columns})
            raise ValueError(f"no loaded table has a column {column!r}; columns: {known}")
        return None

    def entries(self) -> Iterator[IndexEntry]:
        """Every code the index cites, in file then document order.

        One entry per term code, manifestation code, ``subcat``/``seecat`` reference and
        non-empty table cell. `source` reads "Index > Diabetes, diabetic > with > chronic
        kidney disease", "Drug table > Acetaminophen [poisoning, accidental (unintentional)]";
        a manifestation adds "[manifestation, with E85.4]", a category reference
        "[see subcategory]" / "[see category]".
        """
        for entry, _open in self._entries():
            yield entry

    def codes_for(self, code: str) -> list[IndexEntry]:
        """The entries that lead to this code, in `entries` order.

        An entry leads to a code when it cites it (dot and case ignored), or cites a form the
        index prints for it before it is complete: a trailing "-" ("C79.8-" leads to C79.81),
        a Drug-table code without its 7th character (T39.1X1 leads to T39.1X1A), a
        ``subcat``/``seecat`` category, or a code written without placeholder X's and 7th
        character (W64 leads to W64.XXXA).
        """
        query = _plain_code(code)
        if len(query) < 3:
            return []
        by_category = self._codes_by_category()
        found: list[tuple[int, IndexEntry]] = []
        for position, plain, is_open, entry in by_category.get(query[:3], ()):
            if plain == query or (
                query.startswith(plain)
                and (
                    is_open
                    or (len(query) == 7 and _PLACEHOLDER_SEVENTH.fullmatch(query[len(plain) :]))
                )
            ):
                found.append((position, entry))
        return [entry for _position, entry in sorted(found, key=lambda item: item[0])]

    # -- internals ------------------------------------------------------------------------

    def _entries(self) -> Iterator[tuple[IndexEntry, bool]]:
        for file in self.files:
            column_labels = {heading: file.column_label(heading) for heading in file.columns}
            seventh_open = file.kind == "drug"
            for chain in file.walk():
                term = chain[-1]
                titles = tuple(t.title for t in chain)
                base = " > ".join((file.label, *titles))
                if term.code:
                    yield IndexEntry(titles, term.code, base), term.code.endswith("-")
                if term.manif and _CODE_LIKE.match(_strip_brackets(term.manif)):
                    manif = _strip_brackets(term.manif)
                    note = f"manifestation, with {term.code}" if term.code else "manifestation"
                    yield IndexEntry(titles, manif, f"{base} [{note}]"), manif.endswith("-")
                if term.subcat:
                    yield IndexEntry(titles, term.subcat, f"{base} [see subcategory]"), True
                if term.seecat:
                    yield IndexEntry(titles, term.seecat, f"{base} [see category]"), True
                for heading, value in term.cells:
                    if value is not None:
                        source = f"{base} [{column_labels.get(heading, heading.lower())}]"
                        yield IndexEntry(titles, value, source), seventh_open or value.endswith("-")

    def _codes_by_category(self) -> dict[str, list[tuple[int, str, bool, IndexEntry]]]:
        cached = self._cache.get("codes")
        if cached is None:
            table: dict[str, list[tuple[int, str, bool, IndexEntry]]] = {}
            for position, (entry, is_open) in enumerate(self._entries()):
                plain = _plain_code(entry.code)
                if len(plain) >= 3:
                    table.setdefault(plain[:3], []).append((position, plain, is_open, entry))
            self._cache["codes"] = cached = table
        return cached  # type: ignore[return-value]

    def _keymap(self, owner: object, siblings: tuple[IndexTerm, ...]) -> _KeyMap:
        key = ("keys", id(owner))
        cached = self._cache.get(key)
        if cached is None:
            cached = _build_keymap(siblings)
            self._cache[key] = cached
        return cached  # type: ignore[return-value]

    def _resolve(
        self, owner: object, siblings: tuple[IndexTerm, ...], steps: Sequence[_StepKeys]
    ) -> tuple[IndexTerm, ...] | None:
        if not steps:
            return ()
        keymap = self._keymap(owner, siblings)
        step = steps[0]
        candidates: dict[int, IndexTerm] = {}
        for table, key in (
            (keymap.by_label, step.label),
            (keymap.by_title, step.title),
            (keymap.by_bare, step.bare),
            (keymap.by_segment, step.bare),
        ):
            for term in table.get(key, ()):
                candidates.setdefault(id(term), term)
        for term in candidates.values():
            rest = self._resolve(term, term.children, steps[1:])
            if rest is not None:
                return (term, *rest)
        return None


@dataclass(frozen=True, slots=True)
class _StepKeys:
    label: str
    title: str
    bare: str

    @classmethod
    def of(cls, text: str) -> _StepKeys:
        title = _match_key(text, keep_parens=False)
        return cls(_match_key(text, keep_parens=True), title, _NEC_NOS.sub("", title))


def load_index_file(path: str | os.PathLike[str]) -> IndexFile:
    """Parse one CMS index XML file: Alphabetic Index, External Cause Index, Drug or Neoplasm table.

    The kind is recognised from the content: a Drug or Neoplasm table by its column headings,
    the External Cause Index by its title (or, untitled, by its codes being mostly V00-Y99).
    Raises TerminologyError when the file is missing, malformed, truncated, an addenda file or
    not an ICD-10-CM index.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise TerminologyError(f"index file not found: {file_path}")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=True,
    )
    try:
        data = file_path.read_bytes()
        if file_path.suffix == ".xz":  # the copies shipped in the package
            data = lzma.decompress(data)
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise TerminologyError(f"malformed index XML {file_path}: {_one_line(exc)}") from exc
    except (OSError, lzma.LZMAError) as exc:
        raise TerminologyError(f"cannot read {file_path}: {_one_line(exc)}") from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # CMS files declare no entities; one that does is not read (never resolved either)
        raise TerminologyError(f"index XML declares entities, which are not read: {file_path}")
    if root.tag != _ROOT:
        raise TerminologyError(
            f"not a CMS ICD-10-CM index file (root <{root.tag}>, expected <{_ROOT}>): {file_path}"
        )
    if root.get("isAddenda") == "true":
        raise TerminologyError(f"index addenda files are not supported: {file_path}")
    return _read_root(root, file_path)


def load_cms_dir(path: str | os.PathLike[str]) -> CmsIndex:
    """Load the index files of a CMS release folder (its top level), whatever their names.

    Every ``*.xml`` whose root element is ``<ICD10CM.index>`` is loaded; schemas, PDFs, the
    Tabular List, other XML and addenda files are skipped. Raises TerminologyError when the
    folder is missing, holds no index file, holds two of one kind, or an index file is broken.
    """
    return CmsIndex(tuple(load_index_file(candidate) for candidate in index_paths(path)))


def index_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The index XML files of a release folder, recognised by their root element without
    parsing them (see `load_cms_dir`)."""
    folder = Path(path)
    if not folder.is_dir():
        raise TerminologyError(f"CMS index folder not found: {folder}")
    found = [
        candidate
        for candidate in sorted(folder.iterdir())
        if candidate.suffix.lower() == ".xml" and candidate.is_file() and _is_index(candidate)
    ]
    if not found:
        raise TerminologyError(f"no ICD-10-CM index XML files in {folder}")
    return found


# -- parsing ------------------------------------------------------------------------------


def _is_index(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise TerminologyError(f"cannot read {path}: {_one_line(exc)}") from exc
    match = _SNIFF_ROOT.search(_SNIFF_COMMENT.sub(b"", head))
    if match is None or match.group(1) != _ROOT.encode():
        return False
    return not _SNIFF_ADDENDA.search(match.group(2))


def _read_root(root: etree._Element, path: Path) -> IndexFile:
    version = _text(root.find("version"))
    title_el = root.find("title")
    title = _title_parts(title_el)[1] if title_el is not None else None
    heads: dict[str, str] = {}
    heading_el = root.find("indexHeading")
    if heading_el is not None:
        for head in heading_el.iterfind("head"):
            col = head.get("col")
            text = _text(head)
            if col is None or not col.strip().isdigit() or text is None:
                raise TerminologyError(
                    f"bad <head> at line {head.sourceline} (needs col and text): {path}"
                )
            heads[col.strip()] = text
    ordered = sorted(heads.items(), key=lambda item: int(item[0]))
    columns = tuple(text for _col, text in ordered)
    letters = root.findall("letter")
    if not letters:
        raise TerminologyError(f"not a CMS ICD-10-CM index file (no <letter>): {path}")
    main_terms = tuple(
        _read_term(main, 0, heads, path)
        for letter in letters
        for main in letter.iterfind("mainTerm")
    )
    kind = _detect_kind(title, columns, main_terms, path)
    return IndexFile(path, kind, title, version, columns, main_terms)


def _detect_kind(
    title: str | None,
    columns: tuple[str, ...],
    main_terms: tuple[IndexTerm, ...],
    path: Path,
) -> IndexKind:
    if columns:
        words = " ".join(columns).casefold()
        if "malignant" in words or "in situ" in words or columns[0].casefold() == "neoplasm":
            return "neoplasm"
        if (
            "poisoning" in words
            or "adverse effect" in words
            or "underdosing" in words
            or columns[0].casefold() == "substance"
        ):
            return "drug"
        raise TerminologyError(f"unrecognised index table columns {list(columns)}: {path}")
    has_cells = any(chain[-1].cells for main in main_terms for chain in main.walk())
    if has_cells:
        raise TerminologyError(f"index table has cells but no <indexHeading>: {path}")
    folded = (title or "").casefold()
    if "external cause" in folded:
        return "eindex"
    if folded:
        return "index"
    codes = [c for main in main_terms for chain in main.walk() if (c := chain[-1].code)]
    external = sum(code[:1] in "VWXY" for code in codes)
    return "eindex" if codes and external * 2 > len(codes) else "index"


def _read_term(el: etree._Element, level: int, heads: dict[str, str], path: Path) -> IndexTerm:
    title_el = None
    values: dict[str, str | None] = {}
    cells: list[tuple[int, str, str | None]] = []
    children: list[IndexTerm] = []
    for child in el:
        tag = child.tag
        if tag == "cell":
            col = child.get("col", "").strip()
            name = heads.get(col)
            if name is None:
                raise TerminologyError(
                    f"cell at line {child.sourceline} names column {col!r}, which has no "
                    f"<head>: {path}"
                )
            if len(child):
                if child.find("diff") is not None:
                    raise TerminologyError(
                        f"index addenda markup at line {child.sourceline}: {path}"
                    )
                value = _text(child) or ""
            else:
                value = (child.text or "").strip()
            cells.append((int(col), name, None if value in _EMPTY_CELLS else value))
        elif tag == "term":
            declared = child.get("level", "")
            if not declared.strip().isdigit() or int(declared) != level + 1:
                raise TerminologyError(
                    f"term at line {child.sourceline} has level {declared!r} but is nested at "
                    f"level {level + 1}: {path}"
                )
            children.append(_read_term(child, level + 1, heads, path))
        elif tag == "title":
            title_el = child
        elif tag in ("code", "manif", "see", "seeAlso", "subcat", "seecat"):
            values[tag] = _text(child)
        elif tag == "diff":
            raise TerminologyError(f"index addenda markup at line {child.sourceline}: {path}")
    if title_el is None:
        raise TerminologyError(f"<{el.tag}> at line {el.sourceline} has no <title>: {path}")
    title, label, nemod = _title_parts(title_el)
    return IndexTerm(
        title=title,
        label=label,
        nemod=nemod,
        level=level,
        code=values.get("code"),
        manif=values.get("manif"),
        see=values.get("see"),
        see_also=values.get("seeAlso"),
        subcat=values.get("subcat"),
        seecat=values.get("seecat"),
        cells=tuple((name, value) for _col, name, value in sorted(cells, key=_first))
        if cells
        else (),
        children=tuple(children),
    )


def _title_parts(el: etree._Element) -> tuple[str, str, tuple[str, ...]]:
    """(title without modifiers, title as printed, modifiers) of a <title> element."""
    if not len(el):
        plain = _clean(" ".join((el.text or "").split()))
        return plain, plain, ()
    printed = [el.text or ""]
    essential = [el.text or ""]
    modifiers: list[str] = []
    for child in el:
        text = "".join(child.itertext())
        if child.tag == "nemod":
            groups, residue = _split_modifiers(text)
            modifiers.extend(groups)
            printed.append(f" {text} ")
            essential.append(f" {residue} ")
        else:
            printed.append(text)
            essential.append(text)
        printed.append(child.tail or "")
        essential.append(child.tail or "")
    label = _clean(" ".join("".join(printed).split()))
    title = _clean(" ".join("".join(essential).split())) or label
    return title, label, tuple(modifiers)


def _split_modifiers(text: str) -> tuple[list[str], str]:
    """Top-level parenthesised groups (without parentheses) and the text outside them."""
    groups: list[str] = []
    residue: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            if depth:
                current.append(char)
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth:
                current.append(char)
            else:
                groups.append(" ".join("".join(current).split()))
                current = []
        elif depth:
            current.append(char)
        else:
            residue.append(char)
    if current:
        groups.append(" ".join("".join(current).split()))
    return [g for g in groups if g], "".join(residue)


def _first(item: tuple[int, str, str | None]) -> int:
    return item[0]


def _clean(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    raw = el.text if not len(el) else "".join(el.itertext())
    text = " ".join(raw.split()) if raw else ""
    return text or None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- matching -----------------------------------------------------------------------------


def _match_key(text: str, *, keep_parens: bool) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    if keep_parens:
        folded = folded.replace("( ", "(").replace(" )", ")")
    else:
        previous = None
        while previous != folded:
            previous, folded = folded, _INNER_PARENS.sub(" ", folded)
        folded = folded.replace("(", " ").replace(")", " ")
    folded = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(folded.split()))
    return _TRAILING_PUNCT.sub("", folded)


def _build_keymap(siblings: tuple[IndexTerm, ...]) -> _KeyMap:
    keymap = _KeyMap({}, {}, {}, {})
    for term in siblings:
        title = _match_key(term.title, keep_parens=False)
        bare = _NEC_NOS.sub("", title)
        keymap.by_label.setdefault(_match_key(term.label, keep_parens=True), []).append(term)
        keymap.by_title.setdefault(title, []).append(term)
        keymap.by_bare.setdefault(bare, []).append(term)
        if "," in title:
            for part in dict.fromkeys(p.strip() for p in title.split(",")):
                segment = _NEC_NOS.sub("", part)
                if segment:
                    keymap.by_segment.setdefault(segment, []).append(term)
    return keymap


def _column_words(text: str) -> frozenset[str]:
    words = _COLUMN_WORD.findall(text.casefold())
    return frozenset(_COLUMN_SYNONYMS.get(word, word) for word in words)


def _make_hit(file: IndexFile, chain: tuple[IndexTerm, ...], heading: str | None) -> IndexHit:
    term = chain[-1]
    printed = term.cell(heading) if heading is not None else term.code
    titles = tuple(t.title for t in chain)
    source = " > ".join((file.label, *titles))
    if heading is not None:
        source = f"{source} [{file.column_label(heading)}]"
    code: str | None = None
    more = False
    seventh: tuple[str, ...] = ()
    if printed is not None:
        code = printed.rstrip("-").rstrip(".")
        more = printed.endswith("-")
        if file.kind == "drug" and heading is not None and len(code.replace(".", "")) < 7:
            more = True
            seventh = DRUG_SEVENTH_CHARACTERS
    return IndexHit(file.kind, titles, term, heading, printed, code, more, seventh, source)


def _plain_code(code: str) -> str:
    return code.strip().upper().replace(".", "").rstrip("-")


def _strip_brackets(text: str) -> str:
    return text.strip().strip("[]").strip()
