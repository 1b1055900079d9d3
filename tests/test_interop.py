"""PyTorch and scikit-learn import/export: round trips and exact objective mapping."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import relu_convex as rc


def _data(n=30, d=3, c=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((4, d))
    shape = (4,) if c is None else (4, c)
    y = np.maximum(X @ W.T + 0.3, 0) @ rng.standard_normal(shape) + 0.5
    return X, y


def test_import_does_not_load_frameworks():
    code = (
        "import sys, relu_convex, relu_convex.interop\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_extra_names_the_extra(monkeypatch):
    from relu_convex.interop._extras import require

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install 'relu-convex\[torch\]'"):
        require("torch", "torch")


# -- PyTorch ---------------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'relu-convex[torch]')")


@pytest.mark.parametrize("hidden_bias,out_bias,c", [(True, True, 1), (False, True, 1), (True, False, 1), (True, True, 3)])
def test_torch_round_trip(torch, hidden_bias, out_bias, c):
    from relu_convex.interop import network_from_torch, network_to_torch

    X, y = _data(c=None if c == 1 else c)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 7, bias=hidden_bias, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(7, c, bias=out_bias, dtype=torch.float64),
    )
    net = network_from_torch(module)
    Xn = rc.add_bias(X) if hidden_bias else X
    with torch.no_grad():
        ref = module(torch.as_tensor(X)).numpy()
    ref = ref[:, 0] if c == 1 else ref
    np.testing.assert_allclose(net.predict(Xn), ref, rtol=1e-10, atol=1e-12)
    assert (net.offset is None) == (not out_bias)
    back = network_to_torch(net, bias=hidden_bias)
    with torch.no_grad():
        again = back(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(again[:, 0] if c == 1 else again, ref, rtol=1e-10, atol=1e-12)
    net2 = network_from_torch(back)
    np.testing.assert_array_equal(net2.W1, net.W1)
    np.testing.assert_array_equal(net2.w2, net.w2)
    # the objective in torch (1/(2n) sum of squares + lam/2 * decayed params) equals ours
    lam = 0.03
    with torch.no_grad():
        r = module(torch.as_tensor(X)) - torch.as_tensor(y).reshape(len(y), -1)
        decayed = module[0].weight.square().sum() + module[2].weight.square().sum()
        if hidden_bias:
            decayed = decayed + module[0].bias.square().sum()
        torch_obj = float(r.square().sum() / (2 * len(y)) + lam / 2 * decayed)
    assert abs(net.objective(Xn, y, lam) - torch_obj) <= 1e-10 * torch_obj


def test_torch_weight_decay_mapping(torch):
    from relu_convex.interop import lam_from_weight_decay, network_from_torch

    X, y = _data()
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.ReLU(), torch.nn.Linear(5, 1, dtype=torch.float64))
    wd = 0.02
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(module(torch.as_tensor(X))[:, 0], torch.as_tensor(y))
        decayed = sum(p.square().sum() for name, p in module.named_parameters() if name != "2.bias")
        T = float(mse + wd / 2 * decayed)
    net = network_from_torch(module)
    assert abs(net.objective(rc.add_bias(X), y, lam_from_weight_decay(wd)) - T / 2) <= 1e-12 * T


def test_torch_float32_and_errors(torch):
    from relu_convex.interop import network_from_torch, network_to_torch

    module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    net = network_from_torch(module)
    assert net.W1.dtype == np.float32
    assert network_to_torch(net)[0].weight.dtype == torch.float32
    with pytest.raises(TypeError, match="nn.Sequential"):
        network_from_torch(torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)))
    with pytest.raises(TypeError, match="nn.Sequential"):
        network_from_torch(torch.nn.Linear(2, 4))
    with pytest.raises(TypeError, match="not gated"):
        network_to_torch(rc.GatedReLUNetwork(np.ones((2, 1)), np.ones((1, 2)), np.ones(1)))


# -- scikit-learn ----------------------------------------------------------------------------


@pytest.fixture
def ski():
    """The scikit-learn interop module (skips without scikit-learn)."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'relu-convex[sklearn]')")
    from relu_convex.interop import sklearn as module

    return module


@pytest.fixture
def MLPRegressor():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'relu-convex[sklearn]')")
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor


