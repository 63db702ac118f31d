"""`metricli transform` and `metricli fit covariance` on one machine and on a 2-worker Dask cluster.

    python benchmarks/dask_scale.py                       # 20 million rows x 32 columns, 40 files
    python benchmarks/dask_scale.py --rows 2000000        # a quicker look

Generates a seeded partitioned Parquet data set (--files files of --rows / --files rows:
columns x0 ... x{columns-1}, float64, and an int label; Gaussian clusters with a shared
random covariance, the model of benchmarks/make_big_parquet.py) and, for the local
engine, which reads one file, a single-file copy of the same rows. Then, in one run:

- local engine: each command as its own process (`python -m metricli ...`); `transform`
  streams batches, `fit covariance` reads the whole table into memory;
- Dask: a real 2-worker cluster started with Dask's own command-line tools on loopback
  (`dask scheduler`, then `dask worker --nworkers 2 --nthreads 1`), exactly how a user
  starts one on a real cluster, and each command run with --engine dask --scheduler
  ADDRESS. A fresh cluster per command, started before the clock starts.

Peak memory: every 0.1 s the resident memory (VmRSS, from /proc) of every process
involved is summed: the command and its children, and for Dask also the scheduler, the
worker nanny and the two worker processes. The largest sum is the peak; for the local
engine the kernel's own peak of the process (ru_maxrss from wait4) is shown too.

CPU time (user + system, summed over the same processes): the command's from wait4, and
for Dask the scheduler's and workers' CPU during the command (from /proc/PID/stat, read
before it starts and after it ends). On a shared machine wall times stretch with the
load; CPU time is what to compare between versions.

Data and outputs live in --workdir (default /tmp/metricli-dask-bench), outside the
repository, and are deleted at the end unless --keep. The machine may be shared with
other work: times are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metricli.engines.dask import WORKER_ENV

ROW_GROUP = 250_000


# --- data ---------------------------------------------------------------------------------


def generate(
    folder: Path,
    single: Path,
    sample: Path,
    sample_files: int,
    rows: int,
    columns: int,
    files: int,
    seed: int,
    classes: int = 8,
) -> None:
    """One mixture model for the whole data set; file i drawn with its own seeded stream.

    The single file holds the same rows in the same order (the files in name order);
    ``sample`` the rows of the first ``sample_files`` files.
    """
    folder.mkdir(parents=True)
    model = np.random.default_rng(seed)
    centers = model.normal(scale=3.0, size=(classes, columns))
    mixing = model.normal(size=(columns, columns)) / np.sqrt(columns)
    names = [f"x{j}" for j in range(columns)]
    schema = pa.schema([(name, pa.float64()) for name in names] + [("label", pa.int32())])
    streams = np.random.SeedSequence(seed).spawn(files)
    per_file = [rows // files + (i < rows % files) for i in range(files)]
    with pq.ParquetWriter(single, schema) as whole, pq.ParquetWriter(sample, schema) as first:
        for i, n in enumerate(per_file):
            rng = np.random.default_rng(streams[i])
            with pq.ParquetWriter(folder / f"part-{i:03d}.parquet", schema) as part:
                for start in range(0, n, ROW_GROUP):
                    m = min(ROW_GROUP, n - start)
                    label = rng.integers(classes, size=m)
                    X = centers[label] + rng.normal(size=(m, columns)) @ mixing
                    arrays = [pa.array(X[:, j]) for j in range(columns)] + [pa.array(label.astype(np.int32))]
                    table = pa.Table.from_arrays(arrays, schema=schema)
                    part.write_table(table, row_group_size=ROW_GROUP)
                    whole.write_table(table, row_group_size=ROW_GROUP)
                    if i < sample_files:
                        first.write_table(table, row_group_size=ROW_GROUP)


# --- measuring ----------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and every process below them (/proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in {p for root in pids for p in descendants(root)}:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after the command name
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14, 15
    return total


def descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc/PID/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except OSError:
            continue
    return found


class PeakMemory:
    """Samples the summed RSS of some process trees in a thread; ``peak`` is the largest sum (MiB)."""

    def __init__(self, roots: list[int], interval: float = 0.1) -> None:
        self.roots, self.interval = roots, interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_mib(p) for root in self.roots for p in descendants(root))
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def available_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def run(command: list[str], also: list[int] = (), limit_gib: float | None = None) -> dict:
    """Run ``command``; wall time, CPU time and sampled peak of the summed RSS (it and ``also``), its ru_maxrss.

    With ``limit_gib`` the command runs under that address-space limit (RLIMIT_AS): a command
    that needs more fails with a MemoryError instead of pushing a shared machine into swap or
    the OOM killer; the failure is recorded, not hidden.
    """

    def limit() -> None:
        import resource

        size = int(limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    cluster_before = cpu_seconds(list(also))
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit if limit_gib else None
    )
    with PeakMemory([process.pid, *also]) as memory:
        stderr = process.stderr.read().decode(errors="replace")  # until it exits (and drains the pipe)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    cluster_cpu = cpu_seconds(list(also)) - cluster_before
    code = os.waitstatus_to_exitcode(status)
    figures = {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime + cluster_cpu, 1),
        "peak_rss_mib": round(memory.peak),
        "process_max_rss_mib": round(usage.ru_maxrss / 1024),
    }
    if code != 0:
        last = [line for line in stderr.splitlines() if line.strip()][-1:] or [f"exit {code}"]
        if limit_gib and any(sign in stderr for sign in ("MemoryError", "out of memory", "malloc")):
            figures["failed"] = f"out of memory under a {limit_gib:.0f} GiB address-space limit"
        else:
            raise SystemExit(f"failed ({code}): {' '.join(command)}\n{stderr}")
        print(f"  {figures['failed']}: {last[0]}", file=sys.stderr)
    return figures


class Cluster:
    """A Dask scheduler and one `dask worker` command running 2 single-threaded worker processes."""

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        self.file = workdir / "scheduler.json"
        self.file.unlink(missing_ok=True)
        python = sys.executable
        self.scheduler = subprocess.Popen(
            [python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.workers = None
        try:
            deadline = time.time() + 60
            while not self.file.exists():
                if time.time() > deadline:
                    raise SystemExit("the Dask scheduler did not start within 60 s")
                time.sleep(0.2)
            self.address = json.loads(self.file.read_text())["address"]
            self.workers = subprocess.Popen(
                [python, "-m", "distributed.cli.dask_worker", self.address, "--nworkers", str(workers),
                 "--nthreads", "1", "--no-dashboard", "--local-directory", str(workdir / "dask-worker-space")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **WORKER_ENV},
            )  # fmt: skip
            from distributed import Client

            with Client(self.address, timeout="60s") as client:
                deadline = time.time() + 120
                while len(client.scheduler_info(n_workers=-1)["workers"]) < workers:
                    if time.time() > deadline:
                        raise SystemExit(f"{workers} Dask workers did not start within 120 s")
                    time.sleep(0.2)
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [self.scheduler.pid, self.workers.pid]

    def close(self) -> None:
        for process in (self.workers, self.scheduler):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- the benchmark ------------------------------------------------------------------------


def metricli(*args: str) -> list[str]:
    return [sys.executable, "-m", "metricli", *args, "--quiet"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/metricli-dask-bench"))
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="Keep the data and outputs in --workdir.")
    parser.add_argument(
        "--local-limit-gib",
        type=float,
        help="Address-space limit of each local-engine command (default: 70%% of the memory available "
        "at the start), so that the in-memory local fit fails cleanly rather than exhaust the machine.",
    )
    parser.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    args = parser.parse_args()
    work = args.workdir
    if work.exists():
        raise SystemExit(f"{work} exists; remove it or choose another --workdir")
    work.mkdir(parents=True)
    try:
        figures = benchmark(work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(figures))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


def benchmark(work: Path, args: argparse.Namespace) -> dict:
    parts, single, sample = work / "parts", work / "single.parquet", work / "sample.parquet"
    start = time.perf_counter()
    sample_files = max(1, args.files // 10)
    generate(parts, single, sample, sample_files, args.rows, args.columns, args.files, args.seed)
    sample_rows = pq.ParquetFile(sample).metadata.num_rows
    size = sum(p.stat().st_size for p in parts.glob("*.parquet")) / 2**30
    print(f"generated {args.rows:,} rows x {args.columns} columns in {args.files} files ({size:.1f} GiB) "
          f"and a single-file copy in {time.perf_counter() - start:.0f} s", file=sys.stderr)  # fmt: skip
    bundle = work / "covariance"
    subprocess.run(
        metricli(
            "fit", "covariance", str(parts / "part-000.parquet"), "--exclude", "label", "-o", str(bundle)
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    limit = args.local_limit_gib or 0.7 * available_gib()
    commands = {
        "transform": (
            lambda data, out: ["transform", str(bundle), str(data), "-o", str(out), "--keep", "label"],
            ("transform-local.parquet", "transform-dask"),
        ),
        "fit covariance": (
            lambda data, out: ["fit", "covariance", str(data), "--exclude", "label", "-o", str(out)],
            ("fit-local", "fit-dask"),
        ),
    }
    runs: dict[str, dict] = {}
    for name, (arguments, (local_out, dask_out)) in commands.items():
        print(f"{name}: local engine", file=sys.stderr)
        runs[f"{name} / local"] = run(metricli(*arguments(single, work / local_out)), limit_gib=limit)
        print(f"{name}: Dask, 2 workers", file=sys.stderr)
        cluster = Cluster(work)
        try:
            command = metricli(
                *arguments(parts, work / dask_out), "--engine", "dask", "--scheduler", cluster.address
            )
            runs[f"{name} / dask"] = run(command, also=cluster.pids)
        finally:
            cluster.close()
    # the local fit holds the whole table in memory: its peak on a tenth of the rows, for scale
    print(f"fit covariance: local engine on the first {sample_rows:,} rows", file=sys.stderr)
    runs[f"fit covariance, first {sample_rows:,} rows / local"] = run(
        metricli("fit", "covariance", str(sample), "--exclude", "label", "-o", str(work / "fit-sample")),
        limit_gib=limit,
    )
    # the reference M: the local engine's, or (if it could not hold the data) the same statistics
    # streamed from the single file here, row group by row group
    M_dask = np.load(work / "fit-dask" / "M.npy")
    if (work / "fit-local" / "M.npy").exists():
        M_local, reference = np.load(work / "fit-local" / "M.npy"), "the local engine's fit"
    else:
        M_local, reference = streamed_covariance(single), "statistics streamed from the single file"
    local_rows = pq.ParquetFile(work / "transform-local.parquet").metadata.num_rows
    dask_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (work / "transform-dask").glob("*.parquet"))
    # the first and last rows of both transforms (reading 2 x 5 GB back would dominate the run)
    first_local = pq.ParquetFile(work / "transform-local.parquet").read_row_group(0).to_pandas()
    first_dask = pq.read_table(work / "transform-dask" / "part-000000.parquet").to_pandas()
    n = min(len(first_local), len(first_dask))
    agreement = {
        "fit_max_relative_difference": float(np.abs(M_local - M_dask).max() / np.abs(M_local).max()),
        "fit_reference": reference,
        "transform_rows": [local_rows, dask_rows],
        "transform_first_rows_max_difference": float(
            np.abs(first_local.iloc[:n, 1:].to_numpy() - first_dask.iloc[:n, 1:].to_numpy()).max()
        ),
    }
    return {
        "command": "python benchmarks/dask_scale.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, load {os.getloadavg()[0]:.1f}",
        "rows": args.rows,
        "columns": args.columns,
        "files": args.files,
        "data_gib": round(size, 2),
        "local_limit_gib": round(limit, 1),
        "runs": runs,
        "agreement": agreement,
    }


def streamed_covariance(path: Path) -> np.ndarray:
    from metricli import Covariance
    from metricli.statistics import ScatterStats, combine

    parquet = pq.ParquetFile(path)
    names = [c for c in parquet.schema_arrow.names if c != "label"]
    parts = [
        ScatterStats.from_array(parquet.read_row_group(i, columns=names).to_pandas().to_numpy())
        for i in range(parquet.num_row_groups)
    ]
    return Covariance().fit_statistics(combine(parts)).get_mahalanobis_matrix()


def report(figures: dict) -> str:
    lines = [
        f"{figures['rows']:,} rows x {figures['columns']} columns ({figures['data_gib']} GiB of Parquet, "
        f"{figures['files']} files); {figures['machine']}; {figures['date']}",
        f"command: {figures['command']}",
        "",
        "| command | engine | wall time (s) | CPU time, all processes (s) | peak memory, all processes (MiB) "
        "| largest process (MiB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, run_ in figures["runs"].items():
        name, engine = key.split(" / ")
        label = (
            "local (one process)" if engine == "local" else "Dask, 2 workers (client + scheduler + workers)"
        )
        largest = run_["process_max_rss_mib"] if engine == "local" else "-"
        seconds = (
            run_["seconds"] if "failed" not in run_ else f"failed after {run_['seconds']}: {run_['failed']}"
        )
        cpu = run_.get("cpu_seconds", "-")
        lines.append(f"| {name} | {label} | {seconds} | {cpu} | {run_['peak_rss_mib']:,} | {largest} |")
    agree = figures["agreement"]
    lines += [
        "",
        f"fit: M from Dask vs {agree['fit_reference']}, max relative difference "
        f"{agree['fit_max_relative_difference']:.2e}; "
        f"transform: {agree['transform_rows'][0]:,} vs {agree['transform_rows'][1]:,} rows, first rows differ by "
        f"at most {agree['transform_first_rows_max_difference']:.2e}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
