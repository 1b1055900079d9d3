"""The convex programs: objectives, CVXPY builders, cross-solver agreement, duality."""

import cvxpy as cp
import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc

SEEDS = range(10)
LAMS = [1e-3, 1e-2, 1e-1]


def _rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
def test_clarabel_and_ecos_agree(seed, cls):
    X, y, P = make_instance(seed, n=25 + seed, d=2 + seed % 3, p=10)
    problem = cls(X, y, P, LAMS[seed % 3])
    a = problem.solve(solver="clarabel", tol=1e-9)
    b = problem.solve(solver="ecos", tol=1e-9)
    assert a.status.has_point and b.status.has_point
    assert a.status is rc.SolveStatus.OPTIMAL
    assert _rel(a.objective, b.objective) <= 1e-6
    # certified lower bounds never exceed either objective by more than rounding
    assert a.lower_bound <= b.objective + 1e-9 * abs(b.objective)
    assert b.lower_bound <= a.objective + 1e-9 * abs(a.objective)


@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
def test_mosek_agrees_with_clarabel_when_licensed(cls):
    """The MOSEK route, where a license is present; otherwise skipped with the toolkit's own message."""
    from relu_convex.solvers import check_mosek

    try:
        check_mosek()
    except rc.SolverUnavailableError as exc:
        pytest.skip(str(exc))
    X, y, P = make_instance(1, n=30, d=3, p=10)
    problem = cls(X, y, P, 1e-2)
    a = problem.solve(solver="clarabel", tol=1e-9)
    b = problem.solve(solver="mosek", tol=1e-9)
    assert a.status is rc.SolveStatus.OPTIMAL and b.status.has_point
    assert _rel(a.objective, b.objective) <= 1e-6
    assert b.lower_bound <= a.objective + 1e-9 * abs(a.objective)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
def test_primal_and_dual_optima_agree(seed, cls):
    X, y, P = make_instance(seed, n=20 + seed, d=3, p=8)
    problem = cls(X, y, P, LAMS[seed % 3])
    primal = problem.to_cvxpy()
    dual = problem.dual_to_cvxpy()
    primal.problem.solve(solver="CLARABEL", tol_gap_abs=1e-8, tol_gap_rel=1e-8, tol_feas=1e-8)
    dual.problem.solve(solver="CLARABEL", tol_gap_abs=1e-8, tol_gap_rel=1e-8, tol_feas=1e-8)
    assert primal.problem.status == cp.OPTIMAL and dual.problem.status == cp.OPTIMAL
    assert _rel(primal.problem.value, dual.problem.value) <= 1e-6
    # the objective recomputed from the read-back weights matches CVXPY's value
    assert _rel(problem.objective(primal.weights()), primal.problem.value) <= 1e-8
    # the dual optimum is the scaled residual (y - yhat) / n of the primal optimum
    theta = dual.theta()
    resid = (y - problem.predict(primal.weights())) / problem.n
    assert np.linalg.norm(theta - resid) <= 1e-4 * max(np.linalg.norm(resid), 1e-12)


def test_relu_program_exposes_cone_constraints(instance):
    X, y, P = instance
    program = rc.ReLUProblem(X, y, P, 0.01).to_cvxpy()
    cons = program.problem.constraints
    assert len(cons) == 2
    assert all(isinstance(c, cp.constraints.Inequality) for c in cons)
    assert all(c.shape == P.shape for c in cons)
    program.problem.solve(solver="CLARABEL")
    V, W = program.weights()
    S = 2 * P - 1
    scale = np.abs(X).max() * max(np.abs(V).max(), np.abs(W).max())
    assert (S * (X @ V.T)).min() >= -1e-7 * scale
    assert (S * (X @ W.T)).min() >= -1e-7 * scale


def test_relu_dual_has_explicit_multipliers(instance):
    X, y, P = instance
    dual = rc.ReLUProblem(X, y, P, 0.01).dual_to_cvxpy()
    assert set(dual.variables) == {"theta", "A", "B"}
    assert dual.variables["A"][0].shape == P.shape
    assert dual.problem.objective.NAME == "maximize"
    assert dual.problem.is_dcp()


def test_builders_return_unsolved_problems(instance):
    X, y, P = instance
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        program = cls(X, y, P, 0.1).to_cvxpy()
        assert program.problem.value is None
        with pytest.raises(RuntimeError, match="no solution yet"):
            program.weights()


def test_objective_matches_explicit_formula(instance):
    X, y, P = instance
    rng = np.random.default_rng(3)
    lam = 0.05
    U = rng.standard_normal((P.shape[1], X.shape[1]))
    pred = sum(P[:, i] * (X @ U[i]) for i in range(P.shape[1]))
    expect = np.sum((pred - y) ** 2) / (2 * len(y)) + lam * np.linalg.norm(U, axis=1).sum()
    assert rc.GatedReLUProblem(X, y, P, lam).objective(U) == pytest.approx(expect, rel=1e-12)
    V, W = rng.standard_normal((2, P.shape[1], X.shape[1]))
    pred = sum(P[:, i] * (X @ (V[i] - W[i])) for i in range(P.shape[1]))
    expect = np.sum((pred - y) ** 2) / (2 * len(y)) + lam * (np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum())
    assert rc.ReLUProblem(X, y, P, lam).objective((V, W)) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
