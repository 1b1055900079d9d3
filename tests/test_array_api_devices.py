"""The array-API route on a device other than the host's, without a GPU: array-api-strict's "device1".

array-api-strict refuses whatever the array-API standard leaves out (NumPy's
implicit indexing, for one) and any operation that mixes two devices, and
NumPy cannot read its "device1" arrays implicitly, as it cannot read a CUDA
tensor. A solve that finishes there has kept its iterates on the data's
device and moved to the host only through explicit copies: the path a CUDA
tensor takes (``tests/test_torch_solvers.py`` runs it on CUDA when a device
is present).
"""

import numpy as np
import pytest

xp = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed (pip install 'relu-convex[test]')")
pytest.importorskip("array_api_compat", reason="array-api-compat is not installed (pip install 'relu-convex[torch]')")

from conftest import planted_problem  # noqa: E402

import relu_convex as rc  # noqa: E402
from relu_convex.backend import ArrayAPIMaskedOperator, to_numpy  # noqa: E402
from relu_convex.operators import MaskedOperator  # noqa: E402

DEVICE = xp.Device("device1")
AGREE = {np.float64: 1e-8, np.float32: 1e-4}
TOL = {np.float64: 1e-9, np.float32: 1e-5}
SOLVERS = [(rc.GatedReLUProblem, "fista", (40, 4, 12, 1e-2, True, 1)), (rc.ReLUProblem, "al", (30, 3, 8, 1e-1, False, 0))]


def _on_device(problem, y=True):
    """The same problem with X (and y) on DEVICE; the patterns stay NumPy."""
    y = xp.asarray(problem.y, device=DEVICE) if y else problem.y
    return type(problem)(xp.asarray(problem.X, device=DEVICE), y, problem.patterns, problem.lam)


def _options(solver, dtype):
    return {"tol": TOL[dtype], "max_iter": 20_000} | ({"feas_tol": TOL[dtype]} if solver == "al" else {})


def _assert_on_device(arrays, shape=None):
    for a in arrays if isinstance(arrays, (tuple, list)) else [arrays]:
        assert type(a).__module__.startswith("array_api_strict") and a.device == DEVICE
        if shape is not None:
            assert tuple(a.shape) == shape


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("cls", "solver", "case"), SOLVERS, ids=["fista", "al"])
def test_solve_on_a_second_device_matches_numpy(cls, solver, case, dtype):
    n, d, p, lam, bias, seed = case
    problem = planted_problem(cls, n, d, p, lam, bias=bias, seed=seed, dtype=dtype)
    want = problem.solve(solver=solver, **_options(solver, dtype))
    on_device = _on_device(problem)
    assert on_device.backend == "array_api_strict" and on_device.device == str(DEVICE)
    got = on_device.solve(solver=solver, **_options(solver, dtype))

    assert got.device == str(DEVICE)
    _assert_on_device(got.weights, problem.weight_shape)
    assert all(w.dtype == xp.asarray(np.zeros(1, dtype)).dtype for w in (got.weights if solver == "al" else [got.weights]))
    assert got.status == want.status and got.success
    assert abs(got.objective - want.objective) <= AGREE[dtype] * want.objective
    assert got.objective == pytest.approx(problem.objective(tuple(map(to_numpy, got.weights)) if solver == "al"
                                                            else to_numpy(got.weights)), rel=1e-12)
    if solver == "al":
        _assert_on_device(got.info["multipliers"], (n, p))


@pytest.mark.parametrize(("cls", "solver", "case"), SOLVERS, ids=["fista", "al"])
def test_warm_starts_and_several_outputs_stay_on_the_device(cls, solver, case):
    n, d, p, lam, bias, seed = case
    problem = _on_device(planted_problem(cls, n, d, p, lam, bias=bias, seed=seed), y=False)  # NumPy y moves to X's device
    options = _options(solver, np.float64)
    first = problem.solve(solver=solver, **options)
    warm = {"weights0": first.weights} | ({"multipliers0": first.info["multipliers"]} if solver == "al" else {})
    again = problem.solve(solver=solver, **options, **warm)
    assert again.success and again.iterations < first.iterations
    assert abs(again.objective - first.objective) <= 1e-8 * first.objective

    two = planted_problem(cls, n, d, p, lam, bias=bias, seed=seed, outputs=2)
    got = _on_device(two).solve(solver=solver, **options)
    want = two.solve(solver=solver, **options)
    assert got.success and abs(got.objective - want.objective) <= 1e-8 * want.objective
    _assert_on_device(got.weights, (2,) + problem.weight_shape)
    if solver == "al":
        _assert_on_device(got.info["multipliers"], (2, n, p))


def test_inputs_on_two_devices_are_refused():
    problem = planted_problem(rc.GatedReLUProblem, 20, 3, 5, 1e-1, bias=False)
    X = xp.asarray(problem.X, device=DEVICE)
    with pytest.raises(ValueError, match="^y must be on X's device"):
        rc.GatedReLUProblem(X, xp.asarray(problem.y), problem.patterns, 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_operator_on_a_second_device(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    masks = rc.activation_patterns(X, rc.sample_gates(4, 6, seed=1))
    op = ArrayAPIMaskedOperator(xp.asarray(X.astype(dtype), device=DEVICE), xp.asarray(masks, device=DEVICE))
    ref = MaskedOperator(X, masks)
    U, r, Z = rng.standard_normal((6, 4)), rng.standard_normal(30), rng.standard_normal((30, 6))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for method, arg in (("forward", U), ("adjoint", r), ("cone", U), ("cone_adjoint", Z)):
        out = getattr(op, method)(xp.asarray(arg.astype(dtype), device=DEVICE))
        _assert_on_device(out)
        want = getattr(ref, method)(arg)
        np.testing.assert_allclose(to_numpy(out), want, rtol=tol, atol=tol * np.max(np.abs(want)), err_msg=method)
