"""L-BFGS on the components L, shared by the learners with a smooth(ish) objective in L."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner

#: loss_and_grad(L) -> (loss to minimise, gradient with L's shape, progress info)
LossAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, Any]]]


@dataclass
class LbfgsResult:
    components: np.ndarray
    n_iter: int
    objective: float
    converged: bool
    message: str
    objective_history: list[float] = field(default_factory=list)


def block_bytes(block_size: float, learner: str) -> int:
    """The ``block_size`` parameter (MiB of pairwise values per block) in bytes."""
    if isinstance(block_size, bool) or not np.isfinite(block_size) or block_size <= 0:
        raise MetricliError(f"{learner}: block_size must be a positive number of MiB, got {block_size!r}")
    return max(1, int(block_size * 2**20))


def check_solver_params(learner: str, max_iter: int, tol: float) -> None:
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise MetricliError(f"{learner}: max_iter must be a positive whole number, got {max_iter!r}")
    if not np.isfinite(tol) or tol <= 0:
        raise MetricliError(f"{learner}: tol must be a positive number, got {tol!r}")


def minimize_lbfgs(
    learner: MahalanobisLearner,
    loss_and_grad: LossAndGrad,
    L0: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    to_objective: Callable[[float], float] = float,
) -> LbfgsResult:
    """Minimise ``loss_and_grad`` over L with scipy's L-BFGS-B.

    Stops when the relative decrease of the loss, (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1),
    or the largest gradient entry falls to ``tol`` (converged), or after ``max_iter``
    iterations (not converged). Each iteration is reported through the learner's
    progress callback as ``to_objective(loss)`` (the paper's objective) plus the
    ``info`` of that evaluation, and recorded in the history.
    """
    shape = L0.shape
    last: dict[str, Any] = {}

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad, info = loss_and_grad(flat.reshape(shape))
        if not np.isfinite(loss) or not np.all(np.isfinite(grad)):
            raise MetricliError(
                f"{learner.name}: the objective became non-finite at iteration {len(history)}; "
                "try standardizing the features or another init"
            )
        last["x"], last["info"] = flat.copy(), info
        return float(loss), grad.ravel()

    history: list[float] = []

    def callback(intermediate_result: Any) -> None:
        value = to_objective(float(intermediate_result.fun))
        history.append(value)
        info = last.get("info", {}) if np.array_equal(last.get("x"), intermediate_result.x) else {}
        learner._report_progress(len(history), value, **info)

    result = minimize(
        fun,
        L0.ravel().astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": int(max_iter), "maxfun": 20 * int(max_iter) + 20, "ftol": tol, "gtol": tol},
    )
    return LbfgsResult(
        components=result.x.reshape(shape),
        n_iter=int(result.nit),
        objective=to_objective(float(result.fun)),
        converged=result.status == 0,
        message=str(result.message),
        objective_history=history,
    )
