r"""The Newton systems of the ``"ipm"`` solver: the program's products and the factored reduced system.

:class:`_Structure` holds one output's products (cone rows, predictions and
their adjoints) for C-ReLU and C-GReLU; :class:`_Newton` factors the reduced
system :math:`(\operatorname{blockdiag}(H_j) + \tilde B^\top\tilde B/n)\,dx = r`
left after eliminating the slacks and multipliers, in the :math:`n \times n`
Woodbury form when the weights outnumber the rows (:func:`woodbury_form`) and
directly otherwise, and solves it with iterative refinement.
:func:`fits_in_memory` and :data:`MAX_MEMORY_GB` bound what it may hold. The
method itself is :func:`relu_convex.solvers.interior_point_relu.solve_ipm`.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsyrk as syrk

from ..cones import row_scale as cone_row_scale
from ..operators import MaskedOperator
from .cone_scaling import matvec

__all__ = ["MAX_MEMORY_GB", "fits_in_memory", "woodbury_form"]

_REFINE = 3  # iterative refinement steps per reduced solve at most


MAX_MEMORY_GB = 6.0
r"""Largest estimated memory (GB) of the Newton system's arrays; a larger problem is refused.

The estimate, in float64 numbers per output: :math:`3n^2 + npd` on the Woodbury
path (the :math:`n \times n` matrix, its factor, :math:`XX^\top` for C-GReLU, and
:math:`F`), :math:`nmd + 2(m(d+1))^2` on the direct one (:math:`md < n`:
:math:`B` and the formed system), plus :math:`mn(d+5)` for C-ReLU's per-group
products and cone rows. At :math:`n = 15000` the Woodbury path needs
about 5.4 GB. A problem above the limit is refused with a message naming the
estimate instead of exhausting memory (``"fista"`` and ``"al"`` need memory
linear in :math:`n`)."""


def woodbury_form(n: int, groups: int, d: int) -> bool:
    """Whether the Newton systems of ``groups`` groups of ``d`` weights over ``n`` rows take the ``n x n`` Woodbury form.

    They do when the weights, ``groups * d``, are at least as many as the rows;
    otherwise the system of order ``groups * (d + 1)`` is formed directly.
    """
    return groups * d >= n


def fits_in_memory(n: int, d: int, p: int, program: str) -> bool:
    """Whether the Newton systems of "ipm" for ``n`` rows, ``d`` features and ``p`` patterns stay within :data:`MAX_MEMORY_GB`.

    ``program`` is ``"C-ReLU"`` or ``"C-GReLU"``; the features count as at most ``n``
    (the row-space reduction of :func:`~relu_convex.solvers.interior_point_relu.solve_ipm`).
    """
    gated = program == "C-GReLU"
    return _memory_gb(n, p if gated else 2 * p, min(d, n), p, cone_rows=not gated) <= MAX_MEMORY_GB


def _memory_gb(n: int, groups: int, d: int, p: int, *, cone_rows: bool) -> float:
    """:data:`MAX_MEMORY_GB`'s estimate for ``groups`` groups of ``d`` weights over ``p`` patterns.

    With ``cone_rows`` (C-ReLU) the per-group products :math:`C_j^\\top` (``groups * n * (d+1)``
    numbers) and the cone values and multipliers (a few ``groups * n``) count too.
    """
    rows = groups * n * (d + 5.0) if cone_rows else 0.0
    if not woodbury_form(n, groups, d):
        return 8.0 * (n * groups * d + 2.0 * (groups * (d + 1)) ** 2 + rows) / 1e9
    return 8.0 * (3.0 * n * n + n * p * d + rows) / 1e9


class _Structure:
    """The products of one output's program: cone rows, predictions and their adjoints.

    C-ReLU: the ``m = 2p`` groups are stacked ``v_1..v_p, w_1..w_p``; ``u`` has
    shape (2p, d), cone rows and their multipliers shape (2p, n). C-GReLU
    (``gated``): the ``m = p`` groups :math:`u_i` with :math:`\\sigma_i = +1` and no
    cone rows (their arrays have shape (p, 0)).
    """

    def __init__(self, op: MaskedOperator, gated: bool = False):
        self.X = np.asarray(op.X, dtype=np.float64)
        self.n, self.d, self.p = op.n, op.d, op.p
        self.gated = gated
        mask = op.masks.astype(np.float64)
        if gated:
            self.m, self.rows = self.p, 0
            self.group_masks = mask  # (n, p)
            self.signs2T = np.zeros((self.p, 0))
            self.sigma = np.ones(self.p)
        else:
            self.m, self.rows = 2 * self.p, self.n
            self.group_masks = np.concatenate([mask, mask], axis=1)  # (n, 2p)
            self.signs2T = np.ascontiguousarray((2.0 * self.group_masks - 1.0).T)  # (2p, n)
            self.sigma = np.concatenate([np.ones(self.p), -np.ones(self.p)])
        self.pred_weights = self.group_masks * self.sigma  # (n, m): sigma_j [D_j]_kk

    @functools.cached_property
    def row_scale(self) -> float:
        """:math:`\\max_k \\|x_k\\|`, the data scale of the relative cone violation."""
        return cone_row_scale(self.X)

    @functools.cached_property
    def gram(self) -> np.ndarray:
        """:math:`XX^\\top`, shape (n, n) (C-GReLU's Newton matrices; formed when first needed)."""
        return self.X @ self.X.T

    def cone(self, u: np.ndarray) -> np.ndarray:
        """:math:`G_j u_j` for every group, shape (m, rows)."""
        if self.gated:
            return np.zeros((self.m, 0))
        return (u @ self.X.T) * self.signs2T

    def cone_adjoint(self, z: np.ndarray) -> np.ndarray:
        """:math:`G_j^\\top z_j` for every group, shape (m, d)."""
        if self.gated:
            return np.zeros((self.m, self.d))
        return (z * self.signs2T) @ self.X

    def predict(self, u: np.ndarray) -> np.ndarray:
        """:math:`B u = \\sum_j \\sigma_j D_j X u_j`, shape (n,)."""
        return np.einsum("nj,nj->n", self.X @ u.T, self.pred_weights)

    def predict_adjoint(self, r: np.ndarray) -> np.ndarray:
        """:math:`B^\\top r`: rows :math:`\\sigma_j X^\\top D_j r`, shape (2p, d)."""
        return (self.pred_weights.T * r) @ self.X


class _Newton:
    r"""The factored reduced system :math:`(\operatorname{blockdiag}(H_j) + \tilde B^\top\tilde B/n)\,dx = r`.

    ``dx`` is the pair ``(du, dt)`` of shapes (m, d) and (m,); the blocks
    :math:`H_j` act on :math:`(t_j, u_j)`. ``zeta`` (m, rows) holds :math:`z_j/s_j`
    on the cone rows, ``W`` and ``Winv`` (m, d+1, d+1) the cone scalings and, for
    C-GReLU, ``scaling`` their scaling points and scales ``(w, beta)``.
    """

    def __init__(self, st: _Structure, zeta: np.ndarray, W: np.ndarray, Winv: np.ndarray, scaling=None):
        self.st = st
        n, d, m = st.n, st.d, st.m
        X = st.X
        self.zeta, self.Winv = zeta, Winv
        self.direct = not woodbury_form(n, m, d)
        if self.direct:
            H = np.matmul(Winv, Winv)
            if not st.gated:
                H[:, 1:, 1:] += np.matmul(X.T[None] * zeta[:, None, :], X)  # X^T diag(z_j/s_j) X
            B = (st.pred_weights[:, :, None] * X[:, None, :]).reshape(n, m * d)
            K = np.zeros((m, d + 1, m, d + 1))
            K[:, 1:, :, 1:] = (B.T @ B / n).reshape(m, d, m, d)
            K[np.arange(m), :, np.arange(m), :] += H
            K = K.reshape(m * (d + 1), m * (d + 1))
            self.chol = _cholesky(K)
            return
        if st.gated:
            # no cone rows: H_j = W_j^{-2} and H_j^{-1} = W_j^2 (T_j = W_j), whose uu block is
            # beta_j^2 (I + 2 w_1 w_1^T) for the scaling point w = (w_0, w_1) (W_j = beta_j Wbar(w)):
            # F F^T = K o (M diag(beta^2) M^T) + Z Z^T with Z_j = sqrt(2) beta_j D_j X w_1,
            # n^2 p flops twice instead of n^2 p d, and no factorization of a group's block
            self.T = W
            w, beta = scaling
            masks = st.group_masks
            # symmetric rank-k products (lower triangles, half the flops of a general product)
            G = syrk(1.0, np.asfortranarray(masks * beta), lower=1)
            G *= st.gram
            Z = masks * (X @ w[:, 1:].T) * (np.sqrt(2.0) * beta)
            G = syrk(1.0, np.asfortranarray(Z), c=G, beta=1.0, lower=1, overwrite_c=1)
            G += np.tril(G, -1).T
            G[np.diag_indices(n)] += n
            self.chol = _cholesky(G)
            return
        # H_j = W_j^{-1} M_j W_j^{-1} with M_j = I + C_j C_j^T, C_j = [W_j]_{:, u} X^T diag(zeta_j)^{1/2};
        # M_j = R_j^T R_j (Cholesky factorization of the formed M_j, or, where rounding makes one of
        # them indefinite near the optimum, the QR factorization of [I; C_j^T], which never fails),
        # and H_j^{-1} = T_j^T T_j with T_j = R_j^{-T} W_j
        Ct = np.matmul(X[None], W[:, 1:, :])  # X [W_j]_{u, :} for every group, (m, n, d+1) in C order
        Ct *= np.sqrt(zeta)[:, :, None]  # C_j^T
        M = np.matmul(Ct.transpose(0, 2, 1), Ct)
        M[:, np.arange(d + 1), np.arange(d + 1)] += 1.0
        try:
            R = np.linalg.cholesky(M).transpose(0, 2, 1)
        except np.linalg.LinAlgError:
            R = np.linalg.qr(np.concatenate([np.broadcast_to(np.eye(d + 1), (m, d + 1, d + 1)), Ct], axis=1),
                             mode="r")
        self.T = np.linalg.solve(R.transpose(0, 2, 1), W)  # R_j^{-T} W_j, without forming R_j^{-1}
        # the uu block of H_j^{-1} is [T_j]_{:, u}^T [T_j]_{:, u}. v_i and w_i share the mask D_i: their
        # terms D_i X ([T_i]_u^T [T_i]_u + [T_{p+i}]_u^T [T_{p+i}]_u) X^T D_i combine into
        # (D_i X P_i)(D_i X P_i)^T with P_i^T the R factor of the stacked [[T_i]_u; [T_{p+i}]_u]
        # ((2d+2) x d), which halves the columns of F and the n^2 * 2pd flops of F F^T
        p = m // 2
        stacked = np.concatenate([self.T[:p, :, 1:], self.T[p:, :, 1:]], axis=1)  # (p, 2d+2, d)
        P = np.linalg.qr(stacked, mode="r").transpose(0, 2, 1)  # (p, d, d)
        self.chol = _cholesky(self._gram(P))

    def _gram(self, P: np.ndarray) -> np.ndarray:
        """:math:`nI + FF^\\top` with :math:`F = [D_i X P_i]_i` for the first ``len(P)`` groups' masks."""
        st, k = self.st, P.shape[0]
        n, d = st.n, st.d
        F = st.X @ P.transpose(1, 0, 2).reshape(d, k * d)  # columns of group i: X P_i
        F = (F.reshape(n, k, d) * st.group_masks[:, :k, None]).reshape(n, k * d)
        G = F @ F.T
        G[np.diag_indices(n)] += n
        return G

    def _h_solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`H_j^{-1} r_j` for every group, ``r`` of shape (m, d+1)."""
        return np.einsum("mji,mj->mi", self.T, matvec(self.T, r))

    def _apply(self, du: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The system matrix times ``(du, dt)``."""
        st = self.st
        x = np.concatenate([dt[:, None], du], axis=1)
        hx = matvec(self.Winv, matvec(self.Winv, x))
        if not st.gated:
            hx[:, 1:] += (self.zeta * (du @ st.X.T)) @ st.X
        hx[:, 1:] += st.predict_adjoint(st.predict(du)) / st.n
        return hx[:, 1:], hx[:, 0]

    def _solve_once(self, ru: np.ndarray, rt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = self.st
        r = np.concatenate([rt[:, None], ru], axis=1)
        if self.direct:
            sol = _cho_solve(self.chol, r.ravel()).reshape(r.shape)
            return sol[:, 1:], sol[:, 0]
        y1 = self._h_solve(r)
        m = _cho_solve(self.chol, st.predict(y1[:, 1:]))
        back = np.zeros_like(r)
        back[:, 1:] = st.predict_adjoint(m)
        sol = y1 - self._h_solve(back)
        return sol[:, 1:], sol[:, 0]

    def solve(self, ru: np.ndarray, rt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve, then refine iteratively while the residual shrinks (at most ``_REFINE`` steps)."""
        du, dt = self._solve_once(ru, rt)
        size = np.sqrt(float(np.vdot(ru, ru)) + float(np.vdot(rt, rt)))
        last = np.inf
        for _ in range(_REFINE):
            au, at = self._apply(du, dt)
            eu, et = ru - au, rt - at
            res = np.sqrt(float(np.vdot(eu, eu)) + float(np.vdot(et, et)))
            if res >= 0.5 * last or res <= 1e-15 * size:
                break
            last = res
            cu, ct = self._solve_once(eu, et)
            du, dt = du + cu, dt + ct
        return du, dt


def _cholesky(A: np.ndarray) -> np.ndarray:
    """Cholesky factors of a (stack of) symmetric matrices, regularized when rounding makes one indefinite.

    The systems near the optimum are ill-conditioned; a shift of the diagonal by
    ``1e-14`` (then ``1e-12``, ``1e-10``) of its largest entry keeps the factorization
    going, and the iterative refinement of the solves corrects for it. One matrix
    goes to LAPACK in Fortran order (for a symmetric C-ordered one, its transpose:
    no copy), about a third faster at order 2000 than NumPy's copy to that order.
    """

    def factor(M: np.ndarray) -> np.ndarray:
        if M.ndim == 2:
            return scipy.linalg.cholesky(M.T if M.flags.c_contiguous else M, lower=True, check_finite=False)
        return np.linalg.cholesky(M)

    try:
        return factor(A)
    except np.linalg.LinAlgError:
        pass
    k = A.shape[-1]
    scale = np.max(np.abs(np.diagonal(A, axis1=-2, axis2=-1)), axis=-1, keepdims=True)[..., None]
    for shift in (1e-14, 1e-12, 1e-10):
        try:
            return factor(A + shift * scale * np.eye(k))
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the Newton system is numerically singular")


def _max_abs(*arrays: np.ndarray) -> float:
    return max(float(np.max(np.abs(a), initial=0.0)) for a in arrays)


def _cho_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(L, solve_triangular(L, b, lower=True, check_finite=False), lower=True, trans="T",
                            check_finite=False)
