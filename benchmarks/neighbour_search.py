"""How to find the stochastic solvers' candidate lists: every point's m nearest others.

The stochastic NCA / LMNN / MLKR solvers (metricli/learners/stochastic.py) need, every few
epochs, the m nearest other points of each of the n training points in the current
projected space (a k-nearest-neighbour *graph*, all points querying all points). This
script times the ways to build it on one thread, side by side, and measures their recall
against the exact answer on a sample of queries:

- ``exact``: metricli's blocked exact search (metricli.kernels.knn), O(n²·k) flops;
- ``kdtree``: scipy's cKDTree, exact, fast when the projected dimension is small;
- ``faiss-flat``: faiss-cpu's exact IndexFlatL2 (BLAS);
- ``faiss-hnsw``: faiss-cpu's HNSW graph index (M = 32, efSearch = 64);
- ``hnswlib``: hnswlib (M = 16, ef_construction = 100, ef = 64);
- ``pynndescent``: NN-descent (its JIT compilation is timed separately, on a warm-up).

Libraries that are not installed are reported as such. The data are points of the
benchmark's hard synthetic set (10 classes, 4 informative directions among 32) seen through
a fixed projection to ``--dims`` dimensions, as the solver sees them.

    nice python benchmarks/neighbour_search.py --sizes 20000,100000 --dims 4,16,32
    nice python benchmarks/neighbour_search.py --sizes 1000000 --dims 16 --methods kdtree,faiss-hnsw,hnswlib

Results: benchmarks/results/neighbour_search.md (+ .json). Each run appends its rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import contextlib

from benchmarks.datasets import hard_mixture

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("exact", "kdtree", "faiss-flat", "faiss-hnsw", "hnswlib", "pynndescent")


def exact_graph(Z: np.ndarray, m: int) -> np.ndarray:
    from metricli.kernels import knn

    return knn(Z, Z, m, exclude_self=True, block_bytes=2**26)[0]


def kdtree_graph(Z: np.ndarray, m: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    _, idx = cKDTree(Z).query(Z, m + 1, workers=1)
    return drop_self(idx, m)


def faiss_flat_graph(Z: np.ndarray, m: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatL2(Z.shape[1])
    Z32 = np.ascontiguousarray(Z, dtype=np.float32)
    index.add(Z32)
    return drop_self(index.search(Z32, m + 1)[1], m)


def faiss_hnsw_graph(Z: np.ndarray, m: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexHNSWFlat(Z.shape[1], 32)
    index.hnsw.efConstruction = 64
    Z32 = np.ascontiguousarray(Z, dtype=np.float32)
    index.add(Z32)
    index.hnsw.efSearch = max(64, m + 1)
    return drop_self(index.search(Z32, m + 1)[1], m)


def hnswlib_graph(Z: np.ndarray, m: int) -> np.ndarray:
    import hnswlib

    index = hnswlib.Index(space="l2", dim=Z.shape[1])
    index.init_index(max_elements=Z.shape[0], M=16, ef_construction=100, random_seed=0)
    index.set_num_threads(1)
    index.add_items(Z.astype(np.float32), num_threads=1)
    index.set_ef(max(64, m + 1))
    idx, _ = index.knn_query(Z.astype(np.float32), k=m + 1, num_threads=1)
    return drop_self(idx.astype(np.intp), m)


def pynndescent_graph(Z: np.ndarray, m: int) -> np.ndarray:
    from pynndescent import NNDescent

    index = NNDescent(Z, n_neighbors=m + 1, random_state=0, n_jobs=1, compressed=True)
    return drop_self(index.neighbor_graph[0], m)


def drop_self(idx: np.ndarray, m: int) -> np.ndarray:
    """Each row's m neighbours without the row itself (or without its last one if it is absent)."""
    rows = np.arange(idx.shape[0])[:, None]
    is_self = idx == rows
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    return idx[keep].reshape(idx.shape[0], m)


