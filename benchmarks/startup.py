"""Start-up time of the command line: whole processes, timed against the import floor.

    python benchmarks/startup.py                       # this checkout, 15 runs each
    python benchmarks/startup.py --source ../other     # another checkout (its metricli package)
    python benchmarks/startup.py --runs 31 --markdown  # the README table

Each command runs as its own process (``python -m metricli ...``, what the ``metricli``
script runs) on a 40-row CSV file and a Covariance bundle fitted on it, in a temporary
folder. The floor is ``python -c "import numpy, typer, rich.console"``, the least any
command line with these libraries pays, timed in the same run; the runs are interleaved
(one of each command per round), so a loaded machine slows them all alike. Reported: the
median wall time of each command and its ratio to the floor's median, beside the target
of issue 17 (2x the floor for --help, check BUNDLE and info BUNDLE; 3x for transform).
The timed processes keep Python's bytecode cache (in the temporary folder, whatever
PYTHONDONTWRITEBYTECODE says), as an installed package has it, after one untimed round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "import numpy, typer, rich.console"

#: (label, metricli arguments with {B} for the bundle and {T} for the table, target ratio)
COMMANDS = [
    ("metricli --help", ["--help"], 2.0),
    ("metricli --version", ["--version"], None),
    ("metricli check BUNDLE", ["check", "{B}"], 2.0),
    ("metricli info BUNDLE", ["info", "{B}"], 2.0),
    ("metricli algorithms", ["algorithms"], None),
    ("metricli transform BUNDLE tiny.csv", ["transform", "{B}", "{T}"], 3.0),
    ("metricli fit covariance tiny.csv", ["fit", "covariance", "{T}", "-o", "{O}", "--force"], None),
    ("metricli fit lmnn tiny.csv (wrong label)", ["fit", "lmnn", "{T}", "--label", "nosuch"], None),
]


def tiny_table(path: Path) -> None:
    """40 rows, 3 features and a two-class label, from a fixed seed (no numpy needed here)."""
    import random

    rng = random.Random(0)
    lines = ["a,b,c,label"]
    for _ in range(40):
        row = [rng.gauss(0.0, 1.0) for _ in range(3)]
        lines.append(",".join(f"{v:.4f}" for v in row) + f",{int(row[0] > 0)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def seconds(command: list[str], env: dict[str, str], ok: tuple[int, ...], cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (one run of each command per round)")
    parser.add_argument(
        "--source", help="a checkout whose metricli package to time (default: the installed one)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    metricli = [sys.executable, "-m", "metricli"]
    with tempfile.TemporaryDirectory() as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        table, bundle, out = Path(tmp) / "tiny.csv", Path(tmp) / "B", Path(tmp) / "B2"
        tiny_table(table)
        subprocess.run(
            [*metricli, "-q", "fit", "covariance", str(table), "--features", "a,b,c", "-o", str(bundle)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            cwd=tmp,  # python -m puts the working folder first on the path: it must hold no metricli
        )
        runs: dict[str, list[float]] = {"floor": []}
        for label, _, _ in COMMANDS:
            runs[label] = []
        for round_ in range(args.runs + 1):
            if round_ == 1:  # the first round filled the bytecode cache: not counted
                runs = {label: [] for label in runs}
            runs["floor"].append(seconds([sys.executable, "-c", FLOOR], env, (0,), tmp))
            for label, arguments, _ in COMMANDS:
                argv = [a.format(B=bundle, T=table, O=out) for a in arguments]
                # the wrong label is an error path: exit status 2 is its success
                runs[label].append(seconds([*metricli, *argv], env, (2,) if "wrong" in label else (0,), tmp))
    floor = statistics.median(runs["floor"])
    rows = [(f'floor: python -c "{FLOOR}"', floor, 1.0, None)]
    for label, _, target in COMMANDS:
        median = statistics.median(runs[label])
        rows.append((label, median, median / floor, target))
    if args.markdown:
        print("| command | median s | × floor | target |")
        print("|---|---:|---:|---:|")
        for label, median, ratio, target in rows:
            print(f"| `{label}` | {median:.3f} | {ratio:.2f} | {f'≤ {target:g}×' if target else '-'} |")
    else:
        for label, median, ratio, target in rows:
            verdict = "" if target is None else ("  ok" if ratio <= target else f"  OVER {target:g}x")
            print(f"{label:48s} {median:7.3f} s  {ratio:5.2f}x{verdict}")
    print(f"({args.runs} runs each, interleaved; python {sys.version.split()[0]})", file=sys.stderr)


if __name__ == "__main__":
    main()
