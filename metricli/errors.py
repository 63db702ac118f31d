"""The one exception type metricli raises for anything the user can fix.

The CLI turns a :class:`MetricliError` into a single line on stderr and exit
status 2; library users catch it like any other exception.
"""

from __future__ import annotations


class MetricliError(Exception):
    """A problem with the input, the options or the data, explained in one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def install_extra(extra: str) -> str:
    """How to install an optional extra, from the package index and from a checkout."""
    return f"pip install 'metricli[{extra}]' (from a checkout of metricli: pip install '.[{extra}]')"


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration limit before meeting its tolerance."""
