"""Regularization paths: grid order, certificates, sparsity, lam_max."""

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.fitting import PATH_SOLVER, WARM_START_SOLVERS, solve_options
from relu_convex.paths import lam_grid, lam_max, regularization_path
from relu_convex.solvers.polish import predict_grelu


@pytest.mark.parametrize("model", ["relu", "gated"])
def test_path_certificates_and_sparsity(model):
    X, y, P = make_instance(2, n=25, d=2, p=8)
    top = lam_max(X, y, P, model)
    lams = [top * r for r in (0.01, 2.0, 0.5, 0.1)]  # unsorted on purpose
    path = regularization_path(X, y, P, lams, model=model, tol=1e-9)
    assert len(path) == 4
    np.testing.assert_allclose(path.lams, sorted(lams, reverse=True))
    assert path.solver == PATH_SOLVER[model]
    cls = rc.ReLUProblem if model == "relu" else rc.GatedReLUProblem
    for point in path:
        problem = cls(X, y, P, point.lam)
        assert point.certificate.objective == pytest.approx(problem.objective(point.weights), rel=1e-12)
        assert point.certificate.lower_bound <= point.certificate.objective + 1e-12
        assert point.certificate.relative_gap <= 1e-6
    # above lam_max the zero network is optimal; below it the model is not empty
    assert path.n_active[0] == 0
    assert path.objectives[0] == pytest.approx(0.5 * np.mean(y**2), rel=1e-6)
    assert path.n_active[-1] >= 1
    # objectives decrease with lam
    assert np.all(np.diff(path.objectives) <= 1e-9)
    assert "rel. gap" in path.summary()


def test_lam_max_is_the_threshold():
    X, y, P = make_instance(4, n=20, d=2, p=6)
    for model, cls in (("gated", rc.GatedReLUProblem), ("relu", rc.ReLUProblem)):
        top = lam_max(X, y, P, model)
        above = cls(X, y, P, 1.01 * top).solve(tol=1e-10)
        below = cls(X, y, P, 0.9 * top).solve(tol=1e-10)
        assert above.objective == pytest.approx(0.5 * np.mean(y**2), rel=1e-6)
        assert below.objective < 0.5 * np.mean(y**2) * (1 - 1e-4)


def test_default_grid_and_warm_start_options():
    X, y, P = make_instance(5, n=20, d=2, p=6)
    path = regularization_path(X, y, P, model="gated", num=3, ratio=0.1)
    np.testing.assert_allclose(path.lams, lam_grid(lam_max(X, y, P, "gated"), 3, 0.1))
    # the default C-GReLU solver, fista, starts each point after the first from the previous one
    assert [p.warm_started for p in path] == [False, True, True]
    conic = regularization_path(X, y, P, model="gated", solver="clarabel", num=3, ratio=0.1)
    assert not any(p.warm_started for p in conic)  # the conic route starts cold
    w0 = np.zeros((6, 3))
    assert "weights0" not in solve_options("clarabel", weights0=w0)
    for name in WARM_START_SOLVERS:
        assert solve_options(name, tol=1e-6, weights0=w0)["weights0"] is w0
    with pytest.raises(ValueError, match="lams"):
        regularization_path(X, y, P, [-1.0])
    with pytest.raises(ValueError, match="model"):
        regularization_path(X, y, P, [1.0], model="deep")


def test_warm_start_hands_previous_solution_to_first_order_solvers(monkeypatch):
    from relu_convex import solvers
    from relu_convex.solvers.interior_point import solve_conic

    seen, stores = [], []

    def recording_solver(problem, weights0=None, factors=None, **options):
        seen.append(None if weights0 is None else np.array(weights0))
        stores.append(factors)
        return solve_conic(problem, "clarabel", **options)

    monkeypatch.setitem(solvers.FIRST_ORDER, "fista", (("C-GReLU",), recording_solver))
    X, y, P = make_instance(6, n=20, d=2, p=6)
    lams = [0.5, 0.05, 0.005]
    path = regularization_path(X, y, P, lams, model="gated", solver="fista", tol=1e-8)
    assert [p.warm_started for p in path] == [False, True, True]
    assert seen[0] is None
    # fista starts from the prediction along the solution path at the previous point
    for i in (1, 2):
        expected = predict_grelu(rc.GatedReLUProblem(X, y, P, lams[i]), path[i - 1].weights, lams[i - 1])
        np.testing.assert_array_equal(seen[i], expected)
    # one store of the refinements' factorizations for the whole warm path, none for the cold one
    assert isinstance(stores[0], dict) and all(f is stores[0] for f in stores[:3])
    cold = regularization_path(X, y, P, lams, model="gated", solver="fista", tol=1e-8, warm_start=False)
    assert all(w is None for w in seen[3:]) and len(seen) == 6
    assert all(f is None for f in stores[3:])
    np.testing.assert_allclose(cold.objectives, path.objectives, rtol=1e-7)


