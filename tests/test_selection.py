"""metricli.selection: the leaderboard, the paired comparison, the verdict and the budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from metricli import evaluation, selection
from metricli.learners import LFDA, NCA, Covariance
from metricli.selection import (
    BASELINES,
    Candidate,
    Outcome,
    compare,
    default_candidates,
    estimate_fit_seconds,
    leaderboard,
    paired_difference,
)
from tests.conftest import FGL, IRIS


def iris_with_noise(extra: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Iris and ``extra`` standard-normal columns: Euclidean kNN drowns in them, a learned metric need not."""
    frame = pd.read_csv(IRIS)
    X = frame.drop(columns="species").to_numpy(dtype=float)
    noise = np.random.default_rng(seed).normal(size=(X.shape[0], extra))
    return np.hstack([X, noise]), frame["species"].to_numpy(dtype=object)


def test_paired_difference_by_hand() -> None:
    # K = 3 fold gains 0.1, 0.2, 0.3: mean 0.2, s² = 0.01; Nadeau-Bengio variance of the mean
    # (1/3 + 10/20) * 0.01 = 0.008333..., se = 0.0912871; t(2, 0.975) = 4.302653
    result = paired_difference([0.1, 0.2, 0.3], n_train=20, n_test=10)
    se = math.sqrt((1 / 3 + 0.5) * 0.01)
    assert se == pytest.approx(0.0912871, abs=1e-7)
    assert result["mean"] == pytest.approx(0.2)
    assert result["std"] == pytest.approx(0.1)
    assert result["low"] == pytest.approx(0.2 - 4.302653 * se, abs=1e-6)
    assert result["high"] == pytest.approx(0.2 + 4.302653 * se, abs=1e-6)
    # t = 0.2 / 0.0912871 = 2.19089 on 2 degrees of freedom: two-sided p = 0.15983
    assert result["p_value"] == pytest.approx(0.15983, abs=1e-4)


def test_paired_difference_of_equal_gains_has_zero_width() -> None:
    result = paired_difference([0.05] * 4, n_train=30, n_test=10)
    assert (result["low"], result["high"], result["p_value"]) == (0.05, 0.05, 0.0)


def test_paired_rows_by_hand() -> None:
    # 100 held-out rows: 13 only the candidate gets right, 2 only the baseline, 60 both, 25 neither
    candidate = np.array([1.0] * 13 + [0.0] * 2 + [1.0] * 60 + [0.0] * 25)
    baseline = np.array([0.0] * 13 + [1.0] * 2 + [1.0] * 60 + [0.0] * 25)
    gain = selection.paired_rows(candidate, baseline, "classification")
    # (b - c)/n = 0.11; variance (b + c - (b - c)²/n)/n² = (15 - 1.21)/10⁴; z = 1.959964;
    # continuity correction 1/n = 0.01
    half = 1.959964 * math.sqrt(13.79) / 100 + 0.01
    assert gain["mean"] == pytest.approx(0.11)
    assert gain["low"] == pytest.approx(0.11 - half, abs=1e-6)
    assert gain["high"] == pytest.approx(0.11 + half, abs=1e-6)
    # McNemar exact: 2 P(X <= 2), X ~ Binomial(15, 1/2) = 2 (1 + 15 + 105) / 2^15
    assert gain["p_value"] == pytest.approx(242 / 32768)
    assert (gain["better"], gain["worse"]) == (13, 2)
    assert selection.beats(gain)
    # the one-sided 95% lower bound: z = 1.644854 instead, the same correction
    assert gain["bound"] == pytest.approx(0.11 - 1.644854 * math.sqrt(13.79) / 100 - 0.01, abs=1e-6)
    # at another level
    bound = selection.paired_rows(candidate, baseline, "classification", bound_level=0.975)["bound"]
    assert bound == pytest.approx(gain["low"], abs=1e-9)


