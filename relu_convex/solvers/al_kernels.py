r"""Fused numba kernels for the iterations of the ``"al"`` solver (optional: needs numba).

An iteration of :class:`~relu_convex.solvers.augmented_lagrangian.AugmentedPart`
costs two BLAS products with the data, the cone values
:math:`C = (G_i v_i, G_i w_i)_i` of shape (2, n, p) and the gradient product
:math:`X^\top H`, and about ten elementwise NumPy passes over (2, n, p) arrays.
For small ``d`` those passes cost several times the products.
:class:`FusedAugmentedPart` keeps the two products (``np.matmul``) and does the
elementwise work of each in one pass:

========================  =====================================================
:func:`cone_pass`         after ``C = X V^T``: the signs, the predictions and
                          the penalty arguments (below)
:func:`extrapolate_pass`  :math:`C_z = (C - C_{prev})\beta + C`, its penalty
                          arguments (and predictions, when not known)
:func:`gradient_factor`   the factor ``H`` of the gradient and the multiplier
                          estimates
:func:`bregman_penalty`   the penalty part of the Bregman term (no pass over
                          the (2, n, p) arrays)
========================  =====================================================

Penalty arguments. The penalty needs :math:`t = a - \rho c` (rounded as
``c * (-rho) + a``) where :math:`q = t_+` may be positive: on the support of
the multipliers (``a_index``, the entries with :math:`a > 0`, a small share
near a solution) and where :math:`c < 0` (elsewhere :math:`t = -\rho c \le 0`).
A :class:`Scan` of cone values holds ``t`` on the whole support of the
multipliers (zero estimates included, which add exact zeros to every sum) and
on the violated entries off it, both with increasing flat indices, so that the
gradient factor adds the estimates row by row and the Bregman term pairs two
scans without touching the (2, n, p) arrays.

Roundings. Every entry is computed by the same floating-point operations as in
the NumPy part (``(C - C_prev) * beta + C``, ``c * (-rho) + a``,
``mask * (r * (-1/n))``, exact sign changes), and the estimates are the same
numbers, exactly; only sums are accumulated in another order (the
predictions' row sums in SIMD partial sums, as NumPy's loops do, in the
array's dtype; the penalty sums in float64), so the iterates agree with the
NumPy path to rounding.

Importing this module imports numba and compiles nothing; each kernel is
compiled on its first call for the dtype it sees (float32 or float64) and
cached on disk (``cache=True``), so later processes load it. The kernels are
serial (no threads) and use no fast-math flags except reassociation of the
predictions' row sums.
"""

from __future__ import annotations

import sys
import weakref
from typing import NamedTuple

import numba
import numpy as np

from .augmented_lagrangian import AugmentedPart
from .proximal import Evaluation, extrapolate_products

__all__ = [
    "FusedAugmentedPart",
    "Scan",
    "Estimates",
    "cone_pass",
    "extrapolate_pass",
    "gradient_factor",
    "bregman_penalty",
    "collect_flags",
]

_jit = numba.njit(cache=True, nogil=True)
# reassociation lets the row sums use SIMD accumulators (NumPy's sums do the same)
_sum_jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
# helpers called per row are inlined into the kernels (a call passes every array as several scalars)
_inline = numba.njit(inline="always")

_LITTLE = sys.byteorder == "little"
_U0, _U1, _U16, _U32 = np.uint64(0), np.uint64(1), np.uint64(16), np.uint64(32)
_U_LOW8, _U_LOW16, _U_LOW32 = np.uint64(0xFF), np.uint64(0xFFFF), np.uint64(0xFFFFFFFF)


class Scan(NamedTuple):
    r"""The penalty arguments :math:`t = c \cdot (-\rho) + a` of one array of cone values.

    Attributes
    ----------
    support : ndarray, shape (s,)
        ``t`` at the multipliers' support (the part's ``a_index``, in its order).
    violated : ndarray of intp, shape (v,)
        Flat indices, increasing, of the entries off that support with :math:`c < 0`.
    violated_t : ndarray, shape (v,)
        ``t`` there.
    """

    support: np.ndarray
    violated: np.ndarray
    violated_t: np.ndarray