def test_al_warm_start_passes_previous_multipliers(monkeypatch):
    from relu_convex import solvers
    from relu_convex.solvers.augmented_lagrangian import solve_al

    seen = []

    penalties = []

    def recording_al(problem, weights0=None, multipliers0=None, penalty0=None, **options):
        seen.append((weights0, multipliers0))
        result = solve_al(problem, weights0=weights0, multipliers0=multipliers0, penalty0=penalty0, **options)
        seen[-1] += (result.info["multipliers"],)
        penalties.append((penalty0, result.info["penalty"]))
        return result

    monkeypatch.setitem(solvers.FIRST_ORDER, "al", (("C-ReLU",), recording_al))
    X, y, P = make_instance(7, n=20, d=2, p=6)
    top = lam_max(X, y, P, "relu")
    lams = [0.5 * top, 0.2 * top, 0.05 * top]
    warm = regularization_path(X, y, P, lams, model="relu", solver="al", tol=1e-8)
    assert [p.warm_started for p in warm] == [False, True, True]
    assert seen[0][0] is None and seen[0][1] is None
    for k in (1, 2):
        np.testing.assert_array_equal(seen[k][0][0], warm[k - 1].weights[0])
        for given, previous in zip(seen[k][1], seen[k - 1][2], strict=True):
            np.testing.assert_array_equal(given, previous)
    # the penalty restarts from its default (continuing it was measured slower)
    assert all(given is None for given, _ in penalties[:3])
    cold = regularization_path(X, y, P, lams, model="relu", solver="al", tol=1e-8, warm_start=False)
    assert all(w is None and m is None for w, m, _ in seen[3:]) and len(seen) == 6
    assert all(given is None for given, _ in penalties[3:])
    # both paths reach the same optimum, each point certified by its own dual bound
    np.testing.assert_allclose(cold.objectives, warm.objectives, rtol=1e-5)
    for path in (warm, cold):
        for point in path:
            c = point.certificate
            # the NNLS cone multipliers of the C-ReLU bound are exact only to the NNLS
            # tolerance: at a feasible optimum the bound may exceed the objective by ~1e-7
            assert c.lower_bound <= c.objective * (1 + 1e-6)
            assert abs(c.relative_gap) <= 1e-5
            assert c.max_violation <= 1e-6


def test_path_prediction_is_second_order_accurate_on_a_fixed_support():
    # the tangent step's error shrinks like (delta lam)^2 while the support holds, and it starts
    # closer to the next solution than the previous solution does
    X, y, P = make_instance(11, n=60, d=3, p=10)
    lam0 = 0.03 * lam_max(X, y, P, "gated")
    solve = lambda lam: rc.GatedReLUProblem(X, y, P, lam).solve(solver="fista", tol=1e-13).weights  # noqa: E731
    U0 = solve(lam0)
    errors = []
    for step in (0.02, 0.01):
        lam1 = lam0 * (1 - step)
        U1 = solve(lam1)
        assert np.array_equal(np.linalg.norm(U1, axis=1) > 0, np.linalg.norm(U0, axis=1) > 0)
        predicted = predict_grelu(rc.GatedReLUProblem(X, y, P, lam1), U0, lam0)
        errors.append(np.linalg.norm(predicted - U1))
        assert errors[-1] < 0.1 * np.linalg.norm(U0 - U1)
    assert errors[1] < 0.35 * errors[0]  # second order: about a quarter
    with pytest.raises(ValueError, match="lam_from"):
        predict_grelu(rc.GatedReLUProblem(X, y, P, lam0), U0, 0.0)


def test_prediction_preconditioned_by_the_stored_factorization_matches_the_factored_one(monkeypatch):
    # fista stores its refinement's last factorization; at the next lam the tangent system on the
    # same groups is solved by conjugate gradients preconditioned with it, to the factored answer
    from relu_convex.solvers import polish

    X, y, P = make_instance(12, n=800, d=8, p=120)
    lam0 = 1e-3 * lam_max(X, y, P, "gated")
    factors = {}
    U0 = rc.GatedReLUProblem(X, y, P, lam0).solve(solver="fista", tol=1e-8, factors=factors).weights
    stored = factors[0]
    assert stored.lam == lam0 and np.array_equal(stored.groups, np.flatnonzero(np.linalg.norm(U0, axis=1) > 0))
    solves = []
    original = polish._pcg

    def counted(*args):
        out = original(*args)
        solves.append(out[2])
        return out

    monkeypatch.setattr(polish, "_pcg", counted)
    problem = rc.GatedReLUProblem(X, y, P, 0.7 * lam0)
    preconditioned = predict_grelu(problem, U0, lam0, factors=factors)
    assert solves == [True]
    factored = predict_grelu(problem, U0, lam0)
    assert len(solves) == 1  # without the store: a factorization
    assert np.linalg.norm(preconditioned - factored) <= 1e-4 * np.linalg.norm(factored - U0)
    # a store from another lam is not used
    predict_grelu(problem, U0, 0.9 * lam0, factors=factors)
    assert len(solves) == 1


