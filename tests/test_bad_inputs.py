"""Every bad input of SPEC section 9, for every command that reads it.

Each case: one line on stderr naming the file and the row or column, exit status 2,
nothing on stdout, and no output file created or modified. The table's size is quoted
in the README (rerun: python -m pytest tests/test_bad_inputs.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from metricli.learners import LEARNERS

from .conftest import IRIS, assert_one_line_error

HEADER = "sepal_length,sepal_width,petal_length,petal_width,species\n"
ROW = "5.1,3.5,1.4,0.2,setosa\n"
FILES = {
    "empty.csv": "",
    "header.csv": HEADER,
    "text.csv": HEADER + ROW + "4.9,wide,1.4,0.2,setosa\n" + ROW.replace("setosa", "virginica"),
    "nan.csv": HEADER + ROW + "4.9,,1.4,0.2,setosa\n" + "4.7,3.2,inf,0.2,virginica\n",
    "identical.csv": HEADER + ROW * 3 + ROW.replace("setosa", "virginica") * 3,
    "huge.csv": HEADER + "1e300,2e300,1e300,3e300,setosa\n-2e300,1e300,4e300,1e300,virginica\n"
    "3e300,-1e300,2e300,-2e300,setosa\n1e300,1e300,-3e300,2e300,virginica\n",
    "tiny.csv": HEADER + "1e-300,2e-300,1e-300,3e-300,setosa\n-2e-300,1e-300,4e-300,1e-300,virginica\n"
    "3e-300,-1e-300,2e-300,-2e-300,setosa\n1e-300,1e-300,-3e-300,2e-300,virginica\n",
    "single.csv": HEADER + ROW + "4.9,3.0,1.4,0.2,setosa\n4.7,3.2,1.3,0.2,setosa\n",
    "one_point_class.csv": HEADER
    + ROW
    + "4.9,3.0,1.4,0.2,setosa\n4.7,3.2,1.3,0.2,setosa\n4.6,3.1,1.5,0.2,setosa\n"
    "6.3,3.3,6.0,2.5,virginica\n",
    "pairs_outside.csv": "a,b,y\n0,1,1\n0,999,-1\n",
    "pairs_self.csv": "a,b,y\n0,1,1\n2,2,-1\n",
    "pairs_label.csv": "a,b,y\n0,1,1\n0,2,0\n",
    "D_ragged.csv": "a,b,c\n0,1,2\n1,0\n2,1,0\n",
    "D_nonsquare.csv": "a,b,c\n0,1,2\n1,0,1\n",
}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # {name} is replaced by the path of FILES[name] or a fixture
    fragments: tuple[str, ...]
    output: str | None = "out"  # the output the command would write, which must not appear


def learners_of(kind: str) -> list[str]:
    return sorted(n for n, c in LEARNERS.items() if c.supervision == kind)


FIT_DATA_CASES = [
    ("empty.csv", ("empty file",)),
    ("header.csv", ("header only",)),
    ("text.csv", ("column 'sepal_width' is not numeric", "row 1 (line 3)", "'wide'")),
    ("nan.csv", ("missing or infinite values", "rows 1, 2", "--drop-missing")),
]
FIT_LEARNERS = [
    learners_of(kind)[0]
    for kind in ("unsupervised", "supervised", "semi-supervised", "weakly-supervised")
    if learners_of(kind)
]

CASES: list[Case] = []
for algo in FIT_LEARNERS:
    for file, fragments in FIT_DATA_CASES:
        CASES.append(
            Case(
                f"fit-{algo}-{file}",
                ("fit", algo, "{" + file + "}", "--label", "species", "-o", "{out}"),
                (file, *fragments),
            )
        )
    CASES.append(
        Case(
            f"fit-{algo}-unknown-column",
            ("fit", algo, str(IRIS), "--label", "kind", "-o", "{out}"),
            ("iris.csv", "no column 'kind' (from --label)"),
        )
    )
for algo in FIT_LEARNERS[1:]:
    CASES.append(
        Case(
            f"fit-{algo}-single-class",
            ("fit", algo, "{single.csv}", "--label", "species", "-o", "{out}"),
            (
                "single.csv",
                "single class 'setosa'"
                if LEARNERS[algo].supervision != "weakly-supervised"
                else "fewer than two classes",
            ),
        )
    )
CASES += [
    Case(
        "fit-identical",
        ("fit", "covariance", "{identical.csv}", "--label", "species", "-o", "{out}"),
        ("identical.csv", "all 6 rows are identical"),
    ),
    Case(
        "fit-huge",
        ("fit", "covariance", "{huge.csv}", "--label", "species", "-o", "{out}"),
        ("huge.csv", "overflow"),
    ),
    Case(
        "fit-tiny",
        ("fit", "covariance", "{tiny.csv}", "--label", "species", "-o", "{out}"),
        ("tiny.csv", "overflow or underflow"),
    ),
]
for algo in learners_of("regression"):
    for file, fragments in FIT_DATA_CASES:
        CASES.append(
            Case(
                f"fit-{algo}-{file}",
                ("fit", algo, "{" + file + "}", "--target", "petal_width", "-o", "{out}"),
                (file, *fragments[:1]),
            )
        )
    CASES.append(
        Case(
            f"fit-{algo}-target-text",
            ("fit", algo, str(IRIS), "--target", "species", "-o", "{out}"),
            ("iris.csv", "column 'species' is not numeric"),
        )
    )
if "lmnn" in LEARNERS:
    CASES.append(
        Case(
            "fit-lmnn-one-point-class",
            ("fit", "lmnn", "{one_point_class.csv}", "--label", "species", "--k", "3", "-o", "{out}"),
            ("one_point_class.csv", "class 'virginica' has a single point"),
        )
    )
for algo in learners_of("weakly-supervised"):
    kind = LEARNERS[algo].constraint_kinds[0]
    if kind != "pairs":
        continue
    for file, fragments in [
        ("pairs_outside.csv", ("row 1", "999")),
        ("pairs_self.csv", ("row 1", "itself")),
        ("pairs_label.csv", ("row 1", "y is 0")),
    ]:
        CASES.append(
            Case(
                f"fit-{algo}-{file}",
                ("fit", algo, str(IRIS), "--pairs", "{" + file + "}", "-o", "{out}"),
                (file, *fragments),
            )
        )
for file, fragments in FIT_DATA_CASES:
    CASES += [
        Case(
            f"transform-{file}",
            ("transform", "{bundle}", "{" + file + "}", "-o", "{out}.csv"),
            (file, *fragments[:1]),
        ),
        Case(
            f"distance-{file}",
            ("distance", "{bundle}", "{" + file + "}", "-o", "{out}.csv"),
            (file, *fragments[:1]),
        ),
        Case(
            f"neighbors-{file}",
            ("neighbors", "{bundle}", str(IRIS), "--query", "{" + file + "}", "-k", "3", "-o", "{out}.csv"),
            (file, *fragments[:1]),
        ),
        Case(
            f"evaluate-bundle-{file}",
            ("evaluate", "{bundle}", "{" + file + "}", "--reference", str(IRIS), "--label", "species"),
            (file, *fragments[:1]),
            output=None,
        ),
        Case(
            f"report-{file}",
            ("report", "{bundle}", "{" + file + "}", "--label", "species", "-o", "{out}.html"),
            (file, *fragments[:1]),
        ),
        Case(
            f"constraints-{file}",
            (
                "constraints",
                "{" + file + "}",
                "--label",
                "species",
                "--kind",
                "pairs",
                "-n",
                "4",
                "-o",
                "{out}.csv",
            ),
            (file, *fragments[:1]),
        ),
        Case(
            f"evaluate-cv-{file}",
            ("evaluate", "covariance", "{" + file + "}", "--label", "species"),
            (file, *fragments[:1]),
            output=None,
        ),
    ]
CASES += [
    Case(
        "transform-missing-feature",
        ("transform", "{bundle}", "{single.csv}", "--features", "x", "-o", "{out}.csv"),
        ("No such option",),
        output="out.csv",
    ),
    Case("check-ragged", ("check", "{D_ragged.csv}", "--kind", "distance"), ("D_ragged.csv",), output=None),
    Case(
        "check-nonsquare",
        ("check", "{D_nonsquare.csv}", "--kind", "distance"),
        ("D_nonsquare.csv",),
        output=None,
    ),
    Case("check-empty", ("check", "{empty.csv}"), ("empty.csv", "empty file"), output=None),
    Case("check-tampered", ("check", "{tampered}"), ("M.npy does not match the checksum",), output=None),
    Case("info-tampered", ("info", "{tampered}"), ("M.npy does not match the checksum",), output=None),
    Case(
        "transform-tampered", ("transform", "{tampered}", str(IRIS), "-o", "{out}.csv"), ("does not match",)
    ),
    Case("info-not-a-bundle", ("info", "{header.csv}"), ("header.csv",), output=None),
    Case(
        "neighbors-k-too-large",
        ("neighbors", "{bundle}", str(IRIS), "--query", str(IRIS), "-k", "151", "-o", "{out}.csv"),
        ("151",),
    ),
    Case(
        "evaluate-k-too-large",
        ("evaluate", "covariance", str(IRIS), "--label", "species", "-k", "200"),
        ("200",),
        output=None,
    ),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from typer.testing import CliRunner

    from metricli.cli import app

    root = tmp_path_factory.mktemp("bad")
    for name, content in FILES.items():
        (root / name).write_text(content)
    bundle = root / "bundle"
    assert (
        CliRunner()
        .invoke(app, ["fit", "covariance", str(IRIS), "--label", "species", "-o", str(bundle)])
        .exit_code
        == 0
    )
    tampered = root / "tampered"
    assert (
        CliRunner()
        .invoke(app, ["fit", "covariance", str(IRIS), "--label", "species", "-o", str(tampered)])
        .exit_code
        == 0
    )
    M = np.load(tampered / "M.npy")
    M[1, 1] *= 2
    np.save(tampered / "M.npy", M)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(cli, workspace, tmp_path, case):
    out = tmp_path / "out"
    names = {
        **{name: workspace / name for name in FILES},
        "bundle": workspace / "bundle",
        "tampered": workspace / "tampered",
        "out": out,
    }
    args = []
    for arg in case.args:
        for key, value in names.items():
            arg = arg.replace("{" + key + "}", str(value))
        args.append(arg)
    before = sorted(p.name for p in workspace.iterdir())
    run = cli(*args)
    assert_one_line_error(run, *case.fragments)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    assert sorted(p.name for p in workspace.iterdir()) == before


def test_the_table_covers_every_command():
    commands = {c.args[0] for c in CASES}
    assert commands >= {
        "fit",
        "check",
        "transform",
        "distance",
        "neighbors",
        "evaluate",
        "constraints",
        "info",
        "report",
    }
    print(json.dumps({"bad_input_cases": len(CASES)}))
