"""`fit nca|lmnn --solver stochastic` on one machine against `--engine dask` on a 2-worker cluster.

    python benchmarks/dask_stochastic.py --rows 1000000          # issue 16's Dask criterion
    python benchmarks/dask_stochastic.py --rows 100000 --files 8 # a quicker look

The data: the scale series' hard synthetic set (benchmarks.datasets.hard_mixture: 10
classes, d = 32, 4 informative directions), standardized with the training rows' mean and
scale, written as --files Parquet files (the Dask input) and as one Parquet file holding
the same rows in the same order (the local input); --test further rows are kept aside.

Each fit is its own `python -m metricli fit` process, with the same seed: the local engine
reads the single file; Dask reads the files on a real 2-worker cluster started with Dask's
own command-line tools (benchmarks.dask_scale.Cluster, a fresh one per fit, started before
the clock starts). Wall time, CPU time and peak memory (summed resident memory of the
command and, for Dask, the scheduler and workers) as benchmarks/dask_scale.py measures
them; held-out 3-NN accuracy of the --test rows against the training rows in each fit's
learned space. Data and bundles live in --workdir, deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from benchmarks.dask_scale import Cluster, metricli, run
from benchmarks.datasets import hard_mixture


def generate(work: Path, rows: int, test: int, files: int) -> tuple[np.ndarray, np.ndarray]:
    """The training rows as --files Parquet files and as one file; returns the test rows."""
    X, y = hard_mixture(rows + test)
    mean, scale = X[:rows].mean(axis=0), X[:rows].std(axis=0)
    X = (X - mean) / scale
    names = [f"x{j}" for j in range(X.shape[1])]
    (work / "parts").mkdir()
    with pq.ParquetWriter(work / "single.parquet", _schema(names)) as whole:
        bounds = np.linspace(0, rows, files + 1).astype(int)
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            table = _table(names, X[lo:hi], y[lo:hi])
            pq.write_table(table, work / "parts" / f"part-{i:03d}.parquet")
            whole.write_table(table)
    return X[rows:], y[rows:]


def _schema(names: list[str]) -> pa.Schema:
    return pa.schema([(name, pa.float64()) for name in names] + [("label", pa.int64())])


def _table(names: list[str], X: np.ndarray, y: np.ndarray) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array(X[:, j]) for j in range(X.shape[1])] + [pa.array(y)], schema=_schema(names)
    )


def accuracy(bundle: Path, train: Path, X_test: np.ndarray, y_test: np.ndarray) -> float:
    from metricli.evaluation import knn_classify

    L = np.load(bundle / "L.npy")
    table = pq.read_table(train).to_pandas()
    X, y = table.drop(columns="label").to_numpy(), table["label"].to_numpy()
    return float(np.mean(knn_classify(X @ L.T, y, X_test @ L.T, 3) == y_test))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--learners", default="nca,lmnn")
    parser.add_argument("--engines", default="local,dask", help="local, dask or both (default)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/metricli-dask-stochastic"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    work = args.workdir
    if work.exists():
        raise SystemExit(f"{work} exists; remove it or choose another --workdir")
    work.mkdir(parents=True)
    engines = set(args.engines.split(","))
    rows = []
    try:
        X_test, y_test = generate(work, args.rows, args.test, args.files)
        for learner in args.learners.split(","):
            common = ["fit", learner, "--label", "label", "--solver", "stochastic", "--seed", "0"]
            if "local" in engines:
                local = work / f"{learner}-local"
                figures = run(
                    metricli(*common[:2], str(work / "single.parquet"), *common[2:], "-o", str(local))
                )
                rows.append(
                    {"learner": learner, "engine": "local", **figures, **_scored(local, work, X_test, y_test)}
                )
                print(json.dumps(rows[-1]), flush=True)
            if "dask" not in engines:
                continue
            cluster = Cluster(work)
            try:
                remote = work / f"{learner}-dask"
                command = [*common[:2], str(work / "parts"), *common[2:], "-o", str(remote)]
                figures = run(
                    metricli(*command, "--engine", "dask", "--scheduler", cluster.address), also=cluster.pids
                )
            finally:
                cluster.close()
            rows.append(
                {"learner": learner, "engine": "dask", **figures, **_scored(remote, work, X_test, y_test)}
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.rows:,} training rows in {args.files} files; 2-worker cluster; {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| learner | engine | wall (s) | CPU (s) | peak memory (MiB) | epochs | held-out 3-NN | wall / local |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        base = next((r for r in rows if r["learner"] == row["learner"] and r["engine"] == "local"), row)
        print(
            f"| {row['learner']} | {row['engine']} | {row['seconds']:.0f} | {row['cpu_seconds']:.0f} | "
            f"{row['peak_rss_mib']:,} | {row['epochs']} | {row['accuracy']:.4f} | {row['seconds'] / base['seconds']:.2f} |"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1) + "\n")


def _scored(bundle: Path, work: Path, X_test: np.ndarray, y_test: np.ndarray) -> dict:
    meta = json.loads((bundle / "metadata.json").read_text())
    return {
        "epochs": meta["fit"]["iterations"],
        "accuracy": round(accuracy(bundle, work / "single.parquet", X_test, y_test), 4),
    }


if __name__ == "__main__":
    main()