def _fit(MLPRegressor, X, y, alpha=0.3, solver="lbfgs", max_iter=50):
    mlp = MLPRegressor(hidden_layer_sizes=(6,), activation="relu", alpha=alpha, solver=solver, max_iter=max_iter, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few iterations on purpose
        return mlp.fit(X, y)


def _sklearn_internal_loss(mlp, X, y):
    """scikit-learn's own loss at the final weights, through its backpropagation (the loss L-BFGS and Adam minimize)."""
    Y = y.reshape(len(y), -1)
    activations = [X] + [None] * (mlp.n_layers_ - 1)
    deltas = [None] * (mlp.n_layers_ - 1)
    coef_grads = [np.empty_like(a) for a in mlp.coefs_]
    intercept_grads = [np.empty_like(b) for b in mlp.intercepts_]
    loss, _, _ = mlp._backprop(X, Y, None, activations, deltas, coef_grads, intercept_grads)
    return float(loss)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_trained_mlp_objective_equals_sklearn_loss(ski, MLPRegressor, solver):
    X, y = _data(n=40)
    mlp = _fit(MLPRegressor, X, y, solver=solver)
    net = ski.network_from_sklearn(mlp)
    Xb = rc.add_bias(X)
    np.testing.assert_allclose(net.predict(Xb), mlp.predict(X), rtol=1e-12, atol=1e-12)
    lam = ski.lam_from_alpha(mlp.alpha, len(y))
    ours = net.objective(Xb, y, lam, unpenalized=(-1,))
    internal = _sklearn_internal_loss(mlp, X, y)
    assert abs(ours - internal) <= 1e-10 * internal
    assert abs(ski.sklearn_loss(mlp, X, y) - internal) <= 1e-12 * internal
    if solver == "lbfgs":  # L-BFGS stores the loss at its final point
        assert abs(ours - mlp.loss_) <= 1e-10 * mlp.loss_
    # penalizing the bias, or a different lam, gives a different number
    assert abs(net.objective(Xb, y, lam) - internal) > 1e-6 * internal
    assert ski.alpha_from_lam(lam, len(y)) == pytest.approx(mlp.alpha, rel=1e-15)


def test_multi_output_scaling(ski, MLPRegressor):
    X, y = _data(n=35, c=3)
    mlp = _fit(MLPRegressor, X, y)
    net = ski.network_from_sklearn(mlp)
    assert net.w2.shape == (6, 3) and net.offset.shape == (3,)
    ours = net.objective(rc.add_bias(X), y, ski.lam_from_alpha(mlp.alpha, len(y), 3), unpenalized=(-1,))
    internal = _sklearn_internal_loss(mlp, X, y)
    assert abs(ours - 3 * internal) <= 1e-10 * ours


def test_sklearn_round_trip(ski, MLPRegressor):
    X, y = _data(n=25)
    mlp = _fit(MLPRegressor, X, y)
    net = ski.network_from_sklearn(mlp)
    back = ski.network_to_sklearn(net, alpha=mlp.alpha)
    np.testing.assert_allclose(back.predict(X), mlp.predict(X), rtol=1e-10, atol=1e-12)
    assert abs(ski.sklearn_loss(back, X, y) - ski.sklearn_loss(mlp, X, y)) <= 1e-12 * ski.sklearn_loss(mlp, X, y)
    net2 = ski.network_from_sklearn(back)
    np.testing.assert_array_equal(net2.W1, net.W1)
    # a convex solution exported to scikit-learn predicts the same
    P = rc.activation_patterns(rc.add_bias(X), rc.sample_gates(4, 8, seed=0))
    problem = rc.ReLUProblem(rc.add_bias(X), y, P, 1e-2, unpenalized=(-1,), offset=True)
    result = problem.solve(tol=1e-9)
    convex_net = problem.to_network(result.weights)
    est = ski.network_to_sklearn(convex_net, alpha=ski.alpha_from_lam(problem.lam, len(y)))
    np.testing.assert_allclose(est.predict(X), convex_net.predict(rc.add_bias(X)), rtol=1e-10, atol=1e-12)
    assert abs(ski.sklearn_loss(est, X, y) - result.objective) <= 1e-6 * result.objective


def test_certify_trained_mlp(ski, MLPRegressor):
    X, y = _data(n=18, d=2, seed=3)
    mlp = _fit(MLPRegressor, X, y, alpha=0.2, max_iter=30)
    cert = ski.certify_mlp(mlp, X, y)
    assert "exact patterns" in cert.objective_name
    assert abs(cert.objective - ski.sklearn_loss(mlp, X, y)) <= 1e-10 * cert.objective
    # the global optimum (C-ReLU over the exact set, same objective) lies between bound and objective
    Xb = rc.add_bias(X)
    problem = rc.ReLUProblem(Xb, y, rc.enumerate_patterns(Xb), ski.lam_from_alpha(0.2, len(y)), unpenalized=(-1,), offset=True)
    best = problem.solve(tol=1e-9)
    assert cert.lower_bound <= best.objective * (1 + 1e-9)
    assert best.objective <= cert.objective * (1 + 1e-9)
    assert cert.lower_bound > 0.5 * best.objective  # informative, not the trivial bound


def test_sklearn_errors(ski, MLPRegressor):
    X, y = _data(n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few iterations on purpose
        tanh = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", max_iter=5).fit(X, y)
        deep = MLPRegressor(hidden_layer_sizes=(3, 3), max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="ReLU"):
        ski.network_from_sklearn(tanh)
    with pytest.raises(ValueError, match="one hidden layer"):
        ski.network_from_sklearn(deep)
    with pytest.raises(TypeError, match="MLPRegressor"):
        ski.network_from_sklearn(object())
    with pytest.raises(ValueError, match="alpha"):
        ski.lam_from_alpha(-1.0, 10)


def test_estimators_without_sklearn_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "relu_convex.estimators", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'relu-convex\[sklearn\]'"):
        import relu_convex.estimators  # noqa: F401


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda ski, t: ski.lam_from_alpha(1e-3, 10, n_outputs=-2), "n_outputs"),
        (lambda ski, t: ski.lam_from_alpha(1e-3, 10, n_outputs=0), "n_outputs"),
        (lambda ski, t: ski.lam_from_alpha(1e-3, 0), "n_samples"),
        (lambda ski, t: ski.lam_from_alpha(1e-3, 2.7), "n_samples"),
        (lambda ski, t: ski.lam_from_alpha(1e-3, True), "n_samples"),
        (lambda ski, t: ski.lam_from_alpha(1e-3, 10, n_outputs=1.5), "n_outputs"),
        (lambda ski, t: ski.alpha_from_lam(0.1, -5), "n_samples"),
        (lambda ski, t: ski.alpha_from_lam(0.1, 10, n_outputs=0), "n_outputs"),
        (lambda ski, t: ski.alpha_from_lam(0.1, float("nan")), "n_samples"),
        (lambda ski, t: t.lam_from_weight_decay(0.1, n_outputs=-1), "n_outputs"),
        (lambda ski, t: t.lam_from_weight_decay(0.1, n_outputs=0), "n_outputs"),
        (lambda ski, t: t.lam_from_weight_decay(0.1, n_outputs=2.5), "n_outputs"),
    ],
)
def test_conversion_counts_must_be_positive_integers(ski, call, name):
    from relu_convex.interop import torch as torch_interop

    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        call(ski, torch_interop)


