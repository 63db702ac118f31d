"""Choosing a metric for the user: every applicable learner beside the Euclidean baselines.

:func:`compare` cross-validates the Euclidean baseline, the standardized Euclidean
baseline and every learner that applies to the supervision at hand on the same folds
(:func:`metricli.evaluation.cross_validate`, the protocol of ``metricli evaluate``), and
says whether any learner beats the better baseline by more than the folds' noise.
:func:`choose` does the same over a small grid of each promising learner's key
parameters and returns the winner, or the baseline when nothing wins;
:func:`nested_cross_validate` scores that whole choice on outer folds it never saw.

A learner beats a baseline when the paired held-out predictions say so (:func:`paired_rows`:
McNemar's test and a paired-proportion interval for accuracy; Dietterich, "Approximate
Statistical Tests for Comparing Supervised Classification Learning Algorithms", Neural
Computation 10, 1998, found McNemar's test's type I error acceptable on one cross-validated
run). The comparison over folds is also reported (:func:`paired_difference`): the corrected
resampled t-test of Nadeau & Bengio ("Inference for the Generalization Error", Machine
Learning 52, 2003), which takes the variance of the mean of K fold differences as
(1/K + n_test/n_train) s², as the folds share most of their training rows. It is the more
cautious of the two; with 5 folds of a few hundred rows it rarely rejects anything.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricli import constraints as weak
from metricli.errors import MetricliError
from metricli.evaluation import cross_validate, standardization
from metricli.lazy import LazyModule
from metricli.learners import LEARNERS
from metricli.learners.base import MahalanobisLearner

#: scipy.stats, imported when a comparison is first tested (not when `fit --help` lists options)
stats: Any = LazyModule("scipy.stats")

#: the level of every confidence interval here
CONFIDENCE = 0.95

#: the one-sided level of the non-inferiority test that chooses a learner: a learner may be
#: chosen when the lower confidence bound of its gain at this level rules out a loss beyond the
#: margin (:func:`admissible`), i.e. a one-sided test at 1 - this level
NONINFERIORITY_LEVEL = 0.95

#: what each baseline is called in a verdict
BASELINE_TITLES = {"euclidean": "Euclidean", "standardized": "standardized Euclidean"}


@dataclass(frozen=True)
class Candidate:
    """One row of a leaderboard: a baseline (``learner`` None) or a learner with parameters.

    Learners are fitted on features standardized with the training fold's mean and scale
    (their L is then folded back onto the raw features); the ``standardized`` baseline is
    kNN on those standardized features, the ``euclidean`` baseline on the raw ones.
    """

    name: str
    learner: type[MahalanobisLearner] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    standardize: bool = True

    @property
    def is_baseline(self) -> bool:
        return self.learner is None

    @property
    def algorithm(self) -> str:
        return self.name if self.learner is None else self.learner.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "baseline": self.is_baseline,
            "params": dict(self.params),
            "standardize": self.standardize,
        }


EUCLIDEAN = Candidate("euclidean", standardize=False)
STANDARDIZED = Candidate("standardized", standardize=True)
BASELINES = (EUCLIDEAN, STANDARDIZED)


def task_of(labels: np.ndarray | None, target: np.ndarray | None) -> str:
    if (labels is None) == (target is None):
        raise MetricliError(
            "give class labels (--label) or regression targets (--target), not both or neither"
        )
    return "classification" if labels is not None else "regression"


def applicable_learners(task: str) -> list[type[MahalanobisLearner]]:
    """The learners a labelled (or a regression) table can train: for labels every supervised,
    semi-supervised, unsupervised and weakly supervised one (constraints drawn from the labels);
    for a regression target MLKR and Covariance."""
    kinds = (
        ("supervised", "semi-supervised", "unsupervised", "weakly-supervised")
        if task == "classification"
        else ("regression", "unsupervised")
    )
    return [cls for cls in LEARNERS.values() if cls.supervision in kinds]


def default_candidates(task: str) -> list[Candidate]:
    """The two baselines, then every applicable learner with its default parameters."""
    return [*BASELINES, *(Candidate(cls.name, cls) for cls in applicable_learners(task))]


# -- how long a fit takes ---------------------------------------------------------------------


def _pairwise(n: int, d: int, c: int) -> float:
    """Blocked n x n distances over the iterations of a gradient solver (NCA, LMNN, MLKR)."""
    return n * n * (d + 16)


def _pair_updates(n: int, d: int, c: int) -> float:
    """Passes over ~40 c² drawn pairs (or 20 c² quadruplets) with d x d updates, plus eigensolves."""
    return (40 * c * c + 1000) * d * d + 50 * d**3


#: (seconds per unit of work, the work of one fit on n rows, d features and c classes), fitted to
#: ``python -m benchmarks.selection_costs`` on 2 cores (digits, breast_cancer, wine, subsamples)
_COST: dict[str, tuple[float, Callable[[int, int, int], float]]] = {
    "covariance": (4e-9, lambda n, d, c: n * d * d + d**3),
    "rca": (4e-9, lambda n, d, c: n * d * d + d**3),
    "kissme": (8e-9, lambda n, d, c: 40 * c * c * d * d + n * d * d + d**3),
    "nca": (2e-8, _pairwise),
    "mlkr": (2e-8, _pairwise),
    "lmnn": (2.5e-8, _pairwise),
    # within-class affinities, two d x d scatter matrices and a generalized eigenproblem
    "lfda": (8e-9, _pairwise),
    "self": (8e-9, _pairwise),
    "itml": (1e-7, _pair_updates),
    "sdml": (1e-7, _pair_updates),
    "mmc": (1e-7, _pair_updates),
    "lsml": (1e-7, _pair_updates),
    # 30 neighbour triplets per point against a basis of rank-one terms
    "scml": (6e-7, lambda n, d, c: 30 * n * (d + 40)),
}

#: fixed cost of one fit whatever its size (Python overhead, solver start-up)
_OVERHEAD_SECONDS = 0.02


def estimate_fit_seconds(candidate: Candidate, n: int, d: int, n_classes: int) -> float:
    """A quick size-based estimate of one fit of ``candidate`` on n rows, d features, c classes.

    Not a promise: a coarse model of each learner's work (``_COST``) times seconds per unit
    of work measured on 2 cores, meant to tell a one-second learner from a ten-minute one.
    """
    if candidate.learner is None:
        return 0.0
    if candidate.learner.name not in _COST:  # a learner this table does not know (one a test injects)
        return _OVERHEAD_SECONDS
    per_unit, work = _COST[candidate.learner.name]
    return _OVERHEAD_SECONDS + per_unit * work(n, d, max(n_classes, 1))


def estimate_scoring_seconds(n: int, d: int, n_splits: int) -> float:
    """kNN of every held-out row against its training fold: about n²·d multiply-adds per candidate."""
    return 1e-9 * n * n * (d + 4) * (n_splits - 1) / n_splits + 0.005 * n_splits


# -- one candidate on the folds -----------------------------------------------------------------


#: how the note on a learner skipped for its estimate begins
_WOULD_TAKE = "would take about"


class _BudgetSpent(Exception):
    """Raised between folds when the budget ran out while a candidate was being cross-validated."""


def fit_arguments(
    cls: type[MahalanobisLearner],
    X: np.ndarray,
    labels: np.ndarray | None,
    target: np.ndarray | None,
    seed: int | None,
) -> tuple[np.ndarray, tuple]:
    """The rows and ``fit`` arguments of a learner's kind of supervision, from labels or a target.

    Supervised learners get the labelled rows; semi-supervised ones all rows with blanks as None;
    weakly supervised ones the default number of constraints drawn from these rows' labels with
    ``seed`` (:func:`metricli.constraints.from_labels`; neighbour triplets for SCML, as ``fit``).
    """
    if cls.supervision == "unsupervised":
        return X, ()
    if cls.supervision == "regression":
        if target is None:
            raise MetricliError(f"{cls.name} learns from regression targets")
        return X, (target,)
    if labels is None:
        raise MetricliError(f"{cls.name} learns from class labels")
    labelled = np.array([v is not None for v in labels], dtype=bool)
    if cls.supervision == "supervised":
        return X[labelled], (labels[labelled].astype(str),)
    if cls.supervision == "semi-supervised":
        return X, (labels,)
    kind = cls.constraint_kinds[0]
    strategy = "neighbors" if kind == "triplets" else "random"
    drawn = weak.from_labels(kind, labels, None, seed=seed, X=X, strategy=strategy)
    return X, (drawn,)


@dataclass
class Outcome:
    """One candidate's cross-validation: per-fold scores and fit seconds, or why it was skipped."""

    candidate: Candidate
    scores: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    n_train: list[int] = field(default_factory=list)
    n_test: list[int] = field(default_factory=list)
    estimate_seconds: float = 0.0
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: per row of X: 1.0 / 0.0 for a right / wrong kNN vote, or the squared kNN regression error,
    #: when the row was held out; NaN for a row never held out (an unlabelled one); one array per
    #: cross-validation run (several after :func:`merge_repeats`)
    row_values: list[np.ndarray] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))


