r"""The largest C-ReLU dual constraint value over a pattern set, for large sets.

With :math:`g_i = X^\top D_i \theta` and :math:`K_i = \{u : (2D_i - I)Xu \ge 0\}`,
the C-ReLU dual constraint of pattern ``i`` is

.. math::

    c_i = \max\Big(\max_{u \in K_i, \|u\| \le 1} g_i^\top u,\;
                   \max_{u \in K_i, \|u\| \le 1} -g_i^\top u\Big) \le \lambda,

and certificates only need :math:`\max_i c_i`. Over the exact pattern set this
is :math:`\max_{\|u\| \le 1} |\theta^\top (Xu)_+|`, needed for trained-network
certificates with tens of thousands of patterns. Solving one NNLS problem per
pattern and sign is exact but slow in Python; :func:`relu_constraint_max`
brackets every signed value cheaply, for all patterns at once, and solves
exactly only those that can hold the maximum:

* *upper bounds*: greedy projections onto the most violated half-space of the
  unit rows :math:`\hat b_k` of :math:`(2D_i - I)X`,
  :math:`r \leftarrow r - \min(0, \hat b_k^\top r)\,\hat b_k` from :math:`r = \pm g_i`,
  keep :math:`r = \pm g_i + B_i^\top a` with :math:`a \ge 0`, so :math:`\|r\|` is
  a valid upper bound at every step (:mod:`relu_convex.cones`); so is
  :math:`\|g_i\|`;
* *lower bounds*: once :math:`r \in K_i`, :math:`\pm g_i^\top r / \|r\|` is
  attained in :math:`K_i`; and for any unit :math:`u`, :math:`|\theta^\top (Xu)_+|`
  is attained by the pattern :math:`1[Xu \ge 0]`, used for
  :math:`u = \pm g_i / \|g_i\|` when that pattern is in the set.

Signed values whose upper bound is at most the best lower bound ``L`` cannot
exceed the maximum; the others are solved by NNLS
(:func:`relu_convex.cones.unit_polar_multipliers`) in decreasing order of their upper
bounds, raising ``L``, until the next upper bound is at most ``L``. The value
returned is the largest upper bound left, so it is never below the true
maximum, and it equals it up to the NNLS accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cones import unit_polar_multipliers
from .operators import MaskedOperator

__all__ = ["ConstraintMax", "relu_constraint_max"]

_FEW = 64  # below this many unsettled signed problems, go straight to exact solves


@dataclass(frozen=True)
class ConstraintMax:
    r"""The largest C-ReLU dual constraint value over a pattern set.

    Attributes
    ----------
    value : float
        An upper bound on :math:`\max_i c_i`, equal to it up to the NNLS accuracy.
    nnls_patterns : int
        Signed values that needed an exact NNLS solve.
    exact_patterns : int
        Patterns whose value is :math:`\|g_i\|` without any solve
        (:math:`\pm g_i \in K_i`).
    pruned_patterns : int
        Patterns settled by the cheap bounds.
    top_patterns : ndarray of int
        Up to ``top`` patterns with the largest known values, largest first:
        where the constraint is tightest (to add to a restricted program).
    top_values : ndarray
        Their values.
    """

    value: float
    nnls_patterns: int
    exact_patterns: int
    pruned_patterns: int
    top_patterns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    top_values: np.ndarray = field(default_factory=lambda: np.zeros(0))


def relu_constraint_max(
    op: MaskedOperator, theta: np.ndarray, *, rounds: int = 30, chunk: int = 2048, top: int = 16,
    floor: float | None = None,
) -> ConstraintMax:
    r"""Return the largest C-ReLU dual constraint value, solving as few NNLS problems as possible.

    Parameters
    ----------
    op : MaskedOperator
    theta : ndarray, shape (n,)
    rounds : int
        Most greedy projection rounds before the exact solves (fewer when a
        round settles under a fifth of the open problems or few remain).
    chunk : int
        Patterns processed per block (memory ``n * chunk`` floats).
    top : int
        How many of the largest patterns to report.
    floor : float, optional
        Also value exactly the patterns above ``floor`` (e.g. :math:`\lambda`,
        to find the violated constraints of a restricted program), the largest
        first, until ``top`` of them are known: a signed problem is then
        pruned only when its upper bound is at most ``min(L, floor)``. The
        maximum is found as without it.

    Returns
    -------
    ConstraintMax
    """
    Xd = np.asarray(op.X, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    p = op.p
    MT = np.ascontiguousarray(op.masks.T)  # (p, n)
    norms = np.linalg.norm(Xd, axis=1)
    Xn = Xd / np.where(norms > 0, norms, 1.0)[:, None]
    G = (op.masks * theta[:, None]).T @ Xd  # (p, d)
    gn = np.linalg.norm(G, axis=1)
    # signed problems: row j < p of R is for +g_j, row j >= p for -g_{j-p}
    R = np.vstack([G, -G])
    state = _FirstRound(MT, Xn, norms, theta, G, gn, R, chunk)
    lower = state.lower

    def prune_at() -> float:
        return lower if floor is None else min(lower, floor)

    active = np.flatnonzero(~state.inside & (np.linalg.norm(R, axis=1) > prune_at()))
    for r in range(rounds):
        # few problems left, or projections no longer settling them: exact solves are cheaper
        if active.size <= _FEW:
            break
        before = active.size
        inside, lows = _pocs_round(MT, Xn, G, R, active, chunk)
        lower = max(lower, float(np.max(lows, initial=-np.inf)))
        active = active[~inside]
        active = active[np.linalg.norm(R[active], axis=1) > prune_at()]
        if r >= 1 and active.size > 0.8 * before:
            break
    exact = state.exact
    upper = np.minimum(np.linalg.norm(R, axis=1), np.concatenate([gn, gn]))
    upper[:p][exact] = gn[exact]
    upper[p:][exact] = gn[exact]
    solved: set[int] = set()
    n_solves, above = 0, set() if floor is None else set(np.flatnonzero(exact & (gn > floor)).tolist())
    for j in np.argsort(-upper):
        if upper[j] <= lower and (floor is None or upper[j] <= floor or len(above) >= top):
            break
        i = int(j % p)
        if exact[i]:
            continue
        Bn = np.where(MT[i], 1.0, -1.0)[:, None] * Xn
        g = G[i] if j < p else -G[i]
        value = float(np.linalg.norm(g + Bn.T @ unit_polar_multipliers(Bn, g)))
        upper[j] = min(upper[j], value)
        lower = max(lower, upper[j])
        if floor is not None and upper[j] > floor:
            above.add(i)
        solved.add(i)
        n_solves += 1
    per_pattern = np.maximum(upper[:p], upper[p:])
    known = exact.copy()
    known[list(solved)] = True
    idx = np.flatnonzero(known)
    idx = idx[np.argsort(-per_pattern[idx])][:top]
    n_exact = int(np.count_nonzero(exact))
    return ConstraintMax(
        value=float(np.max(upper, initial=0.0)),
        nnls_patterns=n_solves,
        exact_patterns=n_exact,
        pruned_patterns=int(p - n_exact - len(solved)),
        top_patterns=idx,
        top_values=per_pattern[idx],
    )


class _FirstRound:
    """First greedy projection for both signs from one product, exact patterns and direction lower bounds."""

    def __init__(self, MT, Xn, norms, theta, G, gn, R, chunk):
        p = G.shape[0]
        self.inside = np.zeros(2 * p, dtype=bool)
        self.exact = np.zeros(p, dtype=bool)
        lower = 0.0
        weights = theta * norms  # theta^T (X u)_+ = sum_k theta_k ||x_k|| (xhat_k^T u)_+
        best_dir: list[tuple[float, int, float]] = []
        for lo in range(0, p, chunk):
            c = np.arange(lo, min(p, lo + chunk))
            Q = G[c] @ Xn.T  # (q, n): xhat_k^T g_i
            Z = np.where(MT[c], Q, -Q)  # rows of (2D_i - I) Xhat times g_i
            kmin, kmax = np.argmin(Z, axis=1), np.argmax(Z, axis=1)
            rows = np.arange(c.size)
            zmin, zmax = Z[rows, kmin], Z[rows, kmax]
            tiny = 1e-15 * gn[c]
            plus_in, minus_in = zmin >= -tiny, zmax <= tiny
            self.inside[c], self.inside[c + p] = plus_in, minus_in
            self.exact[c] = plus_in | minus_in
            lower = max(lower, float(np.max(gn[c][self.exact[c]], initial=0.0)))
            # one projection step each: +g on its most violated row, -g on its own
            sk = np.where(MT[c, kmin], 1.0, -1.0)
            R[c] -= np.minimum(zmin, 0.0)[:, None] * (sk[:, None] * Xn[kmin])
            sk = np.where(MT[c, kmax], 1.0, -1.0)
            R[c + p] -= np.minimum(-zmax, 0.0)[:, None] * (sk[:, None] * Xn[kmax])
            # directions +-g_i/||g_i||: |theta^T (X u)_+| for the pattern 1[Xu >= 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                vp = np.abs(np.maximum(Q, 0.0) @ weights) / gn[c]
                vm = np.abs(np.maximum(-Q, 0.0) @ weights) / gn[c]
            for vals, sign in ((vp, 1.0), (vm, -1.0)):
                vals = np.where(gn[c] > 0, vals, 0.0)
                for j in np.argsort(-vals)[:8]:
                    best_dir.append((float(vals[j]), int(c[j]), sign))
        # look the best directions up in the set (few lookups: most are decided by the first hits)
        index = None
        for value, i, sign in sorted(best_dir, reverse=True):
            if value <= lower:
                break
            if index is None:
                packed = np.packbits(MT, axis=1)
                index = {packed[k].tobytes() for k in range(packed.shape[0])}
            key = np.packbits(sign * (G[i] @ Xn.T) >= 0).tobytes()
            if key in index:
                lower = value
                break
        self.lower = lower


def _pocs_round(MT, Xn, G, R, active, chunk) -> tuple[np.ndarray, np.ndarray]:
    """One greedy projection for the signed problems ``active``; returns (inside, lower bounds of those inside)."""
    p = G.shape[0]
    inside = np.zeros(active.size, dtype=bool)
    lows = []
    for lo in range(0, active.size, chunk):
        cols = active[lo : lo + chunk]
        pat = cols % p
        S = np.where(MT[pat], 1.0, -1.0)  # (q, n)
        Z = S * (R[cols] @ Xn.T)
        k = np.argmin(Z, axis=1)
        rows = np.arange(cols.size)
        zk = Z[rows, k]
        rn = np.linalg.norm(R[cols], axis=1)
        ins = zk >= -1e-15 * rn
        inside[lo : lo + cols.size] = ins
        if np.any(ins):
            g = np.where((cols[ins] < p)[:, None], G[pat[ins]], -G[pat[ins]])
            lows.append(np.einsum("qd,qd->q", g, R[cols[ins]]) / np.where(rn[ins] > 0, rn[ins], 1.0))
        R[cols] -= np.minimum(zk, 0.0)[:, None] * (S[rows, k][:, None] * Xn[k])
    return inside, np.concatenate(lows) if lows else np.zeros(0)
