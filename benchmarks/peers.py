"""What is compared with what: each metricli learner, its parameters, and its peers.

One :class:`Benchmark` per metricli learner name (as in ``metricli.learners.LEARNERS``).
Parameters are chosen to mean the same thing on both sides: the same neighbour
count, iteration limit, tolerance, prior and seed where the two implementations
expose them; anything else is left at each library's default, which the results
JSON records next to every run.

A key written ``"a|b"`` in ``params`` goes to whichever of ``a`` or ``b`` the
metricli class accepts (the learners are written in parallel with this table).
A parameter the class does not accept is dropped and listed under
``ignored_params`` in the results, so a name mismatch is visible, never silent.

This module only holds data (no numpy, no metricli): the worker in the peer venv
never imports it, the harness sends each worker its own spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLASSIFICATION = "classification"
REGRESSION = "regression"

METRIC_LEARN = "metric-learn"
SCIKIT_LEARN = "scikit-learn"


@dataclass(frozen=True)
class Peer:
    """A peer implementation: ``library`` is metric-learn or scikit-learn, ``cls`` its class name."""

    library: str
    cls: str
    params: dict = field(default_factory=dict)
    #: what differs in how the peer is fed, shown with its name (e.g. "labelled points only")
    note: str = ""

    @property
    def label(self) -> str:
        suffix = f" ({self.note})" if self.note else ""
        return f"{self.library} {self.cls}{suffix}"


@dataclass(frozen=True)
class Benchmark:
    """One metricli learner and the peers it is measured against."""

    learner: str
    #: as metricli's ``supervision``: supervised, regression, unsupervised, semi-supervised, weakly-supervised
    supervision: str
    params: dict
    peers: tuple[Peer, ...]
    #: weakly supervised: the kind of constraint both sides are given (drawn from the training labels)
    constraints: str | None = None
    #: semi-supervised: share of the training labels hidden from the learner (seeded)
    unlabelled_fraction: float = 0.0
    #: part of the synthetic scaling series by default
    scaling: bool = False
    #: why there is no peer (shown in the table instead of a peer's numbers)
    no_peer: str = ""
    #: the row's name when it is not the learner's (a second setting of one learner)
    label: str = ""

    @property
    def key(self) -> str:
        return self.label or self.learner

    @property
    def task(self) -> str:
        return REGRESSION if self.supervision == "regression" else CLASSIFICATION


_NO_ML = "no counterpart in metric-learn 0.7.0"

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "covariance",
        "unsupervised",
        {},
        (Peer(METRIC_LEARN, "Covariance"),),
    ),
    Benchmark(
        "nca",
        "supervised",
        {"max_iter": 100, "random_state": 0},
        (
            Peer(METRIC_LEARN, "NCA", {"max_iter": 100, "random_state": 0}),
            Peer(SCIKIT_LEARN, "NeighborhoodComponentsAnalysis", {"max_iter": 100, "random_state": 0}),
        ),
        scaling=True,
    ),
    Benchmark(
        "lmnn",
        "supervised",
        # k = 3 target neighbours, the same as the kNN used to score (and metric-learn's default).
        # metric-learn's regularization weights the pull term, ours (μ, as in the paper) the push
        # term: they agree at 0.5 only; another value r here must be passed to metric-learn as 1 - r.
        {"k|n_neighbors": 3, "regularization|mu": 0.5, "max_iter": 1000, "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "LMNN",
                {"n_neighbors": 3, "regularization": 0.5, "max_iter": 1000, "random_state": 0},
            ),
        ),
        scaling=True,
    ),
    Benchmark(
        "mlkr",
        "regression",
        {"max_iter": 1000, "random_state": 0},
        (Peer(METRIC_LEARN, "MLKR", {"max_iter": 1000, "random_state": 0}),),
    ),
    Benchmark(
        "lfda",
        "supervised",
        # k: the neighbour whose distance sets the local scaling (Zelnik-Manor & Perona's 7th);
        # metric-learn silently caps it at n_features - 1 (3 on iris) and says so in a warning
        {"k": 7, "embedding_type": "weighted"},
        (Peer(METRIC_LEARN, "LFDA", {"k": 7, "embedding_type": "weighted"}),),
    ),
    Benchmark(
        "self",
        "semi-supervised",
        {"k": 7},
        # not a counterpart: the supervised method SELF extends, given only the labelled half,
        # to show what the unlabelled points add
        (Peer(METRIC_LEARN, "LFDA", {"k": 7, "embedding_type": "weighted"}, note="labelled points only"),),
        unlabelled_fraction=0.5,
    ),
    Benchmark(
        "self",
        "semi-supervised",
        {"k": 7},
        # every label given: SELF should then be LFDA (issue 21), so LFDA is its counterpart
        (Peer(METRIC_LEARN, "LFDA", {"k": 7, "embedding_type": "weighted"}),),
        label="self-all",
    ),
    Benchmark(
        "rca",
        "weakly-supervised",
        {},
        (Peer(METRIC_LEARN, "RCA"),),
        constraints="chunks",
    ),
    Benchmark(
        "kissme",
        "weakly-supervised",
        {},
        (),
        constraints="pairs",
        no_peer=_NO_ML,
    ),
    Benchmark(
        "itml",
        "weakly-supervised",
        {"gamma": 1.0, "max_iter": 1000, "tol": 1e-3, "prior": "identity", "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "ITML",
                {"gamma": 1.0, "max_iter": 1000, "tol": 1e-3, "prior": "identity", "random_state": 0},
            ),
        ),
        constraints="pairs",
    ),
    Benchmark(
        "sdml",
        "weakly-supervised",
        {"balance_param": 0.5, "sparsity_param": 0.01, "prior": "identity", "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "SDML",
                {"balance_param": 0.5, "sparsity_param": 0.01, "prior": "identity", "random_state": 0},
            ),
        ),
        constraints="pairs",
    ),
    Benchmark(
        "mmc",
        "weakly-supervised",
        {"max_iter": 100, "max_proj": 10000, "tol": 1e-3, "diagonal": False, "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "MMC",
                {
                    "max_iter": 100,
                    "max_proj": 10000,
                    "tol": 1e-3,
                    "init": "identity",
                    "diagonal": False,
                    "random_state": 0,
                },
            ),
        ),
        constraints="pairs",
    ),
    Benchmark(
        "lsml",
        "weakly-supervised",
        # metric-learn's LSML weighs its LogDet regulariser by 1 and has no parameter for it;
        # metricli's `regularization` (default 0.1) is that weight: set to 1, both sides
        # minimize the same objective (benchmarks/weak_objectives.py compares the two)
        {"max_iter": 1000, "tol": 1e-3, "prior": "identity", "regularization": 1.0, "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "LSML",
                {"max_iter": 1000, "tol": 1e-3, "prior": "identity", "random_state": 0},
            ),
        ),
        constraints="quadruplets",
    ),
    Benchmark(
        "scml",
        "weakly-supervised",
        {"beta": 1e-5, "max_iter": 10000, "batch_size": 10, "random_state": 0},
        (
            Peer(
                METRIC_LEARN,
                "SCML",
                {
                    "beta": 1e-5,
                    "basis": "triplet_diffs",
                    "gamma": 5e-3,
                    "max_iter": 10000,
                    "batch_size": 10,
                    "random_state": 0,
                },
            ),
        ),
        constraints="triplets",
    ),
)

BY_NAME: dict[str, Benchmark] = {b.key: b for b in BENCHMARKS}


def constraint_count(kind: str, n_classes: int) -> int:
    """How many constraints both sides get, following metric-learn's ``*_Supervised`` defaults.

    metric-learn draws 20·c² similar and 20·c² dissimilar pairs (ITML, SDML, MMC) and
    20·c² quadruplets (LSML) for c classes; triplets get 20·c² too; RCA gets
    100 chunks of 2 points (RCA_Supervised's default).
    """
    if kind == "pairs":
        return 40 * n_classes**2
    if kind in ("triplets", "quadruplets"):
        return 20 * n_classes**2
    if kind == "chunks":
        return 100
    raise ValueError(f"unknown constraint kind {kind!r}")


CHUNK_SIZE = 2
