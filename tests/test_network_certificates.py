"""Certificates of trained two-layer ReLU networks against the exact C-ReLU optimum."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import relu_convex as rc
from relu_convex.patterns import unique_patterns

TOL = 1e-10


def line_cells(x: np.ndarray) -> np.ndarray:
    """Exact pattern set of points x_k in R (with a bias column): thresholds x >= t and x <= t."""
    t = np.concatenate([[-np.inf], (np.sort(x)[1:] + np.sort(x)[:-1]) / 2, [np.inf]])
    cols = [x >= s for s in t] + [x <= s for s in t]
    return unique_patterns(np.array(cols).T)


def plane_cells(X: np.ndarray) -> np.ndarray:
    """Exact pattern set of points in general position in R^2 (rows of X = [z, 1]).

    Every cell of a rank-3 central arrangement has a vertex ``v = +-(x_j x x_k)``;
    the four cells around it share the signs of the other rows and take either
    sign on rows j and k.
    """
    n = X.shape[0]
    cols = []
    for j in range(n):
        for k in range(j + 1, n):
            v = np.cross(X[j], X[k])
            for sv in (v, -v):
                base = X @ sv >= 0
                for a in (True, False):
                    for b in (True, False):
                        m = base.copy()
                        m[j], m[k] = a, b
                        cols.append(m)
    return unique_patterns(np.array(cols).T)


def line_data(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    return rc.add_bias(x[:, None]), np.sin(2 * x) + 0.1 * rng.standard_normal(n), line_cells(x)


def plane_data(seed: int, n: int = 10):
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1, 1, (n, 2))
    X = rc.add_bias(Z)
    return X, np.sin(3 * Z[:, 0]) + Z[:, 1] ** 2, plane_cells(X)


def exact_optimum(X, y, cells, lam):
    """(network, certified interval) of the exact C-ReLU optimum."""
    problem = rc.ReLUProblem(X, y, cells, lam)
    result = problem.solve(solver="clarabel", tol=TOL)
    cert = problem.certificate(result.weights)
    return problem.to_network(result.weights), cert.lower_bound, cert.upper_bound


def slack(value):
    return 1e-10 * max(1.0, abs(value))


@pytest.mark.parametrize("maker,seed", [(line_data, 0), (line_data, 1), (plane_data, 0), (plane_data, 1)])
def test_network_from_the_exact_optimum_certifies_tightly(maker, seed):
    X, y, cells, = maker(seed)
    lam = 0.01
    net, p_lo, p_hi = exact_optimum(X, y, cells, lam)
    cert = rc.certify_network(net, X, y, lam)  # patterns=None: the exact set
    assert cert.rigorous and cert.n_patterns == cells.shape[1]
    assert cert.relative_gap <= 1e-5
    assert cert.lower_bound <= p_hi + slack(p_hi)
    given = rc.certify_network(net, X, y, lam, patterns=cells, refine=False)
    plain = rc.certify_network(net, X, y, lam, refine=False)
    assert given.lower_bound == pytest.approx(plain.lower_bound, rel=1e-12)  # the enumerated set agrees
    assert plain.relative_gap <= 1e-5


@pytest.mark.parametrize("seed", range(4))
def test_trained_network_gap_matches_its_excess(seed):
    X, y, cells = plane_data(10 + seed)
    lam = 0.01
    _, p_lo, p_hi = exact_optimum(X, y, cells, lam)
    best, _ = rc.best_of_restarts(X, y, lam, width=20, restarts=3, seed=seed, steps=3000, lr=1e-2)
    cert = rc.certify_network(best.network, X, y, lam)
    plain = rc.certify_network(best.network, X, y, lam, refine=False)
    for c in (cert, plain):
        assert c.objective == pytest.approx(best.network.objective(X, y, lam), rel=1e-12)
        assert c.lower_bound <= p_hi + slack(p_hi)  # never above the optimum
        assert c.gap >= c.objective - p_hi - slack(p_hi)  # the gap covers the excess over the optimum
    assert cert.lower_bound >= plain.lower_bound
    # the best of a few restarts reaches the optimum's activation patterns: the
    # refined bound meets the optimum and the gap is the excess
    assert (p_lo - cert.lower_bound) / p_lo <= 1e-6
    assert cert.gap == pytest.approx(cert.objective - p_lo, rel=1e-3, abs=1e-8)


def test_sklearn_network_with_intercepts_and_free_offset():
    neural = pytest.importorskip("sklearn.neural_network")
    X, y, cells = line_data(3, n=14)
    x = X[:, :1]
    model = neural.MLPRegressor(hidden_layer_sizes=(16,), alpha=1e-2, solver="lbfgs", max_iter=3000, random_state=0)
    model.fit(x, y)
    W1 = np.hstack([model.coefs_[0].T, model.intercepts_[0][:, None]])  # hidden bias as the last column
    w2 = model.coefs_[1][:, 0]
    lam = 0.01
    net = rc.ReLUNetwork(W1, w2)
    cert = rc.certify_network(net, X, y, lam, offset=model.intercepts_[1][0])
    assert "unpenalized" in cert.objective_kind
    np.testing.assert_allclose(net.predict(X) + model.intercepts_[1][0], model.predict(x), atol=1e-10)

    # optimum with a free offset c: min over c of the exact C-ReLU optimum for y - c (convex in c)
    def optimum(c):
        return rc.ReLUProblem(X, y - c, cells, lam).solve(solver="clarabel", tol=TOL).objective

    best = minimize_scalar(optimum, bounds=(-2.0, 2.0), method="bounded", options={"xatol": 1e-3, "maxiter": 12})
    assert cert.lower_bound <= best.fun + slack(best.fun)
    assert cert.lower_bound <= cert.objective
    # without the offset term the same weights are a different model; its bound is for the no-offset problem
    no_offset = rc.certify_network(net, X, y - model.intercepts_[1][0], lam)
    assert no_offset.objective == pytest.approx(cert.objective, rel=1e-12)


def test_sampled_set_gives_a_relative_bound():
    X, y, cells = plane_data(5)
    lam = 0.01
    net = rc.train_network(X, y, lam, width=8, steps=1500, seed=5).network
    cert = rc.certify_network(net, X, y, lam, patterns=6, seed=1)
    assert not cert.rigorous and "sampled: 6 gates" in cert.pattern_set
    assert "RELATIVE" in str(cert)
    # relative to the set: below the C-ReLU optimum over that same set
    own = X @ net.W1.T >= 0
    masks = unique_patterns(np.hstack([rc.activation_patterns(X, rc.sample_gates(3, 6, seed=1)), own]))
    assert cert.n_patterns == masks.shape[1]
    ref = rc.ReLUProblem(X, y, masks, lam)
    ref_cert = ref.certificate(ref.solve(solver="clarabel", tol=TOL).weights)
    assert cert.lower_bound <= ref_cert.upper_bound + slack(ref_cert.upper_bound)


def test_upper_bound_from_the_convex_program():
    X, y, cells = line_data(4)
    lam = 0.02
    _, p_lo, p_hi = exact_optimum(X, y, cells, lam)
    net = rc.train_network(X, y, lam, width=6, steps=800, seed=0).network
    cert = rc.certify_network(net, X, y, lam, upper_bound=True)
    assert cert.lower_bound <= p_hi + slack(p_hi)
    assert p_lo - slack(p_lo) <= cert.upper_bound <= p_hi * (1 + 1e-6)
    assert "C-ReLU over the" in cert.upper_bound_status


def test_vector_outputs():
    X, y, cells = line_data(6)
    lam = 0.01
    Y = np.column_stack([y, np.cos(X[:, 0])])
    net = rc.train_network(X, Y, lam, width=10, steps=2000, seed=1).network
    cert = rc.certify_network(net, X, Y, lam)
    # a vector network can share neurons between outputs, so its optimum is at
    # most the sum of the per-output optima: the bound must stay below that sum
    total = sum(exact_optimum(X, Y[:, k], cells, lam)[2] for k in range(2))
    assert cert.lower_bound <= total + slack(total)
    # with a zero second output the joint bound reduces to the single-output one
    W2 = np.column_stack([net.w2[:, 0], np.zeros(net.width)])
    both = rc.certify_network(rc.ReLUNetwork(net.W1, W2), X, np.column_stack([y, np.zeros_like(y)]), lam, refine=False)
    one = rc.certify_network(rc.ReLUNetwork(net.W1, net.w2[:, 0]), X, y, lam, refine=False)
    assert both.lower_bound == pytest.approx(one.lower_bound, rel=1e-12)


def test_exact_set_refused_above_max_patterns():
    X, y, _ = plane_data(0, n=30)
    net = rc.train_network(X, y, 0.01, width=4, steps=10).network
    with pytest.raises(rc.PatternLimitError, match=r"up to \d+ patterns.*max_patterns=100"):
        rc.certify_network(net, X, y, 0.01, max_patterns=100)


def test_bad_inputs_name_the_argument():
    X, y, _ = line_data(0)
    net = rc.ReLUNetwork(np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError, match="network"):
        rc.certify_network("net", X, y, 0.1)
    with pytest.raises(TypeError, match="GatedReLUNetwork"):
        rc.certify_network(rc.GatedReLUNetwork(np.ones((2, 3)), np.ones((3, 2)), np.ones(3)), X, y, 0.1)
    with pytest.raises(ValueError, match="network: W1 has 2 columns"):
        rc.certify_network(net, X[:, :1], y, 0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        rc.certify_network(net, X, np.column_stack([y, y]), 0.1)
    with pytest.raises(ValueError, match="offset"):
        rc.certify_network(net, X, y, 0.1, offset=[1.0, 2.0])
    with pytest.raises(ValueError, match="lam"):
        rc.certify_network(net, X, y, -1.0)
    with pytest.raises(ValueError, match="patterns"):
        rc.certify_network(net, X, y, 0.1, patterns="all")
    with pytest.raises(ValueError, match="patterns must have shape"):
        rc.certify_network(net, X, y, 0.1, patterns=np.ones((3, 2), dtype=bool))


def test_report_json():
    X, y, _ = line_data(2)
    net = rc.train_network(X, y, 0.01, width=5, steps=300).network
    cert = rc.certify_network(net, X, y, 0.01)
    data = json.loads(cert.to_json())
    assert data["kind"] == "NetworkCertificate" and data["rigorous"] is True
    assert data["lower_bound"] == pytest.approx(cert.lower_bound) and "dual" not in data
    assert "rigorous: over networks of any width" in str(cert)


def test_network_offset_is_certified_with_the_network():
    X, y, cells = line_data(2, n=12)
    y = y + 3.0
    lam = 0.01
    W1 = np.random.default_rng(0).standard_normal((4, 2))
    w2 = np.array([0.5, -0.4, 0.3, 0.2])
    net = rc.ReLUNetwork(W1, w2, offset=3.0)
    cert = rc.certify_network(net, X, y, lam)  # offset=None: the network's own offset
    assert cert.objective == pytest.approx(net.objective(X, y, lam), rel=1e-12)
    assert "b = 3 (the network's offset), unpenalized" in cert.objective_kind
    explicit = rc.certify_network(rc.ReLUNetwork(W1, w2), X, y, lam, offset=3.0)
    assert explicit.objective == cert.objective and explicit.lower_bound == cert.lower_bound
    assert "(offset argument)" in explicit.objective_kind
    # the bound covers every network with every offset: below the exact optimum with a free offset
    optimum = rc.ReLUProblem(X, y, cells, lam, offset=True).solve(solver="clarabel", tol=TOL).objective
    assert cert.lower_bound <= optimum + slack(optimum)
    # an explicit offset replaces the network's own
    replaced = rc.certify_network(net, X, y, lam, offset=0.0)
    assert replaced.objective == pytest.approx(rc.ReLUNetwork(W1, w2).objective(X, y, lam), rel=1e-12)
    assert "b = 0 (offset argument)" in replaced.objective_kind
    # a pair has no offset, as before: the objective of the network without one
    pair = rc.certify_network((W1, w2), X, y, lam)
    assert pair.objective == pytest.approx(rc.ReLUNetwork(W1, w2).objective(X, y, lam), rel=1e-12)
    assert "no output offset" in pair.objective_kind
    plain = rc.ReLUProblem(X, y, cells, lam).solve(solver="clarabel", tol=TOL).objective
    assert pair.lower_bound <= plain + slack(plain)


def test_offset_problem_network_certifies_tightly():
    X, y, cells = line_data(4, n=12)
    y = y - 2.0
    lam = 0.01
    problem = rc.ReLUProblem(X, y, cells, lam, offset=True)
    result = problem.solve(solver="clarabel", tol=TOL)
    net = problem.to_network(result.weights)
    assert net.offset is not None and abs(float(net.offset)) > 1.0
    cert = rc.certify_network(net, X, y, lam)
    assert cert.objective == pytest.approx(result.objective, rel=1e-7)
    assert cert.lower_bound <= result.objective + slack(result.objective)
    assert cert.relative_gap <= 1e-6


def test_torch_network_with_output_bias_keeps_it():
    torch = pytest.importorskip("torch")
    from relu_convex.interop import network_from_torch

    rng = np.random.default_rng(0)
    Z = rng.standard_normal((20, 2))
    y = np.maximum(Z[:, 0], 0) + 3.0
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        module[2].bias.fill_(3.0)
    net = network_from_torch(module)
    X, lam = rc.add_bias(Z), 1e-2
    cert = rc.certify_network(net, X, y, lam)
    with torch.no_grad():
        out = module(torch.as_tensor(Z))[:, 0].numpy()
    assert cert.objective == pytest.approx(np.sum((out - y) ** 2) / (2 * len(y)) + lam * net.penalty(), rel=1e-12)
    assert cert.lower_bound <= cert.objective
