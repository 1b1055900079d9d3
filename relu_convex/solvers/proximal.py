r"""Restarted accelerated proximal gradient (FISTA) for smooth + group-norm objectives.

The engine minimizes

.. math::

    F(x) = f(x) + \lambda \sum_i \|x_i\|_2,

where the rows :math:`x_i` of ``x`` (last axis) are the groups and ``f`` is
smooth and convex. ``f`` is given by a :class:`SmoothPart`, which works on the
*products* of a point: any array ``P = forward(x)`` that is linear in ``x``
(the predictions, or the products with the data) and from which ``f`` and its
gradient follow. Linearity lets the momentum point reuse the products of the
last two iterates, :math:`P(z) = P(x_k) + \beta (P(x_k) - P(x_{k-1}))`, so an
iteration that accepts its first step size costs one ``forward`` (at the new
iterate) and one gradient (adjoint) product.

Each iteration

1. evaluates :math:`f(z)` and :math:`\nabla f(z)` at the momentum point ``z``;
2. takes the proximal step
   :math:`x^+ = \mathrm{prox}_{t\lambda\|\cdot\|}(z - t\nabla f(z))`, the
   group soft-threshold :math:`x_i^+ = \max(0, 1 - t\lambda/\|v_i\|)\, v_i`;
3. accepts it when :math:`f(x^+) \le f(z) + \langle\nabla f(z), x^+ - z\rangle
   + \|x^+ - z\|^2 / (2t)` (backtracking; the excess on the left is the Bregman
   divergence, which the smooth part computes without cancellation), and
   otherwise shrinks ``t`` to 0.9 times the inverse of the curvature it measured
   along :math:`x^+ - z` and retries;
4. lets the next step grow to at most ``growth`` times ``t`` (default 1.01:
   on the convex ReLU programs faster growth saves fewer iterations than its
   backtracks cost) and at most the inverse of the measured curvature;
5. updates the momentum with the textbook sequence
   :math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2})/2`,
   :math:`\beta_k = (t_k - 1)/t_{k+1}`, and restarts it (:math:`t = 1`) when the
   objective increases or when the step disagrees with the momentum,
   :math:`\langle z - x^+, x^+ - x_k\rangle > 0` (O'Donoghue & Candes, 2015).
   An increase counts only above :math:`10^{-14}|F|`: once ``F`` is exact to
   rounding, restarts on rounding noise would stall the iterates (and the dual
   points built from them) short of the accuracy that certificates need.

The caller sees every iteration through a callback (its stopping rule and
certificates) and gets back the best iterate seen.

Array libraries. The loop uses only arithmetic operators and the reductions
of an :class:`ArrayOps` (inner products, group norms, the group
soft-threshold), chosen from the type of ``x0`` by :func:`ops_for`: NumPy
arrays get the NumPy functions, other array-API arrays (PyTorch tensors, any
device) the same reductions through their namespace. Scalars (objective
values, step sizes) are Python floats; group norms are summed in float64.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Evaluation",
    "SmoothPart",
    "AffineGradientPart",
    "Progress",
    "FistaRun",
    "fista",
    "extrapolate_products",
    "group_soft_threshold",
    "group_norm_sum",
    "ArrayOps",
    "ops_for",
]


@dataclass
class Evaluation:
    """Value and gradient of the smooth part at a point.

    Attributes
    ----------
    value : float
        :math:`f` at the point.
    grad : ndarray
        :math:`\\nabla f` at the point, shaped like the point.
    products : ndarray
        The products ``forward(point)`` it was computed from.
    aux : object
        Whatever the smooth part keeps for its certificates (e.g. the residual).
    """

    value: float
    grad: np.ndarray
    products: np.ndarray
    aux: Any = None


class SmoothPart(Protocol):
    """The smooth term ``f`` as the engine needs it."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return the products of ``x`` (linear in ``x``)."""

    def evaluate(self, products: np.ndarray) -> Evaluation:
        """Return ``f`` and its gradient at the point with these products."""

    def bregman(self, at: Evaluation, products: np.ndarray) -> float:
        """Return :math:`f(x) - f(z) - \\langle \\nabla f(z), x - z\\rangle \\ge 0` for ``x`` with these products."""


