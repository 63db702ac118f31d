"""Scatter matrices and the stable generalized eigenproblems of the closed-form learners.

LFDA, SELF, RCA and KISSME all compare a "within" scatter W (what should be small)
with a "total" scatter T (all the spread there is). Solving with W directly breaks
down when W is singular: constant or duplicated columns, more features than points,
classes or chunks too small to vary in every direction. Every such problem here is
solved the same way:

1. restrict to the range of T (directions with no spread at all get weight 0),
   after a diagonal (Jacobi) scaling so features in different units are judged alike;
2. whiten T there: with P = U Λ^{-1/2} on that range, Pᵀ T P = I;
3. regularize or reduce the whitened within scatter W̃ = Pᵀ W P: W̃ + α I, which is
   W + α T in the original coordinates, or, for α = 0, keep only the range of W̃;
4. solve an ordinary symmetric eigenproblem (``eigh``), never an unsymmetric one,
   so the results are real and finite.

Directions are sorted by eigenvalue and their signs fixed by
:func:`metricli.learners.base.fix_signs`, so the same input gives the same M.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from metricli.errors import MetricliError
from metricli.learners.base import fix_signs
from metricli.learners.labels import unlabelled_mask

#: eigenvalues of a (Jacobi-scaled or whitened) scatter below RANGE_RTOL × the largest count as zero
RANGE_RTOL = 1e-10

EmbeddingType = Literal["weighted", "orthonormalized", "plain"]
EMBEDDING_TYPES = ("weighted", "orthonormalized", "plain")


def symmetric(A: np.ndarray) -> np.ndarray:
    return (A + A.T) / 2


def centered_and_scaled(X: np.ndarray) -> tuple[np.ndarray, float]:
    """X - mean, divided by one global scale so that squares neither overflow nor underflow.

    X is divided by its largest magnitude before the mean is taken, so values near 1e±300
    do not overflow. Columns that are exactly constant become exactly zero (the computed
    mean of equal values may differ from them in the last bit, and that noise must not
    count as spread). Returns (Z, scale) with X - mean = scale · Z.
    """
    magnitude = float(np.max(np.abs(X))) if X.size else 0.0
    Z = X / magnitude if magnitude > 0 else np.zeros_like(X)
    Z -= Z.mean(axis=0)
    Z[:, np.ptp(X, axis=0) == 0] = 0.0
    spread = float(np.max(np.abs(Z))) if Z.size else 0.0
    if spread == 0.0:
        raise MetricliError(
            f"all {X.shape[0]} points are identical; there is no spread to learn a metric from"
        )
    return Z / spread, magnitude * spread


def check_representable(components: np.ndarray, who: str) -> np.ndarray:
    """L, unless M = Lᵀ L overflows or underflows float64 (data near 1e±150 and beyond)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        metric = components.T @ components
    if not np.all(np.isfinite(components)) or not np.all(np.isfinite(metric)) or not np.any(metric):
        raise MetricliError(
            f"{who}: the data's scale makes the learned metric overflow or underflow float64; rescale the features"
        )
    return components


