r"""Fused numba kernels for the iterations of the ``"al"`` solver (optional: needs numba).

An iteration of :class:`~relu_convex.solvers.al_part.AugmentedPart`
costs two BLAS products with the data, the cone values of shape (2, n, p)
:math:`C = (S_i \odot X v_i, S_i \odot X w_i)_i` (:math:`S = 2D - 1`) and the
gradient product :math:`X^\top H`, and about ten elementwise NumPy passes over
(2, n, p) arrays (signs, predictions, extrapolation, candidates, the factor
``H``, the Bregman term). For small ``d`` those passes cost several times the
products. :class:`FusedAugmentedPart` keeps the two products (``np.matmul``)
and does the elementwise work of each in one pass:

======================  =======================================================
:func:`cone_pass`       after ``U = X V^T`` (the raw products; the cone values
                        are :math:`\pm u`, signed as they are read): the
                        predictions, the penalty arguments (below) and the
                        smallest cone value
:func:`gradient_pass`   before ``X^T H``: the cone values of the momentum point
                        :math:`(U - U_{prev}) \beta + U`, formed row by row and
                        never stored, the factor ``H`` and the multiplier
                        estimates
:func:`bregman_penalty` the penalty part of the Bregman term, from the arguments
                        and estimates alone (no pass over (2, n, p) arrays)
======================  =======================================================

Penalty arguments. The penalty needs :math:`t = a - \rho c` (rounded as
``c * (-rho) + a``) where :math:`q = t_+` may be positive: on the support of
the multipliers (``a_index``, the entries with :math:`a > 0`, a small share
near a solution) and where :math:`c < 0` (elsewhere :math:`t = -\rho c \le 0`).
A :class:`Scan` holds ``t`` on the whole support of the multipliers (zero
estimates there add exact zeros to every sum) and on the violated entries off
it. The NumPy part finds the same entries with the bar :math:`c < a / \rho`
(raised by a few roundings); here the support is known and only :math:`c < 0`
is tested: a flag per entry, written as each row is read (the support's
entries unflagged), then the few flagged entries collected eight flags at a
time (:func:`collect_flags`).

Roundings. Every entry is computed by the same floating-point operations as in
the NumPy part (``(C - C_prev) * beta + C``, ``c * (-rho) + a``,
``mask * (r * (-1/n))``, exact sign changes), and the estimates are the same
numbers, exactly; only sums are accumulated in another order (the
predictions' row sums in SIMD partial sums, as NumPy's loops do, in the
array's dtype; the penalty sums in float64; the group norms of
:class:`FusedOps` row by row), so the iterates agree with the NumPy path to
rounding. (Over hundreds of iterations any two roundings drift apart, the
NumPy path's own as much: a change of ``x0`` in the last bit grows to about
``1e-5`` relative after 300 iterations; both reach the same optimum.)

Importing this module imports numba and compiles nothing; each kernel is
compiled on its first call for the dtypes it sees (float32 or float64) and
cached on disk (``cache=True``), so later processes load it (a fraction of a
second against a few seconds). The kernels are serial (no threads) and use no
fast-math flags except reassociation of the predictions' row sums.
"""

from __future__ import annotations

import sys
import weakref
from typing import NamedTuple

import numba
import numpy as np

from .al_part import AugmentedPart
from .proximal import ArrayOps, Evaluation, extrapolate_products, group_norm_sum, group_soft_threshold

__all__ = [
    "FusedAugmentedPart",
    "Scan",
    "Estimates",
    "Momentum",
    "FusedOps",
    "cone_pass",
    "gradient_pass",
    "bregman_penalty",
    "collect_flags",
]

_jit = numba.njit(cache=True, nogil=True)
# reassociation lets the row sums use SIMD accumulators (NumPy's sums do the same)
_sum_jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
# scalar helpers are inlined (a call passes every array as several scalars); note that
# float(x) of a float32 x stays float32 in numba: np.float64(x) widens
_inline = numba.njit(inline="always")


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
    smallest : float
        :math:`\min(0, \min_j c_j)` over all the cone values.
    """

    support: np.ndarray
    violated: np.ndarray
    violated_t: np.ndarray
    smallest: float


class Estimates(NamedTuple):
    r"""The multiplier estimates :math:`q = t_+` of an evaluation; every other entry of :math:`q` is zero.

    Attributes
    ----------
    support : ndarray, shape (s,)
        :math:`q` at the multipliers' support (the part's ``a_index``).
    violated : ndarray of intp, shape (v,)
        Flat indices, increasing, of the entries off that support with :math:`c < 0`.
    violated_q : ndarray, shape (v,)
        :math:`q` there.
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


