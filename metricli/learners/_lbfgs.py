"""L-BFGS(-B) through scipy, with the progress, history and convergence report learners need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize


@dataclass
class LbfgsResult:
    x: np.ndarray
    n_iter: int
    objective: float
    converged: bool
    history: list[float] = field(default_factory=list)
    message: str = ""


def minimize_lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    report: Callable[..., None] | None = None,
    bounds: list[tuple[float | None, float | None]] | None = None,
    reported: Callable[[float], float] = float,
) -> LbfgsResult:
    """Minimize ``fun`` (value and gradient) from ``x0``.

    ``tol`` bounds the relative decrease of the objective per iteration and the
    largest (projected) gradient entry; either met is convergence. A line search that
    cannot decrease the objective any further counts as converged only when the
    gradient is already within 100 × ``tol``: that is the optimum to machine precision,
    not a failure. ``reported`` maps the minimized value to the one shown to the user
    (e.g. a maximized objective); the history holds one reported value per iteration.
    """
    history: list[float] = []

    def callback(intermediate_result) -> None:
        value = reported(float(intermediate_result.fun))
        history.append(value)
        if report is not None:
            report(len(history), value)

    result = minimize(
        fun,
        np.asarray(x0, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": int(max_iter), "maxfun": 2 * int(max_iter) + 50, "ftol": tol, "gtol": tol},
    )
    converged = result.status == 0
    if result.status == 2:  # the line search found no lower point: check how flat it is there
        gradient = np.asarray(result.jac, dtype=np.float64)
        if bounds is not None:
            lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
            at_bound = (result.x <= lower) & (gradient > 0)
            gradient = np.where(at_bound, 0.0, gradient)
        converged = bool(np.max(np.abs(gradient), initial=0.0) <= 100 * tol * max(1.0, abs(result.fun)))
    return LbfgsResult(
        x=result.x,
        n_iter=int(result.nit),
        objective=reported(float(result.fun)),
        converged=bool(converged),
        history=history,
        message=str(result.message),
    )
