"""Where the Alphabetic Index family comes from: the FY2025 release shipped in the package, or a
user's CMS release folder (``--cms-dir`` / $MEDCODE_CMS_DIR).

The package ships the CMS FY2025 Neoplasm Table, Table of Drugs and Chemicals and External Cause
Index as published (XML, xz-compressed), and the Alphabetic Index to Diseases and Injuries
flattened one term a row (CSV: ``RowID, Letter, Level, Term, See, SeeAlso, NonEssModif, Code``;
a term's parent is the nearest row above with a lower level). The official FY2026 Index XML was
not available to the project; a user who has it points ``--cms-dir`` at the release folder, and
the codes of either are reconciled with the FY2026 Tabular (index_codes.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import lzma
import os
from dataclasses import dataclass
from pathlib import Path

from .cms_index import CmsIndex, IndexFile, IndexTerm, index_paths, load_index_file
from .errors import TerminologyError

CMS_DIR_ENV = "MEDCODE_CMS_DIR"
PACKAGED_DIR = Path(__file__).with_name("data")
PACKAGED_YEAR = 2025
PACKAGED_INDEX_CSV = "icd10cm-index-2025.csv.xz"
PACKAGED_TABLES = (
    "icd-10-cm-neoplasm-2025.xml.xz",
    "icd-10-cm-drug-2025.xml.xz",
    "icd-10-cm-eindex-2025.xml.xz",
)
_CSV_COLUMNS = ("RowID", "Letter", "Level", "Term", "See", "SeeAlso", "NonEssModif", "Code")


@dataclass(frozen=True, slots=True)
class IndexSource:
    """The files of one Index release."""

    files: tuple[Path, ...]
    packaged: bool

    def sha256(self) -> str:
        """Digest of every file: the identity of the built Index."""
        digest = hashlib.sha256()
        for path in self.files:
            try:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
            except OSError as exc:
                raise TerminologyError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return digest.hexdigest()

    def label(self, year: int) -> str:
        """How results name the Index used: "CMS FY2025 (packaged)", "CMS FY2026 (/data/cms)"."""
        where = "packaged" if self.packaged else str(self.files[0].parent)
        return f"CMS FY{year} ({where})"

    def load(self) -> CmsIndex:
        if not self.packaged:
            return CmsIndex(tuple(load_index_file(path) for path in self.files))
        index = read_index_csv(self.files[0])
        return CmsIndex((index, *(load_index_file(path) for path in self.files[1:])))


def release_year(index: CmsIndex) -> int:
    """The fiscal year the release's codes are written in: its files' <version>."""
    years = {int(f.version) for f in index.files if f.version and f.version.strip().isdigit()}
    if len(years) > 1:
        folder = index.files[0].path.parent
        raise TerminologyError(f"{folder}: index files of several years {sorted(years)}")
    return years.pop() if years else PACKAGED_YEAR


def resolve_index_source(cms_dir: str | os.PathLike[str] | None = None) -> IndexSource:
    """The argument, else $MEDCODE_CMS_DIR, else the packaged FY2025 release. A user's folder
    is recognised by content (`index_paths`); it is parsed only when the Index is built."""
    given = cms_dir or os.environ.get(CMS_DIR_ENV)
    if not given:
        files = (PACKAGED_DIR / PACKAGED_INDEX_CSV, *(PACKAGED_DIR / n for n in PACKAGED_TABLES))
        return IndexSource(files, packaged=True)
    return IndexSource(tuple(index_paths(given)), packaged=False)


def read_index_csv(path: Path) -> IndexFile:
    """The Alphabetic Index from its flattened CSV (xz-compressed or plain)."""
    try:
        data = path.read_bytes()
        text = (lzma.decompress(data) if path.suffix == ".xz" else data).decode("utf-8")
    except (OSError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise TerminologyError(f"cannot read the Index CSV {path}: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    if tuple(next(reader, ())) != _CSV_COLUMNS:
        raise TerminologyError(f"{path}: not the flattened Index CSV ({', '.join(_CSV_COLUMNS)})")
    # Terms are built bottom-up: a stack of (level, fields, children) closed as levels fall.
    roots: list[IndexTerm] = []
    stack: list[tuple[int, list[str], list[IndexTerm]]] = []

    def close(until: int) -> None:
        while stack and stack[-1][0] >= until:
            level, fields, children = stack.pop()
            term = _term(fields, level, tuple(children))
            (stack[-1][2] if stack else roots).append(term)

    for number, row in enumerate(reader, start=2):
        if len(row) != len(_CSV_COLUMNS) or not row[2].isdigit():
            raise TerminologyError(f"{path}:{number}: malformed Index row")
        level = int(row[2])
        if level > (stack[-1][0] + 1 if stack else 0):
            raise TerminologyError(f"{path}:{number}: level {level} has no parent term")
        close(level)
        stack.append((level, row, []))
    close(0)
    title = "ICD-10-CM Index to Diseases and Injuries"
    return IndexFile(path, "index", title, str(PACKAGED_YEAR), (), tuple(roots))


def _term(fields: list[str], level: int, children: tuple[IndexTerm, ...]) -> IndexTerm:
    _row, _letter, _level, title, see, see_also, modifiers, code = (f.strip() for f in fields)
    nemod = tuple(m.strip("() ") for m in modifiers.split(") (") if m.strip("() "))
    label = " ".join((title, *(f"({m})" for m in nemod)))
    return IndexTerm(
        title=title,
        label=label,
        nemod=nemod,
        level=level,
        code=code or None,
        see=see or None,
        see_also=see_also or None,
        children=children,
    )
