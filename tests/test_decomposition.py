"""Cone decompositions of gated weights and the approximation bound."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relu_convex as rc

TOL = 1e-10


def instance(seed: int, n: int | None = None, p: int | None = None, lam: float | None = None):
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(8, 25))
    X = rc.add_bias(rng.standard_normal((n, int(rng.integers(1, 4)))))
    y = np.sin(2 * X[:, 0]) + 0.2 * rng.standard_normal(n)
    gates = rc.sample_gates(X.shape[1], p or int(rng.integers(2, 8)), seed=seed)
    patterns = rc.activation_patterns(X, np.hstack([gates, np.eye(X.shape[1])[:, -1:]]))  # + the all-active pattern
    lam = float(10 ** rng.uniform(-3, -0.5)) if lam is None else lam
    return X, y, patterns, lam, rng


def check_decomposition(problem, U, V, W, tol=1e-12):
    """v_i - w_i = u_i and v_i, w_i in K_i, up to rounding (relative)."""
    scale = max(1.0, float(np.max(np.abs(U))))
    np.testing.assert_allclose(V - W, U, rtol=0, atol=1e-12 * scale)
    relu = rc.ReLUProblem(problem.X, problem.y, problem.patterns, problem.lam)
    assert relu.constraint_violation((V, W)) <= tol


@pytest.mark.parametrize("seed", range(15))
def test_fast_and_exact_decompositions_are_feasible_and_ordered(seed):
    X, y, patterns, lam, rng = instance(seed)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    U = rng.standard_normal(problem.weight_shape)
    V, W = rc.cone_decompose(problem, U, method="fast")
    check_decomposition(problem, U, V, W)
    Ve, We = rc.cone_decompose(problem, U, method="exact")
    check_decomposition(problem, U, Ve, We)

    def cost(A, B):
        return np.linalg.norm(A, axis=1) + np.linalg.norm(B, axis=1)

    # the exact SOCP minimizes the penalty block by block, never above the fast one
    assert np.all(cost(Ve, We) <= cost(V, W) * (1 + 1e-9) + 1e-12)
    assert np.all(cost(V, W) >= np.linalg.norm(U, axis=1) * (1 - 1e-12))


def test_blocks_already_in_a_cone_are_kept():
    X, y, _, lam, _ = instance(3)
    # a gate direction lies in the interior of its own cone
    gates = rc.sample_gates(X.shape[1], 6, seed=3)
    masks = X @ gates >= 0
    keep = np.flatnonzero(masks.any(axis=0))
    problem = rc.GatedReLUProblem(X, y, masks[:, keep], lam)
    U = np.array([gates[:, j] if i % 2 == 0 else -gates[:, j] for i, j in enumerate(keep)])
    V, W = rc.cone_decompose(problem, U)
    np.testing.assert_array_equal(V[0::2], U[0::2])
    np.testing.assert_array_equal(W[1::2], -U[1::2])
    bound = rc.approximation_bound(problem, U)
    assert np.all(bound.kappa == 0)
    assert bound.relu_objective == pytest.approx(bound.gated_objective, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_chain_of_bounds_at_the_gated_optimum(seed):
    X, y, patterns, lam, _ = instance(50 + seed)
    gated = rc.GatedReLUProblem(X, y, patterns, lam)
    U = gated.solve(solver="clarabel", tol=TOL).weights
    relu = rc.ReLUProblem(X, y, patterns, lam)
    relu_ref = relu.certificate(relu.solve(solver="clarabel", tol=TOL).weights)
    for method in ("fast", "exact"):
        b = rc.approximation_bound(gated, U, method=method)
        eps = 1e-9 * max(1.0, b.kappa_bound)
        assert b.gated_lower_bound <= b.gated_objective + eps
        # d* <= p*: the gated optimum is below the C-ReLU optimum's certified upper end
        assert b.gated_lower_bound <= relu_ref.upper_bound + eps
        assert b.gated_objective <= relu_ref.upper_bound + 1e-7 * max(1.0, relu_ref.upper_bound)
        # p* <= objective of the (feasible) decomposition <= kappa bound
        assert relu_ref.lower_bound <= b.relu_objective + eps
        assert b.relu_objective <= b.kappa_bound + eps
        assert b.relu_lower_bound <= relu_ref.upper_bound + eps
        assert b.max_violation <= 1e-12
        assert not b.singular_patterns and not b.undecomposable
        assert np.all((b.kappa == 0) | (b.kappa >= 1 - 1e-12))


@pytest.mark.parametrize("seed", range(4))
def test_zero_regularization_gated_and_relu_optima_coincide(seed):
    # Sampled gates give cones with nonempty interiors (the gate is an interior
    # point), so K_i - K_i = R^d: every gated block splits into a ReLU pair at
    # no cost when lam = 0. With n = 40 points and p * d = 12 weights the
    # models cannot interpolate, so both optima are positive.
    X, y, patterns, _, _ = instance(200 + seed, n=40, p=4)
    X = X[:, [0, -1]] if X.shape[1] > 2 else X
    patterns = rc.activation_patterns(X, rc.sample_gates(X.shape[1], 4, seed=seed))
    gated = rc.GatedReLUProblem(X, y, patterns, 0.0)
    relu = rc.ReLUProblem(X, y, patterns, 0.0)
    g = gated.solve(solver="clarabel", tol=TOL)
    r = relu.solve(solver="clarabel", tol=TOL)
    assert g.objective > 1e-3
    assert r.objective == pytest.approx(g.objective, rel=1e-6)
    b = rc.approximation_bound(gated, g.weights)
    assert not b.singular_patterns
    assert b.relu_objective == pytest.approx(b.gated_objective, rel=1e-12)  # same predictions, no penalty


def singular_problem():
    """x and -x both active: the cone of that pattern is a ray (empty interior)."""
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.3, 1.0], [0.5, -1.0]])
    patterns = np.array([[True, True, True, False], [True, False, True, False]]).T
    return rc.GatedReLUProblem(X, np.array([1.0, 0.5, -0.2, 0.3]), patterns, 0.1)


def test_empty_interior_cones_are_named_and_refused():
    problem = singular_problem()
    U = np.array([[1.0, 0.0], [0.2, 0.1]])  # u_0 is not in K_0 - K_0 = span{(0, 1)}
    with pytest.raises(ValueError, match=r"U: blocks \[0\]"):
        rc.cone_decompose(problem, U)
    bound = rc.approximation_bound(problem, U)
    assert bound.singular_patterns == (0,)
    assert bound.undecomposable == (0,)
    assert np.isinf(bound.kappa[0]) and np.isinf(bound.kappa_bound)
    assert "empty-interior" in str(bound)
    # a block inside the ray still decomposes
    V, W = rc.cone_decompose(problem, np.array([[0.0, 2.0], [0.2, 0.1]]))
    np.testing.assert_array_equal(V[0], [0.0, 2.0])


def test_repair_keeps_predictions_and_restores_feasibility():
    X, y, patterns, lam, rng = instance(77)
    relu = rc.ReLUProblem(X, y, patterns, lam)
    V, W = rng.standard_normal(relu.weight_shape), rng.standard_normal(relu.weight_shape)
    assert relu.constraint_violation((V, W)) > 0
    Vr, Wr = rc.repair_feasibility(relu, V, W)
    np.testing.assert_allclose(Vr - Wr, V - W, atol=1e-12)
    assert relu.constraint_violation((Vr, Wr)) <= 1e-12
    assert assert_same_predictions(relu, (V, W), (Vr, Wr))


def assert_same_predictions(problem, a, b) -> bool:
    np.testing.assert_allclose(problem.predict(a), problem.predict(b), atol=1e-10)
    return True


def test_multi_output_weights():
    X, y, patterns, lam, rng = instance(5)
    Y = np.column_stack([y, -y])
    problem = rc.GatedReLUProblem(X, Y, patterns, lam)
    U = rng.standard_normal(problem.weight_shape)
    V, W = rc.cone_decompose(problem, U)
    assert V.shape == U.shape
    check_decomposition(problem, U, V, W)
    b = rc.approximation_bound(problem, U)
    assert b.kappa.shape == (2, problem.p) and b.relu_objective <= b.kappa_bound * (1 + 1e-12)


def test_bad_arguments_name_the_argument():
    X, y, patterns, lam, _ = instance(1)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    U = np.zeros(problem.weight_shape)
    with pytest.raises(ValueError, match="method"):
        rc.cone_decompose(problem, U, method="fastest")
    with pytest.raises(ValueError, match="U must have shape"):
        rc.cone_decompose(problem, U[:, :1])
    with pytest.raises(TypeError, match="problem"):
        rc.cone_decompose("not a problem", U)


def test_report_text_and_json():
    X, y, patterns, lam, rng = instance(2)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    b = rc.approximation_bound(problem, rng.standard_normal(problem.weight_shape))
    data = json.loads(b.to_json())
    assert data["kind"] == "ApproximationBound" and "weights" not in data
    assert data["kappa_bound"] == pytest.approx(b.kappa_bound)
    assert "kappa bound" in str(b) and "C-ReLU optimum p*" in str(b)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), scale=st.floats(1e-3, 1e3))
def test_property_fast_decomposition_within_the_kappa_bound(seed, scale):
    X, y, patterns, lam, rng = instance(seed)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    U = scale * rng.standard_normal(problem.weight_shape)
    b = rc.approximation_bound(problem, U)
    V, W = b.weights
    check_decomposition(problem, U, V, W, tol=1e-11)
    assert b.relu_objective <= b.kappa_bound * (1 + 1e-12)
    assert b.gated_objective <= b.relu_objective * (1 + 1e-12)


def _inaccurate_solves(monkeypatch):
    """Make every CVXPY solve end 'optimal_inaccurate' with CVXPY's warning, plus an unrelated warning."""
    import warnings

    import cvxpy as cp

    real = cp.Problem.solve

    def solve(self, *args, **kwargs):
        value = real(self, *args, **kwargs)
        self._status = cp.OPTIMAL_INACCURATE
        warnings.warn("Solution may be inaccurate. Try another solver, adjusting the solver settings, "
                      "or solve with verbose=True for more information.", stacklevel=2)
        warnings.warn("an unrelated warning", UserWarning, stacklevel=2)
        return value

    monkeypatch.setattr(cp.Problem, "solve", solve)