_LITTLE = sys.byteorder == "little"
_U0, _U1, _U16, _U32 = np.uint64(0), np.uint64(1), np.uint64(16), np.uint64(32)
_U_LOW8, _U_LOW16, _U_LOW32 = np.uint64(0xFF), np.uint64(0xFFFF), np.uint64(0xFFFFFFFF)


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


@_jit
def cone_pass(U: np.ndarray, mask: np.ndarray, want_pred: bool, pred: np.ndarray, a_index: np.ndarray,
              a_values: np.ndarray, neg_rho, support_t: np.ndarray, flags: np.ndarray, index_out: np.ndarray,
              t_out: np.ndarray) -> tuple[int, float]:
    r"""Predictions and penalty arguments of raw products, in one pass (``U`` is read only).

    The cone values are :math:`c = S \odot u` with the signs :math:`S = 2D - 1`
    (:math:`\pm u` exactly), formed entry by entry. The loops are written out
    here rather than in per-row helpers: a call per row costs more than the row
    (every array goes as several scalars), and inlined helpers kept the row
    loops from vectorizing.

    Parameters
    ----------
    U : ndarray, shape (2, n, p), C order
        The raw products :math:`X V^\top` and :math:`X W^\top`.
    mask : ndarray of uint8, shape (n, p), C order
        :math:`D` (entry ``(k, i)`` is :math:`(D_i)_{kk}`).
    want_pred : bool
    pred : ndarray, shape (n,)
        Set to :math:`\sum_i D_i (U[0]_{:, i} - U[1]_{:, i})` when ``want_pred``
        (each half's row sums in ``U``'s dtype, then their difference; on the
        mask :math:`c = u`).
    a_index : ndarray of intp, shape (s,)
        Flat indices (into ``U``) of the positive multipliers, increasing.
    a_values : ndarray, shape (s,)
        The multipliers there.
    neg_rho : scalar of ``U``'s dtype
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
    count : int
        The number of those entries (``index_out[:count]``, ``t_out[:count]``).
    smallest : float
        :math:`\min(0, \min_j c_j)`, from the entries visited (every negative one is).
    """
    _, n, p = U.shape
    zero = U.dtype.type(0)
    smallest = zero
    s = 0
    for half in range(2):
        for k in range(n):
            start = (half * n + k) * p
            row, mask_row, row_flags = U[half, k], mask[k], flags[start : start + p]  # slices: SIMD loops
            for i in range(p):
                row_flags[i] = (row[i] if mask_row[i] else -row[i]) < 0
            if want_pred:
                total = _masked_row_sum(row, mask_row)
                pred[k] = total if half == 0 else pred[k] - total
            # the multipliers' support in this row: t kept there, the entries unflagged
            end = start + p
            while s < a_index.size and a_index[s] < end:
                i = a_index[s] - start
                c = row[i] if mask_row[i] else -row[i]
                smallest = c if c < smallest else smallest
                support_t[s] = c * neg_rho + a_values[s]
                row_flags[i] = 0
                s += 1
    # the violated entries off the support (a = 0 there): few, collected eight flags at a time
    count = collect_flags(flags, index_out)
    values, mask_flat = U.reshape(-1), mask.reshape(-1)
    for v in range(count):
        j = index_out[v]
        c = values[j] if mask_flat[j % (n * p)] else -values[j]
        smallest = c if c < smallest else smallest
        t_out[v] = c * neg_rho + zero
    return count, float(smallest)


