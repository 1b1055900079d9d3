"""The fused numba kernels of the "al" solver against the NumPy computation they replace."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from conftest import SOLVER_CASES, planted_problem

import relu_convex as rc
from relu_convex.solvers import SolveStatus
from relu_convex.solvers.augmented_lagrangian import AugmentedPart, solve_al
from relu_convex.solvers.proximal import ArrayOps, extrapolate_products, fista, group_norm_sum, group_soft_threshold

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="numba is not installed (pip install 'relu-convex[numba]')")
DTYPES = [np.float64, np.float32]
# float64: to rounding; float32: a few float32 roundings of sums of O(1) terms
REL = {np.float64: 1e-12, np.float32: 1e-5}


def kernels():
    from relu_convex.solvers import al_kernels

    return al_kernels


def state(dtype, seed: int = 0, n: int = 50, d: int = 4, p: int = 12):
    """A problem, sparse multipliers (with entries on the bar a = rho c), products of two points, rho."""
    problem = planted_problem(rc.ReLUProblem, n, d - 1, p, 1e-2, bias=True, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 10)
    x, x_prev = rng.standard_normal((2, 2 * problem.p, problem.d)).astype(dtype)
    x[0] = 0.0  # v_0 = 0: its cone values vanish
    rho = 0.3
    mult = (np.abs(rng.standard_normal((2, problem.n, problem.p))) * (rng.random((2, problem.n, problem.p)) < 0.3))
    mult = mult.astype(dtype)
    C = AugmentedPart(problem.operator, problem.y, mult, rho).forward(x)
    mult[0, :5, 3] = (C[0, :5, 3] * dtype(rho)).clip(0)  # a = fl(rho c): t = 0 exactly
    return problem, mult, rho, x, x_prev


def parts(problem, mult, rho):
    return (AugmentedPart(problem.operator, problem.y, mult, rho),
            kernels().FusedAugmentedPart(problem.operator, problem.y, mult, rho))


def signs(problem):
    return (2.0 * problem.patterns - 1.0).astype(problem.operator.dtype)


def test_import_does_not_load_numba():
    code = "import sys, relu_convex, relu_convex.solvers\nassert 'numba' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- kernels against the NumPy formulas -----------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_cone_pass_matches_numpy(dtype):
    K = kernels()
    problem, mult, rho, x, _ = state(dtype)
    n, p = problem.n, problem.p
    U = np.matmul(problem.X, x.reshape(2, p, problem.d).transpose(0, 2, 1))
    C = U * signs(problem)
    a_index = np.flatnonzero(mult > 0)
    pred, support_t = np.empty(n, dtype=dtype), np.empty(a_index.size, dtype=dtype)
    flags = np.zeros(-(-2 * n * p // 8) * 8, dtype=np.uint8)
    index_out, t_out = np.empty(2 * n * p, dtype=np.intp), np.empty(2 * n * p, dtype=dtype)
    neg_rho = dtype(-rho)
    count, smallest = K.cone_pass(U, np.ascontiguousarray(problem.patterns).view(np.uint8), True, pred, a_index,
                                  mult.ravel()[a_index], neg_rho, support_t, flags, index_out, t_out)
    t = (C * neg_rho + mult).ravel()  # the NumPy part's rounding of a - rho c
    np.testing.assert_array_equal(support_t, t[a_index])
    violated = np.flatnonzero((C.ravel() < 0) & (mult.ravel() == 0))
    np.testing.assert_array_equal(index_out[:count], violated)
    np.testing.assert_array_equal(t_out[:count], t[violated])
    assert smallest == min(float(C.min()), 0.0)
    M = problem.operator.mask
    expected = np.einsum("np,np->n", C[0], M) - np.einsum("np,np->n", C[1], M)
    np.testing.assert_allclose(pred, expected, rtol=REL[dtype], atol=REL[dtype] * np.abs(C).sum(axis=(0, 2)).max())


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [0.0, 0.7])
def test_gradient_pass_matches_numpy(dtype, beta):
    K = kernels()
    problem, mult, rho, x, x_prev = state(dtype, seed=1)
    n, p = problem.n, problem.p
    V = lambda z: z.reshape(2, p, problem.d).transpose(0, 2, 1)  # noqa: E731
    U, U_prev = np.matmul(problem.X, V(x)), np.matmul(problem.X, V(x_prev))
    if beta == 0.0:
        U_prev = U  # the point of U itself
    S = signs(problem)
    Cz = extrapolate_products(U * S, U_prev * S, beta)  # the NumPy part's momentum values
    rs = (np.random.default_rng(2).standard_normal(n) * 0.1).astype(dtype)
    neg_rho = dtype(-rho)
    q = np.maximum(Cz * neg_rho + mult, 0)
    H_numpy = np.stack([problem.operator.mask * rs[:, None], -(problem.operator.mask * rs[:, None])]) + S * q
    a_index = np.flatnonzero(mult > 0)
    support_q = np.empty(a_index.size, dtype=dtype)
    flags = np.zeros(-(-2 * n * p // 8) * 8, dtype=np.uint8)
    index_out, q_out = np.empty(2 * n * p, dtype=np.intp), np.empty(2 * n * p, dtype=dtype)
    H = np.empty((2, n, p), dtype=dtype)
    count, total = K.gradient_pass(U, U_prev, dtype(beta), np.ascontiguousarray(problem.patterns).view(np.uint8), rs,
                                   a_index, mult.ravel()[a_index], neg_rho, support_q, flags, index_out, q_out, H,
                                   np.empty(p, dtype=dtype))
    np.testing.assert_array_equal(-H, H_numpy)  # the kernel stores -H, entry by entry the same roundings
    np.testing.assert_array_equal(support_q, q.ravel()[a_index])
    violated = np.flatnonzero((Cz.ravel() < 0) & (mult.ravel() == 0))
    np.testing.assert_array_equal(index_out[:count], violated)
    np.testing.assert_array_equal(q_out[:count], q.ravel()[violated])
    q64 = q.astype(np.float64)
    assert total == pytest.approx(float(np.vdot(q64, q64)), rel=1e-12)


@needs_numba
def test_collect_flags_matches_flatnonzero():
    K = kernels()
    rng = np.random.default_rng(0)
    for size, share in ((64, 0.0), (800, 0.03), (800, 0.5), (8, 1.0)):
        flags = (rng.random(size) < share).astype(np.uint8)
        flags[-1] = share > 0  # the last byte of the last word
        out = np.empty(size, dtype=np.intp)
        count = K.collect_flags(flags, out)
        np.testing.assert_array_equal(out[:count], np.flatnonzero(flags))


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_ops_match_numpy(dtype):
    ops = kernels().FusedOps()
    rng = np.random.default_rng(3)
    v = rng.standard_normal((30, 5)).astype(dtype)
    v[2] = 0.0
    v[4] *= 1e-3  # below the threshold: the row vanishes
    shrunk, expected = ops.soft_threshold(v, 0.05), group_soft_threshold(v, 0.05)
    assert shrunk.dtype == dtype
    np.testing.assert_array_equal(shrunk == 0, expected == 0)
    np.testing.assert_allclose(shrunk, expected, rtol=10 * np.finfo(dtype).eps, atol=0)
    assert ops.group_norm_sum(v) == pytest.approx(group_norm_sum(v), rel=REL[dtype])
    assert ops.max_row_norm(v) == pytest.approx(ArrayOps.max_row_norm(v), rel=REL[dtype])
    assert ops.max_row_norm(v[:0]) == 0.0


# -- the fused part against the NumPy part --------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_part_matches_numpy_part(dtype):
    problem, mult, rho, x, x_prev = state(dtype, seed=2)
    ref, fused = parts(problem, mult, rho)
    rel = REL[dtype]
    C, C_prev = ref.forward(x), ref.forward(x_prev)
    U, U_prev = fused.forward(x), fused.forward(x_prev)
    np.testing.assert_array_equal(fused.cone_values(U), C)  # raw products, exact signs
    assert fused.smallest_cone_value(U) == min(float(C.min()), 0.0)
    for beta in (0.0, 0.6):
        point, point_ref = (fused.extrapolate(U, U_prev, beta), ref.extrapolate(C, C_prev, beta)) if beta else (U, C)
        np.testing.assert_array_equal(fused.cone_values(point), point_ref)
        ev, ev_ref = fused.evaluate(point), ref.evaluate(point_ref)
        assert ev.value == pytest.approx(ev_ref.value, rel=rel)
        np.testing.assert_allclose(ev.grad, ev_ref.grad, rtol=0, atol=rel * np.abs(ev_ref.grad).max())
        np.testing.assert_array_equal(fused.dense_estimates(ev), ev_ref.aux[1])  # the same numbers, exactly
        np.testing.assert_allclose(ev.aux[0], ev_ref.aux[0], rtol=0, atol=rel * np.abs(problem.y).max())
        assert fused.bregman(ev, U_prev) == pytest.approx(ref.bregman(ev_ref, C_prev), rel=100 * rel)
        np.testing.assert_allclose(fused.constraint_values(ev), ref.constraint_values(ev_ref), rtol=100 * rel)


@needs_numba
def test_fused_part_bregman_is_exact():
    problem, mult, rho, x, x_prev = state(np.float64, seed=3)
    _, fused = parts(problem, mult, rho)
    U, U_prev = fused.forward(x), fused.forward(x_prev)
    z = fused.extrapolate(U, U_prev, 0.5)
    ev_z = fused.evaluate(z)
    ev_x = fused.evaluate(U)
    D = fused.bregman(ev_z, U)
    step = x - (1.5 * x - 0.5 * x_prev)  # x minus the momentum point
    assert D >= 0
    assert D == pytest.approx(ev_x.value - ev_z.value - np.sum(ev_z.grad * step), rel=1e-9)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_fista_iterates_match_to_rounding(dtype):
    # the first iterations agree to rounding (later on, any two roundings drift apart, NumPy's own too)
    problem, mult, rho, x, _ = state(dtype, seed=4)
    runs = []
    for part in parts(problem, mult, rho):
        xs = []
        fista(part, problem.lam, x, max_iter=15, callback=lambda pr, xs=xs: xs.append(pr.x.copy()) and False)
        runs.append(xs)
    for x_ref, x_fused in zip(*runs, strict=True):
        np.testing.assert_allclose(x_fused, x_ref, rtol=0, atol=1e3 * REL[dtype] * np.abs(x_ref).max())


# -- whole solves ---------------------------------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("case", SOLVER_CASES[:3], ids=lambda c: f"n{c[0]}-p{c[2]}-lam{c[3]:g}")
def test_solve_with_kernels_matches_numpy_path(case):
    problem = planted_problem(rc.ReLUProblem, *case[:4], bias=case[4], seed=case[5])
    tol = 1e-6
    res = {k: solve_al(problem, tol=tol, feas_tol=1e-7, kernels=k) for k in ("numpy", "numba")}
    assert res["numba"].info["kernels"] == "numba" and res["numpy"].info["kernels"] == "numpy"
    assert res["numba"].status is res["numpy"].status is SolveStatus.OPTIMAL
    for a, b in (("numba", "numpy"), ("numpy", "numba")):
        # each certified bound holds for the other's objective: they agree within the solve tolerance
        assert res[a].lower_bound <= res[b].objective * (1 + 1e-9)
        assert res[a].objective == pytest.approx(res[b].objective, rel=tol)
        assert res[a].max_violation <= 1e-7


@needs_numba
def test_float32_solve_with_kernels():
    problem = planted_problem(rc.ReLUProblem, 40, 4, 12, 1e-2, bias=True, seed=1, dtype=np.float32)
    res = {k: solve_al(problem, tol=1e-4, feas_tol=1e-5, kernels=k) for k in ("numpy", "numba")}
    assert res["numba"].status is res["numpy"].status is SolveStatus.OPTIMAL
    assert res["numba"].objective == pytest.approx(res["numpy"].objective, rel=1e-4)
    assert res["numba"].weights[0].dtype == np.float32


@needs_numba
def test_auto_uses_the_kernels_when_numba_is_there():
    problem = planted_problem(rc.ReLUProblem, 30, 2, 6, 1e-2, bias=True, seed=0)
    assert problem.solve(solver="al", max_iter=20).info["kernels"] == "numba"


# -- the option -----------------------------------------------------------------------------------
def test_kernels_option_is_checked():
    problem = planted_problem(rc.ReLUProblem, 20, 2, 5, 1e-2, bias=True, seed=0)
    with pytest.raises(ValueError, match="kernels"):
        solve_al(problem, kernels="fast")


def test_without_numba_auto_falls_back_and_numba_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "relu_convex.solvers.al_kernels", raising=False)
    problem = planted_problem(rc.ReLUProblem, 20, 2, 5, 1e-2, bias=True, seed=0)
    assert solve_al(problem, max_iter=10).info["kernels"] == "numpy"
    with pytest.raises(ImportError, match=r"pip install 'relu-convex\[numba\]'"):
        solve_al(problem, kernels="numba")


def test_numba_kernels_refuse_tensors():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    problem = planted_problem(rc.ReLUProblem, 20, 2, 5, 1e-2, bias=True, seed=0)
    tensors = rc.ReLUProblem(torch.from_numpy(problem.X), torch.from_numpy(problem.y), problem.patterns, problem.lam)
    with pytest.raises(ValueError, match="kernels='numba'"):
        solve_al(tensors, kernels="numba")
    assert solve_al(tensors, max_iter=10).info["kernels"] == "array"
