"""The `$ medcode ...` examples of README.md and docs/*.md: found, run, compared with what the page
shows (tests/test_docs_examples.py), and, with --update, the shown output of each example that
no longer matches replaced by what it prints now (review the diff before committing).

An example is a line starting with `$ medcode` in a ```console block; the lines after it, up to
the next `$` line or the block's end, are its output. A line `...` stands for any number of
lines, and `...` within a line for any text (paths, digests, long lists). Examples that write a
file (`>`) or read a note run in one folder holding the files of docs/examples/, in page order.
Examples of other programs (curl, vllm, export) are not run here: tests/test_service.py runs the
service's requests. A block right after a line `<!-- examples not run: REASON -->` is not run.

    python tools/doc_examples.py            list every example and whether it matches
    python tools/doc_examples.py --update [PAGE ...]
                                            rewrite the output of those that do not
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_FILES = ROOT / "docs" / "examples"
BLOCK = re.compile(r"^(<!-- examples not run: .*? -->\n)?```console\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Example:
    page: Path
    command: str  # without the "$ "
    shown: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.page.name}: {self.command}"


def examples() -> list[Example]:
    found = []
    for page in PAGES:
        for skip, block in BLOCK.findall(page.read_text(encoding="utf-8")):
            if skip:
                continue
            command, shown = None, []
            for line in [*block.splitlines(), "$"]:
                if line.startswith("$"):
                    if command is not None:
                        found.append(Example(page, command, tuple(shown)))
                    command = line[2:] if line.startswith("$ medcode ") else None
                    shown = []
                elif command is not None:
                    shown.append(line.rstrip())
    return found


def matches(shown: tuple[str, ...] | list[str], printed: list[str]) -> bool:
    """Whether `printed` is `shown`, a `...` line standing for any number of lines."""
    if not shown:
        return not printed
    if shown[0] == "...":
        return any(matches(shown[1:], printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and same_line(shown[0], printed[0]) and matches(shown[1:], printed[1:])


def same_line(shown: str, printed: str) -> bool:
    """A shown line matches a printed one; `...` inside it stands for any text."""
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, printed) is not None


def prepare(folder: Path) -> Path:
    if EXAMPLE_FILES.is_dir():
        shutil.copytree(EXAMPLE_FILES, folder, dirs_exist_ok=True)
    return folder


def run(example: Example, folder: Path) -> list[str]:
    """What the example prints (stdout and stderr; stderr only when stdout goes to a file)."""
    words = shlex.split(example.command.split(" #")[0])
    output = None
    if ">" in words:
        words, output = words[: words.index(">")], folder / words[words.index(">") + 1]
    done = subprocess.run(
        [sys.executable, "-m", "medcode.engine.interfaces.cli", *words[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if output is not None:
        output.write_text(done.stdout, encoding="utf-8")
        return [line.rstrip() for line in done.stderr.splitlines()]
    return [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]


def update(example: Example, printed: list[str]) -> None:
    """Replace the example's shown output on its page by `printed`."""
    text = example.page.read_text(encoding="utf-8")
    old = "\n".join([f"$ {example.command}", *example.shown]) + "\n"
    new = "\n".join([f"$ {example.command}", *printed]) + "\n"
    if text.count(old) != 1:
        raise SystemExit(f"{example.name}: shown once? found {text.count(old)} times")
    example.page.write_text(text.replace(old, new), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite outputs that differ")
    parser.add_argument("pages", nargs="*", metavar="PAGE", help="only these pages' examples")
    args = parser.parse_args(argv)
    chosen = {Path(p).resolve() for p in args.pages}
    differing = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare(Path(tmp))
        for example in examples():
            if chosen and example.page not in chosen:
                continue
            printed = run(example, folder)
            ok = matches(example.shown, printed)
            differing += not ok
            print(f"{'ok  ' if ok else 'DIFF'} {example.name}")
            if not ok and args.update:
                update(example, printed)
    return 1 if differing and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