@_jit
def gradient_pass(U: np.ndarray, U_prev: np.ndarray, beta, mask: np.ndarray, scaled_residual: np.ndarray,
                  a_index: np.ndarray, a_values: np.ndarray, neg_rho, support_q: np.ndarray, flags: np.ndarray,
                  index_out: np.ndarray, q_out: np.ndarray, H: np.ndarray, z_row: np.ndarray) -> tuple[int, float]:
    r"""The factor of the gradient and the multiplier estimates at the point with products :math:`(U - U_{prev}) \beta + U`, in one pass.

    The point's cone values, :math:`c = \pm ((u - u_{prev}) \beta + u)`
    (rounded as :func:`relu_convex.solvers.proximal.extrapolate_products`; the
    signs commute with every rounding), are formed row by row in ``z_row`` and
    never stored; ``U_prev = U`` with ``beta = 0`` gives the point of ``U``
    itself (:math:`c = \pm u` exactly). With :math:`s = r \cdot (-1/n)`
    (``scaled_residual``, from the point's predictions), the signs
    :math:`S = 2D - 1` and the estimates :math:`q = (c \cdot (-\rho) + a)_+`,
    nonzero only on the multipliers' support and where :math:`c < 0`:

    .. math::

        H[0]_{k, i} = D_{ki} s_k + S_{ki} q[0]_{k, i}, \qquad
        H[1]_{k, i} = -(D_{ki} s_k) + S_{ki} q[1]_{k, i},

    and the gradient is :math:`-X^\top H`. ``H`` receives :math:`-H`, so that
    :math:`X^\top` times it is the gradient with no negation pass (the signs
    change exactly).

    Parameters
    ----------
    U, U_prev : ndarray, shape (2, n, p), C order
    beta : scalar of ``U``'s dtype
    mask : ndarray of uint8, shape (n, p)
    scaled_residual : ndarray, shape (n,)
    a_index, a_values : ndarray, shape (s,)
        As for :func:`cone_pass`.
    neg_rho : scalar of ``U``'s dtype
    support_q : ndarray, shape (s,)
        Receives :math:`q` at ``a_index``.
    flags : ndarray of uint8, shape (m,), m >= 2np a multiple of 8, zero beyond 2np
        Scratch.
    index_out : ndarray of intp, shape (2np,)
        Receives the flat indices off ``a_index`` with :math:`c < 0`, increasing.
    q_out : ndarray, shape (2np,)
        Receives :math:`q` there.
    H : ndarray, shape (2, n, p)
        Receives :math:`-H`.
    z_row : ndarray, shape (p,)
        Scratch.

    Returns
    -------
    count : int
        The number of entries off the support with :math:`c < 0`.
    total : float
        :math:`\|q\|^2`, summed in float64.
    """
    _, n, p = U.shape
    zero = H.dtype.type(0)
    s = 0
    total = 0.0
    for half in range(2):
        for k in range(n):
            start = (half * n + k) * p
            u, u_prev, mask_row, h = U[half, k], U_prev[half, k], mask[k], H[half, k]
            row_flags = flags[start : start + p]
            r = scaled_residual[k]
            for i in range(p):
                z = (u[i] - u_prev[i]) * beta + u[i]
                c = z if mask_row[i] else -z
                z_row[i] = c
                row_flags[i] = c < 0
                v = r if mask_row[i] else zero
                h[i] = -v if half == 0 else v
            end = start + p
            while s < a_index.size and a_index[s] < end:
                i = a_index[s] - start
                q = _positive_part(z_row[i] * neg_rho + a_values[s], zero)
                support_q[s] = q
                h[i] -= q if mask_row[i] else -q
                total += np.float64(q) * np.float64(q)
                row_flags[i] = 0
                s += 1
    # the violated entries off the support (a = 0 there): few, collected eight flags at a time
    count = collect_flags(flags, index_out)
    Uf, Uf_prev, Hf, mask_flat = U.reshape(-1), U_prev.reshape(-1), H.reshape(-1), mask.reshape(-1)
    for v in range(count):
        j = index_out[v]
        m = mask_flat[j % (n * p)]
        z = (Uf[j] - Uf_prev[j]) * beta + Uf[j]  # the same roundings as in the pass
        q = _positive_part((z if m else -z) * neg_rho + zero, zero)
        q_out[v] = q
        Hf[j] -= q if m else -q
        total += np.float64(q) * np.float64(q)
    return count, total


@_inline
def _penalty_terms(t, q_z, zero) -> tuple[float, float]:
    """:math:`((q - q_z)^2, q_z (q - t))` with :math:`q = t_+`, in float64."""
    q = _positive_part(t, zero)
    dq = np.float64(q - q_z)
    return dq * dq, np.float64(q_z) * np.float64(q - t)


