"""Time `metricli transform` and `metricli neighbors` on a table larger than their memory budget.

    python benchmarks/streaming.py --workdir /tmp/metricli-bench

Generates (once, with benchmarks/make_big_parquet.py) a 5-million-row, 32-column
Parquet file, a 10,000-row query file and a 100,000-row sample, fits a Covariance
bundle on the sample, then runs each command as its own process and reports wall
time, CPU time (user + system) and peak resident memory (ru_utime, ru_stime and ru_maxrss
of that process, from wait4). Data stay in --workdir, outside the repository. The machine
may be shared: wall times are indicative; CPU time is what to compare between versions
under load. The commands run `python -m metricli`, which imports the package from the
current directory first, then PYTHONPATH: to measure another checkout, run from its root
with PYTHONPATH set to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def metricli() -> list[str]:
    return [sys.executable, "-m", "metricli"]


def measured(command: list[str]) -> dict:
    """Run ``command``; its wall time, CPU seconds and peak RSS (MiB), from the kernel's accounting
    of that child."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(command)}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def ensure_table(path: Path, rows: int, seed: int, columns: int) -> None:
    if path.exists():
        return
    subprocess.run(
        [
            sys.executable,
            str(HERE / "make_big_parquet.py"),
            str(path),
            "--rows",
            str(rows),
            "--columns",
            str(columns),
            "--seed",
            str(seed),
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/metricli-bench"))
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    parser.add_argument(
        "--commands",
        default="transform,neighbors",
        help="Which commands to time, comma-separated (default: transform,neighbors).",
    )
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    big, query, sample = work / "big.parquet", work / "query.parquet", work / "sample.parquet"
    ensure_table(big, args.rows, 0, args.columns)
    ensure_table(query, args.queries, 1, args.columns)
    ensure_table(sample, 100_000, 2, args.columns)
    bundle = work / "covariance"
    subprocess.run(
        [
            *metricli(),
            "fit",
            "covariance",
            str(sample),
            "--exclude",
            "label",
            "-o",
            str(bundle),
            "--force",
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = {
        "transform": [
            *metricli(),
            "transform",
            str(bundle),
            str(big),
            "-o",
            str(work / "transformed.parquet"),
            "--force",
            "--quiet",
        ],
        "neighbors": [
            *metricli(),
            "neighbors",
            str(bundle),
            str(big),
            "--query",
            str(query),
            "-k",
            str(args.k),
            "-o",
            str(work / "neighbors.parquet"),
            "--force",
            "--quiet",
        ],
    }
    figures = {"rows": args.rows, "columns": args.columns, "queries": args.queries, "k": args.k, "runs": {}}
    chosen = args.commands.split(",")
    if unknown := sorted(set(chosen) - set(runs)):
        raise SystemExit(f"--commands: unknown {', '.join(unknown)} (known: {', '.join(runs)})")
    for name in chosen:
        command = runs[name]
        result = measured(command)
        result["rows_per_second"] = round(args.rows / result["seconds"])
        result["rows_per_cpu_second"] = round(args.rows / result["cpu_seconds"])
        result["command"] = " ".join(command[2:])
        figures["runs"][name] = result
        print(
            f"{name:10s} {result['seconds']:8.1f} s  CPU {result['cpu_seconds']:8.1f} s  "
            f"peak RSS {result['peak_rss_mib']:7.1f} MiB  {result['rows_per_second']:,} rows/s  "
            f"{result['rows_per_cpu_second']:,} rows per CPU second",
            flush=True,
        )
    print(json.dumps(figures, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
