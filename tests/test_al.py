"""The "al" solver for C-ReLU against Clarabel, and its statuses, options and certificates."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SOLVER_CASES, planted_problem

import relu_convex as rc
from relu_convex.duality import relu_constraint_values, scaled_dual_bound
from relu_convex.solvers import SolveStatus, available_solvers
from relu_convex.solvers.augmented_lagrangian import AugmentedPart, solve_al
from relu_convex.solvers.options import Deadline


def instance(n: int, d: int, p: int, lam: float, *, bias: bool, seed: int = 0, outputs: int | None = None,
             dtype=np.float64) -> rc.ReLUProblem:
    """A planted two-neuron ReLU target with noise; gates sampled with the same seed."""
    return planted_problem(rc.ReLUProblem, n, d, p, lam, bias=bias, seed=seed, outputs=outputs, dtype=dtype)


CASES = SOLVER_CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-p{c[2]}-lam{c[3]:g}-bias{int(c[4])}")
def test_matches_clarabel_feasible_and_bound_is_valid(case):
    problem = instance(*case[:4], bias=case[4], seed=case[5])
    ref = problem.solve(solver="clarabel", tol=1e-9)
    assert ref.relative_gap <= 1e-6 and ref.max_violation <= 1e-9
    res = problem.solve(solver="al", tol=1e-5, feas_tol=1e-7)
    assert res.status is SolveStatus.OPTIMAL, res.message
    assert res.max_violation <= 1e-7
    assert res.max_violation == problem.constraint_violation(res.weights)
    assert res.relative_gap <= 1e-5
    assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective
    # weak duality: the certified bound never exceeds the optimum
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    V, W = res.weights
    assert V.shape == W.shape == (problem.p, problem.d)
    assert res.objective == pytest.approx(problem.objective(res.weights), rel=1e-12)


def test_result_fields_history_and_multipliers():
    problem = instance(40, 4, 12, 1e-2, bias=True, seed=1)
    # without the refinement the weights are the augmented Lagrangian's own last iterate, the
    # point its multipliers belong to (a refined point is certified by NNLS multipliers instead)
    res = solve_al(problem, tol=1e-5, polish=False)
    assert res.solver == "al" and res.success
    assert res.gap == pytest.approx(res.objective - res.lower_bound)
    h = res.history
    assert set(h) >= {"objective", "lower_bound", "gap", "violation", "time", "iteration", "output"}
    assert len({len(v) for v in h.values()}) == 1
    assert np.all(np.diff(h["lower_bound"]) >= 0)  # the best certified bound is kept
    assert h["violation"][-1] == res.max_violation and h["lower_bound"][-1] == res.lower_bound
    A, B = res.info["multipliers"]
    assert A.shape == B.shape == (problem.n, problem.p)
    assert np.all(A >= 0) and np.all(B >= 0)
    # the augmented Lagrangian's multipliers are the dual's cone multipliers (same scale):
    # with them the dual point of the weights certifies nearly the same bound
    theta = (problem.y - problem.predict(res.weights)) / problem.n
    bound = scaled_dual_bound(problem.y, theta, relu_constraint_values(problem.operator, theta, (A, B)), problem.lam)
    assert bound.value <= res.lower_bound * (1 + 1e-12)
    assert bound.value >= res.lower_bound - 1e-3 * res.objective


def test_gradient_rows_are_the_dual_constraint_values():
    problem = instance(30, 3, 8, 1e-2, bias=True, seed=7)
    rng = np.random.default_rng(0)
    mult = np.abs(rng.standard_normal((2, problem.n, problem.p)))
    part = AugmentedPart(problem.operator, problem.y, mult, rho=0.7)
    x = rng.standard_normal((2 * problem.p, problem.d))
    ev = part.evaluate(part.forward(x))
    q = ev.aux[1]
    theta = -ev.aux[0] / problem.n
    # the gradient rows give max(||g_i + B_i^T a_i||, ||-g_i + B_i^T b_i||) with the AL's multipliers;
    # relu_constraint_values also takes the a = b = 0 value ||g_i|| when smaller
    G = problem.operator.adjoint(theta)
    S = 2.0 * problem.patterns - 1.0
    plus = np.linalg.norm(G + (S * q[0]).T @ problem.X, axis=-1)
    minus = np.linalg.norm(-G + (S * q[1]).T @ problem.X, axis=-1)
    np.testing.assert_allclose(part.constraint_values(ev), np.maximum(plus, minus), rtol=1e-12)
    expected = relu_constraint_values(problem.operator, theta, (q[0], q[1]))
    np.testing.assert_allclose(expected, np.minimum(np.maximum(plus, minus), np.linalg.norm(G, axis=-1)), rtol=1e-12)
    # and the gradient is that of the augmented Lagrangian (finite differences)
    V, W = x[: problem.p], x[problem.p :]

    def value(V, W):
        r = problem.predict((V, W)) - problem.y
        qv = np.maximum(mult[0] - 0.7 * problem.operator.cone(V), 0)
        qw = np.maximum(mult[1] - 0.7 * problem.operator.cone(W), 0)
        return r @ r / (2 * problem.n) + (np.sum(qv**2) + np.sum(qw**2)) / (2 * 0.7)

    assert ev.value == pytest.approx(value(V, W), rel=1e-12)
    direction = rng.standard_normal(x.shape)
    h = 1e-6
    fd = (value(V + h * direction[: problem.p], W + h * direction[problem.p :])
          - value(V - h * direction[: problem.p], W - h * direction[problem.p :])) / (2 * h)
    assert np.sum(ev.grad * direction) == pytest.approx(fd, rel=1e-6)


def test_bregman_is_exact_and_nonnegative():
    problem = instance(30, 3, 8, 1e-2, bias=True, seed=8)
    rng = np.random.default_rng(1)
    mult = np.abs(rng.standard_normal((2, problem.n, problem.p)))
    part = AugmentedPart(problem.operator, problem.y, mult, rho=2.0)
    x0, x1 = rng.standard_normal((2, 2 * problem.p, problem.d))
    ev0, ev1 = part.evaluate(part.forward(x0)), part.evaluate(part.forward(x1))
    D = part.bregman(ev0, part.forward(x1))
    assert D >= 0
    assert D == pytest.approx(ev1.value - ev0.value - np.sum(ev0.grad * (x1 - x0)), rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_estimates_on_the_candidates_equal_the_dense_ones(dtype):
    # sparse multipliers, a dead neuron (zero cone values) and entries on the bar a = rho c:
    # the estimates computed on the candidates are those of the full (2, n, p) formula, bit for bit
    problem = instance(40, 4, 10, 1e-2, bias=True, seed=9, dtype=dtype)
    op, n, p = problem.operator, problem.n, problem.p
    rng = np.random.default_rng(3)
    rho = 0.3
    x = rng.standard_normal((2 * p, problem.d)).astype(dtype)
    x[0] = 0.0  # v_0 = 0: its cone values vanish
    mult = (np.abs(rng.standard_normal((2, n, p))) * (rng.random((2, n, p)) < 0.3)).astype(dtype)
    probe = AugmentedPart(op, problem.y, mult, rho)
    C = probe.forward(x)
    mult[0, :5, 3] = (C[0, :5, 3] * dtype(rho)).clip(0)  # a = fl(rho c): t = 0 exactly
    part = AugmentedPart(op, problem.y, mult, rho)
    ev = part.evaluate(C)
    np.testing.assert_array_equal(ev.aux[1], np.maximum(C * -rho + mult, 0))
    assert set(np.flatnonzero(ev.aux[1])) <= set(ev.aux[2])
    # a second evaluation keeps the first one's estimates (two buffers in turn)
    C1 = part.forward(rng.standard_normal(x.shape).astype(dtype))
    ev1 = part.evaluate(C1)
    np.testing.assert_array_equal(ev.aux[1], np.maximum(C * -rho + mult, 0))
    np.testing.assert_array_equal(ev1.aux[1], np.maximum(C1 * -rho + mult, 0))
    # the Bregman term summed on the candidates equals the dense sum
    t = (C1 * -rho + mult).astype(np.float64)
    q, qz = np.maximum(t, 0), ev.aux[1].astype(np.float64)
    dpred = (part.predictions(C1) - part.predictions(C)).astype(np.float64)
    dense = dpred @ dpred / (2 * n) + (np.sum((q - qz) ** 2) + 2 * np.sum(qz * (q - t))) / (2 * rho)
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert part.bregman(ev, C1) == pytest.approx(dense, rel=rel)


def test_extrapolated_predictions_match_the_products():
    problem = instance(30, 3, 8, 1e-2, bias=True, seed=4)
    rng = np.random.default_rng(2)
    part = AugmentedPart(problem.operator, problem.y, np.zeros((2, problem.n, problem.p)), 1.0)
    C, C_prev = (part.forward(rng.standard_normal((2 * problem.p, problem.d))) for _ in range(2))
    for c in (C, C_prev):
        part.bregman(part.evaluate(c), c)  # remembers their predictions
    Cz = part.extrapolate(C, C_prev, 0.7)
    np.testing.assert_array_equal(Cz, C + 0.7 * (C - C_prev))
    ev = part.evaluate(Cz)  # predictions recalled, not recomputed
    np.testing.assert_allclose(ev.aux[0] + part.y, part.predictions(Cz), rtol=1e-12, atol=1e-12)


def test_max_iterations_is_never_optimal():
    problem = instance(60, 5, 16, 1e-3, bias=True, seed=2)
    res = problem.solve(solver="al", max_iter=5)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert not res.success and res.iterations == 5


def test_time_limit_status():
    problem = instance(60, 5, 16, 1e-3, bias=True, seed=2)
    res = problem.solve(solver="al", time_limit=1e-9)
    assert res.status is SolveStatus.TIME_LIMIT
    assert res.lower_bound <= res.objective or res.max_violation > 0


def test_warm_start_reduces_iterations():
    problem = instance(60, 5, 16, 1e-3, bias=True, seed=2)
    cold = solve_al(problem, tol=1e-5)
    assert cold.success
    warm = solve_al(problem, tol=1e-5, weights0=cold.weights, multipliers0=cold.info["multipliers"])
    assert warm.success
    assert warm.iterations < cold.iterations / 2
    assert warm.objective == pytest.approx(cold.objective, rel=1e-5)


def test_multi_output_matches_clarabel():
    problem = instance(40, 4, 10, 1e-2, bias=True, seed=5, outputs=2)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    res = problem.solve(solver="al", tol=1e-5, feas_tol=1e-7)
    assert res.success, res.message
    V, W = res.weights
    assert V.shape == W.shape == (2, problem.p, problem.d)
    assert res.dual.shape == (problem.n, 2)
    assert res.max_violation <= 1e-7
    assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    A, B = res.info["multipliers"]
    assert A.shape == (2, problem.n, problem.p)


def test_time_limit_is_shared_between_outputs():
    # outputs are solved one after another; each gets a share of the time left, so a
    # limit that one output alone would use up still reaches the last one
    problem = instance(200, 6, 40, 1e-5, bias=True, seed=3, outputs=3)
    res = solve_al(problem, tol=1e-12, feas_tol=1e-12, time_limit=0.6)
    assert res.status is SolveStatus.TIME_LIMIT
    assert all(k > 0 for k in res.info["outer_iterations"])
    counts = np.bincount(np.asarray(res.history["output"])[np.asarray(res.history["output"]) >= 0], minlength=3)
    assert np.all(counts > 0)
    assert res.solve_time < 0.6 + 0.5


def test_time_left_by_a_finished_output_goes_to_the_unfinished_one():
    hard = instance(200, 6, 40, 1e-5, bias=True, seed=3)
    Y = np.stack([hard.y, np.zeros_like(hard.y)], axis=1)  # the second output is solved at once (zero weights)
    problem = rc.ReLUProblem(hard.X, Y, hard.patterns, hard.lam)
    res = solve_al(problem, tol=1e-12, feas_tol=1e-12, time_limit=0.6)
    order = [k for k in res.history["output"] if k >= 0]
    # output 0 runs out of its half, output 1 finishes, then output 0 goes on with what is left
    assert 1 in order and 0 in order[order.index(1):]
    assert res.history["time"][-2] > 0.45


def test_deadline_share_splits_the_time_left():
    clock = Deadline(10.0)
    part = clock.share(4)
    assert part.start == clock.start
    assert part.at - clock.start == pytest.approx(2.5, abs=0.05)
    assert Deadline(None).share(3).at is None
    assert clock.share(0).at <= clock.at  # a non-positive count is taken as one part


def test_float32_works_with_a_float32_tolerance():
    p64 = instance(40, 4, 12, 1e-2, bias=True, seed=1)
    p32 = rc.ReLUProblem(p64.X.astype(np.float32), p64.y.astype(np.float32), p64.patterns, p64.lam)
    ref = p64.solve(solver="clarabel", tol=1e-9)
    res = p32.solve(solver="al", tol=1e-4, feas_tol=1e-5)
    assert res.success, res.message
    assert res.weights[0].dtype == np.float32
    assert abs(res.objective - ref.objective) <= 1e-4 * ref.objective
    # the reported bound is recomputed in float64, so float32 rounding cannot overstate it
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_nnls_bound_is_valid():
    problem = instance(40, 4, 12, 1e-2, bias=True, seed=1)
    ref = problem.solve(solver="clarabel", tol=1e-9)
    # without polishing (which now certifies this instance within 300 iterations) the run stops early
    res = solve_al(problem, tol=1e-5, nnls=True, max_iter=300, polish=False)
    assert res.status is SolveStatus.MAX_ITERATIONS
    assert res.lower_bound <= ref.objective * (1 + 1e-9)


@pytest.mark.parametrize(
    "options, exc, name",
    [
        ({"tol": 0.0}, ValueError, "tol"),
        ({"feas_tol": -1e-6}, ValueError, "feas_tol"),
        ({"feas_tol": "tight"}, TypeError, "feas_tol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"time_limit": 0.0}, ValueError, "time_limit"),
        ({"nnls": "auto"}, TypeError, "nnls"),
        ({"weights0": np.zeros((8, 4))}, TypeError, "weights"),
        ({"weights0": (np.zeros((8, 4)), np.zeros((3, 4)))}, ValueError, "weights"),
        ({"multipliers0": (np.zeros((20, 2)), np.zeros((20, 2)))}, ValueError, "multipliers0"),
        ({"multipliers0": "zeros"}, TypeError, "multipliers0"),
    ],
)
def test_bad_options_name_the_option(options, exc, name):
    problem = instance(20, 3, 8, 1e-2, bias=True)
    if "weights0" in options and isinstance(options["weights0"], tuple):
        options = {"weights0": (np.zeros((problem.p, problem.d)), np.zeros((3, problem.d)))}
    with pytest.raises(exc, match=name):
        problem.solve(solver="al", **options)


def test_registered_for_relu_only():
    problem = instance(20, 3, 8, 1e-2, bias=False)
    assert "al" in available_solvers(problem)
    gated = rc.GatedReLUProblem(problem.X, problem.y, problem.patterns, problem.lam)
    assert "al" not in available_solvers(gated)
    with pytest.raises(ValueError, match="C-ReLU"):
        gated.solve(solver="al")


def test_penalty0_is_checked_and_used():
    from relu_convex.solvers.augmented_lagrangian import solve_al

    problem = planted_problem(rc.ReLUProblem, 30, 3, 8, 1e-2, bias=True, seed=3)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    res = solve_al(problem, penalty0=5.0)
    assert res.status is SolveStatus.OPTIMAL
    assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective
    assert res.info["penalty"] >= 5.0  # the schedule only raises the penalty
    for bad in (0.0, -1.0, float("nan"), [1.0, 2.0], "big"):
        with pytest.raises(ValueError, match="penalty0"):
            solve_al(problem, penalty0=bad)
