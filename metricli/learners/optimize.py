"""L-BFGS on the components L, shared by the learners with a smooth(ish) objective in L."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner

#: loss_and_grad(L) -> (loss to minimise, gradient with L's shape, progress info)
LossAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, Any]]]


@dataclass
class LbfgsResult:
    x: np.ndarray  # the solution, in the shape of the starting point
    n_iter: int
    objective: float
    converged: bool
    message: str
    objective_history: list[float] = field(default_factory=list)

    @property
    def components(self) -> np.ndarray:
        """The solution when it is L itself."""
        return self.x


#: ``--help`` of the parameters every learner on :func:`minimize_lbfgs` has, in the driver's terms
LBFGS_PARAM_HELP = {
    "max_iter": "Maximum L-BFGS iterations.",
    "tol": "Stop when the relative decrease of the objective or the largest gradient entry falls to this.",
}

#: ``--help`` of ``block_size``, for the learners whose pairwise work is blocked by :func:`block_bytes`
BLOCK_SIZE_HELP = "MiB of pairwise values held at once; memory is O(n·d + block)."


def block_bytes(block_size: float, learner: str) -> int:
    """The ``block_size`` parameter (MiB of pairwise values per block) in bytes."""
    if isinstance(block_size, bool) or not np.isfinite(block_size) or block_size <= 0:
        raise MetricliError(f"{learner}: block_size must be a positive number of MiB, got {block_size!r}")
    # a block larger than any data is one block: 1e308 MiB (past float64 once in bytes) is 2**62
    return max(1, int(min(float(block_size) * 2**20, 2.0**62)))


def check_solver_params(learner: str, max_iter: int, tol: float) -> None:
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise MetricliError(f"{learner}: max_iter must be a positive whole number, got {max_iter!r}")
    if not np.isfinite(tol) or tol <= 0:
        raise MetricliError(f"{learner}: tol must be a positive number, got {tol!r}")


def minimize_lbfgs(
    fun: LossAndGrad | Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    learner: MahalanobisLearner | None = None,
    bounds: list[tuple[float | None, float | None]] | None = None,
    reported: Callable[[float], float] = float,
) -> LbfgsResult:
    """Minimise ``fun`` over x (any shape) with scipy's L-BFGS-B; the one driver every learner uses.

    ``fun(x)`` returns (loss, gradient with x's shape) or (loss, gradient, info); ``info``
    goes to the learner's progress callback with ``reported(loss)`` (the objective as the
    paper states it, e.g. a maximised one), which is also recorded once per iteration.
    A non-finite loss or gradient stops with a MetricliError naming the learner and the
    iteration. Converged when the relative decrease (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1)
    or the largest (projected) gradient entry falls to ``tol``; a line search that can no
    longer decrease the loss counts as converged only when the gradient is already within
    100 × ``tol`` of zero (the optimum to machine precision), not otherwise. ``max_iter`` must
    be a positive whole number and ``tol`` a positive finite number (a MetricliError otherwise).
    """
    name = learner.name if learner is not None else "solver"
    check_solver_params(name, max_iter, tol)
    shape = np.shape(x0)
    last: dict[str, Any] = {}
    history: list[float] = []

    def flat_fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad, *extra = fun(flat.reshape(shape))
        grad = np.asarray(grad, dtype=np.float64).ravel()
        # +inf is a line-search probe outside the domain (e.g. a LogDet of a singular M): the
        # search backs off from it. NaN, or a non-finite start, is a breakdown.
        if np.isnan(loss) or np.isnan(grad).any() or (not last and not np.isfinite(loss)):
            raise MetricliError(
                f"{name}: the objective became non-finite at iteration {len(history)}; "
                "try standardizing the features or another init"
            )
        last["x"], last["info"] = flat.copy(), (extra[0] if extra else {})
        return float(loss), grad

    def callback(intermediate_result: Any) -> None:
        value = reported(float(intermediate_result.fun))
        history.append(value)
        if learner is not None and getattr(learner, "_progress", None) is not None:
            info = last.get("info", {}) if np.array_equal(last.get("x"), intermediate_result.x) else {}
            learner._report_progress(len(history), value, **info)

    from scipy.optimize import minimize  # here: listing the learners does not need scipy

    result = minimize(
        flat_fun,
        np.asarray(x0, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": int(max_iter), "maxfun": 20 * int(max_iter) + 50, "ftol": tol, "gtol": tol},
    )
    converged = result.status == 0
    if result.status == 2:  # the line search found no lower point: converged only if it is flat there
        gradient = np.asarray(result.jac, dtype=np.float64)
        if bounds is not None:
            lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
            gradient = np.where((result.x <= lower) & (gradient > 0), 0.0, gradient)
        converged = bool(np.max(np.abs(gradient), initial=0.0) <= 100 * tol * max(1.0, abs(result.fun)))
    if not np.isfinite(result.fun):
        raise MetricliError(
            f"{name}: the solver ended on a non-finite objective after {result.nit} iterations"
        )
    return LbfgsResult(
        x=result.x.reshape(shape),
        n_iter=int(result.nit),
        objective=reported(float(result.fun)),
        converged=bool(converged),
        message=str(result.message),
        objective_history=history,
    )