class Estimates(NamedTuple):
    r"""The multiplier estimates :math:`q = t_+` of an evaluation, on the entries of its :class:`Scan`.

    Every other entry of :math:`q` is zero.
    """

    support: np.ndarray
    violated: np.ndarray
    violated_q: np.ndarray


@_sum_jit
def _masked_row_sum(row: np.ndarray, mask_row: np.ndarray):
    """:math:`\\sum_i m_i c_i` of one row, in the row's dtype (``mask_row`` 0 or 1)."""
    zero = row.dtype.type(0)
    s = zero
    for i in range(row.size):
        s += row[i] if mask_row[i] else zero
    return s


@_inline
def _positive_part(t, zero):
    """:math:`t_+` as ``np.maximum(t, 0)`` (NaN kept); ``zero`` in ``t``'s dtype."""
    return t if not t < zero else zero


@_inline
def _byte_of_bit(low) -> int:
    """Index, in memory order, of the byte of a uint64 holding its single set bit ``low``."""
    b = 0
    if low > _U_LOW32:
        b += 4
        low >>= _U32
    if low > _U_LOW16:
        b += 2
        low >>= _U16
    if low > _U_LOW8:
        b += 1
    return b if _LITTLE else 7 - b


@_jit
def collect_flags(flags: np.ndarray, out: np.ndarray) -> int:
    """Write the indices of the nonzero entries of ``flags`` to ``out`` in increasing order.

    Parameters
    ----------
    flags : ndarray of uint8, shape (m,)
        Entries 0 or 1; ``m`` a multiple of 8.
    out : ndarray of intp, shape (>= number of ones,)

    Returns
    -------
    int
        The number of indices written (``out[:count]`` equals ``np.flatnonzero(flags)``).
    """
    words = flags.view(np.uint64)  # eight flags at a time: most words are zero
    count = 0
    for w in range(words.size):
        x = words[w]
        while x != _U0:
            low = x & (~x + _U1)  # the lowest set bit (bit 0 of a flag byte)
            out[count] = 8 * w + _byte_of_bit(low)
            count += 1
            x ^= low
    return count


_SCAN, _SIGNS, _EXTRAPOLATE = 0, 1, 2  # what _sweep does to each row before scanning it


@_jit
def _sweep(mode: int, C: np.ndarray, C_prev: np.ndarray, beta, out: np.ndarray, mask: np.ndarray, want_pred: bool,
           pred: np.ndarray, a_index: np.ndarray, a_values: np.ndarray, neg_rho, support_t: np.ndarray,
           flags: np.ndarray, index_out: np.ndarray, t_out: np.ndarray) -> int:
    """The body of :func:`cone_pass` (``mode`` _SCAN or _SIGNS, ``out`` is ``C``) and :func:`extrapolate_pass`.

    The loops are written out here, not in per-row helpers: a call per row
    costs more than the row (every array goes as several scalars), and
    inlined helpers kept the row loops from vectorizing.
    """
    _, n, p = C.shape
    s = 0
    for half in range(2):
        for k in range(n):
            start = (half * n + k) * p
            row, mask_row, row_flags = out[half, k], mask[k], flags[start : start + p]  # slices: SIMD loops
            if mode == _EXTRAPOLATE:
                c, c_prev = C[half, k], C_prev[half, k]
                for i in range(p):
                    z = (c[i] - c_prev[i]) * beta + c[i]
                    row[i] = z
                    row_flags[i] = z < 0
            elif mode == _SIGNS:
                for i in range(p):
                    z = row[i]
                    z = z if mask_row[i] else -z
                    row[i] = z
                    row_flags[i] = z < 0
            else:
                for i in range(p):
                    row_flags[i] = row[i] < 0
            if want_pred:
                total = _masked_row_sum(row, mask_row)
                pred[k] = total if half == 0 else pred[k] - total
            # the multipliers' support in this row: t kept there, the entries unflagged
            end = start + p
            while s < a_index.size and a_index[s] < end:
                i = a_index[s] - start
                support_t[s] = row[i] * neg_rho + a_values[s]
                row_flags[i] = 0
                s += 1
    count = collect_flags(flags, index_out)  # the violated entries off the support: a = 0 there
    Cf = out.reshape(-1)
    zero = Cf.dtype.type(0)
    for v in range(count):
        t_out[v] = Cf[index_out[v]] * neg_rho + zero
    return count