def merge_repeats(runs: list[list[Outcome]]) -> list[Outcome]:
    """One outcome per candidate from repeated cross-validations of the same candidates.

    ``runs`` holds one list of outcomes per fold seed. A candidate scored in every run gets the
    fold scores, fit times, fold sizes and held-out row values of all runs one after the other;
    :func:`leaderboard` then compares it with the baseline run by run and averages. A candidate
    skipped in any run is skipped, with the first such run's reason.
    """
    merged = []
    for same in zip(*runs, strict=True):
        first = same[0]
        if any(o.candidate != first.candidate for o in same):
            raise ValueError("repeated runs must list the same candidates in the same order")
        skipped = next((o for o in same if o.skipped is not None), None)
        if skipped is not None:
            merged.append(
                Outcome(first.candidate, estimate_seconds=first.estimate_seconds, skipped=skipped.skipped)
            )
            continue
        merged.append(
            Outcome(
                first.candidate,
                scores=[v for o in same for v in o.scores],
                fit_seconds=[v for o in same for v in o.fit_seconds],
                n_train=[v for o in same for v in o.n_train],
                n_test=[v for o in same for v in o.n_test],
                estimate_seconds=first.estimate_seconds,
                warnings=sorted({w for o in same for w in o.warnings}),
                row_values=[v for o in same for v in o.row_values],
            )
        )
    return merged


