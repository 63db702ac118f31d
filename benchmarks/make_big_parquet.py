"""Write a large, seeded Parquet table for the streaming benchmark, one row group at a time.

    python benchmarks/make_big_parquet.py /tmp/metricli-bench/big.parquet --rows 5000000 --columns 32

Columns x0 ... x{columns-1} (float64) and label (int): each row is one of --classes
Gaussian clusters with a shared random covariance. Memory is one row group
(--row-group rows), never the whole table; the file appears only when complete.
The same --seed and --row-group give the same file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write(
    path: Path, rows: int, columns: int, row_group: int, seed: int, classes: int, rows_seed: int | None = None
) -> None:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, columns))
    mixing = rng.normal(size=(columns, columns)) / np.sqrt(columns)
    if rows_seed is not None:  # the same clusters, other rows (held-out queries)
        rng = np.random.default_rng([seed, rows_seed])
    names = [f"x{j}" for j in range(columns)]
    schema = pa.schema([(name, pa.float64()) for name in names] + [("label", pa.int32())])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, rows, row_group):
                n = min(row_group, rows - start)
                label = rng.integers(classes, size=n)
                X = centers[label] + rng.normal(size=(n, columns)) @ mixing
                arrays = [pa.array(X[:, j]) for j in range(columns)] + [pa.array(label.astype(np.int32))]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=row_group)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("output", type=Path)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--row-group", type=int, default=250_000)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rows-seed", type=int, default=None, help="Draw the rows anew from the --seed clusters (queries)."
    )
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write(args.output, args.rows, args.columns, args.row_group, args.seed, args.classes, args.rows_seed)
    size = args.output.stat().st_size / 2**20
    print(
        f"wrote {args.rows:,} rows x {args.columns} columns to {args.output} ({size:,.0f} MiB) "
        f"in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
