"""Verification figures (metricli.verification) against scikit-learn and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score, roc_curve

from metricli import verification as v
from metricli.errors import MetricliError


def _pairs(seed: int, n: int = 300, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    genuine = rng.random(n) < 0.3
    d = np.abs(rng.normal(size=n) + np.where(genuine, 0.0, 1.0))
    if ties:  # few distinct values: many genuine-impostor ties
        d = np.round(d, 1)
    return d, genuine


def _sklearn_eer(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """FAR = FRR on scikit-learn's curve, found by root search along the polyline (another method)."""
    s = np.arange(fpr.size, dtype=float)

    def gap(t: float) -> float:
        return np.interp(t, s, fpr) - (1.0 - np.interp(t, s, tpr))

    return float(np.interp(brentq(gap, 0.0, s[-1], xtol=1e-15, rtol=1e-15), s, fpr))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [True, False])
def test_auc_eer_and_tar_at_far_match_scikit_learn(seed: int, ties: bool) -> None:
    d, genuine = _pairs(seed, ties=ties)
    counts = v.ScoreCounts.from_distances(d, genuine)
    fpr, tpr, _ = roc_curve(genuine, -d, drop_intermediate=False)
    far, tar = v.roc(counts)
    np.testing.assert_allclose(far, fpr, atol=1e-15)
    np.testing.assert_allclose(tar, tpr, atol=1e-15)
    assert v.auc(counts) == pytest.approx(roc_auc_score(genuine, -d), abs=1e-12)
    # the thinned curve of scikit-learn's default has the same crossing
    fpr_thin, tpr_thin, _ = roc_curve(genuine, -d)
    assert v.eer(counts) == pytest.approx(_sklearn_eer(fpr, tpr), abs=1e-12)
    assert v.eer(counts) == pytest.approx(_sklearn_eer(fpr_thin, tpr_thin), abs=1e-12)
    for target in (0.01, 0.05, 0.2):
        expected = tpr[fpr <= target].max()
        assert v.tar_at_far(counts, target) == pytest.approx(expected, abs=1e-12)


def test_auc_counts_ties_as_one_half() -> None:
    # genuine {1, 2}, impostor {2, 3}: pairs (g, i) won 3 of 4, tied 1 -> (3 + 0.5) / 4
    counts = v.ScoreCounts.from_distances([1.0, 2.0, 2.0, 3.0], [True, True, False, False])
    assert v.auc(counts) == 3.5 / 4
    # the ROC goes (0,0) -> (0, .5) -> (.5, 1) diagonally -> (1, 1): FAR + TAR - 1 = 0 at (1/4, 3/4)
    assert v.eer(counts) == 0.25


def test_thresholds_on_a_hand_worked_case() -> None:
    # genuine 1, 2, 3; impostor 2.5, 4, 5, 6
    counts = v.ScoreCounts.from_distances([1, 2, 3, 2.5, 4, 5, 6], [True] * 3 + [False] * 4)
    # accuracy: t=1 -> 1 + 4, t=2 -> 2 + 4, t=3 -> 3 + 3 correct; the smaller of the tied best
    assert v.choose_threshold(counts, "accuracy").value == 2.0
    # F1: t=2 -> 4/5, t=3 -> 6/7
    assert v.choose_threshold(counts, "f1").value == 3.0
    # |FAR - FRR|: t=2 -> |0 - 1/3|, t=3 -> |1/4 - 0|
    chosen = v.choose_threshold(counts, "eer")
    assert (chosen.value, chosen.far, chosen.frr) == (3.0, 0.25, 0.0)
    assert v.choose_threshold(counts, target_far=0.25).value == 3.0
    with pytest.raises(MetricliError, match="cannot be measured on 4 impostor pairs; it needs at least 5"):
        v.choose_threshold(counts, target_far=0.2)
    assert v.far_frr(counts, 2.7) == pytest.approx((0.25, 1 / 3), abs=1e-15)


