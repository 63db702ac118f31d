"""Shared helpers for the learner tests: real data sets standardized, splits, numerical gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATASETS = {
    "iris": ROOT / "sample_data" / "iris.csv",
    "wine": ROOT / "sample_data" / "wine.csv",
    "breast_cancer": ROOT / "tests" / "data" / "breast_cancer.csv",
}


def load_standardized(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features z-scored, labels as strings (label = last column)."""
    frame = pd.read_csv(DATASETS[name])
    X = frame.iloc[:, :-1].to_numpy(dtype=float)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X, frame.iloc[:, -1].astype(str).to_numpy()


def split(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A stratified 2/3 - 1/3 split: (train rows, test rows)."""
    from metricli.evaluation import stratified_folds

    folds = stratified_folds(labels, 3, seed=seed)
    return np.sort(np.concatenate(folds[1:])), np.sort(folds[0])


def central_difference(fun, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Numerical gradient of the scalar fun at x, entry by entry."""
    grad = np.zeros_like(x)
    flat, out = x.ravel(), grad.ravel()
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        out[i] = (fun((flat + step).reshape(x.shape)) - fun((flat - step).reshape(x.shape))) / (2 * eps)
    return grad


def violated_fraction(L: np.ndarray, X: np.ndarray, near: tuple, far: tuple) -> float:
    """Share of comparisons d(near) < d(far) that the metric L gets wrong (ties count as wrong)."""
    d_near = np.sum(((X[near[0]] - X[near[1]]) @ L.T) ** 2, axis=1)
    d_far = np.sum(((X[far[0]] - X[far[1]]) @ L.T) ** 2, axis=1)
    return float(np.mean(d_near >= d_far))
