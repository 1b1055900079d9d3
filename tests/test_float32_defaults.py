"""The default tolerance follows the precision of a solver's iterations: float32 data and tol=None."""

import numpy as np
import pytest
from conftest import planted_problem

import relu_convex as rc
from relu_convex.solvers.augmented_lagrangian import FLOAT32_CAPPED_SOLVES
from relu_convex.solvers.options import DEFAULT_TOL, FLOAT32_STOP, FLOAT32_TOL, default_tol


def float32_instance(seed: int = 0, n: int = 40, lam: float = 1e-2, cls=rc.GatedReLUProblem, d: int = 2):
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.standard_normal((n, d))).astype(np.float32)
    w = np.float32([1.0, -1.0, 0.3, 0.2, 0.1][: d + 1])
    y = np.maximum(X @ w, 0) + np.float32(0.05) * rng.standard_normal(n).astype(np.float32)
    P = rc.activation_patterns(X, rc.sample_gates(d + 1, 40, seed=0))
    return cls(X, y, P, lam)


def test_default_tol():
    assert (DEFAULT_TOL, FLOAT32_TOL, FLOAT32_STOP) == (1e-6, 1e-4, 0.5)
    assert default_tol(None, np.float64) == DEFAULT_TOL
    assert default_tol(None, np.float32) == FLOAT32_TOL
    assert default_tol(3e-7, np.float32) == 3e-7  # an explicit tol is kept
    with pytest.raises(ValueError, match="^tol"):
        default_tol(0.0, np.float32)


@pytest.mark.parametrize("seed, n, lam", [(0, 40, 1e-2), (1, 200, 1e-3), (3, 100, 1e-2)])
def test_fista_certifies_float32_data_at_its_default(seed, n, lam):
    problem = float32_instance(seed, n, lam, d=4)
    result = problem.solve(solver="fista")
    assert result.status is rc.SolveStatus.OPTIMAL, result.message
    assert "tol 1e-04" in result.message
    assert result.relative_gap <= FLOAT32_TOL
    # the float32 iterations stop with room for the float64 recomputation of the bound
    # (at tol itself these problems ended 'inaccurate' at 1.001-1.01 times tol)
    assert problem.certificate(result.weights, dual=result.dual).relative_gap <= FLOAT32_TOL
    # float64 data keeps the float64 default
    problem64 = rc.GatedReLUProblem(problem.X.astype(np.float64), problem.y.astype(np.float64), problem.patterns, lam)
    result64 = problem64.solve(solver="fista")
    assert result64.status is rc.SolveStatus.OPTIMAL and "tol 1e-06" in result64.message


def test_a_small_float32_instance_certifies_its_default_tol():
    # n = 40 float32 data: fista ran 50000 iterations to max_iterations at 2.6e-6 against tol 1e-6
    rng = np.random.default_rng(0)
    X = rc.add_bias(rng.standard_normal((40, 2))).astype(np.float32)
    y = np.maximum(X @ np.float32([1.0, -1.0, 0.3]), 0)
    P = rc.activation_patterns(X, rc.sample_gates(3, 30, seed=0))
    fista = rc.GatedReLUProblem(X, y, P, 1e-2).solve(solver="fista")
    assert fista.status is rc.SolveStatus.OPTIMAL and fista.relative_gap <= FLOAT32_TOL
    assert fista.iterations < 5000
    # ipm computes in float64 whatever the dtype, and keeps the float64 default
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        ipm = cls(X, y, P, 1e-2).solve(solver="ipm")
        assert ipm.status is rc.SolveStatus.OPTIMAL and "tol 1e-06" in ipm.message
        assert ipm.relative_gap <= DEFAULT_TOL
    # al on float32 data is asked for the float32 default
    al = rc.ReLUProblem(X, y, P, 1e-2).solve(solver="al", max_iter=200)
    assert "(tol 1e-04)" in al.message or "<= tol 1e-04" in al.message


def test_explicit_tol_is_used_for_float32_data():
    problem = float32_instance()
    result = problem.solve(solver="fista", tol=1e-3)
    assert result.status is rc.SolveStatus.OPTIMAL and "tol 1e-03" in result.message
    assert result.relative_gap <= 1e-3


@pytest.mark.parametrize("case", [(200, 6, 40, 1e-3, True, 0), (200, 6, 40, 1e-3, True, 1),
                                  (150, 5, 30, 1e-3, False, 2), (300, 8, 40, 1e-3, True, 3)])
