"""The numbers behind a report: verdict, spectrum, 2-D views, scores, objective, provenance."""

from __future__ import annotations

from pathlib import Path
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


def score_name(evaluation: dict[str, Any]) -> str:
    """The kNN score a report leads with: accuracy, or RMSE for regression."""
    return "accuracy" if evaluation["task"] == "classification" else "rmse"


def _score(value: float, name: str) -> str:
    # accuracies as .940 (as the literature writes them); RMSE in 4 significant digits
    return f"{value:.3f}".removeprefix("0") if name == "accuracy" else f"{value:.4g}"


def gain_headline(evaluation: dict[str, Any] | None) -> str | None:
    """One plain sentence: does the learned metric beat Euclidean in cross-validation?

    Compares the mean kNN score over the folds (accuracy higher, RMSE lower is better); a
    tie is no gain. None without an evaluation.
    """
    if not evaluation:
        return None
    name = score_name(evaluation)
    learned = evaluation["summary"]["learned"][name]["mean"]
    euclidean = evaluation["summary"]["euclidean"][name]["mean"]
    better = learned > euclidean if name == "accuracy" else learned < euclidean
    what = f"kNN {'accuracy' if name == 'accuracy' else 'RMSE'}, k = {evaluation['k']}, {len(evaluation['folds'])}-fold cross-validation"
    head = f"learned {_score(learned, name)} vs Euclidean {_score(euclidean, name)}"
    if not better:
        return f"{head}: no gain on this data ({what})"
    return f"{head}: the learned metric does better on this data ({what})"


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
        # the bundle's folder name: a title never shows where on a machine the files are
        "title": f"metricli report: {meta.get('algorithm')} · {Path(bundle.path).resolve().name}",
        "headline": gain_headline(evaluation),
        "bundle": str(bundle.path),
        "data": data_name,
        "algorithm": meta.get("algorithm"),
        "supervision": meta.get("supervision"),
        "params": bundle.section("params"),
        "seed": meta.get("seed"),
        "provenance": {
            "input": bundle.section("input"),
            "preprocessing": bundle.section("preprocessing"),
            "versions": bundle.section("versions"),
            "created": meta.get("created"),
        },
        "fit": bundle.section("fit"),
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
