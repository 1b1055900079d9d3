"""``relu-convex solve``: default solvers per program, JSON output, certificates, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import planted_problem

import relu_convex as rc
from relu_convex.cli import main

LAM = 0.01


@pytest.fixture
def data(tmp_path):
    problem = planted_problem(rc.ReLUProblem, 60, 3, 10, LAM, bias=False, seed=4)  # the command adds the bias column
    path = tmp_path / "data.npz"
    np.savez(path, X=problem.X, y=problem.y)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("program, expected_solver", [("relu", "ipm"), ("grelu", "ipm")])
def test_default_solver_per_program_agrees_with_clarabel(data, capsys, program, expected_solver):
    code, out, _ = run(capsys, "solve", data, "--lam", LAM, "--program", program, "--patterns", 20, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["solver"] == expected_solver and record["status"] == "optimal"
    assert record["relative_gap"] <= 1e-6 and record["max_violation"] <= 1e-6
    code, out, _ = run(capsys, "solve", data, "--lam", LAM, "--program", program, "--patterns", 20, "--json",
                       "--solver", "clarabel", "--tol", 1e-9)
    assert code == 0
    reference = json.loads(out)
    assert reference["solver"] == "clarabel"
    assert record["objective"] == pytest.approx(reference["objective"], rel=1e-5)
    # both certified: each lower bound is below the other's objective
    assert record["lower_bound"] <= reference["objective"] * (1 + 1e-9)
    assert reference["lower_bound"] <= record["objective"] * (1 + 1e-9)


def test_wrong_solver_for_the_program_exits_2_with_one_line(data, capsys):
    code, out, err = run(capsys, "solve", data, "--lam", LAM, "--program", "grelu", "--solver", "al")
    assert code == 2
    assert "solver='al' solves C-ReLU problems" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ipm_on_the_gated_program_agrees_with_clarabel(data, capsys):
    common = ("solve", data, "--lam", LAM, "--program", "grelu", "--patterns", 20, "--json")
    code, out, _ = run(capsys, *common, "--solver", "ipm")
    assert code == 0
    record = json.loads(out)
    assert record["solver"] == "ipm" and record["status"] == "optimal" and record["relative_gap"] <= 1e-6
    code, out, _ = run(capsys, *common, "--solver", "clarabel", "--tol", 1e-9)
    reference = json.loads(out)
    assert record["objective"] == pytest.approx(reference["objective"], rel=1e-5)
    assert record["lower_bound"] <= reference["objective"] * (1 + 1e-9)


def test_working_set_on_the_exact_pattern_set_agrees_with_the_full_solve(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 2))
    path = tmp_path / "plane.npz"
    np.savez(path, X=X, y=np.maximum(X @ [1.0, -1.0] + 0.5, 0.0) - 0.3 * X[:, 0])
    common = ("solve", path, "--lam", LAM, "--patterns", "exact", "--json", "--solver", "clarabel", "--tol", 1e-9)
    code, out, _ = run(capsys, *common)  # the default on an exact set of 25 points (601 patterns)
    assert code == 0
    record = json.loads(out)
    assert record["status"] == "optimal" and record["working_set_sizes"][-1] < record["patterns"]
    code, out, _ = run(capsys, *common, "--no-working-set")
    reference = json.loads(out)
    assert "working_set_sizes" not in reference
    assert record["objective"] == pytest.approx(reference["objective"], rel=1e-6)
    assert record["lower_bound"] <= reference["objective"] * (1 + 1e-9)
    assert reference["lower_bound"] <= record["objective"] * (1 + 1e-9)