@_jit
def cone_pass(C: np.ndarray, mask: np.ndarray, apply_signs: bool, want_pred: bool, pred: np.ndarray,
              a_index: np.ndarray, a_values: np.ndarray, neg_rho, support_t: np.ndarray, flags: np.ndarray,
              index_out: np.ndarray, t_out: np.ndarray) -> int:
    r"""Signs, predictions and penalty arguments of cone values, in one pass.

    Parameters
    ----------
    C : ndarray, shape (2, n, p), C order
        :math:`X V^\top` and :math:`X W^\top` when ``apply_signs`` (multiplied in
        place by the signs :math:`2D - 1`, becoming the cone values), else the
        cone values (not modified).
    mask : ndarray of uint8, shape (n, p), C order
        :math:`D` (entry ``(k, i)`` is :math:`(D_i)_{kk}`).
    apply_signs, want_pred : bool
    pred : ndarray, shape (n,)
        Set to :math:`\sum_i D_i (C[0]_{:, i} - C[1]_{:, i})` when ``want_pred``
        (each half's row sums in ``C``'s dtype, then their difference).
    a_index : ndarray of intp, shape (s,)
        Flat indices (into ``C``) of the positive multipliers, increasing.
    a_values : ndarray, shape (s,)
        The multipliers there.
    neg_rho : scalar of ``C``'s dtype
        :math:`-\rho`.
    support_t : ndarray, shape (s,)
        Receives :math:`t = c \cdot (-\rho) + a` at ``a_index``.
    flags : ndarray of uint8, shape (m,), m >= 2np a multiple of 8, zero beyond 2np
        Scratch.
    index_out : ndarray of intp, shape (2np,)
        Receives the flat indices off ``a_index`` with :math:`c < 0`, increasing.
    t_out : ndarray, shape (2np,)
        Receives :math:`t = c \cdot (-\rho) + 0` there.

    Returns
    -------
    int
        The number of those entries (``index_out[:count]``, ``t_out[:count]``).
    """
    return _sweep(_SIGNS if apply_signs else _SCAN, C, C, neg_rho, C, mask, want_pred, pred, a_index, a_values,
                  neg_rho, support_t, flags, index_out, t_out)


@_jit
def extrapolate_pass(C: np.ndarray, C_prev: np.ndarray, beta, out: np.ndarray, mask: np.ndarray, want_pred: bool,
                     pred: np.ndarray, a_index: np.ndarray, a_values: np.ndarray, neg_rho, support_t: np.ndarray,
                     flags: np.ndarray, index_out: np.ndarray, t_out: np.ndarray) -> int:
    r"""Cone values of the momentum point with their penalty arguments (and predictions), in one pass.

    Writes ``out`` :math:`= (C - C_{prev}) \beta + C` (rounded as
    :func:`relu_convex.solvers.proximal.extrapolate_products`); ``beta`` has
    ``C``'s dtype. The other arguments and the return value are those of
    :func:`cone_pass` for ``out``.
    """
    return _sweep(_EXTRAPOLATE, C, C_prev, beta, out, mask, want_pred, pred, a_index, a_values, neg_rho, support_t,
                  flags, index_out, t_out)


