r"""Nesterov-Todd scaling, Jordan products and step lengths for second-order cones and orthants.

The cone algebra of the ``"ipm"`` solver (:mod:`relu_convex.solvers.interior_point_relu`),
on stacks of cones: a second-order cone :math:`\mathcal{Q}^k = \{(v_0, v_1): v_0 \ge
\|v_1\|\}` per row of an ``(m, k)`` array, and nonnegative orthants as plain arrays.
The Nesterov-Todd scaling :math:`W` of a pair :math:`(s, z)` in a cone's interior satisfies
:math:`W z = W^{-1} s = \lambda`; for :math:`\mathcal{Q}^k` it is
:math:`\beta` times a hyperbolic Householder matrix of the scaling point :math:`w`
(Vandenberghe, "The CVXOPT linear and quadratic cone program solvers", 2010), kept in
the factored form ``(w, beta)`` and updated from a step without recomputing it from
:math:`s` and :math:`z`, whose :math:`s_0^2 - \|s_1\|^2` cancels near the boundary.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matvec", "jnorm", "soc_scaling", "soc_matrices", "soc_update", "soc_product", "soc_divide",
           "soc_max_step", "orthant_max_step"]


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Products of a stack of matrices (m, k, k) with a stack of vectors (m, k)."""
    return np.einsum("mij,mj->mi", A, x)


def jnorm(v: np.ndarray) -> np.ndarray:
    r""":math:`\sqrt{v_0^2 - \|v_1\|^2}` of each row of a stack (m, k) in the cone interior."""
    a = np.linalg.norm(v[:, 1:], axis=1)
    return np.sqrt(v[:, 0] - a) * np.sqrt(v[:, 0] + a)


def soc_scaling(s: np.ndarray, z: np.ndarray):
    r"""Nesterov-Todd scaling point of a stack of second-order cones.

    Parameters
    ----------
    s, z : ndarray, shape (m, k)
        Points in the interior of :math:`\mathcal{Q}^k` (first entry the "t" part).

    Returns
    -------
    w : ndarray, shape (m, k)
        The scaling points (:math:`w_0^2 - \|w_1\|^2 = 1`).
    beta : ndarray, shape (m,)
        The scales; :math:`W = \beta \bar W(w)` (see :func:`soc_matrices`) has
        :math:`W z = W^{-1} s`.
    """
    s_norm, z_norm = jnorm(s), jnorm(z)
    sb, zb = s / s_norm[:, None], z / z_norm[:, None]
    gamma = np.sqrt(0.5 * (1.0 + np.einsum("mk,mk->m", sb, zb)))
    w = sb.copy()
    w[:, 0] += zb[:, 0]
    w[:, 1:] -= zb[:, 1:]
    w /= 2.0 * gamma[:, None]
    return w, np.sqrt(s_norm / z_norm)


def soc_matrices(w: np.ndarray, beta: np.ndarray):
    r""":math:`W = \beta \bar W` and :math:`W^{-1} = J \bar W J / \beta`, :math:`\bar W = \begin{pmatrix} w_0 & w_1^\top
    \\ w_1 & I + w_1 w_1^\top / (1 + w_0)\end{pmatrix}`, :math:`J = \operatorname{diag}(1, -I)`; shapes (m, k, k)."""
    m, k = w.shape
    Wbar = np.zeros((m, k, k))
    Wbar[:, 0, 0] = w[:, 0]
    Wbar[:, 0, 1:] = w[:, 1:]
    Wbar[:, 1:, 0] = w[:, 1:]
    Wbar[:, 1:, 1:] = w[:, 1:, None] * w[:, None, 1:] / (1.0 + w[:, 0])[:, None, None]
    Wbar[:, np.arange(1, k), np.arange(1, k)] += 1.0
    Winv = Wbar.copy()
    Winv[:, 0, 1:] *= -1.0
    Winv[:, 1:, 0] *= -1.0
    return Wbar * beta[:, None, None], Winv / beta[:, None, None]