def test_a_target_far_no_threshold_reaches_is_refused() -> None:
    counts = v.ScoreCounts.from_distances([5, 1, 2, 3, 4], [True, False, False, False, False])
    with pytest.raises(MetricliError, match="no threshold accepts a genuine pair at FAR <= 0.25"):
        v.choose_threshold(counts, target_far=0.25)


def test_pairs_of_one_kind_are_refused() -> None:
    counts = v.ScoreCounts.from_distances([1.0, 2.0], [True, True])
    with pytest.raises(MetricliError, match="no impostor"):
        v.summarize(counts)
    counts = v.ScoreCounts.from_distances([1.0, 2.0], [False, False])
    with pytest.raises(MetricliError, match="no genuine"):
        v.choose_threshold(counts)


def test_unmeasurable_far_targets_are_none_in_the_summary() -> None:
    d, genuine = _pairs(0, n=200)
    summary = v.summarize(v.ScoreCounts.from_distances(d, genuine), n_bootstrap=50)
    assert summary["n_impostor"] < 1000
    assert summary["tar_at_far_0.01"]["value"] is not None
    assert summary["tar_at_far_0.001"] == {"value": None, "interval": None}


@pytest.mark.parametrize("integer", [True, False])
def test_all_pairs_counts_give_the_figures_of_every_pair(integer: bool) -> None:
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 40, 400)
    if integer:  # integer points: squared distances are exact integers, ties galore
        X = rng.integers(0, 4, size=(400, 5)).astype(float)
    else:
        X = rng.normal(size=(400, 5)) + rng.normal(size=(40, 5))[groups]
    # small blocks: many row blocks, each against the rest
    counts = v.all_pairs_counts(X, groups, block_bytes=8 * 400 * 7)
    d, genuine = v.all_pairs_distances(X, groups)
    assert d.size == 400 * 399 // 2
    exact = v.ScoreCounts.from_distances(d, genuine)
    assert (counts.n_genuine, counts.n_impostor) == (exact.n_genuine, exact.n_impostor)
    assert v.auc(counts) == pytest.approx(roc_auc_score(genuine, -d), abs=1e-12)
    assert v.eer(counts) == pytest.approx(v.eer(exact), abs=1e-12)
    for target in (1e-2, 1e-3, 1e-4):
        assert v.tar_at_far(counts, target) == v.tar_at_far(exact, target)
    for strategy in v.STRATEGIES:
        assert v.choose_threshold(counts, strategy) == v.choose_threshold(exact, strategy)
    assert v.choose_threshold(counts, target_far=1e-2) == v.choose_threshold(exact, target_far=1e-2)


def test_all_pairs_needs_a_genuine_pair() -> None:
    with pytest.raises(MetricliError, match="every identity has a single point"):
        v.all_pairs_counts(np.eye(3), np.array(["a", "b", "c"]))


def test_bootstrap_interval_of_a_rate_has_the_binomial_width() -> None:
    # FAR at a fixed threshold is a binomial proportion: the 95% interval is about ±1.96 sqrt(p(1-p)/n)
    rng = np.random.default_rng(1)
    n_i = 4000
    d = np.concatenate([rng.random(500), rng.random(n_i) + 0.8])
    genuine = np.arange(d.size) < 500
    counts = v.ScoreCounts.from_distances(d, genuine)
    p, _ = v.far_frr(counts, 1.0)
    intervals = v.bootstrap(counts, lambda c: {"far": v.far_frr(c, 1.0)[0]}, n_resamples=2000, seed=0)
    low, high = intervals["far"]
    assert low < p < high
    assert high - low == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / n_i), rel=0.12)
    again = v.bootstrap(counts, lambda c: {"far": v.far_frr(c, 1.0)[0]}, n_resamples=2000, seed=0)
    assert again == intervals


