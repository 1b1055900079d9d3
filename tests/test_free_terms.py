"""Unpenalized columns and the output offset: objectives, duals, certificates, networks."""

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.free_terms import center, check_unpenalized, penalized_columns, project_out
from relu_convex.networks import realizing_gate

OPTIONS = [((), True), ((-1,), False), ((-1,), True)]
CLASSES = [rc.ReLUProblem, rc.GatedReLUProblem]


def _rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def _instance(seed):
    X, y, P = make_instance(seed, n=24, d=2, p=10)
    return X, y + 2.0, P  # a mean the offset has to absorb


@pytest.mark.parametrize("unpenalized,offset", OPTIONS)
@pytest.mark.parametrize("cls", CLASSES)
def test_primal_and_dual_programs_agree(cls, unpenalized, offset):
    X, y, P = _instance(3)
    problem = cls(X, y, P, 1e-2, unpenalized=unpenalized, offset=offset)
    primal = problem.to_cvxpy()
    dual = problem.dual_to_cvxpy()
    primal.problem.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    dual.problem.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    weights = primal.weights()
    # the objective recomputed with the closed-form offset equals the CVXPY value
    assert _rel(problem.objective(weights), primal.problem.value) <= 1e-7
    assert _rel(primal.problem.value, dual.problem.value) <= 1e-6
    theta = dual.theta()
    if offset:
        assert abs(theta.sum()) <= 1e-8 * np.abs(theta).sum()


@pytest.mark.parametrize("unpenalized,offset", OPTIONS)
@pytest.mark.parametrize("cls", CLASSES)
def test_certificate_is_tight_at_optimum_and_valid_elsewhere(cls, unpenalized, offset):
    X, y, P = _instance(5)
    problem = cls(X, y, P, 1e-2, unpenalized=unpenalized, offset=offset)
    result = problem.solve(tol=1e-9)
    assert result.status is rc.SolveStatus.OPTIMAL
    assert result.relative_gap <= 1e-6
    cert = problem.certificate(result.weights)
    assert cert.lower_bound <= result.objective * (1 + 1e-9)
    assert "offset" in cert.objective_name if offset else "offset" not in cert.objective_name
    # arbitrary points (shrunk / perturbed optima, zero) give bounds below the optimum
    rng = np.random.default_rng(0)
    if cls is rc.ReLUProblem:
        V, W = result.weights
        points = [(0.5 * V, 0.5 * W), (V * 1.3, W * 0.7), (np.zeros_like(V), np.zeros_like(W))]
    else:
        U = result.weights
        points = [0.5 * U, U + 0.1 * rng.standard_normal(U.shape), np.zeros_like(U)]
    for point in points:
        c = problem.certificate(point)
        assert c.lower_bound <= result.objective + 1e-9 * result.objective
        assert c.lower_bound <= c.objective + 1e-12
    # the offset's dual point is centred; unpenalized coordinates have zero dual slope
    theta = cert.dual
    if offset:
        assert abs(theta.sum()) <= 1e-12 * max(1.0, np.abs(theta).sum())
    if cls is rc.GatedReLUProblem and unpenalized:
        G = problem.operator.adjoint(theta)
        assert np.max(np.abs(G[:, -1])) <= 1e-12 * max(1.0, np.abs(theta).sum())


@pytest.mark.parametrize("unpenalized,offset", [((), False)] + OPTIONS)
def test_relu_network_keeps_objective(unpenalized, offset):
    X, y, P = _instance(7)
    problem = rc.ReLUProblem(X, y, P, 1e-2, unpenalized=unpenalized, offset=offset)
    result = problem.solve(tol=1e-9)
    net = problem.to_network(result.weights)
    if offset:
        np.testing.assert_allclose(net.offset, problem.offset_value(result.weights), rtol=1e-12)
    else:
        assert net.offset is None or unpenalized  # an offset only from a bias-only block
    obj = net.objective(X, y, problem.lam, unpenalized=unpenalized)
    # equal up to the cone violation left by the interior-point solver
    assert _rel(obj, problem.objective(result.weights)) <= 1e-6


def test_bias_only_block_is_folded_into_offset():
    X, y, P = _instance(1)
    P = np.hstack([P, np.ones((X.shape[0], 1), dtype=bool)])
    problem = rc.ReLUProblem(X, y, P, 1e-2, unpenalized=(-1,))
    V = np.zeros((problem.p, problem.d))
    W = np.zeros_like(V)
    V[-1, -1] = 2.5  # constant neuron on the all-ones pattern, zero penalty
    W[0] = 0.7 * realizing_gate(X, P[:, 0])  # an ordinary neuron, in its cone
    assert problem.constraint_violation((V, W)) == 0.0
    net = problem.to_network((V, W))
    assert net.width == 1
    np.testing.assert_allclose(net.offset, 2.5, rtol=1e-15)
    np.testing.assert_allclose(net.predict(X), problem.predict((V, W)), rtol=1e-14)
    assert _rel(net.objective(X, y, problem.lam, unpenalized=(-1,)), problem.objective((V, W))) <= 1e-14


