"""Constraint generators from labels: seeded, never a point with itself, never twice, right classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricli.constraints import (
    Chunks,
    Pairs,
    Quadruplets,
    Triplets,
    chunks_from_labels,
    duplicated_rows,
    from_labels,
    pairs_from_labels,
    quadruplets_from_labels,
    triplets_from_labels,
    triplets_from_neighbors,
    validate,
)
from metricli.errors import MetricliError

LABELS = np.array(["a"] * 30 + ["b"] * 20 + [None, ""] + ["c"] * 5 + [None], dtype=object)
UNLABELLED = {50, 51, 57}


def columns(constraints):
    return [np.asarray(v) for v in constraints.as_columns().values()]


@pytest.mark.parametrize("kind", ["pairs", "triplets", "quadruplets", "chunks"])
def test_reproducible_under_a_seed(kind):
    first = from_labels(kind, LABELS, 40, seed=7)
    again = from_labels(kind, LABELS, 40, seed=7)
    other = from_labels(kind, LABELS, 40, seed=8)
    for x, y in zip(columns(first), columns(again), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(columns(first), columns(other), strict=True))


def test_pairs_are_labelled_by_class_and_never_self_or_repeated():
    pairs = pairs_from_labels(LABELS, 300, seed=0)
    assert len(pairs) == 300 and pairs.similar.sum() == 150
    assert not np.any(pairs.a == pairs.b)
    same = LABELS[pairs.a] == LABELS[pairs.b]
    np.testing.assert_array_equal(same, pairs.y == 1)
    assert duplicated_rows(pairs) is None
    assert not (set(pairs.a) | set(pairs.b)) & UNLABELLED
    validate(pairs, len(LABELS))


def test_more_pairs_than_exist_gives_all_of_them_once():
    labels = np.array(["a", "a", "a", "b", "b"], dtype=object)
    pairs = pairs_from_labels(labels, 100, seed=0)
    # 3 + 1 similar, 6 dissimilar unordered pairs: 10 in all
    assert len(pairs) == 10 and pairs.similar.sum() == 4
    assert duplicated_rows(pairs) is None


def test_triplets_and_quadruplets_respect_the_classes():
    t = triplets_from_labels(LABELS, 500, seed=1)
    assert len(t) == 500 and duplicated_rows(t) is None
    assert np.all(LABELS[t.anchor] == LABELS[t.positive]) and np.all(LABELS[t.anchor] != LABELS[t.negative])
    assert not np.any(t.anchor == t.positive)
    q = quadruplets_from_labels(LABELS, 500, seed=1)
    assert len(q) == 500 and duplicated_rows(q) is None
    assert np.all(LABELS[q.a] == LABELS[q.b]) and np.all(LABELS[q.c] != LABELS[q.d])
    assert not np.any(q.a == q.b)
    for constraints in (t, q):
        assert not set(np.concatenate(columns(constraints))) & UNLABELLED
        validate(constraints, len(LABELS))


def test_chunks_are_disjoint_single_class_groups():
    chunks = chunks_from_labels(LABELS, 12, chunk_size=3, seed=2)
    ids = chunks.ids
    assert len(chunks) == 12
    for chunk in range(12):
        members = np.flatnonzero(ids == chunk)
        assert members.size == 3 and len(set(LABELS[members])) == 1
    assert np.all(ids[list(UNLABELLED)] == -1)
    # class sizes 30, 20, 5 allow 10 + 6 + 1 chunks of 3
    assert len(chunks_from_labels(LABELS, 100, chunk_size=3, seed=2)) == 17


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["x", "y", "z", None]), min_size=2, max_size=40),
    n=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["pairs", "triplets", "quadruplets"]),
)
def test_any_labels_give_valid_distinct_constraints_or_a_clear_error(labels, n, seed, kind):
    labels = np.array(labels, dtype=object)
    try:
        drawn = from_labels(kind, labels, n, seed=seed)
    except MetricliError as exc:
        assert exc.message.startswith("cannot draw")
        return
    assert 1 <= len(drawn) <= n
    validate(drawn, len(labels))  # in range, no point with itself
    assert duplicated_rows(drawn) is None
    used = np.concatenate(columns(drawn)[:2] if kind == "pairs" else columns(drawn))
    assert all(labels[i] is not None for i in used)


def test_validate_names_the_first_bad_row():
    with pytest.raises(
        MetricliError, match=r"^f.csv: row 1 \(line 3\): column b refers to point 9 but the data has 5 rows"
    ):
        validate(Pairs([0, 1], [2, 9], [1, 1]), 5, where="f.csv", line_offset=2)
    with pytest.raises(MetricliError, match=r"^f.csv: row 0: y is 0; use 1 \(similar\) or -1 \(dissimilar\)"):
        validate(Pairs([0], [2], [0]), 5, where="f.csv")
    with pytest.raises(MetricliError, match=r"row 1: pairs point 4 with itself"):
        validate(Triplets([0, 4], [1, 3], [2, 4]), 5)
    with pytest.raises(MetricliError, match=r"row 0: pairs point 2 with itself"):
        validate(Quadruplets([0], [1], [2], [2]), 5)
    with pytest.raises(MetricliError, match="3 chunk ids for 5 points"):
        validate(Chunks([0, 0, 1]), 5)


def test_a_comparison_of_a_pair_with_itself_is_refused():
    # d(a, p) < d(a, p) and d(a, b) < d(b, a) hold under no metric: the row is a mistake, named
    with pytest.raises(MetricliError, match=r"t.csv: row 1 \(line 3\): positive and negative are the same"):
        validate(Triplets([0, 0], [1, 2], [3, 2]), 5, where="t.csv", line_offset=2)
    with pytest.raises(MetricliError, match=r"row 1: \(a, b\) and \(c, d\) are the same pair"):
        validate(Quadruplets([0, 0], [1, 1], [2, 1], [3, 0]), 5)
    validate(Quadruplets([0, 0], [1, 1], [0, 1], [2, 2]), 5)  # sharing one point is fine


def test_duplicates_count_pairs_as_unordered():
    assert duplicated_rows(Pairs([0, 1, 2], [1, 2, 0], [1, 1, 1])) is None
    assert duplicated_rows(Pairs([0, 2, 1], [1, 3, 0], [1, 1, -1])) == (2, 0)
    assert duplicated_rows(Triplets([0, 0], [1, 2], [2, 1])) is None
    assert duplicated_rows(Quadruplets([0, 1], [1, 0], [2, 4], [4, 2])) == (1, 0)


def test_impossible_requests_say_why():
    with pytest.raises(MetricliError, match="single class"):
        triplets_from_labels(np.array(["a"] * 5, dtype=object), 3)
    with pytest.raises(MetricliError, match="every class has a single labelled point"):
        quadruplets_from_labels(np.array(["a", "b", "c"], dtype=object), 3)
    with pytest.raises(MetricliError, match="no labelled points"):
        pairs_from_labels(np.array([None, None], dtype=object), 3)
    with pytest.raises(MetricliError, match="ask for at least 1"):
        pairs_from_labels(LABELS, 0)


def test_neighbour_triplets_pair_each_point_with_its_nearest_same_and_other_class_points():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(LABELS), 3))
    t = triplets_from_neighbors(X, LABELS, k_genuine=2, k_impostor=4)
    labelled = np.flatnonzero([v not in (None, "") for v in LABELS])
    assert len(t) == labelled.size * 2 * 4 and duplicated_rows(t) is None
    validate(t, len(LABELS))
    for anchor in (0, 35, 53):
        rows = t.anchor == anchor
        same = [i for i in labelled if LABELS[i] == LABELS[anchor] and i != anchor]
        other = [i for i in labelled if LABELS[i] != LABELS[anchor]]
        dist = np.sum((X - X[anchor]) ** 2, axis=1)
        assert set(t.positive[rows]) == set(np.array(same)[np.argsort(dist[same])[:2]])
        assert set(t.negative[rows]) == set(np.array(other)[np.argsort(dist[other])[:4]])
    subset = triplets_from_neighbors(X, LABELS, n=50, seed=3)
    again = triplets_from_neighbors(X, LABELS, n=50, seed=3)
    assert len(subset) == 50
    np.testing.assert_array_equal(subset.anchor, again.anchor)
    with pytest.raises(MetricliError, match="neighbors strategy draws triplets, not pairs"):
        from_labels("pairs", LABELS, 10, X=X, strategy="neighbors")