def soc_update(w: np.ndarray, beta: np.ndarray, s: np.ndarray, z: np.ndarray):
    r"""The scaling of the new point :math:`(W s, W^{-1} z)` from ``s``, ``z`` given in the current scaling ``W``.

    Vandenberghe (2010, section 4.3; CVXOPT's ``update_scaling``): with
    :math:`a, b` the :math:`J`-norms of ``s``, ``z``, :math:`\bar s = s/a`,
    :math:`\bar z = z/b`, :math:`c = \sqrt{(1 + \bar s^\top \bar z)/2}`,
    :math:`q = (\bar s + J \bar z)/(2c)` (the scaling point of :math:`(\bar s,
    \bar z)`) and :math:`v = (w + e)/\sqrt{2(w_0 + 1)}` (so :math:`\bar W(w) =
    2 v v^\top - J`), the new scaling point is :math:`\bar W(w) q`, the new scale
    :math:`\beta\sqrt{a/b}`, and the new scaled variable :math:`\lambda` has
    :math:`\lambda_0 = \sqrt{ab}\,c` and :math:`\lambda_1 = \sqrt{ab}\,\big(2 v_1
    v^\top(u/2 - \delta q) - \delta q_1 + u_1/2\big)` with :math:`u = \bar s - J\bar z`,
    :math:`\delta = (v_0 v^\top u - u_0/2)/(w'_0 + 1)`. Only the well-conditioned
    scaled points enter: neither :math:`W` nor the (near-boundary) unscaled
    points are formed.

    Returns
    -------
    w, beta, lam : ndarray
        The new scaling point (m, k), scale (m,) and :math:`\lambda` (m, k).
    """
    a, b = jnorm(s), jnorm(z)
    sb, zb = s / a[:, None], z / b[:, None]
    c = np.sqrt(0.5 * (1.0 + np.einsum("mk,mk->m", sb, zb)))
    v = w / np.sqrt(2.0 * (w[:, :1] + 1.0))
    v[:, 0] = np.sqrt(0.5 * (w[:, 0] + 1.0))
    vs = np.einsum("mk,mk->m", v, sb)
    vz = v[:, 0] * zb[:, 0] - np.einsum("mk,mk->m", v[:, 1:], zb[:, 1:])
    vq = (vs + vz) / (2.0 * c)
    vu = vs - vz
    w_new = 2.0 * vq[:, None] * v
    w_new[:, 0] -= (sb[:, 0] + zb[:, 0]) / (2.0 * c)
    w_new[:, 1:] += (sb[:, 1:] - zb[:, 1:]) / (2.0 * c)[:, None]
    delta = (v[:, 0] * vu - 0.5 * (sb[:, 0] - zb[:, 0])) / (w_new[:, 0] + 1.0)
    lam = np.empty_like(s)
    lam[:, 0] = c
    lam[:, 1:] = (2.0 * (0.5 * vu - delta * vq))[:, None] * v[:, 1:] \
        + (0.5 * (1.0 - delta / c))[:, None] * sb[:, 1:] + (0.5 * (1.0 + delta / c))[:, None] * zb[:, 1:]
    lam *= np.sqrt(a * b)[:, None]
    # renormalize against rounding: w_0 = sqrt(1 + |w_1|^2)
    w_new[:, 0] = np.sqrt(1.0 + np.einsum("mk,mk->m", w_new[:, 1:], w_new[:, 1:]))
    return w_new, beta * np.sqrt(a / b), lam


def soc_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Jordan product :math:`a \circ b = (a^\top b, a_0 b_1 + b_0 a_1)` of stacks (m, k)."""
    out = np.empty_like(a)
    out[:, 0] = np.einsum("mk,mk->m", a, b)
    out[:, 1:] = a[:, :1] * b[:, 1:] + b[:, :1] * a[:, 1:]
    return out


def soc_divide(lam: np.ndarray, r: np.ndarray) -> np.ndarray:
    r"""The solution ``w`` of :math:`\lambda \circ w = r` for stacks (m, k), ``lam`` interior."""
    det = lam[:, 0] ** 2 - np.einsum("mk,mk->m", lam[:, 1:], lam[:, 1:])
    out = np.empty_like(r)
    out[:, 0] = (lam[:, 0] * r[:, 0] - np.einsum("mk,mk->m", lam[:, 1:], r[:, 1:])) / det
    out[:, 1:] = (r[:, 1:] - out[:, :1] * lam[:, 1:]) / lam[:, :1]
    return out


def soc_max_step(lam: np.ndarray, d: np.ndarray) -> float:
    r"""The largest :math:`\alpha` with :math:`\lambda + \alpha d \in \mathcal{Q}^k` for every row (inf if none binds)."""
    det = lam[:, 0] ** 2 - np.einsum("mk,mk->m", lam[:, 1:], lam[:, 1:])
    norm = np.sqrt(det)
    lb = lam / norm[:, None]
    rho0 = (lb[:, 0] * d[:, 0] - np.einsum("mk,mk->m", lb[:, 1:], d[:, 1:])) / norm
    factor = (rho0 + d[:, 0] / norm) / (lb[:, 0] + 1.0)
    rho1 = d[:, 1:] / norm[:, None] - factor[:, None] * lb[:, 1:]
    worst = float(np.max(np.linalg.norm(rho1, axis=1) - rho0))
    return np.inf if worst <= 0.0 else 1.0 / worst


def orthant_max_step(lam: np.ndarray, d: np.ndarray) -> float:
    worst = float(np.max(-d / lam, initial=0.0))  # (no rows: no limit)
    return np.inf if worst <= 0.0 else 1.0 / worst
