import io
import sys

import numpy as np
import pandas as pd
import pytest

from metricli import MetricliError
from metricli.io.tables import iter_table, load_dataset, read_table

from ..conftest import IRIS, assert_one_line_error


@pytest.fixture
def formats(tmp_path, iris_frame):
    """iris written as CSV, TSV, Parquet and .npy (features only)."""
    paths = {"csv": IRIS}
    paths["tsv"] = tmp_path / "iris.tsv"
    iris_frame.to_csv(paths["tsv"], sep="\t", index=False)
    paths["parquet"] = tmp_path / "iris.parquet"
    iris_frame.to_parquet(paths["parquet"])
    paths["npy"] = tmp_path / "iris.npy"
    np.save(paths["npy"], iris_frame.drop(columns="species").to_numpy())
    return paths


def test_every_format_gives_the_same_points(formats, iris_X):
    for fmt, path in formats.items():
        label = None if fmt == "npy" else "species"
        data = load_dataset(str(path), label=label)
        np.testing.assert_array_equal(data.X, iris_X)
        assert data.n_samples == 150
        if fmt == "npy":
            assert data.feature_names == ["x0", "x1", "x2", "x3"]
        else:
            assert data.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
            assert data.labels[0] == "setosa"


def test_stdin_with_explicit_format(monkeypatch, formats, iris_X):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(formats["tsv"].read_bytes())))
    data = load_dataset("-", "tsv", label="species")
    np.testing.assert_array_equal(data.X, iris_X)


def test_batches_cover_every_row_in_order(formats, iris_X):
    for fmt in ("csv", "parquet", "npy"):
        batches = list(iter_table(str(formats[fmt]), batch_rows=40))
        assert [len(b) for b in batches] == [40, 40, 40, 30]
        assert batches[-1].index[0] == 120
        joined = pd.concat(batches)
        cols = [c for c in joined.columns if c != "species"]
        np.testing.assert_array_equal(joined[cols].to_numpy(dtype=float), iris_X)


def test_checksum_is_of_the_bytes_read(formats):
    import hashlib

    _, digest = read_table(str(IRIS))
    assert digest == hashlib.sha256(IRIS.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a,b,c\n", "header only"),
        ("a,b\n1,2\n3,x\n4,5\n", "column 'b' is not numeric: row 1 (line 3) is 'x'"),
        ("a,b\n1,2\n3,\n4,inf\n", "missing or infinite values in column 'b' at rows 1, 2"),
    ],
)
def test_bad_tables_name_the_file_column_and_rows(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(MetricliError) as info:
        load_dataset(str(path))
    assert str(path) in info.value.message
    assert message in info.value.message


def test_drop_missing_drops_exactly_those_rows(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,2\n3,\n4,5\nnan,1\n")
    data = load_dataset(str(path), drop_missing=True)
    np.testing.assert_array_equal(data.X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(data.rows, [0, 2])
    assert any("dropped 2 rows" in n for n in data.notes)


def test_unknown_column_lists_the_columns():
    with pytest.raises(MetricliError, match=r"no column 'kind' \(from --label\); columns are: sepal_length"):
        load_dataset(str(IRIS), label="kind")


def test_text_column_is_left_out_with_a_note_and_blank_labels_are_unlabelled(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("name,x,y,label\nann,1,2,a\nbob,2,3,\ncat,4,1,b\n")
    data = load_dataset(str(path), label="label")
    assert data.feature_names == ["x", "y"]
    assert list(data.labels) == ["a", None, "b"]
    assert data.labelled.tolist() == [True, False, True]
    assert any("leaving out text column 'name'" in n for n in data.notes)


def test_unlabeled_marker_and_numeric_labels(tmp_path):
    path = tmp_path / "marks.csv"
    path.write_text("x,y,label\n1,2,1\n2,3,-1\n4,1,2\n")
    data = load_dataset(str(path), label="label", unlabeled="-1")
    assert list(data.labels) == ["1", None, "2"]


def test_ids_must_be_unique(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,x\np1,1\np2,2\np1,3\n")
    with pytest.raises(MetricliError, match="repeats the value 'p1' at row 2"):
        load_dataset(str(path), id_column="id")


def test_a_parquet_table_too_large_for_memory_is_not_called_corrupt(tmp_path, monkeypatch):
    """pyarrow's allocation failure is a MemoryError (the CLI says: out of memory), not a bad file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pytest

    from metricli.io.tables import read_table

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0]}), path)

    def fail(*args, **kwargs):
        raise pa.ArrowMemoryError("malloc of size 5120000000 failed")

    monkeypatch.setattr(pq, "read_table", fail)
    with pytest.raises(MemoryError):
        read_table(str(path))


UNREADABLE = "/proc/self/mem"  # exists, is a file, and reading it from offset 0 fails with EIO


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc/self/mem")
def test_a_file_the_system_refuses_to_read_is_named_in_one_line(cli, tmp_path):
    from metricli.io.square import read_square_table

    for read in (
        lambda: read_table(UNREADABLE, "csv"),
        lambda: list(iter_table(UNREADABLE, "csv")),
        lambda: read_square_table(UNREADABLE, "csv"),
    ):
        with pytest.raises(MetricliError, match=f"^{UNREADABLE}: cannot read \\(Input/output error\\)$"):
            read()
    run = cli("fit", "covariance", UNREADABLE, "--format", "csv", "-o", tmp_path / "model")
    assert_one_line_error(run, UNREADABLE, "cannot read")
    assert not (tmp_path / "model").exists()


class _Pipe(io.RawIOBase):
    """A pipe's bytes: readable once, front to back, never seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_parquet_streamed_from_a_pipe_gives_every_row(monkeypatch, formats, iris_X):
    # Parquet's footer is at the end: reading stdin in batches failed with 'Illegal seek'
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(formats["parquet"].read_bytes())))
    )
    batches = list(iter_table("-", "parquet", batch_rows=64))
    assert [len(b) for b in batches] == [64, 64, 22]
    np.testing.assert_array_equal(pd.concat(batches).drop(columns="species").to_numpy(), iris_X)


def test_parquet_columns_sharing_a_name_are_refused_by_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["a", "a"]), path)
    for read in (lambda: read_table(str(path)), lambda: list(iter_table(str(path)))):
        with pytest.raises(
            MetricliError, match=f"^{path}: more than one column is named 'a'; rename the copies$"
        ):
            read()


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_text_columns_sharing_a_name_are_refused_not_renamed(tmp_path, monkeypatch, fmt, sep):
    # pandas renames a repeated 'a' to 'a.1', so --features a silently took the first copy
    text = sep.join(["a", "b", "a", "y"]) + "\n" + sep.join(["1", "2", "3", "x"]) + "\n"
    path = tmp_path / f"dup.{fmt}"
    path.write_text(text)
    for read in (lambda: read_table(str(path)), lambda: list(iter_table(str(path)))):
        with pytest.raises(
            MetricliError, match=f"^{path}: more than one column is named 'a'; rename the copies$"
        ):
            read()
    for read in (lambda: read_table("-", fmt), lambda: list(iter_table("-", fmt))):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(text.encode()))))
        with pytest.raises(MetricliError, match="^<stdin>: more than one column is named 'a'"):
            read()
    # a column really named 'a.1' beside 'a' is two names, and a streamed pipe keeps its first row
    path.write_text("a,a.1\n1,2\n3,4\n")
    assert list(read_table(str(path), "csv")[0].columns) == ["a", "a.1"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(b"a,a.1\n1,2\n3,4\n"))))
    streamed = pd.concat(iter_table("-", "csv", batch_rows=1))
    np.testing.assert_array_equal(streamed.to_numpy(), [[1, 2], [3, 4]])


