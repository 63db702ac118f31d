"""What the nightly-size fuzzing found (tests/test_fuzz.py, METRICLI_FUZZ_EXAMPLES=10000), each
fixed and kept here through the CLI:

- a Parquet file whose page header is corrupt: pyarrow's three-line message came out as three
  lines of error (`transform`, exit 2 but not one line); one whose pandas metadata is not JSON:
  exit 70 (JSONDecodeError) from `transform`, which reads Parquet in batches;
- a resealed metadata.json whose `input`, `fit`, `preprocessing` or `versions` is null:
  `info` exit 70 (AttributeError); and a nested field of the wrong type (a string for a count,
  a list of text for the objective per iteration) reached the commands unchecked;
- `fit lmnn --k 99999999999999999999`: numpy's "Maximum allowed dimension exceeded", exit 70;
- `report` on a resealed bundle whose recorded parameter is a list: exit 70 (TypeError);
- `fit lmnn --block-size 1e308`: 1e308 MiB in bytes overflowed to infinity, exit 70.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from metricli.io.bundle import _metadata_digest
from tests.conftest import assert_one_line_error

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from typer.testing import CliRunner

    from metricli.cli import app

    out = tmp_path_factory.mktemp("findings") / "B"
    args = [
        "--quiet",
        "fit",
        "covariance",
        str(IRIS),
        "--exclude",
        "species",
        "--standardize",
        "-o",
        str(out),
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    return out


def test_a_parquet_page_header_that_does_not_parse_is_one_line(cli, tmp_path, bundle):
    buffer = io.BytesIO()
    pd.DataFrame({"a0": [1.5]}).to_parquet(buffer)
    data = buffer.getvalue()
    path = tmp_path / "t.parquet"
    path.write_bytes(data[:4] + b"\x00" + data[4:])  # one byte spliced in after the magic
    run = cli("transform", bundle, path, "-o", tmp_path / "out.csv")
    assert_one_line_error(run, "t.parquet: cannot read (Couldn't deserialize thrift")
    assert not (tmp_path / "out.csv").exists()


def test_parquet_pandas_metadata_that_is_not_json_is_one_line(cli, tmp_path, bundle):
    buffer = io.BytesIO()
    pd.DataFrame({"a0": [1.5]}).to_parquet(buffer)
    data = bytearray(buffer.getvalue())
    data[data.index(b'{"index_columns"')] = 0  # the pandas metadata no longer parses as JSON
    path = tmp_path / "t.parquet"
    path.write_bytes(bytes(data))
    run = cli("transform", bundle, path, "-o", tmp_path / "out.csv")
    assert_one_line_error(run, "t.parquet: cannot read as Parquet (Expecting value")
    assert not (tmp_path / "out.csv").exists()


def _resealed(bundle: Path, folder: Path, edit) -> Path:
    shutil.copytree(bundle, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    edit(meta)
    meta["metadata_sha256"] = _metadata_digest(meta)
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("section", ["input", "fit", "preprocessing", "versions"])
def test_a_null_section_is_shown_as_absent(cli, tmp_path, bundle, section):
    edited = _resealed(bundle, tmp_path / "B", lambda meta: meta.update({section: None}))
    run = cli("info", edited)
    assert run.exit_code == 0, run.stderr
    assert "verdict" in run.stdout and "checksums verified" in run.stdout


#: a nested field of the wrong type, each as the error names it
WRONG = [
    (("input", "rows_used"), "150 rows", "input"),
    (("fit", "objective_history"), ["a", "b"], "fit"),
    (("fit", "converged"), "yes", "fit"),
    (("preprocessing", "scale"), {"sepal_length": 1.0}, "preprocessing"),
    (("preprocessing", "standardize"), [True], "preprocessing"),
    (("versions",), ["metricli", "0.1.0"], "versions"),
]

COMMANDS = {
    "info": lambda b, t: ("info", b),
    "check": lambda b, t: ("check", b),
    "transform": lambda b, t: ("transform", b, IRIS, "-o", t / "o.csv"),
    "distance": lambda b, t: ("distance", b, IRIS, "-o", t / "o.csv"),
    "neighbors": lambda b, t: ("neighbors", b, IRIS, "--query", IRIS, "-k", "2", "-o", t / "o.csv"),
    "report": lambda b, t: ("report", b, IRIS, "--label", "species", "-o", t / "o.html"),
    "evaluate": lambda b, t: ("evaluate", b, IRIS, "--reference", IRIS, "--label", "species"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("where", "value", "named"), WRONG, ids=[".".join(w[0]) for w in WRONG])
def test_a_nested_field_of_the_wrong_type_is_one_line_from_every_command(
    cli, tmp_path, bundle, command, where, value, named
):
    def edit(meta):
        node = meta
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value

    edited = _resealed(bundle, tmp_path / "B", edit)
    run = cli(*COMMANDS[command](edited, tmp_path))
    assert_one_line_error(run, "corrupt bundle", f"metadata.json's '{named}' is not what fit writes there")
    assert not any(p.name.startswith("o.") for p in tmp_path.iterdir())


def test_lmnn_k_beyond_every_class_is_the_largest_class_less_one(cli, tmp_path):
    fitted = {}
    for k in ("49", "99999999999999999999"):
        out = tmp_path / f"k{len(k)}"
        run = cli(
            "--quiet",
            "fit",
            "lmnn",
            IRIS,
            "--label",
            "species",
            "--k",
            k,
            "--max-iter",
            "3",
            "--no-knn-check",
            "-o",
            out,
        )
        assert run.exit_code == 0, run.stderr
        fitted[k] = (out / "M.npy").read_bytes()
    assert fitted["49"] == fitted["99999999999999999999"]  # classes of 50: 49 target neighbours at most


def test_report_refuses_a_recorded_parameter_fit_never_writes(cli, tmp_path, bundle):
    # `report` re-runs the fit's cross-validation with the recorded parameters: a list there
    # reached float() in the learner (exit 70, found by the nightly-size bundle fuzzing)
    edited = _resealed(bundle, tmp_path / "B", lambda meta: meta["params"].update({"rtol": []}))
    run = cli("report", edited, IRIS, "--label", "species", "-o", tmp_path / "o.html")
    assert_one_line_error(
        run, "corrupt bundle, metadata.json's 'params' is not what fit writes there ('rtol' is a list)"
    )
    assert not (tmp_path / "o.html").exists()


def test_a_block_size_beyond_float64_in_bytes_is_one_block(cli, tmp_path):
    fitted = {}
    for size in ("1e308", "1e6"):  # 1e6 MiB holds iris's pairwise values at once, as 1e308 does
        out = tmp_path / f"b{len(size)}"
        args = ("--quiet", "fit", "lmnn", IRIS, "--label", "species", "--block-size", size, "--max-iter", "3")
        run = cli(*args, "--no-knn-check", "-o", out)
        assert run.exit_code == 0, run.stderr
        fitted[size] = (out / "M.npy").read_bytes()
    assert fitted["1e308"] == fitted["1e6"]
