"""Build the code set, the Index and the lexicon once and keep them in the user's cache directory.

A cache file is plain data (tuples, lists, dicts, sets, str, numbers) pickled with protocol 5
and read back by an unpickler that refuses every global, so a planted file cannot run code. A
file that is damaged, stale or of another shape is rebuilt, said in one line on stderr.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from .codeset import CodeSet, checked
from .errors import TerminologyError
from .index_codes import reconcile
from .index_release import IndexSource, release_year, resolve_index_source
from .index_terms import IndexBuild, build_index, index_digest
from .lexicon import Lexicon, build_lexicon, curated_digest
from .sources import TabularSource, resolve_source
from .tabular import load_code_list, read_tabular

CACHE_ENV = "MEDCODE_CACHE_DIR"
# Bump when the cached layout changes; the package version is part of the key as well.
FORMAT = 2
# Pinned: protocol 5 writes sets, frozensets and bytes without naming a global, which is all
# `_DataUnpickler` accepts.
PROTOCOL = 5
T = TypeVar("T")


def package_version() -> str:
    """The installed medcode version (part of every cache key and result)."""
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
    return _cached(
        "codeset",
        sha256,
        lambda: build_codeset(source, sha256),
        CodeSet.to_payload,
        CodeSet.from_payload,
        use_cache=use_cache,
    )


def load_index(
    codeset: CodeSet, cms_dir: str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> IndexBuild:
    """The Index family (packaged FY2025, or `cms_dir` / $MEDCODE_CMS_DIR) reconciled with the
    code set, as lexicon entries and the Neoplasm Table's sites; cached like the code set (a
    cached Index has no entries: the cached lexicon holds them)."""
    source = resolve_index_source(cms_dir)
    identity = hashlib.sha256(
        (codeset.provenance.sha256 + source.sha256() + index_digest()).encode()
    ).hexdigest()
    index = _cached(
        "index",
        identity,
        lambda: _compile_index(source, codeset, identity),
        IndexBuild.to_payload,
        IndexBuild.from_payload,
        use_cache=use_cache,
    )
    return replace(index, cms_dir=str(cms_dir) if cms_dir else None)


def _index_entries(codeset: CodeSet, index: IndexBuild) -> tuple:
    """The Index's lexicon entries: in hand after a cold build, else compiled again."""
    if index.entries:
        return index.entries
    return _compile_index(resolve_index_source(index.cms_dir), codeset, index.identity).entries


def _compile_index(source: IndexSource, codeset: CodeSet, identity: str) -> IndexBuild:
    index = source.load()
    year = release_year(index)
    return build_index(index, source.label(year), identity, reconcile(index, codeset, year))


def load_lexicon(
    codeset: CodeSet, index: IndexBuild | None = None, *, use_cache: bool = True
) -> Lexicon:
    """The lexicon of a code set, the curated files and an Index, cached like the code set."""
    parts = codeset.provenance.sha256 + curated_digest() + (index.identity if index else "")
    identity = hashlib.sha256(parts.encode()).hexdigest()
    return _cached(
        "lexicon",
        identity,
        lambda: build_lexicon(codeset, _index_entries(codeset, index) if index else ()),
        Lexicon.to_payload,
        Lexicon.from_payload,
        use_cache=use_cache,
    )


def _cached(
    name: str,
    identity: str,
    build: Callable[[], T],
    dump: Callable[[T], tuple],
    load: Callable[[tuple], T],
    *,
    use_cache: bool,
) -> T:
    """The value kept in `cache_dir()/name-identity...pickle` as `dump`'s plain data (read
    back by `load`), built and written when absent or unusable."""
    if not use_cache or not _usable(cache_dir()):
        return build()
    path = _cache_path(name, identity)
    value = _read_cache(path, identity, load)
    if value is None:
        value = build()
        if _write_cache(path, (identity, dump(value))):
            _prune(name, keep=path)
    return value


def _cache_path(name: str, identity: str) -> Path:
    return cache_dir() / f"{name}-{identity[:20]}-{package_version()}-f{FORMAT}.pickle"


@lru_cache(maxsize=8)
def _usable(folder: Path) -> bool:
    """Whether caches can be kept in `folder`, created owner-only (0700) when absent: what is
    cached (codes, terms) is the user's alone to change. A folder that cannot be used is said
    once per process, on stderr, and medcode works uncached."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # a folder medcode cannot read (chmod 000) would otherwise fail once per cache file
        if not os.access(folder, os.R_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except FileExistsError:  # a file where the folder should be
        reason = os.strerror(errno.ENOTDIR)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        return True
    print(f"medcode: cannot use cache folder {folder}: {reason}; working uncached", file=sys.stderr)
    return False


def _prune(name: str, keep: Path, versions: int = 3) -> None:
    """Drop all but the newest few caches of one kind: each edit of a lexicon file makes a new
    one, and old ones would pile up."""
    try:
        caches = sorted(
            (p for p in keep.parent.glob(f"{name}-*.pickle") if p != keep),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in caches[versions - 1 :]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another medcode process pruning the same folder: it does the work


class _NotData(pickle.UnpicklingError):
    """A cache file that names a global (a class, or a function such as os.system)."""


class _DataUnpickler(pickle.Unpickler):
    """Reads plain data only. Every global is refused before it is imported, so a planted file
    cannot run code: without globals, protocol 5 builds nothing but tuples, lists, dicts, sets,
    frozensets, str, bytes, int, float, bool and None."""

    def find_class(self, module: str, name: str) -> Any:
        raise _NotData(f"refers to {module}.{name}")


def _read_cache(path: Path, identity: str, load: Callable[[tuple], T]) -> T | None:
    """The value kept in `path`, or None to rebuild it (said on stderr unless it is absent)."""
    gc.disable()  # a large pickle of tuples loads 3x faster without collection passes
    try:
        with path.open("rb") as handle:
            stored_identity, payload = checked(_DataUnpickler(handle).load(), tuple, 2)
        if stored_identity != identity:
            print(f"medcode: rebuilding stale cache {path}", file=sys.stderr)
            return None
        return load(payload)
    except FileNotFoundError:
        return None
    except OSError as exc:
        print(
            f"medcode: rebuilding unreadable cache {path} ({type(exc).__name__})", file=sys.stderr
        )
        return None
    except Exception as exc:  # any damaged cache is rebuilt, whatever broke it
        reason = str(exc) if isinstance(exc, _NotData) else type(exc).__name__
        print(f"medcode: rebuilding corrupt cache {path} ({reason})", file=sys.stderr)
        return None
    finally:
        gc.enable()


def _write_cache(path: Path, stored: tuple) -> bool:
    """Write atomically (a reader sees the old file or the new one, never half of one), with
    owner-only permissions: NamedTemporaryFile creates its file 0600."""
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            pickle.dump(stored, tmp, protocol=PROTOCOL)
        os.replace(tmp.name, path)
    except OSError as exc:
        # A read-only folder must not stop coding: work uncached and say so.
        print(f"medcode: cannot write cache {path}: {exc.strerror or exc}", file=sys.stderr)
        if "tmp" in locals():
            Path(tmp.name).unlink(missing_ok=True)
        return False
    return True


__all__ = [
    "TerminologyError",
    "build_codeset",
    "cache_dir",
    "load_codeset",
    "load_index",
    "load_lexicon",
]