def test_paired_rows_ignore_rows_never_held_out_and_equal_predictions_gain_nothing() -> None:
    same = np.array([1.0, 0.0, np.nan, 1.0])
    gain = selection.paired_rows(same, same.copy(), "classification")
    assert (gain["mean"], gain["low"], gain["high"], gain["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert not selection.beats(gain)


def test_paired_rows_of_a_regression_on_the_rmse_scale_by_hand() -> None:
    # squared errors: baseline 4, 9, 1, 16 (MSE 7.5), candidate 1, 4, 1, 9 (MSE 3.75)
    baseline = np.array([4.0, 9.0, 1.0, 16.0])
    candidate = np.array([1.0, 4.0, 1.0, 9.0])
    gain = selection.paired_rows(candidate, baseline, "regression")
    assert gain["mean"] == pytest.approx(math.sqrt(7.5) - math.sqrt(3.75))
    # differences 3, 5, 0, 7: mean 3.75, sd 2.986079, se 1.493039
    half = 1.959964 * 2.986079 / 2
    assert gain["low"] == pytest.approx(math.sqrt(7.5) - math.sqrt(7.5 - (3.75 - half)), abs=1e-5)
    assert gain["high"] == pytest.approx(math.sqrt(7.5) - math.sqrt(max(7.5 - (3.75 + half), 0)), abs=1e-5)
    one_sided = 3.75 - 1.644854 * 2.986079 / 2
    assert gain["bound"] == pytest.approx(math.sqrt(7.5) - math.sqrt(7.5 - one_sided), abs=1e-5)


def _outcome(candidate: Candidate, right: list[int], folds: int = 3) -> Outcome:
    """An outcome from per-row right (1) / wrong (0) votes, the rows dealt into ``folds`` folds in order."""
    values = np.asarray(right, dtype=float)
    parts = np.array_split(values, folds)
    return Outcome(
        candidate,
        scores=[float(p.mean()) for p in parts],
        fit_seconds=[0.0] * folds,
        n_train=[values.size - p.size for p in parts],
        n_test=[p.size for p in parts],
        row_values=[values],
    )


def test_leaderboard_gains_against_the_better_baseline_row_by_row() -> None:
    euclidean, standardized = BASELINES
    learner = Candidate("nca", NCA)
    # 60 rows in 3 folds of 20; standardized is right on rows 0-44, euclidean on 0-39
    # (and 50-52), nca on 0-54: 10 rows better than standardized, none worse
    base = [1] * 45 + [0] * 15
    board = leaderboard(
        [
            _outcome(euclidean, [1] * 40 + [0] * 10 + [1] * 3 + [0] * 7),
            _outcome(standardized, base),
            _outcome(learner, [1] * 55 + [0] * 5),
        ],
        "classification",
    )
    assert board["best_baseline"] == "standardized"
    assert [row["name"] for row in board["rows"]] == ["nca", "standardized", "euclidean"]
    rows = {row["name"]: row for row in board["rows"]}
    assert "gain" not in rows["standardized"]
    assert rows["nca"]["gain"] == selection.paired_rows(
        np.array([1.0] * 55 + [0.0] * 5), np.array(base, dtype=float), "classification"
    )
    assert (rows["nca"]["gain"]["better"], rows["nca"]["gain"]["worse"]) == (10, 0)
    assert rows["nca"]["gain"]["mean"] == pytest.approx(10 / 60)
    # fold by fold: standardized 1, 1, 0.25 and nca 1, 1, 0.75
    assert rows["nca"]["fold_gain"] == paired_difference([0.0, 0.0, 0.5], 40, 20)
    # euclidean: right on 3 rows standardized gets wrong, wrong on 5 it gets right
    assert (rows["euclidean"]["gain"]["better"], rows["euclidean"]["gain"]["worse"]) == (3, 5)
    assert board["choice"] == "nca"
    assert board["verdict"].startswith("use nca: +16.7 points of accuracy over standardized Euclidean")


def test_regression_gain_is_the_baselines_rmse_minus_the_learners() -> None:
    euclidean, standardized = BASELINES

    def regression(candidate: Candidate, squared_errors: list[float]) -> Outcome:
        values = np.asarray(squared_errors)
        parts = np.array_split(values, 2)
        return Outcome(
            candidate,
            scores=[float(np.sqrt(p.mean())) for p in parts],
            fit_seconds=[0.0, 0.0],
            n_train=[2, 2],
            n_test=[2, 2],
            row_values=[values],
        )

    board = leaderboard(
        [
            regression(euclidean, [4.0, 4.0, 9.0, 9.0]),
            regression(standardized, [9.0, 9.0, 16.0, 16.0]),
            regression(Candidate("covariance", Covariance), [4.0, 9.0, 9.0, 16.0]),
        ],
        "regression",
    )
    assert board["best_baseline"] == "euclidean"  # lower RMSE is better
    gain = next(r for r in board["rows"] if r["name"] == "covariance")["gain"]
    assert gain["mean"] == pytest.approx(math.sqrt(6.5) - math.sqrt(9.5))
    assert board["choice"] is None
    assert board["verdict"].startswith("no learned metric beats Euclidean here")
    assert f"RMSE higher by {math.sqrt(9.5) - math.sqrt(6.5):.4g} than Euclidean's" in board["verdict"]


def test_a_learned_metric_wins_on_iris_with_noise_columns() -> None:
    X, y = iris_with_noise()
    result = compare(X, labels=y, n_splits=3, seed=0)
    chosen = next(row for row in result["rows"] if row["name"] == result["choice"])
    assert not chosen["baseline"]
    assert chosen["gain"]["low"] > 0
    # eight noise columns cost Euclidean kNN about 15 points of accuracy on iris
    euclidean = next(row for row in result["rows"] if row["name"] == "euclidean")
    assert euclidean["mean"] < 0.85
    assert chosen["mean"] > 0.95
    assert result["verdict"].startswith(f"use {chosen['name']}: +")


def test_nothing_beats_euclidean_on_pure_noise() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 6))
    y = rng.choice(np.array(["a", "b", "c"], dtype=object), size=150)
    result = compare(X, labels=y, n_splits=3, seed=0)
    assert result["choice"] is None
    assert result["verdict"].startswith("no learned metric beats")
    assert not any(selection.beats(row["gain"]) for row in result["rows"] if "gain" in row)


