"""The first hour's stumbles (issue 17): inputs that are not tables get one line saying what
they are and what to do, errors under --json are JSON, and the help reads cleanly."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from typer.testing import CliRunner

from metricli.cli import app
from tests.conftest import IRIS, assert_one_line_error


def run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env={"COLUMNS": "250"})


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        (
            "https://example.com/data.csv",
            ("not URLs", "curl -sL 'https://example.com/data.csv' | metricli ... -"),
        ),
        ("s3://bucket/data.csv", ("not URLs", "aws s3 cp 's3://bucket/data.csv' - | metricli ... -")),
        ("gs://bucket/data.csv", ("not URLs", "gsutil cat")),
    ],
)
def test_a_url_is_not_a_missing_file(tmp_path, source, fragments):
    result = run("fit", "covariance", source, "-o", tmp_path / "b")
    assert_one_line_error(result, source, *fragments)
    assert "no such file" not in result.stderr


def test_a_folder_is_named_as_one(tmp_path):
    assert_one_line_error(
        run("fit", "covariance", tmp_path, "-o", tmp_path / "b"), "is a folder, not a table"
    )


def test_an_excel_workbook_is_told_to_become_csv(tmp_path):
    book = tmp_path / "data.xlsx"
    book.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    result = run("fit", "covariance", book, "-o", tmp_path / "b")
    assert_one_line_error(result, "data.xlsx: is an Excel workbook", "save it as CSV")
    assert "--format" not in result.stderr
    # the same bytes on stdin: a zip archive, not "binary data"
    piped = run("fit", "covariance", "-", "-o", tmp_path / "b", input=book.read_bytes())
    assert_one_line_error(piped, "<stdin>: is a zip archive", "save the sheet")


def test_gzip_on_stdin_says_decompress(tmp_path):
    result = run("fit", "covariance", "-", "-o", tmp_path / "b", input=gzip.compress(IRIS.read_bytes()))
    assert_one_line_error(result, "<stdin>: is gzip-compressed", "gunzip -c")


def test_errors_under_json_are_json_on_stderr(tmp_path):
    for args in (
        ["--json", "fit", "covariance", tmp_path / "nosuch.csv", "-o", tmp_path / "b"],
        ["fit", "covariance", tmp_path / "nosuch.csv", "-o", tmp_path / "b", "--json"],
        ["fit", "lmnn", "--json"],  # a usage error, before the command runs
    ):
        result = run(*args)
        assert result.exit_code == 2 and result.stdout == ""
        error = json.loads(result.stderr)
        assert error["exit_status"] == 2
        assert ("no such file" in error["error"]) or ("Missing argument 'DATA'" in error["error"])
    plain = run("fit", "covariance", tmp_path / "nosuch.csv", "-o", tmp_path / "b")
    assert plain.stderr.startswith("metricli: error: ")


@pytest.mark.parametrize(
    "command", [[], ["transform"], ["fit", "lmnn"], ["check"], ["evaluate", "bundle"]], ids=" ".join
)
def test_flags_show_no_type(command):
    text = run(*command, "--help").stdout
    assert "<bool>" not in text
    assert "--force" in text or "--json" in text


def test_the_environment_variables_and_completion_are_in_the_help():
    text = re.sub(r"[│\s]+", " ", run("--help").stdout)
    assert "METRICLI_BLAS_THREADS" in text and "METRICLI_KNN_CHECK" in text
    assert "--install-completion" in text and "--show-completion" in text
    script = run("--show-completion", "bash")
    assert script.exit_code == 0 and "_METRICLI_COMPLETE" in script.stdout