def test_network_penalty_skips_columns_and_offset():
    W1 = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    w2 = np.array([2.0, -1.0])
    net = rc.ReLUNetwork(W1, w2, offset=7.0)
    assert net.penalty() == 0.5 * (1 + 4 + 9 + 1 + 16 + 4 + 1)
    assert net.penalty(unpenalized=(-1,)) == 0.5 * (1 + 4 + 1 + 4 + 1)
    X = np.array([[1.0, 1.0, 1.0], [-1.0, 0.5, 1.0]])
    np.testing.assert_allclose(net.predict(X), np.maximum(X @ W1.T, 0) @ w2 + 7.0, rtol=1e-15)


def test_network_offset_saved(tmp_path):
    net = rc.ReLUNetwork(np.ones((2, 3)), np.ones((2, 2)), offset=[1.0, -2.0])
    net.save(tmp_path / "n.npz")
    back = rc.ReLUNetwork.load(tmp_path / "n.npz")
    np.testing.assert_array_equal(back.offset, [1.0, -2.0])


def test_option_validation():
    X, y, P = _instance(0)
    with pytest.raises(ValueError, match="out of range"):
        rc.ReLUProblem(X, y, P, 0.1, unpenalized=(5,))
    with pytest.raises(ValueError, match="repeat"):
        rc.ReLUProblem(X, y, P, 0.1, unpenalized=(2, -1))
    with pytest.raises(ValueError, match="at least one penalized"):
        rc.ReLUProblem(X, y, P, 0.1, unpenalized=(0, 1, 2))
    with pytest.raises(TypeError, match="integer"):
        rc.ReLUProblem(X, y, P, 0.1, unpenalized=("bias",))
    with pytest.raises(TypeError, match="offset"):
        rc.ReLUProblem(X, y, P, 0.1, offset="yes")
    with pytest.raises(ValueError, match="offset must have shape"):
        rc.ReLUNetwork(np.ones((2, 3)), np.ones(2), offset=[1.0, 2.0])
    assert check_unpenalized(-1, 4) == (3,)
    np.testing.assert_array_equal(penalized_columns(3, (0,)), [False, True, True])


def test_projections():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((9, 2))
    assert np.max(np.abs(center(theta).sum(axis=0))) <= 1e-14
    M = rng.standard_normal((9, 3))
    out = project_out(theta, np.hstack([M, M[:, :1]]))  # rank-deficient basis
    assert np.max(np.abs(M.T @ out)) <= 1e-13


def test_first_order_solvers_must_declare_free_term_support(monkeypatch):
    from relu_convex import solvers

    X, y, P = _instance(2)
    calls = []

    def fake(problem, **options):
        calls.append(options)
        return "solved"

    monkeypatch.setitem(solvers.FIRST_ORDER, "fake", (("C-GReLU",), fake))
    plain = rc.GatedReLUProblem(X, y, P, 0.1)
    assert plain.solve(solver="fake") == "solved"
    with pytest.raises(ValueError, match="unpenalized columns or an output offset"):
        rc.GatedReLUProblem(X, y, P, 0.1, offset=True).solve(solver="fake")
    fake.supports_free_terms = True
    assert rc.GatedReLUProblem(X, y, P, 0.1, offset=True).solve(solver="fake") == "solved"
    assert len(calls) == 2


@pytest.mark.parametrize("cls", CLASSES)
def test_multi_output_options(cls):
    X, y, P = make_instance(8, n=22, d=2, p=8, outputs=2)
    y = y + np.array([1.0, -3.0])
    unpenalized = (-1,) if cls is rc.ReLUProblem else ()
    problem = cls(X, y, P, 1e-2, unpenalized=unpenalized, offset=True)
    result = problem.solve(tol=1e-9)
    assert result.status is rc.SolveStatus.OPTIMAL and result.relative_gap <= 1e-6
    assert problem.offset_value(result.weights).shape == (2,)
    dual = problem.dual_to_cvxpy()
    dual.problem.solve(solver="CLARABEL")
    assert _rel(dual.problem.value, result.objective) <= 1e-6
    zero = (np.zeros(problem.weight_shape),) * 2 if cls is rc.ReLUProblem else np.zeros(problem.weight_shape)
    assert problem.certificate(zero).lower_bound <= result.objective * (1 + 1e-9)
    np.testing.assert_allclose(problem.certificate(result.weights).dual.sum(axis=0), 0.0, atol=1e-14)
