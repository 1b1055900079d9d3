"""Certificates of C-GReLU and C-ReLU points: validity at any point, tightness at optima."""

from __future__ import annotations

import json

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relu_convex as rc
from relu_convex.duality import relu_constraint_max, relu_constraint_values

TOL = 1e-10  # Clarabel tolerance for reference optima


def instance(seed: int, *, bias: bool = True):
    """A small seeded problem: data, targets, sampled patterns and lam."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 17))
    d = int(rng.integers(2, 5))
    X = rng.standard_normal((n, d - 1 if bias else d))
    X = rc.add_bias(X) if bias else X
    y = np.sin(X @ rng.standard_normal(X.shape[1])) + 0.3 * rng.standard_normal(n)
    patterns = rc.activation_patterns(X, rc.sample_gates(X.shape[1], int(rng.integers(2, 9)), seed=seed))
    lam = float(10 ** rng.uniform(-3, 0))
    return X, y, patterns, lam, rng


def reference(problem):
    """Clarabel at tight tolerance: (weights, certificate). The certificate's
    upper_bound is the objective of a feasible point (repaired for C-ReLU)."""
    result = problem.solve(solver="clarabel", tol=TOL)
    assert result.weights is not None
    return result.weights, problem.certificate(result.weights)


def probe_points(problem, opt, rng):
    """Optimal, scaled, perturbed, random and zero points of the problem's shape."""
    def like(f):
        return f(opt) if not isinstance(opt, tuple) else (f(opt[0]), f(opt[1]))

    shape = problem.weight_shape
    rand = rng.standard_normal(shape) * rng.uniform(0.01, 3)
    rand2 = rng.standard_normal(shape) * rng.uniform(0.01, 3)
    return [
        opt,
        like(lambda a: 0.5 * a),
        like(lambda a: 1.7 * a),
        like(lambda a: a + 0.05 * rng.standard_normal(a.shape)),
        like(np.zeros_like),
        rand if not isinstance(opt, tuple) else (rand, rand2),
    ]


def slack(value: float) -> float:
    """Rounding allowance for comparing certified bounds."""
    return 1e-12 * max(1.0, abs(value))


@pytest.mark.parametrize("seed", range(50))
def test_lower_bounds_never_exceed_the_optimum(seed):
    X, y, patterns, lam, rng = instance(seed, bias=seed % 3 != 0)
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        problem = cls(X, y, patterns, lam)
        opt, ref = reference(problem)
        # the optimum lies in [ref.lower_bound, ref.upper_bound], both certified
        assert ref.lower_bound <= ref.upper_bound + slack(ref.upper_bound)
        for point in probe_points(problem, opt, rng):
            cert = problem.certificate(point)
            assert cert.lower_bound <= ref.upper_bound + slack(ref.upper_bound)
            assert cert.gap == pytest.approx(cert.objective - cert.lower_bound)
            if np.isfinite(cert.upper_bound):
                # an upper bound (feasible or repaired point) is never below a certified lower bound
                assert cert.upper_bound >= ref.lower_bound - slack(ref.lower_bound)


@pytest.mark.parametrize("seed", range(12))
def test_tight_at_clarabel_optima(seed):
    X, y, patterns, lam, _ = instance(100 + seed)
    gated = rc.GatedReLUProblem(X, y, patterns, lam)
    _, cert = reference(gated)
    assert cert.relative_gap <= 1e-6
    relu = rc.ReLUProblem(X, y, patterns, lam)
    _, cert = reference(relu)
    assert cert.relative_gap <= 1e-5
    assert cert.max_violation <= 1e-8
    # the repaired point closes the interval as well
    assert (cert.upper_bound - cert.lower_bound) / cert.upper_bound <= 1e-5


def test_infeasible_point_reports_violation_and_a_feasible_repair():
    X, y, patterns, lam, rng = instance(7)
    problem = rc.ReLUProblem(X, y, patterns, lam)
    V = rng.standard_normal(problem.weight_shape)
    W = rng.standard_normal(problem.weight_shape)
    cert = problem.certificate((V, W))
    assert not cert.feasible and cert.max_violation > 0
    assert np.isfinite(cert.repaired_objective) and cert.upper_bound == cert.repaired_objective
    assert cert.repair_violation <= 1e-12
    _, ref = reference(problem)
    assert ref.lower_bound - slack(ref.lower_bound) <= cert.upper_bound
    text = str(cert)
    assert "infeasible" in text and "repaired point objective" in text
    no_repair = rc.certify_weights(problem, (V, W), repair=False)
    assert np.isnan(no_repair.upper_bound) and no_repair.lower_bound == pytest.approx(cert.lower_bound)


