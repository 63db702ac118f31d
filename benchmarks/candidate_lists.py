"""Candidate lists of the stochastic solvers at scale: metricli's clustered search and neighbour
descent against an exact scan and faiss' HNSW, on the scale series' synthetic set.

    python benchmarks/candidate_lists.py --sizes 100000,1000000

For each size n, the points of benchmarks.datasets.hard_mixture(n) are seen through two
metrics: the raw standardized features ("input": what the first refresh sees, 28 loud noise
directions) and a metric that keeps the 4 informative directions and shrinks the noise ten
times ("learned": what later refreshes see once the solver has learned something). For each:

- clustered: metricli.learners.candidates.clustered_lists (k-means cells, 8 probed cells);
- descent: one round of neighbour descent from the clustered lists, then a second;
- hnsw (when faiss is installed): faiss IndexHNSWFlat, 32 links, efConstruction 80,
  efSearch 96 (the retrieval index's defaults), built on all points and searched for all.

Recall@32 is measured against the exact 32 nearest others of --sample points (exact scan).
Times are wall seconds of one run; the machine may be shared (state the load).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import hard_mixture
from metricli.kernels import knn
from metricli.learners.candidates import clustered_lists, lists_of, random_others

M = 32


def informative_metric(noise: float) -> np.ndarray:
    """x -> the informative directions at scale 1, the noise directions at ``noise`` (the
    rotation hard_mixture(seed=0) uses, drawn again)."""
    rng = np.random.default_rng(0)
    rng.normal(scale=3.0, size=(10, 4))
    rotation, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    return np.diag([1.0] * 4 + [noise] * 28) @ rotation.T


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([np.intersect1d(f, e).size / e.size for f, e in zip(found, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--no-hnsw", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print("| n | metric | method | seconds | recall@32 |")
    print("|---:|---|---|---:|---:|")
    for n in [int(s) for s in args.sizes.split(",")]:
        X, _ = hard_mixture(n)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, min(args.sample, n), replace=False))
        for name, W in (("input", np.eye(32)), ("learned", informative_metric(0.1) * X.std(axis=0))):
            Z = X @ W.T
            found, _ = knn(Z[sample], Z, M + 1)
            exact = np.array([row[row != i][:M] for row, i in zip(found, sample, strict=True)])
            started = time.perf_counter()
            lists = clustered_lists(Z, M, None, rng, random_others(n, M, None, rng))
            print(
                f"| {n:,} | {name} | clustered | {time.perf_counter() - started:.1f} | {recall(lists[sample], exact):.3f} |",
                flush=True,
            )
            for round_ in (1, 2):
                started = time.perf_counter()
                lists = lists_of(Z, M, None, lists, rng)  # one round of descent
                print(
                    f"| {n:,} | {name} | + descent round {round_} | {time.perf_counter() - started:.1f} | {recall(lists[sample], exact):.3f} |",
                    flush=True,
                )
            if args.no_hnsw:
                continue
            try:
                import faiss
            except ImportError:
                print(f"| {n:,} | {name} | hnsw | faiss not installed | |")
                continue
            started = time.perf_counter()
            index = faiss.IndexHNSWFlat(32, 32)
            index.hnsw.efConstruction = 80
            index.add(np.ascontiguousarray(Z, dtype=np.float32))
            built = time.perf_counter() - started
            index.hnsw.efSearch = 96
            started = time.perf_counter()
            _, got = index.search(np.ascontiguousarray(Z, dtype=np.float32), M + 1)
            searched = time.perf_counter() - started
            hnsw = np.array([row[row != i][:M] for row, i in zip(got[sample], sample, strict=True)])
            print(
                f"| {n:,} | {name} | hnsw (build {built:.1f} s + search all {searched:.1f} s) | {built + searched:.1f} | {recall(hnsw, exact):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
