"""Read the notes given on the command line: files, folders, stdin or --text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

MAX_BYTES = 20_000_000


class UnreadableInput(ValueError):
    """A note that is missing, binary, not UTF-8 or too large."""


def decode_note(data: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings are refused, not guessed."""
    if len(data) > MAX_BYTES:
        raise UnreadableInput(f"{name}: note too large ({len(data)} bytes, limit {MAX_BYTES})")
    if b"\x00" in data:
        raise UnreadableInput(f"{name}: binary file, not a text note")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(
            f"{name}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from exc


def read_notes(paths: list[str], text: str | None) -> Iterator[tuple[str, str]]:
    """(document name, text) for --text, each file, each *.txt of a folder, or stdin ("-")."""
    if text is not None:
        yield "text", text
    for given in paths:
        if given == "-":
            yield "-", decode_note(sys.stdin.buffer.read(), "stdin")
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(path.glob("*.txt"))
            if not files:
                raise UnreadableInput(f"{given}: folder holds no .txt notes")
        elif path.is_file():
            files = [path]
        else:
            raise UnreadableInput(f"{given}: no such file or folder")
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise UnreadableInput(f"{file}: {exc.strerror or exc}") from exc
            yield str(file), decode_note(data, str(file))