def test_feasible_point_needs_no_repair():
    X, y, patterns, lam, _ = instance(8)
    problem = rc.ReLUProblem(X, y, patterns, lam)
    zero = (np.zeros(problem.weight_shape), np.zeros(problem.weight_shape))
    cert = problem.certificate(zero)
    assert cert.feasible and cert.upper_bound == cert.objective and np.isnan(cert.repaired_objective)


def test_caller_multipliers_give_valid_and_weaker_bounds():
    X, y, patterns, lam, rng = instance(9)
    problem = rc.ReLUProblem(X, y, patterns, lam)
    opt, ref = reference(problem)
    point = (opt[0] + 0.1, opt[1])
    best = problem.certificate(point)
    for A, B in [
        (np.zeros((problem.n, problem.p)), np.zeros((problem.n, problem.p))),
        (rng.standard_normal((problem.n, problem.p)), rng.standard_normal((problem.n, problem.p))),  # negatives clipped
    ]:
        cert = problem.certificate(point, multipliers=(A, B))
        assert cert.multipliers == "given"
        assert cert.lower_bound <= best.lower_bound + slack(best.lower_bound)
        assert cert.lower_bound <= ref.upper_bound + slack(ref.upper_bound)
    with pytest.raises(ValueError, match="multipliers"):
        problem.certificate(point, multipliers=(np.zeros((2, 2)), np.zeros((2, 2))))


def test_pruned_maximum_equals_full_nnls_and_socp_values():
    rng = np.random.default_rng(3)
    X = rc.add_bias(rng.standard_normal((25, 2)))
    patterns = rc.activation_patterns(X, rc.sample_gates(3, 30, seed=1))
    op = rc.MaskedOperator(X, patterns)
    S = np.where(patterns, 1.0, -1.0)
    for _ in range(3):
        theta = rng.standard_normal(25)
        full = relu_constraint_values(op, theta)
        assert relu_constraint_max(op, theta).value == pytest.approx(full.max(), rel=1e-10)
        for i in range(0, op.p, 5):  # SOCP reference: max over K_i of |theta^T D_i X u|
            g = (patterns[:, i] * theta) @ X
            u = cp.Variable(3)
            cons = [cp.multiply(S[:, i], X @ u) >= 0, cp.norm(u) <= 1]
            tight = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
            vals = [cp.Problem(cp.Maximize(s * g @ u), cons).solve(solver="CLARABEL", **tight) for s in (1, -1)]
            assert full[i] == pytest.approx(max(vals), rel=1e-9, abs=1e-12)


def test_multi_output_certificates_are_valid_and_tight():
    X, y, patterns, lam, rng = instance(11)
    Y = np.column_stack([y, np.cos(X[:, 0])])
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        problem = cls(X, Y, patterns, lam)
        opt, ref = reference(problem)
        assert ref.relative_gap <= 1e-5
        for point in probe_points(problem, opt, rng):
            assert problem.certificate(point).lower_bound <= ref.upper_bound + slack(ref.upper_bound)


def test_float32_data_keeps_bounds_valid():
    X, y, patterns, lam, rng = instance(12)
    ref64 = reference(rc.ReLUProblem(X, y, patterns, lam))[1]
    problem32 = rc.ReLUProblem(X.astype(np.float32), y.astype(np.float32), patterns, lam)
    point = (rng.standard_normal(problem32.weight_shape), np.zeros(problem32.weight_shape))
    assert problem32.certificate(point).lower_bound <= ref64.upper_bound + 1e-6


def test_report_text_and_json():
    X, y, patterns, lam, _ = instance(13)
    problem = rc.ReLUProblem(X, y, patterns, lam)
    cert = reference(problem)[1]
    data = json.loads(cert.to_json())
    assert data["kind"] == "Certificate" and data["program"] == "C-ReLU"
    assert data["lower_bound"] == pytest.approx(cert.lower_bound)
    assert "dual" not in data and len(json.loads(cert.to_json(include_arrays=True))["dual"]) == problem.n
    assert "C-ReLU certificate" in str(cert) and "optimum in" in str(cert)


