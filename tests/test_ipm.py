"""The "ipm" solver for C-ReLU against Clarabel, and its statuses, options and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SOLVER_CASES, planted_problem

import relu_convex as rc
from relu_convex.solvers import SolveStatus, available_solvers
from relu_convex.solvers.cone_scaling import (
    soc_divide,
    soc_matrices,
    soc_max_step,
    soc_product,
    soc_scaling,
    soc_update,
)
from relu_convex.solvers.interior_point_relu import solve_ipm

CASES = SOLVER_CASES + [
    (100, 4, 20, 1e-3, False, 5),
    (200, 6, 30, 1e-4, True, 6),
    (150, 3, 10, 1e-1, False, 7),
    (120, 2, 25, 1e-2, True, 8),
]


def instance(n, d, p, lam, bias, seed, outputs=None) -> rc.ReLUProblem:
    return planted_problem(rc.ReLUProblem, n, d, p, lam, bias=bias, seed=seed, outputs=outputs)


@pytest.mark.parametrize("outputs", [None, 2], ids=["single", "two-outputs"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-p{c[2]}-lam{c[3]:g}-bias{int(c[4])}")
def test_matches_clarabel_feasible_and_certified(case, outputs):
    problem = instance(*case, outputs=outputs)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="ipm")
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.solver == "ipm"
    assert res.max_violation <= 1e-6
    assert res.max_violation == problem.constraint_violation(res.weights)
    assert res.relative_gap <= 1e-6
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.lower_bound <= ref.objective * (1 + 1e-9)  # weak duality: never above the optimum
    V, W = res.weights
    assert V.shape == W.shape == problem.weight_shape
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    A, B = res.info["multipliers"]
    assert A.shape == B.shape == ((problem.n, problem.p) if outputs is None else (outputs, problem.n, problem.p))
    assert np.all(A >= 0) and np.all(B >= 0)


@pytest.mark.parametrize("shape", [(30, 50, 0), (40, 12, 6)], ids=["fewer-rows-than-features", "repeated-columns"])
def test_rank_deficient_data_solved_on_the_row_space(shape):
    # rank(X) < d: the method solves the program of X V (V a basis of the row space) and maps back
    n, d, repeats = shape
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, d))
    if repeats:
        X[:, -repeats:] = X[:, :repeats] * 2.0 - X[:, 1:repeats + 1]  # columns in the span of the others
    assert np.linalg.matrix_rank(X) < d
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0.0) @ rng.standard_normal(3) + 0.1 * rng.standard_normal(n)
    patterns = rc.activation_patterns(X, rc.sample_gates(d, 15, seed=4))
    problem = rc.ReLUProblem(X, y, patterns, 1e-3)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="ipm")
    assert res.status is SolveStatus.OPTIMAL, res.message
    V, W = res.weights
    assert V.shape == W.shape == (problem.p, d)
    # the weights lie in the row space of X: no component of the null space
    basis = np.linalg.svd(X, full_matrices=False)[2][: np.linalg.matrix_rank(X)]
    for U in (V, W):
        assert np.linalg.norm(U - (U @ basis.T) @ basis) <= 1e-9 * max(np.linalg.norm(U), 1e-300)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    assert res.max_violation == problem.constraint_violation(res.weights) <= 1e-6
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    cert = problem.certificate(res.weights, dual=res.dual)
    assert cert.relative_gap <= 1e-6


@pytest.mark.parametrize("case", [(300, 8, 40, 1e-3, True, 11), (400, 10, 50, 1e-3, False, 12)],
                         ids=["n300-d9-p40", "n400-d10-p50"])
def test_tight_tolerance_on_medium_instances(case):
    # near the optimum the cone scalings reach condition numbers of 1e8 and more; these
    # instances used to stall at certified gaps of 3e-6 and 1e-5
    problem = instance(*case)
    res = problem.solve(solver="ipm", tol=1e-7, feas_tol=1e-7)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.relative_gap <= 1e-7 and res.max_violation <= 1e-7
    ref = problem.solve(solver="clarabel", tol=1e-9)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert abs(res.objective - ref.objective) <= 1e-7 * ref.objective


def test_registered_for_both_programs():
    relu = instance(30, 3, 8, 1e-2, False, 0)
    gated = planted_problem(rc.GatedReLUProblem, 30, 3, 8, 1e-2, bias=False)
    assert "ipm" in available_solvers(relu) and "ipm" in available_solvers(gated)
    with pytest.raises(ValueError, match="C-ReLU and C-GReLU"):
        solve_ipm(object())


GATED_CASES = SOLVER_CASES + [(100, 4, 20, 1e-5, False, 5), (120, 9, 60, 1e-5, True, 6), (80, 30, 40, 1e-5, False, 7)]


@pytest.mark.parametrize("outputs", [None, 3], ids=["single", "three-outputs"])
@pytest.mark.parametrize("case", GATED_CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-p{c[2]}-lam{c[3]:g}-bias{int(c[4])}")
def test_gated_matches_clarabel_and_is_certified(case, outputs):
    # C-GReLU: the same method without cone rows; small lam (1e-5), where the first-order
    # route is slow, included
    problem = planted_problem(rc.GatedReLUProblem, *case[:4], bias=case[4], seed=case[5], outputs=outputs)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="ipm")
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.relative_gap <= 1e-6 and res.max_violation == 0.0
    assert res.weights.shape == problem.weight_shape
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)  # weak duality
    # the returned dual point certifies the same gap through the problem's own certificate
    cert = problem.certificate(res.weights, dual=res.dual)
    assert cert.lower_bound == pytest.approx(res.lower_bound, rel=1e-9) or cert.lower_bound >= res.lower_bound
    assert cert.relative_gap <= 1e-6


@pytest.mark.parametrize("lam", [1e-2, 1e-1])
def test_groups_zero_at_the_optimum_are_returned_exactly_zero(lam):
    # an interior point leaves them small but nonzero; the dual point shows them inactive and
    # they are zeroed when the certificate still holds: fista's exact prox zeros agree
    problem = planted_problem(rc.GatedReLUProblem, 150, 5, 40, lam, bias=True, seed=11)
    res = problem.solve(solver="ipm")
    first = problem.solve(solver="fista", tol=1e-10, max_iter=100_000)
    assert res.status is SolveStatus.OPTIMAL and first.status is SolveStatus.OPTIMAL
    nonzero = np.any(res.weights != 0.0, axis=1)
    assert np.array_equal(nonzero, np.any(first.weights != 0.0, axis=1))
    assert 0 < nonzero.sum() < problem.p
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    assert res.relative_gap <= 1e-6

    # C-ReLU: every zeroed group keeps the point feasible and certified, and the groups the
    # conic route leaves above 1e-6 of the largest are the nonzero ones, up to a few
    relu = planted_problem(rc.ReLUProblem, 150, 5, 40, lam, bias=True, seed=11)
    res = relu.solve(solver="ipm")
    ref = relu.solve(solver="clarabel", tol=1e-9)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.max_violation <= 1e-6 and res.relative_gap <= 1e-6
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    ours = np.linalg.norm(np.concatenate(res.weights), axis=1)
    theirs = np.linalg.norm(np.concatenate(ref.weights), axis=1)
    assert np.count_nonzero(ours == 0.0) > 0
    assert abs(np.count_nonzero(ours) - np.count_nonzero(theirs > 1e-6 * theirs.max())) <= 0.1 * len(ours)


def test_gated_limits_and_fewer_rows_than_features():
    problem = planted_problem(rc.GatedReLUProblem, 60, 5, 20, 1e-4, bias=False, seed=2)
    capped = problem.solve(solver="ipm", max_iter=2)
    assert capped.status is SolveStatus.MAX_ITERATIONS and capped.relative_gap > 1e-6
    rng = np.random.default_rng(5)
    X = rng.standard_normal((25, 40))
    y = np.maximum(X @ rng.standard_normal(40), 0.0) + 0.1 * rng.standard_normal(25)
    wide = rc.GatedReLUProblem(X, y, rc.activation_patterns(X, rc.sample_gates(40, 12, seed=1)), 1e-3)
    ref = wide.solve(solver="clarabel", tol=1e-9)
    res = wide.solve(solver="ipm")
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.weights.shape == (12, 40)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_iteration_limit_is_never_optimal():
    problem = instance(60, 5, 16, 1e-3, True, 2)
    res = problem.solve(solver="ipm", max_iter=1)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert not res.success
    assert res.iterations == 1
    assert "max_iter=1" in res.message
    # the bound is certified even far from the optimum
    ref = problem.solve(solver="clarabel", tol=1e-9)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert len(res.history["iteration"]) == len(res.history["mu"]) == len(res.history["output"])


def test_time_limit_status():
    problem = instance(200, 6, 30, 1e-4, True, 6)
    res = problem.solve(solver="ipm", time_limit=1e-6)
    assert res.status is SolveStatus.TIME_LIMIT
    assert "time limit" in res.message


@pytest.mark.parametrize("option, value, error", [
    ("tol", 0.0, ValueError), ("tol", 2.0, ValueError), ("feas_tol", -1e-3, ValueError),
    ("max_iter", 0, ValueError), ("time_limit", -1.0, ValueError), ("verbose", "yes", TypeError),
])
def test_bad_options_name_the_option(option, value, error):
    problem = instance(30, 3, 8, 1e-2, False, 0)
    with pytest.raises(error, match=option):
        problem.solve(solver="ipm", **{option: value})


def test_refuses_what_it_does_not_handle():
    X, y = np.random.default_rng(0).standard_normal((30, 3)), np.random.default_rng(1).standard_normal(30)
    patterns = rc.activation_patterns(X, rc.sample_gates(3, 8, seed=0))
    with pytest.raises(ValueError, match="lam"):
        solve_ipm(rc.ReLUProblem(X, y, patterns, 0.0))
    with pytest.raises(ValueError, match="unpenalized"):
        rc.ReLUProblem(rc.add_bias(X), y, rc.activation_patterns(rc.add_bias(X), rc.sample_gates(4, 8, seed=0)),
                       1e-2, unpenalized=[3]).solve(solver="ipm")


def test_second_order_cone_helpers():
    rng = np.random.default_rng(0)

    def interior(m, k):
        v = rng.standard_normal((m, k))
        v[:, 0] = np.linalg.norm(v[:, 1:], axis=1) + 0.1 + rng.random(m)
        return v

    s, z = interior(6, 5), interior(6, 5)
    w, beta = soc_scaling(s, z)
    W, W_inv = soc_matrices(w, beta)
    lam = np.einsum("mij,mj->mi", W, z)
    np.testing.assert_allclose(lam, np.einsum("mij,mj->mi", W_inv, s), atol=1e-12)
    np.testing.assert_allclose(W @ W_inv, np.broadcast_to(np.eye(5), W.shape), atol=1e-12)
    # the scaling of a new point, updated from it in the current scaling, is its own scaling
    s_new, z_new = interior(6, 5), interior(6, 5)
    w2, beta2, lam2 = soc_update(w, beta, s_new, z_new)
    s2, z2 = np.einsum("mij,mj->mi", W, s_new), np.einsum("mij,mj->mi", W_inv, z_new)
    w_ref, beta_ref = soc_scaling(s2, z2)
    np.testing.assert_allclose(w2, w_ref, atol=1e-12)
    np.testing.assert_allclose(beta2, beta_ref, rtol=1e-12)
    W2, W2_inv = soc_matrices(w2, beta2)
    np.testing.assert_allclose(lam2, np.einsum("mij,mj->mi", W2, z2), atol=1e-12)
    np.testing.assert_allclose(lam2, np.einsum("mij,mj->mi", W2_inv, s2), atol=1e-12)
    r = rng.standard_normal((6, 5))
    np.testing.assert_allclose(soc_product(lam, soc_divide(lam, r)), r, atol=1e-12)
    d = rng.standard_normal((6, 5))
    alpha = soc_max_step(lam, d)
    x = lam + alpha * d
    margins = x[:, 0] - np.linalg.norm(x[:, 1:], axis=1)
    assert margins.min() == pytest.approx(0.0, abs=1e-12) and np.all(margins >= -1e-12)


@pytest.mark.parametrize("cls, other", [(rc.GatedReLUProblem, "fista"), (rc.ReLUProblem, "al")])
def test_refuses_a_problem_whose_newton_systems_would_not_fit(cls, other):
    # n = 15001 rows and more weights than rows: the n x n Woodbury path, about 6.8 GB or more
    rng = np.random.default_rng(0)
    X = rng.standard_normal((15001, 40))
    problem = cls(X, rng.standard_normal(15001), rc.activation_patterns(X, rc.sample_gates(40, 400, seed=1)), 1e-3)
    with pytest.raises(ValueError, match=rf"GB.*MAX_MEMORY_GB.*solver='{other}'"):
        problem.solve(solver="ipm")
