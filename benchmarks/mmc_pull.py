"""MMC's LogDet pull on iris and the other sets: the spectrum it leaves, and pulls scaled by the pairs.

Issue 21 asks why MMC's default (``regularization`` λ = 0.1) is 2.7 points below
metric-learn's MMC on iris. This script runs metricli's MMC on the harness's folds and
constraints (``run.py``: 5 stratified folds, 40·c² pairs drawn with seed = fold, the
parameters of ``peers.py``, kNN with k = 3) and prints, per data set:

- ``--spectrum``: the eigenvalues of M (largest first, relative to the largest) on fold 0
  and the mean accuracy, for each λ of ``--weights``;
- otherwise the mean accuracy for a fixed λ and for a pull scaled by the pairs,
  λ = c · r with r = mean_S ||v||² / mean_D ||v||² under the starting metric (how close
  the similar pairs already are, relative to the dissimilar ones: 0.23 on iris, 0.83 on
  vowel, 0.89 on sonar), for each c of ``--scaled``, and the mean over the sets.

::

  ``--pull frobenius`` or ``--pull entropy`` replaces the LogDet pull (in this process
  only) by one that lets a direction of M go to 0 at a finite cost, as the paper's
  rank-1 optimum on iris does: the scale-free Frobenius distance ||c T - I||² (c = sqrt(k)
  / ||T||_F) or the von Neumann divergence of G / (tr G / k) from I (log k minus the
  entropy of G's normalized spectrum).

::

    python benchmarks/mmc_pull.py --spectrum --datasets iris --weights 0,0.02,0.05,0.1,0.3
    python benchmarks/mmc_pull.py --weights 0.1 --scaled 0.1,0.15 --seed 1
    python benchmarks/mmc_pull.py --pull frobenius --weights 0.1,0.3,1 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(BENCH.parent) not in sys.path:
    sys.path.insert(0, str(BENCH.parent))

from benchmarks import datasets  # noqa: E402
from benchmarks.peers import BY_NAME  # noqa: E402
from benchmarks.run import build_job, fold_indices, score_fold  # noqa: E402
from metricli import constraints  # noqa: E402
from metricli.learners import mmc  # noqa: E402
from metricli.learners._weak import differences  # noqa: E402
from metricli.learners.mmc import MMC  # noqa: E402

SETS = "iris,wine,breast_cancer,digits,crabs,glass,vehicle,vowel,segment,sonar,ionosphere,letter,pima"


def folds_of(name: str, seed: int, data_dir: str | None):
    data = datasets.load(name, data_dir)
    arrays, scoring = build_job(BY_NAME["mmc"], data, fold_indices(data, 5, seed), seed)
    for f in range(len(scoring)):
        cons = arrays[f"cons_{f}"]
        pairs = constraints.Pairs(cons[:, 0], cons[:, 1], arrays[f"cons_y_{f}"])
        yield data.task, arrays[f"train_{f}"], arrays[f"test_{f}"], pairs, scoring[f]


def pair_ratio(X: np.ndarray, pairs: constraints.Pairs) -> float:
    """mean_S ||v||² / mean_D ||v||² under the identity (the harness's standardized features)."""
    v = differences(X, pairs.a, pairs.b)
    sq = np.einsum("ij,ij->i", v, v)
    return float(sq[pairs.similar].mean() / sq[~pairs.similar].mean())


def fit(X: np.ndarray, pairs: constraints.Pairs, weight: float) -> MMC:
    params = {k: v for k, v in BY_NAME["mmc"].params.items() if k in ("max_iter", "tol", "diagonal")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MMC(regularization=weight, **params).fit(X, pairs)


def frobenius_pull(T: np.ndarray, diagonal: bool = False) -> tuple[float, np.ndarray]:
    """||c T - I||²_F with c = sqrt(k) / ||T||_F (scale-free; 0 at T = I), and its gradient in T."""
    k = T.size if diagonal else T.shape[0]
    norm = float(np.sqrt(np.sum(T * T)))
    c = np.sqrt(k) / norm
    Z = c * T - (np.ones_like(T) if diagonal else np.eye(*T.shape))
    G = 2.0 * Z
    return float(np.sum(Z * Z)), c * G - c * T * float(np.sum(G * T)) / norm**2


def entropy_pull(T: np.ndarray, diagonal: bool = False) -> tuple[float, np.ndarray]:
    """Σ p_i log(k p_i), p = the singular values² of T over their sum (the von Neumann divergence
    of G / (tr G / k) from I, G = T Tᵀ), and its gradient in T: finite when a p_i is 0."""
    if diagonal:
        s, U, Vt = np.abs(T), None, None
    else:
        U, s, Vt = np.linalg.svd(T, full_matrices=False)
    k, total = s.size, float(np.sum(s * s))
    p = s * s / total
    logs = np.log(k * np.where(p > 0, p, 1.0))
    value = float(np.sum(p * logs))
    ds = 2.0 * s / total * (logs - value)
    if diagonal:
        return value, ds * np.where(T < 0, -1.0, 1.0)
    return value, (U * ds) @ Vt


PULLS = {"logdet": mmc.logdet_pull, "frobenius": frobenius_pull, "entropy": entropy_pull}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/mmc_pull.py", description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=SETS)
    parser.add_argument("--weights", default="0.1", help="fixed λ values, comma-separated")
    parser.add_argument("--scaled", default="", help="c values of λ = c · r, comma-separated")
    parser.add_argument("--spectrum", action="store_true", help="print M's spectrum on fold 0 per λ")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and constraints")
    parser.add_argument("--data-dir", help="directory with <name>.csv (as run.py)")
    parser.add_argument("--pull", choices=list(PULLS), default="logdet", help="the pull (default: MMC's own)")
    args = parser.parse_args(argv)
    mmc.logdet_pull = PULLS[args.pull]  # this process only: the benchmark's alternative pulls
    names = args.datasets.split(",")
    columns = [("fixed", float(w)) for w in args.weights.split(",") if w]
    columns += [("scaled", float(c)) for c in args.scaled.split(",") if c]
    means = {column: [] for column in columns}
    for name in names:
        folds = list(folds_of(name, args.seed, args.data_dir))
        ratio = np.mean([pair_ratio(X, pairs) for _, X, _, pairs, _ in folds])
        cells = []
        for kind, value in columns:
            scores = []
            for f, (task, X_train, X_test, pairs, scoring) in enumerate(folds):
                weight = value if kind == "fixed" else value * pair_ratio(X_train, pairs)
                L = fit(X_train, pairs, weight).components_
                scores.append(score_fold(task, X_train @ L.T, X_test @ L.T, scoring)["score"])
                if args.spectrum and f == 0:
                    eig = np.sort(np.linalg.eigvalsh(L.T @ L))[::-1]
                    print(f"{name} λ={weight:g} fold 0 spectrum / largest: {np.round(eig / eig[0], 3)}")
            means[(kind, value)].append(float(np.mean(scores)))
            label = f"λ={value:g}" if kind == "fixed" else f"λ={value:g}·r"
            cells.append(f"{label} {np.mean(scores):.3f}")
        print(f"{name} (seed {args.seed}, r = {ratio:.3f}): " + ", ".join(cells), flush=True)
    if len(names) > 1:
        print(
            "mean: "
            + ", ".join(
                f"{'λ=' if kind == 'fixed' else 'λ=c·r, c='}{value:g} {np.mean(v):.4f}"
                for (kind, value), v in means.items()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