def test_a_text_target_is_told_to_be_numbers_not_to_be_excluded(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,x\n3,4,z\n5,7,w\n")
    with pytest.raises(MetricliError) as caught:
        load_dataset(str(path), target="y")
    assert "column 'y' is not numeric: row 0 (line 2) is 'x'" in caught.value.message
    assert "--exclude" not in caught.value.message and "--label" in caught.value.message


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_csv_and_tsv_read_like_the_plain_file(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]
    plain = read_table(IRIS)[0]
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        path = tmp_path / f"iris.{fmt}{suffix}"
        with opener(path, "wt") as handle:
            plain.to_csv(handle, sep=sep, index=False)
        pd.testing.assert_frame_equal(read_table(str(path))[0], plain)
        pd.testing.assert_frame_equal(pd.concat(iter_table(str(path), batch_rows=40)), plain)
    # repeated names are caught in the decompressed header too
    path = tmp_path / f"dup.csv{suffix}"
    with opener(path, "wt") as handle:
        handle.write("a,b,a\n1,2,3\n")
    with pytest.raises(MetricliError, match="more than one column is named 'a'"):
        read_table(str(path))
    with pytest.raises(MetricliError, match=r"only CSV and TSV are read compressed"):
        read_table(str(tmp_path / f"x.parquet{suffix}"))


def test_a_parquet_distance_matrix_with_repeated_ids_names_the_repeat_also_from_a_pipe(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from metricli.io.square import read_square_table

    D = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    for ids, expected in ((["a", "b", "c"], None), (["a", "a", "c"], "id 'a' appears twice")):
        path = tmp_path / "D.parquet"
        columns = [pa.array(ids)] + [pa.array(D[:, j]) for j in range(3)]
        pq.write_table(pa.table(columns, names=["id", *ids]), path)
        for source in (str(path), "-"):
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(path.read_bytes()))))
            if expected is None:
                table = read_square_table(source, "parquet")
                np.testing.assert_array_equal(table.matrix, D)
                assert list(table.ids) == ids
            else:
                with pytest.raises(MetricliError, match=expected):
                    read_square_table(source, "parquet")


def test_first_copies_names_each_columns_first_equal_column():
    """Duplicated columns are found without sorting a copy of the table: each column points at
    the first column equal to it (== equality: 0.0 and -0.0 alike), or at itself."""
    import numpy as np

    from metricli.io.tables import degenerate_columns, first_copies

    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 200))
    zero_a = a.copy()
    zero_a[5] = 0.0
    negative_zero_a = zero_a.copy()
    negative_zero_a[5] = -0.0
    near_b = b.copy()
    near_b[-1] = np.nextafter(near_b[-1], np.inf)  # one ulp away: not a copy
    X = np.column_stack([a, b, a, c, b, zero_a, negative_zero_a, near_b])
    assert first_copies(X) == [0, 1, 0, 3, 1, 5, 5, 7]
    notes = degenerate_columns(X, list("abcdefgh"), "t.csv")
    assert notes == ["t.csv: duplicated columns 'c' = 'a', 'e' = 'b', 'g' = 'f': the metric sees each once"]
