"""lam = 0: the default solver choice, the solvers that refuse it, and the certificate of its solutions."""

import warnings

import numpy as np
import pytest

import relu_convex as rc
from relu_convex.fitting import DEFAULT_SOLVER, PATH_SOLVER, POSITIVE_LAM_SOLVERS, ZERO_LAM_SOLVER, default_solver
from relu_convex.paths import regularization_path


def interpolating(seed: int = 0, n: int = 20, p: int = 100):
    """Data that the sampled patterns fit exactly (p * d > n): the lam = 0 optimum is 0."""
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.standard_normal((n, 2)))
    y = np.maximum(X @ [1.0, -1.0, 0.3], 0) + 0.1 * rng.standard_normal(n)
    return X, y, rc.activation_patterns(X, rc.sample_gates(3, p, seed=seed))


def test_default_solver_at_lam_zero_is_the_conic_route():
    assert ZERO_LAM_SOLVER == "clarabel"
    for model in ("relu", "gated"):
        assert default_solver(model, lam=0.0) == ZERO_LAM_SOLVER
        assert default_solver(model, lam=0.0, shape=(200, 6, 30)) == ZERO_LAM_SOLVER
        assert default_solver(model, lam=0.0, path=True) == ZERO_LAM_SOLVER
        assert default_solver(model, lam=1e-3, shape=(200, 6, 30)) == DEFAULT_SOLVER[model]
        assert default_solver(model, lam=1e-3, path=True) == PATH_SOLVER[model]
        assert default_solver(model) == DEFAULT_SOLVER[model]  # lam not given: as before
        assert default_solver(model, "ecos", lam=0.0) == "ecos"  # a named solver is kept


@pytest.mark.parametrize("cls, solver", [(rc.GatedReLUProblem, "fista"), (rc.GatedReLUProblem, "ipm"),
                                         (rc.ReLUProblem, "al"), (rc.ReLUProblem, "ipm")])
def test_solvers_that_need_positive_lam_refuse_zero_naming_lam(cls, solver):
    assert solver in POSITIVE_LAM_SOLVERS
    X, y, P = interpolating()
    with pytest.raises(ValueError, match=r"^lam: solver '\w+' needs lam > 0, got lam=0; .*solver='clarabel'"):
        cls(X, y, P, 0.0).solve(solver=solver)


@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
@pytest.mark.parametrize("solver", ["clarabel", "scs"])
def test_interpolating_lam_zero_solutions_are_certified(cls, solver):
    X, y, P = interpolating()
    problem = cls(X, y, P, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero on the way
        result = problem.solve(solver=solver)
    assert result.status is rc.SolveStatus.OPTIMAL, result.message
    assert result.lower_bound == 0.0  # at lam = 0 every residual scales to theta = 0
    F0 = float(y @ y) / (2 * len(y))
    assert problem.zero_objective == pytest.approx(F0, rel=1e-15)
    assert result.objective <= 1e-6 * 1e-6 * F0  # within 100 * tol of 0, in units of 1e-6 F(0)
    assert result.relative_gap == result.gap / max(result.objective, 1e-6 * F0)
    cert = problem.certificate(result.weights)
    assert cert.relative_gap == cert.gap / max(cert.objective, 1e-6 * F0) <= 1e-6


def test_lam_zero_without_interpolation_is_not_called_optimal():
    # 200 samples, 2 patterns of 3 weights: least squares with a positive optimum, whose bound at lam = 0 is 0
    rng = np.random.default_rng(1)
    X = rc.add_bias(rng.standard_normal((200, 2)))
    y = np.maximum(X @ [1.0, -1.0, 0.3], 0) + 0.1 * rng.standard_normal(200)
    P = rc.activation_patterns(X, rc.sample_gates(3, 2, seed=3))
    result = rc.GatedReLUProblem(X, y, P, 0.0).solve(solver="clarabel")
    assert result.status is rc.SolveStatus.INACCURATE
    assert result.lower_bound == 0.0 and result.relative_gap == 1.0


def test_estimator_fits_lam_zero_on_the_conic_route():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'relu-convex[sklearn]')")
    from sklearn.exceptions import ConvergenceWarning

    from relu_convex.estimators import ConvexReLURegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = X[:, 0]
    for model in ("relu", "gated"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            est = ConvexReLURegressor(lam=0.0, model=model, random_state=0).fit(X, y)
        assert est.solve_result_.solver == ZERO_LAM_SOLVER
        assert est.solve_result_.status is rc.SolveStatus.OPTIMAL
        np.testing.assert_allclose(est.predict(X), y, atol=1e-6)


def test_path_through_lam_zero():
    X, y, P = interpolating(n=15, p=30)
    path = regularization_path(X, y, P, [1e-2, 0.0], model="gated")
    assert path.solver == ZERO_LAM_SOLVER
    assert [point.status for point in path] == [rc.SolveStatus.OPTIMAL] * 2
    for solver in POSITIVE_LAM_SOLVERS:
        with pytest.raises(ValueError, match=rf"^lams: solver '{solver}' needs lam > 0"):
            regularization_path(X, y, P, [1e-2, 0.0], model="relu" if solver == "al" else "gated", solver=solver)
