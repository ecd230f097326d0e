"""The cache holds data only: a planted or damaged file runs no code and is rebuilt, said in one
line on stderr; a folder medcode cannot use leaves it working uncached."""

from __future__ import annotations

import os
import pickle
import stat
from collections import OrderedDict
from pathlib import Path

import pytest

from medcode.terminology.cache import (
    _cache_path,
    _cached,
    _DataUnpickler,
    cache_dir,
    load_codeset,
    load_index,
    load_lexicon,
)
from medcode.terminology.codeset import CodeSet, checked
from medcode.terminology.drug_table import DrugPhrases
from medcode.terminology.index_terms import IndexBuild
from medcode.terminology.lexicon import Lexicon
from medcode.terminology.neoplasm_table import NeoplasmTable
from medcode.terminology.sources import resolve_source

IDENTITY = "f" * 64
BUILT = ("plain", 1)
ROOT = os.geteuid() == 0  # root reads and writes a folder whatever its mode
SYSTEM = f"{os.system.__module__}.system"  # posix.system


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own (not yet created)."""
    monkeypatch.setenv("MEDCODE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def loaded(codeset: CodeSet) -> tuple[CodeSet, IndexBuild, Lexicon]:
    """The real code set, Index and lexicon, from the session's cache."""
    index = load_index(codeset)
    return codeset, index, load_lexicon(codeset, index)


def probe() -> tuple:
    """A small value through the cache, read back with a shape check like the real ones."""
    return _cached(
        "probe",
        IDENTITY,
        lambda: BUILT,
        lambda v: v,
        lambda p: checked(p, tuple, 2),
        use_cache=True,
    )


def stored(path: Path) -> object:
    with path.open("rb") as handle:
        return _DataUnpickler(handle).load()


