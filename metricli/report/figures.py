"""The numbers behind a report: verdict, spectrum, 2-D views, scores, objective, provenance."""

from __future__ import annotations

from typing import Any

import numpy as np

from metricli.axioms import check_mahalanobis
from metricli.io.bundle import Bundle
from metricli.learners.base import fix_signs

#: at most this many points are drawn in the scatter plots (a seeded sample beyond it)
MAX_POINTS = 5000


def pca_2d(X: np.ndarray, standardize: bool = True) -> np.ndarray:
    """The first two principal components of the data, z-scored first if asked (signs fixed)."""
    Z = X - X.mean(axis=0)
    if standardize:
        std = X.std(axis=0)
        Z = Z / np.where(std > 0, std, 1.0)
    _, _, vt = np.linalg.svd(Z, full_matrices=False)
    axes = fix_signs(vt[:2])
    coords = Z @ axes.T
    return coords if coords.shape[1] == 2 else np.column_stack([coords, np.zeros(len(Z))])


def report_figures(
    bundle: Bundle,
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    evaluation: dict[str, Any] | None = None,
    data_name: str = "",
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the report shows, JSON-ready.

    ``evaluation`` is the cross-validated kNN comparison (as ``metricli evaluate`` gives it),
    or None when it was not computed.
    """
    meta = bundle.metadata
    axioms = check_mahalanobis(bundle.M, bundle.feature_names)
    eigenvalues = np.linalg.eigvalsh((bundle.M + bundle.M.T) / 2)[::-1]
    shown = np.arange(X.shape[0])
    if X.shape[0] > MAX_POINTS:
        shown = np.sort(np.random.default_rng(seed).choice(X.shape[0], MAX_POINTS, replace=False))
    before = pca_2d(X)[shown]
    # the learned space as it is (Euclidean there is d_M), seen along its two widest directions
    after = pca_2d(X @ bundle.L.T, standardize=False)[shown]
    colour_by: dict[str, Any]
    if labels is not None:
        colour_by = {"kind": "class", "values": [None if v is None else str(v) for v in labels[shown]]}
    elif target is not None:
        colour_by = {"kind": "target", "values": [float(v) for v in target[shown]]}
    else:
        colour_by = {"kind": "none", "values": None}
    return {
        "title": f"metricli report: {meta.get('algorithm')} on {meta.get('input', {}).get('path')}",
        "bundle": str(bundle.path),
        "data": data_name,
        "algorithm": meta.get("algorithm"),
        "supervision": meta.get("supervision"),
        "params": meta.get("params", {}),
        "seed": meta.get("seed"),
        "provenance": {
            "input": meta.get("input", {}),
            "preprocessing": meta.get("preprocessing", {}),
            "versions": meta.get("versions", {}),
            "created": meta.get("created"),
        },
        "fit": meta.get("fit", {}),
        "feature_names": bundle.feature_names,
        "verdict": axioms["verdict"],
        "axioms": axioms,
        "spectrum": {
            "eigenvalues": [float(v) for v in eigenvalues],
            "rank": axioms["rank"],
            # counts, not a threshold: check decides them on M rescaled to unit diagonal
            "null_dimension": axioms["axioms"]["identity_of_indiscernibles"]["null_dimension"],
            "negative": axioms["axioms"]["non_negativity"].get("negative_eigenvalues", 0),
        },
        "scatter": {
            "n_points": int(X.shape[0]),
            "n_shown": len(shown),
            "before": {
                "title": "before: PCA of the standardized input",
                "x": before[:, 0].tolist(),
                "y": before[:, 1].tolist(),
            },
            "after": {
                "title": "after: the learned space L x, along its two widest directions",
                "x": after[:, 0].tolist(),
                "y": after[:, 1].tolist(),
            },
            "colour_by": colour_by,
        },
        "evaluation": evaluation,
        # written by `fit auto`: the leaderboard the metric was chosen from, and why
        "selection": meta.get("selection"),
    }
