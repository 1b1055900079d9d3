"""The first-order solvers on PyTorch tensors (CPU; CUDA when present) against the NumPy route and Clarabel."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'relu-convex[torch]')")
pytest.importorskip("array_api_compat", reason="array-api-compat is not installed (pip install 'relu-convex[torch]')")

from conftest import planted_problem  # noqa: E402

torch.set_num_threads(1)  # as conftest pins BLAS: small problems, a shared 2-core machine

import relu_convex as rc  # noqa: E402

# objective agreement with the NumPy route, per dtype; the solver tolerance per dtype
AGREE = {np.float64: 1e-8, np.float32: 1e-4}
TOL = {np.float64: 1e-9, np.float32: 1e-5}
SOLVERS = [(rc.GatedReLUProblem, "fista", (40, 4, 12, 1e-2, True, 1)), (rc.ReLUProblem, "al", (30, 3, 8, 1e-1, False, 0))]


def _as_tensors(problem, device="cpu"):
    """The same problem built from tensors (y and patterns as tensors too)."""
    return type(problem)(
        torch.as_tensor(problem.X, device=device), torch.as_tensor(problem.y, device=device),
        torch.as_tensor(problem.patterns, device=device), problem.lam,
    )


def _weights_list(w):
    return list(w) if isinstance(w, tuple) else [w]


def _check_against_numpy(cls, solver, case, dtype, device="cpu", outputs=None):
    n, d, p, lam, bias, seed = case
    problem = planted_problem(cls, n, d, p, lam, bias=bias, seed=seed, dtype=dtype, outputs=outputs)
    # the reference solves the same data (float32 values for float32 problems) in float64
    exact = cls(problem.X.astype(np.float64), problem.y.astype(np.float64), problem.patterns, lam)
    ref = exact.solve(solver="clarabel", tol=1e-9)
    options = {"tol": TOL[dtype], "max_iter": 20_000} | ({"feas_tol": TOL[dtype]} if solver == "al" else {})
    want = problem.solve(solver=solver, **options)
    got = _as_tensors(problem, device).solve(solver=solver, **options)

    assert got.backend == "torch" and got.device.startswith(device)
    for w in _weights_list(got.weights):
        assert isinstance(w, torch.Tensor) and w.dtype == torch.as_tensor(np.zeros(1, dtype)).dtype
        assert w.device.type == device and tuple(w.shape) == problem.weight_shape
    assert isinstance(got.dual, np.ndarray) and got.dual.dtype == np.float64
    assert got.status == want.status
    assert abs(got.objective - want.objective) <= AGREE[dtype] * want.objective
    # the objective is that of the returned weights, recomputed from host copies
    assert got.objective == pytest.approx(problem.objective(got.weights), rel=1e-12)
    # certified bounds never overclaim: never above the optimum (Clarabel's objective is above it)
    assert got.lower_bound <= ref.objective * (1 + 1e-9)
    assert got.lower_bound <= got.objective or got.max_violation > 0
    return got, want


# every test that takes a device runs on CUDA too when one is present (python -m pytest tests/test_torch_solvers.py -k cuda)
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available() is False)")
DEVICES = ["cpu", pytest.param("cuda", marks=NO_CUDA)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("cls", "solver", "case"), SOLVERS, ids=["fista", "al"])
def test_torch_matches_numpy(cls, solver, case, dtype, device):
    got, _ = _check_against_numpy(cls, solver, case, dtype, device=device)
    assert got.success and got.device.startswith(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("cls", "solver", "case"), SOLVERS, ids=["fista", "al"])
def test_torch_multi_output(cls, solver, case, device):
    got, _ = _check_against_numpy(cls, solver, case, np.float64, device=device, outputs=2)
    if solver == "al":
        A, B = got.info["multipliers"]
        c, p, _ = got.weights[0].shape
        assert isinstance(A, torch.Tensor) and isinstance(B, torch.Tensor) and A.device.type == device
        assert (tuple(A.shape), A.shape[2]) == ((c, 30, p), p)


@pytest.mark.parametrize("device", DEVICES)
def test_warm_starts_stay_on_the_device(device):
    problem = planted_problem(rc.ReLUProblem, 30, 3, 8, 1e-1, bias=False, seed=0)
    tp = _as_tensors(problem, device)
    first = tp.solve(solver="al", tol=1e-8, feas_tol=1e-8)
    again = tp.solve(solver="al", tol=1e-8, feas_tol=1e-8, weights0=first.weights, multipliers0=first.info["multipliers"])
    assert again.success and again.iterations < first.iterations
    assert all(w.device.type == device for w in again.weights)
    gp = _as_tensors(planted_problem(rc.GatedReLUProblem, 30, 3, 8, 1e-1, bias=False, seed=0), device)
    u = gp.solve(solver="fista", tol=1e-8)
    warm = gp.solve(solver="fista", tol=1e-8, weights0=u.weights)
    assert warm.success and warm.iterations < u.iterations and warm.weights.device.type == device


def test_warm_starts_and_mixed_inputs():
    problem = planted_problem(rc.ReLUProblem, 30, 3, 8, 1e-1, bias=False, seed=0)
    # numpy y and patterns go to X's device; tensors with requires_grad are detached
    X = torch.as_tensor(problem.X).requires_grad_(True)
    tp = rc.ReLUProblem(X, problem.y, problem.patterns, problem.lam)
    assert (tp.backend, tp.device) == ("torch", "cpu")
    first = tp.solve(solver="al", tol=1e-8, feas_tol=1e-8)
    again = tp.solve(solver="al", tol=1e-8, feas_tol=1e-8, weights0=first.weights, multipliers0=first.info["multipliers"])
    assert again.iterations < first.iterations
    gp = rc.GatedReLUProblem(X, torch.as_tensor(problem.y), problem.patterns, problem.lam)
    u = gp.solve(solver="fista", tol=1e-8)
    # a conic solver solves on the host and says so
    conic = gp.solve(solver="clarabel")
    assert conic.backend == "numpy" and isinstance(conic.weights, np.ndarray)
    assert "backend='torch'" in repr(u) and "backend" not in repr(conic)
    # numpy problems are unchanged
    assert planted_problem(rc.GatedReLUProblem, 20, 3, 5, 1e-1, bias=False).array_data is None


def test_bad_tensor_input_names_the_argument():
    problem = planted_problem(rc.GatedReLUProblem, 20, 3, 5, 1e-1, bias=False)
    X = torch.as_tensor(problem.X)
    with pytest.raises(ValueError, match="^X must contain only finite"):
        rc.GatedReLUProblem(torch.full_like(X, float("nan")), problem.y, problem.patterns, 0.1)
    with pytest.raises(ValueError, match="^y must have n = 20"):
        rc.GatedReLUProblem(X, torch.ones(19, dtype=X.dtype), problem.patterns, 0.1)
    with pytest.raises(TypeError, match="^patterns must be a boolean array"):
        rc.GatedReLUProblem(X, problem.y, torch.as_tensor(problem.patterns, dtype=torch.float64), 0.1)
    with pytest.raises(TypeError, match="^X must be real"):
        rc.GatedReLUProblem(torch.ones((20, 3), dtype=torch.complex64), problem.y, problem.patterns, 0.1)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="^y must be on X's device"):
            rc.GatedReLUProblem(X.cuda(), torch.as_tensor(problem.y), problem.patterns, 0.1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("cls", "solver", "case"), [
    (rc.ReLUProblem, "al", (200, 6, 40, 1e-3, True, 0)), (rc.ReLUProblem, "al", (150, 5, 30, 1e-3, False, 2)),
    (rc.GatedReLUProblem, "fista", (200, 6, 40, 1e-4, True, 1)), (rc.GatedReLUProblem, "fista", (300, 8, 40, 1e-4, True, 3)),
], ids=["al-0", "al-2", "fista-1", "fista-3"])
def test_float32_tensors_are_refined_on_the_host(cls, solver, case, device):
    # unrefined float32 iterations did not certify these in 20000 iterations (tests/test_float32_defaults.py)
    n, d, p, lam, bias, seed = case
    problem = planted_problem(cls, n, d, p, lam, bias=bias, seed=seed, dtype=np.float32)
    want = problem.solve(solver=solver, max_iter=20_000)
    got = _as_tensors(problem, device).solve(solver=solver, max_iter=20_000)
    assert got.status is want.status is rc.SolveStatus.OPTIMAL and got.info["polishes"] >= 1
    weights = _weights_list(got.weights)
    assert all(isinstance(w, torch.Tensor) and w.dtype == torch.float32 and w.device.type == device for w in weights)
    assert abs(got.objective - want.objective) <= AGREE[np.float32] * want.objective
    host = tuple(w.cpu().numpy() for w in weights)
    assert problem.certificate(host if solver == "al" else host[0], dual=got.dual).relative_gap <= 1e-4
