"""Verification: is a pair the same identity or not? ROC, EER, TAR@FAR, thresholds, all pairs at scale.

A pair is *genuine* (same identity, y = 1) or an *impostor* pair (y = -1). A metric
verifies by a threshold t on the distance: the pair is accepted as "same" when
d <= t. Over a set of scored pairs,

    FAR(t) = #{impostor pairs with d <= t} / #impostor pairs   (false accept rate, FMR)
    TAR(t) = #{genuine pairs with d <= t} / #genuine pairs     (true accept rate, 1 - FRR)

and the ROC curve is (FAR(t), TAR(t)) over every t, vertices at the distinct
distances joined by straight lines (Fawcett, "An introduction to ROC analysis",
Pattern Recognition Letters 27, 2006, algorithm 2): a tie between a genuine and an
impostor distance is a diagonal segment, so the area under the curve is the
Mann-Whitney probability P(d_genuine < d_impostor) + P(d_genuine = d_impostor) / 2.
These are the conventions of scikit-learn's ``roc_curve``/``roc_auc_score`` fed the
score -d; the tests hold them to it.

Every figure depends on the pairs only through :class:`ScoreCounts`: the genuine and
impostor counts at each distinct distance, in increasing order. That is what lets
the all-pairs mode (:func:`all_pairs_counts`) score 10⁸ pairs exactly without holding
them: genuine pairs (within identities) are few and kept, and each impostor distance
only adds one to the count of the slot it falls in among the sorted genuine distances
(below, equal to, or between two of them). Between two genuine distances the ROC
curve is flat, so where an impostor lies inside its slot changes no figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.kernels import (
    DEFAULT_BLOCK_BYTES,
    block_rows,
    pair_sq_distances,
    row_blocks,
    sq_distances,
    squared_norms,
)

#: the FAR levels at which TAR is reported unless asked otherwise
DEFAULT_FAR_TARGETS = (1e-2, 1e-3, 1e-4)
#: threshold strategies of :func:`choose_threshold` besides a target FAR
STRATEGIES = ("eer", "accuracy", "f1")


@dataclass(frozen=True)
class ScoreCounts:
    """Genuine and impostor pair counts per distance slot, slots in increasing distance.

    ``values[k]`` is the distance of slot k, or NaN for a slot that only holds impostor
    pairs lying strictly between two known distances (all-pairs mode); such a slot is
    never a threshold (raising a threshold into it adds false accepts and no true one).
    """

    values: np.ndarray
    genuine: np.ndarray
    impostor: np.ndarray

    @classmethod
    def from_distances(cls, distances: np.ndarray, genuine: np.ndarray) -> ScoreCounts:
        """Counts from the distance of each pair and whether it is genuine."""
        distances = np.asarray(distances, dtype=np.float64).ravel()
        genuine = np.asarray(genuine, dtype=bool).ravel()
        if distances.shape != genuine.shape:
            raise ValueError("one genuine flag per distance")
        if not np.all(np.isfinite(distances)):
            raise MetricliError("a pair distance is missing or infinite")
        values, slot = np.unique(distances, return_inverse=True)
        slot = slot.ravel()
        return cls(
            values,
            np.bincount(slot[genuine], minlength=values.size).astype(np.int64),
            np.bincount(slot[~genuine], minlength=values.size).astype(np.int64),
        )

    @property
    def n_genuine(self) -> int:
        return int(self.genuine.sum())

    @property
    def n_impostor(self) -> int:
        return int(self.impostor.sum())

    def require_both(self, where: str = "the pairs") -> None:
        """Refuse counts without genuine or without impostor pairs: no rate could be measured."""
        if self.n_genuine == 0:
            raise MetricliError(f"{where}: no genuine (same, y = 1) pairs; verification needs both kinds")
        if self.n_impostor == 0:
            raise MetricliError(
                f"{where}: no impostor (different, y = -1) pairs; verification needs both kinds"
            )

    def with_counts(self, genuine: np.ndarray, impostor: np.ndarray) -> ScoreCounts:
        return ScoreCounts(self.values, genuine, impostor)


# -- the ROC curve and its figures ------------------------------------------------------


def roc(counts: ScoreCounts) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at (0, 0) and after each slot: the vertices of the ROC curve.

    The same points as scikit-learn's ``roc_curve(y, -d, drop_intermediate=False)``
    (fpr, tpr), plus collinear points for slots that only hold impostors.
    """
    far = np.concatenate([[0.0], np.cumsum(counts.impostor) / counts.n_impostor])
    tar = np.concatenate([[0.0], np.cumsum(counts.genuine) / counts.n_genuine])
    return far, tar


