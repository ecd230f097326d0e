"""Errors raised by the terminology layer."""


class TerminologyError(Exception):
    """A code-set source is missing, malformed or does not contain what was asked for."""