def extrapolate_products(P, P_prev, beta: float):
    r"""Return :math:`P + \beta (P - P_{prev})`, the products of the momentum point (one new array).

    :func:`fista` calls a smooth part's own ``extrapolate(P, P_prev, beta)``
    instead when it has one (to carry quantities derived from the products
    along); it must return the same array, or an object standing for it that
    the part's ``evaluate`` accepts (the engine only passes it on).
    """
    Pz = P - P_prev
    Pz *= beta
    Pz += P
    return Pz


class AffineGradientPart(SmoothPart, Protocol):
    """A smooth part whose gradient is affine in the products (a quadratic ``f``).

    Then the gradient at an iterate follows from the gradients at the momentum
    points without another product (see :func:`fista`).
    """

    def evaluation_from(self, products: np.ndarray, grad: np.ndarray) -> Evaluation:
        """Return the evaluation at the point with these products, given its gradient."""


@dataclass
class Progress:
    """What the callback sees after each iteration.

    Attributes
    ----------
    iteration : int
        Number of proximal steps taken so far (1 after the first).
    x : ndarray
        The new iterate.
    objective : float
        :math:`F` at ``x``.
    best_objective : float
        The smallest :math:`F` seen so far (its point is returned at the end).
    at_z : Evaluation
        The evaluation at the momentum point ``z`` that produced ``x``.
    residual : float
        :math:`\\max_i \\|z_i - x_i\\| / t`, the largest group of the proximal
        gradient mapping; zero exactly at a minimizer.
    step : float
        The accepted step size ``t``.
    at_x : Evaluation or None
        For an :class:`AffineGradientPart`, the evaluation at the previous
        iterate (the one ``z`` extrapolated from), with its exact gradient.
    previous_objective : float
        :math:`F` at that previous iterate.
    products : ndarray or None
        ``forward(x)`` of the new iterate.
    """

    iteration: int
    x: np.ndarray
    objective: float
    best_objective: float
    at_z: Evaluation
    residual: float
    step: float
    at_x: Evaluation | None = None
    previous_objective: float = float("nan")
    products: np.ndarray | None = None


@dataclass
class FistaRun:
    """Outcome of :func:`fista`.

    Attributes
    ----------
    x, products, objective : the best iterate, its products and :math:`F` there.
    last_x, last_products : the final iterate and its products (for warm starts).
    step : float
        The last accepted step size (a good ``step0`` for a warm start).
    iterations : int
    reason : {"callback", "max_iter", "time_limit"}
    forward_products : int
        Number of ``forward`` calls (one per iteration plus one per backtrack).
    momentum : tuple
        ``(x_prev, products_prev, t, beta)`` to continue from ``last_x`` (see :func:`fista`).
    """

    x: np.ndarray
    products: np.ndarray
    objective: float
    last_x: np.ndarray
    last_products: np.ndarray
    step: float
    iterations: int
    reason: str
    forward_products: int
    momentum: tuple = ()


def group_norm_sum(x: np.ndarray) -> float:
    r"""Return :math:`\sum_i \|x_i\|_2` over the rows (last axis) of ``x``."""
    return float(np.sum(np.sqrt(np.einsum("...d,...d->...", x, x, dtype=np.float64))))


def group_soft_threshold(v: np.ndarray, threshold: float) -> np.ndarray:
    r"""Return the proximal map of :math:`\tau \sum_i \|x_i\|_2` at ``v``.

    Row ``i`` becomes :math:`\max(0, 1 - \tau / \|v_i\|_2)\, v_i`.

    Parameters
    ----------
    v : ndarray, shape (..., d)
    threshold : float
        :math:`\tau \ge 0`.

    Returns
    -------
    ndarray, shape of ``v`` (a new array)
    """
    norms = np.sqrt(np.einsum("...d,...d->...", v, v))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > threshold, 1.0 - threshold / norms, 0.0).astype(v.dtype, copy=False)
    return v * scale[..., None]