def test_curve_is_thinned_keeping_its_ends() -> None:
    d, genuine = _pairs(2, n=20000, ties=False)
    counts = v.ScoreCounts.from_distances(d, genuine)
    points = v.curve(counts, max_points=200)
    assert len(points["far"]) <= 202
    assert (points["far"][0], points["tar"][0]) == (0.0, 0.0)
    assert (points["far"][-1], points["tar"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(points["far"]) >= 0) and np.all(np.diff(points["tar"]) >= 0)


def test_identity_split_keeps_identities_on_one_side() -> None:
    groups = np.array([f"p{i % 20}" for i in range(200)] + [None, ""], dtype=object)
    held = v.identity_split(groups, holdout=0.25, seed=4)
    test_ids = set(groups[held])
    train_ids = {g for g in groups[~held] if g}
    assert len(test_ids) == 5 and not (test_ids & train_ids)
    assert not held[-2:].any()
    assert np.array_equal(held, v.identity_split(groups, holdout=0.25, seed=4))
    with pytest.raises(MetricliError, match="at least two identities"):
        v.identity_split(np.array(["a", "a"]), 0.5)


def test_pair_distances_are_learned_distances() -> None:
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(10, 3))
    a, b = np.array([0, 3, 9]), np.array([1, 3, 2])
    np.testing.assert_allclose(v.pair_distances(Z, a, b), np.linalg.norm(Z[a] - Z[b], axis=1), rtol=1e-15)


def test_hand_worked_auc_eer_and_tar_without_ties() -> None:
    # genuine 1, 3; impostor 2, 4, 5, 6: 1 is closer than all 4 impostors, 3 than 3 of them: 7 of 8
    counts = v.ScoreCounts.from_distances([1, 3, 2, 4, 5, 6], [True, True, False, False, False, False])
    assert v.auc(counts) == 7 / 8
    # ROC: (0,0) (0,.5) (.25,.5) (.25,1) ...; FAR = 1 - TAR on the step from (.25,.5) to (.25,1): EER 1/4
    assert v.eer(counts) == 0.25
    assert v.tar_at_far(counts, 0.25) == 1.0  # 4 impostors: FAR below 1/4 is refused (tested elsewhere)
    far, tar = v.roc(counts)
    assert far.tolist() == [0.0, 0.0, 0.25, 0.25, 0.5, 0.75, 1.0]
    assert tar.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]


def test_tar_at_far_is_the_genuine_share_below_the_kth_impostor() -> None:
    # without ties: the largest threshold with FAR <= t accepts the floor(t n_i) closest impostors, so it
    # stops just below impostor number floor(t n_i) + 1; TAR is the share of genuine distances below it
    rng = np.random.default_rng(7)
    g, i = rng.normal(size=700), rng.normal(2.0, 1.0, size=3000)
    counts = v.ScoreCounts.from_distances(np.abs(np.concatenate([g, i])), np.arange(3700) < 700)
    impostors = np.sort(np.abs(i))
    for target in (1e-3, 1e-2, 0.05, 0.3):
        cut = impostors[int(np.floor(target * 3000 + 1e-9))]
        assert v.tar_at_far(counts, target) == np.mean(np.abs(g) < cut)


def test_bootstrap_interval_holds_the_population_auc() -> None:
    # genuine d ~ |N(0,1)| shifted: score difference is N(1.5, 2) -> population AUC = Phi(1.5 / sqrt 2)
    from scipy.stats import norm

    rng = np.random.default_rng(11)
    g, i = rng.normal(0.0, 1.0, 1500), rng.normal(1.5, 1.0, 1500)
    counts = v.ScoreCounts.from_distances(np.concatenate([g, i]) + 10.0, np.arange(3000) < 1500)
    truth = norm.cdf(1.5 / np.sqrt(2.0))
    summary = v.summarize(counts, far_targets=[0.01], n_bootstrap=400, seed=3)
    low, high = summary["auc"]["interval"]
    assert low < truth < high and high - low < 0.04
    # the population EER is where Phi(-t) = Phi(t - 1.5): t = 0.75, EER = Phi(-0.75)
    low, high = summary["eer"]["interval"]
    assert low < norm.cdf(-0.75) < high
