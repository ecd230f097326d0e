"""Build the code set once and keep it in the user's cache directory."""

from __future__ import annotations

import gc
import os
import pickle
import sys
import tempfile
from pathlib import Path

from .codeset import CodeSet
from .errors import TerminologyError
from .sources import TabularSource, resolve_source
from .tabular import load_code_list, read_tabular

CACHE_ENV = "MEDCODE_CACHE_DIR"
# Bump when the cached layout changes; the package version is part of the key as well.
FORMAT = 1


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medcode")
    except PackageNotFoundError:
        return "0+unknown"


def cache_dir() -> Path:
    """$MEDCODE_CACHE_DIR, else $XDG_CACHE_HOME/medcode, else ~/.cache/medcode."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "medcode"


def build_codeset(source: TabularSource, sha256: str) -> CodeSet:
    """Read the Tabular XML (and check 7th-character expansion against the code list)."""
    code_list = load_code_list(source.code_list) if source.code_list else None
    data = read_tabular(source.tabular, code_list)
    return CodeSet.from_tabular(data, str(source.tabular), sha256)


def load_codeset(
    tabular: str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> CodeSet:
    """The code set for a Tabular source, from the cache when it holds this exact source.

    The cache file is keyed by the source's sha256 and the medcode version; a corrupt or stale
    file is reported on stderr in one line and rebuilt.
    """
    source = resolve_source(tabular)
    sha256 = source.sha256()
    path = cache_dir() / f"codeset-{sha256[:20]}-{_package_version()}-f{FORMAT}.pickle"
    if use_cache and path.exists():
        codeset = _read_cache(path, sha256)
        if codeset is not None:
            return codeset
    codeset = build_codeset(source, sha256)
    if use_cache:
        _write_cache(path, codeset)
    return codeset


def _read_cache(path: Path, sha256: str) -> CodeSet | None:
    gc.disable()  # a large pickle of tuples loads 3x faster without collection passes
    try:
        with path.open("rb") as handle:
            payload = pickle.load(handle)
        codeset = CodeSet.from_payload(payload)
    except Exception as exc:  # any unreadable cache is rebuilt, whatever broke it
        print(f"medcode: rebuilding corrupt cache {path} ({type(exc).__name__})", file=sys.stderr)
        return None
    finally:
        gc.enable()
    if codeset.provenance.sha256 != sha256:
        print(f"medcode: rebuilding stale cache {path}", file=sys.stderr)
        return None
    return codeset


def _write_cache(path: Path, codeset: CodeSet) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            pickle.dump(codeset.to_payload(), tmp, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp.name, path)
    except OSError as exc:
        # A read-only home must not stop coding: work uncached and say so once.
        print(f"medcode: cannot write cache {path}: {exc.strerror or exc}", file=sys.stderr)
        if "tmp" in locals():
            Path(tmp.name).unlink(missing_ok=True)


__all__ = ["TerminologyError", "build_codeset", "cache_dir", "load_codeset"]