class Planted:
    """What an attacker writes: unpickling it would run `touch MARKER`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_the_cache_folder_is_created_owner_only_and_its_files_are_0600(folder: Path) -> None:
    assert probe() == BUILT
    path = _cache_path("probe", IDENTITY)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored(path) == (IDENTITY, BUILT)


def test_a_planted_pickle_runs_no_code_and_is_rebuilt(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir()
    marker = tmp_path / "marker"
    path = _cache_path("probe", IDENTITY)
    planted = pickle.dumps((IDENTITY, Planted(marker)))
    path.write_bytes(planted)
    assert probe() == BUILT
    assert not marker.exists()
    assert capsys.readouterr().err == (
        f"medcode: rebuilding corrupt cache {path} (refers to {SYSTEM})\n"
    )
    assert stored(path) == (IDENTITY, BUILT)
    pickle.loads(planted)  # the same bytes read by plain pickle do run the command
    assert marker.exists()


def test_a_planted_code_set_runs_no_code_and_the_code_set_still_works(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir()
    marker = tmp_path / "marker"
    path = _cache_path("codeset", resolve_source(None).sha256())
    path.write_bytes(pickle.dumps((resolve_source(None).sha256(), Planted(marker))))
    codeset = load_codeset()
    assert not marker.exists()
    assert capsys.readouterr().err == (
        f"medcode: rebuilding corrupt cache {path} (refers to {SYSTEM})\n"
    )
    assert codeset.node("E11.9").billable
    assert load_codeset().node("E11.9").billable  # from the rebuilt file, silently
    assert capsys.readouterr().err == ""


def test_any_global_is_refused_even_a_harmless_one(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir()
    path = _cache_path("probe", IDENTITY)
    path.write_bytes(pickle.dumps((IDENTITY, OrderedDict(plain=1)), protocol=5))
    assert probe() == BUILT
    assert capsys.readouterr().err == (
        f"medcode: rebuilding corrupt cache {path} (refers to collections.OrderedDict)\n"
    )


GOOD = pickle.dumps((IDENTITY, BUILT), protocol=5)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (GOOD[: len(GOOD) // 2], "UnpicklingError"),  # truncated
        (b"", "EOFError"),
        (bytes(range(256)), "UnpicklingError"),  # random bytes
        (b"\x80\x05\x8d" + (2**62).to_bytes(8, "little"), "MemoryError"),  # a 4 EiB string
        (pickle.dumps((IDENTITY, 5), protocol=5), "ValueError"),
        (pickle.dumps((IDENTITY, {"plain": 1}), protocol=5), "ValueError"),  # not a tuple
        (pickle.dumps((IDENTITY, ("plain",)), protocol=5), "ValueError"),  # one item short
        (pickle.dumps([IDENTITY, BUILT], protocol=5), "ValueError"),  # not an (identity, data)
        (pickle.dumps(IDENTITY, protocol=5), "ValueError"),
    ],
    ids=[
        "truncated",
        "empty",
        "random",
        "huge",
        "number",
        "dict",
        "short",
        "list",
        "identity",
    ],
)
def test_a_damaged_cache_is_rebuilt_in_one_line(
    folder: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    folder.mkdir()
    path = _cache_path("probe", IDENTITY)
    path.write_bytes(content)
    assert probe() == BUILT
    assert capsys.readouterr().err == f"medcode: rebuilding corrupt cache {path} ({reason})\n"
    assert stored(path) == (IDENTITY, BUILT)


def test_a_stale_cache_is_rebuilt_in_one_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir()
    path = _cache_path("probe", IDENTITY)
    path.write_bytes(pickle.dumps(("0" * 64, BUILT), protocol=5))
    assert probe() == BUILT
    assert capsys.readouterr().err == f"medcode: rebuilding stale cache {path}\n"
    assert stored(path) == (IDENTITY, BUILT)


@pytest.mark.parametrize("kind", ["codeset", "index", "lexicon"])
@pytest.mark.parametrize(
    "wrong",
    [lambda good: 5, lambda good: dict(enumerate(good)), lambda good: good[:-1]],
    ids=["number", "dict", "short"],
)
def test_a_real_payload_of_the_wrong_shape_is_rebuilt_not_used(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    loaded: tuple[CodeSet, IndexBuild, Lexicon],
    kind: str,
    wrong,
) -> None:
    value = dict(zip(("codeset", "index", "lexicon"), loaded, strict=True))[kind]
    cls = type(value)
    folder.mkdir()
    path = _cache_path(kind, IDENTITY)
    path.write_bytes(pickle.dumps((IDENTITY, wrong(value.to_payload())), protocol=5))
    found = _cached(kind, IDENTITY, lambda: value, cls.to_payload, cls.from_payload, use_cache=True)
    assert found is value
    assert capsys.readouterr().err == f"medcode: rebuilding corrupt cache {path} (ValueError)\n"


def test_rows_of_the_wrong_shape_are_refused(
    loaded: tuple[CodeSet, IndexBuild, Lexicon],
) -> None:
    codeset, index, lexicon = loaded
    fy, source, sha256, rows, edges = codeset.to_payload()
    with pytest.raises(ValueError, match="expected items of type tuple"):
        CodeSet.from_payload((fy, source, sha256, [*rows[:-1], {}], edges))
    with pytest.raises(ValueError, match="expected a list"):
        CodeSet.from_payload((fy, source, sha256, tuple(rows), edges))
    terms, lexicon_rows, spelling, lengths = lexicon.to_payload()
    with pytest.raises(ValueError, match="expected items of type tuple"):
        Lexicon.from_payload((terms, [*lexicon_rows, ("short",)], spelling, lengths))
    with pytest.raises(ValueError, match="expected items of type str"):
        Lexicon.from_payload((terms, lexicon_rows, {**spelling, "word": 5}, lengths))
    rows, main = index.neoplasm.to_payload()
    with pytest.raises(ValueError, match="expected items of type tuple"):
        NeoplasmTable.from_payload(((*rows, 5), main))
    substances, patterns = index.drugs.to_payload()
    with pytest.raises(ValueError, match="expected a dict"):
        DrugPhrases.from_payload((list(substances.items()), patterns))


def test_every_cache_a_build_writes_is_plain_data(
    loaded: tuple[CodeSet, IndexBuild, Lexicon],
) -> None:
    names = sorted(path.name.split("-")[0] for path in cache_dir().glob("*.pickle"))
    assert {"codeset", "index", "lexicon"} <= set(names)
    for path in cache_dir().glob("*.pickle"):
        assert type(stored(path)) is tuple  # the restricted reader takes it: no global in it


def test_the_index_reads_back_as_written(loaded: tuple[CodeSet, IndexBuild, Lexicon]) -> None:
    _, index, _ = loaded
    payload = pickle.loads(pickle.dumps(index.to_payload(), protocol=5))
    again = IndexBuild.from_payload(payload)
    assert again.to_payload() == index.to_payload()
    assert again.entries == ()
    words = {"adenocarcinoma", "ascending", "colon"}
    assert again.neoplasm.site(words, "Malignant Primary") == index.neoplasm.site(
        words, "Malignant Primary"
    )
    assert again.drugs.lengths == index.drugs.lengths


def test_a_file_where_the_cache_folder_should_be_leaves_medcode_uncached(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.write_text("not a folder")
    assert probe() == BUILT
    assert load_codeset().node("E11.9").billable
    # one line for the whole process, however many caches it reads
    assert capsys.readouterr().err == (
        f"medcode: cannot use cache folder {folder}: Not a directory; working uncached\n"
    )
    assert folder.read_text() == "not a folder"


def test_a_folder_below_a_file_leaves_medcode_uncached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MEDCODE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert probe() == BUILT
    assert capsys.readouterr().err == (
        f"medcode: cannot use cache folder {tmp_path / 'file' / 'cache'}: Not a directory;"
        " working uncached\n"
    )


@pytest.mark.skipif(ROOT, reason="root reads a folder whatever its mode")
def test_an_unreadable_cache_folder_leaves_medcode_uncached(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir()
    folder.chmod(0)
    try:
        assert probe() == BUILT
        assert probe() == BUILT
    finally:
        folder.chmod(0o700)
    assert capsys.readouterr().err == (
        f"medcode: cannot use cache folder {folder}: Permission denied; working uncached\n"
    )


def test_a_folder_medcode_may_not_read_leaves_it_uncached(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # what chmod 000 does for any user but root, whom the test may run as
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert probe() == BUILT
    assert capsys.readouterr().err == (
        f"medcode: cannot use cache folder {folder}: Permission denied; working uncached\n"
    )


@pytest.mark.skipif(ROOT, reason="root reads a file whatever its mode")
def test_an_unreadable_cache_file_is_rebuilt_in_one_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert probe() == BUILT
    path = _cache_path("probe", IDENTITY)
    path.chmod(0)
    assert probe() == BUILT
    assert capsys.readouterr().err == (
        f"medcode: rebuilding unreadable cache {path} (PermissionError)\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_rule_grammar_leaves_no_file_in_the_cache(folder: Path) -> None:
    from medcode.engine.rulelang import parser

    parser._parser.cache_clear()
    parser.parse_pack("", "empty.rules")
    assert not folder.exists() or not any(folder.iterdir())
