"""The shared Mahalanobis learner: d(x, y) = sqrt((x - y)^T M (x - y)), M = L^T L.

Every learner follows scikit-learn's conventions without importing it:
parameters are stored by ``__init__`` under their own names, ``fit`` validates and
returns ``self``, fitted attributes end in ``_``.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, ClassVar

import numpy as np

from metricli.errors import ConvergenceWarning, MetricliError, NotNumericError, not_fitted
from metricli.memory import require_fit_memory
from metricli.threads import limit_blas_threads

SUPERVISION_KINDS = (
    "supervised",
    "regression",
    "unsupervised",
    "semi-supervised",
    "weakly-supervised",
)


class MahalanobisLearner:
    """Base class of every metricli learner.

    Subclasses set the class attributes below, implement ``fit`` and finish it with
    :meth:`_set_fit_result`. After fitting they expose ``components_`` (L, shape
    ``(n_components, n_features)``), ``n_iter_``, ``objective_``, ``converged_``
    and ``objective_history_``.
    """

    #: the name used on the command line: ``metricli fit NAME``
    name: ClassVar[str] = ""
    #: one of SUPERVISION_KINDS
    supervision: ClassVar[str] = ""
    #: one line for ``metricli algorithms``
    summary: ClassVar[str] = ""
    #: the paper the objective comes from
    reference: ClassVar[str] = ""
    #: help text for each ``__init__`` parameter, shown by ``--help``
    param_help: ClassVar[dict[str, str]] = {}
    #: for weakly supervised learners: which constraint kinds ``fit`` accepts
    constraint_kinds: ClassVar[tuple[str, ...]] = ()
    #: how ``fit --engine dask`` feeds the learner (metricli/engines/fitting.py), None if it cannot:
    #: "scatter" (count, mean, scatter summed over partitions, then ``fit_statistics``),
    #: "chunks" (per-chunklet statistics merged by chunk id, then ``fit_statistics``),
    #: "named rows" (only the rows its constraints name are gathered, then ``fit``)
    distributed_fit: ClassVar[str | None] = None
    #: fitted by an iterative solver over small products and blocked pairwise work: the whole
    #: ``fit`` runs with :func:`metricli.threads.fit_threads` BLAS threads (default 1), which
    #: made ITML, LSML, MMC and SCML 2-9x faster than OpenBLAS's default on 2 cores
    iterative: ClassVar[bool] = False
    #: the float64 arrays ``fit`` holds at its peak, as multiples of d x d and of n_components x d
    #: (d features), measured with tracemalloc on wide tables (benchmarks/fit_memory.py):
    #: :func:`metricli.memory.require_fit_memory` refuses a table too wide for the memory left
    #: before anything is allocated (a 10,000-column metric is 763 MiB per d x d array)
    peak_arrays: ClassVar[tuple[float, float]] = (4.0, 0.0)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("fit", "fit_statistics"):
            if method in cls.__dict__:
                setattr(cls, method, _numerical_guard(cls.__dict__[method], takes_y=method == "fit"))

    # -- scikit-learn style parameter handling -------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> MahalanobisLearner:
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {key!r}; its parameters are: {', '.join(sorted(valid))}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_tags__(self) -> Any:
        """How scikit-learn's checks and meta-estimators see a learner: a transformer whose ``fit``
        needs ``y`` (labels, targets or constraints) unless it is unsupervised. Only scikit-learn
        calls this, so importing it here costs nothing to those who do not use it."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=self.supervision != "unsupervised"),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(),
        )

    def fit_transform(self, X: np.ndarray, y: Any = None) -> np.ndarray:
        """``fit`` then ``transform`` the same points (scikit-learn's transformer interface)."""
        return (
            self.fit(X) if y is None and self.supervision == "unsupervised" else self.fit(X, y)
        ).transform(X)

    # -- progress ----------------------------------------------------------------------
    def set_progress(self, callback: Any) -> MahalanobisLearner:
        """Call ``callback(iteration, objective, **info)`` as an iterative solver advances."""
        self._progress = callback
        return self

    def _report_progress(self, iteration: int, objective: float, **info: Any) -> None:
        callback = getattr(self, "_progress", None)
        if callback is not None:
            callback(iteration, objective, **info)

    # -- the learned metric ------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise not_fitted(f"{type(self).__name__} is not fitted yet; call fit first")

    def get_mahalanobis_matrix(self) -> np.ndarray:
        """M = L^T L, shape (n_features, n_features)."""
        self._require_fitted()
        L = self.components_
        return L.T @ L

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map points to the learned space, x -> L x; Euclidean distances there are d_M."""
        self._require_fitted()
        X = check_points(X, min_rows=0)
        if X.shape[1] != self.components_.shape[1]:  # in scikit-learn's words, which its checks expect
            raise MetricliError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.components_.shape[1]} features as input (the features the metric was learned on)"
            )
        return X @ self.components_.T

    def pair_distances(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """d_M(a_i, b_i) for each row i of A and B."""
        diff = self.transform(np.asarray(A, dtype=float) - np.asarray(B, dtype=float))
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))

    def _set_solver_result(self, result: Any, components: np.ndarray | None = None) -> None:
        """Store an iterative solver's outcome (an ``optimize.LbfgsResult`` or alike): its
        components (or ``components`` derived from them), iterations, objective and history."""
        self._set_fit_result(
            result.components if components is None else components,
            n_iter=result.n_iter,
            objective=result.objective,
            converged=result.converged,
            objective_history=result.objective_history,
        )

    def _set_fit_result(
        self,
        components: np.ndarray,
        *,
        n_iter: int = 0,
        objective: float | None = None,
        converged: bool = True,
        objective_history: list[float] | None = None,
    ) -> None:
        """Store the fitted metric after guarding against a diverged solver."""
        components = np.asarray(components, dtype=np.float64)
        if not np.all(np.isfinite(components)):
            raise MetricliError(
                f"{self.name}: the solver diverged (non-finite metric) at iteration {n_iter}; "
                "try standardizing the features or a smaller step / stronger regularization"
            )
        if objective is not None and not np.isfinite(objective):
            raise MetricliError(f"{self.name}: the objective became {objective} at iteration {n_iter}")
        self.components_ = components
        self.n_features_in_ = components.shape[1]
        self.n_iter_ = int(n_iter)
        self.objective_ = None if objective is None else float(objective)
        self.converged_ = bool(converged)
        self.objective_history_ = [float(v) for v in (objective_history or [])]
        if not converged:
            warnings.warn(
                f"{self.name} stopped after {n_iter} iterations without reaching its tolerance; "
                "raise max_iter or loosen tol",
                ConvergenceWarning,
                stacklevel=3,
            )


def _numerical_guard(fit: Any, takes_y: bool = False) -> Any:
    """Turn a numerical breakdown inside a solver into our own one-line error, never a traceback.

    Degenerate or badly scaled data can make an eigen-solver fail to converge or a
    solver step produce inf/NaN (which LAPACK wrappers reject); the user can act on that.
    """

    @functools.wraps(fit)
    def guarded(self: MahalanobisLearner, *args: Any, **kwargs: Any) -> Any:
        y = args[1] if len(args) > 1 else kwargs.get("y")
        if takes_y and y is None and self.supervision != "unsupervised":  # scikit-learn's words
            raise MetricliError(
                f"{self.name} requires y to be passed, but the target y is None: give "
                + {
                    "regression": "a target per point",
                    "weakly-supervised": "constraints or class labels",
                }.get(self.supervision, "class labels")
            )
        if args and isinstance(args[0], np.ndarray) and args[0].ndim == 2:
            require_fit_memory(self, args[0].shape[1])
        try:
            if self.iterative:
                with limit_blas_threads():
                    return fit(self, *args, **kwargs)
            return fit(self, *args, **kwargs)
        except (np.linalg.LinAlgError, FloatingPointError) as exc:
            raise MetricliError(
                f"{self.name}: the linear algebra failed ({exc}); the data may be degenerate or badly "
                "scaled: try --standardize, or remove constant and duplicated columns"
            ) from None
        except MetricliError:
            raise
        except ValueError as exc:
            if "infs or NaNs" not in str(exc):
                raise
            raise MetricliError(
                f"{self.name}: the solver produced non-finite values; the data may be badly scaled: "
                "try --standardize"
            ) from None

    return guarded


def check_points(X: np.ndarray, min_rows: int = 1, what: str = "points") -> np.ndarray:
    """X as a finite 2-D C-ordered float64 array, or a MetricliError saying what is wrong.

    C order always: BLAS sums in an order that depends on the memory layout, and an iterative
    learner (LMNN's active set, NCA's line search) can amplify those last bits into a different
    metric, so a Fortran-ordered array (what ``DataFrame.to_numpy()`` gives) must fit exactly
    as its C-ordered copy does.
    """
    if hasattr(X, "toarray"):  # a scipy.sparse matrix or array
        raise MetricliError(f"{what}: sparse input is not supported; give a dense array (X.toarray())")
    if getattr(getattr(X, "dtype", None), "kind", "") == "c":
        raise MetricliError(
            f"{what}: Complex data not supported; give the real and imaginary parts as columns"
        )
    try:
        X = np.asarray(X, dtype=np.float64)
    except TypeError as exc:  # a cell that is no number at all (a dict, None in an object array)
        raise NotNumericError(f"{what} are not numeric ({exc})") from None
    except ValueError as exc:
        raise MetricliError(f"{what} are not numeric ({exc})") from None
    if X.ndim != 2:  # "Reshape your data": scikit-learn's words, which its checks expect
        raise MetricliError(
            f"{what} must be a 2-D array (rows, features); got {X.ndim} dimensions. Reshape your data: "
            "X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one point"
        )
    if X.shape[0] < min_rows:
        got = "1 sample" if X.shape[0] == 1 else f"{X.shape[0]}"
        raise MetricliError(f"{what}: need at least {min_rows} rows, got {got}")
    if X.shape[1] == 0:  # scikit-learn's words, which its checks expect
        raise MetricliError(
            f"{what}: no feature columns: found array with 0 feature(s) (shape={X.shape}) while a "
            "minimum of 1 is required."
        )
    if not np.all(np.isfinite(X)):
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise MetricliError(f"{what}: missing or infinite values in rows {', '.join(map(str, rows[:5]))}")
    return np.ascontiguousarray(X)


def check_not_all_identical(X: np.ndarray, what: str = "points") -> None:
    if X.shape[0] > 0 and np.all(X[0] == X):
        raise MetricliError(
            f"{what}: all {X.shape[0]} rows are identical; there is no spread to learn a metric from"
        )


def fix_signs(rows: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each row positive (first one on ties).

    Eigenvectors are defined only up to sign; this convention makes the same input
    always give the same L.
    """
    rows = np.array(rows, dtype=np.float64, copy=True)
    if rows.size == 0:
        return rows
    pivot = np.argmax(np.abs(rows), axis=1)
    signs = np.sign(rows[np.arange(rows.shape[0]), pivot])
    signs[signs == 0] = 1.0
    return rows * signs[:, None]


def components_from_metric(M: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """A factor L with L^T L = M for a symmetric PSD M, one row per positive eigenvalue.

    Rows are ordered by decreasing eigenvalue and signed by :func:`fix_signs`.
    Eigenvalues at or below ``rtol * max eigenvalue`` (default ``d * eps``) count as zero.
    """
    M = (np.asarray(M, dtype=np.float64) + np.asarray(M, dtype=np.float64).T) / 2
    values, vectors = np.linalg.eigh(M)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    top = values[0] if values.size else 0.0
    if rtol is None:
        rtol = M.shape[0] * np.finfo(np.float64).eps
    keep = values > max(top, 0.0) * rtol
    if not keep.any():
        return np.zeros((1, M.shape[0]))
    return fix_signs(np.sqrt(values[keep])[:, None] * vectors[:, keep].T)
