r"""The smooth parts of ``"fista"`` and ``"al"`` for array-API libraries (PyTorch tensors, any device).

These mirror :class:`relu_convex.solvers.fista.LeastSquaresPart` (C-GReLU)
and :class:`relu_convex.solvers.al_part.AugmentedPart` (C-ReLU)
with the arithmetic of an :class:`~relu_convex.backend.ArrayAPIMaskedOperator`,
so the products, gradients and proximal steps stay in the library and on the
device of the problem's ``X`` (:attr:`relu_convex.GatedReLUProblem.array_data`).
The NumPy classes stay separate: they use preallocated buffers and ``out=``
arguments that the array API does not have, and the NumPy route must not pay
for the generality.

Certificates. Each check moves :math:`\theta = -r/n` (shape (n,)) and the
constraint values (shape (p,)) to the host and scales them with
:func:`relu_convex.duality.scaled_dual_bound` in float64, exactly as the
NumPy route does; the solvers recompute the reported bound on the host at the
returned weights (in float64 for float32 data).
"""

from __future__ import annotations

import numpy as np

from ..backend import ArrayAPIMaskedOperator, to_numpy
from ..duality import DualBound, scaled_dual_bound
from .proximal import Evaluation, ops_for

__all__ = ["ArrayLeastSquaresPart", "ArrayAugmentedPart"]


class ArrayLeastSquaresPart:
    r"""The C-GReLU loss :math:`\|\sum_i D_i X u_i - y\|^2 / (2n)` for arrays of any array-API library.

    Parameters
    ----------
    op : ArrayAPIMaskedOperator
    y : array, shape (n,) or (n, c)
        Targets in ``op``'s library, dtype and device.
    y_host : ndarray, shape (n,) or (n, c)
        The same targets on the host (for the certificates).
    """

    def __init__(self, op: ArrayAPIMaskedOperator, y, y_host: np.ndarray):
        self.op, self.xp = op, op.xp
        self.y, self.y_host = y, y_host
        self.n = op.n
        self._inv_n = 1.0 / op.n
        self._ops = ops_for(y)

    def forward(self, U):
        """Predictions :math:`\\sum_i D_i X u_i`, shape (n,) or (n, c)."""
        return self.op.forward(U)

    def evaluate(self, P) -> Evaluation:
        """Loss and gradient :math:`A^\\top (P - y) / n`; ``aux`` is the residual ``P - y``."""
        r = P - self.y
        return Evaluation(0.5 * self._ops.sumsq64(r) / self.n, self.op.adjoint(r * self._inv_n), P, r)

    def evaluation_from(self, P, grad) -> Evaluation:
        """The evaluation at the point with predictions ``P`` whose gradient is known."""
        r = P - self.y
        return Evaluation(0.5 * self._ops.sumsq64(r) / self.n, grad, P, r)

    def bregman(self, at: Evaluation, P) -> float:
        """Exactly :math:`\\|P - P_z\\|^2 / (2n)` (the loss is quadratic)."""
        return 0.5 * self._ops.sumsq64(P - at.products) / self.n

    def lower_bound(self, at: Evaluation, lam: float) -> DualBound:
        r"""Certified bound from :math:`\theta = -r/n`, scaled on the host; ``theta`` is a NumPy array."""
        values = to_numpy(self.xp.linalg.vector_norm(at.grad, axis=-1))  # ||X^T D_i theta|| = ||grad_i||
        return scaled_dual_bound(self.y_host, to_numpy(at.aux * -self._inv_n), values, lam)


class ArrayAugmentedPart:
    r"""The smooth part of the C-ReLU augmented Lagrangian for one output, for any array-API library.

    Same point layout and math as :class:`~relu_convex.solvers.al_part.AugmentedPart`:
    ``x`` of shape (2p, d) (rows :math:`v_i`, then :math:`w_i`), products the
    cone values :math:`C` of shape (2, n, p).

    Parameters
    ----------
    op : ArrayAPIMaskedOperator
    y : array, shape (n,)
        One output's targets in ``op``'s library.
    y_host : ndarray, shape (n,)
        The same on the host.
    multipliers : array, shape (2, n, p)
        Nonnegative :math:`a_i` (``multipliers[0]``) and :math:`b_i` (``multipliers[1]``).
    rho : float
    """

    def __init__(self, op: ArrayAPIMaskedOperator, y, y_host: np.ndarray, multipliers, rho: float):
        self.op, self.xp = op, op.xp
        self.y, self.y_host = y, y_host
        self.n, self.p, self.d = op.n, op.p, op.d
        self.multipliers = multipliers
        self.rho = float(rho)
        self._inv_n = 1.0 / op.n
        self._ops = ops_for(y)

    def forward(self, x):
        """Cone values, shape (2, n, p)."""
        xp = self.xp
        V = xp.permute_dims(xp.reshape(x, (2, self.p, self.d)), (0, 2, 1))
        return xp.matmul(self.op.X, V) * self.op.signs

    def predictions(self, C):
        """:math:`\\sum_i D_i X (v_i - w_i)` from the cone values, shape (n,)."""
        return self.op.masked_sum(C[0, ...] - C[1, ...])

    def _estimates(self, C):
        """The multiplier estimates :math:`(a - \\rho G v)_+` and the argument :math:`a - \\rho G v`."""
        t = self.multipliers - self.rho * C
        return self._ops.positive_part(t), t

    def evaluate(self, C) -> Evaluation:
        """Value and gradient; ``aux`` is ``(residual, multiplier estimates)``."""
        xp = self.xp
        r = self.predictions(C) - self.y
        q, _ = self._estimates(C)
        value = 0.5 * self._ops.sumsq64(r) / self.n + 0.5 * self._ops.vdot(q, q) / self.rho
        # gradient: X^T (D_i r / n - S_i q_i) for v, X^T (-D_i r / n - S_i q_i) for w
        Mr = self.op.mask * (r * self._inv_n)[:, None]
        H = xp.stack([Mr, -Mr]) - self.op.signs * q
        G = xp.matmul(xp.permute_dims(self.op.X, (1, 0)), H)  # (2, d, p)
        grad = xp.reshape(xp.permute_dims(G, (0, 2, 1)), (2 * self.p, self.d))
        return Evaluation(value, grad, C, (r, q))

    def bregman(self, at: Evaluation, C) -> float:
        r"""Exact :math:`f(x) - f(z) - \langle\nabla f(z), x - z\rangle` as a sum of nonnegative terms."""
        r_z, q_z = at.aux
        dpred = self.predictions(C) - self.y - r_z
        q, t = self._estimates(C)
        cross = self._ops.vdot(q_z, q - t)  # q - t = (-t)_+
        dq = q - q_z
        pen = self._ops.vdot(dq, dq) + 2.0 * cross
        return 0.5 * self._ops.sumsq64(dpred) / self.n + 0.5 * pen / self.rho

    def constraint_values(self, at: Evaluation):
        """Valid C-ReLU dual constraint values at :math:`\\theta = -r/n`, shape (p,), in the library."""
        norms = self.xp.linalg.vector_norm(at.grad, axis=-1)
        return self.xp.maximum(norms[: self.p], norms[self.p :])

    def lower_bound(self, at: Evaluation, lam: float) -> DualBound:
        """Certified lower bound from ``at``, scaled on the host; ``theta`` is a NumPy array."""
        theta = to_numpy(at.aux[0] * -self._inv_n)
        return scaled_dual_bound(self.y_host, theta, to_numpy(self.constraint_values(at)), lam)