def _score_candidate(
    candidate: Candidate,
    X: np.ndarray,
    labels: np.ndarray | None,
    target: np.ndarray | None,
    *,
    n_splits: int,
    seed: int | None,
    k: int,
    out_of_time: Callable[[], bool],
    on_fold: Callable[[int], None],
) -> Outcome:
    """Cross-validate one candidate with :func:`cross_validate` (so its folds are ``evaluate``'s)."""
    outcome = Outcome(candidate)
    caught_messages: list[str] = []

    def fit_components(train: np.ndarray, X_train: np.ndarray) -> np.ndarray:
        fold = len(outcome.fit_seconds) + 1
        if fold > 1 and out_of_time():
            raise _BudgetSpent(fold - 1)
        on_fold(fold)
        start = time.perf_counter()
        if candidate.learner is None:
            L = np.eye(X.shape[1])
        else:
            rows, args = fit_arguments(
                candidate.learner,
                X_train,
                None if labels is None else labels[train],
                None if target is None else target[train],
                seed,
            )
            params = dict(candidate.params)
            if "random_state" in candidate.learner._param_names():
                params["random_state"] = seed
            learner = candidate.learner(**params)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                learner.fit(rows, *args)
            caught_messages.extend(str(w.message) for w in caught)
            L = learner.components_
        outcome.fit_seconds.append(time.perf_counter() - start)
        return L

    result = cross_validate(
        fit_components,
        X,
        labels=labels,
        target=target,
        n_splits=n_splits,
        seed=seed,
        k=k,
        standardize=candidate.standardize,
        retrieval=False,
        predictions=True,
    )
    values = np.full(X.shape[0], np.nan)
    for fold in result["folds"]:
        rows, predicted = fold["predictions"]["rows"], fold["predictions"]["learned"]
        if labels is not None:
            values[rows] = predicted == labels[rows].astype(str)
        else:
            values[rows] = (predicted - target[rows]) ** 2
    outcome.row_values = [values]
    figure = "accuracy" if labels is not None else "rmse"
    outcome.scores = [fold["learned"][figure] for fold in result["folds"]]
    outcome.n_train = [fold["n_train"] for fold in result["folds"]]
    outcome.n_test = [fold["n_test"] for fold in result["folds"]]
    outcome.warnings = sorted(set(caught_messages))
    return outcome


# -- the paired comparison ---------------------------------------------------------------------


def paired_difference(
    gains: Iterable[float], n_train: float, n_test: float, confidence: float = CONFIDENCE
) -> dict[str, float]:
    """Mean fold difference with a confidence interval and a two-sided p-value.

    The corrected resampled t-test (Nadeau & Bengio 2003): with K fold differences of mean m
    and sample variance s² (ddof 1), t = m / sqrt((1/K + n_test/n_train) s²) on K - 1 degrees
    of freedom. Equal differences (s = 0) give a zero-width interval at m.
    """
    g = np.asarray(list(gains), dtype=np.float64)
    K = g.size
    mean = float(g.mean())
    if K < 2:
        return {"mean": mean, "std": 0.0, "low": -math.inf, "high": math.inf, "p_value": 1.0}
    s2 = float(g.var(ddof=1))
    se = math.sqrt((1.0 / K + n_test / n_train) * s2)
    t = float(stats.t.ppf(0.5 + confidence / 2, K - 1))
    p = float(2 * stats.t.sf(abs(mean) / se, K - 1)) if se > 0 else float(mean == 0.0)
    return {
        "mean": mean,
        "std": float(np.sqrt(s2)),
        "low": mean - t * se,
        "high": mean + t * se,
        "p_value": p,
    }


def paired_rows(
    values: np.ndarray,
    baseline: np.ndarray,
    task: str,
    confidence: float = CONFIDENCE,
    bound_level: float = NONINFERIORITY_LEVEL,
) -> dict[str, float]:
    """The gain over a baseline from the paired held-out predictions, row by row.

    Every row is held out once, so the two metrics' predictions pair up over all n rows.
    Classification: with b rows only the candidate gets right and c only the baseline, the
    gain in accuracy is (b - c)/n, its interval the Wald interval for paired proportions,
    variance (b + c - (b - c)²/n)/n² (Agresti, Categorical Data Analysis, 10.1), widened by the
    continuity correction 1/n (Fleiss, Statistical Methods for Rates and Proportions, 8.1) so
    that it agrees with the p-value, McNemar's exact test (b against b + c fair coin flips).
    Regression: the gain in mean squared error is the mean of e_base² - e² over the rows, with
    a normal interval; it is reported on the RMSE scale, sqrt(MSE_base) - sqrt(MSE_base - gain),
    endpoints alike. ``bound`` is the one-sided lower confidence bound at ``bound_level``, built
    the same way with that level's quantile (continuity correction included).
    """
    both = np.isfinite(values) & np.isfinite(baseline)
    x, y = values[both], baseline[both]
    n = x.size
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    z_bound = float(stats.norm.ppf(bound_level))
    if task == "classification":
        b = int(np.sum((x == 1) & (y == 0)))
        c = int(np.sum((x == 0) & (y == 1)))
        mean = (b - c) / n
        se = math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
        correction = 1.0 / n if b + c else 0.0
        p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
        return {
            "mean": mean,
            "low": mean - z * se - correction,
            "high": mean + z * se + correction,
            "bound": mean - z_bound * se - correction,
            "p_value": p,
            "better": b,
            "worse": c,
        }
    d = y - x
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    p = float(2 * stats.norm.sf(abs(mean) / se)) if se > 0 else float(mean == 0.0)
    mse = float(y.mean())

    def on_rmse(gain: float) -> float:
        return math.sqrt(mse) - math.sqrt(max(mse - gain, 0.0))

    return {
        "mean": on_rmse(mean),
        "low": on_rmse(mean - z * se),
        "high": on_rmse(mean + z * se),
        "bound": on_rmse(mean - z_bound * se),
        "p_value": p,
    }


