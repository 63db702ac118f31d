"""The same command with the same seed gives the same bytes; bundles record seed and checksum."""

import hashlib
import json

import pytest

from metricli.learners import LEARNERS

from .conftest import DIABETES, IRIS


def fit_args(name: str) -> list[str]:
    """A quick, valid `metricli fit` for any registered learner on the shipped data."""
    cls = LEARNERS[name]
    if cls.supervision == "regression":
        return ["fit", name, str(DIABETES), "--target", "progression", "--standardize", "--seed", "7"]
    args = ["fit", name, str(IRIS), "--label", "species", "--standardize", "--seed", "7"]
    if cls.supervision == "weakly-supervised":
        args += ["--n-constraints", "60"]
    if "max_iter" in cls._param_names():
        args += ["--max-iter", "30"]
    return args


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_same_seed_same_bytes(cli, tmp_path, name):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        run = cli(*fit_args(name), "-o", out)
        assert run.exit_code == 0, run.stderr
    for file in ("M.npy", "L.npy", "M.csv", "axioms.json"):
        assert (first / file).read_bytes() == (second / file).read_bytes(), file
    info = json.loads(cli("info", first, "--json").stdout)["metadata"]
    assert info["seed"] == 7
    source = DIABETES if LEARNERS[name].supervision == "regression" else IRIS
    assert info["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
