"""Side-by-side check of metricli's weakly supervised learners against metric-learn.

Protocol (issue 6): features standardized with the training fold's mean and standard
deviation; 5-fold stratified folds (metricli.evaluation.stratified_folds, seed 0);
kNN with k = 3 (metricli.evaluation.knn_classify) in the learned space, for both
libraries; each learner gets as many constraints, drawn from the training labels, as
metric-learn's *_Supervised class draws by default:

- ITML, MMC, SDML: 20·c² similar + 20·c² dissimilar pairs (c classes);
- LSML: 20·c² quadruplets;
- SCML: as many triplets as metric-learn's k-NN triplets (k_genuine 3, k_impostor 10).

Fit time is the mean over folds, constraint generation included on both sides, each
library warmed up by one untimed fit first; BLAS runs on one thread on both sides
(set OPENBLAS_NUM_THREADS etc. to change that).
metric-learn runs in its own interpreter (``--peer``), one dataset at a time, right
after metricli on the same folds. Timings on a shared machine are indicative.

    python benchmarks/weak_check.py                      # all learners, all data sets
    python benchmarks/weak_check.py --datasets iris --algorithms itml,mmc
    python benchmarks/weak_check.py --json weak.json

This file is also the peer worker: ``python weak_check.py --worker JOB.json`` runs
under metric-learn's interpreter and writes L per fold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

# Small dense problems on a shared machine: a multithreaded BLAS spends its time spinning.
# One thread for both libraries (inherited by the peer process); override by exporting these.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]
DATA = next(
    (p for p in (_ROOT.parent / "shared" / "data", _ROOT.parents[1] / "shared" / "data") if p.is_dir()),
    Path("/work/shared/data"),
)
DATASETS = ("iris", "wine", "breast_cancer", "digits")
ALGORITHMS = ("itml", "sdml", "mmc", "lsml", "scml")
PEER_PYTHON = "/work/peer-venv/bin/python"
PEER_CLASSES = {
    "itml": "ITML_Supervised",
    "sdml": "SDML_Supervised",
    "mmc": "MMC_Supervised",
    "lsml": "LSML_Supervised",
    "scml": "SCML_Supervised",
}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path)
    return frame.iloc[:, :-1].to_numpy(dtype=float), frame.iloc[:, -1].astype(str).to_numpy()


def standardize(X: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    return (X[train] - mean) / std, (X[test] - mean) / std


def knn_triplet_count(labels: np.ndarray, k_genuine: int = 3, k_impostor: int = 10) -> int:
    """How many triplets metric-learn's generate_knntriplets makes for these labels."""
    _, counts = np.unique(labels, return_counts=True)
    n = counts.sum()
    return int(sum(c * min(k_genuine, c - 1) * min(k_impostor, n - c) for c in counts))


# -- metric-learn side (runs in the peer interpreter) ---------------------------------------------


