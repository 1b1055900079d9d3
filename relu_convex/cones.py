r"""Geometry of the activation cones :math:`K_i = \{u : (2D_i - I) X u \ge 0\}`.

Write :math:`B = (2D_i - I) X` (shape (n, d); row ``k`` is :math:`\pm x_k`).
Three small problems per pattern, each reduced to nonnegative least squares
(NNLS) on the rows of ``B``:

* **Polar projection.** For :math:`g \in \mathbb{R}^d`,

  .. math::

      \max_{u \in K, \|u\| \le 1} g^\top u = \|P_K(g)\| = \min_{a \ge 0} \|g + B^\top a\|,

  because :math:`K^\circ = \{-B^\top a : a \ge 0\}` and :math:`g = P_K(g) + P_{K^\circ}(g)`
  (Moreau). Any :math:`a \ge 0` gives a valid over-estimate
  :math:`\|g + B^\top a\|` (as :math:`a^\top B u \ge 0` on :math:`K`), so the
  value returned is always computed from the multipliers, never taken on trust.

* **Least distance.** :math:`\min \|w\|` s.t. :math:`B w \ge h` (LDP), solved
  through the NNLS problem :math:`\min_{z \ge 0} \|[B^\top; h^\top] z - e_{d+1}\|`
  (Lawson & Hanson, *Solving Least Squares Problems*, ch. 23). The rows in the
  positive support of ``z`` are active at the solution and linearly independent.

* **Interior test.** :math:`K` has a nonempty interior iff some :math:`g` has
  :math:`b_k^\top g > 0` for every nonzero row (Gordan), equivalently
  :math:`K - K = \mathbb{R}^d`.

Both NNLS problems use a working set of rows: the problem is solved on a few
of the most violated rows, the solution is checked against all ``n`` rows,
violated rows are added, and the loop repeats. The solution on a subset of rows
is exactly optimal for all rows once no row is violated, and for the polar
projection any intermediate multipliers still give a valid bound.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, nnls

__all__ = ["polar_residual", "unit_polar_multipliers", "least_distance", "has_interior", "condition_number",
           "row_scale", "relative_violation", "cone_violation"]

_CHUNK_MIN = 16


def _nnls(E: np.ndarray, f: np.ndarray) -> np.ndarray:
    """NNLS ``min_{z >= 0} ||E z - f||``; returns zeros if the solver gives up (still feasible)."""
    try:
        return nnls(E, f, maxiter=max(50, 30 * E.shape[1]))[0]
    except RuntimeError:  # pragma: no cover - iteration limit
        return np.zeros(E.shape[1])


def _normalized(B: np.ndarray, row_norms: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows of ``B`` scaled to unit norm (zero rows stay zero) and the norms."""
    if row_norms is None:
        row_norms = np.linalg.norm(B, axis=1)
    scale = np.where(row_norms > 0, row_norms, 1.0)
    return B / scale[:, None], row_norms