GRAPHS = {
    "exact": exact_graph,
    "kdtree": kdtree_graph,
    "faiss-flat": faiss_flat_graph,
    "faiss-hnsw": faiss_hnsw_graph,
    "hnswlib": hnswlib_graph,
    "pynndescent": pynndescent_graph,
}
MODULE = {"faiss-flat": "faiss", "faiss-hnsw": "faiss", "hnswlib": "hnswlib", "pynndescent": "pynndescent"}


def recall(found: np.ndarray, Z: np.ndarray, m: int, sample: np.ndarray) -> float:
    """Share of the true m nearest others of the sampled rows that ``found`` lists."""
    from metricli.kernels import knn

    truth = knn(Z[sample], Z, m + 1, block_bytes=2**26)[0]
    hits = 0
    for row, true_row in zip(sample, truth, strict=True):
        true_set = set(true_row[true_row != row][:m].tolist())
        hits += len(true_set & set(found[row].tolist()))
    return hits / (len(sample) * m)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--dims", default="4,16,32")
    parser.add_argument("--m", type=int, default=32, help="neighbours per point")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--exact-up-to", type=int, default=100_000, help="skip 'exact' above this n")
    parser.add_argument("--output", default="neighbour_search")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(s) for s in args.dims.split(",")]
    methods = args.methods.split(",")
    rows = []
    load_start = os.getloadavg()[0]
    if "pynndescent" in methods:  # pay numba's compilation once, outside the timings
        with contextlib.suppress(ImportError):
            pynndescent_graph(np.random.default_rng(0).standard_normal((500, 4)), 5)
    for n in sizes:
        X, _ = hard_mixture(n)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        sample = np.random.default_rng(1).choice(n, min(n, 500), replace=False)
        for k in dims:
            projection = np.linalg.qr(np.random.default_rng(2).standard_normal((X.shape[1], k)))[0]
            Z = X @ projection
            for method in methods:
                row = {"n": n, "dims": k, "m": args.m, "method": method}
                if method == "exact" and n > args.exact_up_to:
                    row["status"] = f"skipped above n = {args.exact_up_to:,}"
                    rows.append(row)
                    continue
                try:
                    if method in MODULE:
                        __import__(MODULE[method])
                except ImportError:
                    row["status"] = f"not installed ({MODULE[method]})"
                    rows.append(row)
                    continue
                reset_peak()
                start = time.perf_counter()
                found = GRAPHS[method](Z, args.m)
                row["seconds"] = round(time.perf_counter() - start, 3)
                row["peak_rss_mb"] = round(peak_rss_mb())
                row["recall"] = round(recall(found, Z, args.m, sample), 4)
                row["status"] = "ok"
                rows.append(row)
                print(json.dumps(row), flush=True)
    run = {
        "command": "python benchmarks/neighbour_search.py "
        + f"--sizes {args.sizes} --dims {args.dims} --m {args.m} --methods {args.methods}",
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 thread per method",
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.output}.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(run)
    path.write_text(json.dumps(runs, indent=1) + "\n")
    (RESULTS / f"{args.output}.md").write_text(render(runs))
    print(render(runs))


def render(runs: list[dict]) -> str:
    lines = [
        "# Candidate lists: every point's 32 nearest others, one thread",
        "",
        "Produced by `benchmarks/neighbour_search.py`; recall against the exact answer on 500 sampled points.",
        "",
    ]
    for run in runs:
        lines += [
            f"`{run['command']}` ({run['machine']}; load average {run['load_average'][0]} at start, "
            f"{run['load_average'][1]} at end)",
            "",
            "| n | dims | method | seconds | recall | peak RSS MB | note |",
            "|---:|---:|---|---:|---:|---:|---|",
        ]
        for r in run["rows"]:
            ok = r["status"] == "ok"
            lines.append(
                f"| {r['n']:,} | {r['dims']} | {r['method']} | {r.get('seconds', '') if ok else ''} | "
                f"{r.get('recall', '') if ok else ''} | {r.get('peak_rss_mb', '') if ok else ''} | "
                f"{'' if ok else r['status']} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
