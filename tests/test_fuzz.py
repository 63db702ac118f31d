"""Fuzzing the readers and the options: whatever the input, an exit status of 0, 1 or 2 and no
traceback; never 70 ("internal error"), which is a bug by definition.

Each reader gets generated files, from well-formed tables with hostile cells (huge, tiny,
NaN, inf, text, quotes, empty, a BOM, CRLF, a trailing comma) to raw bytes and truncated or
bit-flipped binary files: CSV and TSV (`fit covariance`, `transform`), Parquet, .npy, square
matrix files (`check`), constraint files (`fit itml --pairs`, `fit scml --triplets`), bundles
edited and resealed (metadata.json values replaced, nested ones too, arrays swapped; every
command that reads a bundle), and random values for the learners' options. The CLI runs in-process.

CI runs a small sample (METRICLI_FUZZ_EXAMPLES, default 12 per reader, one command each); the nightly size is
METRICLI_FUZZ_EXAMPLES=10000. Derandomized: the same examples every run at a given size.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import string
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import typer.main
import typer.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from metricli.cli import app

EXAMPLES = int(os.environ.get("METRICLI_FUZZ_EXAMPLES", "12"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
IRIS = Path(__file__).resolve().parents[1] / "sample_data" / "iris.csv"
#: examples run per reader in this process, for the nightly report
COUNTS: dict[str, int] = {}


#: the app as one click command, built once: typer's runner builds it anew on every call, which
#: was 80% of an example's time (every command's options read from its signature each time)
COMMAND = typer.main.get_command(app)


def _cli(*args: object) -> tuple[int, str]:
    with warnings.catch_warnings(), mock.patch.object(typer.testing, "_get_command", lambda _: COMMAND):
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(app, ["--quiet", *(str(a) for a in args)])
    return result.exit_code, result.stderr


def _holds(reader: str, code: int, stderr: str, *args: object) -> None:
    COUNTS[reader] = COUNTS.get(reader, 0) + 1
    assert code in (0, 1, 2), (code, stderr, args)
    assert "internal error" not in stderr and "Traceback" not in stderr, (stderr, args)
    if code == 2:  # one line: control characters of a file's own names (\x1c) are not line breaks
        lines = [line for line in stderr.split("\n") if line.strip()]
        assert len(lines) == 1, (stderr, args)
    if EXAMPLES >= 1000 and COUNTS[reader] % 500 == 0:  # the nightly run's running count
        print(f"fuzzed {reader}: {COUNTS[reader]}", flush=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def bundle(work) -> Path:
    out = work / "iris_bundle"
    code, stderr = _cli("fit", "covariance", IRIS, "--label", "species", "--no-knn-check", "-o", out)
    assert code == 0, stderr
    return out


# -- generated cells and tables ------------------------------------------------------------

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["", "NaN", "inf", "-inf", "1e308", "1e-320", "-0", "nan", "NA", "null", "0x1F", "1,5"]),
    st.text(alphabet=string.printable + "é€\u00a0\u200b\ufeff", max_size=12),
)


@st.composite
def text_tables(draw, delimiter: str) -> bytes:
    columns = draw(st.integers(1, 6))
    rows = draw(st.integers(0, 12))
    header = [
        draw(st.text(alphabet=string.ascii_letters + "_ \"'", min_size=0, max_size=6)) for _ in range(columns)
    ]
    if draw(st.booleans()):
        header[-1] = "y"
    lines = [delimiter.join(header)]
    for _ in range(rows):
        width = columns if draw(st.integers(0, 4)) else draw(st.integers(0, columns + 2))
        cells = [draw(CELLS).replace("\n", " ") for _ in range(width)]
        if "y" in header:
            cells[-1:] = [draw(st.sampled_from(["a", "b", "c", ""]))] if cells else []
        lines.append(delimiter.join(cells) + (delimiter if draw(st.integers(0, 9)) == 0 else ""))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


def raw_bytes() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=400)


def _mutate(data: bytes, draw) -> bytes:
    """Truncate, flip bytes or splice garbage into a well-formed file."""
    if not data:
        return data
    action = draw(st.sampled_from(["keep", "truncate", "flip", "splice"]))
    if action == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if action == "flip":
        buffer = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(buffer) - 1))
            buffer[at] = draw(st.integers(0, 255))
        return bytes(buffer)
    if action == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(max_size=40)) + data[at:]
    return data


# -- CSV and TSV -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_fuzz_text_tables(work, bundle, fmt):
    delimiter = "," if fmt == "csv" else "\t"

    @PROFILE
    @given(
        st.one_of(text_tables(delimiter), raw_bytes()), st.sampled_from(["covariance", "lfda", "transform"])
    )
    def run(data, command):
        path = work / f"t.{fmt}"
        path.write_bytes(data)
        if command == "transform":
            args: tuple = ("transform", bundle, path, "-o", work / "t_out.csv", "--force")
        else:
            label = ("--label", "y") if command == "lfda" else ()
            args = ("fit", command, path, *label, "--no-knn-check", "-o", work / "out_fit", "--force")
        _holds(fmt, *_cli(*args), data)

    run()


# -- Parquet ---------------------------------------------------------------------------------


@st.composite
def parquet_files(draw) -> bytes:
    import pandas as pd

    rows = draw(st.integers(0, 8))
    frame = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["float", "int", "str", "bool", "time", "duration", "mixed", "null"]))
        rng = np.random.default_rng(draw(st.integers(0, 1000)))
        if kind == "float":
            column = rng.choice([0.0, 1.5, -2.0, np.nan, np.inf, 1e308, 5e-324], rows)
        elif kind == "int":
            column = rng.integers(-(2**62), 2**62, rows)
        elif kind == "str":
            column = np.array([draw(st.text(max_size=5)) for _ in range(rows)], dtype=object)
        elif kind == "bool":
            column = rng.integers(0, 2, rows).astype(bool)
        elif kind == "time":
            column = pd.to_datetime(rng.integers(0, 2**40, rows), unit="s")
        elif kind == "duration":
            column = pd.to_timedelta(rng.integers(0, 2**30, rows), unit="s")
        elif kind == "mixed":
            column = np.array(
                [draw(st.one_of(st.none(), st.floats(), st.text(max_size=3))) for _ in range(rows)],
                dtype=object,
            )
        else:
            column = np.array([None] * rows, dtype=object)
        frame[draw(st.sampled_from(["a", "b", "y", "", " ", "é"])) + str(i)] = column
    buffer = io.BytesIO()
    try:
        pd.DataFrame(frame).to_parquet(buffer)
    except Exception:  # a column pyarrow cannot store: the empty file then
        return b""
    return _mutate(buffer.getvalue(), draw)


def test_fuzz_parquet(work, bundle):
    @PROFILE
    @given(st.one_of(parquet_files(), raw_bytes()), st.booleans())
    def run(data, fit):
        path = work / "t.parquet"
        path.write_bytes(data)
        if fit:
            args: tuple = ("fit", "covariance", path, "--no-knn-check", "-o", work / "pq", "--force")
        else:
            args = ("transform", bundle, path, "-o", work / "pq.csv", "--force")
        _holds("parquet", *_cli(*args), data[:80])

    run()


# -- .npy and square matrices ----------------------------------------------------------------


@st.composite
def npy_files(draw) -> bytes:
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from(["<f8", "<f4", "<i8", "|u1", "|b1", "<c16", ">f8", "<U3", "|O"]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    buffer = io.BytesIO()
    if dtype == "|O":
        np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        values = rng.normal(size=shape) * 10.0 ** draw(st.sampled_from([0, 300, -300]))
        np.save(buffer, values.astype(dtype) if dtype != "<U3" else values.astype(str).astype(dtype))
    data = buffer.getvalue()
    if draw(st.booleans()):  # a header that lies about the shape
        data = data.replace(
            repr(shape).encode(), repr(tuple(draw(st.integers(0, 10**12)) for _ in range(2))).encode(), 1
        )
    return _mutate(data, draw)


@st.composite
def square_tables(draw) -> bytes:
    n = draw(st.integers(0, 7))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    D = np.abs(rng.normal(size=(n, n))) * 10.0 ** draw(st.sampled_from([0, 300, -300, 308]))
    if draw(st.booleans()):
        D = (D + D.T) / 2
        np.fill_diagonal(D, 0.0)
    for _ in range(draw(st.integers(0, 3))):
        if n:
            D[draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))] = draw(
                st.sampled_from([np.nan, np.inf, -1.0, 0.0, 1e308, -1e308])
            )
    buffer = io.StringIO()
    names = [draw(st.sampled_from(["p", "q", "", "p"])) + str(i) for i in range(n)]
    if draw(st.booleans()):
        buffer.write("," + ",".join(names) + "\n")
        for name, row in zip(names, D, strict=True):
            buffer.write(name + "," + ",".join(repr(v) for v in row) + "\n")
    else:
        np.savetxt(buffer, D, delimiter=",")
    return _mutate(buffer.getvalue().encode(), draw)


def test_fuzz_npy(work, bundle):
    @PROFILE
    @given(npy_files(), st.sampled_from(["fit", "check", "transform"]))
    def run(data, command):
        path = work / "t.npy"
        path.write_bytes(data)
        args = {
            "fit": ("fit", "covariance", path, "--no-knn-check", "-o", work / "np", "--force"),
            "check": ("check", path),
            "transform": ("transform", bundle, path, "-o", work / "np.csv", "--force"),
        }[command]
        _holds("npy", *_cli(*args), data[:80])

    run()


def test_fuzz_square_tables(work):
    @PROFILE
    @given(
        square_tables(),
        st.sampled_from([(), ("--kind", "mahalanobis"), ("--kind", "distance"), ("--euclidean",)]),
    )
    def run(data, options):
        path = work / "square.csv"
        path.write_bytes(data)
        _holds("square", *_cli("check", path, *options), data[:80])

    run()


# -- constraint files ------------------------------------------------------------------------


@st.composite
def constraint_files(draw, width: int) -> bytes:
    rows = draw(st.integers(0, 8))
    index = st.one_of(
        st.integers(-5, 200).map(str),
        st.sampled_from(["1e20", "-1", "1.5", "", "x", "nan", "149", "0", "9223372036854775808"]),
    )
    header = draw(st.sampled_from([["a", "b", "y"], ["anchor", "positive", "negative"], [], ["i", "j"]]))
    lines = [",".join(header)] if header else []
    for _ in range(rows):
        cells = [
            draw(index) for _ in range(width if draw(st.integers(0, 4)) else draw(st.integers(0, width + 2)))
        ]
        lines.append(",".join(cells))
    return _mutate("\n".join(lines).encode(), draw)


@pytest.mark.parametrize(("learner", "option", "width"), [("itml", "--pairs", 3), ("scml", "--triplets", 3)])
def test_fuzz_constraint_files(work, learner, option, width):
    @settings(PROFILE, max_examples=max(EXAMPLES // 2, 1))  # the reader's count: half pairs, half triplets
    @given(st.one_of(constraint_files(width), raw_bytes()))
    def run(data):
        path = work / "c.csv"
        path.write_bytes(data)
        args = (
            "fit",
            learner,
            IRIS,
            option,
            path,
            "--max-iter",
            "2",
            "--no-knn-check",
            "-o",
            work / "c",
            "--force",
        )
        _holds("constraints", *_cli(*args), data[:80])

    run()


# -- bundles, edited and resealed -----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _reseal(folder: Path) -> None:
    from metricli.io.bundle import DATA_FILES, _metadata_digest
    from metricli.io.tables import sha256_file

    meta = json.loads((folder / "metadata.json").read_text())
    if isinstance(meta, dict):
        if isinstance(meta.get("files"), dict):
            for name in DATA_FILES:
                if (folder / name).is_file():
                    meta["files"][name] = sha256_file(folder / name)
        with contextlib.suppress(TypeError, ValueError, RecursionError):
            meta["metadata_sha256"] = _metadata_digest(meta)
    (folder / "metadata.json").write_text(json.dumps(meta))


def _key_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every key of a metadata.json, nested ones too, as a path of keys."""
    if not isinstance(value, dict):
        return []
    return [p for k, v in value.items() for p in [(*prefix, k), *_key_paths(v, (*prefix, k))]]


