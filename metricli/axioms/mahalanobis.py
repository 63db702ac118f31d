"""The metric axioms for d_M(x, y) = sqrt((x - y)ᵀ M (x - y)).

d_M depends on M only through its symmetric part S = (M + Mᵀ)/2, so it is always
symmetric in x and y. If S is positive semi-definite, d_M(x, y) = ||L(x - y)|| for
any L with LᵀL = S, a seminorm of x - y: non-negative, symmetric, zero on the
diagonal and subadditive, hence it satisfies the triangle inequality. It is a
metric exactly when S is positive definite; a singular S makes it a pseudometric,
with d_M(x, x + v) = 0 for every v in the null space. If S has a negative
eigenvalue, (x - y)ᵀS(x - y) < 0 along its eigenvector and d_M is not a distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metricli import kernels
from metricli.errors import MetricliError

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0


def check_tolerances(rtol: float, atol: float) -> None:
    """Tolerances are finite and >= 0: a NaN one makes every comparison false, so every axiom
    would 'hold'; a negative one makes exact zeros count as violations."""
    if not (0 <= rtol < np.inf and 0 <= atol < np.inf):
        raise MetricliError(f"tolerances must be finite and >= 0; got rtol={rtol}, atol={atol}")


SQUARED_NOTE = (
    "d_M is a metric here, but the squared distance d_M² is not: it fails the triangle "
    "inequality (for example on three collinear points)"
)


def _named_point(vector: np.ndarray, names: Sequence[str] | None) -> dict[str, float] | list[float]:
    values = [float(v) for v in vector]
    if names is None:
        return values
    return dict(zip(names, values, strict=True))


def _clean_direction(v: np.ndarray) -> np.ndarray:
    """Scale so the largest entry is +1 and round off eigen-solver dust, for a readable witness."""
    v = v / v[np.argmax(np.abs(v))]
    v[np.abs(v) < 1e-12] = 0.0
    return v


@kernels.overflow_is_inf
def check_mahalanobis(
    M: np.ndarray,
    feature_names: Sequence[str] | None = None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> dict[str, Any]:
    """Check the metric axioms for the Mahalanobis distance defined by ``M``.

    Null and negative directions are decided on M rescaled to unit diagonal (so they do
    not depend on the features' units): an eigenvalue λ of the rescaled matrix counts as
    zero when |λ| <= atol + rtol · max|λ|, so floating-point noise from forming M = LᵀL is
    not mistaken for a negative or null direction. The eigenvalues reported are M's own.

    Returns a JSON-ready report with the verdict (``metric``, ``pseudometric`` or
    ``not a distance``), each axiom with its witness where it fails, the eigenvalues,
    rank and condition number of the symmetric part.
    """
    check_tolerances(rtol, atol)
    M = np.asarray(M, dtype=np.float64)
    d = M.shape[0]
    asymmetry = float(np.max(np.abs(M - M.T))) if M.size else 0.0
    scale = float(np.max(np.abs(M))) if M.size else 0.0
    S = M / 2 + M.T / 2  # (M + Mᵀ) / 2 overflows for entries near float64's largest
    # entries past 1e100 (or below 1e-100) are decided on S / 2^e, exactly: LAPACK's eigenvalues
    # of a matrix holding 1e308 overflow to -inf; M's own are 2^e times these
    e = int(np.frexp(scale)[1]) if np.isfinite(scale) and scale > 0 and not 1e-100 < scale < 1e100 else 0
    S = np.ldexp(S, -e)
    values = np.ldexp(np.linalg.eigvalsh(S), e) if d else np.zeros(0)
    # Which directions are null or negative must not depend on the units of the features
    # (a feature in millimetres instead of metres scales its row and column of M by 1e-6).
    # So the signs are read off T = D S D with D = diag(1/sqrt|S_jj|): a congruence, which
    # keeps the number of positive, zero and negative eigenvalues (Sylvester's law of
    # inertia) while putting every feature on the same scale.
    root = np.sqrt(np.abs(np.diag(S)))
    D = np.where(root > 0, 1.0 / np.where(root > 0, root, 1.0), 1.0)
    T = D[:, None] * S * D[None, :]
    scaled, scaled_vectors = np.linalg.eigh(T) if d else (np.zeros(0), np.zeros((0, 0)))
    threshold = atol + rtol * (float(np.max(np.abs(scaled))) if d else 0.0)
    negative = scaled < -threshold
    null = np.abs(scaled) <= threshold
    positive = scaled > threshold
    vectors = D[:, None] * scaled_vectors  # directions in the features' own units
    top = float(max(values.max(), 0.0)) if d else 0.0
    rank = int(positive.sum())
    condition = float(top / values.min()) if rank == d and rank > 0 and values.min() > 0 else None

    axioms: dict[str, Any] = {}
    if negative.any():
        v = _clean_direction(vectors[:, int(np.argmin(scaled))].copy())
        squared = float(np.ldexp(v @ S @ v, e))
        axioms["non_negativity"] = {
            "holds": False,
            "negative_eigenvalues": int(negative.sum()),
            "min_eigenvalue": float(values.min()),
            "witness": {
                "x": _named_point(np.zeros(d), feature_names),
                "y": _named_point(v, feature_names),
                "squared_distance": squared,
            },
        }
    else:
        axioms["non_negativity"] = {
            "holds": True,
            "min_eigenvalue": float(values.min()) if d else 0.0,
        }

    matrix_symmetric = asymmetry <= atol + rtol * scale
    axioms["symmetry"] = {
        "holds": True,
        "matrix_symmetric": bool(matrix_symmetric),
        "max_asymmetry": asymmetry,
        "note": "d_M depends only on (M + Mᵀ)/2, so it is symmetric in x and y"
        + ("" if matrix_symmetric else "; M itself is not symmetric"),
    }

    if null.any() and not negative.any():
        v = _clean_direction(vectors[:, int(np.flatnonzero(null)[0])].copy())
        axioms["identity_of_indiscernibles"] = {
            "holds": False,
            "null_dimension": int(null.sum()),
            "witness": {
                "x": _named_point(np.zeros(d), feature_names),
                "y": _named_point(v, feature_names),
                "distance": float(np.sqrt(max(float(np.ldexp(v @ S @ v, e)), 0.0))),
            },
        }
    else:
        axioms["identity_of_indiscernibles"] = {
            "holds": not negative.any(),
            "null_dimension": int(null.sum()),
        }

    axioms["triangle_inequality"] = {
        "holds": not negative.any(),
        "note": "implied by M positive semi-definite: d_M(x, y) = ||L(x - y)||",
    }

    if negative.any():
        verdict = "not a distance"
    elif null.any():
        verdict = "pseudometric"
    else:
        verdict = "metric"
    notes = []
    if verdict in ("metric", "pseudometric"):
        notes.append(SQUARED_NOTE.replace("a metric", f"a {verdict}"))
    if not matrix_symmetric:
        notes.append(f"M is not symmetric (max |M - Mᵀ| = {asymmetry:.3g}); only its symmetric part matters")

    return {
        "kind": "mahalanobis",
        "verdict": verdict,
        "holds": verdict == "metric",
        "n_features": d,
        "rank": rank,
        "condition_number": condition,
        "eigenvalues": [float(v) for v in values[::-1]],
        "tolerance": {
            "rtol": rtol,
            "atol": atol,
            "zero_eigenvalue_threshold": threshold,
            "on": "M rescaled to unit diagonal",
        },
        "axioms": axioms,
        "notes": notes,
    }
