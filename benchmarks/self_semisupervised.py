"""SELF vs LFDA when only a few labels are known (issue 5).

Protocol: features standardized with the training fold's statistics, 5 stratified
folds (seed 0); in each training fold 10% of the labels are kept, stratified
(the first of 10 stratified folds of the training labels, seed 0), the others are
blanked. LFDA is fitted on the labelled 10% alone; SELF on the labelled 10% plus
the unlabelled 90%. Both are scored by kNN (k = 3) on the held-out fold, with the
labelled training points as the reference set (the only points whose class is known).

    python benchmarks/self_semisupervised.py [--data ../shared/data] [--datasets digits] [--betas 0.5]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from closed_form_check import accuracy, load, standardize

from metricli.evaluation import stratified_folds
from metricli.learners import LFDA, SELF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--datasets", default="digits")
    parser.add_argument("--fraction", type=int, default=10, help="keep 1/FRACTION of the training labels")
    parser.add_argument("--betas", default="0.5", help="comma-separated SELF trade-offs to report")
    args = parser.parse_args()
    betas = [float(b) for b in args.betas.split(",")]

    for name in args.datasets.split(","):
        X, y = load(Path(args.data) / f"{name}.csv")
        scores: dict[str, list[float]] = {
            "euclidean": [],
            "lfda": [],
            **{f"self beta={b}": [] for b in betas},
        }
        seconds = dict.fromkeys(scores, 0.0)
        n_labelled = []
        for test_idx in stratified_folds(y, 5, seed=0):
            train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
            train, test = standardize(X[train_idx], X[test_idx])
            ytrain, ytest = y[train_idx], y[test_idx]
            kept = np.zeros(len(ytrain), dtype=bool)
            kept[stratified_folds(ytrain, args.fraction, seed=0)[0]] = True
            n_labelled.append(int(kept.sum()))
            partial = np.where(kept, ytrain, None).astype(object)
            reference, yreference = train[kept], ytrain[kept]
            scores["euclidean"].append(accuracy(None, reference, yreference, test, ytest))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                L = LFDA().fit(reference, yreference).components_
                seconds["lfda"] += time.perf_counter() - start
                scores["lfda"].append(accuracy(L, reference, yreference, test, ytest))
                for beta in betas:
                    key = f"self beta={beta}"
                    start = time.perf_counter()
                    L = SELF(beta=beta).fit(train, partial).components_
                    seconds[key] += time.perf_counter() - start
                    scores[key].append(accuracy(L, reference, yreference, test, ytest))
        print(f"{name}: {np.mean(n_labelled):.0f} labelled of {len(y) * 4 // 5} training points per fold")
        for key, values in scores.items():
            timing = f"  ({seconds[key] / 5:.3f} s/fold)" if key != "euclidean" else ""
            print(f"  {key:<16} {np.mean(values):.3f}   folds {' '.join(f'{v:.3f}' for v in values)}{timing}")


if __name__ == "__main__":
    main()
