r"""Dual points and certified lower bounds for the convex programs.

Both programs share the dual objective (loss normalized by ``n``)

.. math::

    q(\theta) = \theta^\top y - \frac{n}{2}\|\theta\|_2^2,
    \qquad \theta \in \mathbb{R}^n,

and differ in the constraint set. For C-GReLU it is
:math:`\|X^\top D_i \theta\|_2 \le \lambda` for every pattern; for C-ReLU it is
:math:`\max_{u \in K_i, \|u\| \le 1} \pm \theta^\top D_i X u \le \lambda`, where
:math:`K_i = \{u : (2D_i - I) X u \ge 0\}`.

For C-ReLU, for any multipliers :math:`a \ge 0`,

.. math::

    \max_{u \in K_i, \|u\| \le 1} g^\top u \le \| g + ((2D_i - I) X)^\top a \|_2,

because :math:`a^\top (2D_i - I) X u \ge 0` on :math:`K_i`. The smallest right
side is a nonnegative least-squares problem and equals the left side (Moreau).
Any multipliers therefore give a valid over-estimate of the constraint value,
and so a valid bound after scaling.

Weak duality makes :func:`scaled_dual_bound` a lower bound on the primal
optimum for every :math:`\theta`, at any primal iterate, not only near optima.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cones import unit_polar_multipliers
from .constraint_max import ConstraintMax, relu_constraint_max
from .operators import MaskedOperator

__all__ = [
    "DualBound",
    "dual_objective",
    "grelu_constraint_values",
    "relu_constraint_values",
    "relu_multiplier_bound",
    "relu_cone_multipliers",
    "relu_constraint_max",
    "ConstraintMax",
    "scaled_dual_bound",
]


@dataclass(frozen=True)
class DualBound:
    """A dual-feasible point and its value.

    Attributes
    ----------
    value : float
        The dual objective at ``theta`` (a lower bound on the primal optimum).
    theta : ndarray, shape (n,) or (n, c)
        The dual-feasible point.
    scale : ndarray, shape () or (c,)
        The factor in [0, 1] applied to the residual ``(y - yhat) / n``.
    """

    value: float
    theta: np.ndarray
    scale: np.ndarray


def dual_objective(theta: np.ndarray, y: np.ndarray) -> float:
    r"""Return :math:`\theta^\top y - \frac{n}{2}\|\theta\|^2` (summed over outputs)."""
    n = y.shape[0]
    return float(np.sum(theta * y) - 0.5 * n * np.sum(theta * theta))


def grelu_constraint_values(op: MaskedOperator, theta: np.ndarray) -> np.ndarray:
    r"""Return :math:`\|X^\top D_i \theta\|_2` for each pattern.

    Parameters
    ----------
    op : MaskedOperator
    theta : ndarray, shape (n,) or (n, c)

    Returns
    -------
    ndarray, shape (p,) or (c, p)
    """
    return np.linalg.norm(op.adjoint(theta), axis=-1)


def relu_cone_multipliers(op: MaskedOperator, theta: np.ndarray, which: np.ndarray | None = None,
                          seed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Nonnegative multipliers that make the C-ReLU dual constraint values exact.

    For each pattern ``i`` solves
    :math:`\min_{a \ge 0} \|X^\top D_i \theta + ((2D_i - I)X)^\top a\|` and the
    same with :math:`-X^\top D_i \theta`, by NNLS on a working set of rows
    (:func:`relu_convex.cones.polar_residual`, here on the unit rows:
    :func:`relu_convex.cones.unit_polar_multipliers`). Patterns whose
    :math:`\pm X^\top D_i \theta` already lies in :math:`K_i` need no multipliers
    and are detected in one vectorized pass.

    Parameters
    ----------
    op : MaskedOperator
    theta : ndarray, shape (n,)
    which : ndarray of bool, shape (2, p), optional
        Solve only these signed patterns (row 0: :math:`+X^\top D_i\theta`, row 1: the
        minus sign); the multipliers of the others are returned as zero. Default: all.
    seed : ndarray, shape (2, n, p), optional
        Multipliers at a nearby ``theta`` (e.g. a solver's): the rows where they are
        positive start the working sets (:func:`relu_convex.cones.unit_polar_multipliers`),
        which saves NNLS solves when the support changed little. The result does
        not depend on it beyond the solver's rounding.

    Returns
    -------
    (A, B) : ndarrays, shape (n, p) each, nonnegative
    """
    Xd = np.asarray(op.X, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    G = _adjoint64(op, theta)  # (p, d)
    Z = op.signs * (Xd @ G.T)  # (n, p): rows of B_i times g_i
    norms = np.linalg.norm(Xd, axis=1)
    scale = np.where(norms > 0, norms, 1.0)
    unit = Xd / scale[:, None]  # rows of X at unit norm (zero rows stay zero): those of B_i up to sign
    inverse = np.where(norms > 0, 1.0 / scale, 0.0)
    A = np.zeros((op.n, op.p))
    B = np.zeros((op.n, op.p))
    if which is None:
        which = np.ones((2, op.p), dtype=bool)
    for i in range(op.p):
        plus_inside = not which[0, i] or not np.any(Z[:, i] < 0)
        minus_inside = not which[1, i] or not np.any(Z[:, i] > 0)
        if plus_inside and minus_inside:
            continue
        Bn = op.signs[:, i, None] * unit
        # the multipliers of the unit rows, scaled back to those of B_i's rows (polar_residual)
        if not plus_inside:
            A[:, i] = unit_polar_multipliers(Bn, G[i], seed=None if seed is None else seed[0][:, i] > 0) * inverse
        if not minus_inside:
            B[:, i] = unit_polar_multipliers(Bn, -G[i], seed=None if seed is None else seed[1][:, i] > 0) * inverse
    return A, B


def _adjoint64(op: MaskedOperator, theta: np.ndarray) -> np.ndarray:
    """``X^T D_i theta`` for every pattern, in float64, shape (p, d)."""
    M = op.masks
    return (M * theta[:, None]).T @ np.asarray(op.X, dtype=np.float64)


def relu_constraint_values(
    op: MaskedOperator,
    theta: np.ndarray,
    multipliers: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    r"""Return valid upper bounds on the C-ReLU dual constraint values.

    Entry ``i`` is :math:`\max(\|g_i + B_i^\top a_i\|, \|-g_i + B_i^\top b_i\|)`
    with :math:`g_i = X^\top D_i \theta` and :math:`B_i = (2D_i - I)X`; it is
    never below the true value :math:`\max_{u \in K_i, \|u\|\le 1} |\theta^\top D_i X u|`
    and equals it for the NNLS multipliers.

    Parameters
    ----------
    op : MaskedOperator
    theta : ndarray, shape (n,) or (n, c)
    multipliers : pair of ndarrays, shape (n, p) or (c, n, p) each, optional
        Nonnegative multipliers (e.g. an augmented Lagrangian's). Negative
        entries are clipped to zero, which keeps the bound valid. ``None``
        computes them by NNLS.

    Returns
    -------
    ndarray, shape (p,) or (c, p)
    """
    if theta.ndim == 2:
        vals = []
        for k in range(theta.shape[1]):
            mk = None if multipliers is None else (multipliers[0][k], multipliers[1][k])
            vals.append(relu_constraint_values(op, theta[:, k], mk))
        return np.stack(vals)
    if multipliers is None:
        multipliers = relu_cone_multipliers(op, theta)
    A, B = (np.maximum(np.asarray(m, dtype=np.float64), 0.0) for m in multipliers)
    # float64 throughout: the values must not be rounded below the true ones
    Xd = np.asarray(op.X, dtype=np.float64)
    S = op.masks * 2.0 - 1.0
    G = _adjoint64(op, np.asarray(theta, dtype=np.float64))
    plus = np.linalg.norm(G + (S * A).T @ Xd, axis=-1)
    minus = np.linalg.norm(-G + (S * B).T @ Xd, axis=-1)
    # a = 0 is also admissible: ||g_i|| is a valid bound on both signs
    return np.minimum(np.maximum(plus, minus), np.linalg.norm(G, axis=-1))


def relu_multiplier_bound(op: MaskedOperator, y: np.ndarray, theta: np.ndarray, multipliers, lam: float, *,
                          nnls: bool = False) -> DualBound:
    r"""The certified C-ReLU bound at ``theta`` with nonnegative cone multipliers.

    The constraint values of :func:`relu_constraint_values` with ``multipliers``
    (e.g. a solver's), with ``nnls`` also those with the exact NNLS multipliers
    (the smaller per pattern), scaled into the dual feasible set by
    :func:`scaled_dual_bound`.

    Parameters
    ----------
    op : MaskedOperator
    y : ndarray, shape (n,)
    theta : ndarray, shape (n,)
    multipliers : pair of ndarrays, shape (n, p) each
    lam : float
    nnls : bool

    Returns
    -------
    DualBound
    """
    values = relu_constraint_values(op, theta, multipliers)
    if nnls:
        values = np.minimum(values, relu_constraint_values(op, theta, None))
    return scaled_dual_bound(y, theta, values, lam)


def scaled_dual_bound(y: np.ndarray, theta: np.ndarray, constraint_values: np.ndarray, lam: float) -> DualBound:
    r"""Scale a candidate dual point into the feasible set and maximize along the segment.

    With :math:`c_i` the constraint values at ``theta`` (positively homogeneous
    in theta), :math:`s = \min(1, \lambda / \max_i c_i)` makes :math:`s\theta`
    feasible; the concave dual value is then maximized over :math:`t\theta`,
    :math:`t \in [0, s]`. Outputs are independent problems and are scaled
    separately.

    Parameters
    ----------
    y : ndarray, shape (n,) or (n, c)
    theta : ndarray, shape (n,) or (n, c)
        Candidate dual point, typically ``(y - yhat) / n``.
    constraint_values : ndarray, shape (p,) or (c, p)
    lam : float

    Returns
    -------
    DualBound
    """
    n = y.shape[0]
    if theta.ndim == 1:
        return _scaled_dual_bound_1d(np.asarray(y, dtype=np.float64), np.asarray(theta, dtype=np.float64),
                                     float(np.max(constraint_values)), lam)
    Y = y.reshape(n, -1).astype(np.float64)
    T = theta.reshape(n, -1).astype(np.float64)
    C = np.asarray(constraint_values, dtype=np.float64).reshape(T.shape[1], -1)
    cmax = C.max(axis=1)
    with np.errstate(divide="ignore", over="ignore"):  # the ratio is used only where cmax > lam
        s = np.where(cmax > lam, lam / np.where(cmax > 0, cmax, 1.0), 1.0)
    ty = np.sum(T * Y, axis=0)
    tt = np.sum(T * T, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.where(tt > 0, ty / (n * np.where(tt > 0, tt, 1.0)), 0.0)
    t = np.clip(t_star, 0.0, s)
    Tf = T * t
    value = float(np.sum(Tf * Y) - 0.5 * n * np.sum(Tf * Tf))
    return DualBound(value=value, theta=Tf.reshape(theta.shape), scale=t.reshape(() if theta.ndim == 1 else (-1,)))


def _scaled_dual_bound_1d(y: np.ndarray, theta: np.ndarray, cmax: float, lam: float) -> DualBound:
    """:func:`scaled_dual_bound` for one output (``theta`` of shape (n,)), in a few scalar operations.

    The solvers call it at every check, where the general path's array
    bookkeeping costs more than the products on small problems.
    """
    n = y.shape[0]
    s = lam / cmax if cmax > lam else 1.0
    ty, tt = float(theta @ y), float(theta @ theta)
    t = min(max(ty / (n * tt), 0.0), s) if tt > 0.0 else 0.0
    Tf = theta * t
    value = float(Tf @ y) - 0.5 * n * float(Tf @ Tf)
    return DualBound(value=value, theta=Tf, scale=np.asarray(t))
