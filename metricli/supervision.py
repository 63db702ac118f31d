"""The supervision a learner is fitted with, from a data set and the command's options.

Each kind of learner gets what its paper's fit takes: nothing (unsupervised), class labels
(supervised; semi-supervised also keeps the unlabelled rows), a numeric target
(regression), or constraints (weakly supervised: pairs, triplets, quadruplets or chunklets
read from a file or a chunk column, or drawn from the labels with a seed). ``metricli fit``,
``metricli evaluate`` (per training fold) and the Dask fit all go through here.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.evaluation import leaking_features, standardization
from metricli.io.tables import Dataset, display_name, load_dataset, sha256_file
from metricli.learners.base import MahalanobisLearner


def _silent(message: str) -> None:
    """The default ``notify``: notes are dropped."""


def is_chunk_file(value: str) -> bool:
    """--chunks names a file (not a column of DATA) when a table file of that name exists."""
    return Path(value).suffix.lower() in (".csv", ".tsv", ".parquet") and Path(value).is_file()


def load_learning_data(
    options: dict[str, Any],
    notify: Callable[[str], None] = _silent,
    fits_width: Callable[[int, str], None] | None = None,
) -> Dataset:
    """DATA with the columns the options choose (features, label, target, id, chunk column);
    its notes, and a note for each feature that alone predicts the label (a likely leak), go to ``notify``.
    ``fits_width(n_features, name)`` (a memory check that refuses a table too wide) sees a lower
    bound on the feature columns as soon as the table is read, before the columns are chosen one
    by one (seconds for 10,000 columns), and then their number, before the per-column leak scan."""
    dataset = load_dataset(
        options["data"],
        options["fmt"],
        fits_width=fits_width,
        label=options["label"],
        target=options["target"],
        id_column=options["id_column"],
        features=options["features"],
        exclude=options["exclude"] or (),
        drop_missing=options["drop_missing"],
        unlabeled=options["unlabeled"],
        extra_columns=[
            *([options["chunks"]] if options.get("chunks") and not is_chunk_file(options["chunks"]) else []),
            *(
                [options["group"]]
                if options.get("group") and options["group"] != options.get("label")
                else []
            ),
        ],
    )
    if fits_width is not None:
        fits_width(len(dataset.feature_names), dataset.name)
    for message in dataset.notes:
        notify(message)
    if dataset.labels is not None:
        for leak in leaking_features(dataset.X, dataset.labels, dataset.feature_names):
            notify(
                f"{dataset.name}: column '{leak.column}' alone predicts the label (kNN accuracy "
                f"{leak.accuracy:.3f}; {leak.others:.3f} from the other columns together): a likely leak (a row number, "
                f"an id or the label recoded); leave it out with --exclude {shlex.quote(leak.column)}"
            )
    return dataset


def supervision(
    cls: type[MahalanobisLearner],
    dataset: Dataset,
    options: dict[str, Any],
    notify: Callable[[str], None] = _silent,
) -> tuple[np.ndarray, tuple, dict]:
    """X and the extra ``fit`` arguments for the learner's kind of supervision."""
    info: dict[str, Any] = {}
    if cls.supervision == "unsupervised":
        return dataset.X, (), info
    if cls.supervision == "regression":
        if dataset.target is None:
            raise MetricliError(
                f"{cls.name} is for regression: it learns from a numeric target; name its column with --target"
                + (
                    " (--label names classes, for the classification learners such as nca, lmnn and lfda)"
                    if dataset.labels is not None
                    else ""
                )
            )
        return dataset.X, (dataset.target,), info
    if cls.supervision in ("supervised", "semi-supervised"):
        if dataset.labels is None:
            raise MetricliError(f"{cls.name} learns from class labels; name their column with --label")
        labelled = dataset.labelled
        classes = sorted({str(v) for v in dataset.labels[labelled]})
        info["classes"] = classes
        if len(classes) < 2:
            found = f"a single class '{classes[0]}'" if classes else "no labelled rows"
            raise MetricliError(
                f"{dataset.name}: label column '{dataset.label_column}' has {found}; "
                f"{cls.name} needs at least two classes"
            )
        if cls.supervision == "supervised":
            if not labelled.all():
                notify(
                    f"{dataset.name}: dropping {int((~labelled).sum())} unlabelled rows; "
                    f"{cls.name} uses labelled rows only"
                )
            info["rows_used"] = dataset.rows[labelled].tolist() if not labelled.all() else None
            return dataset.X[labelled], (dataset.labels[labelled],), info
        info["n_unlabelled"] = int((~labelled).sum())
        return dataset.X, (dataset.labels,), info
    return dataset.X, (weak_constraints(cls, dataset, options, notify, info),), info


