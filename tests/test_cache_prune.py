"""Old caches of one kind are pruned when a new one is written."""

from __future__ import annotations

import os
from pathlib import Path

from medcode.terminology.cache import _prune


def test_only_the_newest_caches_of_a_kind_are_kept(tmp_path: Path) -> None:
    for age, name in enumerate(["lexicon-a", "lexicon-b", "lexicon-c", "lexicon-d", "codeset-x"]):
        path = tmp_path / f"{name}.pickle"
        path.write_bytes(b"")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))  # a is the newest
    keep = tmp_path / "lexicon-new.pickle"
    keep.write_bytes(b"")
    _prune("lexicon", keep=keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "codeset-x.pickle",
        "lexicon-a.pickle",
        "lexicon-b.pickle",
        "lexicon-new.pickle",
    ]