def encode_classes(y: object, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Class codes 0..C-1 for each row (-1 for unlabelled: see :func:`~metricli.learners.labels.unlabelled_mask`),
    and the class names.

    Labels are compared by their text, so 1, 1.0 read from a file and "1" are one class.
    """
    labels = np.asarray(y, dtype=object).ravel()
    if labels.shape[0] != n_rows:
        raise MetricliError(f"{labels.shape[0]} labels for {n_rows} points; give one label per row")
    unlabelled = unlabelled_mask(labels)
    codes = np.full(n_rows, -1, dtype=np.intp)
    text = np.array(
        [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in labels[~unlabelled]],
        dtype=object,
    )
    classes, inverse = np.unique(text, return_inverse=True) if text.size else (np.array([], object), [])
    codes[~unlabelled] = inverse
    return codes, classes


def require_classes(codes: np.ndarray, who: str, minimum: int = 2) -> int:
    n_classes = int(codes.max()) + 1 if codes.size else 0
    if n_classes < minimum:
        found = "no labelled points" if n_classes == 0 else "a single class"
        raise MetricliError(f"{who}: the labels have {found}; {who} needs at least {minimum} classes")
    return n_classes


def range_basis(T: np.ndarray, rtol: float = RANGE_RTOL) -> np.ndarray:
    """P (d x r) with Pᵀ T P = I_r whose columns span the range of the PSD matrix T.

    T is first scaled to unit diagonal (Jacobi), so the cut-off ``rtol`` is relative to
    correlations and does not depend on the features' units. Zero rows of T (constant
    columns) are outside the range.
    """
    T = symmetric(np.asarray(T, dtype=np.float64))
    diag = np.diag(T).copy()
    positive = diag > 0
    jacobi = np.where(positive, np.sqrt(np.where(positive, diag, 1.0)), 1.0)
    scaled = T / jacobi[:, None] / jacobi[None, :]
    scaled[~positive, :] = 0.0
    scaled[:, ~positive] = 0.0
    values, vectors = np.linalg.eigh(scaled)
    top = values[-1] if values.size else 0.0
    keep = values > rtol * top
    if top <= 0 or not keep.any():
        raise MetricliError("the points have no spread in any direction; there is nothing to learn from")
    return (vectors[:, keep] / np.sqrt(values[keep])[None, :]) / jacobi[:, None]


def whitened_within(
    W: np.ndarray, P: np.ndarray, regularization: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of W̃ = Pᵀ W P + α I (ascending), and the mask of directions kept.

    With α > 0 every direction is kept (eigenvalues ≥ α). With α = 0 the directions where
    W̃ vanishes (below RANGE_RTOL × its largest eigenvalue) are dropped: the problem is
    reduced to the range of the within scatter.
    """
    Wt = symmetric(P.T @ W @ P) + regularization * np.eye(P.shape[1])
    values, vectors = np.linalg.eigh(Wt)
    top = max(float(values[-1]), 0.0)
    keep = values > max(RANGE_RTOL * top, 0.0) if regularization == 0 else values > 0
    if not keep.any():
        raise MetricliError("the within scatter is zero in every direction; give a positive regularization")
    return values, vectors, keep


def discriminant_eigh(
    between: np.ndarray, within: np.ndarray, total: np.ndarray, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """Solve B φ = λ (W + α T) φ on the range of T; eigenvalues descending.

    Returns (λ, Φ) with Φᵀ (W + α T) Φ = I: φ is normalized by the (regularized) within
    scatter, as the generalized symmetric eigenproblem of Fisher / local Fisher
    discriminant analysis prescribes. Both steps are ordinary symmetric eigenproblems.
    """
    P = range_basis(total)
    w, V, keep = whitened_within(within, P, regularization)
    K = P @ (V[:, keep] / np.sqrt(w[keep])[None, :])  # Kᵀ (W + αT) K = I
    values, vectors = np.linalg.eigh(symmetric(K.T @ between @ K))
    order = np.argsort(-values, kind="stable")
    return values[order], K @ vectors[:, order]


def embedding_components(
    values: np.ndarray,
    vectors: np.ndarray,
    embedding_type: str,
    n_components: int | None,
) -> np.ndarray:
    """L (rows = output dimensions) from discriminant directions, as in Sugiyama (2007), Sec. 4.

    - ``weighted``: φ_i scaled by sqrt(λ_i) (λ clipped at 0), so a direction counts as much
      as it discriminates; M = Σ λ_i φ_i φ_iᵀ;
    - ``orthonormalized``: an orthonormal basis of the span of the top φ_i (QR in
      decreasing-λ order); M is the projection onto that span;
    - ``plain``: the φ_i themselves, normalized by the within scatter.
    """
    m = vectors.shape[1] if n_components is None else min(n_components, vectors.shape[1])
    values, vectors = values[:m], vectors[:, :m]
    if embedding_type == "weighted":
        rows = np.sqrt(np.clip(values, 0.0, None))[:, None] * vectors.T
    elif embedding_type == "orthonormalized":
        Q, _ = np.linalg.qr(vectors)
        rows = Q.T
    elif embedding_type == "plain":
        rows = vectors.T
    else:
        raise MetricliError(
            f"unknown embedding_type '{embedding_type}'; use one of: {', '.join(EMBEDDING_TYPES)}"
        )
    return fix_signs(rows)


def check_n_components(n_components: int | None, n_features: int, who: str) -> None:
    if n_components is None:
        return
    if int(n_components) != n_components or n_components < 1:
        raise MetricliError(f"{who}: n_components must be a positive integer, got {n_components}")
    if n_components > n_features:
        raise MetricliError(
            f"{who}: n_components={n_components} exceeds the {n_features} features; choose at most {n_features}"
        )


def check_regularization(regularization: float, who: str) -> float:
    value = float(regularization)
    if not np.isfinite(value) or value < 0:
        raise MetricliError(f"{who}: regularization must be a finite number >= 0, got {regularization}")
    return value
