"""Time `metricli index` and `metricli neighbors --index` against the exact scan, with recall.

    python benchmarks/index_retrieval.py --workdir /tmp/metricli-bench
    python benchmarks/index_retrieval.py --workdir /tmp/metricli-bench --rows 1000000 --libraries

Generates (once, with benchmarks/make_big_parquet.py, the same files as streaming.py) a
--rows x --columns Parquet table of Gaussian clusters and a --queries-row query table,
fits a Covariance bundle on a 100,000-row sample, then, each command as its own process
(wall time and peak resident memory from wait4):

1. `metricli index BUNDLE big.parquet -o INDEX`: build time, peak memory, size on disk;
2. `metricli neighbors BUNDLE --index INDEX -Q query.parquet -k K --ef E` for every --ef:
   the whole command (load and verify the index, read and project the queries, search,
   write), and in this process the search alone (the index loaded once, then the 10,000
   queries answered by metricli.api.neighbors_in_index);
3. the exact scan `metricli neighbors BUNDLE big.parquet -Q SUBSET -k K` on the first
   --exact-queries query rows (the reference streamed past them), whose answer is the truth
   for recall@K: the share of the exact K neighbours the index returns, over those rows.

--libraries also compares, in this process on the first --library-rows rows projected by
the bundle (float32): faiss IndexFlatL2 (exact, BLAS), faiss HNSW, hnswlib HNSW, faiss IVF
and scipy's cKDTree (build time, time for the queries, recall@K against IndexFlatL2).
Data stay in --workdir, outside the repository. The machine may be shared: times are
indicative.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.streaming import ensure_table, measured, metricli  # noqa: E402


def recall(approx: pd.DataFrame, exact: pd.DataFrame) -> float:
    """|approx ∩ exact| / |exact| over (query, reference) pairs, for the queries in ``exact``."""
    truth = set(zip(exact["query"], exact["reference"], strict=True))
    got = set(zip(approx["query"], approx["reference"], strict=True))
    return len(truth & got) / len(truth)


def folder_mib(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.iterdir()) / 2**20, 1)


def set_recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) for a, b in zip(found, truth, strict=True)]) / truth.shape[1])


def libraries(bundle: Path, big: Path, query: Path, rows: int, k: int, tree_queries: int) -> dict:
    """The candidate libraries side by side on the same projected points (float32)."""
    import faiss
    import pyarrow.parquet as pq

    from metricli.io.bundle import load_bundle

    L = load_bundle(bundle).L
    names = list(load_bundle(bundle).feature_names)
    table = pq.ParquetFile(big)
    parts, have = [], 0
    for batch in table.iter_batches(batch_size=250_000, columns=names):
        X = np.column_stack([batch.column(j).to_numpy() for j in range(len(names))])
        parts.append((X @ L.T).astype(np.float32))
        have += len(X)
        if have >= rows:
            break
    Z = np.ascontiguousarray(np.concatenate(parts)[:rows])
    Q = pd.read_parquet(query, columns=names).to_numpy() @ L.T
    Q = np.ascontiguousarray(Q.astype(np.float32))
    d = Z.shape[1]
    out: dict = {"rows": int(Z.shape[0]), "queries": int(Q.shape[0]), "dims": d}

    def timed(label: str, build, search, queries: np.ndarray = Q) -> np.ndarray:
        start = time.perf_counter()
        handle = build()
        built = time.perf_counter() - start
        start = time.perf_counter()
        found = search(handle, queries)
        searched = time.perf_counter() - start
        out[label] = {"build_s": round(built, 2), "query_s": round(searched, 3), "queries": len(queries)}
        if label != "faiss IndexFlatL2 (exact)":
            out[label]["recall"] = round(set_recall(found, truth[: len(queries)]), 4)
        print(
            f"{label:42s} build {built:7.1f} s  {len(queries):,} queries {searched:7.2f} s  {out[label]}",
            flush=True,
        )
        return found

    def flat():
        index = faiss.IndexFlatL2(d)
        index.add(Z)
        return index

    truth = timed("faiss IndexFlatL2 (exact)", flat, lambda h, q: h.search(q, k)[1])

    def hnsw():
        index = faiss.IndexHNSWFlat(d, 32)
        index.hnsw.efConstruction = 80
        index.add(Z)
        return index

    def hnsw_search(ef):
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef
        return lambda h, q: h.search(q, k, params=params)[1]

    graph = None

    def keep_hnsw():
        nonlocal graph
        graph = hnsw()
        return graph

    for ef in (64, 96, 128, 256):
        label = f"faiss HNSW M=32 ef={ef}"
        timed(label, keep_hnsw if graph is None else lambda: graph, hnsw_search(ef))

    try:
        import hnswlib
    except ImportError:
        out["hnswlib"] = "not installed"
    else:

        def hnswlib_build():
            index = hnswlib.Index("l2", d)
            index.init_index(len(Z), M=32, ef_construction=80)
            index.add_items(Z)
            index.set_ef(96)
            return index

        timed("hnswlib M=32 ef=96", hnswlib_build, lambda h, q: h.knn_query(q, k)[0])

    def ivf():
        lists = int(4 * np.sqrt(len(Z)))
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, lists)
        index.train(Z[np.random.default_rng(0).choice(len(Z), min(len(Z), 64 * lists), replace=False)])
        index.add(Z)
        index.nprobe = 16
        return index

    timed("faiss IVF-Flat 4*sqrt(n) lists nprobe=16", ivf, lambda h, q: h.search(q, k)[1])

    from scipy.spatial import cKDTree

    timed(
        "scipy cKDTree (exact)",
        lambda: cKDTree(Z),
        lambda h, q: h.query(q, k, workers=-1)[1],
        Q[:tree_queries],
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/metricli-bench"))
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, 96, 128, 256])
    parser.add_argument("--links", type=int, default=None, help="metricli index --links (default: its own).")
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument(
        "--exact-queries", type=int, default=1000, help="Query rows the exact scan answers (the truth)."
    )
    parser.add_argument("--libraries", action="store_true", help="Also compare the libraries in process.")
    parser.add_argument("--library-rows", type=int, default=1_000_000)
    parser.add_argument("--tree-queries", type=int, default=200, help="Queries for scipy's cKDTree (slow).")
    parser.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    suffix = f"{args.rows}x{args.columns}"
    big, sample = work / f"big-{suffix}.parquet", work / f"sample-{args.columns}.parquet"
    query = work / f"query-heldout-{args.queries}x{args.columns}.parquet"
    ensure_table(big, args.rows, 0, args.columns)
    ensure_table(sample, 100_000, 2, args.columns)
    if not query.exists():  # held-out rows of the same clusters as DATA
        make = [sys.executable, str(HERE / "make_big_parquet.py"), str(query), "--rows", str(args.queries)]
        subprocess.run([*make, "--columns", str(args.columns), "--seed", "0", "--rows-seed", "1"], check=True)
    bundle = work / f"covariance-{args.columns}"
    cli = metricli()
    subprocess.run(
        [*cli, "fit", "covariance", str(sample), "--exclude", "label", "-o", str(bundle), "--force", "-q"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    figures: dict = {"rows": args.rows, "columns": args.columns, "queries": args.queries, "k": args.k}

    index = work / f"index-{suffix}"
    build = [*cli, "index", str(bundle), str(big), "-o", str(index), "--force", "-q"]
    if args.links:
        build += ["--links", str(args.links)]
    if args.ef_construction:
        build += ["--ef-construction", str(args.ef_construction)]
    result = measured(build)
    result["size_mib"] = folder_mib(index)
    result["parameters"] = json.loads((index / "index.json").read_text())["parameters"]
    figures["build"] = result
    print(
        f"index build  {result['seconds']:8.1f} s  peak RSS {result['peak_rss_mib']:8.1f} MiB  "
        f"on disk {result['size_mib']:,.1f} MiB  {result['parameters']}",
        flush=True,
    )

    subset = work / f"query-first-{args.exact_queries}x{args.columns}.parquet"
    pd.read_parquet(query).iloc[: args.exact_queries].to_parquet(subset)
    exact_out = work / f"exact-{suffix}-{args.exact_queries}.parquet"
    scan = [*cli, "neighbors", str(bundle), str(big), "-Q", str(subset), "-k", str(args.k)]
    result = measured([*scan, "-o", str(exact_out), "--force", "-q"])
    figures["exact"] = {**result, "queries": args.exact_queries}
    print(f"exact scan   {result['seconds']:8.1f} s  for {args.exact_queries:,} queries", flush=True)
    exact = pd.read_parquet(exact_out)

    from metricli import api
    from metricli.io.bundle import load_bundle
    from metricli.io.index import load_index

    loaded_bundle = load_bundle(bundle)
    start = time.perf_counter()
    loaded = load_index(index, loaded_bundle)
    figures["load_s"] = round(time.perf_counter() - start, 2)
    print(f"index load   {figures['load_s']:8.2f} s  (every file's sha256 verified, graph read)", flush=True)
    figures["search"] = {}
    for ef in args.ef:
        out = work / f"approx-{suffix}-ef{ef}.parquet"
        command = [*cli, "neighbors", str(bundle), "--index", str(index), "-Q", str(query), "-k", str(args.k)]
        whole = measured([*command, "--ef", str(ef), "-o", str(out), "--force", "-q"])
        start = time.perf_counter()
        frame = api.neighbors_in_index(loaded_bundle, loaded, query, k=args.k, ef=ef)
        search = time.perf_counter() - start
        row = {
            "command_s": whole["seconds"],
            "command_peak_rss_mib": whole["peak_rss_mib"],
            "search_s": round(search, 2),
            "recall": round(recall(frame[frame["query"] < args.exact_queries], exact), 4),
            "same_as_command": bool(frame.equals(pd.read_parquet(out))),
        }
        figures["search"][ef] = row
        print(
            f"ef={ef:<5d} command {row['command_s']:6.1f} s (peak {row['command_peak_rss_mib']:,.0f} MiB)  "
            f"search alone {row['search_s']:6.2f} s  recall@{args.k} {row['recall']:.4f}",
            flush=True,
        )
    if args.libraries:
        figures["libraries"] = libraries(bundle, big, query, args.library_rows, args.k, args.tree_queries)
    print(json.dumps(figures, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
