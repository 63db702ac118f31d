"""Does ``fit`` note every learner that the harness finds more than 3 points below Euclidean kNN?

Issue 21: "no learner scores more than 3 points below Euclidean kNN on any set without a
note in ``fit`` saying so". The harness's figure of a cell (learner, data set) is its kNN
accuracy minus Euclidean kNN's on the same folds (``run.py``, k = 3), averaged over the
fold seeds of the ``--results`` files that hold the cell. For each cell below
``--below`` points this script runs the command a user would::

    python -m metricli fit LEARNER DATA.csv --label COLUMN --standardize --seed 0 \\
        [the harness's parameters and constraint counts] --json -o TMP

and reads whether the note ("the learned metric scored ...") was printed, and the
check's own estimate (learned - Euclidean on its refits, with its standard error) from
the bundle's metadata. Each cell is then one of: ``noted`` (harness below -3, note
printed), ``MISSED`` (harness below -3, no note), ``extra note`` (a note where the
harness is not below -3) or ``quiet``.

``self`` (half of the labels hidden in the harness) is left out: ``fit`` given every
label is ``self-all``. ``mlkr`` is regression.

::

    python benchmarks/knn_notes.py --below 1 \\
        --results heldout,heldout-others,heldout-seed1,heldout-others-seed1,...
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import datasets  # noqa: E402
from benchmarks.peers import BY_NAME, constraint_count  # noqa: E402
from metricli.cli.option_names import flag_of  # noqa: E402
from metricli.learners import LEARNERS  # noqa: E402

RESULTS = BENCH / "results"
NOTE = "the learned metric scored"
MARGIN = 3.0
SKIP = ("self", "mlkr", "euclidean")


def harness_cells(paths: list[Path]) -> dict[tuple[str, str], dict[int, float]]:
    """(learner, set) -> {seed: points above Euclidean kNN}, from run.py's results files."""
    scores: dict[tuple[str, str, str], dict[int, float]] = {}
    for path in paths:
        for r in json.loads(path.read_text())["records"]:
            if "score" not in r or r.get("score") is None or r["side"] not in ("metricli", "baseline"):
                continue
            seed = int(r.get("protocol", "seed 0").rsplit("seed", 1)[1])
            key = ("euclidean" if r["side"] == "baseline" else r["learner"], r["dataset"], r["side"])
            scores.setdefault(key, {})[seed] = r["score"]
    cells = {}
    for (learner, dataset, side), by_seed in scores.items():
        if side != "metricli" or learner in SKIP:
            continue
        base = scores.get(("euclidean", dataset, "baseline"), {})
        common = sorted(set(by_seed) & set(base))
        if common:
            cells[(learner, dataset)] = {s: 100 * (by_seed[s] - base[s]) for s in common}
    return cells


def fit_command(key: str, data: datasets.Data, path: Path, label: str, out: Path) -> list[str]:
    """``python -m metricli fit ...`` with the harness's parameters for the learner ``key``."""
    bench = BY_NAME[key]
    cls = LEARNERS[bench.learner]
    accepted = set(inspect.signature(cls.__init__).parameters)
    command = [sys.executable, "-m", "metricli", "fit", bench.learner, str(path), "--label", label]
    command += ["--standardize", "--seed", "0", "--json", "--force", "-o", str(out)]
    for names, value in bench.params.items():
        name = next((n for n in names.split("|") if n in accepted), None)
        if name is None or name == "random_state" or value is False:
            continue
        command += [flag_of(name)] if value is True else [flag_of(name), str(value)]
    if bench.constraints in ("pairs", "quadruplets", "triplets"):
        command += ["--n-constraints", str(constraint_count(bench.constraints, data.n_classes))]
    if bench.constraints == "triplets":  # the harness draws them at random, fit's default from neighbours
        command += ["--strategy", "random"]
    return command


def label_column(path: Path) -> str:
    with open(path) as handle:
        return handle.readline().strip().split(",")[-1]


