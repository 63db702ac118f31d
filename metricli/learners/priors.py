"""Prior and initial Mahalanobis matrices shared by the weakly supervised learners.

ITML, SDML and LSML regularize the learned M towards a prior M0 with the LogDet
divergence, which needs M0 positive definite; MMC starts its ascent from an initial
M. The choices are the same everywhere:

- ``identity``: M0 = I, the Euclidean distance;
- ``covariance``: M0 = Σ⁻¹, the inverse sample covariance of X (the classical
  Mahalanobis distance), with Σ shrunk by ``1e-6 · tr(Σ)/d · I`` so that constant or
  collinear columns keep it invertible;
- ``random``: a random symmetric positive definite matrix, Q diag(λ) Qᵀ with Q a
  random rotation and λ uniform in [0.5, 1.5], drawn from ``random_state``;
- a matrix (``np.ndarray``, e.g. read from a ``.npy``/CSV file by the CLI).
"""

from __future__ import annotations

import numpy as np

from metricli.errors import MetricliError

PRIOR_CHOICES = ("identity", "covariance", "random")

#: relative ridge added to the covariance before inverting it
COVARIANCE_SHRINKAGE = 1e-6


def prior_metric(
    prior: str | np.ndarray,
    X: np.ndarray,
    *,
    random_state: int | None = None,
    what: str = "prior",
    learner: str = "",
    strict: bool = True,
) -> np.ndarray:
    """The d x d matrix named by ``prior``; positive definite if ``strict``, else PSD.

    Raises a :class:`MetricliError` naming ``learner`` and ``what`` for an unknown
    name, a matrix of the wrong shape, an asymmetric matrix or one that is not
    (semi)definite.
    """
    d = X.shape[1]
    where = f"{learner}: {what}" if learner else what
    if isinstance(prior, str):
        key = prior.lower()
        if key == "identity":
            return np.eye(d)
        if key == "covariance":
            centered = X - X.mean(axis=0)
            cov = centered.T @ centered / max(X.shape[0] - 1, 1)
            ridge = COVARIANCE_SHRINKAGE * max(np.trace(cov) / d, np.finfo(float).tiny)
            values, vectors = np.linalg.eigh(cov + ridge * np.eye(d))
            return (vectors / values) @ vectors.T
        if key == "random":
            rng = np.random.default_rng(random_state)
            q, r = np.linalg.qr(rng.standard_normal((d, d)))
            q *= np.sign(np.diag(r))
            return (q * rng.uniform(0.5, 1.5, size=d)) @ q.T
        raise MetricliError(f"{where} '{prior}' is not one of {', '.join(PRIOR_CHOICES)} (or a matrix file)")
    M = np.asarray(prior, dtype=np.float64)
    if M.shape != (d, d):
        raise MetricliError(
            f"{where} matrix is {'x'.join(map(str, M.shape))}; the data has {d} features, so it must be {d}x{d}"
        )
    if not np.all(np.isfinite(M)):
        raise MetricliError(f"{where} matrix has missing or infinite entries")
    scale = max(float(np.max(np.abs(M))), np.finfo(float).tiny)
    if np.max(np.abs(M - M.T)) > 1e-8 * scale:
        raise MetricliError(f"{where} matrix is not symmetric")
    M = (M + M.T) / 2
    smallest = float(np.linalg.eigvalsh(M)[0])
    if strict and smallest <= d * np.finfo(float).eps * scale:
        raise MetricliError(f"{where} matrix must be positive definite (smallest eigenvalue {smallest:.3g})")
    if not strict and smallest < -1e-8 * scale:
        raise MetricliError(
            f"{where} matrix must be positive semidefinite (smallest eigenvalue {smallest:.3g})"
        )
    return M


def factor(M: np.ndarray) -> np.ndarray:
    """A square L with LᵀL = M for a symmetric PSD M (the symmetric square root)."""
    values, vectors = np.linalg.eigh((M + M.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