def worker(job_path: str) -> None:
    import metric_learn

    job = json.loads(Path(job_path).read_text())
    X, y_text = load(Path(job["data"]))
    _, y = np.unique(y_text, return_inverse=True)
    results = {}
    for algorithm in job["algorithms"]:
        runs = []
        cls = getattr(metric_learn, PEER_CLASSES[algorithm])
        with warnings.catch_warnings():  # warm-up, untimed
            warnings.simplefilter("ignore")
            with contextlib.suppress(Exception):
                cls(random_state=0).fit(*_first_train(X, y, job["folds"]))
        for fold, test in enumerate(job["folds"]):
            test = np.array(test, dtype=int)
            train = np.setdiff1d(np.arange(len(y)), test)
            X_train, _ = standardize(X, train, test)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    start = time.perf_counter()
                    model = cls(random_state=fold).fit(X_train, y[train])
                    seconds = time.perf_counter() - start
                    runs.append({"L": model.components_.tolist(), "seconds": seconds})
                except Exception as exc:
                    runs.append({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
        results[algorithm] = runs
    Path(job["output"]).write_text(json.dumps(results))


def _first_train(X: np.ndarray, y: np.ndarray, folds: list) -> tuple[np.ndarray, np.ndarray]:
    test = np.array(folds[0], dtype=int)
    train = np.setdiff1d(np.arange(len(y)), test)
    return standardize(X, train, test)[0], y[train]


# -- metricli side ----------------------------------------------------------------------------------


def ours(algorithm: str, X_train: np.ndarray, y_train: np.ndarray, seed: int):
    from metricli import constraints
    from metricli.learners import get_learner

    n_classes = len(np.unique(y_train))
    kind, n = {
        "itml": ("pairs", 40 * n_classes**2),
        "sdml": ("pairs", 40 * n_classes**2),
        "mmc": ("pairs", 40 * n_classes**2),
        "lsml": ("quadruplets", 20 * n_classes**2),
        "scml": ("triplets", knn_triplet_count(y_train)),
    }[algorithm]
    start = time.perf_counter()
    drawn = constraints.from_labels(kind, y_train, n, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_learner(algorithm)(random_state=seed).fit(X_train, drawn)
    return model.components_, time.perf_counter() - start


def accuracy(L: np.ndarray, X_train, y_train, X_test, y_test) -> float:
    from metricli.evaluation import knn_classify

    predicted = knn_classify(X_train @ L.T, y_train, X_test @ L.T, k=3)
    return float(np.mean(predicted == y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", default=str(DATA), help="folder with <dataset>.csv (label last)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--peer", default=PEER_PYTHON, help="python with metric-learn ('' to skip)")
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from metricli.evaluation import stratified_folds

    algorithms = [a for a in args.algorithms.split(",") if a]
    rows = []
    for dataset in [d for d in args.datasets.split(",") if d]:
        path = Path(args.data) / f"{dataset}.csv"
        X, y = load(path)
        folds = stratified_folds(y, 5, seed=0)
        splits = []
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            splits.append((train, test, *standardize(X, train, test)))
        euclid = np.mean(
            [accuracy(np.eye(X.shape[1]), Xtr, y[tr], Xte, y[te]) for tr, te, Xtr, Xte in splits]
        )
        rows.append({"dataset": dataset, "algorithm": "euclidean", "ours": euclid})
        peer: dict = {}
        if args.peer:
            with tempfile.TemporaryDirectory() as tmp:
                job = {
                    "data": str(path),
                    "folds": [f.tolist() for f in folds],
                    "algorithms": algorithms,
                    "output": str(Path(tmp) / "out.json"),
                }
                (Path(tmp) / "job.json").write_text(json.dumps(job))
                subprocess.run([args.peer, __file__, "--worker", str(Path(tmp) / "job.json")], check=True)
                peer = json.loads(Path(job["output"]).read_text())
        for algorithm in algorithms:
            acc, secs = [], []
            ours(algorithm, splits[0][2], y[splits[0][0]], 0)  # warm-up, untimed
            for fold, (tr, te, Xtr, Xte) in enumerate(splits):
                L, seconds = ours(algorithm, Xtr, y[tr], fold)
                acc.append(accuracy(L, Xtr, y[tr], Xte, y[te]))
                secs.append(seconds)
            row = {
                "dataset": dataset,
                "algorithm": algorithm,
                "ours": float(np.mean(acc)),
                "ours_seconds": float(np.mean(secs)),
            }
            runs = peer.get(algorithm)
            if runs:
                errors = [r["error"] for r in runs if "error" in r]
                if errors:
                    row["peer_error"] = errors[0]
                else:
                    row["peer"] = float(
                        np.mean(
                            [
                                accuracy(np.array(r["L"]), Xtr, y[tr], Xte, y[te])
                                for r, (tr, te, Xtr, Xte) in zip(runs, splits, strict=True)
                            ]
                        )
                    )
                    row["peer_seconds"] = float(np.mean([r["seconds"] for r in runs]))
            rows.append(row)
            print(_format(row), flush=True)
        print(_format(rows[-len(algorithms) - 1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _format(row: dict) -> str:
    text = f"{row['dataset']:<14}{row['algorithm']:<10} ours {row['ours']:.3f}"
    if "ours_seconds" in row:
        text += f" ({row['ours_seconds']:.3f} s)"
    if "peer" in row:
        ratio = row["peer_seconds"] / max(row["ours_seconds"], 1e-9)
        text += f"   metric-learn {row['peer']:.3f} ({row['peer_seconds']:.3f} s)   speed-up {ratio:.1f}x"
    elif "peer_error" in row:
        text += f"   metric-learn FAILED: {row['peer_error']}"
    return text


if __name__ == "__main__":
    main()
