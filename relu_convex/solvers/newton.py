r"""Active-set Newton refinement of a group-lasso point.

Once a first-order method has found which groups are nonzero at the optimum,
the group lasso restricted to those groups,

.. math::

    \min_{z_1, \dots, z_k} \; \frac{1}{2n}\Big\|\sum_{j=1}^k B_j z_j - y\Big\|_2^2
    + \lambda \sum_{j=1}^k \|z_j\|_2 ,
    \qquad B_j \in \mathbb{R}^{n \times d_j},

is smooth wherever every :math:`z_j \ne 0`, with gradient and Hessian

.. math::

    g = B^\top r / n + \lambda \big(z_j / \|z_j\|\big)_j, \qquad
    H = B^\top B / n + \lambda\, \mathrm{blockdiag}\Big(\frac{I - \bar z_j \bar z_j^\top}{\|z_j\|}\Big),
    \quad r = Bz - y,\; \bar z_j = z_j / \|z_j\| .

Damped Newton steps :math:`(H + \mu I)\,\Delta = -g` with a backtracking line
search on the objective converge quadratically there. Each Newton step follows one proximal-gradient
step (step :math:`1/L`, :math:`L \ge \|B^\top B\|/n`), which sets to zero, and
removes, the groups whose best value given the others is zero: Newton steps
alone only approach such a group's kink geometrically. The point this returns is
only a candidate: the caller certifies it with a dual bound over *all* groups
(a group outside the active set whose dual constraint is violated, or a cone
constraint the restriction dropped, shows up as a weak bound), so a wrong active
set costs time, never correctness.

Why this matters for certificates: the scaled-residual dual point of a point
whose objective is :math:`\varepsilon` above the optimum certifies a gap of
order :math:`\sqrt{\varepsilon}`, so a first-order method has to reach about
:math:`\varepsilon^2` before its gap reads :math:`\varepsilon`. At the exact
minimizer of the right restricted problem the residual satisfies the dual
constraints of the active groups with equality and the gap closes to rounding.

The matrix :math:`B = [B_1 \cdots B_k]` is formed densely (``n * m`` numbers,
:math:`m = \sum_j d_j`) and :math:`B^\top B` once (:math:`n m^2` flops); each
Newton step factors an :math:`m \times m` matrix. Callers bound ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["NewtonRefinement", "refine_group_lasso"]


@dataclass
class NewtonRefinement:
    """Outcome of :func:`refine_group_lasso`.

    Attributes
    ----------
    z : ndarray, shape (m,)
        The refined restricted variables (concatenated groups).
    objective : float
        The restricted objective at ``z``.
    steps : int
        Newton steps taken.
    gradient_norm : float
        :math:`\\|g\\|_\\infty` at ``z`` (over the groups still nonzero).
    converged : bool
        ``gradient_norm`` fell below the requested tolerance.
    """

    z: np.ndarray
    objective: float
    steps: int
    gradient_norm: float
    converged: bool


def _objective(B: np.ndarray, y: np.ndarray, lam: float, z: np.ndarray, starts: np.ndarray) -> float:
    r = B @ z - y
    norms = np.sqrt(np.add.reduceat(z * z, starts)) if z.size else np.zeros(0)
    return 0.5 * float(r @ r) / y.shape[0] + lam * float(np.sum(norms))


def _largest_eigenvalue(G: np.ndarray, iterations: int = 30) -> float:
    """An upper estimate of the largest eigenvalue of the PSD matrix ``G`` (power iteration, padded by 5%)."""
    v = np.random.default_rng(0).standard_normal(G.shape[0])
    value = 0.0
    for _ in range(iterations):
        w = G @ v
        value = float(np.linalg.norm(w))
        if value == 0.0:
            return 1.0
        v = w / value
    return 1.05 * value


def refine_group_lasso(
    B: np.ndarray,
    y: np.ndarray,
    lam: float,
    z0: np.ndarray,
    sizes,
    *,
    max_steps: int = 50,
    gtol: float = 1e-13,
) -> NewtonRefinement:
    r"""Minimize the restricted group lasso by damped Newton steps from ``z0``.

    Parameters
    ----------
    B : ndarray, shape (n, m)
        The columns of the active groups, side by side.
    y : ndarray, shape (n,)
        Targets.
    lam : float
        Weight of the group norms (> 0).
    z0 : ndarray, shape (m,)
        Starting point; every group should be nonzero.
    sizes : sequence of int
        Group sizes :math:`d_j` (summing to ``m``), in column order.
    max_steps : int
        Newton steps at most.
    gtol : float
        Stop once :math:`\|g\|_\infty` is below ``gtol`` times the scale
        :math:`\|B^\top y\|_\infty / n + \lambda`.

    Returns
    -------
    NewtonRefinement
    """
    n, m = B.shape
    all_sizes = np.asarray(sizes, dtype=np.intp)
    all_starts = np.concatenate([[0], np.cumsum(all_sizes)[:-1]]).astype(np.intp)
    gram_all = B.T @ B
    gram_all /= n
    Bty_all = B.T @ y / n
    scale = float(np.max(np.abs(Bty_all), initial=0.0)) + lam
    z_all = np.array(z0, dtype=np.float64, copy=True)
    keep = np.ones(all_sizes.size, dtype=bool)

    def restrict():
        cols = np.concatenate([np.arange(s, s + dj) for s, dj in zip(all_starts[keep], all_sizes[keep], strict=True)]
                              or [np.zeros(0, dtype=np.intp)])
        sz = all_sizes[keep]
        st = np.concatenate([[0], np.cumsum(sz)[:-1]]).astype(np.intp)
        return cols, sz, st, np.repeat(np.arange(sz.size), sz), gram_all[np.ix_(cols, cols)], Bty_all[cols]

    def block_entries(sz, st):
        """Row, column, group and identity flag of every entry inside the diagonal blocks."""
        if sz.size == 0:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty, empty, np.zeros(0)
        rows = np.concatenate([np.repeat(np.arange(s, s + dj), dj) for s, dj in zip(st, sz, strict=True)])
        cols_ = np.concatenate([np.tile(np.arange(s, s + dj), dj) for s, dj in zip(st, sz, strict=True)])
        group = np.repeat(np.arange(sz.size), sz * sz)
        return rows, cols_, group, (rows == cols_).astype(np.float64)

    cols, sizes, starts, group_of, gram, Bty = restrict()
    block_rows, block_cols, block_group, block_eye = block_entries(sizes, starts)
    z = z_all[cols]
    Bc = B[:, cols]
    F = _objective(Bc, y, lam, z, starts)
    gnorm, steps, converged, stalled = np.inf, 0, False, 0
    unit = float(np.trace(gram_all)) / max(m, 1) + lam
    damping = 1e-10 * unit  # Levenberg-Marquardt: the Hessian is singular when m > n
    lipschitz = _largest_eigenvalue(gram_all)
    while steps < max_steps:
        steps += 1
        if z.size == 0:
            break
        # a proximal-gradient step first: it sets exactly to zero the groups whose best
        # value given the others is zero, which Newton steps only approach geometrically
        v = z - (gram @ z - Bty) / lipschitz
        vn = np.sqrt(np.add.reduceat(v * v, starts))
        shrink = np.where(vn > lam / lipschitz, 1.0 - (lam / lipschitz) / np.maximum(vn, 1e-300), 0.0)
        zp = v * shrink[group_of]
        Fp = _objective(Bc, y, lam, zp, starts)
        accepted = Fp <= F
        if accepted:
            z, F = zp, Fp
        drop = shrink == 0.0
        if accepted and np.any(drop):
            z_all[cols] = z
            keep[np.flatnonzero(keep)[drop]] = False
            cols, sizes, starts, group_of, gram, Bty = restrict()
            block_rows, block_cols, block_group, block_eye = block_entries(sizes, starts)
            Bc = B[:, cols]
            z = z_all[cols]
            F = _objective(Bc, y, lam, z, starts)
            stalled = 0
            if z.size == 0:
                break
        Gz = gram @ z
        norms = np.sqrt(np.add.reduceat(z * z, starts))
        zbar = z / norms[group_of]
        g = Gz - Bty + lam * zbar
        gnorm = float(np.max(np.abs(g), initial=0.0))
        if gnorm <= gtol * scale:
            converged = True
            break
        # H = gram + lam blockdiag((I - zbar zbar^T) / ||z_j||) + damping I, the blocks scattered at once
        H = gram.copy()
        H[block_rows, block_cols] += (lam / norms)[block_group] * (block_eye - zbar[block_rows] * zbar[block_cols])
        H[np.diag_indices(H.shape[0])] += damping
        try:
            factor = scipy.linalg.cho_factor(H, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            damping *= 100.0
            continue
        delta = -scipy.linalg.cho_solve(factor, g, check_finite=False)
        slope = float(g @ delta)
        if not slope < 0.0:
            damping *= 100.0
            continue
        t = 1.0
        while t > 1e-6:
            candidate = z + t * delta
            Fc = _objective(Bc, y, lam, candidate, starts)
            if Fc <= F + 1e-4 * t * slope:
                break
            t *= 0.25
        if t <= 1e-6:
            damping *= 100.0  # a shorter, better-conditioned step next time
            stalled += 1
            if stalled >= 4 or damping > 1e6 * unit:
                break
            continue
        damping = max(damping * (0.1 if t == 1.0 else 10.0), 1e-14 * unit)
        stalled = stalled + 1 if F - Fc <= 1e-15 * abs(F) else 0
        z, F = candidate, Fc
        if stalled >= 4:
            break  # no progress left at this precision
    z_all[:] = 0.0
    z_all[cols] = z
    z = z_all
    return NewtonRefinement(z=z, objective=F, steps=steps, gradient_norm=gnorm, converged=converged)


def polish_grelu(problem, U: np.ndarray, *, max_size: int = 1500, max_steps: int = 30) -> np.ndarray | None:
    r"""Newton-refine C-GReLU weights on their active groups; ``None`` if none is attempted.

    Each output is refined separately (the loss and the penalty separate over
    outputs), with :math:`B = [D_i X]_{i \in S}` over the groups ``S`` that are
    nonzero in ``U``. Outputs whose restricted size :math:`|S| d` exceeds
    ``max_size`` keep their weights.

    Parameters
    ----------
    problem : GatedReLUProblem
    U : ndarray, shape (p, d) or (c, p, d)
    max_size : int
        Largest restricted problem (number of variables) refined per output.
    max_steps : int
        Newton steps at most per output.

    Returns
    -------
    ndarray shaped like ``U`` (float64), or None when no output was refined.
    """
    X = np.asarray(problem.X, dtype=np.float64)
    masks = problem.patterns
    Y = np.asarray(problem.y, dtype=np.float64)
    single = Y.ndim == 1
    W = np.array(U, dtype=np.float64, copy=True)
    W3, Y2 = (W[None], Y[:, None]) if single else (W, Y)
    refined = False
    d = X.shape[1]
    for k in range(Y2.shape[1]):
        active = np.flatnonzero(np.linalg.norm(W3[k], axis=-1) > 0.0)
        if active.size == 0 or active.size * d > max_size:
            continue
        B = (masks[:, active, None] * X[:, None, :]).reshape(X.shape[0], active.size * d)
        out = refine_group_lasso(B, Y2[:, k], problem.lam, W3[k, active].ravel(), [d] * active.size, max_steps=max_steps)
        W3[k, active] = out.z.reshape(active.size, d)
        refined = True
    return W if refined else None


def polish_relu(op, y: np.ndarray, lam: float, x: np.ndarray, multipliers: np.ndarray, *,
                max_size: int = 1500, max_steps: int = 30, rounds: int = 3,
                tight_tol: float = 1e-6) -> tuple[np.ndarray, float] | None:
    r"""Newton-refine one output of C-ReLU on its active groups and tight cone rows.

    On an active group the rows of :math:`G_i = (2D_i - I)X` that are tight
    (positive multiplier estimate, or value at most ``tight_tol`` times
    :math:`\max_k\|x_k\|\,\|v_i\|`) are held at zero by
    writing :math:`v_i = N_i z_i` with :math:`N_i` an orthonormal basis of their
    null space; since :math:`\|N_i z_i\| = \|z_i\|` the restriction is a group
    lasso in :math:`z` with blocks :math:`\pm D_i X N_i`, refined by
    :func:`refine_group_lasso`. Rows that the refined point violates join the
    tight set and the refinement is repeated (at most ``rounds`` times).

    Parameters
    ----------
    op : MaskedOperator
        The data and patterns (float64).
    y : ndarray, shape (n,)
    lam : float
    x : ndarray, shape (2p, d)
        Rows ``0..p-1`` are :math:`v_i`, rows ``p..2p-1`` are :math:`w_i`.
    multipliers : ndarray, shape (2, n, p)
        Nonnegative estimates of the cone multipliers (their support marks tight rows).
    max_size : int
        Largest restricted problem (free variables) refined.
    max_steps, rounds : int
    tight_tol : float

    Returns
    -------
    (ndarray, float) or None
        The refined point, shape (2p, d), float64, and its relative cone violation
        (:math:`\max(-\min G_i v_i, 0) / (\max_k\|x_k\| \max_i\|v_i\|)`, at most
        1e-12); None when too large or still infeasible after ``rounds``.
    """
    X = np.asarray(op.X, dtype=np.float64)
    signs = np.asarray(op.signs, dtype=np.float64)
    masks = op.masks
    p, d = op.p, op.d
    x = np.asarray(x, dtype=np.float64)

    def cone_values(point: np.ndarray) -> np.ndarray:
        return np.matmul(X, point.reshape(2, p, d).transpose(0, 2, 1)) * signs

    C = cone_values(x)
    row_scale = float(np.sqrt(np.max(np.einsum("nd,nd->n", X, X))))
    group_scale = row_scale * np.linalg.norm(x, axis=-1).reshape(2, 1, p)
    tight = (C <= tight_tol * group_scale) | (np.asarray(multipliers) > 0.0)
    active = [(s, i) for s in (0, 1) for i in range(p) if np.any(x[s * p + i] != 0.0)]
    refined = None
    for _ in range(rounds):
        blocks, sizes, z0, bases = [], [], [], []
        for s, i in active:
            rows = np.flatnonzero(tight[s, :, i])
            if rows.size:
                _, sv, Vt = np.linalg.svd(signs[rows, i, None] * X[rows], full_matrices=True)
                rank = int(np.sum(sv > 1e-10 * sv[0])) if sv.size and sv[0] > 0 else 0
                N = Vt[rank:].T
            else:
                N = np.eye(d)
            if N.shape[1] == 0:
                continue  # the tight rows pin this group at zero
            blocks.append((1.0 if s == 0 else -1.0) * ((masks[:, i, None] * X) @ N))
            sizes.append(N.shape[1])
            z0.append(N.T @ x[s * p + i])
            bases.append((s * p + i, N))
        m = int(sum(sizes))
        if m == 0 or m > max_size:
            return None
        out = refine_group_lasso(np.hstack(blocks), np.asarray(y, dtype=np.float64), lam, np.concatenate(z0), sizes,
                                 max_steps=max_steps)
        refined = np.zeros((2 * p, d))
        start = 0
        for (row, N), dj in zip(bases, sizes, strict=True):
            refined[row] = N @ out.z[start:start + dj]
            start += dj
        Cr = cone_values(refined)
        scale = row_scale * float(np.max(np.linalg.norm(refined, axis=-1), initial=0.0))
        violated = Cr < -1e-12 * scale
        if not np.any(violated):
            violation = max(0.0, -float(np.min(Cr, initial=0.0))) / scale if scale > 0 else 0.0
            return refined, violation
        tight |= violated
    return None
