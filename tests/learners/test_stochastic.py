"""The stochastic solvers of NCA, LMNN and MLKR: candidate-restricted gradients against the exact
objectives and finite differences, minibatch averages, the auto rule, and fits on real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricli.errors import MetricliError
from metricli.evaluation import knn_classify, standardization
from metricli.kernels import DifferenceScatter
from metricli.learners import LMNN, MLKR, NCA
from metricli.learners.candidates import nearest_others
from metricli.learners.labels import class_layout
from metricli.learners.lmnn import lmnn_objective, target_neighbours
from metricli.learners.mlkr import mlkr_objective
from metricli.learners.nca import nca_objective
from metricli.learners.stochastic import (
    AUTO_FULL_UP_TO,
    CandidateBatch,
    choose_solver,
    draw_candidates,
    lmnn_batch,
    mlkr_batch,
    nca_batch,
)

from .weak_fixtures import central_difference

DIGITS = Path(__file__).resolve().parents[1] / "data" / "digits.csv"


def everyone(n: int) -> CandidateBatch:
    """Every point an anchor, every other point its candidate with weight 1."""
    others = np.array([[j for j in range(n) if j != i] for i in range(n)])
    return CandidateBatch(np.arange(n), others, np.ones(others.shape))


def toy(seed: int, n: int = 30, d: int = 4, k: int = 3, classes: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sort(rng.integers(0, classes, n))  # sorted by class, as the learners hold them
    L = 0.7 * rng.standard_normal((k, d))
    return X, y, L


@pytest.mark.parametrize("seed", [0, 1])
def test_nca_with_every_point_a_candidate_is_the_exact_objective_and_gradient(seed):
    X, y, L = toy(seed)
    layout = class_layout(y, len(y), "nca")
    f_full, G = nca_objective(X, L, layout.sorted_codes, layout.bounds, 2**20)
    f, gradient = nca_batch(X, y, L, everyone(len(y)))
    assert f == pytest.approx(f_full, rel=1e-12)
    exact = 2 * L @ G
    assert np.max(np.abs(gradient - exact)) <= 1e-10 * np.max(np.abs(exact))


@pytest.mark.parametrize("seed", [0, 1])
def test_mlkr_with_every_point_a_candidate_is_the_exact_objective_and_gradient(seed):
    X, _, L = toy(seed)
    t = np.random.default_rng(seed + 10).standard_normal(len(X))
    loss_full, G = mlkr_objective(X, L, t, 2**20)
    loss, gradient = mlkr_batch(X, t, L, everyone(len(X)))
    assert loss == pytest.approx(loss_full, rel=1e-12)
    exact = 2 * L @ G
    assert np.max(np.abs(gradient - exact)) <= 1e-10 * np.max(np.abs(exact))


@pytest.mark.parametrize("seed", [0, 1])
def test_lmnn_with_every_other_class_point_a_candidate_is_the_exact_objective_and_gradient(seed):
    X, y, L = toy(seed, n=36)
    layout = class_layout(y, len(y), "lmnn")
    targets = target_neighbours(X, layout.bounds, 2, 2**20)
    anchors = np.repeat(np.arange(len(y)), 2)
    pull = DifferenceScatter(X)
    pull.add_pairs(anchors, targets.ravel(), np.ones(anchors.size))
    loss_full, G, _ = lmnn_objective(X, L, targets, layout.bounds, pull.result(), 0.4, 2**20)
    # every point a candidate; same-class candidates are never impostors
    loss, gradient, _ = lmnn_batch(X, y, targets, L, everyone(len(y)), 0.4)
    assert loss == pytest.approx(loss_full, rel=1e-12)
    exact = 2 * L @ G
    assert np.max(np.abs(gradient - exact)) <= 1e-10 * np.max(np.abs(exact))


def weighted_batch(seed: int, n: int, c: int) -> CandidateBatch:
    rng = np.random.default_rng(seed)
    anchors = rng.choice(n, 8, replace=False)
    candidates = np.array([rng.choice(np.delete(np.arange(n), a), c, replace=False) for a in anchors])
    weights = rng.uniform(0.0, 5.0, candidates.shape)
    weights[:, 0] = 1.0
    weights[0, -1] = 0.0  # an unused draw
    return CandidateBatch(anchors, candidates, weights)


@pytest.mark.parametrize("learner", ["nca", "mlkr", "lmnn"])
def test_candidate_gradient_with_weights_matches_central_differences(learner):
    X, y, L = toy(3, n=40)
    batch = weighted_batch(4, len(y), 12)
    t = np.random.default_rng(5).standard_normal(len(y))
    targets = target_neighbours(X, class_layout(y, len(y), "lmnn").bounds, 2, 2**20)

    def evaluate(A):
        if learner == "nca":
            return nca_batch(X, y, A, batch)
        if learner == "mlkr":
            return mlkr_batch(X, t, A, batch)
        return lmnn_batch(X, y, targets, A, batch, 0.5)[:2]

    analytic = evaluate(L)[1]
    numeric = central_difference(lambda A: evaluate(A)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


def test_nca_on_candidates_by_hand():
    # points 0, 1, 2, 3 on a line, classes {0, 1} and {2, 3}, L = 1: d_ij = (i - j)².
    # Anchor 0 with candidates 1 (weight 1) and 3 (weight 2, a random draw standing for two points):
    #   p_0 = e^-1 / (e^-1 + 2 e^-9).
    # Anchor 2 with candidates 3 (weight 1) and 0 (weight 0, a draw that is unused): p_2 = 1.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    batch = CandidateBatch(np.array([0, 2]), np.array([[1, 3], [3, 0]]), np.array([[1.0, 2.0], [1.0, 0.0]]))
    f, _ = nca_batch(X, y, np.array([[1.0]]), batch)
    e = math.exp
    assert f == pytest.approx(e(-1) / (e(-1) + 2 * e(-9)) + 1.0, rel=1e-14)


@pytest.mark.parametrize("learner", ["nca", "mlkr", "lmnn"])
def test_minibatches_add_up_to_the_candidate_restricted_full_gradient(learner):
    X, y, L = toy(6, n=60)
    t = np.random.default_rng(12).standard_normal(60)
    bounds = class_layout(y, len(y), "lmnn").bounds
    targets = target_neighbours(X, bounds, 2, 2**20)
    lmnn = learner == "lmnn"
    near = nearest_others(X @ L.T, 8, bounds if lmnn else None)
    rng = np.random.default_rng(0)
    # the candidates of every anchor, drawn once: the candidate-restricted full objective
    whole = draw_candidates(np.arange(60), near, 60, 4, rng, extrapolate=not lmnn)

    def gradient(rows) -> tuple[float, np.ndarray]:
        batch = CandidateBatch(whole.anchors[rows], whole.candidates[rows], whole.weights[rows])
        if learner == "nca":
            return nca_batch(X, y, L, batch)
        if learner == "mlkr":
            return mlkr_batch(X, t, L, batch)
        return lmnn_batch(X, y, targets, L, batch, 0.4)[:2]

    f_all, g_all = gradient(np.arange(60))
    # batches that partition the anchors sum to it exactly
    parts = [gradient(np.arange(60)[s]) for s in (slice(0, 17), slice(17, 40), slice(40, 60))]
    assert sum(p[0] for p in parts) == pytest.approx(f_all, rel=1e-13)
    np.testing.assert_allclose(sum(p[1] for p in parts), g_all, rtol=1e-11, atol=1e-13)
    # random minibatches of 6 anchors (with replacement), scaled by n / 6, average to it
    draws = np.array([gradient(rng.integers(0, 60, 6))[1] * 60 / 6 for _ in range(3000)])
    standard_error = draws.std(axis=0) / math.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - g_all) <= 5 * standard_error + 1e-12)
    # and the mean is not trivially near: its spread is small next to the gradient itself
    assert np.max(standard_error) < 0.05 * np.max(np.abs(g_all))


def test_random_draws_estimate_the_normaliser_without_bias():
    # Σ_j ω_ij e^{-d_ij} over listed neighbours + weighted draws is, on average, the full Σ_{k≠i}
    X, _, L = toy(7, n=50)
    Z = X @ L.T
    near = nearest_others(Z, 5)
    rng = np.random.default_rng(1)
    anchors = np.arange(50)
    full = np.array([np.exp(-np.sum((Z[i] - np.delete(Z, i, axis=0)) ** 2, axis=1)).sum() for i in anchors])
    estimates = []
    for _ in range(4000):
        batch = draw_candidates(anchors, near, 50, 3, rng, extrapolate=True)
        d = np.sum((Z[batch.anchors][:, None, :] - Z[batch.candidates]) ** 2, axis=2)
        estimates.append((batch.weights * np.exp(-d)).sum(axis=1))
    estimates = np.array(estimates)
    standard_error = estimates.std(axis=0) / math.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - full) <= 5 * standard_error + 1e-12)


def test_nearest_others_of_other_classes_only():
    X, y, _ = toy(8, n=40)
    bounds = class_layout(y, len(y), "lmnn").bounds
    found = nearest_others(X, 4, bounds)
    for i in range(len(y)):
        others = np.flatnonzero(y != y[i])
        d = np.sum((X[others] - X[i]) ** 2, axis=1)
        assert set(found[i]) == set(others[np.argsort(d)[:4]])


def test_auto_picks_full_up_to_the_threshold_and_says_why():
    assert choose_solver("auto", AUTO_FULL_UP_TO, "nca")[0] == "full"
    solver, reason = choose_solver("auto", AUTO_FULL_UP_TO + 1, "nca")
    assert solver == "stochastic"
    assert f"{AUTO_FULL_UP_TO + 1:,} points" in reason
    assert choose_solver("full", 10**7, "nca") == ("full", "asked for (--solver full)")
    with pytest.raises(MetricliError, match="solver must be one of auto, full, stochastic"):
        choose_solver("sgd", 100, "nca")


@pytest.mark.parametrize("param", ["batch_size", "candidates", "max_epochs"])
def test_stochastic_parameters_out_of_range_are_refused(param):
    X, y, _ = toy(9, n=40)
    with pytest.raises(MetricliError, match=f"nca: {param} must be a positive whole number"):
        NCA(solver="stochastic", **{param: 0}).fit(X, y)


def digits_split():
    frame = pd.read_csv(DIGITS)
    X = frame.iloc[:, :-1].to_numpy(float)
    y = frame.iloc[:, -1].to_numpy()
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1300], order[1300:]
    mean, scale = standardization(X[train])
    return (X - mean) / scale, y, train, test


@pytest.mark.parametrize("cls", [NCA, LMNN])
def test_stochastic_fit_reaches_the_full_solvers_knn_accuracy_on_digits(cls):
    X, y, train, test = digits_split()
    scores = {}
    for solver in ("full", "stochastic"):
        learner = cls(solver=solver, n_components=16, random_state=0).fit(X[train], y[train])
        assert learner.solver_ == solver
        predicted = knn_classify(learner.transform(X[train]), y[train], learner.transform(X[test]), 3)
        scores[solver] = float(np.mean(predicted == y[test]))
    # 497 test points: one point is 0.2 %; measured: NCA .990 / .984, LMNN .992 / .988
    assert scores["stochastic"] >= scores["full"] - 0.015
    assert scores["stochastic"] > 0.97


def test_stochastic_mlkr_predicts_held_out_targets_about_as_well_as_full():
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "sample_data" / "diabetes.csv")
    X = frame.iloc[:, :-1].to_numpy(float)
    t = frame.iloc[:, -1].to_numpy(float)
    order = np.random.default_rng(0).permutation(len(t))
    train, test = order[:330], order[330:]
    mean, scale = standardization(X[train])
    X = (X - mean) / scale
    errors = {}
    for solver in ("full", "stochastic"):
        learner = MLKR(solver=solver, random_state=0).fit(X[train], t[train])
        Z_train, Z_test = learner.transform(X[train]), learner.transform(X[test])
        D = np.sum((Z_test[:, None, :] - Z_train[None, :, :]) ** 2, axis=2)
        K = np.exp(-(D - D.min(axis=1, keepdims=True)))
        errors[solver] = float(np.sqrt(np.mean((K @ t[train] / K.sum(axis=1) - t[test]) ** 2)))
    baseline = float(np.std(t[test]))
    assert errors["stochastic"] < baseline
    assert errors["stochastic"] <= 1.1 * errors["full"]


def test_same_seed_same_metric_and_the_solver_is_recorded():
    X, y, _ = toy(11, n=120, d=5)
    first = NCA(solver="stochastic", random_state=3).fit(X, y)
    second = NCA(solver="stochastic", random_state=3).fit(X, y)
    np.testing.assert_array_equal(first.components_, second.components_)
    assert first.solver_reason_ == "asked for (--solver stochastic)"
    assert NCA().fit(X, y).solver_ == "full"


@pytest.mark.parametrize(("gain", "epochs"), [(0.0005, 4), (0.0015, 7), (-0.01, 4)])
def test_an_epoch_must_gain_a_tenth_of_a_percent_to_count(gain, epochs):
    """Held-out scores 1, 1 + g, 1 + 2g, ...: gains under IMPROVEMENT (0.1%) of the score are
    stale epochs (PATIENCE = 4 of them stop the solver, each halving the step); larger gains run
    to max_epochs. The L returned is the best-scoring one either way."""
    from metricli.learners.stochastic import IMPROVEMENT, PATIENCE, minimize_stochastic

    assert (IMPROVEMENT, PATIENCE) == (1e-3, 4)
    seen = []

    def score(L):
        seen.append(L.copy())
        return 1.0 + gain * (len(seen) - 1), {}

    def run_epoch(L, optimiser, batches, epoch):
        for _ in batches:
            optimiser.update(L, -np.ones_like(L))  # every step moves L, so that each epoch's L differs
        return L, optimiser, 0.0, {}

    result = minimize_stochastic(
        lambda anchors, rng: anchors,
        run_epoch,
        np.eye(2),
        n_train=64,
        batch_size=64,
        max_epochs=7,
        rng=np.random.default_rng(0),
        refresh=lambda L: None,
        score=score,
    )
    assert result.n_iter == epochs
    assert result.converged == (epochs < 7)
    best = len(seen) - 1 if gain > 0 else 0
    np.testing.assert_array_equal(result.components, seen[best])


def test_a_large_epoch_is_cut_into_rounds_each_followed_by_a_held_out_check(monkeypatch):
    """Above ROUND_ANCHORS training points an epoch's batches are cut into rounds of whole
    batches, as even as they go; the held-out score follows each round, and the batches (and
    every draw) are those of the uncut epoch: 2,008 anchors in batches of 16 (126 batches, the
    last of 8) with rounds of at most 600 anchors are 4 rounds of 31, 32, 31 and 32 batches."""
    from metricli.learners import stochastic

    def fit(round_anchors):
        monkeypatch.setattr(stochastic, "ROUND_ANCHORS", round_anchors)
        events = []

        def run_epoch(L, optimiser, batches, number):
            drawn = list(batches)
            events.append(("steps", number, [b.size for b in drawn], np.concatenate(drawn)))
            return L, optimiser, float(sum(b.size for b in drawn)), {}

        def score(L):
            events.append(("score",))
            return 1.0, {}  # never better: PATIENCE rounds, then the solver stops

        result = stochastic.minimize_stochastic(
            lambda anchors, rng: anchors + 10_000 * rng.integers(2),  # a draw from rng per batch
            run_epoch,
            np.eye(2),
            n_train=2008,
            batch_size=16,
            max_epochs=3,
            rng=np.random.default_rng(0),
            refresh=lambda L: None,
            score=score,
        )
        return result, events

    result, events = fit(600)
    steps = [e for e in events if e[0] == "steps"]
    assert [len(e[2]) for e in steps] == [31, 32, 31, 32]  # PATIENCE = 4 rounds, in the first epoch
    assert [e[0] for e in events] == ["score"] + ["steps", "score"] * 4
    assert result.n_iter == 4 and result.converged
    np.testing.assert_allclose(result.objective_history, [2008.0] * 4)  # a round's sum, scaled to the epoch
    epoch = np.concatenate([e[3] for e in steps])
    assert np.array_equal(np.sort(epoch % 10_000), np.arange(2008))  # every anchor once

    whole, whole_events = fit(10**6)  # one round an epoch: the same batches and draws
    first = whole_events[1]
    assert first[2] == [16] * 125 + [8]
    np.testing.assert_array_equal(first[3], epoch)
    assert whole.n_iter == 3 and not whole.converged  # max_epochs reached before PATIENCE rounds


def test_keep_rows_moves_the_chosen_rows_to_the_front_in_place():
    """The stochastic fit keeps its training rows without a second copy of the points: blocks
    smaller than the gaps and larger than them give X[rows] alike, in X's own memory."""
    from metricli.learners.stochastic import keep_rows

    rng = np.random.default_rng(0)
    for block in (1, 3, 7, 1000):  # 7 leaves a short last block
        X = rng.normal(size=(50, 3))
        rows = np.sort(rng.choice(50, 31, replace=False))
        expected = X[rows].copy()
        kept = keep_rows(X, rows, block)
        np.testing.assert_array_equal(kept, expected)
        assert np.shares_memory(kept, X)