@_jit
def bregman_penalty(support_t: np.ndarray, support_qz: np.ndarray, violated: np.ndarray, violated_t: np.ndarray,
                    violated_z: np.ndarray, violated_qz: np.ndarray, U: np.ndarray, mask: np.ndarray, neg_rho) -> float:
    r"""The penalty part of the Bregman term, :math:`\sum_j (q_j - q_{z,j})^2 + 2 q_{z,j} (q_j - t_j)`.

    With :math:`t = c \cdot (-\rho) + a` and :math:`q = t_+` at the new point
    and :math:`q_z` the estimates at the momentum point. The terms vanish
    where :math:`q = q_z = 0`: the sum runs over the multipliers' support
    (both arguments aligned with it) and the union of the two violated sets
    off it; where only the momentum point's is violated, ``t`` follows from
    ``U`` (:math:`a = 0` there).

    Parameters
    ----------
    support_t, support_qz : ndarray, shape (s,)
        ``t`` of the new point and :math:`q_z` on the multipliers' support.
    violated, violated_t : ndarray, shape (v,)
        The new point's violated entries (increasing) and ``t`` there.
    violated_z, violated_qz : ndarray, shape (w,)
        The momentum point's and :math:`q_z` there.
    U : ndarray, shape (2, n, p)
        The new point's raw products.
    mask : ndarray of uint8, shape (n, p)
    neg_rho : scalar of ``U``'s dtype

    Returns
    -------
    float
        The sum, in float64.
    """
    zero, values, mask_flat = U.dtype.type(0), U.reshape(-1), mask.reshape(-1)
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
            e = violated_z[j]
            c = values[e] if mask_flat[e % mask_flat.size] else -values[e]
            sq, cr = _penalty_terms(c * neg_rho + zero, violated_qz[j], zero)
            j += 1
        else:
            sq, cr = _penalty_terms(violated_t[i], violated_qz[j], zero)
            i += 1
            j += 1
        squares += sq
        cross += cr
    return squares + 2.0 * cross


@_jit
def _soft_threshold(v: np.ndarray, threshold, out: np.ndarray) -> None:
    """:func:`relu_convex.solvers.proximal.group_soft_threshold` of the rows of ``v`` into ``out`` (``threshold`` in ``v``'s dtype)."""
    zero, one = v.dtype.type(0), v.dtype.type(1)
    for i in range(v.shape[0]):
        row, dest = v[i], out[i]
        norm2 = zero
        for j in range(row.size):
            norm2 += row[j] * row[j]
        norm = np.sqrt(norm2)
        scale = one - threshold / norm if norm > threshold else zero
        for j in range(row.size):
            dest[j] = row[j] * scale


@_jit
def _group_norm_sum(x: np.ndarray) -> float:
    r""":math:`\sum_i \|x_i\|_2` over the rows, in float64."""
    total = 0.0
    for i in range(x.shape[0]):
        norm2 = 0.0
        for j in range(x.shape[1]):
            norm2 += np.float64(x[i, j]) * np.float64(x[i, j])
        total += np.sqrt(norm2)
    return total


@_jit
def _max_row_norm(a: np.ndarray) -> float:
    r""":math:`\max_i \|a_i\|_2` (0 for no rows), the squares summed in ``a``'s dtype."""
    largest = a.dtype.type(0)
    for i in range(a.shape[0]):
        norm2 = a.dtype.type(0)
        for j in range(a.shape[1]):
            norm2 += a[i, j] * a[i, j]
        largest = max(largest, norm2)
    return float(np.sqrt(largest))


class FusedOps(ArrayOps):
    """:class:`~relu_convex.solvers.proximal.ArrayOps` whose row-wise steps are numba kernels (one call each).

    Same formulas as the NumPy functions (group norms summed in the array's
    dtype for the proximal step and the largest row, in float64 for the sum);
    only the order of the sums over a row differs. Arrays of shape (m, d) in
    C order; others go to the NumPy functions.
    """

    @staticmethod
    def soft_threshold(v: np.ndarray, threshold: float) -> np.ndarray:
        if v.ndim != 2 or not v.flags.c_contiguous:
            return group_soft_threshold(v, threshold)
        out = np.empty_like(v)
        _soft_threshold(v, v.dtype.type(threshold), out)
        return out

    @staticmethod
    def group_norm_sum(x: np.ndarray) -> float:
        return _group_norm_sum(x) if x.ndim == 2 else group_norm_sum(x)

    @staticmethod
    def max_row_norm(a: np.ndarray) -> float:
        return _max_row_norm(a) if a.ndim == 2 else ArrayOps.max_row_norm(a)