class ArrayOps:
    """The reductions the engine needs, for NumPy arrays (the other libraries subclass it).

    Every method returns a Python float or a new array of the input's library.
    """

    @staticmethod
    def copy(a):
        """A copy of ``a``."""
        return np.array(a, copy=True)

    @staticmethod
    def vdot(a, b) -> float:
        r""":math:`\langle a, b\rangle` over all entries, accumulated in the arrays' dtype."""
        return float(np.vdot(a, b))

    @staticmethod
    def sumsq64(a) -> float:
        r""":math:`\|a\|^2` over all entries, accumulated in float64."""
        a64 = a.astype(np.float64, copy=False)
        return float(np.vdot(a64, a64))

    group_norm_sum = staticmethod(group_norm_sum)
    soft_threshold = staticmethod(group_soft_threshold)

    @staticmethod
    def max_row_norm(a) -> float:
        r""":math:`\max_i \|a_i\|_2` over the rows (last axis); 0 for no rows."""
        return float(np.sqrt(np.max(np.einsum("...d,...d->...", a, a), initial=0.0)))

    @staticmethod
    def min(a, initial: float) -> float:
        """The smallest entry of ``a`` and ``initial``."""
        return float(np.min(a, initial=initial))

    @staticmethod
    def positive_part(a):
        r""":math:`\max(a, 0)` entrywise (a new array)."""
        return np.maximum(a, 0.0)


class _NamespaceOps(ArrayOps):
    """:class:`ArrayOps` through an array-API namespace ``xp`` (e.g. ``array_api_compat.torch``)."""

    def __init__(self, xp):
        self.xp = xp

    def copy(self, a):
        return self.xp.asarray(a, copy=True)

    def vdot(self, a, b) -> float:
        return float(self.xp.sum(a * b))

    def sumsq64(self, a) -> float:
        a64 = self.xp.astype(a, self.xp.float64)
        return float(self.xp.sum(a64 * a64))

    def group_norm_sum(self, a) -> float:
        xp = self.xp
        return float(xp.sum(xp.linalg.vector_norm(xp.astype(a, xp.float64), axis=-1)))

    def soft_threshold(self, v, threshold: float):
        xp = self.xp
        norms = xp.linalg.vector_norm(v, axis=-1)
        # rows with norm <= threshold (zero rows included) vanish; no division by zero reaches the result
        safe = xp.where(norms > threshold, norms, xp.ones_like(norms))
        scale = xp.where(norms > threshold, 1.0 - threshold / safe, xp.zeros_like(norms))
        return v * scale[..., None]

    def max_row_norm(self, a) -> float:
        return float(self.xp.max(self.xp.linalg.vector_norm(a, axis=-1)))

    def min(self, a, initial: float) -> float:
        return min(float(self.xp.min(a)), initial)

    def positive_part(self, a):
        return self.xp.clip(a, min=0.0)


_NUMPY_OPS = ArrayOps()


def ops_for(a) -> ArrayOps:
    """The :class:`ArrayOps` of ``a``'s array library (NumPy's for NumPy arrays)."""
    if isinstance(a, np.ndarray):
        return _NUMPY_OPS
    from ..backend import get_namespace

    xp = get_namespace(a)
    if xp.__name__.endswith("numpy"):
        return _NUMPY_OPS
    return _NamespaceOps(xp)


def _initial_step(smooth: SmoothPart, at: Evaluation, ops: ArrayOps = _NUMPY_OPS) -> float:
    """Inverse curvature of ``f`` along the gradient (one forward product)."""
    g = at.grad
    gg = ops.vdot(g, g)
    if gg == 0.0 or not math.isfinite(gg):
        return 1.0
    P = at.products - smooth.forward(g)  # products of z - g
    curv = 2.0 * smooth.bregman(at, P) / gg
    return 1.0 / curv if curv > 0 else 1.0