def test_on_forensic_glass_every_learner_loses_to_euclidean_and_none_is_picked() -> None:
    frame = pd.read_csv(FGL)
    X, y = frame.drop(columns="type").to_numpy(dtype=float), frame["type"].to_numpy(dtype=object)
    result = compare(X, labels=y, n_splits=5, seed=0, candidates=QUICK)
    assert result["best_baseline"] == "euclidean"
    assert all(row["gain"]["mean"] < 0 for row in result["rows"] if not row["baseline"])
    assert result["choice"] is None
    assert result["verdict"].startswith("no learned metric beats Euclidean here (best learner ")


def test_every_applicable_learner_is_compared() -> None:
    names = {c.name for c in default_candidates("classification")}
    assert names == {
        "euclidean",
        "standardized",
        "covariance",
        "nca",
        "lmnn",
        "lfda",
        "self",
        "rca",
        "kissme",
        "itml",
        "sdml",
        "mmc",
        "lsml",
        "scml",
    }
    assert {c.name for c in default_candidates("regression")} == {
        "euclidean",
        "standardized",
        "mlkr",
        "covariance",
    }


def test_a_class_too_small_for_a_learner_skips_it_with_the_reason() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (40, 4)), rng.normal(2, 1, (40, 4)), rng.normal(-2, 1, (2, 4))])
    y = np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 2, dtype=object)
    candidates = [*BASELINES, Candidate("lmnn", selection.LEARNERS["lmnn"]), Candidate("lfda", LFDA)]
    result = compare(X, labels=y, n_splits=3, candidates=candidates)
    skipped = {s["name"]: s["reason"] for s in result["skipped"]}
    # the 2 points of class c fall in two folds: a training part holding one has no target neighbour
    assert list(skipped) == ["lmnn"]
    assert "class 'c' has a single point" in skipped["lmnn"]
    assert {row["name"] for row in result["rows"]} == {"euclidean", "standardized", "lfda"}


class _FrozenClock:
    """A clock that never advances: the budget is then spent by the estimates alone."""

    def __call__(self) -> float:
        return 0.0


def test_budget_skips_exactly_the_learners_whose_estimate_does_not_fit() -> None:
    X, y = iris_with_noise(extra=2)
    candidates = default_candidates("classification")
    n_fit, d = 100, X.shape[1]  # 3 folds of 150 rows: 100 training rows each
    estimates = {
        c.name: 3 * estimate_fit_seconds(c, n_fit, d, 3) + selection.estimate_scoring_seconds(150, d, 3)
        for c in candidates
        if not c.is_baseline
    }
    ordered = sorted(set(estimates.values()))
    budget = (ordered[0] + ordered[1]) / 2  # between the cheapest estimate and the next
    result = compare(X, labels=y, n_splits=3, budget=budget, clock=_FrozenClock())
    ran = {row["name"] for row in result["rows"] if not row["baseline"]}
    assert ran == {name for name, seconds in estimates.items() if seconds <= budget}
    assert ran and len(ran) < len(estimates)
    skipped = {s["name"]: s for s in result["skipped"]}
    assert set(skipped) == set(estimates) - ran
    for name, entry in skipped.items():
        assert entry["estimate_seconds"] == pytest.approx(estimates[name])
        assert entry["reason"].startswith("would take about")
    # the same budget gives the same run
    again = compare(X, labels=y, n_splits=3, budget=budget, clock=_FrozenClock())
    assert {row["name"] for row in again["rows"]} == {row["name"] for row in result["rows"]}


