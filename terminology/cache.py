"""Build the code set once and keep it in the user's cache directory."""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .codeset import CodeSet
from .errors import TerminologyError
from .index_codes import reconcile
from .index_release import IndexSource, release_year, resolve_index_source
from .index_terms import IndexBuild, build_index, index_digest
from .lexicon import Lexicon, build_lexicon, curated_digest
from .sources import TabularSource, resolve_source
from .tabular import load_code_list, read_tabular

CACHE_ENV = "MEDCODE_CACHE_DIR"
# Bump when the cached layout changes; the package version is part of the key as well.
FORMAT = 1


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
    payload = _cached(
        "codeset",
        sha256,
        lambda: build_codeset(source, sha256).to_payload(),
        use_cache=use_cache,
    )
    return CodeSet.from_payload(payload)


def load_index(
    codeset: CodeSet, cms_dir: str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> IndexBuild:
    """The Index family (packaged FY2025, or `cms_dir` / $MEDCODE_CMS_DIR) reconciled with the
    code set, as lexicon entries and the Neoplasm Table's sites; cached like the code set."""
    source = resolve_index_source(cms_dir)
    identity = hashlib.sha256(
        (codeset.provenance.sha256 + source.sha256() + index_digest()).encode()
    ).hexdigest()

    built: list[IndexBuild] = []

    def build() -> IndexBuild:
        built.append(_compile_index(source, codeset, identity))
        # the lexicon keeps the entries; a warm start needs only the rest
        return replace(built[0], entries=())

    slim = _cached("index", identity, build, use_cache=use_cache)
    return replace(built[0] if built else slim, cms_dir=str(cms_dir) if cms_dir else None)


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

    def build() -> tuple:
        extra = _index_entries(codeset, index) if index else ()
        lexicon = build_lexicon(codeset, extra)
        lengths = (lexicon.lengths, lexicon.pair_lengths)
        return lexicon.terms, lexicon.rows, lexicon.spelling, lengths

    return Lexicon(*_cached("lexicon", identity, build, use_cache=use_cache))


def _cached(name: str, identity: str, build: Callable[[], tuple], *, use_cache: bool) -> tuple:
    """A payload from `cache_dir()/name-identity...pickle`, built and written when absent."""
    path = cache_dir() / f"{name}-{identity[:20]}-{package_version()}-f{FORMAT}.pickle"
    if use_cache and path.exists():
        payload = _read_cache(path, identity)
        if payload is not None:
            return payload[1]
    payload = build()
    if use_cache:
        _write_cache(path, (identity, payload))
        _prune(name, keep=path)
    return payload


def _prune(name: str, keep: Path, versions: int = 3) -> None:
    """Drop all but the newest few caches of one kind: each edit of a lexicon file makes a new
    one, and old ones would pile up."""
    caches = sorted(
        (p for p in keep.parent.glob(f"{name}-*.pickle") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in caches[versions - 1 :]:
        old.unlink(missing_ok=True)


def _read_cache(path: Path, identity: str) -> tuple | None:
    gc.disable()  # a large pickle of tuples loads 3x faster without collection passes
    try:
        with path.open("rb") as handle:
            stored = pickle.load(handle)
        stored_identity = stored[0]
    except Exception as exc:  # any unreadable cache is rebuilt, whatever broke it
        print(f"medcode: rebuilding corrupt cache {path} ({type(exc).__name__})", file=sys.stderr)
        return None
    finally:
        gc.enable()
    if stored_identity != identity:
        print(f"medcode: rebuilding stale cache {path}", file=sys.stderr)
        return None
    return stored


def _write_cache(path: Path, stored: tuple) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            pickle.dump(stored, tmp, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp.name, path)
    except OSError as exc:
        # A read-only home must not stop coding: work uncached and say so once.
        print(f"medcode: cannot write cache {path}: {exc.strerror or exc}", file=sys.stderr)
        if "tmp" in locals():
            Path(tmp.name).unlink(missing_ok=True)


__all__ = [
    "TerminologyError",
    "build_codeset",
    "cache_dir",
    "load_codeset",
    "load_index",
    "load_lexicon",
]