def fista(
    smooth: SmoothPart,
    lam: float,
    x0: np.ndarray,
    *,
    products0: np.ndarray | None = None,
    step0: float | None = None,
    max_iter: int,
    deadline: float | None = None,
    callback: Callable[[Progress], bool] | None = None,
    growth: float = 1.01,
    momentum: tuple | None = None,
    restart_tol: float = 1e-14,
) -> FistaRun:
    r"""Minimize :math:`f(x) + \lambda \sum_i \|x_i\|_2` by restarted FISTA.

    Parameters
    ----------
    smooth : SmoothPart
        If it also has ``evaluation_from`` (:class:`AffineGradientPart`), the
        gradient at each iterate is tracked without extra products:
        :math:`z_k = (1 + \beta) x_k - \beta x_{k-1}` gives
        :math:`\nabla f(x_k) = (\nabla f(z_k) + \beta \nabla f(x_{k-1})) / (1 + \beta)`,
        and :attr:`Progress.at_x` carries it.
        If it has ``extrapolate`` (see :func:`extrapolate_products`), that
        computes the products of the momentum points (or an object standing
        for them that its ``evaluate`` accepts). If it has ``ops`` (an
        :class:`ArrayOps`), those compute the engine's reductions and
        proximal steps instead of :func:`ops_for`'s.
    lam : float
        Weight of the group norms.
    x0 : ndarray, shape (..., d)
        Starting point (warm start); not modified.
    products0 : ndarray, optional
        ``smooth.forward(x0)`` if already known.
    step0 : float, optional
        First step size; by default the inverse curvature along the first gradient.
    max_iter : int
        Largest number of proximal steps.
    deadline : float, optional
        A ``time.perf_counter()`` value after which the run stops.
    callback : callable, optional
        Called with a :class:`Progress` after every iteration; returning True stops.
    growth : float
        Largest factor by which the step may grow from one iteration to the next.
    momentum : tuple, optional
        ``FistaRun.momentum`` of an earlier run from the same ``x0`` (the previous
        iterate, its products and the momentum counter), to continue an
        interrupted run, for example after the smooth part changed slightly.
    restart_tol : float
        Relative increase of the objective above which the momentum restarts
        (default 1e-14, rounding of float64 values).

    Returns
    -------
    FistaRun
    """
    affine = hasattr(smooth, "evaluation_from")
    extrapolate = getattr(smooth, "extrapolate", extrapolate_products)
    ops = getattr(smooth, "ops", None) or ops_for(x0)
    vdot, norm_sum, threshold = ops.vdot, ops.group_norm_sum, ops.soft_threshold
    x = ops.copy(x0)
    Px = smooth.forward(x) if products0 is None else products0
    ev = smooth.evaluate(Px)
    Fx = ev.value + lam * norm_sum(x)
    n_forward = 1 if products0 is None else 0
    if step0 is not None and step0 > 0:
        step = float(step0)
    else:
        step = _initial_step(smooth, ev, ops)
        n_forward += 1
    best_x, best_P, best_F = x, Px, Fx
    x_prev, P_prev = x, Px
    ev_x: Evaluation | None = None  # evaluation at the current iterate (affine parts)
    t, beta = 1.0, 0.0
    if momentum is not None:
        x_prev, P_prev, t, beta = momentum
    reason, k = "max_iter", 0
    while k < max_iter:
        if deadline is not None and time.perf_counter() > deadline:
            reason = "time_limit"
            break
        k += 1
        if beta > 0.0:
            z = x + beta * (x - x_prev)
            Pz = extrapolate(Px, P_prev, beta)
            ev = smooth.evaluate(Pz)
            if affine and ev_x is not None:
                ev_x = smooth.evaluation_from(Px, (ev.grad + beta * ev_x.grad) / (1.0 + beta))
            else:
                ev_x = None
        else:
            z = x
            if k > 1:
                ev = smooth.evaluate(Px)
            ev_x = ev if affine else None
        g = ev.grad
        while True:
            xn = threshold(z - step * g, step * lam)
            Pn = smooth.forward(xn)
            n_forward += 1
            dx = xn - z
            dxx = vdot(dx, dx)
            D = smooth.bregman(ev, Pn)
            if D * step <= 0.5 * dxx or dxx == 0.0:
                break
            step = 0.9 * dxx / (2.0 * D)
        Fn = ev.value + vdot(g, dx) + D + lam * norm_sum(xn)
        accepted = step
        # next step: grow, but not beyond the inverse curvature just measured
        # (a null step, dxx == 0, measures no curvature and keeps the step)
        step = step * growth if D <= 0.0 or dxx == 0.0 else min(step * growth, dxx / (2.0 * D))
        restart = Fn > Fx + restart_tol * abs(Fx) or vdot(z - xn, xn - x) > 0.0
        F_old = Fx
        if restart:
            t, beta = 1.0, 0.0
        else:
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_next
            t = t_next
        x_prev, P_prev = x, Px
        x, Px, Fx = xn, Pn, Fn
        if Fx <= best_F:
            best_x, best_P, best_F = x, Px, Fx
        if callback is not None:
            residual = ops.max_row_norm(dx) / accepted
            progress = Progress(k, x, Fx, best_F, ev, residual, accepted, ev_x, F_old, Px)
            if callback(progress):
                reason = "callback"
                break
    return FistaRun(best_x, best_P, best_F, x, Px, step, k, reason, n_forward, (x_prev, P_prev, t, beta))
