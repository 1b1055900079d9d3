r"""The restricted group lasso's data for the Newton refinement: products, Newton matrices and their factorizations.

A :class:`_GroupSystem` holds the blocks :math:`B_j` of the groups on the
current support and gives the engine of :mod:`relu_convex.solvers.newton`
products with :math:`B` and :math:`B^\top`, Hessian products and factored
Newton matrices. :class:`_DenseSystem` holds any :math:`B` densely and forms
:math:`B^\top B` once (an :math:`m \times m` Cholesky factorization a step);
:class:`_MaskedSystem` is for the C-GReLU blocks :math:`B_j = D_j X` when
:math:`m > n` and never forms :math:`B` or :math:`B^\top B`
(:class:`_MaskedFactor`: two Woodbury steps, an :math:`n \times n` and a
:math:`k \times k` factorization). Their estimated work comes from
:mod:`relu_convex.solvers.newton_work`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .newton_work import (
    NEWTON_RATE,
    _dense_iteration_work,
    _dense_step_work,
    _masked_factor_work,
    _masked_iteration_work,
    newton_step_work,
)

__all__ = ["masked_hessian_product"]


def _masked_forward(X: np.ndarray, masks: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """:math:`Bz = \\sum_j D_j X z_j` for masks (n, k) as floats and Z (k, d): shape (n,)."""
    return np.einsum("nk,nk->n", X @ Z.T, masks)


def _masked_adjoint(X: np.ndarray, masks: np.ndarray, r: np.ndarray) -> np.ndarray:
    """:math:`B^\\top r`, blocks :math:`X^\\top D_j r`, shape (k, d)."""
    return (masks * r[:, None]).T @ X



def masked_hessian_product(X: np.ndarray, masks: np.ndarray, zbar: np.ndarray, c: np.ndarray, mu: float,
                           v: np.ndarray) -> np.ndarray:
    r""":math:`Hv` for the Newton matrix of the blocks :math:`B_j = D_j X` through the masks (:math:`2nkd` flops).

    :math:`H = B^\top B / n + \mathrm{blockdiag}(c_j (I - \bar z_j \bar z_j^\top)) + \mu I`:
    ``masks`` (n, k) as floats, ``zbar`` (k, d) unit rows, ``c`` (k,), ``v`` of shape (k * d,);
    returns shape (k * d,). Neither :math:`B` nor :math:`XX^\top` is formed.
    """
    V = v.reshape(zbar.shape)
    along = np.einsum("kd,kd->k", zbar, V)
    HV = _masked_adjoint(X, masks, _masked_forward(X, masks, V)) / X.shape[0]
    HV += (c + mu)[:, None] * V - (c * along)[:, None] * zbar
    return HV.ravel()


class _DenseFactor:
    """A Cholesky factorization of the Newton matrix (:meth:`_DenseSystem.factor`); ``solve(v)`` is :math:`H^{-1}v`."""

    def __init__(self, factor) -> None:
        self.factor = factor

    def solve(self, v: np.ndarray) -> np.ndarray:
        return scipy.linalg.cho_solve(self.factor, v, check_finite=False)


class _FlatFactor:
    """A :class:`_MaskedFactor` on flat vectors: ``solve(v)`` for ``v`` of shape (k * d,)."""

    def __init__(self, factor: _MaskedFactor, d: int) -> None:
        self.factor, self.d = factor, d

    def solve(self, v: np.ndarray) -> np.ndarray:
        return self.factor.solve(v.reshape(-1, self.d)).ravel()


class _MaskedFactor:
    r"""The factored Newton matrix :math:`B^\top B / n + C + \mu I` of the blocks :math:`B_j = D_j X`, never formed.

    Here :math:`C = \mathrm{blockdiag}(c_j (I - \bar z_j \bar z_j^\top))`.
    Write :math:`C + \mu I = \tilde A - \bar Z \,\mathrm{diag}(c)\, \bar Z^\top` with
    :math:`\tilde A = \mathrm{blockdiag}((c_j + \mu) I)` and :math:`\bar Z` the
    :math:`m \times k` matrix whose column :math:`j` is :math:`\bar z_j` in block
    :math:`j`. With :math:`a_j = 1/(c_j + \mu)`, the matrix
    :math:`H_0 = \tilde A + B^\top B / n` has, by the Woodbury identity,

    .. math::

        H_0^{-1} = \tilde A^{-1} - \tilde A^{-1} B^\top M_0^{-1} B \tilde A^{-1}, \qquad
        M_0 = nI + B \tilde A^{-1} B^\top = nI + K \circ (M \,\mathrm{diag}(a)\, M^\top),

    (:math:`K = XX^\top`, :math:`M` the :math:`n \times k` masks; :math:`M_0 \succeq nI`
    is factored by Cholesky), and the rank-:math:`k` downdate
    :math:`H = H_0 - \bar Z \mathrm{diag}(c) \bar Z^\top` is inverted by a second Woodbury step,

    .. math::

        H^{-1} = H_0^{-1} + H_0^{-1} \bar Z\, T^{-1} \bar Z^\top H_0^{-1}, \qquad
        T = \mathrm{diag}(c)^{-1} - \bar Z^\top H_0^{-1} \bar Z
          = \mathrm{diag}\Big(\frac{\mu}{c_j (c_j + \mu)}\Big) + \mathrm{diag}(a)\, G^\top G\, \mathrm{diag}(a),

    with :math:`G = L^{-1} W`, :math:`M_0 = LL^\top`, :math:`W = [B_j \bar z_j]_j`
    (:math:`n \times k`). :math:`T` is a positive diagonal plus a Gram matrix, so
    neither factored matrix involves :math:`1/\mu` or a cancellation (the
    alternative of a Woodbury step on :math:`C + \mu I` itself carries terms of
    size :math:`1/\mu` that cancel in :math:`\Delta`). Factoring costs
    :math:`n^2 k` for :math:`M\,\mathrm{diag}(a)M^\top` and for :math:`G`, and
    :math:`n^3/3` and :math:`k^3/3` for the factorizations.

    A solve :math:`H^{-1}E` (:meth:`solve`) then needs one product with :math:`B`
    and one with :math:`B^\top` (:math:`nm` flops each), since both Woodbury
    steps meet in one vector: with :math:`t = L^{-1} B \tilde A^{-1} E`,

    .. math::

        H^{-1}E = \tilde A^{-1}(E + \bar Z w) - \tilde A^{-1} B^\top L^{-\top}\big(t + G\,\mathrm{diag}(a)\, w\big),
        \qquad w = T^{-1} \mathrm{diag}(a) \big((\bar z_j^\top E_j)_j - G^\top t\big),

    because :math:`B \tilde A^{-1} \bar Z w = W\,\mathrm{diag}(a)\, w` and
    :math:`\bar Z^\top \tilde A^{-1} B^\top L^{-\top} t = \mathrm{diag}(a)\, G^\top t`:
    :math:`2nm + n^2 + 2nk + k^2` flops.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    K : ndarray, shape (n, n)
        :math:`XX^\top`.
    masks : ndarray, shape (n, k)
        The active groups' masks as 0/1 floats.
    zbar : ndarray, shape (k, d)
        Unit rows :math:`\bar z_j`.
    c : ndarray, shape (k,)
        :math:`c_j = \lambda / \|z_j\|` (> 0).
    mu : float
        Damping (> 0).

    Raises
    ------
    numpy.linalg.LinAlgError
        When a factorization fails (numerically singular :math:`T`).
    """

    def __init__(self, X: np.ndarray, K: np.ndarray, masks: np.ndarray, zbar: np.ndarray, c: np.ndarray,
                 mu: float) -> None:
        n = X.shape[0]
        self.X, self.masks, self.zbar = X, masks, zbar
        self.a = a = 1.0 / (c + mu)
        S = masks * np.sqrt(a)
        M0 = S @ S.T
        M0 *= K
        M0[np.diag_indices(n)] += n
        # M0 is symmetric: its transpose is the Fortran-ordered matrix LAPACK factors in place, where a
        # C-ordered one is copied first (U = L^T with M0 = U^T U)
        self.L = scipy.linalg.cholesky(M0.T, lower=False, overwrite_a=True, check_finite=False).T
        W = masks * (X @ zbar.T)
        self.G = scipy.linalg.solve_triangular(self.L, W, lower=True, check_finite=False)
        T = self.G.T @ self.G
        T *= a[:, None] * a[None, :]
        T[np.diag_indices(a.size)] += mu / (c * (c + mu))
        self.T_factor = scipy.linalg.cho_factor(T, lower=True, overwrite_a=True, check_finite=False)

    def solve(self, E: np.ndarray) -> np.ndarray:
        r""":math:`H^{-1}E` for ``E`` of shape (k, d): shape (k, d)."""
        a, L = self.a, self.L
        t = scipy.linalg.solve_triangular(L, _masked_forward(self.X, self.masks, a[:, None] * E), lower=True,
                                          check_finite=False)
        w = scipy.linalg.cho_solve(self.T_factor, a * (np.einsum("kd,kd->k", self.zbar, E) - self.G.T @ t),
                                   check_finite=False)
        s = scipy.linalg.solve_triangular(L, t + self.G @ (a * w), lower=True, trans="T", check_finite=False)
        return a[:, None] * (E + w[:, None] * self.zbar - _masked_adjoint(self.X, self.masks, s))


def _masked_newton_direction(X: np.ndarray, K: np.ndarray, masks: np.ndarray, g: np.ndarray, zbar: np.ndarray,
                             c: np.ndarray, mu: float) -> np.ndarray:
    r"""Solve :math:`(B^\top B / n + C + \mu I)\,\Delta = -g` without forming :math:`B^\top B` (:class:`_MaskedFactor`).

    ``g`` (k, d) is the gradient; the other arguments are those of
    :class:`_MaskedFactor`. Returns :math:`\Delta`, shape (k, d); raises
    :class:`numpy.linalg.LinAlgError` when a factorization fails.
    """
    return -_MaskedFactor(X, K, masks, zbar, c, mu).solve(g)


def _starts(sizes: np.ndarray) -> np.ndarray:
    """First column of each group, shape (k,), for group sizes ``sizes`` (k,)."""
    return (np.cumsum(sizes) - sizes).astype(np.intp)


class _GroupSystem:
    r"""The restricted problem's data on a support: which groups, and where their columns are.

    The Newton engine (:func:`~relu_convex.solvers.newton._refine`) sees the point as one vector
    :math:`z \in \mathbb{R}^m` of the current groups' variables side by side
    and asks a system for products and Newton directions on the current
    support. Subclasses provide

    - ``forward(z)``: :math:`Bz`, shape (n,), from ``z`` of shape (m,);
    - ``adjoint(r)``: :math:`B^\top r`, shape (m,), from ``r`` of shape (n,);
    - ``factor(zbar, c, mu)``: a factorization of the Newton matrix
      :math:`H = B^\top B / n + \mathrm{blockdiag}(c_j (I - \bar z_j \bar z_j^\top)) + \mu I`
      whose ``solve(v)`` is :math:`H^{-1} v`, shape (m,) (raising
      :class:`numpy.linalg.LinAlgError` when it fails); :meth:`direction` is
      :math:`-H^{-1} g` by it;
    - ``hessian(v, zbar, c, mu)``: the product :math:`Hv`, shape (m,), without factoring;
    - ``normal(v)``: the product :math:`B^\top B v / n`, shape (m,);
    - ``block_lipschitz``, shape (K,) over *all* groups: :math:`L_j \ge \|B_j\|_2^2 / n`;
    - ``damping_scale``: the scale of the Hessian's diagonal that the damping
      :math:`\mu` is measured in (with :math:`\lambda` added);
    - ``step_work()``: the estimated work of one Newton step on the current
      support (:func:`~relu_convex.solvers.newton_work.newton_step_work`), ``factor_work()`` the factorization's
      share of it, ``iteration_work()`` that of one :func:`~relu_convex.solvers.newton._pcg` iteration
      (a ``hessian`` product and a ``solve``), and ``setup_flops`` the flops of
      building the system, for the work count of :func:`~relu_convex.solvers.newton._refine`;
    - ``_restrict()``: update their data after :meth:`select`.

    Attributes
    ----------
    all_sizes : ndarray of int, shape (K,)
        Sizes :math:`d_j` of all groups.
    groups : ndarray of int, shape (k,)
        The current groups (indices into all groups, increasing).
    sizes, starts : ndarray of int, shape (k,)
        Their sizes and first columns in ``z``.
    group_of : ndarray of int, shape (m,)
        The group (``0..k-1``) of each variable of ``z``.
    columns : ndarray of int, shape (m,)
        The position of each variable of ``z`` among all groups' variables.
    """

    def __init__(self, sizes) -> None:
        self.all_sizes = np.asarray(sizes, dtype=np.intp)
        self.all_starts = _starts(self.all_sizes)
        self.select(np.arange(self.all_sizes.size))

    def select(self, groups: np.ndarray) -> None:
        """Make ``groups`` (indices into all groups, increasing) the current support."""
        self.groups = groups
        self.sizes = self.all_sizes[groups]
        self.starts = _starts(self.sizes)
        self.group_of = np.repeat(np.arange(groups.size), self.sizes)
        self.columns = self.all_starts[groups][self.group_of] + np.arange(self.group_of.size) - self.starts[self.group_of]
        self._restrict()

    def _restrict(self) -> None:
        raise NotImplementedError

    def remove(self, drop: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Remove the current groups flagged in ``drop`` (bool, shape (k,)); return ``z`` on the groups left."""
        kept = np.repeat(~drop, self.sizes)
        self.select(self.groups[~drop])
        return z[kept]

    def norms(self, z: np.ndarray) -> np.ndarray:
        r""":math:`(\|z_j\|)_j`, shape (k,), for ``z`` of shape (m,)."""
        return np.sqrt(np.add.reduceat(z * z, self.starts)) if z.size else np.zeros(0)

    def direction(self, g: np.ndarray, zbar: np.ndarray, c: np.ndarray, mu: float) -> np.ndarray:
        r"""The Newton direction :math:`\Delta = -H^{-1} g`, shape (m,), by a factorization of :math:`H` (``factor``)."""
        return -self.factor(zbar, c, mu).solve(g)

    def _curvature(self, v: np.ndarray, zbar: np.ndarray, c: np.ndarray, mu: float) -> np.ndarray:
        r""":math:`\big(\mathrm{blockdiag}(c_j (I - \bar z_j \bar z_j^\top)) + \mu I\big)\, v`, shape (m,)."""
        along = np.add.reduceat(zbar * v, self.starts)
        return (c[self.group_of] + mu) * v - (c * along)[self.group_of] * zbar