def run_cell(key: str, name: str, data_dir: str | None) -> dict:
    data = datasets.load(name, data_dir)
    path = Path(data.source)
    with tempfile.TemporaryDirectory(prefix="metricli-knn-notes-") as tmp:
        command = fit_command(key, data, path, label_column(path), Path(tmp) / "m")
        started, cpu = time.perf_counter(), os.times()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        after = os.times()
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
        check = json.loads((Path(tmp) / "m" / "metadata.json").read_text())["fit"]["knn_check"]
    return {
        "noted": NOTE in done.stderr,
        "check": check,
        "wall_s": time.perf_counter() - started,
        "cpu_s": (after.children_user + after.children_system) - (cpu.children_user + cpu.children_system),
        "command": " ".join(["python", *command[1:]]).replace(str(REPO) + os.sep, "").replace(tmp, "TMP"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/knn_notes.py", description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="heldout,heldout-others", help="results files, comma-separated")
    parser.add_argument("--data-dir", help="directory with the shared <name>.csv (as run.py)")
    parser.add_argument(
        "--below",
        type=float,
        default=0.0,
        help="run fit for cells this many points or more below (default 0)",
    )
    parser.add_argument("--learners", help="only these harness keys, comma-separated")
    parser.add_argument("--output", default="knn-notes", help="results/<name>.json (default knn-notes)")
    parser.add_argument(
        "--reuse", help="a previous output name: its fits are reused for the cells it holds (no refit)"
    )
    args = parser.parse_args(argv)
    cells = harness_cells([RESULTS / f"{n}.json" for n in args.results.split(",")])
    previous = {}
    if args.reuse:
        for row in json.loads((RESULTS / f"{args.reuse}.json").read_text()):
            previous[(row["learner"], row["dataset"])] = {
                k: row[k] for k in ("noted", "check", "wall_s", "cpu_s", "command", "error") if k in row
            }
    wanted = set(args.learners.split(",")) if args.learners else None
    rows = []
    print("| learner | set | harness, per seed | mean | check (± s.e.) | refits | note | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for (key, name), by_seed in sorted(cells.items()):
        mean = float(np.mean(list(by_seed.values())))
        if mean > -args.below or (wanted and key not in wanted):
            continue
        got = previous.get((key, name)) or run_cell(key, name, args.data_dir)
        below = mean < -MARGIN
        if "error" in got:
            verdict, cell, refits, noted = "fit failed: " + got["error"], "-", "-", False
        else:
            check = got["check"]
            if check is None:
                verdict, cell, refits, noted = "no check", "-", "-", got["noted"]
            else:
                noted = got["noted"]
                diff = 100 * (check["learned_accuracy"] - check["euclidean_accuracy"])
                cell = f"{diff:+.1f} ± {100 * check['standard_error']:.1f}"
                refits = str(check["refits"])
            verdict = (
                (("noted" if noted else "MISSED") if below else ("extra note" if noted else "quiet"))
                if "error" not in got
                else verdict
            )
        per_seed = " / ".join(f"{v:+.1f}" for _, v in sorted(by_seed.items()))
        print(
            f"| {key} | {name} | {per_seed} | {mean:+.1f} | {cell} | {refits} | "
            f"{'yes' if noted else 'no'} | {verdict} |",
            flush=True,
        )
        rows.append(
            {"learner": key, "dataset": name, "harness": by_seed, "mean": mean, **got, "verdict": verdict}
        )
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("noted", "MISSED", "extra note", "quiet")}
    print(f"\n{len(rows)} cells run: " + ", ".join(f"{v} {c}" for v, c in counts.items()))
    allowance = [
        f"{r['learner']} on {r['dataset']}"
        for r in rows
        if r.get("noted")
        and r.get("check")
        and r["check"]["learned_accuracy"] - r["check"]["euclidean_accuracy"] >= -MARGIN / 100
    ]
    print(
        f"notes where the check's own mean is not below -3 (its standard-error allowance): {allowance or 'none'}"
    )
    (RESULTS / f"{Path(args.output).name}.json").write_text(json.dumps(rows, indent=1))
    return 1 if counts["MISSED"] else 0


if __name__ == "__main__":
    sys.exit(main())