def paired_runs(
    runs: list[np.ndarray],
    baselines: list[np.ndarray],
    task: str,
    confidence: float = CONFIDENCE,
    bound_level: float = NONINFERIORITY_LEVEL,
) -> dict[str, float]:
    """The gain over a baseline after repeated cross-validation: :func:`paired_rows` run by run, averaged.

    The estimate is the mean of the runs' gains, which averages out the luck of one split; the
    interval keeps the mean width of the runs' own intervals around it, and the p-value is the
    runs' median. The runs share their rows, so their intervals do not narrow like those of
    independent samples: an interval of the row-averaged differences would (Bengio & Grandvalet,
    "No Unbiased Estimator of the Variance of K-Fold Cross-Validation", JMLR 5, 2004), and on
    pure noise it let the best of twenty candidates through. The one-sided ``bound`` is kept at
    the runs' mean distance below the gain likewise. One run is :func:`paired_rows`.
    """
    gains = [paired_rows(x, y, task, confidence, bound_level) for x, y in zip(runs, baselines, strict=True)]
    if len(gains) == 1:
        return gains[0]
    mean = float(np.mean([g["mean"] for g in gains]))
    below = float(np.mean([g["mean"] - g["low"] for g in gains]))
    above = float(np.mean([g["high"] - g["mean"] for g in gains]))
    under = float(np.mean([g["mean"] - g["bound"] for g in gains]))
    return {
        "mean": mean,
        "low": mean - below,
        "high": mean + above,
        "bound": mean - under,
        "p_value": float(np.median([g["p_value"] for g in gains])),
        "runs": len(gains),
    }


def beats(gain: dict[str, float], confidence: float = CONFIDENCE) -> bool:
    """A gain beyond noise: positive, and the paired test rejects "no difference" at 1 - confidence."""
    return gain["mean"] > 0 and gain["p_value"] < 1 - confidence


#: the non-inferiority margin, in points (of accuracy, or percent of the baseline's RMSE): a learner
#: may be chosen when its gain's lower confidence bound rules out a loss of more than this
MARGIN_POINTS = 0.5


def margin(task: str, baseline_mean: float, points: float = MARGIN_POINTS) -> float:
    """``points`` on a gain's scale: hundredths of accuracy, or of the baseline's RMSE."""
    return points * (0.01 if task == "classification" else 0.01 * baseline_mean)


def admissible(gain: dict[str, float], delta: float) -> bool:
    """Worth choosing over the baseline: a positive estimated gain whose one-sided lower confidence
    bound (at :data:`NONINFERIORITY_LEVEL`) is above -delta, so that a loss of more than delta is
    ruled out by a one-sided test at 1 - that level."""
    return gain["mean"] > 0 and gain["bound"] > -delta


def pick(rows: list[dict[str, Any]], task: str, points: float = MARGIN_POINTS) -> dict[str, Any] | None:
    """The learner row to use, or None for the better baseline: the non-inferiority rule.

    Among learners whose gain over the better baseline is positive and whose one-sided 95%
    lower confidence bound lies above -``points`` points (:func:`admissible`: non-inferiority
    with a margin, a one-sided test at the 5% level; Piaggio et al., "Reporting of
    Noninferiority and Equivalence Randomized Trials", JAMA 308, 2012, on margins and one-sided
    levels), the one with the largest estimated gain; equal gains go to the cheaper learner by
    its size-based fit estimate, then by name, so that the pick depends on the scores only.
    The question is one-sided (is the learner worse than the baseline by more than the
    margin?), so the bound is one-sided at 95%; the lower end of the two-sided 95% interval,
    used before, is a one-sided test at 2.5%, which on the stored boards of
    ``benchmarks/selection_boards.py`` kept the baseline on more sets where learners were
    several points better (wine, breast cancer, ionosphere), while the one-sided 95% bound
    chose a learner on pure noise about as rarely as a test at 5% should (README). Requiring superiority instead (a gain at p < 0.05)
    keeps the baseline whenever a few hundred rows cannot separate a gain of a few points
    from noise.
    """
    base = next(r for r in rows if r["baseline"] and "gain" not in r)
    delta = margin(task, base["mean"], points)
    ok = [r for r in rows if not r["baseline"] and admissible(r["gain"], delta)]
    if not ok:
        return None
    return min(ok, key=lambda r: (-r["gain"]["mean"], r.get("estimate_seconds", 0.0), r["name"]))


# -- the leaderboard -----------------------------------------------------------------------------