def _largest_block_eigenvalues(A: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of each diagonal block ``A[s:s+k, s:s+k]`` of a symmetric positive semidefinite ``A``, shape (K,).

    The blocks are padded with zeros to a common order and decomposed in one batched call
    (a zero row and column add a zero eigenvalue, below the largest of a semidefinite block).
    """
    if sizes.size == 0:
        return np.zeros(0)
    order = int(sizes.max())
    inside = np.arange(order)[None, :] < sizes[:, None]  # (K, order)
    index = np.where(inside, starts[:, None] + np.arange(order)[None, :], 0)
    blocks = A[index[:, :, None], index[:, None, :]] * (inside[:, :, None] & inside[:, None, :])
    return np.linalg.eigvalsh(blocks)[:, -1]


class _DenseSystem(_GroupSystem):
    r"""Any :math:`B = [B_1 \cdots B_K]` held densely, with :math:`B^\top B / n` formed once.

    Products cost :math:`nM` flops (all columns, the removed groups' variables at zero:
    nothing is copied when groups are removed); a Newton direction forms
    :math:`H = B^\top B / n + \mathrm{blockdiag}(c_j (I - \bar z_j \bar z_j^\top)) + \mu I`
    from the Gram matrix (the diagonal blocks scattered at once) and factors it
    by Cholesky (:math:`m^3/3` flops): the cheaper path when :math:`m \le n`.
    ``block_lipschitz`` is :math:`1.05\,\lambda_{\max}(B_j^\top B_j / n)` per group;
    ``damping_scale`` the mean diagonal :math:`\mathrm{tr}(B^\top B) / (nM)`.

    Parameters
    ----------
    B : ndarray, shape (n, M)
        All groups' columns, side by side.
    sizes : sequence of int
        Group sizes (summing to ``M``), in column order.
    """

    def __init__(self, B: np.ndarray, sizes) -> None:
        self.B_all = np.asarray(B, dtype=np.float64)
        self.gram_all = self.B_all.T @ self.B_all
        self.gram_all /= self.B_all.shape[0]
        self.setup_flops = float(self.B_all.shape[0]) * self.B_all.shape[1] ** 2
        self.damping_scale = float(np.trace(self.gram_all)) / max(self.gram_all.shape[0], 1)
        super().__init__(sizes)
        self.block_lipschitz = 1.05 * _largest_block_eigenvalues(self.gram_all, self.all_starts, self.all_sizes)

    def _restrict(self) -> None:
        # nothing is copied: products go through all columns with the removed groups' variables at
        # zero, and a factorization gathers its rows of the Gram matrix (a refinement from a far point
        # removes groups one or two at a time, dozens of times; copying B and the Gram matrix on each
        # removal took 20 of its 70 ms on the C-ReLU benchmark's polishing)
        self.everything = self.columns.size == self.B_all.shape[1]
        # group, row and column of every entry inside the diagonal blocks, block by block, row-major
        squares = self.sizes * self.sizes
        self.block_group = np.repeat(np.arange(self.sizes.size), squares)
        offset = np.arange(self.block_group.size) - np.repeat(_starts(squares), squares)
        first, size = self.starts[self.block_group], self.sizes[self.block_group]
        self.block_rows = first + offset // size
        self.block_cols = first + offset % size
        self.block_eye = (self.block_rows == self.block_cols).astype(np.float64)

    def _scatter(self, z: np.ndarray) -> np.ndarray:
        """``z`` (m,) on the current groups as a vector over all columns (M,), zero on the removed ones."""
        if self.everything:
            return z
        full = np.zeros(self.B_all.shape[1])
        full[self.columns] = z
        return full

    def _gather(self, v: np.ndarray) -> np.ndarray:
        """The current groups' entries of ``v`` (M,)."""
        return v if self.everything else v[self.columns]

    def forward(self, z: np.ndarray) -> np.ndarray:
        return self.B_all @ self._scatter(z)

    def step_work(self) -> float:
        return _dense_step_work(self.B_all.shape[0], self.columns.size)

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        return self._gather(self.B_all.T @ r)

    def factor(self, zbar: np.ndarray, c: np.ndarray, mu: float) -> _DenseFactor:
        rows, cols = self.block_rows, self.block_cols
        H = self.gram_all.copy() if self.everything else self.gram_all.take(self.columns, axis=0).take(self.columns, axis=1)
        H[rows, cols] += c[self.block_group] * (self.block_eye - zbar[rows] * zbar[cols])
        H[np.diag_indices(H.shape[0])] += mu
        # H is symmetric: factoring its (Fortran-ordered) transpose in place spares LAPACK a copy
        return _DenseFactor(scipy.linalg.cho_factor(H.T, lower=False, overwrite_a=True, check_finite=False))

    def hessian(self, v: np.ndarray, zbar: np.ndarray, c: np.ndarray, mu: float) -> np.ndarray:
        return self.normal(v) + self._curvature(v, zbar, c, mu)

    def normal(self, v: np.ndarray) -> np.ndarray:
        return self._gather(self.gram_all @ self._scatter(v))  # M^2 flops against 2nM for two products (M <= n)

    def factor_work(self) -> float:
        return NEWTON_RATE * self.columns.size ** 3 / 3.0

    def iteration_work(self) -> float:
        return _dense_iteration_work(self.columns.size)


class _MaskedSystem(_GroupSystem):
    r"""The C-GReLU blocks :math:`B_j = D_j X` (all of size :math:`d`), never forming :math:`B` or :math:`B^\top B`.

    Products go through the masks (:math:`nm` flops, :math:`m = kd`); a Newton
    direction is :func:`_masked_newton_direction` (two Woodbury steps, an
    :math:`n \times n` and a :math:`k \times k` Cholesky factorization,
    :math:`n^2 k + n^3/3` flops): the cheaper path when :math:`m > n`.
    ``block_lipschitz`` is :math:`L_X = 1.05\,\lambda_{\max}(X^\top X)/n \ge \|D_j X\|_2^2/n`
    for every group; ``damping_scale`` is :math:`\mathrm{tr}(B^\top B) / (nK)`, the mean of
    :math:`\|D_j X\|_F^2 / n` (:math:`d` times the mean diagonal, the scale this path was tuned with).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    masks : ndarray, shape (n, K)
        All groups' masks (bool or 0/1).
    gram : ndarray, shape (n, n), optional
        :math:`XX^\top` when already computed.
    """

    def __init__(self, X: np.ndarray, masks: np.ndarray, gram: np.ndarray | None = None) -> None:
        self.X = np.asarray(X, dtype=np.float64)
        n, d = self.X.shape
        self.masks_all = np.asarray(masks, dtype=np.float64)
        self.K = self.X @ self.X.T if gram is None else gram
        self.setup_flops = float(n) * n * d if gram is None else 0.0
        k = self.masks_all.shape[1]
        self.damping_scale = float(np.sum(np.einsum("nd,nd->n", self.X, self.X) @ self.masks_all)) / max(n * k, 1)
        self.block_lipschitz = np.full(k, 1.05 * float(np.linalg.eigvalsh(self.X.T @ self.X)[-1]) / n)
        super().__init__(np.full(k, d))

    def _restrict(self) -> None:
        self.masks = self.masks_all[:, self.groups]

    def step_work(self) -> float:
        (n, d), k = self.X.shape, self.masks.shape[1]
        return newton_step_work(n, k, d)

    def factor_work(self) -> float:
        return _masked_factor_work(self.X.shape[0], self.masks.shape[1])

    def iteration_work(self) -> float:
        (n, d), k = self.X.shape, self.masks.shape[1]
        return _masked_iteration_work(n, k, d)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return _masked_forward(self.X, self.masks, z.reshape(-1, self.X.shape[1]))

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        return _masked_adjoint(self.X, self.masks, r).ravel()

    def factor(self, zbar: np.ndarray, c: np.ndarray, mu: float) -> _FlatFactor:
        d = self.X.shape[1]
        return _FlatFactor(_MaskedFactor(self.X, self.K, self.masks, zbar.reshape(-1, d), c, mu), d)

    def hessian(self, v: np.ndarray, zbar: np.ndarray, c: np.ndarray, mu: float) -> np.ndarray:
        d = self.X.shape[1]
        return masked_hessian_product(self.X, self.masks, zbar.reshape(-1, d), c, mu, v)

    def normal(self, v: np.ndarray) -> np.ndarray:
        return self.adjoint(self.forward(v)) / self.X.shape[0]