def test_default_solver_falls_back_when_ipm_would_not_fit():
    from relu_convex.fitting import LARGE_PROBLEM_SOLVER, default_solver

    assert default_solver("relu", shape=(200, 6, 30)) == "ipm"
    # 20000 rows and more weights than rows: ipm's n x n systems would need about 10 GB
    assert default_solver("relu", shape=(20000, 40, 400)) == LARGE_PROBLEM_SOLVER["relu"] == "al"
    assert default_solver("gated", shape=(20000, 40, 400)) == LARGE_PROBLEM_SOLVER["gated"] == "fista"
    assert default_solver("gated", shape=(2000, 50, 300)) == "ipm"
    # C-GReLU large enough for fista to be the faster (ipm's work per iteration grows as n^3)
    from relu_convex.fitting import GATED_IPM_MAX_RATIO, ipm_work_ratio

    assert ipm_work_ratio(10000, 50, 300) > GATED_IPM_MAX_RATIO >= ipm_work_ratio(8000, 50, 300)
    assert default_solver("gated", shape=(10000, 50, 300)) == "fista"
    assert default_solver("gated", shape=(8000, 50, 300)) == "ipm"
    assert default_solver("relu", shape=(10000, 5, 40)) == "ipm"  # the work rule is C-GReLU's only
    # paths warm-start fista on C-GReLU whatever the size
    assert default_solver("gated", shape=(200, 6, 30), path=True) == "fista"
    assert default_solver("relu", shape=(200, 6, 30), path=True) == "ipm"
    assert default_solver("relu", "ipm", shape=(20000, 40, 400)) == "ipm"  # a named solver is kept


@pytest.mark.parametrize("model, solver", [("relu", "ipm"), ("gated", "fista"), ("relu", "clarabel")])
def test_working_set_path_starts_each_set_from_the_previous_support(model, solver):
    rng = np.random.default_rng(3)
    X = rc.add_bias(rng.standard_normal((25, 2)))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0) - 0.3 * X[:, 0]
    P = rc.enumerate_patterns(X)
    grid = lam_grid(lam_max(X, y, P, model), 4, 1e-2)
    warm = regularization_path(X, y, P, grid, model=model, solver=solver, tol=1e-7, working_set=True)
    full = regularization_path(X, y, P, grid, model=model, solver=solver, tol=1e-7, warm_start=False)
    assert [p.warm_started for p in warm] == [False, True, True, True]
    for a, b in zip(warm, full, strict=True):
        assert a.status.value == "optimal"
        # every working-set point is certified over all patterns, and agrees with the full solve
        assert a.certificate.n_patterns == P.shape[1]
        assert a.certificate.relative_gap <= 1e-6
        assert a.certificate.lower_bound <= b.certificate.objective * (1 + 1e-9)
        assert a.certificate.objective == pytest.approx(b.certificate.objective, rel=2e-6)
    with pytest.raises(TypeError, match="working_set"):
        regularization_path(X, y, P, grid, model=model, working_set=1)


def test_working_sets_by_default_only_when_patterns_far_outnumber_samples(monkeypatch):
    from relu_convex import solvers
    from relu_convex.fitting import WORKING_SET_RATIO, default_working_set

    assert default_working_set(10, int(WORKING_SET_RATIO * 10)) and not default_working_set(10, 199)
    assert not default_working_set(10, 10_000, free_terms=True)
    seen = []
    real = solvers.solve

    def recording(problem, solver="clarabel", **options):
        seen.append((problem.p, options.get("working_set", False)))
        return real(problem, solver, **options)

    monkeypatch.setattr(solvers, "solve", recording)
    rng = np.random.default_rng(4)
    X = rc.add_bias(rng.standard_normal((25, 2)))
    y = rng.standard_normal(25)
    exact = rc.enumerate_patterns(X)
    assert exact.shape[1] >= WORKING_SET_RATIO * 25
    regularization_path(X, y, exact, [0.1, 0.05], model="gated")
    # the path's own calls (over all patterns; the restricted solves come from inside them)
    assert [ws for p, ws in seen if p == exact.shape[1]] == [True, True]
    seen.clear()
    regularization_path(X, y, exact[:, :20], [0.1, 0.05], model="gated")
    assert seen == [(20, False), (20, False)]
