r"""The smooth part of the augmented Lagrangian of C-ReLU (one output), for the FISTA inner solves of ``"al"``.

With multipliers :math:`a_i, b_i \ge 0` and penalty :math:`\rho > 0` it is

.. math::

    f(v, w) + \frac{1}{2\rho} \sum_i \Big(\|(a_i - \rho G_i v_i)_+\|^2 - \|a_i\|^2
        + \|(b_i - \rho G_i w_i)_+\|^2 - \|b_i\|^2\Big),
    \qquad G_i = (2D_i - I) X,

with :math:`f` the C-ReLU loss; :class:`AugmentedPart` evaluates it and its
gradient from the cone values :math:`G_i v_i, G_i w_i` (two products an
iteration), and its gradient's row norms are the C-ReLU dual constraint values
with the multipliers :math:`(a_i - \rho G_i v_i)_+`, so every iteration gives
a certified bound (:mod:`relu_convex.solvers.augmented_lagrangian`). The fused
numba version is :class:`~relu_convex.solvers.al_kernels.FusedAugmentedPart`,
the array-API one :class:`~relu_convex.solvers.array_parts.ArrayAugmentedPart`.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..duality import DualBound, scaled_dual_bound
from ..operators import MaskedOperator
from .proximal import Evaluation, extrapolate_products

__all__ = ["AugmentedPart"]


class AugmentedPart:
    r"""The smooth part of the augmented Lagrangian for one output, as a :class:`SmoothPart`.

    The point is ``x`` of shape (2p, d): rows ``0..p-1`` are :math:`v_i`, rows
    ``p..2p-1`` are :math:`w_i`. Its products are the cone values
    :math:`C[0]_{:, i} = G_i v_i`, :math:`C[1]_{:, i} = G_i w_i`, shape (2, n, p);
    the predictions follow as :math:`\sum_i D_i (C[0]_{:, i} - C[1]_{:, i})`
    since :math:`D_i (2D_i - I) = D_i`.

    The penalty terms are nonzero only where :math:`a - \rho c > 0`; one
    comparison with :math:`a / \rho` (raised by a few roundings) finds a superset
    of those entries, and the estimates, the penalty value and the Bregman term
    are computed on it with the same roundings as on the full arrays.

    Parameters
    ----------
    op : MaskedOperator
    y : ndarray, shape (n,)
    multipliers : ndarray, shape (2, n, p)
        :math:`a_i` (column ``i`` of ``multipliers[0]``) and :math:`b_i`
        (of ``multipliers[1]``), nonnegative; not modified while the part is
        in use (a new part is built for new multipliers).
    rho : float
        Penalty parameter.
    """

    def __init__(self, op: MaskedOperator, y: np.ndarray, multipliers: np.ndarray, rho: float):
        self.op = op
        self.y = y
        self.n, self.p, self.d = op.n, op.p, op.d
        self.multipliers = multipliers
        self.rho = float(rho)
        dtype = op.dtype
        self._inv_n = dtype.type(1.0 / op.n)
        # masks and signs in the layout of the cone values (C order): the operator may
        # hold them in Fortran order, and mixed layouts make every pass strided (~3x slower)
        self._mask = np.ascontiguousarray(op.mask)
        self._signs = np.ascontiguousarray(op.signs).ravel()
        a = np.asarray(multipliers, dtype=dtype)
        self._flat_multipliers = a.ravel()
        # scratch arrays: fresh large temporaries in every call cost more (page
        # faults, cold cache lines) than the passes over them
        self._H = np.empty((2, op.n, op.p), dtype=dtype)
        self._candidate_scratch(a)
        # predictions of the latest cone values seen, as (weak reference, predictions)
        self._known: list = []

    def _candidate_scratch(self, a: np.ndarray) -> None:
        """The candidate bar and the buffers of :meth:`evaluate` for the multipliers ``a``, shape (2, n, p)."""
        dtype = a.dtype
        # candidates for t = a - rho c > 0: c < bar. The bar exceeds a / rho by a few
        # roundings, so every entry with fl(a - fl(rho c)) > 0 is a candidate
        # (a superset: the estimates are computed exactly on it)
        finfo = np.finfo(dtype)
        bar = a / dtype.type(self.rho)
        bar *= dtype.type(1.0 + 8.0 * finfo.eps)
        bar += dtype.type(2.0 * finfo.tiny)
        self._bar = np.where(a > 0, bar, dtype.type(0.0))
        self._candidates = np.empty(a.shape, dtype=bool)
        # the multiplier estimates of the last two evaluations (see ``evaluate``),
        # zero off their supports, and those supports
        self._estimates = np.zeros((2, a.size), dtype=dtype)
        self._supports = [np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)]
        self._turn = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Cone values, shape (2, n, p)."""
        C = np.matmul(self.op.X, x.reshape(2, self.p, self.d).transpose(0, 2, 1))
        C *= self._signs.reshape(self.n, self.p)
        return C

    def predictions(self, C: np.ndarray) -> np.ndarray:
        """:math:`\\sum_i D_i X (v_i - w_i)` from the cone values, shape (n,)."""
        return np.einsum("np,np->n", C[0], self._mask) - np.einsum("np,np->n", C[1], self._mask)

    def extrapolate(self, C: np.ndarray, C_prev: np.ndarray, beta: float) -> np.ndarray:
        """Cone values of the momentum point, :math:`C + \\beta (C - C_{prev})`.

        Their predictions follow by the same formula from those of ``C`` and
        ``C_prev`` when known, saving a masked pass in :meth:`evaluate`.
        """
        Cz = extrapolate_products(C, C_prev, beta)
        pred, pred_prev = self._recall(C), self._recall(C_prev)
        if pred is not None and pred_prev is not None:
            self._remember(Cz, pred + beta * (pred - pred_prev))
        return Cz

    def _recall(self, C: np.ndarray) -> np.ndarray | None:
        for ref, pred in self._known:
            if ref() is C:
                return pred
        return None

    def _remember(self, C: np.ndarray, pred: np.ndarray) -> None:
        self._known = [*self._known[-3:], (weakref.ref(C), pred)]

    def _predictions(self, C: np.ndarray) -> np.ndarray:
        """:meth:`predictions`, recalled when known (the engine never modifies products it was given)."""
        pred = self._recall(C)
        if pred is None:
            pred = self.predictions(C)
            self._remember(C, pred)
        return pred

    def _candidates_of(self, C: np.ndarray) -> np.ndarray:
        """Flat indices of the entries of ``C`` where :math:`a - \\rho c` may be positive (sorted)."""
        np.less(C, self._bar, out=self._candidates)
        return np.flatnonzero(self._candidates)

    def _arguments(self, C: np.ndarray, index: np.ndarray) -> np.ndarray:
        """:math:`t = a - \\rho c` at the flat ``index``, rounded as ``C * -rho + a``."""
        t = np.take(C.reshape(-1), index)
        t *= -self.rho
        t += np.take(self._flat_multipliers, index)
        return t

    def evaluate(self, C: np.ndarray) -> Evaluation:
        """Value and gradient; ``aux`` is ``(residual, multiplier estimates, support)``.

        The estimates :math:`q = (a - \\rho c)_+` are positive only where
        :math:`c < a / \\rho`, a small share of the entries near a solution: they
        are computed on those candidates only (``support``, flat indices) and
        kept in one of two zeroed buffers of the part, taken in turn, so an
        evaluation's ``aux`` stays valid until the second evaluation after it
        (the engine needs only the latest one).
        """
        r = self._predictions(C) - self.y
        support = self._candidates_of(C)
        values = self._arguments(C, support)
        np.maximum(values, 0.0, out=values)  # (a - rho G v)_+, the multiplier estimates
        turn = self._turn
        self._turn ^= 1
        q = self._estimates[turn]
        q[self._supports[turn]] = 0.0
        q[support] = values
        self._supports[turn] = support
        r64 = r.astype(np.float64, copy=False)
        value = 0.5 * float(np.vdot(r64, r64)) / self.n + 0.5 * float(np.vdot(values, values)) / self.rho
        # gradient: -X^T (S_i q_i - D_i r / n) for v, -X^T (S_i q_i + D_i r / n) for w
        # (negated on the small (2, d, p) product rather than on the (2, n, p) factor)
        H = self._H
        np.multiply(self._mask, (r * -self._inv_n)[:, None], out=H[0])
        np.negative(H[0], out=H[1])
        flat = H.reshape(-1)
        flat[support] += values * np.take(self._signs, support, mode="wrap")  # the signs of both halves
        G = np.matmul(self.op.X.T, H)
        np.negative(G, out=G)
        grad = G.transpose(0, 2, 1).reshape(2 * self.p, self.d)
        return Evaluation(value, grad, C, (r, q.reshape(2, self.n, self.p), support))

    def bregman(self, at: Evaluation, C: np.ndarray) -> float:
        r"""Exact :math:`f(x) - f(z) - \langle\nabla f(z), x - z\rangle`, as a sum of nonnegative terms.

        Loss part :math:`\|\Delta\hat y\|^2/(2n)`; penalty part, per entry with
        :math:`t = a - \rho c`, :math:`q = t_+`:
        :math:`((q - q_z)^2 + 2 q_z (q - t))/(2\rho)` (no cancellation), summed
        over the entries where :math:`q` or :math:`q_z` may be positive (the
        others contribute zero).
        """
        r_z, q_z, support_z = at.aux
        dpred = (self._predictions(C) - self.y - r_z).astype(np.float64, copy=False)
        np.less(C, self._bar, out=self._candidates)
        self._candidates.reshape(-1)[support_z] = True
        index = np.flatnonzero(self._candidates)
        t = self._arguments(C, index)
        q = np.maximum(t, 0.0)
        qz = np.take(q_z.reshape(-1), index)
        neg = np.subtract(q, t, out=t)  # (-t)_+
        cross = float(np.vdot(qz, neg))
        q -= qz
        pen = float(np.vdot(q, q)) + 2.0 * cross
        return 0.5 * float(np.vdot(dpred, dpred)) / self.n + 0.5 * pen / self.rho

    def constraint_values(self, at: Evaluation) -> np.ndarray:
        """Valid C-ReLU dual constraint values at :math:`\\theta = -r/n` with the multipliers of ``at``."""
        norms = np.linalg.norm(at.grad, axis=-1)
        return np.maximum(norms[: self.p], norms[self.p :])

    def lower_bound(self, at: Evaluation, lam: float) -> DualBound:
        """Certified lower bound from the evaluation ``at`` (any point, any nonnegative multipliers)."""
        return scaled_dual_bound(self.y, -at.aux[0] * self._inv_n, self.constraint_values(at), lam)