def test_fuzz_bundles(work, bundle):
    keys = sorted(_key_paths(json.loads((bundle / "metadata.json").read_text())))

    @PROFILE
    @given(
        st.lists(st.tuples(st.sampled_from(keys), JSON_VALUES), max_size=3),
        st.sampled_from(["none", "M.npy", "L.npy", "axioms.json", "M.csv"]),
        npy_files(),
        st.booleans(),
        st.sampled_from(["info", "check", "transform", "distance", "neighbors", "evaluate", "report"]),
    )
    def run(edits, member, payload, reseal, command):
        folder = work / "edited"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(bundle, folder)
        meta = json.loads((folder / "metadata.json").read_text())
        for path, value in edits:  # a top-level or nested field given any JSON value
            node = meta
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node[path[-1]] = value
        (folder / "metadata.json").write_text(json.dumps(meta))
        if member != "none":
            (folder / member).write_bytes(payload)
        if reseal:
            _reseal(folder)
        args = {
            "info": ("info", folder),
            "check": ("check", folder),
            "transform": ("transform", folder, IRIS, "-o", work / "e.csv", "--force"),
            "distance": ("distance", folder, IRIS, "-o", work / "e.csv", "--force"),
            "neighbors": (
                "neighbors",
                folder,
                IRIS,
                "--query",
                IRIS,
                "-k",
                "2",
                "-o",
                work / "e.csv",
                "--force",
            ),
            "evaluate": ("evaluate", folder, IRIS, "--reference", IRIS, "--label", "species"),
            "report": ("report", folder, IRIS, "--label", "species", "-o", work / "e.html", "--force"),
        }[command]
        _holds("bundles", *_cli(*args), edits, member)

    run()


