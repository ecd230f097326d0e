"""Read the notes given on the command line: files, folders, stdin or --text."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import partial
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


def decode_argument(text: str, name: str) -> str:
    """A note given as a command-line argument, held to the rules of a file. Python decodes
    argv with surrogateescape: the bytes of a non-UTF-8 argument come back as lone surrogates
    ('\\udcff'), which no UTF-8 writer or tokenizer accepts; recover the bytes and refuse
    them as a file's would be."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:  # a surrogate that no byte stands for
        raise UnreadableInput(f"{name}: not Unicode text (character {exc.start})") from exc
    return decode_note(data, name)


def read_stdin() -> bytes:
    """All of stdin; a closed stdin (`<&-`: no sys.stdin at all) or a folder is unreadable."""
    if sys.stdin is None:
        raise UnreadableInput("stdin: standard input is closed")
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError) as exc:  # ValueError: closed by the caller
        raise UnreadableInput(f"stdin: {getattr(exc, 'strerror', None) or exc}") from exc


def read_each(paths: list[str], text: str | None) -> Iterator[tuple[str, str | UnreadableInput]]:
    """(document name, its text or why it cannot be read) for --text, each file, each *.txt of
    a folder, and stdin ("-"), in order: one unreadable note does not hide the others."""
    for name, read in _sources(paths, text):
        try:
            note: str | UnreadableInput = read()
        except UnreadableInput as exc:
            note = exc
        yield name, note


def read_notes(paths: list[str], text: str | None) -> Iterator[tuple[str, str]]:
    """Like `read_each`, but the first unreadable note raises UnreadableInput."""
    for name, note in read_each(paths, text):
        if isinstance(note, UnreadableInput):
            raise note
        yield name, note


def read_file(file: Path) -> str:
    """A note file's text (see `decode_note`)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"{file}: {exc.strerror or exc}") from exc
    return decode_note(data, str(file))


def _sources(paths: list[str], text: str | None) -> Iterator[tuple[str, Callable[[], str]]]:
    """Each document's name and how to read it, so that reading one can fail on its own."""
    if text is not None:
        yield "text", partial(decode_argument, text, "--text")
    for given in paths:
        path = Path(given)
        if given == "-":
            yield "-", lambda: decode_note(read_stdin(), "stdin")
        elif path.is_dir():
            files = sorted(path.glob("*.txt"))
            if not files:
                yield given, partial(_refuse, f"{given}: folder holds no .txt notes")
            for file in files:
                yield str(file), partial(read_file, file)
        elif path.is_file():
            yield str(path), partial(read_file, path)
        else:
            yield given, partial(_refuse, f"{given}: no such file or folder")


def _refuse(message: str) -> str:
    raise UnreadableInput(message)