def run_candidates(
    candidates: list[Candidate],
    X: np.ndarray,
    labels: np.ndarray | None,
    target: np.ndarray | None,
    *,
    n_splits: int,
    seed: int | None,
    k: int,
    budget: float | None,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Cross-validate each candidate on the same folds, within ``budget`` seconds.

    Baselines always run. A learner is skipped when its size-based estimate
    (:func:`estimate_fit_seconds` per fold, plus scoring) exceeds what is left of the budget,
    or when it fails on this data (a class too small for it, a degenerate fold): a note, not
    an error. A learner under way when the budget runs out stops after its current fold.
    """
    n, d = X.shape
    n_classes = 0 if labels is None else len({str(v) for v in labels if v is not None})
    n_fit = _training_rows(n, n_splits)
    start = clock()

    def left() -> float:
        return math.inf if budget is None else budget - (clock() - start)

    outcomes = []
    for candidate in candidates:
        estimate = n_splits * estimate_fit_seconds(candidate, n_fit, d, n_classes) + estimate_scoring_seconds(
            n, d, n_splits
        )
        if not candidate.is_baseline and estimate > left():
            remaining = max(left(), 0.0)
            outcomes.append(
                Outcome(
                    candidate,
                    estimate_seconds=estimate,
                    skipped=f"{_WOULD_TAKE} {_seconds(estimate)}; {_seconds(remaining)} of the budget left",
                )
            )
            continue

        def on_fold(fold: int, name: str = candidate.name) -> None:
            if progress is not None:
                progress(f"{name}: fold {fold} of {n_splits}")

        try:
            outcome = _score_candidate(
                candidate,
                X,
                labels,
                target,
                n_splits=n_splits,
                seed=seed,
                k=k,
                out_of_time=(lambda: False) if candidate.is_baseline else (lambda: left() <= 0),
                on_fold=on_fold,
            )
        except _BudgetSpent as spent:
            outcomes.append(
                Outcome(
                    candidate,
                    estimate_seconds=estimate,
                    skipped=f"stopped after {spent.args[0]} of {n_splits} folds: the budget ran out",
                )
            )
            continue
        except MetricliError as exc:
            if candidate.is_baseline:
                raise
            reason = exc.message.removeprefix(f"{candidate.algorithm}: ")
            outcomes.append(Outcome(candidate, estimate_seconds=estimate, skipped=reason))
            continue
        outcome.estimate_seconds = estimate
        outcomes.append(outcome)
    return outcomes


def _training_rows(n: int, n_splits: int) -> int:
    """Rows in a training fold of ``n_splits``-fold cross-validation, what a fit's estimate is for."""
    return round(n * (n_splits - 1) / n_splits)


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f} min"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def leaderboard(
    outcomes: list[Outcome],
    task: str,
    confidence: float = CONFIDENCE,
    bound_level: float = NONINFERIORITY_LEVEL,
) -> dict[str, Any]:
    """Rank the outcomes and compare each learner with the better baseline.

    ``gain`` is the improvement over that baseline from the paired held-out predictions
    (:func:`paired_rows`): accuracy minus the baseline's (classification), the baseline's RMSE
    minus the row's (regression), so positive is better either way. ``fold_gain`` is the same
    comparison fold by fold (:func:`paired_difference`). The verdict names the learner
    :func:`pick` chooses (the largest gain whose interval rules out a loss of more than
    :data:`MARGIN_POINTS`), or says that none qualifies.
    """
    higher = task == "classification"
    figure = "accuracy" if higher else "rmse"
    ran = [o for o in outcomes if o.skipped is None]
    baselines = [o for o in ran if o.candidate.is_baseline]
    if not baselines:
        raise MetricliError("no baseline was scored")
    best_baseline = max(baselines, key=lambda o: o.mean if higher else -o.mean)
    sign = 1.0 if higher else -1.0
    rows = []
    for o in sorted(ran, key=lambda o: -o.mean if higher else o.mean):
        row = {
            **o.candidate.describe(),
            "scores": o.scores,
            "mean": o.mean,
            "std": o.std,
            "fit_seconds": float(np.sum(o.fit_seconds)),
            "estimate_seconds": o.estimate_seconds,
            "warnings": o.warnings,
        }
        if o is not best_baseline:
            row["gain"] = paired_runs(o.row_values, best_baseline.row_values, task, confidence, bound_level)
            folds = sign * (np.asarray(o.scores) - np.asarray(best_baseline.scores))
            row["fold_gain"] = paired_difference(
                folds, float(np.mean(o.n_train)), float(np.mean(o.n_test)), confidence
            )
        rows.append(row)
    choice = pick(rows, task)
    baseline_title = BASELINE_TITLES[best_baseline.candidate.name]
    return {
        "task": task,
        "figure": figure,
        "higher_is_better": higher,
        "confidence": confidence,
        "margin_points": MARGIN_POINTS,
        "best_baseline": best_baseline.candidate.name,
        "rows": rows,
        "skipped": [
            {**o.candidate.describe(), "reason": o.skipped, "estimate_seconds": o.estimate_seconds}
            for o in outcomes
            if o.skipped is not None
        ],
        "choice": None if choice is None else choice["name"],
        "verdict": _verdict(
            choice,
            rows,
            best_baseline.candidate.name,
            baseline_title,
            figure,
            confidence,
            bound_level=bound_level,
        ),
    }


