"""The benchmark data: real tables (label or target in the last column) and a synthetic series."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.peers import CLASSIFICATION, REGRESSION

REPO = Path(__file__).resolve().parent.parent
HELDOUT_DIR = REPO / "benchmarks" / ".data"

#: real data sets and their task
REAL = {
    "iris": CLASSIFICATION,
    "wine": CLASSIFICATION,
    "breast_cancer": CLASSIFICATION,
    "digits": CLASSIFICATION,
    "diabetes": REGRESSION,
}
#: real data sets no default was tuned on, fetched by ``benchmarks/heldout.py --fetch`` into
#: ``benchmarks/.data`` (git-ignored): the group ``heldout``
HELDOUT = ("crabs", "glass", "vehicle", "vowel", "segment", "sonar", "ionosphere", "letter", "pima")
#: a real set of at least 50,000 rows for issue 16's scale series (benchmarks/scale_series.py
#: --data diamonds), fetched the same way; in no group
LARGE = ("diamonds",)
REAL.update(dict.fromkeys(HELDOUT + LARGE, CLASSIFICATION))
SHARED = tuple(name for name in REAL if name not in HELDOUT + LARGE)
#: the synthetic scaling series: a Gaussian mixture, 10 classes, 32 features, nested samples
SCALING = {"gauss-1k": 1_000, "gauss-5k": 5_000, "gauss-20k": 20_000, "gauss-50k": 50_000}
ALL = tuple(REAL) + tuple(SCALING)


def task_of(name: str) -> str:
    return CLASSIFICATION if name in SCALING else REAL[name]


@dataclass
class Data:
    name: str
    task: str
    X: np.ndarray
    y: np.ndarray  # class codes 0..c-1 (classification) or float targets (regression)
    source: str
    scaling: bool = False

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1 if self.task == CLASSIFICATION else 0


def search_dirs(data_dir: str | None) -> list[Path]:
    """Where real data sets are looked for, first match wins.

    ``--data-dir`` (or ``$METRICLI_BENCH_DATA``) if given; otherwise ``../shared/data``
    next to the repository, then the repository's own ``sample_data/`` (iris, wine and
    diabetes, so the quick mode works from a clean clone); the held-out sets are always
    looked for in ``benchmarks/.data`` as well.
    """
    chosen = data_dir or os.environ.get("METRICLI_BENCH_DATA")
    if chosen:
        return [Path(chosen), HELDOUT_DIR]
    return [REPO.parent / "shared" / "data", REPO / "sample_data", HELDOUT_DIR]


def load(name: str, data_dir: str | None = None) -> Data:
    if name in SCALING:
        X, y = gaussian_mixture(SCALING[name])
        return Data(name, CLASSIFICATION, X, y, "synthetic, seed 0", scaling=True)
    dirs = search_dirs(data_dir)
    for directory in dirs:
        path = directory / f"{name}.csv"
        if path.exists():
            break
    else:
        raise SystemExit(
            f"data set '{name}' not found as {name}.csv in {', '.join(map(str, dirs))}; pass --data-dir DIR"
            + (" (or run benchmarks/heldout.py --fetch)" if name in HELDOUT + LARGE else "")
        )
    frame = pd.read_csv(path)
    X = frame.iloc[:, :-1].to_numpy(dtype=np.float64)
    target = frame.iloc[:, -1]
    if REAL[name] == REGRESSION:
        y = target.to_numpy(dtype=np.float64)
    else:
        _, y = np.unique(target.astype(str).to_numpy(dtype=object), return_inverse=True)
        y = y.astype(np.intp)
    return Data(name, REAL[name], X, y, str(path))


def gaussian_mixture(
    n: int, n_classes: int = 10, n_features: int = 32, n_informative: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` points of one seeded 50k-point sample, so the series is nested.

    Class means differ only in an ``n_informative``-dimensional subspace (unit
    within-class noise there); the other dimensions are class-independent noise with
    twice the spread. A random rotation mixes the two, so no single feature is
    informative on its own: Euclidean kNN is mediocre and a learned metric can fix it.
    Classes are balanced (round-robin labels, shuffled).
    """
    total = max(n, max(SCALING.values()))
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=1.5, size=(n_classes, n_informative))
    y = rng.permutation(np.arange(total) % n_classes)
    informative = means[y] + rng.normal(size=(total, n_informative))
    noise = rng.normal(scale=2.0, size=(total, n_features - n_informative))
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    X = np.hstack([informative, noise]) @ rotation
    return X[:n], y[:n].astype(np.intp)


def hard_mixture(
    n: int, n_classes: int = 10, n_features: int = 32, n_informative: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The hard synthetic set of the scale series: classes differ in 4 of 32 directions.

    Class means (spread 3) live in an ``n_informative``-dimensional subspace with unit
    within-class noise; the other 28 directions are loud class-independent noise (spread 2);
    a random rotation mixes them. Euclidean 3-NN on the standardized features gets about
    half right. Generated in chunks of 100,000 rows, each from its own seed, so a
    1,000,000-point set needs no more memory than the result and every size is a prefix
    of the larger ones.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(n_classes, n_informative))
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    X = np.empty((n, n_features))
    y = np.empty(n, dtype=np.intp)
    chunk = 100_000
    for number, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        part = np.random.default_rng([seed, number])
        labels = part.permutation(np.arange(chunk) % n_classes)[:size]
        informative = means[labels] + part.normal(size=(size, n_informative))
        noise = part.normal(scale=2.0, size=(size, n_features - n_informative))
        X[start : start + size] = np.hstack([informative, noise]) @ rotation
        y[start : start + size] = labels
    return X, y


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale with the training fold's mean and standard deviation.

    A column constant on the training fold keeps scale 1 (as scikit-learn's
    StandardScaler does), so it becomes 0 there instead of NaN.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std
