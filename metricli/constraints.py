"""Weak supervision: pairs, triplets, quadruplets and chunks, and drawing them from labels.

Every constraint refers to points by their 0-based row in X.

- :class:`Pairs` ``(a, b, y)``: y = 1 means a and b are similar, y = -1 dissimilar.
- :class:`Triplets` ``(anchor, positive, negative)``: d(anchor, positive) < d(anchor, negative).
- :class:`Quadruplets` ``(a, b, c, d)``: d(a, b) < d(c, d).
- :class:`Chunks` ``ids``: points with the same id >= 0 belong together; -1 is in no chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metricli.errors import MetricliError

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


def validate(constraints: Constraints, n_points: int, where: str = "constraints") -> None:
    """Raise a MetricliError naming the first row that points outside X or pairs a point with itself."""
    if isinstance(constraints, Chunks):
        if len(constraints.ids) != n_points:
            raise MetricliError(f"{where}: {len(constraints.ids)} chunk ids for {n_points} points")
        if len(constraints) == 0:
            raise MetricliError(f"{where}: no chunks (every point has chunk id -1 or blank)")
        return
    if len(constraints) == 0:
        raise MetricliError(f"{where}: no {constraints.kind}")
    columns = constraints.as_columns()
    for name in constraints.columns:
        if name == "y":
            continue
        bad = (columns[name] < 0) | (columns[name] >= n_points)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MetricliError(
                f"{where}: row {row} refers to point {int(columns[name][row])} (column {name}) but the data "
                f"has {n_points} rows (0 to {n_points - 1})"
            )
    if isinstance(constraints, Pairs):
        bad_y = ~np.isin(constraints.y, (1, -1))
        if bad_y.any():
            row = int(np.flatnonzero(bad_y)[0])
            raise MetricliError(
                f"{where}: row {row} has y = {int(constraints.y[row])}; use 1 (similar) or -1 (dissimilar)"
            )
        same = constraints.a == constraints.b
    elif isinstance(constraints, Triplets):
        same = (constraints.anchor == constraints.positive) | (constraints.anchor == constraints.negative)
    else:
        same = (constraints.a == constraints.b) | (constraints.c == constraints.d)
    if same.any():
        row = int(np.flatnonzero(same)[0])
        raise MetricliError(f"{where}: row {row} pairs a point with itself")


# -- drawing constraints from labels ------------------------------------------------------------


def _encode(labels: object) -> tuple[np.ndarray, np.ndarray]:
    """Class codes for the labelled points, and their row numbers. None/NaN/'' = unlabelled."""
    labels = np.asarray(labels, dtype=object)
    mask = np.array([not (v is None or v == "" or (isinstance(v, float) and np.isnan(v))) for v in labels])
    rows = np.flatnonzero(mask)
    _, codes = np.unique(np.array([str(v) for v in labels[rows]], dtype=object), return_inverse=True)
    return codes.astype(np.intp), rows


def _unique_pairs(first: np.ndarray, second: np.ndarray, symmetric: bool) -> np.ndarray:
    lo, hi = (np.minimum(first, second), np.maximum(first, second)) if symmetric else (first, second)
    keys = np.stack([lo, hi], axis=1)
    _, keep = np.unique(keys, axis=0, return_index=True)
    return np.sort(keep)


def _draw_similar(codes: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    members = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    weights = np.array([len(m) * (len(m) - 1) / 2 for m in members], dtype=float)
    if weights.sum() == 0:
        raise MetricliError("cannot draw similar pairs: every class has a single labelled point")
    n = min(n, int(weights.sum()))
    a_all, b_all = np.empty(0, np.intp), np.empty(0, np.intp)
    for _ in range(50):
        need = n - len(a_all)
        if need <= 0:
            break
        cls = rng.choice(len(members), size=2 * need + 8, p=weights / weights.sum())
        sizes = np.array([len(members[c]) for c in cls])
        i = (rng.random(cls.size) * sizes).astype(np.intp)
        j = (rng.random(cls.size) * (sizes - 1)).astype(np.intp)
        j = j + (j >= i)
        a = np.array([members[c][k] for c, k in zip(cls, i, strict=True)], dtype=np.intp)
        b = np.array([members[c][k] for c, k in zip(cls, j, strict=True)], dtype=np.intp)
        a_all, b_all = np.concatenate([a_all, a]), np.concatenate([b_all, b])
        keep = _unique_pairs(a_all, b_all, symmetric=True)
        a_all, b_all = a_all[keep], b_all[keep]
    return a_all[:n], b_all[:n]


def _draw_dissimilar(codes: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if codes.max() == 0:
        raise MetricliError("cannot draw dissimilar pairs: the labels have a single class")
    m = len(codes)
    a_all, b_all = np.empty(0, np.intp), np.empty(0, np.intp)
    for _ in range(50):
        need = n - len(a_all)
        if need <= 0:
            break
        a = rng.integers(0, m, size=4 * need + 8)
        b = rng.integers(0, m, size=a.size)
        ok = codes[a] != codes[b]
        a_all, b_all = np.concatenate([a_all, a[ok]]), np.concatenate([b_all, b[ok]])
        keep = _unique_pairs(a_all, b_all, symmetric=True)
        a_all, b_all = a_all[keep], b_all[keep]
    return a_all[:n], b_all[:n]


def _shuffled(rng: np.random.Generator, *columns: np.ndarray) -> list[np.ndarray]:
    order = rng.permutation(len(columns[0]))
    return [c[order] for c in columns]


def pairs_from_labels(labels: object, n: int, seed: int | None = None) -> Pairs:
    """About n/2 similar pairs (same class) and n/2 dissimilar pairs, distinct, never a point with itself."""
    codes, rows = _encode(labels)
    rng = np.random.default_rng(seed)
    sa, sb = _draw_similar(codes, (n + 1) // 2, rng)
    da, db = _draw_dissimilar(codes, n - len(sa), rng)
    a = np.concatenate([sa, da])
    b = np.concatenate([sb, db])
    y = np.concatenate([np.ones(len(sa), np.intp), -np.ones(len(da), np.intp)])
    a, b, y = _shuffled(rng, a, b, y)
    return Pairs(rows[a], rows[b], y)


def triplets_from_labels(labels: object, n: int, seed: int | None = None) -> Triplets:
    """n triplets: anchor and positive from one class, negative from another."""
    codes, rows = _encode(labels)
    rng = np.random.default_rng(seed)
    anchor, positive = _draw_similar(codes, n, rng)
    if len(anchor) < n:  # fewer distinct similar pairs than asked: reuse them with other negatives
        extra = rng.integers(0, len(anchor), size=n - len(anchor))
        anchor, positive = (
            np.concatenate([anchor, anchor[extra]]),
            np.concatenate([positive, positive[extra]]),
        )
    negative = np.empty(n, np.intp)
    for i in range(n):
        others = np.flatnonzero(codes != codes[anchor[i]])
        if others.size == 0:
            raise MetricliError("cannot draw triplets: the labels have a single class")
        negative[i] = others[rng.integers(0, others.size)]
    return Triplets(rows[anchor], rows[positive], rows[negative])


def quadruplets_from_labels(labels: object, n: int, seed: int | None = None) -> Quadruplets:
    """n quadruplets: (a, b) from one class, (c, d) from two different classes, so d(a, b) < d(c, d)."""
    codes, rows = _encode(labels)
    rng = np.random.default_rng(seed)
    a, b = _draw_similar(codes, n, rng)
    c, d = _draw_dissimilar(codes, n, rng)
    m = min(len(a), len(c))
    if m < n:
        extra_ab = rng.integers(0, len(a), size=n - len(a))
        a, b = np.concatenate([a, a[extra_ab]]), np.concatenate([b, b[extra_ab]])
        extra_cd = rng.integers(0, len(c), size=n - len(c))
        c, d = np.concatenate([c, c[extra_cd]]), np.concatenate([d, d[extra_cd]])
    return Quadruplets(rows[a[:n]], rows[b[:n]], rows[c[:n]], rows[d[:n]])


def chunks_from_labels(labels: object, n_chunks: int, chunk_size: int = 2, seed: int | None = None) -> Chunks:
    """Up to n_chunks disjoint chunks of ``chunk_size`` points, each from one class (Bar-Hillel et al. 2005)."""
    codes, rows = _encode(labels)
    rng = np.random.default_rng(seed)
    ids = -np.ones(len(np.asarray(labels, dtype=object)), dtype=np.intp)
    pools = [list(rng.permutation(np.flatnonzero(codes == c))) for c in range(codes.max() + 1)]
    chunk = 0
    while chunk < n_chunks:
        available = [c for c, pool in enumerate(pools) if len(pool) >= chunk_size]
        if not available:
            break
        c = available[rng.integers(0, len(available))]
        members = [pools[c].pop() for _ in range(chunk_size)]
        ids[rows[members]] = chunk
        chunk += 1
    if chunk == 0:
        raise MetricliError(
            f"cannot draw chunks of {chunk_size} points: no class has that many labelled points"
        )
    return Chunks(ids)


def from_labels(
    kind: str, labels: object, n: int, seed: int | None = None, chunk_size: int = 2
) -> Constraints:
    """Draw ``n`` constraints of ``kind`` from class labels (seeded)."""
    if kind == "pairs":
        return pairs_from_labels(labels, n, seed)
    if kind == "triplets":
        return triplets_from_labels(labels, n, seed)
    if kind == "quadruplets":
        return quadruplets_from_labels(labels, n, seed)
    if kind == "chunks":
        return chunks_from_labels(labels, n, chunk_size, seed)
    raise MetricliError(f"unknown constraint kind '{kind}'; use one of: {', '.join(KINDS)}")