@_jit
def gradient_factor(mask: np.ndarray, scaled_residual: np.ndarray, a_index: np.ndarray, support_t: np.ndarray,
                    violated: np.ndarray, violated_t: np.ndarray, support_q: np.ndarray, violated_q: np.ndarray,
                    H: np.ndarray) -> float:
    r"""The factor ``H`` of the gradient :math:`-X^\top H` and the multiplier estimates, in one pass.

    With :math:`s = r \cdot (-1/n)` (``scaled_residual``), the signs
    :math:`S = 2D - 1` and the estimates :math:`q = t_+` of a :class:`Scan`:

    .. math::

        H[0]_{k, i} = D_{ki} s_k + S_{ki} q[0]_{k, i}, \qquad
        H[1]_{k, i} = -(D_{ki} s_k) + S_{ki} q[1]_{k, i}.

    Parameters
    ----------
    mask : ndarray of uint8, shape (n, p)
    scaled_residual : ndarray, shape (n,)
    a_index, support_t : ndarray, shape (s,)
        The multipliers' support and ``t`` there.
    violated, violated_t : ndarray, shape (v,)
        The violated entries off it and ``t`` there.
    support_q, violated_q : ndarray, shape (s,) and (v,)
        Receive the estimates :math:`q = t_+`.
    H : ndarray, shape (2, n, p)
        Receives the factor.

    Returns
    -------
    float
        :math:`\|q\|^2`, summed in float64.
    """
    _, n, p = H.shape
    zero = H.dtype.type(0)
    lists = ((a_index, support_t, support_q), (violated, violated_t, violated_q))
    position = [0, 0]
    total = 0.0
    for half in range(2):
        for k in range(n):
            r = scaled_residual[k]
            h, mask_row = H[half, k], mask[k]
            if half == 0:
                for i in range(p):
                    h[i] = r if mask_row[i] else zero
            else:
                for i in range(p):
                    h[i] = -(r if mask_row[i] else zero)
            start = (half * n + k) * p
            end = start + p
            for which in range(2):  # add S q at the estimates' entries in this row
                index, t, q = lists[which]
                s = position[which]
                while s < index.size and index[s] < end:
                    i = index[s] - start
                    value = _positive_part(t[s], zero)
                    q[s] = value
                    h[i] += value if mask_row[i] else -value
                    total += float(value) * float(value)
                    s += 1
                position[which] = s
    return total


@_jit
def momentum_pass(C: np.ndarray, C_prev: np.ndarray, beta, mask: np.ndarray, scaled_residual: np.ndarray,
                  a_index: np.ndarray, a_values: np.ndarray, neg_rho, support_q: np.ndarray, flags: np.ndarray,
                  index_out: np.ndarray, q_out: np.ndarray, H: np.ndarray, z_row: np.ndarray) -> tuple[int, float]:
    r""":func:`extrapolate_pass` and :func:`gradient_factor` in one pass, without storing :math:`C_z`.

    The cone values of the momentum point, :math:`z = (c - c_{prev}) \beta + c`,
    are formed row by row in ``z_row`` (shape (p,)); with ``scaled_residual``
    :math:`s = r_z \cdot (-1/n)` from their (known) predictions, ``H`` and the
    estimates :math:`q = (z \cdot (-\rho) + a)_+` follow as in
    :func:`gradient_factor`. The estimates off the multipliers' support, at the
    entries with :math:`z < 0`, are added after the pass (their ``z``
    recomputed by the same formula).

    Returns
    -------
    count : int
        The number of those entries (``index_out[:count]``, their estimates
        ``q_out[:count]``; the support's in ``support_q``).
    total : float
        :math:`\|q\|^2`, summed in float64.
    """
    _, n, p = C.shape
    zero = H.dtype.type(0)
    s = 0
    total = 0.0
    for half in range(2):
        for k in range(n):
            start = (half * n + k) * p
            c, c_prev, mask_row, row_flags, h = C[half, k], C_prev[half, k], mask[k], flags[start : start + p], H[half, k]
            r = scaled_residual[k]
            for i in range(p):
                z = (c[i] - c_prev[i]) * beta + c[i]
                z_row[i] = z
                row_flags[i] = z < 0
                v = r if mask_row[i] else zero
                h[i] = v if half == 0 else -v
            end = start + p
            while s < a_index.size and a_index[s] < end:
                i = a_index[s] - start
                q = _positive_part(z_row[i] * neg_rho + a_values[s], zero)
                support_q[s] = q
                h[i] += q if mask_row[i] else -q
                total += float(q) * float(q)
                row_flags[i] = 0
                s += 1
    count = collect_flags(flags, index_out)
    Cf, Cf_prev, Hf, mask_flat = C.reshape(-1), C_prev.reshape(-1), H.reshape(-1), mask.reshape(-1)
    for v in range(count):
        j = index_out[v]
        z = (Cf[j] - Cf_prev[j]) * beta + Cf[j]
        q = _positive_part(z * neg_rho + zero, zero)
        q_out[v] = q
        Hf[j] += q if mask_flat[j % (n * p)] else -q
        total += float(q) * float(q)
    return count, total


