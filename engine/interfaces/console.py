"""What every command shares: exit statuses, the usage error, JSON lines on stdout, and the
escaping of user input echoed in a message."""

from __future__ import annotations

import contextlib
import json
import sys

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: one line on stderr per argument (one per problem, as for
    a rule pack with several), exit status 2."""


def print_json(value: object) -> None:
    """One JSON document per line, keys in the order of the contract."""
    print(json.dumps(value, ensure_ascii=False))


def one_line(message: str) -> str:
    """`message` with every unprintable character escaped as repr() would (`\\n`, `\\x1b`,
    `\\udcff`, `\\u202e`): user input echoed in it can neither break the line nor drive the
    terminal (colours, cursor moves, right-to-left overrides)."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def say(message: str) -> None:
    """One line on stderr, user input escaped. A stderr that cannot be written to (closed, a
    full disk) loses the line rather than raising in the middle of reporting an error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(one_line(message), file=sys.stderr, flush=True)
