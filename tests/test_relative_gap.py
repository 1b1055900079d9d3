"""The relative gap: relative to the objective, measured in units of 1e-6 F(0) for near-zero objectives."""

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.solvers.result import RELATIVE_GAP_FLOOR, relative_gap


def test_formula():
    assert RELATIVE_GAP_FLOOR == 1e-6
    # an objective above the floor: the plain ratio, with or without the scale
    assert relative_gap(0.2, 0.19, 0.5) == (0.2 - 0.19) / 0.2 == relative_gap(0.2, 0.19)
    # below it: the gap in units of 1e-6 F(0)
    assert relative_gap(1e-19, 0.0, 0.5) == 1e-19 / 5e-7
    assert relative_gap(3e-7, 1e-7, 0.5) == pytest.approx(2e-7 / 5e-7, rel=1e-15)
    # no scale: the plain ratio, 0 for (0, 0), inf for a positive gap on a zero objective
    assert relative_gap(1e-19, 0.0) == 1.0
    assert relative_gap(0.0, 0.0) == 0.0 and relative_gap(0.0, 0.0, 0.5) == 0.0
    assert relative_gap(0.0, -1.0) == np.inf
    assert relative_gap(1.0, 1.5, 0.5) == -0.5  # a bound above the objective (an infeasible point) shows as such


def test_never_overclaims():
    # relative_gap <= tol always means objective - bound <= tol * max(objective, 1e-6 F(0))
    rng = np.random.default_rng(0)
    for _ in range(1000):
        F0 = 10.0 ** rng.uniform(-3, 3)
        F = F0 * 10.0 ** rng.uniform(-20, 0)
        L = F * (1 - 10.0 ** rng.uniform(-12, 0))
        rel = relative_gap(F, L, F0)
        assert F - L <= rel * max(F, RELATIVE_GAP_FLOOR * F0) * (1 + 1e-12)
        assert rel <= relative_gap(F, L)  # never above the plain ratio ...
        if F >= RELATIVE_GAP_FLOOR * F0:
            assert rel == relative_gap(F, L)  # ... and equal to it above the floor


@pytest.mark.parametrize("offset", [False, True])
def test_zero_objective_is_the_objective_of_zero_weights(offset):
    X, y, P = make_instance(0)
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        problem = cls(X, y + 3.0, P, 1e-2, offset=offset)
        zero = np.zeros(problem.weight_shape)
        assert problem.zero_objective == pytest.approx(problem.objective(zero if cls is rc.GatedReLUProblem else (zero, zero)),
                                                       rel=1e-14)


@pytest.mark.parametrize("solver", ["fista", "ipm", "clarabel"])
def test_results_histories_and_certificates_use_one_formula(solver):
    X, y, P = make_instance(1)
    problem = rc.GatedReLUProblem(X, y, P, 1e-3)
    result = problem.solve(solver=solver)
    scale = max(result.objective, RELATIVE_GAP_FLOOR * problem.zero_objective)
    assert result.relative_gap == pytest.approx(result.gap / scale, rel=1e-12)
    if result.history is not None:
        assert result.history["relative_gap"][-1] == pytest.approx(result.relative_gap, rel=1e-12)
    cert = problem.certificate(result.weights)
    assert cert.relative_gap == pytest.approx(cert.gap / max(cert.objective, RELATIVE_GAP_FLOOR * problem.zero_objective), rel=1e-12)
