"""Approximate candidate lists of the stochastic solvers (metricli.learners.candidates): the
clustered search, neighbour descent and the rules every list keeps, against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.learners import candidates
from metricli.learners.candidates import (
    approximate_lists,
    clustered_lists,
    descent_pool,
    descent_width,
    keep_nearest,
    lists_of,
    nearest_others,
    random_others,
)
from metricli.learners.stochastic import InMemoryPoints


def blobs(n: int, d: int = 3, classes: int = 4, seed: int = 0):
    """Points sorted by class, in well-separated low-dimensional blobs, and the class bounds."""
    rng = np.random.default_rng(seed)
    y = np.sort(rng.integers(0, classes, n))
    X = rng.normal(scale=4.0, size=(classes * 3, d))[rng.integers(0, classes * 3, n)] + rng.normal(
        size=(n, d)
    )
    return X, y, np.concatenate([[0], np.cumsum(np.bincount(y, minlength=classes))])


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([np.intersect1d(f, e).size / e.size for f, e in zip(found, exact, strict=True)]))


def test_keep_nearest_by_hand():
    # row 0 (class 0): pool 0 (itself), 5 twice, 3 (class 0, same class), 4, 2; distances chosen by hand
    pool = np.array([[0, 5, 5, 3, 4, 2]])
    sq_dist = np.array([[0.0, 1.0, 1.0, 0.5, 3.0, 2.0]])
    codes = np.array([0, 1, 1, 0, 1, 1])
    fallback = np.array([[9, 8, 7, 6]])
    rows = np.array([0])
    assert keep_nearest(sq_dist, pool, rows, 3, None, fallback).tolist() == [[3, 5, 2]]
    assert keep_nearest(sq_dist, pool, rows, 3, codes, fallback).tolist() == [[5, 2, 4]]
    # only three valid other-class points: the fourth slot keeps the fallback's entry
    assert keep_nearest(sq_dist, pool, rows, 4, codes, fallback).tolist() == [[5, 2, 4, 6]]


def test_random_others_never_draw_the_point_or_its_class():
    _, y, bounds = blobs(400)
    rng = np.random.default_rng(0)
    drawn = random_others(400, 50, None, rng)
    assert not np.any(drawn == np.arange(400)[:, None]) and drawn.min() >= 0 and drawn.max() < 400
    impostors = random_others(400, 50, bounds, rng)
    assert not np.any(y[impostors] == y[:, None])
    # uniform over the other classes: every other-class point of row 0 is drawn about equally often
    _, y, bounds = blobs(100)
    counts = np.bincount(random_others(100, 20000, bounds, rng)[0], minlength=100)[y != y[0]]
    assert counts.min() > 0.7 * counts.mean() and counts.max() < 1.3 * counts.mean()


@pytest.mark.parametrize("impostors", [False, True])
def test_clustered_search_probing_every_cell_is_exact(impostors):
    X, _, bounds = blobs(1500)
    b = bounds if impostors else None
    rng = np.random.default_rng(1)
    found = clustered_lists(X, 7, b, rng, random_others(1500, 7, b, rng))  # 2 cells of 512, 8 probes
    assert np.array_equal(np.sort(found, axis=1), np.sort(nearest_others(X, 7, b), axis=1))


@pytest.mark.parametrize("impostors", [False, True])
def test_clustered_search_with_few_probes_finds_most_neighbours(monkeypatch, impostors):
    monkeypatch.setattr(candidates, "CELL_SIZE", 40)
    monkeypatch.setattr(candidates, "PROBES", 4)
    X, y, bounds = blobs(4000, d=2)
    b = bounds if impostors else None
    rng = np.random.default_rng(2)
    found = clustered_lists(X, 10, b, rng, random_others(4000, 10, b, rng))
    exact = nearest_others(X, 10, b)
    assert 0.9 <= recall(found, exact) < 1.0  # 100 cells, 4 probed: most, not all
    assert not np.any(found == np.arange(4000)[:, None])
    if impostors:
        assert not np.any(y[found] == y[:, None])


def test_descent_keeps_exact_lists_and_repairs_damaged_ones():
    X, _, _ = blobs(3000, d=2)
    exact = nearest_others(X, 10)
    rng = np.random.default_rng(3)
    # exact lists are a fixed point: their pool holds them, and nothing nearer exists
    again = lists_of(X, 10, None, exact, rng)  # one round of descent
    assert np.array_equal(again, exact)
    # lists with their second half replaced by random points come back close to exact
    damaged = exact.copy()
    damaged[:, 5:] = random_others(3000, 5, None, rng)
    assert recall(damaged, exact) < 0.55
    repaired = damaged
    for _ in range(2):
        repaired = lists_of(X, 10, None, repaired, rng)
    assert recall(repaired, exact) > 0.9


def test_approximate_lists_first_search_then_descend(monkeypatch):
    monkeypatch.setattr(candidates, "CELL_SIZE", 50)
    X, _, _ = blobs(3000, d=2)
    store = InMemoryPoints(X)
    calls = []
    clustered, refine = candidates.clustered_lists, candidates.refined_lists
    monkeypatch.setattr(candidates, "clustered_lists", lambda *a: calls.append("clustered") or clustered(*a))
    monkeypatch.setattr(candidates, "refined_lists", lambda *a: calls.append("refine") or refine(*a))
    rng = np.random.default_rng(4)
    first = approximate_lists(store, np.eye(2), 8, None, None, rng)
    second = approximate_lists(store, np.eye(2), 8, None, first, rng)
    assert calls == ["clustered", "refine"]
    exact = nearest_others(X, 8)
    assert recall(second, exact) >= recall(first, exact) > 0.9


@pytest.mark.parametrize("classes", [False, True])
def test_a_descent_pool_built_block_by_block_is_the_whole_pool_s_rows(classes):
    """refined_lists asks for the pools of a block of rows at a time (no n x c table): the pool
    of given rows is those rows of the whole pool, its random part aside (other draws, same
    rules: never the row itself, never its class with bounds), and descent_width is its width."""
    X, _, b = blobs(900, d=2, classes=3)
    bounds = b if classes else None
    near = nearest_others(X, 8, bounds)
    whole = descent_pool(near, bounds, np.random.default_rng(0))
    rows = np.array([5, 17, 400, 899])
    part = descent_pool(near, bounds, np.random.default_rng(1), rows)
    assert whole.shape == (900, descent_width(8)) and part.shape == (4, descent_width(8))
    listed = 8 + 6 * 6
    np.testing.assert_array_equal(part[:, :listed], whole[rows, :listed])
    drawn = part[:, listed:]
    assert (drawn != rows[:, None]).all()
    if classes:
        codes = np.repeat(np.arange(3), np.diff(b))
        assert (codes[drawn] != codes[rows][:, None]).all()
