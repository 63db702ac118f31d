import json
import os
import shutil

import numpy as np
import pytest

from metricli import MetricliError, load_bundle, save_bundle
from metricli.io.bundle import DATA_FILES


@pytest.fixture
def bundle(tmp_path):
    L = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    return save_bundle(tmp_path / "B", L, ["a", "b", "c"], {"algorithm": "test"}, {"verdict": "pseudometric"})


def test_round_trip(bundle):
    loaded = load_bundle(bundle)
    np.testing.assert_array_equal(loaded.L, [[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(loaded.M, loaded.L.T @ loaded.L)
    assert loaded.feature_names == ["a", "b", "c"] and loaded.algorithm == "test"


@pytest.mark.parametrize("name", [*DATA_FILES, "metadata.json"])
def test_an_edited_file_is_refused(bundle, name):
    path = bundle / name
    data = bytearray(path.read_bytes())
    if name.endswith(".json"):
        text = data.decode().replace('"a"', '"z"', 1) if name == "metadata.json" else data.decode() + " "
        path.write_text(text if text != data.decode() else text + " ")
    else:
        data[-1] ^= 0x01  # flip one bit of the last number
        path.write_bytes(bytes(data))
    with pytest.raises(MetricliError, match=f"{name} does not match"):
        load_bundle(bundle)


@pytest.mark.parametrize("name", DATA_FILES)
def test_a_truncated_or_missing_file_is_refused(bundle, name):
    path = bundle / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(MetricliError, match="does not match"):
        load_bundle(bundle)
    path.unlink()
    with pytest.raises(MetricliError, match=f"{name} is missing"):
        load_bundle(bundle)


def test_swapped_files_are_refused(bundle):
    os.rename(bundle / "M.npy", bundle / "tmp")
    os.rename(bundle / "L.npy", bundle / "M.npy")
    os.rename(bundle / "tmp", bundle / "L.npy")
    with pytest.raises(MetricliError, match="M.npy does not match"):
        load_bundle(bundle)


def test_a_link_pointing_outside_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside.npy"
    shutil.copy(bundle / "M.npy", outside)
    (bundle / "M.npy").unlink()
    (bundle / "M.npy").symlink_to(outside)
    with pytest.raises(MetricliError, match="M.npy is a symbolic link, not a regular file"):
        load_bundle(bundle)


def test_pickled_arrays_are_never_loaded(bundle):
    # an object array needs pickle; even with a forged checksum it must not be unpickled
    evil = np.array([{"x": 1}], dtype=object)
    np.save(bundle / "M.npy", evil, allow_pickle=True)
    meta = json.loads((bundle / "metadata.json").read_text())
    import hashlib

    meta["files"]["M.npy"] = hashlib.sha256((bundle / "M.npy").read_bytes()).hexdigest()
    from metricli.io.bundle import _metadata_digest

    meta["metadata_sha256"] = _metadata_digest(meta)
    (bundle / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(MetricliError, match="corrupt bundle, cannot read M.npy"):
        load_bundle(bundle)


def test_not_a_bundle(tmp_path):
    with pytest.raises(MetricliError, match="no such bundle"):
        load_bundle(tmp_path / "none")
    (tmp_path / "x").mkdir()
    with pytest.raises(MetricliError, match="not a metricli bundle"):
        load_bundle(tmp_path / "x")
    (tmp_path / "x" / "metadata.json").write_text("[1, 2")
    with pytest.raises(MetricliError, match="cannot read metadata.json"):
        load_bundle(tmp_path / "x")
