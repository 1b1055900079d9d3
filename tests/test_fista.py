"""The "fista" solver for C-GReLU against Clarabel, and its statuses, options and certificates."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SOLVER_CASES, planted_problem

import relu_convex as rc
from relu_convex.solvers import SolveStatus, available_solvers
from relu_convex.solvers import fista as fista_module
from relu_convex.solvers.fista import (
    WARM_PATIENCE,
    iteration_work,
    polish_lower_bound,
    solve_fista,
    uses_mixed_precision,
    warm_patience,
)


def instance(n: int, d: int, p: int, lam: float, *, bias: bool, seed: int = 0, outputs: int | None = None,
             dtype=np.float64) -> rc.GatedReLUProblem:
    """A planted two-neuron ReLU target with noise; gates sampled with the same seed."""
    return planted_problem(rc.GatedReLUProblem, n, d, p, lam, bias=bias, seed=seed, outputs=outputs, dtype=dtype)


@pytest.fixture(scope="module")
def reference():
    """Clarabel solutions of the seeded instances, solved once."""
    cache = {}

    def solve(key):
        if key not in cache:
            cache[key] = instance(*key[:4], bias=key[4], seed=key[5]).solve(solver="clarabel", tol=1e-9)
        return cache[key]

    return solve


CASES = SOLVER_CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-p{c[2]}-lam{c[3]:g}-bias{int(c[4])}")
def test_matches_clarabel_and_bound_is_valid(case, reference):
    problem = instance(*case[:4], bias=case[4], seed=case[5])
    ref = reference(case)
    # the reference's objective is that of its weights, so it is never below the optimum
    assert ref.relative_gap <= 1e-6
    res = problem.solve(solver="fista", max_iter=50_000)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.relative_gap <= 1e-6
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    # weak duality: never above the optimum (Clarabel's objective is at least the optimum)
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    assert res.weights.shape == (problem.p, problem.d)


def test_result_fields_and_history():
    problem = instance(40, 4, 10, 1e-2, bias=True)
    res = solve_fista(problem)
    assert res.solver == "fista" and res.success
    assert res.gap == pytest.approx(res.objective - res.lower_bound)
    assert res.relative_gap == pytest.approx(res.gap / res.objective)
    assert res.max_violation == 0.0
    assert res.solve_time > 0 and res.iterations > 0
    h = res.history
    assert set(h) >= {"objective", "lower_bound", "gap", "violation", "time", "iteration"}
    lengths = {len(v) for v in h.values()}
    assert len(lengths) == 1 and lengths.pop() >= 2
    assert np.all(np.diff(h["lower_bound"]) >= 0)  # the best bound is kept
    assert np.all(np.array(h["objective"]) >= np.array(h["lower_bound"]) - 1e-15)
    assert h["objective"][-1] == res.objective and h["lower_bound"][-1] == res.lower_bound
    # the dual point reproduces the bound
    theta = res.dual
    assert rc.duality.dual_objective(theta, problem.y) == pytest.approx(res.lower_bound, rel=1e-12)
    assert np.max(rc.duality.grelu_constraint_values(problem.operator, theta)) <= problem.lam * (1 + 1e-12)


def test_max_iterations_is_never_optimal():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    res = problem.solve(solver="fista", max_iter=5)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert not res.success
    assert res.iterations == 5
    assert res.relative_gap > 1e-6
    assert res.lower_bound <= res.objective


def test_time_limit_status():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    res = problem.solve(solver="fista", time_limit=1e-9)
    assert res.status is SolveStatus.TIME_LIMIT
    assert res.weights.shape == (problem.p, problem.d)
    assert res.lower_bound <= res.objective


def test_warm_start_reduces_iterations():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    cold = solve_fista(problem, tol=1e-8)
    rough = solve_fista(problem, tol=1e-3)
    warm = solve_fista(problem, tol=1e-8, weights0=rough.weights)
    assert cold.success and warm.success
    assert warm.iterations < cold.iterations
    at_optimum = solve_fista(problem, tol=1e-6, weights0=cold.weights)
    assert at_optimum.success and at_optimum.iterations <= 3
    assert at_optimum.objective == pytest.approx(cold.objective, rel=1e-12)


def test_zero_is_optimal_for_large_lam():
    problem = instance(30, 3, 8, 1e3, bias=False)
    res = solve_fista(problem)
    assert res.success and res.iterations == 1
    assert not np.any(res.weights)
    assert res.objective == pytest.approx(np.sum(problem.y**2) / (2 * problem.n))
    assert res.lower_bound == pytest.approx(res.objective, rel=1e-12)


def test_multi_output_matches_clarabel():
    problem = instance(40, 4, 10, 1e-2, bias=True, outputs=3)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="fista")
    assert res.success
    assert res.weights.shape == (3, problem.p, problem.d)
    assert res.dual.shape == (problem.n, 3)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    # outputs are independent problems: the joint optimum is the sum of single-output optima
    singles = [
        solve_fista(rc.GatedReLUProblem(problem.X, problem.y[:, k], problem.patterns, problem.lam), tol=1e-9).objective
        for k in range(3)
    ]
    assert res.objective == pytest.approx(sum(singles), rel=1e-6)


def test_float32_works_with_a_float32_tolerance():
    p64 = instance(60, 5, 16, 1e-2, bias=True)
    p32 = rc.GatedReLUProblem(p64.X.astype(np.float32), p64.y.astype(np.float32), p64.patterns, p64.lam)
    ref = p64.solve(solver="clarabel", tol=1e-9)
    res = p32.solve(solver="fista", tol=1e-4)
    assert res.success, res.message
    assert res.weights.dtype == np.float32
    assert abs(res.objective - ref.objective) <= 1e-4 * ref.objective
    # the reported bound is recomputed in float64, so float32 rounding cannot overstate it
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


@pytest.mark.parametrize(
    "options, exc, name",
    [
        ({"tol": 0.0}, ValueError, "tol"),
        ({"tol": 1.5}, ValueError, "tol"),
        ({"tol": "small"}, TypeError, "tol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": 2.5}, TypeError, "max_iter"),
        ({"time_limit": -1.0}, ValueError, "time_limit"),
        ({"time_limit": float("inf")}, ValueError, "time_limit"),
        ({"verbose": "yes"}, TypeError, "verbose"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"mixed_precision": "yes"}, TypeError, "mixed_precision"),
        ({"mixed_precision": 1}, TypeError, "mixed_precision"),
        ({"weights0": np.zeros((2, 2))}, ValueError, "weights"),
        ({"weights0": np.full((8, 4), np.nan)}, ValueError, "weights"),
    ],
)
def test_bad_options_name_the_option(options, exc, name):
    problem = instance(20, 3, 8, 1e-2, bias=True)
    with pytest.raises(exc, match=name):
        problem.solve(solver="fista", **options)


def test_registered_for_gated_relu_only():
    problem = instance(20, 3, 8, 1e-2, bias=False)
    assert "fista" in available_solvers(problem)
    assert "fista" not in available_solvers(rc.ReLUProblem(problem.X, problem.y, problem.patterns, problem.lam))
    with pytest.raises(ValueError, match="C-GReLU"):
        rc.ReLUProblem(problem.X, problem.y, problem.patterns, problem.lam).solve(solver="fista")


def test_polish_lower_bound_is_valid_and_tighter():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    rough = solve_fista(problem, tol=1e-2)
    polished = polish_lower_bound(problem, rough.weights, max_iter=2000)
    assert polished.value <= ref.objective * (1 + 1e-9)
    assert polished.value >= rough.lower_bound
    assert (ref.objective - polished.value) <= 1e-6 * ref.objective


def test_conic_bound_is_tightened_by_a_polish():
    problem = instance(50, 3, 10, 1e-4, bias=False, seed=3)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="ecos", tol=1e-8)
    plain = problem.certificate(res.weights)
    # the reported point and objective are ECOS's; only the bound is tightened
    assert res.objective == plain.objective
    assert res.lower_bound >= plain.lower_bound
    assert res.relative_gap <= 1e-7 < plain.relative_gap
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    assert res.info["bound_polish_time"] >= 0
    assert np.max(rc.duality.grelu_constraint_values(problem.operator, res.dual)) <= problem.lam * (1 + 1e-12)


def test_warm_start_from_a_smaller_support_is_certified():
    # the previous point of a path misses groups of this one; on this seed FISTA has not found one
    # of them when the support first holds, and the refinement adds it
    problem = planted_problem(rc.GatedReLUProblem, 60, 4, 20, 3e-3, bias=True, seed=2)
    larger = rc.GatedReLUProblem(problem.X, problem.y, problem.patterns, lam=6e-3)
    start = solve_fista(larger, tol=1e-10).weights
    ref = problem.solve(solver="clarabel", tol=1e-10)
    res = solve_fista(problem, tol=1e-10, weights0=start)
    assert res.status is SolveStatus.OPTIMAL and res.relative_gap <= 1e-10
    assert res.info["polishes"] == 1 and res.info["entered"] >= 1
    assert abs(res.objective - ref.objective) <= 1e-7 * ref.objective


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lam", [1e-3, 1e-2])
def test_optimal_weights_from_a_refinement_carry_their_own_certificate(seed, lam):
    # when a refinement certifies, the refined weights are returned: their own dual point (as
    # problem.certificate computes it) certifies the gap the status claims
    problem = planted_problem(rc.GatedReLUProblem, 60, 4, 24, lam, bias=True, seed=seed)
    res = solve_fista(problem, tol=1e-6)
    assert res.status is SolveStatus.OPTIMAL and res.info["polishes"] >= 1
    assert problem.certificate(res.weights).relative_gap <= 1e-6 * (1 + 1e-9)



# -- the float32 phase (mixed_precision) -------------------------------------------------------


@pytest.mark.parametrize("polish", [True, False], ids=["polish", "no-polish"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-p{c[2]}-lam{c[3]:g}-bias{int(c[4])}")
def test_mixed_precision_matches_clarabel(case, polish, reference):
    problem = instance(*case[:4], bias=case[4], seed=case[5])
    ref = reference(case)
    res = solve_fista(problem, mixed_precision=True, polish=polish)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.relative_gap <= 1e-6
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    # everything returned is float64, and the objective is that of the returned weights
    assert res.weights.dtype == np.float64 and res.dual.dtype == np.float64
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)
    float32 = res.info["float32_iterations"]
    assert 0 < float32 <= res.iterations
    if not polish:
        # float32 iterations cannot certify 1e-6: float64 iterations finish
        assert float32 < res.iterations
    # the history holds float64 values only: every recorded bound is valid
    assert max(res.history["lower_bound"]) <= ref.objective * (1 + 1e-9)
    assert np.all(np.diff(res.history["lower_bound"]) >= 0)


def test_mixed_precision_zero_weights_for_large_lam():
    problem = instance(30, 3, 8, 1e3, bias=False)
    res = solve_fista(problem, mixed_precision=True)
    assert res.status is SolveStatus.OPTIMAL
    assert res.iterations == 1 and res.info["float32_iterations"] == 1
    assert not np.any(res.weights) and res.weights.dtype == np.float64
    assert res.objective == pytest.approx(np.sum(problem.y**2) / (2 * problem.n))
    assert res.lower_bound == pytest.approx(res.objective, rel=1e-12)


@pytest.mark.parametrize("max_iter", [1, 5, 60])
def test_mixed_precision_max_iterations_is_never_optimal(max_iter):
    problem = instance(50, 3, 10, 1e-4, bias=False, seed=3)
    res = solve_fista(problem, mixed_precision=True, max_iter=max_iter, polish=False)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert not res.success
    assert res.iterations == max_iter and res.info["float32_iterations"] == max_iter
    assert res.relative_gap > 1e-6
    assert res.lower_bound <= res.objective
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)


def test_mixed_precision_time_limit_status():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    res = solve_fista(problem, mixed_precision=True, time_limit=1e-9)
    assert res.status is SolveStatus.TIME_LIMIT
    assert res.weights.shape == (problem.p, problem.d) and res.weights.dtype == np.float64
    assert res.lower_bound <= res.objective


def test_mixed_precision_multi_output_matches_clarabel():
    problem = instance(40, 4, 10, 1e-2, bias=True, outputs=3)
    ref = problem.solve(solver="clarabel", tol=1e-8)
    for polish in (True, False):
        res = problem.solve(solver="fista", mixed_precision=True, polish=polish)
        assert res.status is SolveStatus.OPTIMAL, res.message
        assert res.weights.shape == (3, problem.p, problem.d) and res.weights.dtype == np.float64
        assert res.dual.shape == (problem.n, 3)
        assert res.info["float32_iterations"] > 0
        assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
        assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_mixed_precision_is_automatic_by_size_only_for_float64_numpy(monkeypatch):
    problem = instance(60, 5, 16, 1e-3, bias=True)
    assert problem.n * problem.p * problem.d < fista_module.MIXED_PRECISION_MIN_SIZE
    assert not uses_mixed_precision(problem) and uses_mixed_precision(problem, True)
    p32 = rc.GatedReLUProblem(problem.X.astype(np.float32), problem.y.astype(np.float32), problem.patterns, problem.lam)
    assert not uses_mixed_precision(p32, True)
    # below the threshold the default is the all-float64 solve, to the last bit
    auto, never = solve_fista(problem), solve_fista(problem, mixed_precision=False)
    assert auto.info["float32_iterations"] == 0 and auto.iterations == never.iterations
    assert np.array_equal(auto.weights, never.weights) and auto.lower_bound == never.lower_bound
    # above it (here lowered to this problem's size) the default starts in float32, deterministically
    monkeypatch.setattr(fista_module, "MIXED_PRECISION_MIN_SIZE", problem.n * problem.p * problem.d)
    assert uses_mixed_precision(problem) and not uses_mixed_precision(problem, False)
    first, second = solve_fista(problem), solve_fista(problem)
    assert first.success and first.info["float32_iterations"] > 0
    assert first.iterations == second.iterations and np.array_equal(first.weights, second.weights)


def test_mixed_precision_warm_start_near_the_solution_stays_in_float64():
    problem = instance(60, 5, 16, 1e-3, bias=True)
    cold = solve_fista(problem, tol=1e-8, mixed_precision=True)
    assert cold.success
    at_optimum = solve_fista(problem, tol=1e-6, weights0=cold.weights, mixed_precision=True)
    assert at_optimum.success and at_optimum.iterations <= 3
    assert at_optimum.info["float32_iterations"] == 0
    assert at_optimum.objective == pytest.approx(cold.objective, rel=1e-12)
    # a rough start (gap above the hand-over gap) goes through float32 iterations first
    rough = solve_fista(problem, tol=0.5, mixed_precision=False)
    warm = solve_fista(problem, tol=1e-8, weights0=rough.weights, mixed_precision=True)
    assert warm.success and warm.relative_gap <= 1e-8
    assert warm.objective == pytest.approx(cold.objective, rel=1e-7)
    assert rough.relative_gap > fista_module.MIXED_SWITCH_GAP
    assert warm.info["float32_iterations"] > 0


def test_warm_patience_waits_longer_when_a_newton_step_is_dear():
    # a cheap Newton step is tried at once from a warm start; a dear one (the masked path on
    # hundreds of groups) waits for the iterations to confirm the support
    rng = np.random.default_rng(0)
    small = planted_problem(rc.GatedReLUProblem, 50, 3, 10, 1e-3, bias=False, seed=1)
    U_small = rng.standard_normal(small.weight_shape)
    assert warm_patience(small, U_small, iteration_work(small)) == 1
    X = rng.standard_normal((2000, 21))
    large = rc.GatedReLUProblem(X, rng.standard_normal(2000), rc.activation_patterns(X, rc.sample_gates(21, 200, seed=2)),
                                1e-3)
    U_large = rng.standard_normal(large.weight_shape)
    assert warm_patience(large, U_large, iteration_work(large)) == WARM_PATIENCE
    # and the zero start (no group to refine) is tried at once
    assert warm_patience(large, np.zeros(large.weight_shape), iteration_work(large)) == 1
