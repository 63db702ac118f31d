"""metricli fit lfda / rca / kissme / self through the real CLI, checked against the library."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli import load_bundle
from metricli.cli import app
from metricli.constraints import from_labels
from metricli.evaluation import knn_classify, stratified_folds
from metricli.learners import KISSME, LFDA, RCA, SELF

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
IRIS, WINE = SAMPLE / "iris.csv", SAMPLE / "wine.csv"


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def fitted(*args) -> object:
    result = run("fit", *args)
    assert result.exit_code == 0, result.stderr
    out = Path(args[args.index("-o") + 1])
    bundle = load_bundle(out)
    values = np.linalg.eigvalsh(bundle.M)
    assert np.all(np.isfinite(bundle.M)) and values.min() >= -1e-12 * values.max()
    np.testing.assert_allclose(
        bundle.L.T @ bundle.L, bundle.M, rtol=1e-12, atol=1e-15 * np.abs(bundle.M).max()
    )
    return bundle


def split(path: Path, label: str, tmp_path: Path):
    """Fold 0 of the stratified protocol as the held-out part; the rest written to train.csv."""
    frame = pd.read_csv(path)
    test = np.zeros(len(frame), dtype=bool)
    test[stratified_folds(frame[label].to_numpy(), 5, seed=0)[0]] = True
    train_path = tmp_path / "train.csv"
    frame[~test].to_csv(train_path, index=False)
    features = frame.drop(columns=label).to_numpy(dtype=float)
    labels = frame[label].to_numpy()
    return train_path, features[~test], labels[~test], features[test], labels[test]


def accuracy(L, train, ytrain, test, ytest) -> float:
    return float(np.mean(knn_classify(train @ L.T, ytrain, test @ L.T, k=3) == ytest))


def test_lfda_on_wine_beats_euclidean_on_held_out_rows(tmp_path):
    train_path, train, ytrain, test, ytest = split(WINE, "cultivar", tmp_path)
    bundle = fitted("lfda", train_path, "--label", "cultivar", "--standardize", "-o", tmp_path / "m")
    assert bundle.axioms["verdict"] == "metric"
    euclidean = accuracy(np.eye(train.shape[1]), train, ytrain, test, ytest)  # raw units: proline dominates
    learned = accuracy(bundle.L, train, ytrain, test, ytest)
    assert learned >= 0.9 and learned > euclidean + 0.1, (learned, euclidean)
    # the bundle holds the library's metric for the raw features
    mean, std = train.mean(axis=0), train.std(axis=0)
    library = LFDA().fit((train - mean) / std, ytrain).components_ / std
    np.testing.assert_allclose(bundle.M, library.T @ library, rtol=1e-8, atol=1e-12 * np.abs(bundle.M).max())


def test_lfda_drops_unlabelled_rows_with_a_note(tmp_path):
    frame = pd.read_csv(IRIS)
    frame.loc[::3, "species"] = None
    path = tmp_path / "partial.csv"
    frame.to_csv(path, index=False)
    result = run("fit", "lfda", path, "--label", "species", "-o", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.stderr
    assert "dropping 50 unlabelled rows; lfda uses labelled rows only" in result.stderr
    assert json.loads(result.stdout)["metadata"]["input"]["rows_used"] == 100


def test_rca_from_chunks_drawn_from_labels_equals_the_library(tmp_path):
    train_path, train, ytrain, test, ytest = split(IRIS, "species", tmp_path)
    args = ("--label", "species", "--n-constraints", "20", "--chunk-size", "3", "--seed", "0")
    bundle = fitted("rca", train_path, *args, "-o", tmp_path / "m")
    chunks = from_labels("chunks", ytrain.astype(object), 20, seed=0, chunk_size=3)
    expected = RCA().fit(train, chunks).get_mahalanobis_matrix()
    np.testing.assert_allclose(bundle.M, expected, rtol=1e-10, atol=1e-13 * np.abs(expected).max())
    assert accuracy(bundle.L, train, ytrain, test, ytest) >= 0.9  # chance is 1/3


def test_rca_from_a_chunk_column_ignores_rows_in_no_chunk(tmp_path):
    frame = pd.read_csv(WINE).drop(columns="cultivar")
    rng = np.random.default_rng(0)
    labels = pd.read_csv(WINE)["cultivar"].to_numpy()
    ids = from_labels("chunks", labels.astype(object), 30, seed=1, chunk_size=3).ids
    frame["chunk"] = pd.array(np.where(ids >= 0, ids, -1), dtype="Int64")
    frame.loc[rng.random(len(frame)) < 0.1, "chunk"] = pd.NA  # blank: in no chunk, like -1
    everything = tmp_path / "all.csv"
    frame.to_csv(everything, index=False)
    chunked_only = tmp_path / "chunked.csv"
    frame[frame["chunk"].fillna(-1) >= 0].to_csv(chunked_only, index=False)
    full = fitted("rca", everything, "--chunks", "chunk", "-o", tmp_path / "a")
    only = fitted("rca", chunked_only, "--chunks", "chunk", "-o", tmp_path / "b")
    assert full.feature_names == only.feature_names and "chunk" not in full.feature_names
    np.testing.assert_allclose(full.M, only.M, rtol=1e-10, atol=1e-13 * np.abs(only.M).max())


def test_kissme_from_a_pair_file_equals_the_library(tmp_path):
    frame = pd.read_csv(WINE)
    X = frame.drop(columns="cultivar").to_numpy(dtype=float)
    pairs = from_labels("pairs", frame["cultivar"].to_numpy(dtype=object), 400, seed=3)
    pair_file = tmp_path / "pairs.csv"
    pd.DataFrame(pairs.as_columns()).to_csv(pair_file, index=False)
    bundle = fitted("kissme", WINE, "--pairs", pair_file, "--regularization", "0", "-o", tmp_path / "m")
    expected = KISSME(regularization=0.0).fit(X, pairs).get_mahalanobis_matrix()
    np.testing.assert_allclose(bundle.M, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_kissme_from_pairs_drawn_from_labels_beats_euclidean(tmp_path):
    train_path, train, ytrain, test, ytest = split(WINE, "cultivar", tmp_path)
    bundle = fitted(
        "kissme", train_path, "--label", "cultivar", "--seed", "0", "--standardize", "-o", tmp_path / "m"
    )
    euclidean = accuracy(np.eye(train.shape[1]), train, ytrain, test, ytest)
    assert accuracy(bundle.L, train, ytrain, test, ytest) > euclidean + 0.1


def test_kissme_with_similar_pairs_only_is_one_clear_error(tmp_path):
    pair_file = tmp_path / "pairs.csv"
    pair_file.write_text("a,b,y\n0,1,1\n2,3,1\n")
    result = run("fit", "kissme", IRIS, "--pairs", pair_file, "-o", tmp_path / "m")
    assert result.exit_code == 2 and result.stdout == ""
    assert "kissme: no dissimilar pairs (y = -1); KISSME needs both" in result.stderr
    assert not (tmp_path / "m").exists()


def test_self_learns_from_unlabelled_rows_and_beats_lfda_on_the_few_labels(tmp_path):
    # wine, fold 0 held out, 10% of the training labels kept: the semi-supervised setting
    train_path, train, ytrain, test, ytest = split(WINE, "cultivar", tmp_path)
    kept = np.zeros(len(ytrain), dtype=bool)
    kept[stratified_folds(ytrain, 10, seed=0)[0]] = True
    frame = pd.read_csv(train_path)
    frame.loc[~kept, "cultivar"] = "?"
    partial = tmp_path / "partial.csv"
    frame.to_csv(partial, index=False)
    args = ("--label", "cultivar", "--unlabeled", "?", "--standardize")
    result = run("fit", "self", partial, *args, "-o", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)["metadata"]
    assert meta["input"]["rows_used"] == len(ytrain) and meta["input"]["n_unlabelled"] == int((~kept).sum())
    semi = load_bundle(tmp_path / "s")
    supervised = fitted("lfda", partial, *args, "-o", tmp_path / "l")
    reference = (train[kept], ytrain[kept])  # only these rows have a known class
    self_acc = accuracy(semi.L, *reference, test, ytest)
    lfda_acc = accuracy(supervised.L, *reference, test, ytest)
    assert self_acc > lfda_acc + 0.1, (self_acc, lfda_acc)
    # and the bundle holds the library's SELF, unlabelled rows included
    mean, std = train.mean(axis=0), train.std(axis=0)
    labels = np.where(kept, ytrain, None).astype(object)
    library = SELF().fit((train - mean) / std, labels).components_ / std
    np.testing.assert_allclose(semi.M, library.T @ library, rtol=1e-8, atol=1e-12 * np.abs(semi.M).max())


@pytest.mark.parametrize(
    ("name", "supervision", "params"),
    [
        ("lfda", "supervised", ["n_components", "k", "embedding_type", "regularization"]),
        ("self", "semi-supervised", ["beta", "n_components", "k", "embedding_type", "regularization"]),
        ("rca", "weakly-supervised", ["n_components", "regularization"]),
        ("kissme", "weakly-supervised", ["regularization"]),
    ],
)
def test_algorithms_lists_each_learner_with_its_supervision_and_parameters(name, supervision, params):
    result = run("algorithms", name, "--json")
    assert result.exit_code == 0, result.stderr
    (described,) = json.loads(result.stdout)
    assert described["supervision"] == supervision
    assert [p["name"] for p in described["parameters"]] == params
    assert all(p["help"] for p in described["parameters"])
