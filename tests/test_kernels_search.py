"""Radius search, exclusions and cancellation-free distances in metricli.kernels, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from metricli.kernels import (
    StreamingNeighbors,
    iter_sq_distances,
    knn,
    pair_sq_distances,
    radius_neighbors,
    sq_distances,
)


def _direct(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared distances from the differences, one pair at a time in effect: the reference answer."""
    diff = A[:, None, :] - B[None, :, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def _brute_radius(D: np.ndarray, limit: float, k: int | None = None) -> list[list[int]]:
    found = []
    for row in D:
        order = [j for j in np.argsort(row, kind="stable") if row[j] <= limit]
        found.append(order[:k] if k is not None else order)
    return found


def test_radius_neighbors_matches_brute_force_over_many_blocks():
    rng = np.random.default_rng(1)
    Q, R = rng.normal(size=(37, 3)), rng.normal(size=(53, 3))
    D = _direct(Q, R)
    radius = 1.2
    # a tiny block budget forces several query and reference blocks
    offsets, idx, sq = radius_neighbors(Q, R, radius, block_bytes=1500)
    expected = _brute_radius(D, radius**2)
    assert [idx[offsets[i] : offsets[i + 1]].tolist() for i in range(37)] == expected
    np.testing.assert_allclose(sq, np.concatenate([D[i, e] for i, e in enumerate(expected)]), atol=1e-12)
    assert offsets[-1] == sum(len(e) for e in expected) > 0


def test_radius_neighbors_with_k_keeps_the_k_nearest_and_honours_exclusions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    D = _direct(X, X)
    np.fill_diagonal(D, np.inf)
    offsets, idx, _ = radius_neighbors(X, X, 1.0, k=3, exclude=np.arange(40), block_bytes=1200)
    assert [idx[offsets[i] : offsets[i + 1]].tolist() for i in range(40)] == _brute_radius(D, 1.0, 3)


def test_radius_ties_go_to_the_earlier_reference_row():
    reference = np.array([[2.0], [-1.0], [1.0], [0.0], [-2.0], [1.0]])
    offsets, idx, sq = radius_neighbors(np.array([[0.0]]), reference, 2.0)
    assert offsets.tolist() == [0, 6]
    # distances 2, 1, 1, 0, 2, 1 -> 0 first, then the three 1s, then the two 2s, each in row order
    assert idx.tolist() == [3, 1, 2, 5, 0, 4]
    assert sq.tolist() == [0.0, 1.0, 1.0, 1.0, 4.0, 4.0]


def test_knn_exclude_skips_one_given_reference_row_per_query():
    reference = np.array([[0.0], [0.0], [1.0], [3.0]])
    query = np.array([[0.0], [0.0], [3.0]])
    idx, sq = knn(query, reference, 2, exclude=np.array([0, 1, -1]))
    assert idx.tolist() == [[1, 2], [0, 2], [3, 2]]
    assert sq.tolist() == [[0.0, 1.0], [0.0, 1.0], [0.0, 4.0]]


def test_exact_distances_survive_cancellation_far_from_the_origin():
    # points 1e6 from the origin, 1e-3 apart: the expansion ||a||² + ||b||² - 2 a·b loses
    # everything (its error is ~ ε·1e12 ≈ 1e-4, the size of d² itself)
    rng = np.random.default_rng(3)
    base = 1e6 + rng.normal(size=(1, 4))
    A = base + 1e-3 * rng.normal(size=(20, 4))
    A = np.vstack([A, A[:3]])  # exact duplicates must come out as exactly 0
    truth = _direct(A, A)
    rough = sq_distances(A, A)
    assert np.max(np.abs(rough - truth) / truth.max()) > 1e-3
    exact = np.vstack([D for _, D in iter_sq_distances(A, A, block_bytes=2000, exact=True)])
    np.testing.assert_allclose(exact, truth, rtol=1e-9, atol=0)
    assert exact[20, 0] == exact[22, 2] == 0.0
    idx, sq = knn(A[:3], A, 2, exact=True)
    assert idx.tolist() == [[0, 20], [1, 21], [2, 22]] and not sq[:, :2].any()
    a, b = np.array([0, 5, 20]), np.array([20, 7, 0])
    np.testing.assert_allclose(pair_sq_distances(A, A, a, b), truth[a, b], rtol=1e-12, atol=0)


def _stream(query, reference, batch, **options):
    search = StreamingNeighbors(query, block_bytes=1500, **options)
    search.HEAD = 7  # exercise the head-first split on these small batches
    for start in range(0, reference.shape[0], batch):
        search.add(reference[start : start + batch], np.arange(start, min(start + batch, reference.shape[0])))
    offsets, idx, sq = search.result()
    return [idx[offsets[i] : offsets[i + 1]].tolist() for i in range(query.shape[0])], sq


def test_streaming_neighbors_over_reference_batches_equal_brute_force():
    rng = np.random.default_rng(6)
    # integer points: many exact ties, which must go to the smaller reference index across batches
    reference = rng.integers(-3, 4, size=(90, 2)).astype(float)
    query = rng.integers(-3, 4, size=(25, 2)).astype(float)
    D = _direct(query, reference)
    for batch in (7, 23, 90):
        got, sq = _stream(query, reference, batch, k=6)
        assert got == _brute_radius(D, np.inf, 6)
        np.testing.assert_array_equal(sq, np.concatenate([D[i, g] for i, g in enumerate(got)]))
        assert _stream(query, reference, batch, radius=1.5)[0] == _brute_radius(D, 2.25)
        assert _stream(query, reference, batch, k=3, radius=1.0)[0] == _brute_radius(D, 1.0, 3)
    # exclusions name reference indices: each query row i skips reference row i
    D[np.arange(25), np.arange(25)] = np.inf
    got, _ = _stream(query, reference, 11, k=4, exclude=np.arange(25))
    assert got == _brute_radius(D, np.inf, 4)


def test_answers_of_parts_merge_into_the_answer_of_the_whole():
    """Reference parts searched separately (Dask partitions) and merged in any order give
    exactly the single-pass answer, ties (duplicated rows) to the smaller index."""
    from metricli.kernels import NeighbourAnswers

    rng = np.random.default_rng(4)
    base = rng.integers(0, 3, size=(40, 2)).astype(float)  # many equal distances
    reference = np.concatenate([base, base[::-1], base])
    query = rng.integers(0, 3, size=(15, 2)).astype(float)
    cuts = [0, 7, 8, 8, 50, 91, 120]
    for k, radius in ((5, None), (None, 1.0), (4, 1.5)):
        whole = StreamingNeighbors(query, k=k, radius=radius, exact=True)
        whole.add(reference, np.arange(len(reference)))
        parts: list[NeighbourAnswers] = []
        for a, b in itertools.pairwise(cuts):
            found = StreamingNeighbors(query, k=k, radius=radius, exact=True)
            found.add(reference[a:b], np.arange(a, b))
            parts.append(found.answers())
        left = parts[0]
        for part in parts[1:]:
            left = left.merge(part)
        right = parts[-1]
        for part in reversed(parts[:-1]):
            right = part.merge(right)
        expected = whole.result()
        for merged in (left, right):
            for got, want in zip(merged.result(), expected, strict=True):
                np.testing.assert_array_equal(got, want)
        if k is not None and radius is None:
            idx, _ = knn(query, reference, k)
            np.testing.assert_array_equal(left.result()[1].reshape(-1, k), idx)


def test_projection_of_a_row_does_not_depend_on_its_batch():
    from metricli.kernels import project

    rng = np.random.default_rng(2)
    X, L = rng.normal(size=(1000, 13)), rng.normal(size=(5, 13))
    whole = project(X, L)
    np.testing.assert_allclose(whole, X @ L.T, rtol=1e-13, atol=1e-13)
    for start, stop in ((0, 1), (3, 6), (17, 50), (999, 1000), (1, 1000)):
        np.testing.assert_array_equal(project(X[start:stop], L), whole[start:stop])


@pytest.mark.parametrize("k", [1, 3, 8, 9, 20])
def test_knn_small_and_large_k_agree_with_a_stable_sort_on_ties_and_exclusions(k):
    """Up to SMALL_K the k smallest come from minima taken in turn, above from argpartition:
    both must give what a stable sort by (distance, reference row) gives, on integer points
    (many equal distances) with one excluded row per query and rows of fewer than k finite
    entries (a 9-point reference with exclusions leaves 8)."""
    from metricli.kernels import SMALL_K, knn

    assert SMALL_K == 8
    rng = np.random.default_rng(k)
    reference = rng.integers(0, 3, size=(9 if k == 9 else 40, 2)).astype(float)
    query = rng.integers(0, 3, size=(25, 2)).astype(float)
    exclude = rng.integers(-1, reference.shape[0], size=query.shape[0])
    k = min(k, reference.shape[0] - 1)
    idx, dist = knn(query, reference, k, exclude=exclude, block_bytes=2**10)
    D = ((query[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2)
    for i in range(query.shape[0]):
        allowed = [j for j in range(reference.shape[0]) if j != exclude[i]]
        expected = sorted(allowed, key=lambda j: (D[i, j], j))[:k]
        assert idx[i].tolist() == expected
        np.testing.assert_array_equal(dist[i], D[i, expected])


def test_smallest_k_with_fewer_finite_entries_than_k_takes_distinct_columns_in_order():
    """A row with only one finite entry: the minima taken in turn would otherwise return the
    first inf column again and again; the stable sort gives the finite one, then columns 0, 1."""
    from metricli.kernels import _smallest_k

    D = np.array([[np.inf, np.inf, 5.0, np.inf], [4.0, 1.0, 1.0, 0.5]])
    idx, values = _smallest_k(D.copy(), 3, 10)
    assert idx.tolist() == [[12, 10, 11], [13, 11, 12]]
    np.testing.assert_array_equal(values, [[5.0, np.inf, np.inf], [0.5, 1.0, 1.0]])