class Momentum:
    r"""The raw products of a momentum point, :math:`(U - U_{prev}) \beta + U`, not yet formed.

    What :meth:`FusedAugmentedPart.extrapolate` returns:
    :meth:`FusedAugmentedPart.evaluate` forms the values row by row
    (:func:`gradient_pass`), so the (2, n, p) array is never stored.
    ``np.asarray`` forms it.

    Attributes
    ----------
    U, U_prev : ndarray, shape (2, n, p)
    beta : float
    pred : ndarray, shape (n,)
        The predictions of the momentum point, :math:`\hat y + \beta (\hat y - \hat y_{prev})`.
    """

    __slots__ = ("U", "U_prev", "beta", "pred")

    def __init__(self, U: np.ndarray, U_prev: np.ndarray, beta: float, pred: np.ndarray):
        self.U, self.U_prev, self.beta, self.pred = U, U_prev, beta, pred

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = extrapolate_products(self.U, self.U_prev, self.U.dtype.type(self.beta))
        return values if dtype is None else values.astype(dtype, copy=False)


class FusedAugmentedPart(AugmentedPart):
    r""":class:`~relu_convex.solvers.al_part.AugmentedPart` with its elementwise work in fused numba kernels.

    Same math and point layout. Its products are the *raw* products
    :math:`U = (X v_i, X w_i)_i`, shape (2, n, p), whose signed entries
    :math:`S \odot U` (exact sign changes) are the cone values of
    :class:`~relu_convex.solvers.al_part.AugmentedPart`
    (:meth:`cone_values`): the kernels form the cone values as they read, so no
    pass writes them. ``forward`` and ``evaluate`` make one pass over the
    (2, n, p) arrays besides the BLAS product; ``extrapolate`` returns a
    :class:`Momentum` that ``evaluate`` forms row by row, and ``bregman`` works
    on the :class:`Scan` and :class:`Estimates` alone. The part remembers, for
    the last four arrays of products it produced or scanned, their predictions
    and :class:`Scan` (whose smallest cone value gives the violation,
    :meth:`smallest_cone_value`). An evaluation's ``aux`` is
    ``(residual, Estimates)`` (:meth:`dense_estimates` gives the (2, n, p)
    array). ``ops`` (:class:`FusedOps`) does the engine's row-wise steps.
    NumPy arrays of float32 or float64.

    Parameters
    ----------
    op, y, multipliers, rho
        As for :class:`~relu_convex.solvers.al_part.AugmentedPart`.
    """

    def __init__(self, op, y: np.ndarray, multipliers: np.ndarray, rho: float):
        super().__init__(op, y, multipliers, rho)
        self._neg_rho = op.dtype.type(-self.rho)
        self._mask8 = np.ascontiguousarray(op.masks).view(np.uint8)
        self._z_row = np.empty(self.p, dtype=op.dtype)
        self._records: list = []  # (weak reference to U, predictions, Scan or None)
        self.ops = FusedOps()  # the engine's row-wise steps (fista uses a part's ops)

    def _candidate_scratch(self, a: np.ndarray) -> None:
        """The multipliers' support, their values there, and room for the violated entries (replaces the bar)."""
        self._a_index = np.flatnonzero(self._flat_multipliers > 0)
        self._a_values = np.ascontiguousarray(self._flat_multipliers[self._a_index])
        self._index_out = np.empty(a.size, dtype=np.intp)
        self._t_out = np.empty(a.size, dtype=a.dtype)
        self._flags = np.zeros(-(-a.size // 8) * 8, dtype=np.uint8)

    # -- what the part knows about the products it has seen ---------------------------
    def _record_of(self, U: np.ndarray):
        for record in self._records:
            if record[0]() is U:
                return record
        return None

    def _recall(self, U: np.ndarray) -> np.ndarray | None:
        record = self._record_of(U)
        return None if record is None else record[1]

    def _remember(self, U: np.ndarray, pred: np.ndarray, scan: Scan | None = None) -> None:
        self._records = [*self._records[-3:], (weakref.ref(U), pred, scan)]

    def _scan(self, U: np.ndarray, pred: np.ndarray | None = None) -> tuple[np.ndarray, Scan]:
        """One :func:`cone_pass` over ``U`` (the predictions too unless given); the result is remembered."""
        want_pred = pred is None
        if want_pred:
            pred = np.empty(self.n, dtype=U.dtype)
        support_t = np.empty(self._a_index.size, dtype=U.dtype)
        count, smallest = cone_pass(U, self._mask8, want_pred, pred, self._a_index, self._a_values, self._neg_rho,
                                    support_t, self._flags, self._index_out, self._t_out)
        scan = Scan(support_t, self._index_out[:count].copy(), self._t_out[:count].copy(), smallest)
        self._remember(U, pred, scan)
        return pred, scan

    def _scanned(self, U: np.ndarray) -> tuple[np.ndarray, Scan]:
        """Predictions and :class:`Scan` of ``U``, recalled or computed."""
        record = self._record_of(U)
        if record is not None and record[2] is not None:
            return record[1], record[2]
        return self._scan(U, None if record is None else record[1])

    def cone_values(self, U: np.ndarray | Momentum) -> np.ndarray:
        """The cone values :math:`S \\odot U` of products, shape (2, n, p) (a new array)."""
        return np.asarray(U) * self._signs.reshape(self.n, self.p)

    def smallest_cone_value(self, U: np.ndarray) -> float:
        """:math:`\\min(0, \\min_j c_j)` over the cone values of products ``U`` (from its :class:`Scan`)."""
        return self._scanned(U)[1].smallest

    def dense_estimates(self, at: Evaluation) -> np.ndarray:
        """The multiplier estimates :math:`(a - \\rho c)_+` of the evaluation ``at`` as an array of shape (2, n, p)."""
        est = at.aux[1]
        q = np.zeros(2 * self.n * self.p, dtype=self.op.dtype)
        q[self._a_index] = est.support
        q[est.violated] = est.violated_q
        return q.reshape(2, self.n, self.p)

    # -- the SmoothPart interface ----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Raw products :math:`U`, shape (2, n, p) (their predictions and :class:`Scan` are remembered)."""
        U = np.matmul(self.op.X, x.reshape(2, self.p, self.d).transpose(0, 2, 1))
        self._scan(U)
        return U

    def extrapolate(self, U: np.ndarray, U_prev: np.ndarray, beta: float) -> Momentum:
        """Products of the momentum point, :math:`(U - U_{prev}) \\beta + U` (see :meth:`AugmentedPart.extrapolate`), unformed.

        Their predictions follow from those of ``U`` and ``U_prev``
        (recalled, or computed here when not known).
        """
        pred, pred_prev = self._scanned(U)[0], self._scanned(U_prev)[0]
        return Momentum(U, U_prev, beta, pred + beta * (pred - pred_prev))

    def evaluate(self, U: np.ndarray | Momentum) -> Evaluation:
        """Value and gradient, as :meth:`AugmentedPart.evaluate`; ``aux`` is ``(residual, Estimates)``."""
        point = U if isinstance(U, Momentum) else Momentum(U, U, 0.0, self._scanned(U)[0])  # (U - U) 0 + U is U
        r = point.pred - self.y
        support_q = np.empty(self._a_index.size, dtype=point.U.dtype)
        count, sumsq = gradient_pass(point.U, point.U_prev, point.U.dtype.type(point.beta), self._mask8,
                                     r * -self._inv_n, self._a_index, self._a_values, self._neg_rho, support_q,
                                     self._flags, self._index_out, self._t_out, self._H, self._z_row)
        est = Estimates(support_q, self._index_out[:count].copy(), self._t_out[:count].copy())
        r64 = r.astype(np.float64, copy=False)
        value = 0.5 * float(np.vdot(r64, r64)) / self.n + 0.5 * sumsq / self.rho
        G = np.matmul(self.op.X.T, self._H)  # the kernel stores -H: G is the gradient
        grad = G.transpose(0, 2, 1).reshape(2 * self.p, self.d)
        return Evaluation(value, grad, U, (r, est))

    def bregman(self, at: Evaluation, U: np.ndarray) -> float:
        """Exact Bregman term, as :meth:`AugmentedPart.bregman` (no pass over the (2, n, p) arrays)."""
        r_z, est = at.aux
        pred, scan = self._scanned(U)
        dpred = (pred - self.y - r_z).astype(np.float64, copy=False)
        pen = bregman_penalty(scan.support, est.support, scan.violated, scan.violated_t, est.violated,
                              est.violated_q, U, self._mask8, self._neg_rho)
        return 0.5 * float(np.vdot(dpred, dpred)) / self.n + 0.5 * pen / self.rho