def auc(counts: ScoreCounts) -> float:
    """Area under the ROC curve: P(d_genuine < d_impostor) + P(d_genuine = d_impostor) / 2.

    Counted exactly (Mann & Whitney 1947; Hanley & McNeil, Radiology 143, 1982): each
    impostor pair in slot k beats the genuine pairs of the earlier slots and ties half
    of those in slot k. In integers up to the final division.
    """
    before = np.concatenate([[0], np.cumsum(counts.genuine)[:-1]])
    twice = int(np.sum(counts.impostor * (2 * before + counts.genuine), dtype=np.int64))
    return twice / (2.0 * counts.n_genuine * counts.n_impostor)


def eer(counts: ScoreCounts, curve: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The equal error rate: FAR = FRR where the ROC curve crosses FAR = 1 - TAR.

    Along the curve (vertices joined by straight lines) FAR + TAR - 1 never decreases,
    from -1 at (0, 0) to 1 at (1, 1); the crossing is interpolated on the segment where
    it changes sign, the same line the AUC integrates (Maio et al., "FVC2000: fingerprint
    verification competition", IEEE TPAMI 24(3), 2002, define the EER on this curve).
    """
    far, tar = roc(counts) if curve is None else curve
    gap = far + tar - 1.0
    j = int(np.argmax(gap >= 0.0))  # gap[-1] = 1, so there is one
    if gap[j] == 0.0:
        return float(far[j])
    i = j - 1
    t = -gap[i] / (gap[j] - gap[i])
    return float(far[i] + t * (far[j] - far[i]))


def tar_at_far(
    counts: ScoreCounts, target: float, curve: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """The highest TAR among thresholds whose FAR is at most ``target`` (no interpolation).

    scikit-learn's terms: ``max(tpr[fpr <= target])``. Refused when ``target`` is below
    1 / #impostors: no threshold's FAR can be told apart from 0 there.
    """
    require_measurable(counts, target)
    far, tar = roc(counts) if curve is None else curve
    return float(tar[far <= target].max())


def require_measurable(counts: ScoreCounts, target: float) -> None:
    if not 0.0 < target < 1.0:
        raise MetricliError(f"a target FAR must lie between 0 and 1; got {target:g}")
    if not measurable(counts, target):
        raise MetricliError(
            f"a FAR of {target:g} cannot be measured on {counts.n_impostor} impostor pairs; "
            f"it needs at least {minimum_impostors(target)}"
        )


def measurable(counts: ScoreCounts, target: float) -> bool:
    return target * counts.n_impostor >= 1.0


def minimum_impostors(target: float) -> int:
    """The fewest impostor pairs on which a FAR of ``target`` is one false accept or more."""
    return int(np.ceil(1.0 / target - 1e-9))


def far_frr(counts: ScoreCounts, threshold: float) -> tuple[float, float]:
    """FAR and FRR of the rule "same when d <= threshold" on these pairs."""
    accepted = _accepted(counts, threshold)
    fa = int(counts.impostor[accepted].sum())
    ta = int(counts.genuine[accepted].sum())
    return fa / counts.n_impostor, 1.0 - ta / counts.n_genuine


def _accepted(counts: ScoreCounts, threshold: float) -> np.ndarray:
    """Slots accepted by a threshold; a NaN slot lies above its known predecessor, so it goes with
    the next known value (accepted only if that one is)."""
    known = np.where(np.isnan(counts.values), np.inf, counts.values)
    upper = np.minimum.accumulate(known[::-1])[::-1]  # each slot's value or the next known one
    return upper <= threshold


# -- thresholds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """A chosen threshold: accept "same" when d <= ``value``, and its rates on the pairs it came from."""

    value: float
    strategy: str
    target_far: float | None
    far: float
    frr: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.value,
            "strategy": self.strategy,
            "target_far": self.target_far,
            "far": self.far,
            "frr": self.frr,
        }


def choose_threshold(
    counts: ScoreCounts, strategy: str = "eer", target_far: float | None = None
) -> Threshold:
    """The threshold (one of the pair distances) that a strategy prefers on these pairs.

    - ``eer``: FAR and FRR closest to each other (|FAR - FRR| smallest, then the lower of
      the two largest);
    - ``accuracy``: most pairs decided right (true accepts + true rejects);
    - ``f1``: the F1 score of "same" (2 TA / (2 TA + FA + FR));
    - ``target_far``: the highest acceptance whose FAR is at most the target.

    Only distances of genuine pairs are candidates (any other threshold is beaten by the
    genuine distance below it), and a tie is broken towards the smaller threshold. A
    threshold that accepts no pair is never chosen.
    """
    counts.require_both()
    ta = np.cumsum(counts.genuine)
    fa = np.cumsum(counts.impostor)
    n_g, n_i = counts.n_genuine, counts.n_impostor
    far = fa / n_i
    frr = 1.0 - ta / n_g
    # a threshold at a slot without genuine pairs is beaten by the slot of the last genuine pairs
    # below it (the same true accepts, fewer false ones), so only slots holding genuine pairs compete
    candidate = np.isfinite(counts.values) & (counts.genuine > 0)
    if target_far is not None:
        require_measurable(counts, target_far)
        allowed = candidate & (far <= target_far)
        if not allowed.any():
            first = int(np.argmax(candidate))
            raise MetricliError(
                f"no threshold accepts a genuine pair at FAR <= {target_far:g}: the closest genuine "
                f"pairs already come with a FAR of {far[first]:.3g}"
            )
        k = int(np.flatnonzero(allowed)[-1])
        return Threshold(float(counts.values[k]), "target_far", target_far, float(far[k]), float(frr[k]))
    if strategy == "eer":
        gap = np.where(candidate, np.abs(far - frr), np.inf)
        best = np.flatnonzero(gap == gap.min())
        k = int(best[np.argmin(np.maximum(far[best], frr[best]))])
    elif strategy == "accuracy":
        k = int(np.argmax(np.where(candidate, ta + (n_i - fa), -1)))
    elif strategy == "f1":
        k = int(np.argmax(np.where(candidate, 2.0 * ta / (2.0 * ta + fa + (n_g - ta)), -1.0)))
    else:
        raise MetricliError(f"unknown threshold strategy '{strategy}'; use one of: {', '.join(STRATEGIES)}")
    return Threshold(float(counts.values[k]), strategy, None, float(far[k]), float(frr[k]))


# -- bootstrap intervals -----------------------------------------------------------------


def bootstrap(
    counts: ScoreCounts,
    statistics: Callable[[ScoreCounts], dict[str, float | None]],
    n_resamples: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) of figures of the pairs.

    The Poisson bootstrap (Hanley & MacGibbon, "Creating non-parametric bootstrap samples
    using Poisson frequencies", Computer Methods and Programs in Biomedicine 83, 2006;
    Chamandy et al., "Estimating uncertainty for massive data streams", Google 2012): each
    pair is drawn Poisson(1) times instead of a multinomial draw of exactly as many pairs,
    so a slot of c pairs gets Poisson(c) of them, independently of the others. For large
    samples it is the multinomial bootstrap, and it costs one vectorised draw over the
    occupied slots (10⁸ pairs: ~10⁵ slots) instead of a sequential multinomial. A
    resample left without genuine or impostor pairs defines no figure.

    Pairs are treated as independent: pairs that share a point are not, so with many
    pairs per point the intervals are too narrow. A figure a resample cannot define
    (None) is left out; an interval from fewer than half the resamples is None.
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    at_g, at_i = np.flatnonzero(counts.genuine), np.flatnonzero(counts.impostor)
    for _ in range(n_resamples):
        genuine, impostor = np.zeros_like(counts.genuine), np.zeros_like(counts.impostor)
        genuine[at_g] = rng.poisson(counts.genuine[at_g])
        impostor[at_i] = rng.poisson(counts.impostor[at_i])
        if not (genuine.any() and impostor.any()):
            continue
        sample = counts.with_counts(genuine, impostor)
        for key, value in statistics(sample).items():
            draws.setdefault(key, [])
            if value is not None:
                draws[key].append(value)
    tail = (1.0 - level) / 2.0 * 100.0
    intervals: dict[str, tuple[float, float] | None] = {}
    for key, values in draws.items():
        if len(values) * 2 < n_resamples:
            intervals[key] = None
        else:
            low, high = np.percentile(values, [tail, 100.0 - tail])
            intervals[key] = (float(low), float(high))
    return intervals


def figures(
    counts: ScoreCounts, far_targets: Sequence[float] = DEFAULT_FAR_TARGETS
) -> dict[str, float | None]:
    """ROC AUC, EER and TAR at each FAR target (None where it cannot be measured)."""
    curve = roc(counts)
    result: dict[str, float | None] = {"auc": auc(counts), "eer": eer(counts, curve)}
    for target in far_targets:
        result[far_key(target)] = tar_at_far(counts, target, curve) if measurable(counts, target) else None
    return result


def far_key(target: float) -> str:
    return f"tar_at_far_{target:g}"


def summarize(
    counts: ScoreCounts,
    far_targets: Sequence[float] = DEFAULT_FAR_TARGETS,
    n_bootstrap: int = 1000,
    seed: int | None = 0,
) -> dict[str, Any]:
    """Every figure of the pairs with its 95% bootstrap interval (None when ``n_bootstrap`` is 0)."""
    counts.require_both()
    values = figures(counts, far_targets)
    intervals = bootstrap(counts, lambda c: figures(c, far_targets), n_bootstrap, seed) if n_bootstrap else {}
    return {
        "n_genuine": counts.n_genuine,
        "n_impostor": counts.n_impostor,
        **{key: {"value": value, "interval": intervals.get(key)} for key, value in values.items()},
    }


def curve(counts: ScoreCounts, max_points: int = 2000) -> dict[str, list[float]]:
    """The ROC vertices (FAR, TAR) thinned to about ``max_points`` for plotting.

    Points are kept evenly in log FAR (so a DET plot keeps its low-FAR end) and in TAR;
    the first and last are always kept.
    """
    far, tar = roc(counts)
    n = far.size
    if n <= max_points:
        return {"far": far.tolist(), "tar": tar.tolist()}
    log_far = np.log10(np.maximum(far, 1e-12))
    grid = np.linspace(log_far[1], 0.0, max_points // 2)
    keep = np.unique(
        np.concatenate(
            [
                [0, n - 1],
                np.minimum(np.searchsorted(log_far, grid), n - 1),
                np.minimum(np.searchsorted(tar, np.linspace(0.0, 1.0, max_points // 2)), n - 1),
            ]
        )
    )
    return {"far": far[keep].tolist(), "tar": tar[keep].tolist()}


# -- distances of pairs -----------------------------------------------------------------


def pair_distances(
    Z: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    other: np.ndarray | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> np.ndarray:
    """d(Z[a_i], other[b_i]) for each listed pair (``other`` defaults to Z), computed from differences."""
    return np.sqrt(pair_sq_distances(Z, Z if other is None else other, a, b, block_bytes))


def _grouped(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order putting each identity's points together, each point's group code in that order, starts)."""
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    codes = codes.ravel()
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_codes[1:] != sorted_codes[:-1]]))
    return order, sorted_codes, starts