def test_a_learner_under_way_stops_after_its_fold_when_the_budget_runs_out() -> None:
    X, y = iris_with_noise(extra=2)
    now = [0.0]

    class TenSecondLFDA(LFDA):
        """LFDA whose every fit takes ten seconds on the test's clock."""

        def fit(self, X, y):
            now[0] += 10.0
            return super().fit(X, y)

    # the estimate (well under a second) fits in 15 s; after two folds 20 s are spent
    result = compare(
        X,
        labels=y,
        n_splits=3,
        budget=15.0,
        candidates=[*BASELINES, Candidate("lfda", TenSecondLFDA)],
        clock=lambda: now[0],
    )
    skipped = {s["name"]: s["reason"] for s in result["skipped"]}
    assert skipped == {"lfda": "stopped after 2 of 3 folds: the budget ran out"}
    assert {row["name"] for row in result["rows"]} == {"euclidean", "standardized"}


def test_estimates_grow_with_size() -> None:
    nca = Candidate("nca", NCA)
    small, large = estimate_fit_seconds(nca, 500, 10, 3), estimate_fit_seconds(nca, 5000, 10, 3)
    assert large > 50 * (small - 0.02)
    assert estimate_fit_seconds(BASELINES[0], 10**6, 100, 3) == 0.0


# -- the pick rule -------------------------------------------------------------------------------


def _row(name: str, mean: float, bound: float, high: float, *, estimate: float = 1.0) -> dict:
    """A learner's leaderboard row with a given gain, one-sided lower bound and upper end over the
    better baseline (the two-sided interval's lower end set below the bound, as it always is)."""
    gain = {"mean": mean, "low": bound - 0.001, "bound": bound, "high": high, "p_value": 0.5}
    return {"name": name, "baseline": False, "gain": gain, "estimate_seconds": estimate, "mean": 0.0}


def _board(*learners: dict, base_mean: float = 0.9) -> list[dict]:
    base = {"name": "euclidean", "baseline": True, "mean": base_mean, "estimate_seconds": 0.0}
    other = {"name": "standardized", "baseline": True, "mean": base_mean - 0.1, "estimate_seconds": 0.0}
    other["gain"] = {"mean": -0.1, "low": -0.12, "bound": -0.117, "high": -0.08, "p_value": 0.001}
    return [base, other, *learners]


def test_pick_takes_the_largest_gain_that_rules_out_a_loss_beyond_the_margin() -> None:
    rows = _board(
        _row("wide", 0.050, -0.020, 0.120),  # largest gain, but a 2-point loss is not ruled out
        _row("close", 0.030, -0.004, 0.064),  # a loss of more than 0.5 points ruled out
        _row("sure", 0.010, 0.002, 0.018),  # the only one a superiority test would accept
        _row("worse", -0.010, -0.030, 0.010),
    )
    assert selection.pick(rows, "classification")["name"] == "close"
    # a margin of 3 points admits "wide"; a margin of 0.2 points leaves only "sure"
    assert selection.pick(rows, "classification", points=3)["name"] == "wide"
    assert selection.pick(rows, "classification", points=0.2)["name"] == "sure"
    # the bound must lie above -0.5 points, not on it
    edge = _board(_row("edge", 0.03, -0.005, 0.065), _row("inside", 0.02, -0.0049, 0.0449))
    assert selection.pick(edge, "classification")["name"] == "inside"
    # no positive gain, or none whose bound rules out the loss: the baseline
    assert selection.pick(_board(_row("worse", -0.01, -0.004, 0.02)), "classification") is None
    assert selection.pick(_board(_row("wide", 0.05, -0.02, 0.12)), "classification") is None


