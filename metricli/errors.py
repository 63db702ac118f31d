"""The one exception type metricli raises for anything the user can fix.

The CLI turns a :class:`MetricliError` into a single line on stderr and exit
status 2; library users catch it like any other exception. It is a ``ValueError``, as
scikit-learn's conventions (and Python's) call a bad value, so code written for
scikit-learn estimators catches it too; two kinds are also what scikit-learn raises for
them: a non-numeric cell is a ``TypeError`` (:class:`NotNumericError`), an unfitted
learner an ``AttributeError`` and, when scikit-learn is in use,
``sklearn.exceptions.NotFittedError`` (:func:`not_fitted`).
"""

from __future__ import annotations

import sys


class MetricliError(ValueError):
    """A problem with the input, the options or the data, explained in one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotNumericError(MetricliError, TypeError):
    """Points holding something that is not a number (a string, a dict): a ``TypeError`` as
    ``float()`` and numpy raise for it, and a :class:`MetricliError` (exit 2)."""


class NotFittedError(MetricliError, AttributeError):
    """A learner used before ``fit``: like scikit-learn's ``NotFittedError``, both a
    ``ValueError`` and an ``AttributeError``."""

    def __reduce__(self) -> tuple:  # unpickled as scikit-learn's too when it is in use there
        return not_fitted, (self.message,)


#: the subclass of NotFittedError that is also scikit-learn's, built once it is needed
_sklearn_not_fitted: list[type[NotFittedError]] = []


def not_fitted(message: str) -> NotFittedError:
    """The error an unfitted learner raises; also ``sklearn.exceptions.NotFittedError`` when
    scikit-learn is in use.

    ``except`` and ``isinstance`` follow the class's bases only (an exception class cannot
    answer ``isinstance`` through a hook), so being scikit-learn's exception means deriving
    from it. metricli does not import scikit-learn for that: code that tests for
    ``sklearn.exceptions.NotFittedError`` has imported it, so the class is looked up in
    ``sys.modules`` and, when found, a subclass of both is built once. Without scikit-learn
    the error is a :class:`NotFittedError`, which is what the two are made of.
    """
    found = sys.modules.get("sklearn.exceptions")
    base = getattr(found, "NotFittedError", None)
    if not isinstance(base, type) or not issubclass(base, Exception):
        return NotFittedError(message)
    if not _sklearn_not_fitted or not issubclass(_sklearn_not_fitted[0], base):
        _sklearn_not_fitted[:] = [type("NotFittedError", (NotFittedError, base), {"__module__": __name__})]
    return _sklearn_not_fitted[0](message)


def install_extra(extra: str) -> str:
    """How to install an optional extra, from the package index and from a checkout."""
    return f"pip install 'metricli[{extra}]' (from a checkout of metricli: pip install '.[{extra}]')"


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration limit before meeting its tolerance."""