def test_multi_output_is_independent_problems(cls):
    X, Y, P = make_instance(5, n=20, d=2, p=8, outputs=3)
    lam = 0.01
    joint = cls(X, Y, P, lam).solve(solver="clarabel", tol=1e-9)
    assert joint.status is rc.SolveStatus.OPTIMAL
    weights = joint.weights
    shape = (3, P.shape[1], X.shape[1])
    assert (weights.shape if cls is rc.GatedReLUProblem else weights[0].shape) == shape
    separate = [cls(X, Y[:, k], P, lam).solve(solver="clarabel", tol=1e-9).objective for k in range(3)]
    assert _rel(joint.objective, sum(separate)) <= 1e-6
    assert joint.lower_bound <= sum(separate) * (1 + 1e-9)
    dual = cls(X, Y, P, lam).dual_to_cvxpy()
    dual.problem.solve(solver="CLARABEL")
    assert dual.theta().shape == Y.shape
    assert _rel(dual.problem.value, joint.objective) <= 1e-6


def test_relu_network_has_same_objective():
    for seed in range(5):
        X, y, P = make_instance(seed, n=25, d=3, p=12)
        lam = [1e-3, 1e-2, 1e-1][seed % 3]
        problem = rc.ReLUProblem(X, y, P, lam)
        result = problem.solve(solver="clarabel", tol=1e-10)
        net = problem.to_network(result.weights)
        assert isinstance(net, rc.ReLUNetwork)
        assert _rel(net.objective(X, y, lam), result.objective) <= 1e-8
        np.testing.assert_allclose(net.predict(X), problem.predict(result.weights), rtol=1e-6, atol=1e-8)


def test_gated_network_keeps_gates_and_objective(instance):
    X, y, P = instance
    problem = rc.GatedReLUProblem(X, y, P, 0.01)
    result = problem.solve(solver="clarabel")
    net = problem.to_network(result.weights)
    assert isinstance(net, rc.GatedReLUNetwork)
    assert net.gates.shape == (X.shape[1], net.width)
    np.testing.assert_allclose(net.predict(X), problem.predict(result.weights), rtol=1e-9, atol=1e-10)
    assert _rel(net.objective(X, y, 0.01), result.objective) <= 1e-9


def test_status_limit_is_not_optimal(instance):
    X, y, P = instance
    result = rc.ReLUProblem(X, y, P, 0.01).solve(solver="clarabel", max_iter=2)
    assert result.status is rc.SolveStatus.MAX_ITERATIONS
    assert not result.success
    # its certificate is still valid: the bound is below the true optimum
    opt = rc.ReLUProblem(X, y, P, 0.01).solve(solver="clarabel", tol=1e-10).objective
    assert result.lower_bound <= opt


def test_solve_result_fields(instance):
    X, y, P = instance
    r = rc.GatedReLUProblem(X, y, P, 0.01).solve()
    assert r.solver == "clarabel"
    assert r.iterations > 0 and r.solve_time > 0
    assert r.gap == pytest.approx(r.objective - r.lower_bound)
    assert r.relative_gap == pytest.approx(r.gap / r.objective)
    assert 0 <= r.relative_gap <= 1e-6
    assert "optimal" in repr(r)


def test_cone_violation_is_the_relative_violation_of_the_worst_row():
    from relu_convex.cones import cone_violation, relative_violation

    rng = np.random.default_rng(7)
    n, d, p = 40, 4, 6
    X = rng.standard_normal((n, d))
    patterns = rc.activation_patterns(X, rc.sample_gates(d, p, seed=1))
    y = rng.standard_normal(n)
    problem = rc.ReLUProblem(X, y, patterns, 1e-2)
    V, W = rng.standard_normal((2, patterns.shape[1], d))
    signs = 2.0 * patterns - 1.0
    values = np.stack([signs * (X @ V.T), signs * (X @ W.T)])  # (2, n, p), by definition
    worst = -values.min()
    largest = max(np.linalg.norm(V, axis=1).max(), np.linalg.norm(W, axis=1).max())
    row_scale, target_scale = np.linalg.norm(X, axis=1).max(), np.abs(y).max()
    expected = relative_violation(worst, largest, row_scale, target_scale)
    assert expected > 0.0
    assert cone_violation(values, np.stack([V, W]), row_scale, target_scale) == pytest.approx(expected, rel=1e-14)
    assert problem.constraint_violation((V, W)) == pytest.approx(expected, rel=1e-12)
    # feasible values: zero, whatever the blocks
    assert cone_violation(np.abs(values), np.stack([V, W]), row_scale, target_scale) == 0.0
