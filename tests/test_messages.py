"""Error messages name the argument the caller passed."""

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.paths import regularization_path


def test_warm_starts_of_the_wrong_shape_name_weights0():
    X, y, P = make_instance(0, n=20, p=8)
    p = P.shape[1]
    gated, relu = rc.GatedReLUProblem(X, y, P, 0.1), rc.ReLUProblem(X, y, P, 0.1)
    with pytest.raises(ValueError, match=rf"^weights0 must have shape \({p}, 4\)"):
        gated.solve(solver="fista", weights0=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^weights0 must have shape"):
        gated.solve(solver="clarabel", weights0=np.zeros((2, 2)), working_set=True)
    with pytest.raises(ValueError, match=r"^weights0\[0\] \(V\) must have shape"):
        relu.solve(solver="al", weights0=(np.zeros((2, 2)), np.zeros((p, 4))))
    with pytest.raises(TypeError, match=r"^weights0 for ReLUProblem must be a pair"):
        relu.solve(solver="al", weights0=np.zeros((p, 4)))
    with pytest.raises(TypeError, match=r"^weights0 for GatedReLUProblem must be one array"):
        gated.solve(solver="fista", weights0=(np.zeros((p, 4)),))
    # the weights of the other methods keep their name
    with pytest.raises(ValueError, match=r"^weights must have shape"):
        gated.objective(np.zeros((2, 2)))


@pytest.mark.parametrize("seed, exc", [("a", TypeError), (1.5, TypeError), (-1, ValueError), (object(), TypeError)])
def test_sample_gates_names_seed(seed, exc):
    with pytest.raises(exc, match=r"^seed must be None, an integer >= 0"):
        rc.sample_gates(3, 5, seed=seed)
    rng = np.random.default_rng(1)
    assert rc.sample_gates(3, 5, seed=rng).shape == (3, 5)
    np.testing.assert_array_equal(rc.sample_gates(3, 5, seed=7), rc.sample_gates(3, 5, seed=7))


@pytest.mark.parametrize("lams", ["abc", ["a", 1.0], [[1.0], [1.0, 2.0]], object()])
def test_regularization_path_names_lams(lams):
    X, y, P = make_instance(0, n=20, p=8)
    with pytest.raises(TypeError, match=r"^lams must be a non-empty 1-D sequence of numbers >= 0"):
        regularization_path(X, y, P, lams)