def test_exact_method_reports_an_inaccurate_socp_without_cvxpy_warning(monkeypatch, recwarn):
    X, y, patterns, lam, _ = instance(3)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    U = problem.solve(solver="clarabel", tol=TOL).weights
    _inaccurate_solves(monkeypatch)
    bound = rc.approximation_bound(problem, U, method="exact")
    messages = [str(w.message) for w in recwarn]
    assert not any("Solution may be inaccurate" in m for m in messages)
    assert "an unrelated warning" in messages  # only CVXPY's inaccuracy warning is silenced
    assert bound.solver_status == "inaccurate"
    assert "exact SOCP status             inaccurate" in str(bound)
    assert bound.to_dict()["solver_status"] == "inaccurate"
    V, W = bound.weights
    check_decomposition(problem, U, V, W, tol=1e-9)  # still an exact, feasible decomposition


def test_solver_status_of_the_decomposition_methods():
    X, y, patterns, lam, _ = instance(4)
    problem = rc.GatedReLUProblem(X, y, patterns, lam)
    U = problem.solve(solver="clarabel", tol=TOL).weights
    assert rc.approximation_bound(problem, U).solver_status is None  # fast: no SOCP
    exact = rc.approximation_bound(problem, U, method="exact")
    assert exact.solver_status in ("optimal", "inaccurate")


def test_multi_output_exact_decomposition_shows_no_cvxpy_warning():
    import warnings

    from relu_convex import gallery

    problem = gallery.load("multi-output").problem("C-GReLU")
    U = problem.solve(solver="clarabel", tol=1e-9).weights
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Solution may be inaccurate")
        bound = rc.approximation_bound(problem, U, method="exact")
        rc.cone_decompose(problem, U, method="exact")
    assert bound.solver_status in ("optimal", "inaccurate")
    assert bound.relu_objective <= bound.kappa_bound * (1 + 1e-9)
