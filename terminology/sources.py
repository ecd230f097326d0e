"""Where the Tabular List comes from: the FY2026 files shipped in simple-icd-10-cm, or a path."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import TerminologyError

DEFAULT_PACKAGE = "simple_icd_10_cm"
DEFAULT_TABULAR = "icd10c-tabular-April-1-2026.xml"
DEFAULT_CODE_LIST = "code-list-April-2026.txt"
TABULAR_ENV = "MEDCODE_TABULAR"
CODE_LIST_ENV = "MEDCODE_CODE_LIST"


@dataclass(frozen=True, slots=True)
class TabularSource:
    """A Tabular List XML file, and optionally the code list that its expansion is checked on."""

    tabular: Path
    code_list: Path | None

    def sha256(self) -> str:
        """Digest of the XML and the code list together: the identity of the built code set."""
        digest = hashlib.sha256()
        for path in (self.tabular, self.code_list):
            if path is not None:
                digest.update(_read(path))
        return digest.hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TerminologyError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _packaged_data_dir() -> Path:
    # Locate the files without importing the module: its import parses the whole XML (1.5 s).
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise TerminologyError(
            f"the default FY2026 Tabular List ships in the package simple-icd-10-cm; install it "
            f"or give --tabular / {TABULAR_ENV}"
        )
    return Path(spec.origin).parent / "data"


def resolve_source(tabular: str | os.PathLike[str] | None = None) -> TabularSource:
    """The Tabular source to use: the argument, else $MEDCODE_TABULAR, else the packaged FY2026.

    A code list is used beside a user-given XML only when $MEDCODE_CODE_LIST names one.
    """
    given = tabular or os.environ.get(TABULAR_ENV)
    if given:
        path = Path(given)
        if not path.is_file():
            raise TerminologyError(f"Tabular List XML not found: {path}")
        code_list = os.environ.get(CODE_LIST_ENV)
        return TabularSource(path, Path(code_list) if code_list else None)
    data = _packaged_data_dir()
    return TabularSource(data / DEFAULT_TABULAR, data / DEFAULT_CODE_LIST)