def weak_constraints(
    cls: type[MahalanobisLearner],
    dataset: Dataset,
    options: dict[str, Any],
    notify: Callable[[str], None] = _silent,
    info: dict[str, Any] | None = None,
):
    """The constraints given in files or a chunk column, else drawn from the labels (seeded).

    Where they came from and how many there are goes into ``info["constraints"]``.
    """
    info = {} if info is None else info
    from metricli import constraints as weak
    from metricli.io.constraints import chunks_from_column, read_chunk_file, read_constraints

    given = [k for k in cls.constraint_kinds if options.get(k)]
    if len(given) > 1:
        raise MetricliError(f"{cls.name}: give one of {', '.join('--' + k for k in given)}, not several")
    if given:
        kind = given[0]
        if options.get("n_constraints") is not None:
            raise MetricliError(
                f"--n-constraints draws constraints from labels; it cannot be used with --{kind}"
            )
        if kind == "chunks" and is_chunk_file(options["chunks"]):
            path = options["chunks"]
            found = weak.Chunks(read_chunk_file(path, dataset.n_samples, ids=dataset.ids, rows=dataset.rows))
            weak.validate(found, dataset.n_samples, where=display_name(path))
            info["constraints"] = {
                "source": "file",
                "path": display_name(path),
                "sha256": sha256_file(path),
                **weak.describe(found),
            }
            return found
        if kind == "chunks":
            column = options["chunks"]
            found = weak.Chunks(chunks_from_column(dataset.extra[column], dataset.name, column))
            weak.validate(found, dataset.n_samples, where=f"{dataset.name}: column '{column}'")
            info["constraints"] = {"source": "column", "column": column, **weak.describe(found)}
            return found
        found = read_constraints(
            options[kind],
            kind,
            dataset.n_samples,
            ids=dataset.ids,
            rows=dataset.rows,
            id_column=dataset.id_column,
            notify=notify,
        )
        info["constraints"] = {
            "source": "file",
            "path": display_name(options[kind]),
            "sha256": sha256_file(options[kind]) if options[kind] != "-" else None,
            "by": "id" if dataset.ids is not None else "row",
            **weak.describe(found),
        }
        return found
    if dataset.labels is None:
        # evaluate has no constraint-file options: it draws constraints from each training fold's labels
        flags = ", ".join(f"--{k}" for k in cls.constraint_kinds if k in options)
        source = f"give {flags}, or --label" if flags else "give --label"
        raise MetricliError(f"{cls.name} learns from constraints: {source} to draw them from labels")
    kind = cls.constraint_kinds[0]
    n_classes = len({str(v) for v in dataset.labels[dataset.labelled]})
    if n_classes < 2:
        raise MetricliError(
            f"{dataset.name}: label column '{dataset.label_column}' has fewer than two classes; "
            "constraints cannot be drawn from it"
        )
    strategy = options.get("strategy") or "random"
    X = dataset.X
    if options.get("standardize"):  # neighbour triplets are found in the space the learner sees
        mean, scale = standardization(X)
        X = (X - mean) / scale
    drawn, n = weak.drawn_from_labels(
        kind,
        dataset.labels,
        options.get("n_constraints"),
        n_classes=n_classes,
        n_labelled=int(dataset.labelled.sum()),
        where=dataset.name,
        notify=notify,
        seed=options.get("seed"),
        chunk_size=options.get("chunk_size") or 2,
        X=X,
        strategy=strategy,
        short=" from the labels",
    )
    info["constraints"] = {
        "source": "labels",
        "label": dataset.label_column,
        "seed": options.get("seed"),
        "strategy": strategy,
        "requested": None if n is None else int(n),
        **weak.describe(drawn),
    }
    return drawn