def _upper_blocks(Z: np.ndarray, block_bytes: int) -> Iterator[tuple[slice, int, np.ndarray]]:
    """Squared distances of row block ``rows`` to the points from ``rows.start`` on (columns offset)."""
    norms = squared_norms(Z)
    n = Z.shape[0]
    step = block_rows(n, block_bytes)
    for rows in row_blocks(n, step):
        start = rows.start
        D = sq_distances(Z[rows], Z[start:], norms[rows], norms[start:])
        yield rows, start, D


def all_pairs_counts(
    Z: np.ndarray, groups: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> ScoreCounts:
    """The counts of every pair of points of Z: genuine within a group (identity), impostor across.

    n(n-1)/2 pairs in memory O(n·d + block + genuine pairs): first the genuine distances,
    group by group (kept, sorted); then all pairs block by block, each impostor distance
    counted in its slot among the genuine ones (``searchsorted``). Distances come from
    the expansion ||a||² + ||b||² - 2 a·b in blocks (listed pairs are computed from their
    differences, so the two can differ in the last bits); both passes use the same
    blocked products, so a genuine and an impostor pair at the same distance tie exactly.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    order, codes, starts = _grouped(groups)
    Z = Z[order]
    n = Z.shape[0]
    if n < 2:
        raise MetricliError("all pairs need at least two points")
    ends = np.append(starts[1:], n)
    genuine: list[np.ndarray] = []
    for rows, start, D in _upper_blocks(Z, block_bytes):
        # the same products as the impostor pass below: genuine and impostor pairs tie exactly
        r = np.arange(rows.start, rows.stop)
        end = ends[np.searchsorted(starts, r, side="right") - 1]
        width = int(end.max()) - start
        cols = start + np.arange(width)
        within = (cols[None, :] > r[:, None]) & (cols[None, :] < end[:, None])
        genuine.append(D[:, :width][within])
    genuine_sq = np.sort(np.concatenate(genuine)) if genuine else np.empty(0)
    if genuine_sq.size == 0:
        raise MetricliError("no genuine pairs: every identity has a single point")
    values_sq, genuine_counts = np.unique(genuine_sq, return_counts=True)
    G = values_sq.size
    # slot 2k: strictly between value k-1 and value k; slot 2k + 1: equal to value k
    slots = np.zeros(2 * G + 1, dtype=np.int64)
    for rows, start, D in _upper_blocks(Z, block_bytes):
        r = np.arange(rows.start, rows.stop)
        cols = start + np.arange(D.shape[1])
        impostor = (cols[None, :] > r[:, None]) & (codes[cols][None, :] != codes[r][:, None])
        # the block's impostor distances sorted, then the genuine values placed among them: a
        # sort and G binary searches, not a binary search per impostor (cache misses at 10⁸ pairs)
        d2 = np.sort(D[impostor])
        below = np.searchsorted(d2, values_sq, side="left")
        upto = np.searchsorted(d2, values_sq, side="right")
        slots[1::2] += upto - below
        slots[0::2] += np.diff(below, prepend=0, append=d2.size) - np.concatenate([[0], upto - below])
    values = np.full(2 * G + 1, np.nan)
    values[1::2] = np.sqrt(values_sq)
    genuine_slots = np.zeros(2 * G + 1, dtype=np.int64)
    genuine_slots[1::2] = genuine_counts
    return ScoreCounts(values, genuine_slots, slots)


def all_pairs_distances(Z: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair's distance and genuine flag, in memory (O(n²): for checking :func:`all_pairs_counts`)."""
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    order, codes, _ = _grouped(groups)
    Z = Z[order]
    d, g = [], []
    for rows, start, D in _upper_blocks(Z, DEFAULT_BLOCK_BYTES):
        r = np.arange(rows.start, rows.stop)
        cols = start + np.arange(D.shape[1])
        upper = cols[None, :] > r[:, None]
        d.append(np.sqrt(D[upper]))
        g.append((codes[cols][None, :] == codes[r][:, None])[upper])
    return np.concatenate(d), np.concatenate(g)


# -- identity-disjoint splits -------------------------------------------------------------


def identity_split(groups: np.ndarray, holdout: float = 0.3, seed: int | None = 0) -> np.ndarray:
    """A mask of the points held out for testing: whole identities, about ``holdout`` of them.

    The identities (distinct values of ``groups``; None/blank values are never held out)
    are shuffled with ``seed`` and the first round(holdout · #identities) are held out,
    at least one and at most all but one, so no identity is on both sides.
    """
    values = np.asarray(groups, dtype=object)
    present = np.array([v is not None and v == v and str(v) != "" for v in values], dtype=bool)
    keys = values[present].astype(str)
    identities = np.unique(keys)
    if identities.size < 2:
        raise MetricliError(
            f"an identity-disjoint split needs at least two identities; found {identities.size}"
        )
    if not 0.0 < holdout < 1.0:
        raise MetricliError(f"--holdout is a fraction of the identities, between 0 and 1; got {holdout:g}")
    n_test = min(max(1, round(holdout * identities.size)), identities.size - 1)
    chosen = np.random.default_rng(seed).permutation(identities)[:n_test]
    held = np.zeros(values.size, dtype=bool)
    held[np.flatnonzero(present)] = np.isin(keys, chosen)
    return held