def test_the_pick_is_a_one_sided_test_at_five_percent() -> None:
    # 400 rows, 5 better and 1 worse: +1.0 point; se sqrt(6 - 16/400)/400, correction 1/400.
    # The two-sided 95% interval's lower end, 0.01 - 1.959964 * 0.0061 - 0.0025 = -0.45 points,
    # rules out a loss of half a point; so does the one-sided 95% bound, -0.25 points
    board = _nca_board(5, 1)
    nca = next(r for r in board["rows"] if r["name"] == "nca")
    se = math.sqrt(6 - 16 / 400) / 400
    assert nca["gain"]["low"] == pytest.approx(0.01 - 1.959964 * se - 0.0025)
    assert nca["gain"]["bound"] == pytest.approx(0.01 - 1.644854 * se - 0.0025, abs=1e-8)
    assert board["choice"] == "nca"
    # 4 better and 1 worse: +0.75 points, se sqrt(5 - 9/400)/400: two-sided lower end -0.59 points
    # (a one-sided test at 2.5% keeps the baseline), one-sided bound -0.42: a loss of more than
    # half a point is ruled out at 5%, and nca is chosen
    board = _nca_board(4, 1)
    nca = next(r for r in board["rows"] if r["name"] == "nca")
    assert nca["gain"]["low"] < -0.005 < nca["gain"]["bound"]
    assert board["choice"] == "nca"
    rows = [
        {**r, "gain": {**r["gain"], "bound": r["gain"]["low"]}} if "gain" in r else r for r in board["rows"]
    ]
    assert selection.pick(rows, "classification") is None


def test_pick_gives_equal_gains_to_the_cheaper_learner_then_the_name() -> None:
    rows = _board(
        _row("slow", 0.02, 0.0, 0.04, estimate=9.0),
        _row("quick", 0.02, 0.0, 0.04, estimate=0.1),
        _row("also-quick", 0.02, 0.0, 0.04, estimate=0.1),
    )
    assert selection.pick(rows, "classification")["name"] == "also-quick"
    assert selection.pick(rows[:3], "classification")["name"] == "slow"


def test_pick_on_rmse_takes_the_margin_as_a_share_of_the_baselines_rmse() -> None:
    # baseline RMSE 50: half a point is 0.25 on the RMSE scale
    assert selection.margin("regression", 50.0) == pytest.approx(0.25)
    inside = _board(_row("mlkr", 1.0, -0.24, 2.24), base_mean=50.0)
    outside = _board(_row("mlkr", 1.0, -0.26, 2.26), base_mean=50.0)
    assert selection.pick(inside, "regression")["name"] == "mlkr"
    assert selection.pick(outside, "regression") is None


