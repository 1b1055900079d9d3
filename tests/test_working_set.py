"""Working-set solves (``working_set=True``): restricted programs, certified over all patterns."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import planted_problem

import relu_convex as rc
from relu_convex.constraint_max import relu_constraint_max
from relu_convex.duality import relu_constraint_values
from relu_convex.solvers import SolveStatus


def exact_instance(cls, n: int = 30, lam: float = 1e-2, seed: int = 0, outputs: int | None = None):
    """Points in the plane with a bias column and the exact pattern set (many more patterns than samples)."""
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.standard_normal((n, 2)))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0) - 0.3 * X[:, 0]
    if outputs is not None:
        y = np.stack([y] + [np.sin(k + X[:, 1]) for k in range(outputs - 1)], axis=1)
    return cls(X, y, rc.enumerate_patterns(X), lam)


@pytest.fixture(scope="module")
def relu_reference():
    problem = exact_instance(rc.ReLUProblem)
    return problem, problem.solve(solver="clarabel", tol=1e-9)


@pytest.mark.parametrize("solver", ["clarabel", "ipm", "ecos"])
def test_relu_working_set_matches_the_full_program(relu_reference, solver):
    problem, ref = relu_reference
    assert ref.status is SolveStatus.OPTIMAL
    res = problem.solve(solver=solver, working_set=True)
    assert res.status in (SolveStatus.OPTIMAL, SolveStatus.INACCURATE), res.message
    ws = res.info["working_set"]
    assert ws["sizes"][-1] < problem.p and ws["rounds"] == len(ws["sizes"])
    # weights over all patterns, zero outside the last set
    V, W = res.weights
    assert V.shape == W.shape == (problem.p, problem.d)
    assert np.count_nonzero(np.linalg.norm(V, axis=1) + np.linalg.norm(W, axis=1)) <= ws["sizes"][-1]
    # the reported numbers are those of the full program's certificate
    cert = problem.certificate(res.weights, dual=res.dual)
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    assert res.lower_bound <= cert.lower_bound * (1 + 1e-12) + 1e-15
    assert res.max_violation == pytest.approx(problem.constraint_violation(res.weights), abs=1e-15)
    # weak duality against the reference optimum, and agreement of the objectives
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert ref.lower_bound <= res.objective * (1 + 1e-9) + 1e-12
    if res.status is SolveStatus.OPTIMAL:
        assert ws["violated"] == 0
        assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective


@pytest.mark.parametrize("solver", ["fista", "ipm", "clarabel"])
def test_gated_working_set_matches_the_full_program(solver):
    problem = exact_instance(rc.GatedReLUProblem, n=25, lam=3e-2)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver=solver, working_set=True)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.info["working_set"]["violated"] == 0
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert abs(res.objective - ref.objective) <= 2e-6 * ref.objective
    # the certified gap holds over every pattern
    assert problem.certificate(res.weights, dual=res.dual).relative_gap <= 2e-6


def test_two_outputs_share_one_working_set():
    problem = exact_instance(rc.ReLUProblem, n=20, lam=2e-2, outputs=2)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="clarabel", working_set=True)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.weights[0].shape == (2, problem.p, problem.d)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective


def test_al_warm_starts_and_keeps_multipliers_over_all_patterns():
    problem = planted_problem(rc.ReLUProblem, 40, 3, 30, 1e-2, bias=True, seed=3)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="al", working_set=True, initial_size=4)
    assert res.status is SolveStatus.OPTIMAL, res.message
    A, B = res.info["multipliers"]
    assert A.shape == B.shape == (problem.n, problem.p)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective


def test_weights0_support_starts_in_the_set():
    problem = exact_instance(rc.GatedReLUProblem, n=20, lam=3e-2)
    full = problem.solve(solver="ipm")
    support = np.flatnonzero(np.linalg.norm(full.weights, axis=1) > 0)
    res = problem.solve(solver="fista", working_set=True, weights0=full.weights, initial_size=1)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.info["working_set"]["sizes"][0] >= support.size
    assert res.info["working_set"]["rounds"] == 1


def test_rounds_spent_with_violations_left_is_not_optimal():
    problem = exact_instance(rc.ReLUProblem, n=25, lam=1e-3)
    ref = problem.solve(solver="ipm")
    res = problem.solve(solver="ipm", working_set=True, initial_size=1, max_rounds=1)
    assert res.status is SolveStatus.INACCURATE
    assert res.info["working_set"]["violated"] > 0
    assert "violate" in res.message
    # the certificate over all patterns is still a valid bound
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_bad_options_and_unsupported_problems():
    problem = planted_problem(rc.ReLUProblem, 20, 2, 6, 1e-2, bias=True)
    with pytest.raises(TypeError, match="working_set"):
        problem.solve(solver="ipm", working_set="yes")
    with pytest.raises(ValueError, match="initial_size"):
        problem.solve(solver="ipm", working_set=True, initial_size=0)
    with pytest.raises(ValueError, match="unknown"):
        problem.solve(solver="nope", working_set=True)
    with pytest.raises(ValueError, match="C-ReLU"):
        problem.solve(solver="fista", working_set=True)
    free = rc.ReLUProblem(problem.X, problem.y, problem.patterns, 1e-2, offset=True)
    with pytest.raises(ValueError, match="offset"):
        free.solve(solver="clarabel", working_set=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constraint_max_floor_values_every_violator(seed):
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.standard_normal((25, 2)))
    op = rc.ReLUProblem(X, rng.standard_normal(25), rc.enumerate_patterns(X), 1.0).operator
    theta = rng.standard_normal(25) / 25
    values = relu_constraint_values(op, theta)
    floor = float(np.quantile(values, 0.8))
    plain = relu_constraint_max(op, theta)
    found = relu_constraint_max(op, theta, top=op.p, floor=floor)
    # the maximum is the same, and every pattern above the floor is reported with its exact value
    assert found.value == pytest.approx(plain.value, rel=1e-9)
    assert found.value == pytest.approx(values.max(), rel=1e-9)
    above = np.flatnonzero(values > floor * (1 + 1e-9))
    assert set(above) <= set(found.top_patterns.tolist())
    reported = dict(zip(found.top_patterns.tolist(), found.top_values, strict=True))
    np.testing.assert_allclose([reported[i] for i in above], values[above], rtol=1e-8)
    # reported values are upper bounds of the true ones
    assert np.all(found.top_values >= values[found.top_patterns] * (1 - 1e-9))


def test_restricted_solves_cut_short_still_grow_the_set_and_say_so():
    problem = exact_instance(rc.GatedReLUProblem, n=25, lam=3e-3)
    ref = problem.solve(solver="ipm", tol=1e-9)
    res = problem.solve(solver="fista", working_set=True, max_iter=30, polish=False)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert res.info["working_set"]["rounds"] >= 2
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_float32_problem_judged_by_the_requested_tolerance():
    problem = exact_instance(rc.GatedReLUProblem, n=25, lam=1e-2)
    f32 = rc.GatedReLUProblem(problem.X.astype(np.float32), problem.y.astype(np.float32), problem.patterns, problem.lam)
    ref = problem.solve(solver="ipm", tol=1e-9)
    res = f32.solve(solver="fista", working_set=True, tol=1e-4)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.relative_gap <= 1e-4 and res.info["working_set"]["violated"] == 0
    assert res.lower_bound <= ref.objective * (1 + 1e-6)