def _verdict(
    choice: dict[str, Any] | None,
    rows: list[dict[str, Any]],
    baseline: str,
    baseline_title: str,
    figure: str,
    confidence: float,
    points: float = MARGIN_POINTS,
    bound_level: float = NONINFERIORITY_LEVEL,
) -> str:
    def gain_text(row: dict[str, Any]) -> str:
        g = row["gain"]
        if figure == "accuracy":
            return (
                f"{100 * g['mean']:+.1f} points of accuracy over {baseline_title} "
                f"({confidence:.0%} CI {100 * g['low']:+.1f} to {100 * g['high']:+.1f}, p = {g['p_value']:.2g})"
            )
        direction = "lower" if g["mean"] >= 0 else "higher"
        return (
            f"RMSE {direction} by {abs(g['mean']):.4g} than {baseline_title}'s "
            f"({confidence:.0%} CI of the gain {g['low']:+.4g} to {g['high']:+.4g}, p = {g['p_value']:.2g})"
        )

    task = "classification" if figure == "accuracy" else "regression"
    delta = margin(task, next(r for r in rows if r["name"] == baseline)["mean"], points)
    if figure == "accuracy":
        loss = f"a loss of more than {points:g} points"
    else:
        loss = f"an RMSE higher by more than {delta:.4g} ({points:g}% of {baseline_title}'s)"
    if choice is not None:
        bound = choice["gain"]["bound"]
        bound_text = f"{100 * bound:+.1f}" if figure == "accuracy" else f"{bound:+.4g}"
        return (
            f"use {choice['name']}: {gain_text(choice)}; the largest gain whose one-sided "
            f"{bound_level:.0%} lower bound ({bound_text}) rules out {loss}"
        )
    learners = [r for r in rows if not r["baseline"]]
    if baseline == "standardized":
        line = (
            "no learned metric beats standardized Euclidean here; standardize the features and use Euclidean"
        )
    else:
        line = "no learned metric beats Euclidean here"
    if learners:
        best = max(learners, key=lambda r: r["gain"]["mean"])
        doubt = f", which does not rule out {loss}" if best["gain"]["mean"] > 0 else ""
        line += f" (best learner {best['name']}: {gain_text(best)}{doubt})"
    else:
        line += " (no learner was scored: see the skipped ones)"
    return line


def _supervision(
    X: np.ndarray, labels: np.ndarray | None, target: np.ndarray | None
) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """The task, the arrays as float64 / object, and the number of classes (0 for a target)."""
    task = task_of(labels, target)
    if labels is not None:
        labels = np.asarray(labels, dtype=object)
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    n_classes = 0 if labels is None else len({str(v) for v in labels if v is not None})
    if labels is not None and n_classes < 2:
        found = "a single class" if n_classes else "no labelled rows"
        raise MetricliError(f"the labels have {found}; comparing metrics by kNN accuracy needs at least two")
    return task, X, labels, target, n_classes


def _cheapest_first(
    candidates: list[Candidate], n: int, d: int, n_classes: int, n_splits: int
) -> list[Candidate]:
    """Baselines first, then the learners from the cheapest estimate; ties keep the given order."""
    n_fit = _training_rows(n, n_splits)
    return sorted(
        candidates,
        key=lambda c: (not c.is_baseline, estimate_fit_seconds(c, n_fit, d, n_classes)),
    )


