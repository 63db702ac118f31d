"""Peak memory of each learner's fit on a wide table, in d x d float64 arrays: the source of
every learner's ``peak_arrays`` (metricli/learners/base.py) and of ``BUNDLE_ARRAYS``.

    python benchmarks/fit_memory.py                          # n = 50, d = 400 and 800, full rank
    python benchmarks/fit_memory.py --n-components 5         # the learners that take it, at k = 5
    python benchmarks/fit_memory.py --learners lfda,nca --d 1000

Each fit runs once untimed (first-call imports and caches), then under tracemalloc (numpy
reports its allocations to it); iterative learners stop after 3 iterations, as the L-BFGS
workspace is allocated at the start. Printed: peak bytes / (8 d^2) for each d, next to the
learner's estimate from metricli.memory.fit_bytes.
"""

from __future__ import annotations

import argparse
import inspect
import tracemalloc

import numpy as np

from metricli.constraints import Chunks, Pairs, Quadruplets, Triplets
from metricli.learners import LEARNERS
from metricli.memory import fit_bytes


def _arguments(cls: type, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple:
    n = X.shape[0]
    if cls.supervision == "regression":
        return X, rng.normal(size=n)
    if cls.supervision != "weakly-supervised":
        return X, y
    i, j = np.triu_indices(n, 1)
    pick = rng.choice(i.size, min(300, i.size), replace=False)
    a, b = i[pick], j[pick]
    kinds = cls.constraint_kinds
    if "pairs" in kinds:
        return X, Pairs(a, b, np.where(y[a] == y[b], 1, -1))
    if "triplets" in kinds:
        return X, Triplets(a, b, (b + 1) % n)
    if "quadruplets" in kinds:
        return X, Quadruplets(a, b, a, (b + 1) % n)
    return X, Chunks(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--d", default="400,800")
    parser.add_argument("--n-components", type=int, default=None)
    parser.add_argument("--learners", default=",".join(LEARNERS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for name in args.learners.split(","):
        cls = LEARNERS[name]
        accepted = inspect.signature(cls.__init__).parameters
        params = {"max_iter": 3} if "max_iter" in accepted else {}
        if args.n_components and "n_components" in accepted:
            params["n_components"] = args.n_components
        row = []
        for d in (int(v) for v in args.d.split(",")):
            X, y = rng.normal(size=(args.n, d)), np.arange(args.n) % 3
            fit_args = _arguments(cls, X, y, rng)
            learner = cls(**params)
            learner.fit(*fit_args)
            tracemalloc.start()
            learner.fit(*fit_args)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            row.append(
                f"d={d}: {peak / (8 * d * d):.1f} (estimate {fit_bytes(learner, d) / (8 * d * d):.1f})"
            )
        print(f"{name:10s}", "  ".join(row), flush=True)


if __name__ == "__main__":
    main()