# -- the learners' options -------------------------------------------------------------------

OPTION_VALUES = st.one_of(
    st.integers(-3, 10**6).map(str),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e308",
            "nan",
            "inf",
            "-inf",
            "1e-320",
            "",
            "abc",
            "2.5",
            "10**12",
            "99999999999999999999",
        ]
    ),
    st.floats().map(repr),
)


def test_fuzz_learner_options(work):
    import inspect

    from metricli.learners import LEARNERS

    # each learner's __init__ parameters are its options (metricli/cli/learner_options.py)
    choices = [
        (name, "--" + parameter.replace("_", "-"))
        for name, cls in LEARNERS.items()
        for parameter in inspect.signature(cls.__init__).parameters
        if parameter != "self"
    ]

    @PROFILE
    @given(st.lists(st.tuples(st.sampled_from(choices), OPTION_VALUES), min_size=1, max_size=3))
    def run(picked):
        learner = picked[0][0][0]
        args = ["fit", learner, IRIS, "--no-knn-check", "-o", work / "opt", "--force"]
        if LEARNERS[learner].supervision in ("supervised", "semi-supervised", "weakly-supervised"):
            args += ["--label", "species"]
        if LEARNERS[learner].supervision == "regression":
            args += ["--target", "sepal_length"]
        for (_, flag), value in picked:
            args += [flag, value]
        if "--max-iter" not in args and (learner, "--max-iter") in choices:
            args += ["--max-iter", "5"]
        _holds("options", *_cli(*args), args)

    run()


def teardown_module() -> None:
    if os.environ.get("METRICLI_FUZZ_EXAMPLES"):
        print("\nfuzzed inputs per reader:", json.dumps(COUNTS, sort_keys=True))
