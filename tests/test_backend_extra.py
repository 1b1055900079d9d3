"""Tensors without array-api-compat: an ImportError naming the extra, never a silent NumPy route."""

import sys

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.backend import is_foreign_array, require_array_api


@pytest.fixture
def no_array_api_compat(monkeypatch):
    """Make ``import array_api_compat`` fail, whether or not it is installed."""
    monkeypatch.setitem(sys.modules, "array_api_compat", None)


def test_tensor_problems_need_array_api_compat(no_array_api_compat):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'relu-convex[torch]')")
    X, y, P = make_instance(0, n=20, p=8)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    assert is_foreign_array(Xt) and not is_foreign_array(X) and not is_foreign_array([1.0, 2.0])
    for cls in (rc.GatedReLUProblem, rc.ReLUProblem):
        with pytest.raises(ImportError, match=r"^X is a torch\.Tensor: .*pip install 'relu-convex\[torch\]'"):
            cls(Xt, yt, P, 0.1)
        with pytest.raises(ImportError, match=r"^X is a torch\.Tensor"):
            cls(Xt, y, P, 0.1)
    # NumPy data (with targets given as a tensor, copied to the host) keeps working
    problem = rc.GatedReLUProblem(X, yt, P, 0.1)
    assert problem.backend == "numpy"
    assert problem.solve(solver="fista").status is rc.SolveStatus.OPTIMAL


def test_require_array_api_names_the_argument(no_array_api_compat):
    class Foreign:
        def __dlpack__(self):  # pragma: no cover - never called
            raise NotImplementedError

    assert is_foreign_array(Foreign())
    with pytest.raises(ImportError, match=r"^weights is a .*Foreign: .*pip install 'relu-convex\[torch\]'"):
        require_array_api(Foreign(), "weights")


def test_with_array_api_compat_tensors_stay_tensors():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'relu-convex[torch]')")
    pytest.importorskip("array_api_compat", reason="array-api-compat is not installed (pip install 'relu-convex[torch]')")
    X, y, P = make_instance(0, n=20, p=8)
    problem = rc.GatedReLUProblem(torch.as_tensor(X), torch.as_tensor(y), P, 0.1)
    assert problem.backend == "torch"
    result = problem.solve(solver="fista")
    assert isinstance(result.weights, torch.Tensor) and result.backend == "torch"
    assert np.isfinite(result.objective)
