"""LMNN: the objective by hand, the gradient by finite differences, the guards."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.kernels import DifferenceScatter
from metricli.learners import LMNN
from metricli.learners.labels import class_layout
from metricli.learners.lmnn import lmnn_objective, target_neighbours

from .weak_fixtures import central_difference


def problem(X, y, k):
    """X sorted by class, its class bounds, target neighbours and the fixed pull matrix."""
    layout = class_layout(y, len(y), "lmnn")
    Xs = np.asarray(X, dtype=float)[layout.order]
    targets = target_neighbours(Xs, layout.bounds, k, 2**20)
    pull = DifferenceScatter(Xs)
    pull.add_pairs(np.repeat(np.arange(len(Xs)), k), targets.ravel(), np.ones(targets.size))
    return Xs, layout.bounds, targets, pull.result()


def objective(X, y, L, k=3, mu=0.5, memory=2**20):
    Xs, bounds, targets, pull = problem(X, y, k)
    return lmnn_objective(Xs, np.atleast_2d(L), targets, bounds, pull, mu, memory)


def test_objective_on_four_points_matches_hand_computation():
    # x = 0, 1, 1.5, 3 with classes {0, 1} and {1.5, 3}; k = 1, L = 1.
    # Target pairs (squared distances): 0->1 (1), 1->0 (1), 1.5->3 (2.25), 3->1.5 (2.25): pull 6.5.
    # Margins (farthest target + 1): 2, 2, 3.25, 3.25. Impostors inside them:
    #   anchor 1:   l = 1.5 at 0.25 < 2    -> [1 + 1 - 0.25]_+    = 1.75
    #   anchor 1.5: l = 0 at 2.25 < 3.25   -> [1 + 2.25 - 2.25]_+ = 1
    #               l = 1 at 0.25 < 3.25   -> [1 + 2.25 - 0.25]_+ = 3
    #   (anchor 0: 1.5 at 2.25 >= 2; anchor 3: 1 at 4 >= 3.25) push 5.75.
    X = np.array([[0.0], [1.0], [1.5], [3.0]])
    y = np.array([0, 0, 1, 1])
    loss, _, info = objective(X, y, [[1.0]], k=1, mu=0.5)
    assert loss == pytest.approx(0.5 * 6.5 + 0.5 * 5.75, rel=1e-14)
    assert info == {"active": 3, "impostors": 3}
    loss, _, _ = objective(X, y, [[1.0]], k=1, mu=0.25)
    assert loss == pytest.approx(0.75 * 6.5 + 0.25 * 5.75, rel=1e-14)


def test_objective_with_a_scaled_metric():
    # x = 0, 1, 2, 3, classes {0, 1} and {2, 3}, k = 1, L = 2: every squared distance is 4 (i - j)^2.
    # Pull: four target pairs at 4 = 16. Margins 5; the only impostors inside: 1 <-> 2 at 4,
    # each with hinge [1 + 4 - 4]_+ = 1: push 2.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    loss, _, info = objective(X, np.array([0, 0, 1, 1]), [[2.0]], k=1, mu=0.5)
    assert loss == pytest.approx(0.5 * 16 + 0.5 * 2, rel=1e-14)
    assert info["active"] == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    L = rng.standard_normal((3, 4)) * 0.7
    _loss, G, info = objective(X, y, L)
    assert info["impostors"] > 0
    analytic = 2 * L @ G
    numeric = central_difference(lambda A: objective(X, y, A)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


def dense_objective(X, y, L, targets, mu):
    """Weinberger & Saul 2009, eq. 13 summed over every triplet (i, j ⇝ i, l) with an n x k x n array."""
    Z = X @ np.atleast_2d(L).T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=-1)
    d_target = np.take_along_axis(D, targets, axis=1)  # n x k
    hinge = 1.0 + d_target[:, :, None] - D[:, None, :]  # [i, j, l]
    hinge *= (y[:, None] != y[None, :])[:, None, :]  # impostors: any other class
    active = hinge > 0
    return (1 - mu) * d_target.sum() + mu * hinge[active].sum(), int(active.sum())


@pytest.mark.parametrize(("seed", "mu"), [(5, 0.5), (6, 0.2)])
def test_objective_matches_the_dense_triplet_sum(seed, mu):
    # overlapping classes, so hundreds of triplets are active and many impostors sit near the margin
    rng = np.random.default_rng(seed)
    y = np.sort(rng.integers(0, 3, 45))
    X = rng.standard_normal((45, 4)) + 0.8 * y[:, None]
    L = rng.standard_normal((3, 4))
    Xs, bounds, targets, pull = problem(X, y, 3)
    loss, _, info = lmnn_objective(Xs, L, targets, bounds, pull, mu, 2**10)
    expected, n_active = dense_objective(Xs, y, L, targets, mu)
    assert n_active > 200
    assert info["active"] == n_active
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.filterwarnings("ignore::metricli.errors.ConvergenceWarning")
def test_target_neighbours_come_from_the_input_space_not_the_init():
    # The paper fixes target neighbours by Euclidean distance in the input space, whatever L
    # the solver starts from. Class 0: a = (0, 0), b = (0, 3), c = (2.5, 0); class 1 the same + 10.
    # Input space, k = 1: a -> c (6.25 < 9), b -> a (9 < 15.25), c -> a (6.25 < 15.25).
    # An init shrinking feature 1 by 100 would give a -> b (0.0009 < 6.25) instead.
    X = np.array([[0.0, 0.0], [0.0, 3.0], [2.5, 0.0]])
    X = np.vstack([X, X + 10.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    model = LMNN(k=1, init=np.diag([1.0, 0.01]), max_iter=1).fit(X, y)
    assert model.target_neighbors_.ravel().tolist() == [2, 0, 0, 5, 3, 3]


@pytest.mark.parametrize("memory", [8, 8 * 40, 2**30])
def test_blocks_do_not_change_the_result(memory):
    # one row per block (the weights go in as a dense block), and one block per class (as pairs)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    L = rng.standard_normal((3, 3))
    reference = objective(X, y, L, memory=2**30)
    loss, G, info = objective(X, y, L, memory=memory)
    assert loss == pytest.approx(reference[0], rel=1e-13)
    np.testing.assert_allclose(G, reference[1], rtol=1e-11, atol=1e-11)
    assert info == reference[2]


def test_no_impostors_leaves_the_pull_term():
    # two classes 100 apart: nobody is inside a margin
    rng = np.random.default_rng(4)
    X = np.vstack([rng.standard_normal((10, 2)), 100 + rng.standard_normal((10, 2))])
    y = np.repeat(["near", "far"], 10)
    Xs, bounds, targets, pull = problem(X, y, 3)
    L = np.eye(2)
    loss, G, info = lmnn_objective(Xs, L, targets, bounds, pull, 0.5, 2**20)
    assert info == {"active": 0, "impostors": 0}
    target_sq = ((Xs[:, None, :] - Xs[targets]) ** 2).sum()
    assert loss == pytest.approx(0.5 * target_sq, rel=1e-12)
    np.testing.assert_allclose(G, 0.5 * pull, rtol=1e-12)
    model = LMNN().fit(X, y)
    assert model.converged_
    assert np.all(np.isfinite(model.components_))


def test_learns_to_ignore_a_noise_feature():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    X = np.column_stack([y + 0.15 * rng.standard_normal(200), 3.0 * rng.standard_normal(200)])
    model = LMNN().fit(X, y)
    M = model.get_mahalanobis_matrix()
    # the noise direction shrinks by a factor 20 relative to the signal (it started 9 times larger)
    assert M[1, 1] < 0.05 * M[0, 0]
    assert model.converged_


def test_reported_objective_transform_and_target_neighbours():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = np.repeat(["b", "a", "c"], 10)
    model = LMNN(n_components=2, k=2).fit(X, y)
    np.testing.assert_array_equal(model.transform(X), X @ model.components_.T)
    loss, _, _ = objective(X - X.mean(axis=0), y, model.components_, k=2)
    assert model.objective_ == pytest.approx(loss, rel=1e-10)
    # target neighbours are given in the caller's row order, same class, nearest first
    for i, row in enumerate(model.target_neighbors_):
        assert set(y[row]) == {y[i]}
        others = np.flatnonzero((y == y[i]) & (np.arange(30) != i))
        dist = ((X[others] - X[i]) ** 2).sum(axis=1)
        np.testing.assert_array_equal(row, others[np.argsort(dist, kind="stable")[:2]])


@pytest.mark.filterwarnings("ignore::metricli.errors.ConvergenceWarning")
def test_same_seed_gives_the_same_metric():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, 2, 40)
    first = LMNN(init="random", random_state=7, max_iter=30).fit(X, y).get_mahalanobis_matrix()
    again = LMNN(init="random", random_state=7, max_iter=30).fit(X, y).get_mahalanobis_matrix()
    np.testing.assert_array_equal(first, again)


def test_a_class_smaller_than_k_plus_one_gets_its_other_points_as_targets():
    # Class 'b' has 3 points, k = 3: each of its points gets the other 2 (and itself in the
    # spare slot, which counts in neither term); class 'a' keeps k = 3. metric-learn fits this too.
    X = np.random.default_rng(0).standard_normal((8, 2))
    y = np.array(["a"] * 5 + ["b"] * 3)
    with pytest.warns(UserWarning, match=r"class 'b' \(3 points\) has too few points for k=3") as caught:
        model = LMNN(k=3, max_iter=500).fit(X, y)
    assert len(caught) >= 1
    for i in range(5, 8):
        others = {j for j in range(5, 8) if j != i}
        assert set(model.target_neighbors_[i]) == others | {i}
    for i in range(5):  # class 'a' is large enough: three distinct others
        assert len(set(model.target_neighbors_[i])) == 3
        assert set(model.target_neighbors_[i]) <= set(range(5)) - {i}
    assert np.all(np.isfinite(model.components_))


def test_a_small_class_objective_matches_the_triplet_sum_over_its_real_targets():
    # x = 0, 1, 4 (class a) and 1.5, 3 (class b); k = 2, L = 1. Class b has 2 points: one target each.
    # Targets: 0 -> {1, 4}, 1 -> {0, 4}, 4 -> {1, 0}, 1.5 -> {3}, 3 -> {1.5}.
    # Pull: 1 + 16 + 1 + 9 + 9 + 16 + 2.25 + 2.25 = 56.5.
    # Push, [1 + d_ij - d_il]_+ over impostors l of the other class:
    #   i = 0:   j = 1 (1):   l = 1.5 (2.25) -> 0 ; l = 3 (9) -> 0
    #            j = 4 (16):  l = 1.5 -> 14.75 ; l = 3 -> 8
    #   i = 1:   j = 0 (1):   l = 1.5 (0.25) -> 1.75 ; l = 3 (4) -> 0
    #            j = 4 (9):   l = 1.5 -> 9.75 ; l = 3 -> 6
    #   i = 4:   j = 1 (9):   l = 1.5 (6.25) -> 3.75 ; l = 3 (1) -> 9
    #            j = 0 (16):  l = 1.5 -> 10.75 ; l = 3 -> 16
    #   i = 1.5: j = 3 (2.25): l = 0 (2.25) -> 1 ; l = 1 (0.25) -> 3 ; l = 4 (6.25) -> 0
    #   i = 3:   j = 1.5 (2.25): l = 0 (9) -> 0 ; l = 1 (4) -> 0 ; l = 4 (1) -> 2.25
    # Push total 86 from 12 active triplets; the spare slots of class b add nothing.
    X = np.array([[0.0], [1.0], [4.0], [1.5], [3.0]])
    y = np.array([0, 0, 0, 1, 1])
    loss, G, info = objective(X, y, [[1.0]], k=2, mu=0.5)
    assert loss == pytest.approx(0.5 * 56.5 + 0.5 * 86, rel=1e-14)
    assert info["active"] == 12
    numeric = central_difference(lambda A: objective(X, y, A, k=2)[0], np.array([[1.0]]))
    np.testing.assert_allclose(2 * G, numeric, rtol=1e-6)


def test_a_single_point_class_is_a_clear_error():
    X = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(MetricliError) as caught:
        LMNN(k=1).fit(X, ["a"] * 5 + ["lonely"])
    assert caught.value.message == (
        "lmnn: class 'lonely' has a single point, which has no target neighbour; drop that class"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 0}, "lmnn: k must be a positive whole number"),
        ({"regularization": 0.0}, "lmnn: regularization must be in (0, 1]"),
        ({"regularization": 1.5}, "lmnn: regularization must be in (0, 1]"),
    ],
)
def test_bad_parameters_are_clear_errors(params, message):
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(MetricliError) as caught:
        LMNN(**params).fit(X, [0, 1] * 5)
    assert caught.value.message.startswith(message)


def test_the_stochastic_batch_loss_ignores_a_small_class_spare_slots():
    # class b has 2 points and k = 2: each gets one real target and itself in the spare slot.
    # The batch loss of b's anchors must equal the loss with only the real target (k = 1).
    from metricli.learners.stochastic import CandidateBatch, lmnn_batch

    X = np.array([[0.0, 0.0], [1.0, 0.2], [4.0, 0.0], [1.5, 0.1], [3.0, -0.2]])
    codes = np.array([0, 0, 0, 1, 1])
    targets = target_neighbours(X, np.array([0, 3, 5]), 2, 2**20)
    assert targets[3].tolist() == [4, 3] and targets[4].tolist() == [3, 4]
    anchors = np.array([3, 4])
    batch = CandidateBatch(anchors, np.array([[0, 1, 2], [0, 1, 2]]), np.ones((2, 3)))
    L = np.array([[1.0, 0.3], [0.0, 2.0]])
    padded = lmnn_batch(X, codes, targets, L, batch, 0.5)
    real = lmnn_batch(X, codes, targets[:, :1], L, batch, 0.5)
    assert padded[0] == pytest.approx(real[0], rel=1e-14) and padded[0] > 0
    np.testing.assert_allclose(padded[1], real[1], rtol=1e-13, atol=1e-15)
    assert padded[2] == real[2]