def test_al_refines_float32_data_in_float64(case):
    # unrefined, float32 iterations reached none of these in 20000 iterations (gaps 4e-3 to 0.12)
    n, d, p, lam, bias, seed = case
    problem = planted_problem(rc.ReLUProblem, n, d, p, lam, bias=bias, seed=seed, dtype=np.float32)
    result = problem.solve(solver="al", max_iter=20_000)
    assert result.status is rc.SolveStatus.OPTIMAL and result.info["polishes"] >= 1
    assert all(w.dtype == np.float32 for w in result.weights)
    assert result.relative_gap <= FLOAT32_TOL and result.max_violation <= 1e-6
    # the certificate holds for the float32 weights as returned, with the solver's dual point
    assert problem.certificate(result.weights, dual=result.dual).relative_gap <= FLOAT32_TOL
    # against ipm on the same (float32) data in float64: the bound is that of the data as given
    exact = rc.ReLUProblem(problem.X.astype(np.float64), problem.y.astype(np.float64), problem.patterns, lam)
    reference = exact.solve(solver="ipm", tol=1e-10)
    assert reference.success
    assert abs(result.objective - reference.objective) <= FLOAT32_TOL * reference.objective
    assert result.lower_bound <= reference.objective + 1e-10 * reference.objective


@pytest.mark.parametrize("case", [(200, 6, 40, 1e-3, True, 0), (200, 6, 40, 1e-4, True, 1), (300, 8, 40, 1e-4, True, 3)])
def test_fista_refines_float32_data_in_float64(case):
    # unrefined, float32 iterations reached none of these in 20000 iterations (gaps 1.2e-4 to 1.2e-2)
    n, d, p, lam, bias, seed = case
    problem = planted_problem(rc.GatedReLUProblem, n, d, p, lam, bias=bias, seed=seed, dtype=np.float32)
    result = problem.solve(solver="fista", max_iter=20_000)
    assert result.status is rc.SolveStatus.OPTIMAL and result.info["polishes"] >= 1
    assert result.weights.dtype == np.float32 and result.relative_gap <= FLOAT32_TOL
    assert problem.certificate(result.weights, dual=result.dual).relative_gap <= FLOAT32_TOL
    exact = rc.GatedReLUProblem(problem.X.astype(np.float64), problem.y.astype(np.float64), problem.patterns, lam)
    reference = exact.solve(solver="ipm", tol=1e-8)
    assert reference.success
    assert abs(result.objective - reference.objective) <= FLOAT32_TOL * reference.objective
    # C-GReLU has no constraints: any objective, ipm's too, is at least the optimum
    assert result.lower_bound <= reference.objective * (1 + 1e-12)


def _float32_stalling_problem():
    # every float32 inner solve misses its tolerance here: in float32 throughout, the polished solve
    # stopped at max_iterations with gap 0.21 after 30000 iterations (with 50000, in two runs: gap
    # 0.21, and certified after 49000)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = (np.maximum(X @ rng.standard_normal(6), 0) + 0.1 * rng.standard_normal(300)).astype(np.float32)
    X = rc.add_bias(X)
    return rc.ReLUProblem(X, y, rc.activation_patterns(X, rc.sample_gates(7, 60, seed=5)), 1e-4)


def test_al_goes_on_in_float64_when_float32_inner_solves_never_converge():
    # without polishing nothing depends on the clock: the inner solves run to their cap of 500
    # iterations, and after FLOAT32_CAPPED_SOLVES of them in a row the iterations go on in float64
    problem = _float32_stalling_problem()
    result = problem.solve(solver="al", polish=False, max_iter=10_500)
    assert result.info["float64_from"] == 500 * FLOAT32_CAPPED_SOLVES
    assert result.iterations == 10_500 and result.status is rc.SolveStatus.MAX_ITERATIONS
    assert all(w.dtype == np.float32 for w in result.weights)
    assert all(m.dtype == np.float32 for m in result.info["multipliers"])


def test_al_certifies_float32_data_whose_inner_solves_never_converge():
    # polished, the solve certifies either in float32 (an attempt settles before the switch) or
    # after going on in float64 (12000-24315 iterations in earlier runs): the attempts are
    # scheduled by wall-clock shares, so which of the two happens moves with the machine's load
    problem = _float32_stalling_problem()
    result = problem.solve(solver="al")
    assert result.status is rc.SolveStatus.OPTIMAL
    assert result.info["float64_from"] is None or result.info["float64_from"] < result.iterations
    assert all(w.dtype == np.float32 for w in result.weights)
    assert all(m.dtype == np.float32 for m in result.info["multipliers"])
    assert problem.certificate(result.weights, dual=result.dual).relative_gap <= FLOAT32_TOL