def polar_residual(
    B: np.ndarray,
    g: np.ndarray,
    row_norms: np.ndarray | None = None,
    *,
    rtol: float = 1e-12,
    max_rounds: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Minimize :math:`\|g + B^\top a\|` over :math:`a \ge 0` with a working set of rows.

    Parameters
    ----------
    B : ndarray, shape (n, d)
        Rows :math:`b_k` of :math:`(2D - I) X`.
    g : ndarray, shape (d,)
    row_norms : ndarray, shape (n,), optional
        :math:`\|b_k\|` (computed if missing).
    rtol : float
        A row counts as violated when :math:`b_k^\top r < -\text{rtol}\,\|b_k\|\,\|g\|`.
    max_rounds : int
        Limit on working-set enlargements.

    Returns
    -------
    a : ndarray, shape (n,)
        Nonnegative multipliers (zero outside the working set).
    r : ndarray, shape (d,)
        :math:`g + B^\top a`; its norm is an upper bound on
        :math:`\max_{u \in K, \|u\| \le 1} g^\top u`, equal to it (up to
        rounding) when the loop ends with no violated row.
    """
    Bn, norms = _normalized(B, row_norms)
    a = unit_polar_multipliers(Bn, g, rtol=rtol, max_rounds=max_rounds)
    a = np.where(norms > 0, a / np.where(norms > 0, norms, 1.0), 0.0)
    return a, g + B.T @ a


def unit_polar_multipliers(Bn: np.ndarray, g: np.ndarray, *, rtol: float = 1e-12, max_rounds: int = 50,
                           seed: np.ndarray | None = None) -> np.ndarray:
    r"""The NNLS multipliers of :func:`polar_residual` for rows ``Bn`` of unit (or zero) norm.

    Returns ``a`` of shape (n,), nonnegative; :math:`\|g + B_n^\top a\|` is the
    (valid) value. ``seed`` (bool, shape (n,), optional) marks rows to start the working
    set with, besides the most violated ones (e.g. the support of multipliers at a
    nearby ``g``): the minimum is the same, and a good seed saves enlargements.
    """
    n, d = Bn.shape
    a = np.zeros(n)
    gnorm = float(np.linalg.norm(g))
    if gnorm == 0.0:
        return a
    thresh = -rtol * gnorm
    chunk = max(_CHUNK_MIN, 2 * d)
    z = Bn @ g
    violated = np.flatnonzero(z < thresh)
    if violated.size == 0:
        return a
    work = violated[np.argsort(z[violated])[:chunk]]
    if seed is not None:
        work = np.union1d(work, np.flatnonzero(seed))
    in_work = np.zeros(n, dtype=bool)
    in_work[work] = True
    for _ in range(max_rounds):
        aw = _nnls(Bn[work].T, -g)
        a = np.zeros(n)
        a[work] = aw
        z = Bn @ (g + Bn[work].T @ aw)
        viol = np.flatnonzero((z < thresh) & ~in_work)
        if viol.size == 0:
            break
        add = viol[np.argsort(z[viol])[: max(chunk, work.size)]]  # geometric growth: few rounds
        in_work[add] = True
        work = np.concatenate([work, add])
    return a


def least_distance(
    B: np.ndarray,
    h: np.ndarray,
    row_norms: np.ndarray | None = None,
    *,
    rtol: float = 1e-12,
    max_rounds: int = 50,
) -> tuple[np.ndarray | None, np.ndarray]:
    r"""Solve :math:`\min \|w\|` s.t. :math:`B w \ge h` (least-distance programming).

    Parameters
    ----------
    B : ndarray, shape (n, d)
    h : ndarray, shape (n,)
    row_norms : ndarray, shape (n,), optional
    rtol : float
        Feasibility test on unit rows:
        :math:`\hat b_k^\top w \ge \hat h_k - \text{rtol}\,\max_j |\hat h_j|`.
    max_rounds : int

    Returns
    -------
    w : ndarray, shape (d,), or None
        The minimum-norm point, or ``None`` when the constraints are infeasible.
    active : ndarray of int
        Rows in the positive support of the NNLS multipliers: active at ``w``
        (:math:`b_k^\top w = h_k`) and linearly independent.
    """
    n, d = B.shape
    Bn, norms = _normalized(B, row_norms)
    hn = h / np.where(norms > 0, norms, 1.0)
    zero_rows = norms == 0
    hmax = float(np.max(np.abs(hn[~zero_rows]), initial=0.0))
    if np.any(h[zero_rows] > 0):
        return None, np.zeros(0, dtype=int)  # 0 >= h_k > 0 cannot hold
    if not np.any(hn[~zero_rows] > 0):
        return np.zeros(d), np.zeros(0, dtype=int)
    hn = np.where(zero_rows, 0.0, hn / hmax)
    chunk = max(_CHUNK_MIN, 2 * d)
    pos = np.flatnonzero(hn > 0)
    work = pos[np.argsort(-hn[pos])[:chunk]]
    f = np.zeros(d + 1)
    f[d] = 1.0
    w = np.zeros(d)
    z = np.zeros(0)
    for _ in range(max_rounds):
        E = np.vstack([Bn[work].T, hn[work][None, :]])
        z = _nnls(E, f)
        res = E @ z - f
        if np.linalg.norm(res) <= 1e-11:
            return None, work[z > 0]  # no w with B_J w >= h_J: infeasible
        w = -res[:d] / res[d]
        slack = Bn @ w - hn
        slack[work] = 0.0
        viol = np.flatnonzero(slack < -rtol)
        if viol.size == 0:
            break
        work = np.concatenate([work, viol[np.argsort(slack[viol])[: max(chunk, work.size)]]])  # geometric growth
    return w * hmax, work[z > 0]


def has_interior(B: np.ndarray, row_norms: np.ndarray | None = None, *, tol: float = 1e-9) -> bool:
    r"""Whether :math:`\{u : B u \ge 0\}` has a nonempty interior.

    Tries cheap candidates (the normalized row sum, a least-distance point
    with unit margins) and falls back to the linear program
    :math:`\max t` s.t. :math:`b_k^\top g / \|b_k\| \ge t`, :math:`\|g\|_\infty \le 1`,
    :math:`t \le 1`. Zero rows impose nothing and are ignored.

    Parameters
    ----------
    B : ndarray, shape (n, d)
    row_norms : ndarray, shape (n,), optional
    tol : float
        Smallest margin :math:`t` counted as an interior point.
    """
    if row_norms is None:
        row_norms = np.linalg.norm(B, axis=1)
    keep = row_norms > 0
    if not np.any(keep):
        return True
    Bn = B[keep] / row_norms[keep, None]
    d = B.shape[1]
    for g in (Bn.sum(axis=0), least_distance(Bn, np.ones(Bn.shape[0]))[0]):
        if g is not None and np.linalg.norm(g) > 0:
            if np.min(Bn @ (g / np.max(np.abs(g)))) > tol:
                return True
    res = linprog(
        c=np.r_[np.zeros(d), -1.0],
        A_ub=np.hstack([-Bn, np.ones((Bn.shape[0], 1))]),
        b_ub=np.zeros(Bn.shape[0]),
        bounds=[(-1.0, 1.0)] * d + [(None, 1.0)],
        method="highs",
    )
    return bool(res.status == 0 and -res.fun > tol)


def condition_number(rows: np.ndarray) -> float:
    r"""Return :math:`\sigma_{\max} / \sigma_{\min}` of a matrix with linearly independent rows.

    ``inf`` when the rows are numerically dependent; 0 for an empty matrix
    (no rows: nothing to correct).
    """
    if rows.shape[0] == 0:
        return 0.0
    s = np.linalg.svd(rows, compute_uv=False)
    if s[-1] <= s[0] * 1e-14 or s[-1] == 0.0:
        return float("inf")
    return float(s[0] / s[-1])


def row_scale(X: np.ndarray) -> float:
    r""":math:`\max_k \|x_k\|_2` over the rows of ``X`` (n, d): the ``row_scale`` of :func:`relative_violation`."""
    X = np.asarray(X)
    return float(np.sqrt(np.max(np.einsum("nd,nd->n", X, X), initial=0.0)))


def relative_violation(worst: float, largest_block: float, row_scale: float, target_scale: float = 0.0) -> float:
    r"""A cone violation relative to the data scale: the one measure of every C-ReLU route.

    .. math::

        \frac{w}{\max_k \|x_k\|_2 \cdot \max\big(\max_i \|u_i\|_2,\;
              \|y\|_\infty / \max_k \|x_k\|_2\big)},
        \qquad w = \max_{i,k} \max\big(0, -[(2D_i - I) X u_i]_k\big),

    over the blocks :math:`u_i` (the :math:`v_i` and :math:`w_i` of C-ReLU).
    The target term is the size of a block whose predictions are as large as the
    targets; it keeps the measure meaningful when every block is (numerically)
    zero. :meth:`relu_convex.ReLUProblem.constraint_violation` reports it, and
    the C-ReLU solvers stop on it.

    Parameters
    ----------
    worst : float
        :math:`w`, the largest violation of a cone row (<= 0 when none is violated).
    largest_block : float
        :math:`\max_i \|u_i\|_2`.
    row_scale : float
        :math:`\max_k \|x_k\|_2`.
    target_scale : float
        :math:`\|y\|_\infty` (default 0: the scale of the blocks alone).

    Returns
    -------
    float
        0 when no row is violated; ``inf`` when a row is violated at zero scale.
    """
    if worst <= 0.0:
        return 0.0
    scale = row_scale * max(largest_block, target_scale / row_scale if row_scale > 0 else 0.0)
    return worst / scale if scale > 0 else float("inf")


def cone_violation(cone_values: np.ndarray, blocks: np.ndarray, row_scale: float, target_scale: float = 0.0) -> float:
    r""":func:`relative_violation` of blocks from their cone values.

    Parameters
    ----------
    cone_values : ndarray, any shape
        The values :math:`[(2D_i - I) X u_i]_k` of every block and row, in any layout
        (e.g. (n, p), or (2, n, p) for the :math:`v_i` and :math:`w_i` of C-ReLU).
    blocks : ndarray, shape (..., d)
        The blocks :math:`u_i`, one a row (e.g. (2p, d) or (2, p, d)).
    row_scale, target_scale : float
        As for :func:`relative_violation`.

    Returns
    -------
    float
        0 when no value is negative (the norms are then not computed).
    """
    worst = -float(np.min(cone_values, initial=0.0))
    if worst <= 0.0:
        return 0.0
    largest = float(np.max(np.linalg.norm(blocks, axis=-1), initial=0.0))
    return relative_violation(worst, largest, row_scale, target_scale)
