r"""Products with the implicit masked data matrix, never materialized.

For data :math:`X \in \mathbb{R}^{n \times d}` and masks
:math:`D_1, \dots, D_p` (stored as the boolean array ``masks`` of shape (n, p)),
the C-GReLU model matrix is :math:`A = [D_1 X \; \cdots \; D_p X] \in
\mathbb{R}^{n \times pd}`. Weights are stored as an array ``U`` of shape (p, d)
whose row ``i`` is :math:`u_i`, so :math:`A\,\mathrm{vec}(U) = \sum_i D_i X u_i`.

Every product costs one dense matrix product of size ``n x d x p`` (BLAS) plus
one masked pass over an ``n x p`` array; the ``n x p x d`` tensor is never
built. The masks are converted once to a float array of the data's dtype
(``mask``) so that no product converts or copies them again; the signs
:math:`2D_i - I` of the cone constraints (``signs``) are built on first use
only, since the C-GReLU program never needs them.

Multi-output weights carry a leading axis ``c`` and map to predictions of
shape (n, c); all ``c`` outputs share one matrix product of size
``n x d x cp``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MaskedOperator"]


class MaskedOperator:
    r"""The linear maps of the convex programs, applied on the fly.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Data matrix (float32 or float64; other dtypes are converted to float64).
    masks : ndarray of bool, shape (n, p)
        Column ``i`` is the diagonal of :math:`D_i`.

    Notes
    -----
    With :math:`S_i = 2D_i - I`:

    ==================  ==================================================  =========================
    ``forward``         :math:`U \mapsto \sum_i D_i X u_i`                  (p, d) -> (n,)
    ``adjoint``         :math:`r \mapsto (X^\top D_i r)_i`                  (n,) -> (p, d)
    ``cone``            :math:`V \mapsto (S_i X v_i)_i` (columns)           (p, d) -> (n, p)
    ``cone_adjoint``    :math:`Z \mapsto (X^\top S_i z_i)_i`                (n, p) -> (p, d)
    ==================  ==================================================  =========================

    ``adjoint`` is the transpose of ``forward`` and ``cone_adjoint`` the
    transpose of ``cone``. Multi-output variants: (c, p, d) -> (n, c) and back
    for ``forward``/``adjoint``, (c, p, d) -> (c, n, p) and back for
    ``cone``/``cone_adjoint``. Inputs should have the operator's dtype; other
    dtypes are promoted by numpy as usual.
    """

    def __init__(self, X: np.ndarray, masks: np.ndarray):
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        masks = np.asarray(masks, dtype=bool)
        if X.ndim != 2 or masks.ndim != 2 or masks.shape[0] != X.shape[0]:
            raise ValueError(f"X must be (n, d) and masks (n, p) with the same n, got {X.shape} and {masks.shape}")
        self.X = X
        self.masks = masks
        self.n, self.d = X.shape
        self.p = masks.shape[1]
        # C order, like the (n, p) products X U^T it multiplies elementwise: the patterns of
        # activation_patterns (unique columns) arrive in Fortran order, and a mixed-order
        # elementwise pass is about 2.5x slower (0.52 against 0.21 ms at n=2000, p=300)
        self._M = np.ascontiguousarray(masks, dtype=X.dtype)
        self._signs: np.ndarray | None = None

    # -- precomputed arrays ---------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The floating dtype of the data (and of every product)."""
        return self.X.dtype

    @property
    def mask(self) -> np.ndarray:
        """The masks as a float array of shape (n, p): entry (k, i) is :math:`(D_i)_{kk}`."""
        return self._M

    @property
    def signs(self) -> np.ndarray:
        """The signs :math:`2D_i - I` as a float array of shape (n, p), built on first use."""
        if self._signs is None:
            S = self._M * 2.0
            S -= 1.0
            self._signs = S
        return self._signs

    @property
    def _S(self) -> np.ndarray:  # kept for callers written against the first version
        return self.signs

    # -- building blocks ---------------------------------------------------------
    def gate_products(self, U: np.ndarray) -> np.ndarray:
        r"""Return :math:`X U^\top`, shape (n, p) (or (c, n, p) for (c, p, d))."""
        if U.ndim == 2:
            return self.X @ U.T
        c = U.shape[0]
        Z = self.X @ U.reshape(c * U.shape[1], self.d).T  # (n, c*p), one BLAS call
        return Z.reshape(self.n, c, -1).transpose(1, 0, 2)

    def masked_sum(self, Z: np.ndarray) -> np.ndarray:
        r"""Return :math:`\sum_i (D_i)_{kk} Z_{ki}` for each row ``k``.

        Parameters
        ----------
        Z : ndarray, shape (n, p) or (c, n, p)

        Returns
        -------
        ndarray, shape (n,) or (n, c)
        """
        if Z.ndim == 2:
            return np.einsum("np,np->n", Z, self._M)
        return np.einsum("cnp,np->nc", Z, self._M)

    # -- the four maps -----------------------------------------------------------
    def forward(self, U: np.ndarray) -> np.ndarray:
        r"""Return :math:`\sum_i D_i X u_i`.

        Parameters
        ----------
        U : ndarray, shape (p, d) or (c, p, d)

        Returns
        -------
        ndarray, shape (n,) or (n, c)
        """
        if U.ndim == 2:
            return np.einsum("np,np->n", self.X @ U.T, self._M)
        c = U.shape[0]
        Z = (self.X @ U.reshape(c * U.shape[1], self.d).T).reshape(self.n, c, -1)
        return np.einsum("ncp,np->nc", Z, self._M)

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        r"""Return the rows :math:`X^\top D_i r`.

        Parameters
        ----------
        r : ndarray, shape (n,) or (n, c)

        Returns
        -------
        ndarray, shape (p, d) or (c, p, d)
        """
        # X^T D_i r = (diag(r) X)^T m_i: scaling the (n, d) data is cheaper than the (n, p) masks
        if r.ndim == 1:
            return ((r[:, None] * self.X).T @ self._M).T
        c = r.shape[1]
        R = (r[:, :, None] * self.X[:, None, :]).reshape(self.n, c * self.d)
        return (R.T @ self._M).reshape(c, self.d, self.p).transpose(0, 2, 1)

    def cone(self, V: np.ndarray) -> np.ndarray:
        r"""Return :math:`(2D_i - I) X v_i` stacked as columns.

        Parameters
        ----------
        V : ndarray, shape (p, d) or (c, p, d)

        Returns
        -------
        ndarray, shape (n, p) or (c, n, p)
        """
        Z = self.gate_products(V)
        if Z.ndim == 2:
            Z *= self.signs
            return Z
        return Z * self.signs

    def cone_adjoint(self, Z: np.ndarray) -> np.ndarray:
        r"""Return the rows :math:`X^\top (2D_i - I) z_i`.

        Parameters
        ----------
        Z : ndarray, shape (n, p) or (c, n, p)

        Returns
        -------
        ndarray, shape (p, d) or (c, p, d)
        """
        if Z.ndim == 2:
            return (self.signs * Z).T @ self.X
        c = Z.shape[0]
        R = (Z * self.signs).transpose(1, 0, 2).reshape(self.n, c * self.p)
        return (R.T @ self.X).reshape(c, self.p, self.d)

    # -- diagnostics ---------------------------------------------------------------
    def to_dense(self) -> np.ndarray:
        r"""Return the explicit matrix :math:`[D_1 X \cdots D_p X]`, shape (n, p*d).

        Column block ``i`` multiplies row ``i`` of the weights, so
        ``to_dense() @ U.reshape(-1) == forward(U)``. For tests and tiny problems only.
        """
        return (self._M[:, :, None] * self.X[:, None, :]).reshape(self.n, self.p * self.d)

    def norm_squared(self, iters: int = 50, seed: int = 0) -> float:
        r"""Estimate :math:`\|A\|_2^2` (``n`` times the Lipschitz constant of the C-GReLU loss gradient).

        Power iteration on :math:`A^\top A`: after ``iters`` steps returns
        :math:`\|A^\top A u\|` for a unit ``u``, which never exceeds
        :math:`\|A\|_2^2` and converges to it.
        """
        U = np.random.default_rng(seed).standard_normal((self.p, self.d)).astype(self.dtype)
        return power_norm_squared(self, U, np.linalg.norm, iters)


def power_norm_squared(op, U, norm, iters: int) -> float:
    r"""Power iteration on :math:`A^\top A` from ``U`` (shape (p, d)) with the operator ``op``.

    ``norm`` is the namespace's vector norm, so the numpy and array-API
    operators share this loop. Returns :math:`\|A^\top A u\|` for the last unit
    ``u``: never above :math:`\|A\|_2^2`, and converging to it.
    """
    U = U / norm(U)
    val = 0.0
    for _ in range(iters):
        W = op.adjoint(op.forward(U))
        val = float(norm(W))
        if val == 0.0:
            return 0.0
        U = W / val
    return val
