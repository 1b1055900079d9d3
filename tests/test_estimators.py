"""scikit-learn estimators: the estimator checks, fitted attributes and certificates."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install 'relu-convex[sklearn]')")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import relu_convex as rc  # noqa: E402
from relu_convex.estimators import ConvexReLUClassifier, ConvexReLURegressor  # noqa: E402


@parametrize_with_checks([ConvexReLURegressor(), ConvexReLUClassifier(), ConvexReLURegressor(model="gated"), ConvexReLUClassifier(model="gated")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _regression(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d) + 0.2, 0) - 0.5 * X[:, 0]
    return X, y


@pytest.mark.parametrize("model", ["relu", "gated"])
def test_regressor_attributes_and_certificate(model):
    X, y = _regression()
    est = ConvexReLURegressor(model=model, lam=1e-3, n_gates=12, random_state=0, tol=1e-9).fit(X, y)
    problem_cls = rc.ReLUProblem if model == "relu" else rc.GatedReLUProblem
    problem = problem_cls(rc.add_bias(X), y, est.patterns_, 1e-3)
    # the certificate is that of the fitted weights for the same program, and tight at the optimum
    assert est.certificate_.program == problem.program
    assert abs(est.certificate_.objective - problem.objective(est.weights_)) <= 1e-12 * est.certificate_.objective
    assert est.certificate_.relative_gap <= 1e-6
    # the network reproduces the convex model on the training data and predicts new data
    np.testing.assert_allclose(est.network_.predict(rc.add_bias(X)), problem.predict(est.weights_), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(est.predict(X), est.network_.predict(rc.add_bias(X)))
    assert est.score(X, y) > 0.9
    assert est.gates_.shape == (X.shape[1] + 1, est.patterns_.shape[1])
    np.testing.assert_array_equal(rc.add_bias(X) @ est.gates_ >= 0, est.patterns_)


def test_regressor_exact_patterns_match_global_optimum():
    X, y = _regression(n=12, d=2, seed=1)
    est = ConvexReLURegressor(patterns="exact", lam=1e-2, tol=1e-9).fit(X, y)
    Xb = rc.add_bias(X)
    np.testing.assert_array_equal(est.patterns_, rc.enumerate_patterns(Xb))
    net_obj = est.network_.objective(Xb, y, 1e-2)
    assert abs(net_obj - est.certificate_.objective) <= 1e-6 * net_obj
    assert est.certificate_.lower_bound <= net_obj


def test_classifier_multiclass_and_binary():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, y = sklearn_datasets.load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = ConvexReLUClassifier(model="gated", lam=1e-3, n_gates=10, random_state=0).fit(X, y)
    assert clf.decision_function(X).shape == (150, 3)
    assert clf.score(X, y) > 0.9
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    labels = np.where(y == 0, "setosa", "other")
    binary = ConvexReLUClassifier(lam=1e-3, n_gates=8, random_state=0).fit(X, labels)
    scores = binary.decision_function(X)
    assert scores.shape == (150,)
    np.testing.assert_array_equal(binary.predict(X), np.where(scores > 0, binary.classes_[1], binary.classes_[0]))
    assert binary.score(X, labels) >= 0.98  # least squares on +-1 targets, not a max-margin fit


def test_bad_parameters_fail_in_fit():
    X, y = _regression(n=10)
    for params, match in [
        ({"model": "cnn"}, "model"),
        ({"lam": -1.0}, "lam"),
        ({"n_gates": 0}, "n_gates"),
        ({"patterns": "all"}, "patterns"),
        ({"solver": "nope"}, "solver"),
    ]:
        with pytest.raises(ValueError, match=match):
            ConvexReLURegressor(**params).fit(X, y)


@pytest.mark.parametrize("model", ["relu", "gated"])
def test_offset_and_unpenalized_bias(model):
    from relu_convex.interop import alpha_from_lam, network_to_sklearn, sklearn_loss

    X, y = _regression(n=30, seed=2)
    y = y + 5.0
    # C-GReLU with an unpenalized bias is degenerate, so the gated model keeps the bias penalized
    penalize = model == "gated"
    est = ConvexReLURegressor(model=model, lam=1e-2, n_gates=10, offset=True, penalize_bias=penalize, random_state=0, tol=1e-9).fit(X, y)
    cls = rc.ReLUProblem if model == "relu" else rc.GatedReLUProblem
    problem = cls(rc.add_bias(X), y, est.patterns_, 1e-2, unpenalized=() if penalize else (-1,), offset=True)
    assert est.certificate_.objective == pytest.approx(problem.objective(est.weights_), rel=1e-12)
    assert "offset" in est.certificate_.objective_name
    assert est.certificate_.relative_gap <= 1e-6
    np.testing.assert_allclose(est.network_.offset, problem.offset_value(est.weights_), rtol=1e-12)
    np.testing.assert_allclose(est.predict(X), problem.predict(est.weights_) + est.network_.offset, rtol=1e-6, atol=1e-6)
    if model == "relu":
        # the fitted convex model, exported, is an MLPRegressor whose own loss is the certified objective
        mlp = network_to_sklearn(est.network_, alpha=alpha_from_lam(1e-2, len(y)))
        assert sklearn_loss(mlp, X, y) == pytest.approx(est.certificate_.objective, rel=1e-6)
    with pytest.raises(ValueError, match="degenerate"):
        ConvexReLURegressor(model="gated", penalize_bias=False).fit(X, y)


def _diabetes():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    return sklearn_datasets.load_diabetes(return_X_y=True)


@pytest.mark.parametrize("model", ["relu", "gated"])
def test_certificate_verifies_the_solver_bound(model):
    from relu_convex.fitting import make_problem

    X, y = _diabetes()
    reg = ConvexReLURegressor(model=model, lam=1e-2, n_gates=32, random_state=0).fit(X, y)
    result, cert = reg.solve_result_, reg.certificate_
    assert result.status.value == "optimal"
    assert cert.objective == result.objective
    # the bound verified at the solver's dual point (NNLS multipliers) is the solver's, to rounding
    assert cert.lower_bound == pytest.approx(result.lower_bound, rel=1e-11)
    assert cert.relative_gap <= reg.tol
    problem = make_problem(model, rc.add_bias(X), y, reg.patterns_, 1e-2)
    assert cert.lower_bound == problem.certificate(result.weights, dual=result.dual).lower_bound
    # never above the optimum: the interior-point optimum over the same patterns
    reference = problem.solve(solver="clarabel", tol=1e-9)
    assert cert.lower_bound <= reference.objective * (1 + 1e-12)


def test_multi_output_certificate_verifies_the_solver_bound():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, y = sklearn_datasets.load_iris(return_X_y=True)
    clf = ConvexReLUClassifier(lam=1e-3, n_gates=10, random_state=0).fit(X, y)
    assert clf.certificate_.lower_bound == pytest.approx(clf.solve_result_.lower_bound, rel=1e-11)
    assert clf.certificate_.relative_gap <= clf.tol