def compare(
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int | None = 0,
    k: int = 3,
    budget: float | None = None,
    candidates: list[Candidate] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every applicable learner and both baselines on the same folds: the leaderboard and verdict.

    ``labels`` (None = unlabelled row) or ``target`` say the task. Folds are those of
    :func:`metricli.evaluation.cross_validate` with ``seed``, so the Euclidean row equals
    ``metricli evaluate``'s Euclidean figure. Cheaper learners run first, so that a budget
    spends itself on as many of them as it can.
    """
    task, X, labels, target, n_classes = _supervision(X, labels, target)
    candidates = default_candidates(task) if candidates is None else candidates
    outcomes = run_candidates(
        _cheapest_first(candidates, X.shape[0], X.shape[1], n_classes, n_splits),
        X,
        labels,
        target,
        n_splits=n_splits,
        seed=seed,
        k=k,
        budget=budget,
        clock=clock,
        progress=progress,
    )
    board = leaderboard(outcomes, task)
    return {
        "n_rows": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": n_classes if labels is not None else None,
        "cv": n_splits,
        "seed": seed,
        "k": k,
        "budget_seconds": budget,
        **board,
    }


# -- choosing, refitting --------------------------------------------------------------------------


def parameter_grid(cls: type[MahalanobisLearner], d: int, n_classes: int) -> list[dict[str, Any]]:
    """A small grid of the parameters that matter most for ``cls`` (defaults excluded).

    LMNN: target neighbours k and the pull/push weight; NCA, MLKR: a rank of about d/2; LFDA,
    SELF: the affinity's k and a rank of c - 1 (the discriminant directions); ITML: γ.
    """
    half = max(1, (d + 1) // 2)
    rank = max(1, min(d, n_classes - 1))
    grids: dict[str, list[dict[str, Any]]] = {
        "lmnn": [{"k": 5}, {"regularization": 0.25}, {"k": 5, "regularization": 0.25}],
        "nca": [{"n_components": half}] if half < d else [],
        "mlkr": [{"n_components": half}] if half < d else [],
        "lfda": [{"k": 3}, *([{"n_components": rank}, {"k": 3, "n_components": rank}] if rank < d else [])],
        "self": [{"k": 3}, *([{"n_components": rank}] if rank < d else [])],
        "itml": [{"gamma": 0.1}, {"gamma": 2.0}],
    }
    return grids.get(cls.name, [])


def _variant(cls: type[MahalanobisLearner], params: dict[str, Any]) -> Candidate:
    detail = " ".join(f"{k}={v}" for k, v in params.items())
    return Candidate(f"{cls.name} {detail}", cls, params)


#: how many inner cross-validations (fold seeds seed, seed + 1, ...) ``fit auto`` averages at most
REPEATS = 4


def choose(
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int | None = 0,
    k: int = 3,
    budget: float | None = None,
    candidates: list[Candidate] | None = None,
    finalists: int = 2,
    repeats: int = REPEATS,
    margin_points: float = MARGIN_POINTS,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Choose a metric by cross-validation: defaults first, then a grid, then repeats of it all.

    Round 1 is :func:`compare` with every learner at its defaults, on half the budget. Round 2
    (successive halving in two rungs) keeps the ``finalists`` learners that have a grid with the
    highest mean gain over the better baseline and cross-validates their :func:`parameter_grid`
    on the same folds with what is left; learners round 1 skipped for their estimate then get
    whatever is still left, cheapest first. Round 3 repeats the cross-validation of everything
    scored so far on other folds (seeds ``seed + 1``, ``seed + 2``, ... up to ``repeats`` runs
    in all) while one more run, timed by the first, fits in what is left of the budget; the runs
    are averaged row by row (:func:`merge_repeats`), which takes out some of the noise of one
    split of a few hundred rows. The choice is :func:`pick`'s on that one board; when there is
    none, the better baseline.
    """
    start = clock()

    def left() -> float | None:
        return None if budget is None else max(budget - (clock() - start), 0.0)

    task, X, labels, target, n_classes = _supervision(X, labels, target)
    candidates = default_candidates(task) if candidates is None else candidates
    by_name = {c.name: c for c in candidates}
    n, d = X.shape

    def run(pool: list[Candidate], fold_seed: int | None, seconds: float | None) -> list[Outcome]:
        return run_candidates(
            pool,
            X,
            labels,
            target,
            n_splits=n_splits,
            seed=fold_seed,
            k=k,
            budget=seconds,
            clock=clock,
            progress=progress,
        )

    outcomes = run(
        _cheapest_first(candidates, n, d, n_classes, n_splits), seed, None if budget is None else budget / 2
    )
    first = leaderboard(outcomes, task)
    tunable = [
        r
        for r in first["rows"]
        if not r["baseline"] and parameter_grid(by_name[r["name"]].learner, d, n_classes)
    ]
    tunable.sort(key=lambda r: -r["gain"]["mean"])
    variants = [
        _variant(by_name[r["name"]].learner, params)
        for r in tunable[:finalists]
        for params in parameter_grid(by_name[r["name"]].learner, d, n_classes)
    ]
    if variants:
        outcomes += run(variants, seed, left())
    # what round 1 left out for want of time gets what round 2 left over, cheapest first
    postponed = [o.candidate for o in outcomes if o.skipped is not None and o.skipped.startswith(_WOULD_TAKE)]
    if postponed and (budget is None or left() > 0):
        names = {c.name for c in postponed}
        outcomes = [o for o in outcomes if o.candidate.name not in names] + run(postponed, seed, left())
    scored = [o for o in outcomes if o.skipped is None]
    runs = [scored]
    # one more run of what was scored costs about what the first took, on the budget's clock
    first_run = clock() - start
    for extra in range(1, max(repeats, 1)):
        if budget is not None and first_run > left():
            break
        again = run([o.candidate for o in scored], None if seed is None else seed + extra, left())
        if any(o.skipped is not None for o in again):  # out of time or failed on these folds: keep what ran
            break
        runs.append(again)
    board = leaderboard(merge_repeats(runs) + [o for o in outcomes if o.skipped is not None], task)
    rows, skipped = board["rows"], board["skipped"]
    choice = pick(rows, task, margin_points)
    baseline = board["best_baseline"]
    return {
        "n_rows": int(n),
        "n_features": int(d),
        "n_classes": n_classes if labels is not None else None,
        "cv": n_splits,
        "seed": seed,
        "k": k,
        "budget_seconds": budget,
        "repeats": len(runs),
        **board,
        "rows": rows,
        "skipped": skipped,
        "choice": choice["name"] if choice else baseline,
        "chosen": choice if choice else next(r for r in rows if r["name"] == baseline),
        "beats_baseline": choice is not None,
        "margin_points": margin_points,
        "verdict": _verdict(
            choice,
            rows,
            baseline,
            BASELINE_TITLES[baseline],
            board["figure"],
            board["confidence"],
            margin_points,
        ),
    }


def refit(
    row: dict[str, Any],
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    seed: int | None = 0,
    learners: dict[str, type[MahalanobisLearner]] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit the chosen leaderboard row on all rows; L for the raw features and the fit's report.

    A baseline gives L = I (Euclidean) or L = diag(1/scale) (standardized Euclidean); a learner
    is fitted on the standardized features and its L folded back: L_raw = L / scale.
    """
    X = np.asarray(X, dtype=np.float64)
    mean, scale = standardization(X)
    if not row["standardize"]:
        mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
    report: dict[str, Any] = {
        "mean": mean.tolist() if row["standardize"] else None,
        "scale": scale.tolist() if row["standardize"] else None,
    }
    if row["baseline"]:
        report.update(iterations=0, objective=None, converged=True, seconds=0.0, objective_history=[])
        return np.diag(1.0 / scale), report
    cls = (learners or LEARNERS)[row["algorithm"]]
    params = dict(row["params"])
    if "random_state" in cls._param_names():
        params["random_state"] = seed
    learner = cls(**params)
    rows, args = fit_arguments(
        cls,
        (X - mean) / scale,
        None if labels is None else np.asarray(labels, dtype=object),
        None if target is None else np.asarray(target, dtype=np.float64),
        seed,
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learner.fit(rows, *args)
    report.update(
        iterations=learner.n_iter_,
        objective=learner.objective_,
        converged=learner.converged_,
        seconds=time.perf_counter() - start,
        objective_history=learner.objective_history_,
        warnings=sorted({str(w.message) for w in caught}),
        params={k: v for k, v in learner.get_params().items() if not isinstance(v, np.ndarray)},
    )
    return learner.components_ / scale[None, :], report


def bundle_selection(result: dict[str, Any]) -> dict[str, Any]:
    """What a bundle written by ``fit auto`` records of its choice: the leaderboard and the why."""
    keep = (
        "name",
        "algorithm",
        "baseline",
        "params",
        "standardize",
        "scores",
        "mean",
        "std",
        "gain",
        "fit_seconds",
    )
    return {
        "method": "cross-validation: every learner at its defaults, then a grid around the two best, "
        "repeated on other folds while the budget allows; the largest gain over the better baseline "
        "(averaged over the runs) whose one-sided lower confidence bound rules out a loss of more "
        "than the margin",
        "bound_level": NONINFERIORITY_LEVEL,
        "repeats": result.get("repeats", 1),
        "task": result["task"],
        "figure": result["figure"],
        "higher_is_better": result["higher_is_better"],
        "cv": result["cv"],
        "seed": result["seed"],
        "k": result["k"],
        "confidence": result["confidence"],
        "margin_points": result["margin_points"],
        "budget_seconds": result["budget_seconds"],
        "best_baseline": result["best_baseline"],
        "choice": result["choice"],
        "beats_baseline": result["beats_baseline"],
        "verdict": result["verdict"],
        "leaderboard": [{key: row[key] for key in keep if key in row} for row in result["rows"]],
        "skipped": [{"name": s["name"], "reason": s["reason"]} for s in result["skipped"]],
    }


def nested_cross_validate(
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    n_splits: int = 5,
    inner_splits: int = 5,
    seed: int | None = 0,
    k: int = 3,
    budget: float | None = None,
    candidates: list[Candidate] | None = None,
    select: Callable[..., dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score the whole choice of :func:`choose` on outer folds it never saw.

    Each outer training part is handed to ``select`` (default :func:`choose`, with
    ``budget / n_splits`` seconds) as if it were all the data: inner folds, choice and refit
    (:func:`refit`) see its rows only; the outer held-out part is then scored by kNN in the
    chosen space, exactly as :func:`metricli.evaluation.cross_validate` scores a learner.
    """
    select = choose if select is None else select
    labels = None if labels is None else np.asarray(labels, dtype=object)
    target = None if target is None else np.asarray(target, dtype=np.float64)
    choices: list[dict[str, Any]] = []

    def fit_components(train: np.ndarray, X_train: np.ndarray) -> np.ndarray:
        fold = len(choices) + 1
        inner_progress = None
        if progress is not None:
            inner_progress = lambda text: progress(f"outer fold {fold} of {n_splits}: {text}")  # noqa: E731
        part_labels = None if labels is None else labels[train]
        part_target = None if target is None else target[train]
        result = select(
            X_train,
            labels=part_labels,
            target=part_target,
            n_splits=inner_splits,
            seed=seed,
            k=k,
            budget=None if budget is None else budget / n_splits,
            candidates=candidates,
            progress=inner_progress,
        )
        learners = {c.learner.name: c.learner for c in candidates or [] if c.learner is not None}
        L, _ = refit(
            result["chosen"],
            X_train,
            labels=part_labels,
            target=part_target,
            seed=seed,
            learners=learners or None,
        )
        choices.append({"fold": fold, "choice": result["choice"], "verdict": result["verdict"]})
        return L

    outer = cross_validate(
        fit_components, X, labels=labels, target=target, n_splits=n_splits, seed=seed, k=k, retrieval=False
    )
    for fold, choice in zip(outer["folds"], choices, strict=True):
        fold["choice"] = choice["choice"]
    return {**outer, "choices": choices}


#: the share of ``fit auto``'s budget kept for refitting the winner on all rows
REFIT_SHARE = 0.25


def choose_and_refit(
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    target: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int | None = 0,
    k: int = 3,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """``fit auto``: :func:`choose` on (1 - REFIT_SHARE) of the budget, then :func:`refit` on all rows.

    Returns L for the raw features, the refit's report and the choice's leaderboard.
    """
    result = choose(
        X,
        labels=labels,
        target=target,
        n_splits=n_splits,
        seed=seed,
        k=k,
        budget=None if budget is None else budget * (1 - REFIT_SHARE),
        progress=progress,
    )
    if progress is not None:
        progress(f"refitting {result['chosen']['name']} on all {X.shape[0]} rows")
    L, fitted = refit(result["chosen"], X, labels=labels, target=target, seed=seed)
    return L, fitted, result