def test_lmnn_held_out_score_is_minus_its_mean_loss_counted_pair_by_pair():
    """margin_score: each held-out point's k nearest same-class reference points (input space)
    are its targets; the loss is (1 - mu) times their squared distances plus mu times the hinge
    [1 + d(i, target) - d(i, l)]_+ over every other-class reference point l, in x -> L x."""
    from metricli.learners.stochastic import margin_score

    rng = np.random.default_rng(0)
    X_ref, X_held = rng.normal(size=(40, 3)), rng.normal(size=(9, 3))
    c_ref, c_held = rng.integers(0, 3, 40), rng.integers(0, 3, 9)
    L = rng.normal(size=(2, 3))
    k, mu = 2, 0.4
    total = 0.0
    for x, c in zip(X_held, c_held, strict=True):
        same = np.flatnonzero(c_ref == c)
        targets = same[np.argsort(((X_ref[same] - x) ** 2).sum(axis=1), kind="stable")[:k]]
        d = (((X_ref - x) @ L.T) ** 2).sum(axis=1)
        for t in targets:
            total += (1 - mu) * d[t]
            total += mu * sum(max(0.0, 1 + d[t] - d[m]) for m in np.flatnonzero(c_ref != c))
    value, shown = margin_score(X_ref, c_ref, X_held, c_held, k, mu)(L)
    assert value == pytest.approx(-total / 9, rel=1e-12)
    assert shown["held_out_loss"] == round(total / 9, 4)