@st.composite
def small_problem(draw):
    seed = draw(st.integers(0, 10**6))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(3, 10))
    d = draw(st.integers(1, 3))
    X = rc.add_bias(rng.standard_normal((n, d)))
    y = rng.standard_normal(n) * draw(st.floats(0.1, 5))
    p = draw(st.integers(1, 6))
    gates = np.hstack([rc.sample_gates(d + 1, p, seed=seed), np.eye(d + 1)[:, -1:]])  # last gate: all rows active
    patterns = rc.activation_patterns(X, gates)
    lam = draw(st.floats(1e-4, 2.0))
    scale = draw(st.floats(0.0, 4.0))
    return X, y, patterns, lam, rng, scale


@settings(max_examples=15, deadline=None)
@given(small_problem())
def test_property_gated_bound_below_optimum(args):
    X, y, patterns, lam, rng, scale = args
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    ref = reference(problem)[1]
    cert = problem.certificate(scale * rng.standard_normal(problem.weight_shape))
    assert cert.lower_bound <= ref.upper_bound + slack(ref.upper_bound)


@settings(max_examples=15, deadline=None)
@given(small_problem())
def test_property_relu_bound_below_optimum_and_repair_above(args):
    X, y, patterns, lam, rng, scale = args
    problem = rc.ReLUProblem(X, y, patterns, lam)
    ref = reference(problem)[1]
    point = (scale * rng.standard_normal(problem.weight_shape), scale * rng.standard_normal(problem.weight_shape))
    cert = problem.certificate(point)
    assert cert.lower_bound <= ref.upper_bound + slack(ref.upper_bound)
    assert cert.upper_bound >= ref.lower_bound - slack(ref.lower_bound)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**31 - 1), st.floats(0.0, 3.0), st.booleans())
def test_single_output_scaled_bound_matches_the_general_path(n, seed, spread, zero_theta):
    # the one-output shortcut of scaled_dual_bound against the (n, 1) path it replaces
    from relu_convex.duality import scaled_dual_bound

    rng = np.random.default_rng(seed)
    y, lam = rng.standard_normal(n), float(rng.uniform(0.01, 1.0))
    theta = np.zeros(n) if zero_theta else rng.standard_normal(n) / n
    values = spread * np.abs(rng.standard_normal(7))
    one = scaled_dual_bound(y, theta, values, lam)
    general = scaled_dual_bound(y[:, None], theta[:, None], values[None], lam)
    assert one.value == pytest.approx(general.value, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(one.theta, general.theta[:, 0], rtol=1e-12, atol=0.0)  # summation order
    assert one.scale.shape == () and float(one.scale) == pytest.approx(float(general.scale[0]), rel=1e-12)
    # a feasible scaled point: its constraint values stay within lam
    assert np.max(values) * float(one.scale) <= lam * (1 + 1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_a_second_dual_candidate_only_raises_a_valid_bound(seed):
    # certificate(weights, dual=theta): the larger of the two bounds, never above the optimum,
    # whatever the candidate (a good one from the optimum, or noise)
    X, y, patterns, lam, rng = instance(300 + seed, bias=seed % 2 == 0)
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        problem = cls(X, y, patterns, lam)
        opt, ref = reference(problem)
        rough = tuple(0.5 * w for w in opt) if isinstance(opt, tuple) else 0.5 * opt
        own = problem.certificate(rough)
        good = problem.certificate(rough, dual=(problem.y - problem.predict(opt)) / problem.n)
        noisy = problem.certificate(rough, dual=rng.standard_normal(problem.n))
        assert good.lower_bound >= own.lower_bound and noisy.lower_bound >= own.lower_bound
        assert good.objective == own.objective and good.max_violation == own.max_violation
        for cert in (good, noisy):
            assert cert.lower_bound <= ref.upper_bound + slack(ref.upper_bound)
        # the optimum's residual certifies the rough point's distance to the optimum
        assert good.lower_bound >= ref.lower_bound - 1e-6 * abs(ref.lower_bound)