def test_conversion_counts_accept_numpy_and_integral_values(ski):
    from relu_convex.interop import lam_from_weight_decay

    assert ski.lam_from_alpha(0.3, np.int64(10), n_outputs=np.int32(2)) == 2 * 0.3 / 10
    assert ski.lam_from_alpha(0.3, 10.0) == 0.3 / 10
    assert ski.alpha_from_lam(0.06, np.uint8(10), n_outputs=np.int64(2)) == 10 * 0.06 / 2
    assert lam_from_weight_decay(0.1, n_outputs=np.int64(3)) == 3 * 0.1 / 2


def test_certify_mlp_checks_shapes_against_the_model(ski, MLPRegressor):
    X, y = _data(n=18, d=2, seed=3)
    mlp = _fit(MLPRegressor, X, y, alpha=0.2, max_iter=30)
    message = r"y must have shape \(18,\) or \(18, 1\) for an MLPRegressor with 1 output\(s\), got shape \(18, 2\)"
    with pytest.raises(ValueError, match=message):
        ski.certify_mlp(mlp, X, np.c_[y, -y])
    with pytest.raises(ValueError, match=message):
        ski.sklearn_loss(mlp, X, np.c_[y, -y])
    with pytest.raises(ValueError, match=r"X must have 2 columns .* got shape \(18, 1\)"):
        ski.certify_mlp(mlp, X[:, :1], y)
    # a column of targets is the same one output
    column = ski.certify_mlp(mlp, X, y[:, None])
    assert column.lower_bound == ski.certify_mlp(mlp, X, y).lower_bound
