"""Reading data files: CSV layouts and the one-line messages of malformed files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from relu_convex.cli import main
from relu_convex.io import load_dataset


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header_and_target_last(tmp_path):
    path = write(tmp_path, "d.csv", "x1,x2,y\n1,2,3\n4,5,6\n")
    X, y = load_dataset(path)
    np.testing.assert_array_equal(X, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(y, [3.0, 6.0])


def test_single_row_csv_is_one_sample(tmp_path):
    X, y = load_dataset(write(tmp_path, "row.csv", "1,2,3\n"))
    assert X.shape == (1, 2) and y.tolist() == [3.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2\n3\n4\n", "has one column; a CSV data file needs at least two"),
        ("y\n1\n2\n", "has one column; a CSV data file needs at least two"),
        ("", "is empty"),
        ("\n\n", "has no data rows"),
        ("x,y\n", "has no data rows"),
        ("1,2,3\n4,5\n6,7,8\n", "rows of different lengths: line 2 has 2 columns, expected 3"),
    ],
)
def test_malformed_csv_is_refused_with_one_line(tmp_path, text, message):
    path = write(tmp_path, "bad.csv", text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning reaches the user
        with pytest.raises(ValueError, match="^DATA: ") as info:
            load_dataset(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["1\n2\n3\n4\n", "", "1,2,3\n4,5\n"])
def test_cli_prints_one_line_and_exits_2_on_a_malformed_csv(tmp_path, capsys, text):
    path = write(tmp_path, "bad.csv", text)
    code = main(["solve", str(path), "--lam", "0.1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("relu-convex solve: error: DATA: ")


def test_directory_is_named_as_a_directory(tmp_path, capsys):
    with pytest.raises(ValueError, match="is a directory, expected a file"):
        load_dataset(tmp_path)
    assert main(["solve", str(tmp_path), "--lam", "0.1"]) == 2
    assert "is a directory" in capsys.readouterr().err
