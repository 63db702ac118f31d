"""Weak supervision: pairs, triplets, quadruplets and chunks, and drawing them from labels.

Every constraint refers to points by their 0-based row in X.

- :class:`Pairs` ``(a, b, y)``: y = 1 means a and b are similar, y = -1 dissimilar.
- :class:`Triplets` ``(anchor, positive, negative)``: d(anchor, positive) < d(anchor, negative).
- :class:`Quadruplets` ``(a, b, c, d)``: d(a, b) < d(c, d).
- :class:`Chunks` ``ids``: points with the same id >= 0 belong together; -1 is in no chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metricli.errors import MetricliError
from metricli.lazy import pd

KINDS = ("pairs", "triplets", "quadruplets", "chunks")


def _as_index(values: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.intp).ravel())


@dataclass(frozen=True)
class Pairs:
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray

    kind = "pairs"
    columns = ("a", "b", "y")

    def __post_init__(self) -> None:
        for name in ("a", "b", "y"):
            object.__setattr__(self, name, _as_index(getattr(self, name)))
        if not (len(self.a) == len(self.b) == len(self.y)):
            raise MetricliError("pairs: a, b and y must have the same length")

    def __len__(self) -> int:
        return len(self.a)

    @property
    def similar(self) -> np.ndarray:
        return self.y == 1

    def as_columns(self) -> dict[str, np.ndarray]:
        return {"a": self.a, "b": self.b, "y": self.y}


@dataclass(frozen=True)
class Triplets:
    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray

    kind = "triplets"
    columns = ("anchor", "positive", "negative")

    def __post_init__(self) -> None:
        for name in self.columns:
            object.__setattr__(self, name, _as_index(getattr(self, name)))
        if not (len(self.anchor) == len(self.positive) == len(self.negative)):
            raise MetricliError("triplets: anchor, positive and negative must have the same length")

    def __len__(self) -> int:
        return len(self.anchor)

    def as_columns(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in self.columns}


@dataclass(frozen=True)
class Quadruplets:
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray

    kind = "quadruplets"
    columns = ("a", "b", "c", "d")

    def __post_init__(self) -> None:
        for name in self.columns:
            object.__setattr__(self, name, _as_index(getattr(self, name)))
        if not (len(self.a) == len(self.b) == len(self.c) == len(self.d)):
            raise MetricliError("quadruplets: a, b, c and d must have the same length")

    def __len__(self) -> int:
        return len(self.a)

    def as_columns(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in self.columns}


@dataclass(frozen=True)
class Chunks:
    ids: np.ndarray

    kind = "chunks"
    columns = ("chunk",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", _as_index(self.ids))

    def __len__(self) -> int:
        return int(np.unique(self.ids[self.ids >= 0]).size)

    def as_columns(self) -> dict[str, np.ndarray]:
        return {"chunk": self.ids}


Constraints = Pairs | Triplets | Quadruplets | Chunks


def validate(
    constraints: Constraints, n_points: int, where: str = "constraints", line_offset: int | None = None
) -> None:
    """Raise a MetricliError naming the first row that points outside X, pairs a point with
    itself, (pairs) has a label other than 1 / -1, or (triplets, quadruplets) compares a pair
    with itself, which no metric can satisfy.

    Rows are counted from 0; with ``line_offset`` (2 for a CSV with a header) the
    message also gives the line of the file.
    """
    if isinstance(constraints, Chunks):
        if len(constraints.ids) != n_points:
            raise MetricliError(f"{where}: {len(constraints.ids)} chunk ids for {n_points} points")
        if len(constraints) == 0:
            raise MetricliError(f"{where}: no chunks (every point has chunk id -1 or blank)")
        return
    if len(constraints) == 0:
        raise MetricliError(f"{where}: no {constraints.kind}")

    def at(row: int) -> str:
        return f"{where}: row {row}" + (f" (line {row + line_offset})" if line_offset is not None else "")

    columns = constraints.as_columns()
    for name in constraints.columns:
        if name == "y":
            continue
        bad = (columns[name] < 0) | (columns[name] >= n_points)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MetricliError(
                f"{at(row)}: column {name} refers to point {int(columns[name][row])} but the data "
                f"has {n_points} rows (0 to {n_points - 1})"
            )
    if isinstance(constraints, Pairs):
        bad_y = ~np.isin(constraints.y, (1, -1))
        if bad_y.any():
            row = int(np.flatnonzero(bad_y)[0])
            raise MetricliError(
                f"{at(row)}: y is {int(constraints.y[row])}; use 1 (similar) or -1 (dissimilar)"
            )
        same = constraints.a == constraints.b
        point = constraints.a
    elif isinstance(constraints, Triplets):
        same = (constraints.anchor == constraints.positive) | (constraints.anchor == constraints.negative)
        point = constraints.anchor
    else:
        same_ab = constraints.a == constraints.b
        same = same_ab | (constraints.c == constraints.d)
        point = np.where(same_ab, constraints.a, constraints.c)
    if same.any():
        row = int(np.flatnonzero(same)[0])
        raise MetricliError(
            f"{at(row)}: pairs point {int(point[row])} with itself; a constraint needs two different points"
        )
    if isinstance(constraints, Triplets):
        unsatisfiable = constraints.positive == constraints.negative
        why = "positive and negative are the same point, so d(anchor, positive) < d(anchor, negative) cannot hold"
    elif isinstance(constraints, Quadruplets):
        unsatisfiable = (
            np.minimum(constraints.a, constraints.b) == np.minimum(constraints.c, constraints.d)
        ) & (np.maximum(constraints.a, constraints.b) == np.maximum(constraints.c, constraints.d))
        why = "(a, b) and (c, d) are the same pair, so d(a, b) < d(c, d) cannot hold"
    else:
        return
    if unsatisfiable.any():
        raise MetricliError(f"{at(int(np.flatnonzero(unsatisfiable)[0]))}: {why}")


def duplicated_rows(constraints: Pairs | Triplets | Quadruplets) -> tuple[int, int] | None:
    """(row, earlier row) of the first constraint that repeats an earlier one, else None.

    Pairs are unordered: (a, b, y) repeats (b, a, y), and contradicts (b, a, -y);
    in quadruplets (a, b) and (c, d) are each unordered.
    """
    columns = [constraints.as_columns()[c] for c in constraints.columns if c != "y"]
    key = np.stack(_canonical(tuple(columns), symmetric=not isinstance(constraints, Triplets)), axis=1)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    earlier = first[inverse.ravel()]
    repeats = np.flatnonzero(earlier != np.arange(len(earlier)))
    if repeats.size == 0:
        return None
    row = int(repeats.min())
    return row, int(earlier[row])


# -- drawing constraints from labels ------------------------------------------------------------
#
# Every generator is seeded (numpy's default_rng), vectorized, never pairs a point with
# itself and never repeats a constraint (pairs count as unordered), so what it draws
# passes :func:`validate` and the duplicate check of constraint files. Points are
# grouped by class once (`_Classes`); a point of class c, or a point outside class c,
# is then picked by one index computation instead of a search.

#: rounds of drawing-and-deduplicating before settling for fewer distinct constraints
_ROUNDS = 50


class _Classes:
    """Labelled points grouped by class: ``order[start[c] : start[c] + count[c]]`` are class c."""

    def __init__(self, labels: object) -> None:
        values = np.asarray(labels, dtype=object).ravel()
        missing = np.asarray(pd.isna(values), dtype=bool) | (values == "")
        self.rows = np.flatnonzero(~missing)  # positions of the labelled points in `labels`
        if self.rows.size == 0:
            raise MetricliError("cannot draw constraints: no labelled points")
        _, codes = np.unique(values[self.rows].astype(str), return_inverse=True)
        self.codes = codes.astype(np.intp).ravel()
        self.order = np.argsort(self.codes, kind="stable")
        self.count = np.bincount(self.codes)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.n = self.codes.size
        self.rank = np.empty(self.n, dtype=np.intp)  # position of each point within its class
        self.rank[self.order] = np.arange(self.n) - self.start[self.codes[self.order]]

    def same_class(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each point index in ``first``, a random other point of its class (class size >= 2)."""
        c = self.codes[first]
        j = (rng.random(first.size) * (self.count[c] - 1)).astype(np.intp)
        j += j >= self.rank[first]
        return self.order[self.start[c] + j]

    def other_class(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each point index in ``first``, a random point of another class."""
        c = self.codes[first]
        j = (rng.random(first.size) * (self.n - self.count[c])).astype(np.intp)
        j += np.where(j >= self.start[c], self.count[c], 0)
        return self.order[j]

    def similar_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to n distinct unordered same-class pairs, uniform over all such pairs."""
        weight = self.count * (self.count - 1) / 2.0
        total = int(weight.sum())
        if total == 0:
            raise MetricliError("cannot draw similar pairs: every class has a single labelled point")
        # a point drawn with probability ∝ (class size - 1), then a partner: uniform over ordered pairs
        point_weight = (self.count - 1)[self.codes].astype(float)
        return _distinct(
            lambda size: self._pairs_from(point_weight, size, rng, self.same_class),
            min(n, total),
            symmetric=True,
        )

    def dissimilar_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to n distinct unordered pairs from different classes, uniform over all such pairs."""
        if self.count.size < 2:
            raise MetricliError("cannot draw dissimilar pairs: the labels have a single class")
        total = int((self.n**2 - np.sum(self.count.astype(np.int64) ** 2)) // 2)
        point_weight = (self.n - self.count)[self.codes].astype(float)
        return _distinct(
            lambda size: self._pairs_from(point_weight, size, rng, self.other_class),
            min(n, total),
            symmetric=True,
        )

    def _pairs_from(self, point_weight, size, rng, partner) -> tuple[np.ndarray, np.ndarray]:
        first = rng.choice(self.n, size=size, p=point_weight / point_weight.sum())
        return first, partner(first, rng)


def _distinct(draw, n: int, symmetric: bool) -> tuple[np.ndarray, ...]:
    """Columns of n distinct tuples from ``draw(size)``, in the order first drawn.

    ``symmetric``: (a, b) and (b, a) are the same pair; for 4 columns, (a, b) and
    (c, d) are each unordered.
    """
    columns: tuple[np.ndarray, ...] | None = None
    for _ in range(_ROUNDS):
        have = 0 if columns is None else len(columns[0])
        if have >= n:
            break
        fresh = draw(2 * (n - have) + 16)
        columns = (
            fresh if columns is None else tuple(np.concatenate(p) for p in zip(columns, fresh, strict=True))
        )
        key = np.stack(_canonical(columns, symmetric), axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        columns = tuple(c[np.sort(first)] for c in columns)
    assert columns is not None
    return tuple(c[:n] for c in columns)


def _canonical(columns: tuple[np.ndarray, ...], symmetric: bool) -> list[np.ndarray]:
    if not symmetric:
        return list(columns)
    out = []
    for i in range(0, len(columns) - 1, 2):
        out += [np.minimum(columns[i], columns[i + 1]), np.maximum(columns[i], columns[i + 1])]
    return out + ([columns[-1]] if len(columns) % 2 else [])


def _check_count(n: int, what: str) -> int:
    if int(n) < 1:
        raise MetricliError(f"cannot draw {n} {what}; ask for at least 1")
    return int(n)


def pairs_from_labels(labels: object, n: int, seed: int | None = None) -> Pairs:
    """n distinct pairs: half similar (same class), half dissimilar, shuffled.

    If fewer distinct similar pairs exist, dissimilar ones make up the count.
    """
    n = _check_count(n, "pairs")
    classes = _Classes(labels)
    rng = np.random.default_rng(seed)
    empty = np.empty(0, np.intp)
    several_classes = classes.count.size > 1
    if not several_classes and classes.count[0] < 2:
        raise MetricliError("cannot draw pairs from a single labelled point")
    n_similar = 0 if not np.any(classes.count > 1) else (n + 1) // 2 if several_classes else n
    sa, sb = classes.similar_pairs(n_similar, rng) if n_similar else (empty, empty)
    da, db = classes.dissimilar_pairs(n - len(sa), rng) if several_classes and n > len(sa) else (empty, empty)
    a, b = np.concatenate([sa, da]), np.concatenate([sb, db])
    y = np.concatenate([np.ones(len(sa), np.intp), -np.ones(len(da), np.intp)])
    order = rng.permutation(len(a))
    return Pairs(classes.rows[a[order]], classes.rows[b[order]], y[order])


def triplets_from_labels(labels: object, n: int, seed: int | None = None) -> Triplets:
    """n distinct triplets (anchor, positive, negative): positive from the anchor's class, negative not.

    The (anchor, positive) pair is uniform over ordered same-class pairs, the negative
    uniform over the points of other classes.
    """
    n = _check_count(n, "triplets")
    classes = _Classes(labels)
    if classes.count.size < 2:
        raise MetricliError("cannot draw triplets: the labels have a single class")
    if not np.any(classes.count > 1):
        raise MetricliError("cannot draw triplets: every class has a single labelled point")
    rng = np.random.default_rng(seed)
    point_weight = (classes.count - 1)[classes.codes].astype(float)

    def draw(size: int) -> tuple[np.ndarray, ...]:
        anchor, positive = classes._pairs_from(point_weight, size, rng, classes.same_class)
        return anchor, positive, classes.other_class(anchor, rng)

    anchor, positive, negative = _distinct(draw, n, symmetric=False)
    return Triplets(classes.rows[anchor], classes.rows[positive], classes.rows[negative])


def triplets_from_neighbors(
    X: np.ndarray,
    labels: object,
    n: int | None = None,
    seed: int | None = None,
    k_genuine: int = 3,
    k_impostor: int = 10,
) -> Triplets:
    """Triplets among nearest neighbours: each labelled point as anchor, one of its k_genuine
    nearest same-class points as positive, one of its k_impostor nearest other-class
    points as negative (all k_genuine x k_impostor combinations).

    These are the triplets near class boundaries that matter for kNN, as in
    metric-learn's SCML_Supervised (Euclidean neighbours in X, ties by row order).
    With ``n`` smaller than their number, a seeded random subset of n is kept.
    """
    from metricli.kernels import knn

    classes = _Classes(labels)
    if classes.count.size < 2:
        raise MetricliError("cannot draw triplets: the labels have a single class")
    if not np.any(classes.count > 1):
        raise MetricliError("cannot draw triplets: every class has a single labelled point")
    points = np.asarray(X, dtype=np.float64)[classes.rows]
    anchor, positive, negative = [], [], []
    for c in range(classes.count.size):
        members = classes.order[classes.start[c] : classes.start[c] + classes.count[c]]
        others = np.concatenate(
            [classes.order[: classes.start[c]], classes.order[classes.start[c] + classes.count[c] :]]
        )
        g, i = min(k_genuine, members.size - 1), min(k_impostor, others.size)
        if g < 1:
            continue
        genuine, _ = knn(points[members], points[members], g, exclude_self=True)
        impostors, _ = knn(points[members], points[others], i)
        anchor.append(np.repeat(members, g * i))
        positive.append(np.repeat(members[genuine], i, axis=1).ravel())
        negative.append(np.tile(others[impostors], (1, g)).ravel())
    columns = [np.concatenate(parts) for parts in (anchor, positive, negative)]
    if n is not None and _check_count(n, "triplets") < len(columns[0]):
        keep = np.sort(np.random.default_rng(seed).choice(len(columns[0]), size=n, replace=False))
        columns = [c[keep] for c in columns]
    return Triplets(*(classes.rows[c] for c in columns))


def quadruplets_from_labels(labels: object, n: int, seed: int | None = None) -> Quadruplets:
    """n distinct quadruplets: (a, b) from one class, (c, d) from two classes, so d(a, b) < d(c, d)."""
    n = _check_count(n, "quadruplets")
    classes = _Classes(labels)
    if classes.count.size < 2:
        raise MetricliError("cannot draw quadruplets: the labels have a single class")
    if not np.any(classes.count > 1):
        raise MetricliError("cannot draw quadruplets: every class has a single labelled point")
    rng = np.random.default_rng(seed)
    similar_weight = (classes.count - 1)[classes.codes].astype(float)
    dissimilar_weight = (classes.n - classes.count)[classes.codes].astype(float)

    def draw(size: int) -> tuple[np.ndarray, ...]:
        a, b = classes._pairs_from(similar_weight, size, rng, classes.same_class)
        c, d = classes._pairs_from(dissimilar_weight, size, rng, classes.other_class)
        return a, b, c, d

    a, b, c, d = _distinct(draw, n, symmetric=True)
    return Quadruplets(classes.rows[a], classes.rows[b], classes.rows[c], classes.rows[d])


def chunks_from_labels(labels: object, n_chunks: int, chunk_size: int = 2, seed: int | None = None) -> Chunks:
    """Up to n_chunks disjoint chunks of ``chunk_size`` points, each from one class (Bar-Hillel et al. 2005).

    Each class offers floor(size / chunk_size) chunks of its points in random order;
    n_chunks of all those are picked at random.
    """
    n_chunks = _check_count(n_chunks, "chunks")
    if chunk_size < 2:
        raise MetricliError(f"chunk size must be at least 2, got {chunk_size}")
    classes = _Classes(labels)
    rng = np.random.default_rng(seed)
    per_class = classes.count // chunk_size
    if per_class.sum() == 0:
        raise MetricliError(
            f"cannot draw chunks of {chunk_size} points: no class has that many labelled points"
        )
    # points in random order within each class
    shuffled = classes.order[np.lexsort((rng.random(classes.n), classes.codes[classes.order]))]
    slot_class = np.repeat(np.arange(per_class.size), per_class)
    slot_index = np.arange(slot_class.size) - np.repeat(np.cumsum(per_class) - per_class, per_class)
    chosen = rng.permutation(slot_class.size)[: min(n_chunks, slot_class.size)]
    first = classes.start[slot_class[chosen]] + slot_index[chosen] * chunk_size
    members = shuffled[(first[:, None] + np.arange(chunk_size)).ravel()]
    ids = -np.ones(len(np.asarray(labels, dtype=object).ravel()), dtype=np.intp)
    ids[classes.rows[members]] = np.repeat(np.arange(chosen.size), chunk_size)
    return Chunks(ids)


def default_count(kind: str, n_classes: int, n_points: int) -> int:
    """How many constraints to draw from labels when the user does not say.

    Pairs: 20·c² similar and 20·c² dissimilar, quadruplets 20·c² (c classes): what
    metric-learn's *_Supervised learners draw. Triplets: 30 per point (as many as
    metric-learn's 3 × 10 nearest-neighbour triplets). Chunks: 100.
    With many classes c² explodes (5,000 classes: 10⁹ pairs, 5.5 GB), so every kind is
    capped at :data:`DEFAULT_CAP`; :func:`default_note` says so when the cap bites.
    """
    return min(_default_formula(kind, n_classes, n_points), DEFAULT_CAP)


#: the most constraints drawn when the user does not say how many
DEFAULT_CAP = 100_000


def _default_formula(kind: str, n_classes: int, n_points: int) -> int:
    if kind == "pairs":
        return 40 * n_classes**2
    if kind == "quadruplets":
        return 20 * n_classes**2
    if kind == "triplets":
        return 30 * n_points
    return 100


def default_note(kind: str, n_classes: int, n_points: int) -> str | None:
    """A note when the default count was capped (None otherwise)."""
    wanted = _default_formula(kind, n_classes, n_points)
    if wanted <= DEFAULT_CAP:
        return None
    return (
        f"drawing {DEFAULT_CAP:,} {kind} by default, not {wanted:,} ({n_classes:,} classes); "
        "--n-constraints sets the number"
    )


def describe(constraints: Constraints) -> dict[str, int | str]:
    """Counts for metadata and summaries: kind, count, and similar/dissimilar pairs or chunked points."""
    info: dict[str, int | str] = {"kind": constraints.kind, "count": len(constraints)}
    if isinstance(constraints, Pairs):
        info["similar"] = int(constraints.similar.sum())
        info["dissimilar"] = int(len(constraints) - constraints.similar.sum())
    if isinstance(constraints, Chunks):
        info["points_in_chunks"] = int(np.sum(constraints.ids >= 0))
    return info


#: how triplets are drawn from labels: at random, or among nearest neighbours
STRATEGIES = ("random", "neighbors")


def drawn_from_labels(
    kind: str,
    labels: object,
    n: int | None,
    *,
    n_classes: int,
    n_labelled: int,
    where: str,
    notify: Callable[[str], None],
    seed: int | None = None,
    chunk_size: int = 2,
    X: np.ndarray | None = None,
    strategy: str = "random",
    short: str = "",
) -> tuple[Constraints, int | None]:
    """(constraints, the count asked for) as ``fit`` and ``constraints`` draw them: the default
    count when ``n`` is None (random strategy; a note when it is capped), errors prefixed with
    ``where``, and a note when fewer distinct ones exist than were asked (``short`` words it)."""
    requested = n
    if requested is None and strategy == "random":
        requested = default_count(kind, n_classes, n_labelled)
        capped = default_note(kind, n_classes, n_labelled)
        if capped:
            notify(f"{where}: {capped}")
    try:
        drawn = from_labels(kind, labels, n, seed=seed, chunk_size=chunk_size, X=X, strategy=strategy)
    except MetricliError as exc:
        raise MetricliError(f"{where}: {exc.message}") from None
    if requested is not None and len(drawn) < requested:
        notify(f"{where}: drew {len(drawn)} {kind}{short} ({requested} asked; no more distinct ones exist)")
    return drawn, requested


def from_labels(
    kind: str,
    labels: object,
    n: int | None,
    seed: int | None = None,
    chunk_size: int = 2,
    X: np.ndarray | None = None,
    strategy: str = "random",
) -> Constraints:
    """Draw ``n`` constraints of ``kind`` from class labels (seeded).

    ``strategy="neighbors"`` (triplets only, needs X) draws them among nearest
    neighbours (:func:`triplets_from_neighbors`); n = None then keeps all of them.
    Otherwise n = None means :func:`default_count`.
    """
    if strategy not in STRATEGIES:
        raise MetricliError(f"unknown strategy '{strategy}'; use one of: {', '.join(STRATEGIES)}")
    if strategy == "neighbors":
        if kind != "triplets":
            raise MetricliError(f"the neighbors strategy draws triplets, not {kind}")
        if X is None:
            raise MetricliError("the neighbors strategy needs the points, to find their neighbours")
        if n is not None:
            refuse_impossible_count(kind, labels, n, chunk_size, strategy)
        return triplets_from_neighbors(X, labels, n, seed)
    if n is None:
        values = np.asarray(labels, dtype=object).ravel()
        present = values[~(np.asarray(pd.isna(values), dtype=bool) | (values == ""))]
        n = default_count(kind, len(np.unique(present.astype(str))), present.size)
        refuse_impossible_count(kind, labels, n, chunk_size, strategy, asked=False)
    else:
        refuse_impossible_count(kind, labels, n, chunk_size, strategy)
    if kind == "pairs":
        return pairs_from_labels(labels, n, seed)
    if kind == "triplets":
        return triplets_from_labels(labels, n, seed)
    if kind == "quadruplets":
        return quadruplets_from_labels(labels, n, seed)
    if kind == "chunks":
        return chunks_from_labels(labels, n, chunk_size, seed)
    raise MetricliError(f"unknown constraint kind '{kind}'; use one of: {', '.join(KINDS)}")


#: peak bytes per constraint drawn at random (tracemalloc over pairs/triplets/quadruplets_from_labels
#: for 2,000,000 of each on 200,000 points: 117, 278 and 359), rounded up, plus the table written
BYTES_PER_CONSTRAINT = {"pairs": 150, "triplets": 320, "quadruplets": 420}


def distinct_count(
    kind: str, labels: object, chunk_size: int = 2, strategy: str = "random"
) -> tuple[int, str]:
    """How many distinct constraints of ``kind`` the labels can give, and the arithmetic, in words.

    With N labelled points in classes of sizes c: pairs N(N-1)/2 (unordered, either
    class relation); random triplets sum c(c-1)(N-c) (an ordered same-class pair and a
    point of another class); quadruplets S x D (an unordered same-class pair and an
    unordered pair across classes); neighbour triplets sum c·min(3, c-1)·min(10, N-c);
    chunks sum floor(c / size).
    """
    classes = _Classes(labels)
    sizes = [int(c) for c in classes.count]
    n = classes.n
    if kind == "pairs":
        return n * (n - 1) // 2, f"{n:,} labelled points give {n:,}·{n - 1:,}/2 ="
    if kind == "triplets" and strategy == "neighbors":
        total = sum(c * min(3, c - 1) * min(10, n - c) for c in sizes)
        return total, (
            f"{n:,} labelled points in {len(sizes):,} classes, each with at most 3 same-class "
            "and 10 other-class neighbours, give"
        )
    if kind == "triplets":
        total = sum(c * (c - 1) * (n - c) for c in sizes)
        return total, f"{n:,} labelled points in {len(sizes):,} classes give Σ c·(c-1)·(N-c) ="
    if kind == "quadruplets":
        similar = sum(c * (c - 1) // 2 for c in sizes)
        dissimilar = (n * n - sum(c * c for c in sizes)) // 2
        return similar * dissimilar, (
            f"{n:,} labelled points in {len(sizes):,} classes give {similar:,} same-class × "
            f"{dissimilar:,} cross-class pairs ="
        )
    total = sum(c // max(chunk_size, 1) for c in sizes)
    return total, f"{n:,} labelled points in {len(sizes):,} classes give Σ ⌊c/{chunk_size}⌋ ="


def refuse_impossible_count(
    kind: str, labels: object, n: int, chunk_size: int = 2, strategy: str = "random", asked: bool = True
) -> None:
    """Refuse, before drawing, a count the labels cannot give (when the user asked for it)
    or one whose drawing would not fit in the memory available, with the arithmetic.

    ``constraints -n 10**12`` on 100,000 points ran for 11 minutes at 14.8 GB and ignored SIGTERM.
    """
    from metricli.memory import available_bytes, human_bytes

    if kind not in KINDS or kind == "chunks":  # "up to n" disjoint chunks, drawn in O(points)
        return
    total, how = distinct_count(kind, labels, chunk_size, strategy)
    if asked and n > total:
        raise MetricliError(
            f"cannot draw {n:,} {kind}: {how} {total:,} distinct ones; ask for at most {total:,}"
        )
    per = BYTES_PER_CONSTRAINT.get(kind)
    if per is None or (kind == "triplets" and strategy == "neighbors"):
        return
    count = min(n, total)
    need, free = count * per, available_bytes()
    if need > free:
        raise MetricliError(
            f"cannot draw {count:,} {kind}: that takes about {human_bytes(need)} "
            f"({count:,} × {per} bytes) and {human_bytes(free)} is available; "
            f"ask for at most {free // per:,}"
        )
