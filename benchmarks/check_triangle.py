"""Time the exact triangle-inequality check against scipy's Floyd-Warshall and a plain numpy loop.

For each n (default 1000, 2000, 4000) two matrices are built from n random points in 5
dimensions: Euclidean distances (a metric) and squared Euclidean distances (violations
almost everywhere). Each method runs in its own subprocess on the same .npy file, so
its peak resident memory (ru_maxrss) is its own:

- ``metricli check``: :func:`metricli.axioms.check_distance`, the full report (every
  axiom, violating pairs and triplets counted, witnesses, relaxation factor);
- ``metricli repair``: :func:`metricli.axioms.metric_repair`, the shortest-path closure;
- ``scipy floyd_warshall``: ``scipy.sparse.csgraph.floyd_warshall(D)``, then the pairs
  it lowers (D is a metric iff it lowers none);
- ``numpy loop over k``: ``M = minimum(M, D[:, k, None] + D[None, k, :])`` for every k,
  then the pairs with M < D (the min-plus square: the same pairs the check reports).

Run from the repository root::

    python benchmarks/check_triangle.py                 # n = 1000 2000 4000
    python benchmarks/check_triangle.py --sizes 500 --timeout 60

Wall-clock times on a shared machine are only indicative: the load average before and
after each case is printed next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("metricli check", "metricli repair", "scipy floyd_warshall", "numpy loop over k")
RTOL = 1e-9


def _case(method: str, path: str, jobs: int | None) -> dict:
    """Run one method on the matrix in ``path``; called in a fresh subprocess."""
    D = np.load(path)
    loaded_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tol = RTOL * float(np.abs(D).max())
    upper = np.triu(np.ones(D.shape, dtype=bool), 1) if method != "metricli check" else None
    start = time.perf_counter()
    if method == "metricli check":
        from metricli.axioms import check_distance

        report = check_distance(D, n_jobs=jobs)
        seconds = time.perf_counter() - start
        answer = {
            "verdict": report["verdict"],
            "pairs": report["axioms"]["triangle_inequality"]["pairs_violated"],
        }
    elif method == "metricli repair":
        from metricli.axioms import metric_repair

        _, summary = metric_repair(D, n_jobs=jobs)
        seconds = time.perf_counter() - start
        answer = {"pairs_lowered": summary["pairs_lowered"]}
    elif method == "scipy floyd_warshall":
        from scipy.sparse.csgraph import floyd_warshall

        closure = floyd_warshall(D, directed=True)
        lowered = int(np.count_nonzero((closure < D - tol)[upper]))
        seconds = time.perf_counter() - start
        answer = {"pairs_lowered": lowered}
    else:
        best = np.full_like(D, np.inf)
        for k in range(D.shape[0]):
            best = np.minimum(best, D[:, k, None] + D[None, k, :])
        pairs = int(np.count_nonzero((best < D - tol)[upper]))
        seconds = time.perf_counter() - start
        answer = {"pairs": pairs}
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "loaded_mb": loaded_kb / 1024, "answer": answer}


def _matrices(n: int, folder: Path) -> dict[str, Path]:
    from scipy.spatial.distance import cdist

    X = np.random.default_rng(n).normal(size=(n, 5))
    paths = {}
    for name, metric in (("euclidean", "euclidean"), ("squared", "sqeuclidean")):
        paths[name] = folder / f"{name}-{n}.npy"
        np.save(paths[name], cdist(X, X, metric))
    return paths


def _run(method: str, path: Path, jobs: int | None, timeout: float) -> dict:
    command = [sys.executable, __file__, "--case", method, str(path)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    load_before = os.getloadavg()[0]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "timeout": timeout, "load": [load_before, os.getloadavg()[0]]}
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{method} on {path} failed:\n{exc.stderr}") from None
    result = json.loads(done.stdout)
    result["load"] = [load_before, os.getloadavg()[0]]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD")
    parser.add_argument("--jobs", type=int, default=None, help="threads for metricli (default: all CPUs)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case before giving up")
    parser.add_argument("--json", type=Path, default=None, help="also write every result to this file")
    parser.add_argument("--case", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.case[0], args.case[1], args.jobs)))
        return

    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, numpy {np.__version__}")
    header = f"{'n':>5}  {'matrix':<9}  {'method':<21}  {'seconds':>8}  {'peak MB':>8}  {'peak/D':>6}  {'load':>9}  answer"
    print(header)
    print("-" * len(header))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            matrices = _matrices(n, Path(folder))
            size_mb = n * n * 8 / 2**20
            for matrix, path in matrices.items():
                for method in args.methods:
                    r = _run(method, path, args.jobs, args.timeout)
                    r.update(n=n, matrix=matrix, method=method, d_mb=size_mb)
                    results.append(r)
                    load = f"{r['load'][0]:.1f}-{r['load'][1]:.1f}"
                    if r["seconds"] is None:
                        print(
                            f"{n:>5}  {matrix:<9}  {method:<21}  {'>' + format(args.timeout, '.0f'):>8}  {'':>8}  {'':>6}  {load:>9}  timed out"
                        )
                    else:
                        answer = ", ".join(f"{k} {v}" for k, v in r["answer"].items())
                        print(
                            f"{n:>5}  {matrix:<9}  {method:<21}  {r['seconds']:>8.2f}  {r['peak_mb']:>8.0f}  "
                            f"{r['peak_mb'] / size_mb:>6.2f}  {load:>9}  {answer}",
                            flush=True,
                        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
