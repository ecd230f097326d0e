"""What a note can be refused for; the CLI reports each with exit status 2, the service 422."""


class InputError(ValueError):
    """The note cannot be coded (empty, too large, an unknown setting)."""


class BudgetExceeded(InputError):
    """The note took more than its time budget (`Pace`): an error for that note, not for the
    batch or the service."""
