"""Calibrate the size-based fit-time estimate of ``metricli compare --budget``.

Times one fit of every learner (as ``compare`` fits it: standardized features, default
parameters, constraints drawn from the labels) on real data sets and on row subsamples of
them, and prints the measured seconds beside :func:`metricli.selection.estimate_fit_seconds`
and their ratio. The constants in metricli/selection.py come from this script's output on a
quiet 2-core machine; a ratio well above 1 means the estimate is too optimistic.

Run from the repository root::

    python benchmarks/selection_costs.py                       # digits, breast_cancer, wine
    python benchmarks/selection_costs.py --data digits --rows 500 1000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from benchmarks.datasets import load
from metricli.evaluation import standardization
from metricli.selection import Candidate, applicable_learners, estimate_fit_seconds, fit_arguments


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", default=["digits", "breast_cancer", "wine"])
    parser.add_argument(
        "--rows", nargs="+", type=int, default=[], help="Also time row subsamples of these sizes."
    )
    parser.add_argument("--learners", nargs="+", default=None)
    args = parser.parse_args()
    print(
        f"{'data':>16} {'n':>6} {'d':>4} {'c':>3} {'learner':>10} {'seconds':>9} {'estimate':>9} {'ratio':>6}"
    )
    for name in args.data:
        data = load(name)
        sizes = sorted({*(r for r in args.rows if r < data.X.shape[0]), data.X.shape[0]})
        for n in sizes:
            rows = np.random.default_rng(0).permutation(data.X.shape[0])[:n]
            X = data.X[rows]
            mean, scale = standardization(X)
            X = (X - mean) / scale
            labels = data.y[rows].astype(str).astype(object)
            c = len(np.unique(labels))
            for cls in applicable_learners("classification"):
                if args.learners and cls.name not in args.learners:
                    continue
                fit_rows, fit_args = fit_arguments(cls, X, labels, None, 0)
                learner = cls(**({"random_state": 0} if "random_state" in cls._param_names() else {}))
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    learner.fit(fit_rows, *fit_args)
                seconds = time.perf_counter() - start
                estimate = estimate_fit_seconds(Candidate(cls.name, cls), n, X.shape[1], c)
                print(
                    f"{name:>16} {n:>6} {X.shape[1]:>4} {c:>3} {cls.name:>10} {seconds:>9.3f} "
                    f"{estimate:>9.3f} {seconds / estimate:>6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