@_inline
def _penalty_terms(t, q_z, zero) -> tuple[float, float]:
    """:math:`((q - q_z)^2, q_z (q - t))` with :math:`q = t_+`, in float64."""
    q = _positive_part(t, zero)
    dq = float(q - q_z)
    return dq * dq, float(q_z) * float(q - t)


@_jit
def bregman_penalty(support_t: np.ndarray, support_qz: np.ndarray, violated: np.ndarray, violated_t: np.ndarray,
                    violated_z: np.ndarray, violated_qz: np.ndarray, Cf: np.ndarray, neg_rho) -> float:
    r"""The penalty part of the Bregman term, :math:`\sum_j (q_j - q_{z,j})^2 + 2 q_{z,j} (q_j - t_j)`.

    With :math:`t = c \cdot (-\rho) + a` and :math:`q = t_+` at the new point
    and :math:`q_z` the estimates at the momentum point. The terms vanish
    where :math:`q = q_z = 0`: the sum runs over the multipliers' support
    (both arguments aligned with it) and the union of the two violated sets
    off it; where only the momentum point's is violated, ``t`` is read from
    ``Cf`` (:math:`a = 0` there).

    Parameters
    ----------
    support_t, support_qz : ndarray, shape (s,)
        ``t`` of the new point and :math:`q_z` on the multipliers' support.
    violated, violated_t : ndarray, shape (v,)
        The new point's violated entries (increasing) and ``t`` there.
    violated_z, violated_qz : ndarray, shape (w,)
        The momentum point's and :math:`q_z` there.
    Cf : ndarray, shape (2np,)
        The new point's cone values, flat.
    neg_rho : scalar of ``Cf``'s dtype

    Returns
    -------
    float
        The sum, in float64.
    """
    zero = Cf.dtype.type(0)
    squares, cross = 0.0, 0.0
    for s in range(support_t.size):
        sq, cr = _penalty_terms(support_t[s], support_qz[s], zero)
        squares += sq
        cross += cr
    i, j, nv, nw = 0, 0, violated.size, violated_z.size
    while i < nv or j < nw:  # merge the two increasing index lists
        if j >= nw or (i < nv and violated[i] < violated_z[j]):
            sq, cr = _penalty_terms(violated_t[i], zero, zero)
            i += 1
        elif i >= nv or violated_z[j] < violated[i]:
            sq, cr = _penalty_terms(Cf[violated_z[j]] * neg_rho + zero, violated_qz[j], zero)
            j += 1
        else:
            sq, cr = _penalty_terms(violated_t[i], violated_qz[j], zero)
            i += 1
            j += 1
        squares += sq
        cross += cr
    return squares + 2.0 * cross


