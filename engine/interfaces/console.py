"""What every command shares: exit statuses, the usage error, JSON lines on stdout."""

from __future__ import annotations

import json

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: one line on stderr, exit status 2."""


def print_json(value: object) -> None:
    """One JSON document per line, keys in the order of the contract."""
    print(json.dumps(value, ensure_ascii=False))