def _paired(better: int, worse: int, n: int = 400) -> tuple[list[int], list[int]]:
    """Baseline and learner votes on n rows: the baseline right on 3/4 of them, the learner right
    on ``better`` rows the baseline misses and wrong on ``worse`` rows it gets right."""
    base = [1] * (3 * n // 4) + [0] * (n // 4)
    learner = list(base)
    for i in range(worse):
        learner[i] = 0
    for i in range(better):
        learner[n - 1 - i] = 1
    return base, learner


def _nca_board(better: int, worse: int) -> dict:
    """The leaderboard of the two baselines and an NCA better than Euclidean on ``better`` of
    400 rows and worse on ``worse``, over 4 folds."""
    euclidean, standardized = BASELINES
    base, learner = _paired(better, worse)
    return leaderboard(
        [
            _outcome(euclidean, base, folds=4),
            _outcome(standardized, [1] * 200 + [0] * 200, folds=4),
            _outcome(Candidate("nca", NCA), learner, folds=4),
        ],
        "classification",
    )


def test_the_verdict_says_why_the_pick_was_made_or_not() -> None:
    # 400 rows, 7 better and 1 worse: gain 6/400 = +1.5 points, 95% CI 0.015 -+ (1.959964 *
    # sqrt(8 - 36/400) / 400 + 1/400) = -0.13 to +3.13 points; McNemar p = 2 * 9/256 = 0.0703:
    # not a significant gain, but a loss of more than half a point is ruled out (one-sided bound
    # 0.015 - 1.644854 * sqrt(7.91) / 400 - 0.0025 = +0.09 points)
    board = _nca_board(7, 1)
    nca = next(r for r in board["rows"] if r["name"] == "nca")
    assert nca["gain"]["p_value"] == pytest.approx(18 / 256)
    assert nca["gain"]["low"] == pytest.approx(0.015 - 1.959964 * math.sqrt(8 - 0.09) / 400 - 0.0025)
    assert nca["gain"]["bound"] == pytest.approx(
        0.015 - 1.644854 * math.sqrt(8 - 0.09) / 400 - 0.0025, abs=1e-8
    )
    assert not selection.beats(nca["gain"])
    assert board["choice"] == "nca"
    assert board["verdict"] == (
        "use nca: +1.5 points of accuracy over Euclidean (95% CI -0.1 to +3.1, p = 0.07); "
        "the largest gain whose one-sided 95% lower bound (+0.1) rules out a loss of more than 0.5 points"
    )
    # 3 better and 1 worse: +0.5 points, bound 0.005 - 1.644854 * sqrt(3.99) / 400 - 0.0025 = -0.57
    board = _nca_board(3, 1)
    assert board["choice"] is None
    assert board["verdict"] == (
        "no learned metric beats Euclidean here (best learner nca: +0.5 points of accuracy over "
        "Euclidean (95% CI -0.7 to +1.7, p = 0.62), which does not rule out a loss of more than 0.5 points)"
    )


# -- choosing -------------------------------------------------------------------------------------


def pure_noise(seed: int = 0, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Features of different scales with no relation to random labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * rng.uniform(0.5, 5, size=5)
    return X, rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)


def test_the_baseline_is_chosen_on_pure_noise_features() -> None:
    X, y = pure_noise()
    result = selection.choose(X, labels=y, n_splits=3, seed=0)
    assert not result["beats_baseline"]
    assert result["choice"] == result["best_baseline"]
    assert result["chosen"]["baseline"]
    # round 2 ran: grid variants are on the board, and none of them qualifies either
    assert any(" " in row["name"] for row in result["rows"])
    assert not any(selection.admissible(row["gain"], 0.005) for row in result["rows"] if "gain" in row)


#: closed-form learners and ITML (its pairs drawn with the seed): fast enough for nested runs
QUICK = [
    *BASELINES,
    *(Candidate(name, selection.LEARNERS[name]) for name in ("lfda", "kissme", "rca", "itml")),
]


def test_the_same_seed_gives_the_same_choice() -> None:
    X, y = iris_with_noise()
    first = selection.choose(X, labels=y, n_splits=3, seed=7, candidates=QUICK)
    second = selection.choose(X, labels=y, n_splits=3, seed=7, candidates=QUICK)
    assert first["beats_baseline"]
    assert first["choice"] == second["choice"]
    assert [(r["name"], r["scores"]) for r in first["rows"]] == [
        (r["name"], r["scores"]) for r in second["rows"]
    ]
    L1, _ = selection.refit(first["chosen"], X, labels=y, seed=7)
    L2, _ = selection.refit(second["chosen"], X, labels=y, seed=7)
    np.testing.assert_array_equal(L1, L2)


def test_refit_of_a_baseline_is_the_identity_or_the_standardization() -> None:
    X, _ = pure_noise()
    euclidean = {
        "name": "euclidean",
        "algorithm": "euclidean",
        "baseline": True,
        "standardize": False,
        "params": {},
    }
    L, _ = selection.refit(euclidean, X)
    np.testing.assert_array_equal(L, np.eye(5))
    L, report = selection.refit({**euclidean, "name": "standardized", "standardize": True}, X)
    np.testing.assert_allclose(L, np.diag(1 / X.std(axis=0)), rtol=1e-12)
    assert report["scale"] == pytest.approx(X.std(axis=0).tolist())


def test_refit_folds_the_standardization_into_the_learners_L() -> None:
    X, y = iris_with_noise(extra=2)
    row = {"name": "lfda", "algorithm": "lfda", "baseline": False, "standardize": True, "params": {"k": 3}}
    L, report = selection.refit(row, X, labels=y)
    direct = LFDA(k=3).fit((X - X.mean(axis=0)) / X.std(axis=0), y.astype(str))
    np.testing.assert_allclose(L, direct.components_ / X.std(axis=0), rtol=1e-10, atol=1e-12)
    assert report["params"]["k"] == 3


def _ids(X: np.ndarray) -> set[int]:
    return {int(v) for v in X[:, 0]}


def _touched_test_rows(X: np.ndarray, y: np.ndarray, leak: bool) -> list[int]:
    """Run nested CV with a selection that records the rows it is given; count outer test rows among them.

    Column 0 of X is the row number. With ``leak`` the selection is handed every row instead of
    the outer training part it was given: the bug this test must catch.
    """
    seen: list[set[int]] = []

    def recording_choose(X_part: np.ndarray, **options):
        if leak:
            X_part, options["labels"] = X, y
        seen.append(_ids(X_part))
        return selection.choose(X_part, **options)

    candidates = [*BASELINES, Candidate("lfda", LFDA)]
    result = selection.nested_cross_validate(
        X, labels=y, n_splits=3, inner_splits=3, seed=0, candidates=candidates, select=recording_choose
    )
    folds = evaluation.stratified_folds(y.astype(str), 3, seed=0)
    assert len(seen) == len(folds) == len(result["folds"])
    return [len(rows & {int(i) for i in test}) for rows, test in zip(seen, folds, strict=True)]


def test_nested_cross_validation_never_lets_a_test_fold_touch_the_choice() -> None:
    X, y = iris_with_noise(extra=2)
    X = np.hstack([np.arange(X.shape[0], dtype=float)[:, None], X])
    assert _touched_test_rows(X, y, leak=False) == [0, 0, 0]
    # the same check catches a selection that sees everything: 50 test rows per fold
    assert _touched_test_rows(X, y, leak=True) == [50, 50, 50]


def test_nested_cross_validation_scores_the_choice_on_the_outer_folds() -> None:
    X, y = iris_with_noise()
    result = selection.nested_cross_validate(
        X, labels=y, n_splits=3, inner_splits=5, seed=0, candidates=QUICK
    )
    assert len(result["choices"]) == 3
    learned = result["summary"]["learned"]["accuracy"]["mean"]
    euclidean = result["summary"]["euclidean"]["accuracy"]["mean"]
    names = {c.name for c in QUICK} | {
        r["name"] for r in selection.choose(X, labels=y, n_splits=5, candidates=QUICK)["rows"]
    }
    assert {fold["choice"] for fold in result["folds"]} <= names
    # the choices, made without the held-out rows, beat Euclidean on them by the ~15 points the
    # noise columns cost it (Euclidean 0.82)
    assert learned > euclidean + 0.1
    # and come within the noise of the best single learner on the same outer folds, a learner
    # picked with the held-out rows' help: kissme 0.980, fit auto 0.967 (LFDA on every outer
    # part), two rows of 150 apart; RCA at its defaults, 0.947, would fail this
    board = compare(X, labels=y, n_splits=3, seed=0, candidates=QUICK)
    best = max(row["mean"] for row in board["rows"] if not row["baseline"])
    assert learned >= best - 0.02


def test_choose_gives_a_learner_round_one_had_no_time_for_what_round_two_left() -> None:
    X, y = iris_with_noise(extra=2)
    lfda, scml = Candidate("lfda", LFDA), Candidate("scml", selection.LEARNERS["scml"])
    estimate = {
        c.name: 3 * estimate_fit_seconds(c, 100, X.shape[1], 3)
        + selection.estimate_scoring_seconds(150, 6, 3)
        for c in (lfda, scml)
    }
    assert estimate["scml"] > 2 * estimate["lfda"]
    # round 1 has half the budget: too little for SCML; with a frozen clock round 3 has all of it
    budget = 1.5 * estimate["scml"]
    first = compare(
        X, labels=y, n_splits=3, budget=budget / 2, candidates=[*BASELINES, lfda, scml], clock=_FrozenClock()
    )
    assert [s["name"] for s in first["skipped"]] == ["scml"]
    result = selection.choose(
        X, labels=y, n_splits=3, budget=budget, candidates=[*BASELINES, lfda, scml], clock=_FrozenClock()
    )
    assert result["skipped"] == []
    assert "scml" in {row["name"] for row in result["rows"]}


# -- repeated inner cross-validation -----------------------------------------------------------


def test_paired_runs_average_the_runs_gains_and_keep_one_runs_width() -> None:
    # two runs over the same 400 rows: 7 better / 1 worse, then 3 better / 1 worse
    base1, learner1 = _paired(7, 1)
    base2, learner2 = _paired(3, 1)
    runs = [np.array(learner1, float), np.array(learner2, float)]
    bases = [np.array(base1, float), np.array(base2, float)]
    one, two = (selection.paired_rows(x, y, "classification") for x, y in zip(runs, bases, strict=True))
    gain = selection.paired_runs(runs, bases, "classification")
    assert gain["mean"] == pytest.approx((0.015 + 0.005) / 2)
    # the width is the runs' mean width, not that of 800 rows: repeats share their rows
    width = ((one["high"] - one["low"]) + (two["high"] - two["low"])) / 2
    assert gain["high"] - gain["low"] == pytest.approx(width)
    assert gain["low"] == pytest.approx(0.01 - (one["mean"] - one["low"] + two["mean"] - two["low"]) / 2)
    # the one-sided bound likewise: the runs' mean distance below their gains
    assert gain["bound"] == pytest.approx(
        0.01 - (one["mean"] - one["bound"] + two["mean"] - two["bound"]) / 2
    )
    assert gain["p_value"] == pytest.approx((one["p_value"] + two["p_value"]) / 2)  # median of two
    assert gain["runs"] == 2
    # one run is paired_rows itself
    assert selection.paired_runs(runs[:1], bases[:1], "classification") == one


def test_merge_repeats_keeps_every_run_and_fold() -> None:
    lfda = Candidate("lfda", LFDA)
    first = [_outcome(BASELINES[0], [1, 1, 0, 0, 1, 0]), _outcome(lfda, [1, 1, 1, 0, 1, 0])]
    second = [_outcome(BASELINES[0], [1, 0, 0, 1, 1, 0]), _outcome(lfda, [1, 1, 1, 1, 0, 0])]
    second[1].warnings = ["slow"]
    merged = selection.merge_repeats([first, second])
    assert [o.candidate for o in merged] == [BASELINES[0], lfda]
    assert len(merged[1].row_values) == 2
    np.testing.assert_array_equal(merged[1].row_values[1], [1, 1, 1, 1, 0, 0])
    assert merged[1].scores == first[1].scores + second[1].scores
    assert len(merged[0].n_test) == 6 and merged[1].warnings == ["slow"]
    # the leaderboard's gain is the two runs' gains averaged
    standardized = selection.merge_repeats([[_outcome(BASELINES[1], [0] * 6)]] * 2)
    board = leaderboard([*merged, *standardized], "classification")
    row = next(r for r in board["rows"] if r["name"] == "lfda")
    assert row["gain"]["mean"] == pytest.approx((1 / 6 + 1 / 6) / 2)
    # a candidate skipped in one run is skipped
    second[1] = Outcome(lfda, skipped="stopped after 1 of 3 folds: the budget ran out")
    merged = selection.merge_repeats([first, second])
    assert merged[1].skipped == "stopped after 1 of 3 folds: the budget ran out"
    with pytest.raises(ValueError):
        selection.merge_repeats([first, first[::-1]])


def test_repeats_do_not_let_a_learner_through_on_pure_noise() -> None:
    # with an interval of the row-averaged differences over 2 to 7 runs, ITML (gamma 0.1) or LFDA
    # came through on these noise features with gains of 3-5 points; with one run's width, none does
    X, y = pure_noise()
    for repeats in (2, 3, 6):
        result = selection.choose(X, labels=y, n_splits=3, seed=0, repeats=repeats)
        assert result["repeats"] == repeats
        assert result["choice"] == result["best_baseline"], repeats


def test_choose_repeats_the_cross_validation_on_other_folds() -> None:
    X, y = iris_with_noise(extra=2)
    quick = [*BASELINES, Candidate("rca", selection.LEARNERS["rca"])]
    once = selection.choose(X, labels=y, n_splits=3, seed=0, candidates=quick, repeats=1)
    thrice = selection.choose(X, labels=y, n_splits=3, seed=0, candidates=quick, repeats=3)
    assert (once["repeats"], thrice["repeats"]) == (1, 3)
    rows = {r["name"]: r for r in thrice["rows"]}
    first = {r["name"]: r for r in once["rows"]}
    for name in ("euclidean", "standardized", "rca"):
        # the first run's folds, then those of seeds 1 and 2: other folds, other scores
        assert rows[name]["scores"][:3] == first[name]["scores"]
        assert len(rows[name]["scores"]) == 9
        assert rows[name]["scores"][3:6] != rows[name]["scores"][:3]
        again = compare(X, labels=y, n_splits=3, seed=2, candidates=quick)
        assert rows[name]["scores"][6:] == next(r for r in again["rows"] if r["name"] == name)["scores"]


def test_choose_repeats_only_while_one_more_run_fits_in_the_budget() -> None:
    X, y = iris_with_noise(extra=2)
    now = [0.0]

    class TenSecondRCA(selection.LEARNERS["rca"]):
        """RCA whose every fit takes ten seconds on the test's clock (RCA has no grid)."""

        def fit(self, X, chunks):
            now[0] += 10.0
            return super().fit(X, chunks)

    candidates = [*BASELINES, Candidate("rca", TenSecondRCA)]

    def repeats(budget: float | None) -> int:
        now[0] = 0.0
        result = selection.choose(
            X, labels=y, n_splits=3, budget=budget, candidates=candidates, repeats=4, clock=lambda: now[0]
        )
        assert len(next(r for r in result["rows"] if r["name"] == "rca")["scores"]) == 3 * result["repeats"]
        return result["repeats"]

    # one run is 3 fits, 30 s: after it, 100 s leave 70 (two more runs, then 10 s < 30 s)
    assert repeats(100.0) == 3
    assert repeats(59.0) == 1
    assert repeats(None) == 4