class Momentum:
    r"""The cone values of a momentum point, :math:`(C - C_{prev}) \beta + C`, not yet formed.

    What :meth:`FusedAugmentedPart.extrapolate` returns when the predictions
    of ``C`` and ``C_prev`` are known: :meth:`FusedAugmentedPart.evaluate`
    forms the values row by row (:func:`momentum_pass`), so the (2, n, p) array
    is never stored. ``np.asarray`` forms it.

    Attributes
    ----------
    C, C_prev : ndarray, shape (2, n, p)
    beta : float
    pred : ndarray, shape (n,)
        The predictions of the momentum point, :math:`\hat y + \beta (\hat y - \hat y_{prev})`.
    """

    __slots__ = ("C", "C_prev", "beta", "pred")

    def __init__(self, C: np.ndarray, C_prev: np.ndarray, beta: float, pred: np.ndarray):
        self.C, self.C_prev, self.beta, self.pred = C, C_prev, beta, pred

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = extrapolate_products(self.C, self.C_prev, self.C.dtype.type(self.beta))
        return values if dtype is None else values.astype(dtype, copy=False)


class FusedAugmentedPart(AugmentedPart):
    r""":class:`~relu_convex.solvers.augmented_lagrangian.AugmentedPart` with its elementwise work in fused numba kernels.

    Same interface, math and point layout; ``forward``, ``extrapolate`` and
    ``evaluate`` make one pass over the (2, n, p) arrays besides the BLAS
    product, ``bregman`` none. It remembers, for the last four arrays of cone
    values it produced or scanned, their predictions and :class:`Scan`.
    An evaluation's ``aux`` is ``(residual, Estimates)``
    (:meth:`dense_estimates` gives the (2, n, p) array). NumPy arrays of
    float32 or float64.

    Parameters
    ----------
    op, y, multipliers, rho
        As for :class:`~relu_convex.solvers.augmented_lagrangian.AugmentedPart`.
    """

    def __init__(self, op, y: np.ndarray, multipliers: np.ndarray, rho: float):
        super().__init__(op, y, multipliers, rho)
        size = 2 * self.n * self.p
        self._neg_rho = op.dtype.type(-self.rho)
        self._mask8 = np.ascontiguousarray(op.masks).view(np.uint8)
        self._a_index = np.flatnonzero(self._flat_multipliers > 0)
        self._a_values = np.ascontiguousarray(self._flat_multipliers[self._a_index])
        self._flags = np.zeros(-(-size // 8) * 8, dtype=np.uint8)
        self._index_out = np.empty(size, dtype=np.intp)
        self._t_out = np.empty(size, dtype=op.dtype)
        self._z_row = np.empty(self.p, dtype=op.dtype)
        self._records: list = []  # (weak reference to C, predictions, Scan or None)

    # -- what the part knows about the cone values it has seen -----------------------
    def _record_of(self, C: np.ndarray):
        for record in self._records:
            if record[0]() is C:
                return record
        return None

    def _recall(self, C: np.ndarray) -> np.ndarray | None:
        record = self._record_of(C)
        return None if record is None else record[1]

    def _remember(self, C: np.ndarray, pred: np.ndarray, scan: Scan | None = None) -> None:
        self._records = [*self._records[-3:], (weakref.ref(C), pred, scan)]

    def _new_scan(self, count: int, support_t: np.ndarray) -> Scan:
        return Scan(support_t, self._index_out[:count].copy(), self._t_out[:count].copy())

    def _scanned(self, C: np.ndarray) -> tuple[np.ndarray, Scan]:
        """Predictions and :class:`Scan` of ``C``, computed in one pass when not known."""
        record = self._record_of(C)
        if record is not None and record[2] is not None:
            return record[1], record[2]
        pred = np.empty(self.n, dtype=C.dtype) if record is None else record[1]
        support_t = np.empty(self._a_index.size, dtype=C.dtype)
        count = cone_pass(C, self._mask8, False, record is None, pred, self._a_index, self._a_values, self._neg_rho,
                          support_t, self._flags, self._index_out, self._t_out)
        scan = self._new_scan(count, support_t)
        self._remember(C, pred, scan)
        return pred, scan

    def dense_estimates(self, at: Evaluation) -> np.ndarray:
        """The multiplier estimates :math:`(a - \\rho c)_+` of the evaluation ``at`` as an array of shape (2, n, p)."""
        est = at.aux[1]
        q = np.zeros(2 * self.n * self.p, dtype=self.op.dtype)
        q[self._a_index] = est.support
        q[est.violated] = est.violated_q
        return q.reshape(2, self.n, self.p)

    # -- the SmoothPart interface ----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Cone values, shape (2, n, p) (their predictions and penalty arguments are remembered)."""
        C = np.matmul(self.op.X, x.reshape(2, self.p, self.d).transpose(0, 2, 1))
        pred = np.empty(self.n, dtype=C.dtype)
        support_t = np.empty(self._a_index.size, dtype=C.dtype)
        count = cone_pass(C, self._mask8, True, True, pred, self._a_index, self._a_values, self._neg_rho, support_t,
                          self._flags, self._index_out, self._t_out)
        self._remember(C, pred, self._new_scan(count, support_t))
        return C

    def extrapolate(self, C: np.ndarray, C_prev: np.ndarray, beta: float) -> np.ndarray | Momentum:
        """Cone values of the momentum point, :math:`(C - C_{prev}) \\beta + C` (see :meth:`AugmentedPart.extrapolate`).

        A :class:`Momentum` (formed by :meth:`evaluate` on the fly) when the
        predictions of ``C`` and ``C_prev`` are known, else the array.
        """
        pred, pred_prev = self._recall(C), self._recall(C_prev)
        if pred is not None and pred_prev is not None:
            return Momentum(C, C_prev, beta, pred + beta * (pred - pred_prev))
        Cz = np.empty_like(C)
        pred_z = np.empty(self.n, dtype=C.dtype)
        support_t = np.empty(self._a_index.size, dtype=C.dtype)
        count = extrapolate_pass(C, C_prev, C.dtype.type(beta), Cz, self._mask8, True, pred_z, self._a_index,
                                 self._a_values, self._neg_rho, support_t, self._flags, self._index_out, self._t_out)
        self._remember(Cz, pred_z, self._new_scan(count, support_t))
        return Cz

    def evaluate(self, C: np.ndarray | Momentum) -> Evaluation:
        """Value and gradient, as :meth:`AugmentedPart.evaluate`; ``aux`` is ``(residual, Estimates)``."""
        if isinstance(C, Momentum):
            r = C.pred - self.y
            support_q = np.empty(self._a_index.size, dtype=r.dtype)
            count, sumsq = momentum_pass(C.C, C.C_prev, C.C.dtype.type(C.beta), self._mask8, r * -self._inv_n,
                                         self._a_index, self._a_values, self._neg_rho, support_q, self._flags,
                                         self._index_out, self._t_out, self._H, self._z_row)
            est = Estimates(support_q, self._index_out[:count].copy(), self._t_out[:count].copy())
        else:
            pred, scan = self._scanned(C)
            r = pred - self.y
            est = Estimates(np.empty_like(scan.support), scan.violated, np.empty_like(scan.violated_t))
            sumsq = gradient_factor(self._mask8, r * -self._inv_n, self._a_index, scan.support, scan.violated,
                                    scan.violated_t, est.support, est.violated_q, self._H)
        r64 = r.astype(np.float64, copy=False)
        value = 0.5 * float(np.vdot(r64, r64)) / self.n + 0.5 * sumsq / self.rho
        G = np.matmul(self.op.X.T, self._H)
        np.negative(G, out=G)
        grad = G.transpose(0, 2, 1).reshape(2 * self.p, self.d)
        return Evaluation(value, grad, C, (r, est))

    def bregman(self, at: Evaluation, C: np.ndarray) -> float:
        """Exact Bregman term, as :meth:`AugmentedPart.bregman` (no pass over the (2, n, p) arrays)."""
        r_z, est = at.aux
        pred, scan = self._scanned(C)
        dpred = (pred - self.y - r_z).astype(np.float64, copy=False)
        pen = bregman_penalty(scan.support, est.support, scan.violated, scan.violated_t, est.violated,
                              est.violated_q, C.reshape(-1), self._neg_rho)
        return 0.5 * float(np.vdot(dpred, dpred)) / self.n + 0.5 * pen / self.rho
