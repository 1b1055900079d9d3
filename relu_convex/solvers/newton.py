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

One iteration, :func:`_refine`, on two representations of :math:`B` (a
:class:`_GroupSystem` gives products, Newton directions and the restriction to
fewer groups). :func:`refine_group_lasso` (:class:`_DenseSystem`) takes any
:math:`B = [B_1 \cdots B_k]`, formed densely (``n * m`` numbers,
:math:`m = \sum_j d_j`), forms :math:`B^\top B` once (:math:`n m^2` flops) and
factors an :math:`m \times m` matrix per Newton step.
:func:`refine_masked_group_lasso` (:class:`_MaskedSystem`) is for the C-GReLU
blocks :math:`B_j = D_j X` (:math:`D_j` a 0/1 diagonal mask, all
:math:`d_j = d`) when :math:`m > n`: it never forms :math:`B` or
:math:`B^\top B`; products go through the masks and the Newton system is
solved by two Woodbury steps that factor an :math:`n \times n` and a
:math:`k \times k` matrix (:class:`_MaskedFactor`,
:math:`2n^2 k + n^3/3` flops per factorization; a solve with the factors
costs one product with :math:`B` and one with :math:`B^\top`).
:func:`relu_convex.solvers.polish.polish_grelu` picks the dense path when
:math:`m \le n` and the masked one otherwise, so a step factors a
matrix of order :func:`refinement_size` :math:`= \min(m, n)`, which callers
bound (:data:`DEFAULT_MAX_SIZE`).

The iteration also tests for vanishing groups more eagerly than the single
proximal step (whose threshold :math:`\lambda / L` with :math:`L = \|B\|^2/n`
is tiny when many groups overlap): before the proximal step, the groups that a
proximal step on their own block alone (step :math:`1/L_j`,
:math:`L_j \ge \|B_j\|^2/n`) would set to zero are zeroed together when that
lowers the objective; and a group that a Newton step would carry past the
origin (:math:`\langle z_j + \Delta_j, z_j\rangle \le 0`) is tried at zero,
with the rest of the full step, before backtracking. Without these, a support
with one group too many took 10 to 30 backtracked Newton steps on the masked
benchmark instance (n=2000, d=50) instead of 4.

Reused factorizations (inexact Newton). Near the minimizer consecutive Newton
matrices differ little, so a step on the support of the last factorization
solves :math:`H\Delta = -g` by conjugate gradients (:func:`_pcg`)
preconditioned with that factorization (made at an earlier point, with another
damping), to a relative residual :math:`\eta` that shrinks with the gradient
(:math:`\eta \le \|g\|_\infty/\text{scale}`, so the steps keep converging
superlinearly; the last ones reach the gradient tolerance). An iteration costs
a Hessian product and a solve with the factors, about :math:`4nm + n^2` flops
on the masked path against :math:`n^3/3 + 2n^2 k` for a factorization, so a
step factors afresh only on a new support (the first step, and after groups
are removed), or when at most :data:`PCG_MAX_ITERATIONS` iterations (and half
a factorization's estimated work) do not reach :math:`\eta`, or when the
factorization is too cheap for that to pay (the small problems). The
direction is then inexact, never the result: the line search, the gradient
test and the caller's certificate see the true objective.

Along a regularization path the last factorization of a point's refinement
also preconditions the tangent system of the next point's prediction
(:func:`relu_convex.solvers.polish.predict_grelu`, ``factors``), which is on
the same groups at nearly the same point.

Measured on ``validation/bench_paths.py --model gated --solver fista --n 2000
--d 20 --p 200`` (one core, load 1.2-1.9): of the warm path's refinements, all
14 conjugate-gradient solves reached :math:`\eta` in 4 to 10 iterations (about
7 ms each on 199 groups; a factorization takes 150 to 250 ms), and 15 of the
16 predictions with a stored factorization reached their tolerance in 2 to 9;
the warm path's factorizations fell from 73 to 46 (the masked path's
:math:`n \times n` ones from 37 to 19), and it took 6.4-7.1 s
instead of 10.0-10.1 s (cold: 14.5-15.6 s instead of 14.9-15.2 s; speed-up
2.2-2.3x instead of 1.5x). On the C-GReLU instance of
``validation/bench_fast_solvers.py`` (n = 2000, d = 50, p = 300) fista took
1351 iterations and 6.8 s instead of 1527 and 8.9 s. Reusing a factorization
across a change of support did not pay: with the factors of the larger
support restricted (the Schur complement), or with the :math:`n \times n`
factor :math:`L` of an earlier :math:`M_0` (:class:`_MaskedFactor`) and the
changed groups corrected by low-rank terms, 10 iterations reached :math:`\eta`
in 1 of 11 and in none of 7 attempts on that path (the Woodbury form
amplifies an error in :math:`M_0` by :math:`a_j \|B_j\|^2/n`, large when
:math:`\lambda` is small). Restricting exactly instead (the factors of
the same point with the removed groups' :math:`a_j (D_j X)(D_j X)^\top` taken off
:math:`M_0` by a rank-:math:`|R|d` Woodbury downdate, 15 ms against 130 ms for a
factorization) preconditioned the steps after a removal well at the loose
forcing tolerance (2 to 12 iterations to :math:`10^{-2}`, from explicit
matrices), but those steps already ask for :math:`10^{-4}` to :math:`10^{-6}`: 13
of 27 solves on that path failed, and it took 7.4-8.0 s against 6.7-6.9 s (7.4-7.7 s
with the tolerance loosened for the first step after a removal). Problems of a
few hundred rows (n = 300 on the small path) never reuse: by the work model a
factorization there costs less than six conjugate-gradient iterations.

The users of the engine (polishing a first-order point of C-GReLU with
working-set growth, the C-GReLU path tangent, polishing a C-ReLU point with its
tight cone rows held) are in :mod:`relu_convex.solvers.polish`.

Work. A refinement counts its estimated work (:data:`NEWTON_RATE`,
:data:`NEWTON_OVERHEAD`, :func:`newton_step_work`: flops, in units of the
first-order iterations' products) and can be given a budget in it
(``max_work``), so that a caller weighs refinements against iterations the
same way on every run; a caller's certificate test (``stop``) can end it as
soon as the gap it needs is certified.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

__all__ = ["NewtonRefinement", "refine_group_lasso", "refine_masked_group_lasso", "refinement_size",
           "newton_step_work", "refinement_setup_work", "masked_hessian_product", "DEFAULT_MAX_SIZE", "NEWTON_RATE",
           "NEWTON_OVERHEAD"]


@dataclass
class NewtonRefinement:
    """Outcome of :func:`refine_group_lasso` and :func:`refine_masked_group_lasso`.

    Attributes
    ----------
    z : ndarray, shape (m,)
        The refined restricted variables (concatenated groups; zero on the groups removed).
    objective : float
        The restricted objective at ``z``.
    steps : int
        Newton steps taken.
    gradient_norm : float
        :math:`\\|g\\|_\\infty` at ``z`` (over the groups still nonzero).
    converged : bool
        ``gradient_norm`` fell below the requested tolerance, or the caller's ``stop`` test passed.
    work : float
        Estimated work of the refinement in flop-equivalents of masked products
        (:data:`NEWTON_RATE`, :data:`NEWTON_OVERHEAD`): a count, not a measurement,
        so that callers decide the same way on every run.
    factor : object or None
        The last factorization of a Newton matrix (``factor.solve(v)`` is
        :math:`H^{-1}v` for ``v`` of shape (``factor_groups.size * d``,)), made at
        an earlier point of the refinement: a preconditioner for a later Newton
        system on the same groups (:func:`relu_convex.solvers.polish.predict_grelu`).
    factor_groups : ndarray of int, shape (k,), or None
        The groups (positions among ``z0``'s groups, increasing) ``factor`` is on.
    """

    z: np.ndarray
    objective: float
    steps: int
    gradient_norm: float
    converged: bool
    work: float = 0.0
    factor: object | None = None
    factor_groups: np.ndarray | None = None



NEWTON_RATE = 0.5
r"""Work of a Newton step per flop, relative to the masked products' flops.

The refinement's work is counted in the flops of the products a first-order
iteration does (:math:`2npd` per iteration), so that a solver can weigh
iterations against Newton steps without a clock and decide the same way on
every run. A step's factorizations and matrix products run at about twice the
flop rate of the masked products (measured on one core: a masked step at
:math:`n = 2000`, :math:`|S| = 227`, :math:`d = 50` costs 0.18 s, as much as 40
iterations at :math:`p = 300`, against 75 by flop count).
"""

NEWTON_OVERHEAD = 3e6
"""Fixed work of a Newton step (its few dozen array operations), in flop-equivalents of the products.

Three times an iteration's (:data:`relu_convex.solvers.fista.ITERATION_OVERHEAD`):
measured on one core on UCI problems of 100 rows (d = 8 to 14, p = 100), where the
flops of both are negligible, a Newton step took 0.68 to 0.70 ms and an iteration
230 to 290 us. An estimate three times larger left refinement attempts too few
steps there: 90,000 iterations in all on five such problems at lam = 1e-5,
against 51,000 with this value.
"""


def newton_step_work(n: int, groups: int, d: int) -> float:
    r"""Estimated work of one Newton step on ``groups`` groups of size ``d`` (flop-equivalents of products).

    The flops of the path :func:`relu_convex.solvers.polish.polish_grelu` takes, times :data:`NEWTON_RATE`,
    plus :data:`NEWTON_OVERHEAD`: dense (:math:`m = |S| d \le n`)
    :math:`m^3/3 + m^2 + 8nm`; masked :math:`2n^2|S| + n^3/3 + |S|^3/3 + 8nm`.
    """
    m = groups * d
    if m <= n:
        return _dense_step_work(n, m)
    return NEWTON_RATE * (2.0 * n * n * groups + n**3 / 3.0 + groups**3 / 3.0 + 8.0 * n * m) + NEWTON_OVERHEAD


def refinement_setup_work(n: int, groups: int, d: int) -> float:
    r"""Estimated work a refinement of ``groups`` groups of size ``d`` spends before its first Newton step.

    As :func:`_refine` counts it, times :data:`NEWTON_RATE` for the matrix
    products: the dense path (:math:`m = |S| d \le n`) forms :math:`B^\top B`
    (:math:`nm^2` flops), the masked one :math:`XX^\top` (:math:`n^2 d`); both
    estimate :math:`\|B\|^2/n` (counted as :math:`64nm`, as :func:`_refine` does). On the dense path this
    is :math:`3n/m` times a step's factorization, so a budget of a few steps
    that leaves it out allows one step at most.
    """
    m = groups * d
    setup = n * m * m if m <= n else n * n * d
    return NEWTON_RATE * setup + _lipschitz_work(n, m)


def _dense_step_work(n: int, m: int) -> float:
    """:func:`newton_step_work` of a step on a dense ``(n, m)`` matrix ``B``."""
    return NEWTON_RATE * (m**3 / 3.0 + m * m + 8.0 * n * m) + NEWTON_OVERHEAD


def _masked_factor_work(n: int, groups: int) -> float:
    """The factorizations' share of :func:`newton_step_work` on the masked path (:class:`_MaskedFactor`)."""
    return NEWTON_RATE * (2.0 * n * n * groups + n**3 / 3.0 + groups**3 / 3.0)


PCG_OVERHEAD = 1e6
"""Fixed work of one preconditioned conjugate-gradient iteration of :func:`_pcg` (a dozen array operations).

As an iteration of the first-order methods (:data:`relu_convex.solvers.fista.ITERATION_OVERHEAD`).
"""


def _dense_iteration_work(m: int) -> float:
    r"""Work of one :func:`_pcg` iteration on the dense path: a product with the :math:`m \times m` Gram matrix and a Cholesky solve.

    :math:`2m^2` multiply-adds, weighted by :data:`PCG_MATRIX_WEIGHT` (each reads a matrix of
    order :math:`m` once), plus :data:`PCG_OVERHEAD`.
    """
    return PCG_MATRIX_WEIGHT * 2.0 * m * m + 10.0 * m + PCG_OVERHEAD


def _masked_iteration_work(n: int, groups: int, d: int) -> float:
    r"""Work of one :func:`_pcg` iteration on the masked path.

    A Hessian product (a product with :math:`B` and one with :math:`B^\top`)
    and a solve with a :class:`_MaskedFactor` (two more, two triangular solves
    of order :math:`n`, two products with :math:`G`): :math:`4nm + 2nk + k^2`
    at the rate of the first-order products (they are the same masked
    products), and :math:`n^2` for the triangular solves weighted by
    :data:`PCG_MATRIX_WEIGHT`, plus :data:`PCG_OVERHEAD`.
    """
    return (4.0 * n * groups * d + PCG_MATRIX_WEIGHT * n * n + 2.0 * n * groups + float(groups) ** 2
            + PCG_OVERHEAD)


PCG_MATRIX_WEIGHT = 12.0
r"""Work per multiply-add of a matrix-vector product with a stored :math:`n \times n` matrix (triangular solves, Gram products).

These read the whole matrix for one right-hand side (memory-bound), unlike the
factorizations and the masked products. Measured on one core at
:math:`n = 2000`: a masked conjugate-gradient iteration took 6.6 ms at
:math:`|S| = 199, d = 21` and 10.3 ms at :math:`|S| = 227, d = 50`, a factorization
140 to 170 ms; with this weight the work model puts one factorization at 26 and
16 iterations (measured: 25 and 14).
"""


def refinement_size(n: int, groups: int, d: int) -> int:
    r"""Order of the largest matrix a refinement of ``groups`` groups of size ``d`` factors per Newton step.

    :func:`relu_convex.solvers.polish.polish_grelu` refines with :func:`refine_group_lasso` (an
    :math:`m \times m` factorization, :math:`m = |S| d`) when :math:`m \le n`
    and with :func:`refine_masked_group_lasso` (:math:`n \times n` and
    :math:`|S| \times |S|`) otherwise, so the order is :math:`\min(m, n)`
    (0 for no group).
    """
    return min(groups * d, n) if groups > 0 else 0


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

    Parameters
    ----------
    X : ndarray, shape (n, d)
    K : ndarray, shape (n, n)
        :math:`XX^\top`.
    masks : ndarray, shape (n, k)
        The active groups' masks as 0/1 floats.
    g : ndarray, shape (k, d)
        Gradient.
    zbar : ndarray, shape (k, d)
        Unit rows :math:`\bar z_j`.
    c : ndarray, shape (k,)
        :math:`c_j = \lambda / \|z_j\|` (> 0).
    mu : float
        Damping (> 0).

    Returns
    -------
    ndarray, shape (k, d)
        :math:`\Delta`.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a factorization fails (numerically singular :math:`T`).
    """
    return -_MaskedFactor(X, K, masks, zbar, c, mu).solve(g)


def _starts(sizes: np.ndarray) -> np.ndarray:
    """First column of each group, shape (k,), for group sizes ``sizes`` (k,)."""
    return (np.cumsum(sizes) - sizes).astype(np.intp)


class _GroupSystem:
    r"""The restricted problem's data on a support: which groups, and where their columns are.

    The Newton engine (:func:`_refine`) sees the point as one vector
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
      support (:func:`newton_step_work`), ``factor_work()`` the factorization's
      share of it, ``iteration_work()`` that of one :func:`_pcg` iteration
      (a ``hessian`` product and a ``solve``), and ``setup_flops`` the flops of
      building the system, for the work count of :func:`_refine`;
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


def _objective(system: _GroupSystem, y: np.ndarray, lam: float, z: np.ndarray) -> tuple[float, np.ndarray]:
    r"""The restricted objective at ``z`` (m,) and the residual :math:`r = Bz - y`, shape (n,)."""
    r = system.forward(z) - y
    return 0.5 * float(r @ r) / y.shape[0] + lam * float(np.sum(system.norms(z))), r


def _lipschitz(system: _GroupSystem) -> float:
    r"""An upper estimate of :math:`\|B\|_2^2 / n`: the largest eigenvalue of :math:`B^\top B / n`, to :math:`10^{-3}`, padded by 5%.

    By Lanczos iterations (:func:`scipy.sparse.linalg.eigsh` on ``system.normal``, to a relative
    tolerance of :math:`10^{-3}`, from a seeded start, :data:`LANCZOS_RESTARTS` restarts at most),
    or from the matrix itself when :math:`m` is below 16. Thirty power iterations, the
    estimate this replaces, came within :math:`2 \cdot 10^{-6}` of the eigenvalue with 30
    products; Lanczos comes within :math:`6 \cdot 10^{-8}` with 9 to 13 (masked systems of 30 to 227
    groups at n = 300 and 2000; 0.031 s against 0.059 s at n = 2000, d = 21, 198 groups).
    An underestimate costs no correctness: the refinement keeps a proximal step only if it
    lowers the objective.
    """
    m = system.group_of.size
    if m < 16:
        value = float(np.linalg.eigvalsh(np.column_stack([system.normal(e) for e in np.eye(m)]))[-1])
    else:
        operator = scipy.sparse.linalg.LinearOperator((m, m), matvec=lambda v: system.normal(np.ravel(v)),
                                                      dtype=np.float64)
        start = np.random.default_rng(0).standard_normal(m)
        try:
            value = float(scipy.sparse.linalg.eigsh(operator, k=1, which="LA", tol=1e-3, v0=start, ncv=8,
                                                    maxiter=LANCZOS_RESTARTS, return_eigenvectors=False)[0])
        except scipy.sparse.linalg.ArpackNoConvergence as failed:
            value = float(np.max(failed.eigenvalues, initial=0.0))
        except scipy.sparse.linalg.ArpackError:
            # e.g. an operator of tiny rank, whose Krylov space ends before the start: power iteration
            value = _power_iteration(system, start)
    return 1.05 * value if value > 0.0 else 1.0


def _lipschitz_work(n: int, m: int) -> float:
    """The work :func:`_refine` counts for :func:`_lipschitz` on an (n, m) system: 64nm, as for the power iteration it replaced."""
    return 64.0 * n * m


def _power_iteration(system: _GroupSystem, v: np.ndarray, iterations: int = 30) -> float:
    r"""The largest eigenvalue of :math:`B^\top B / n` from below, by power iteration from ``v``."""
    value = 0.0
    for _ in range(iterations):
        w = system.normal(v)
        value = float(np.linalg.norm(w))
        if value == 0.0:
            return 0.0
        v = w / value
    return value


LANCZOS_RESTARTS = 30
"""Most restarts of the Lanczos iteration of :func:`_lipschitz` (ARPACK's ``maxiter``, up to 7 products each).

One or two were needed when measured.
"""


PCG_MAX_ITERATIONS = 10
"""Most iterations of one :func:`_pcg` solve in :func:`_refine` before the Newton matrix is factored afresh."""

FORCING_MAX = 1e-2
"""Largest forcing term of the inexact Newton steps (relative residual of the Newton system)."""

FORCING_MIN = 1e-10
"""Smallest forcing term: below the relative gradient :math:`10^{-10}` one step of this accuracy reaches rounding."""


def _pcg(hessian, precondition, b: np.ndarray, rtol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    r"""Preconditioned conjugate gradients for :math:`Hx = b` from :math:`x = 0`.

    Parameters
    ----------
    hessian : callable
        :math:`v \mapsto Hv`, shape (m,) to (m,); :math:`H` symmetric positive definite.
    precondition : callable
        :math:`v \mapsto P^{-1}v`, :math:`P` symmetric positive definite.
    b : ndarray, shape (m,)
    rtol : float
        Stop once the (recurred) residual satisfies :math:`\|b - Hx\|_2 \le` ``rtol`` :math:`\|b\|_2`.
    max_iter : int
        Iterations at most (each a product with :math:`H` and, but for the last, a solve with :math:`P`).

    Returns
    -------
    (ndarray, int, bool)
        :math:`x`, shape (m,), the iterations done, and whether the residual test passed.
        Every iterate from :math:`x = 0` has :math:`b^\top x = x^\top H x > 0`, so :math:`x`
        is a descent direction for a gradient :math:`-b` even when the test fails.
    """
    x = np.zeros_like(b)
    r = b.copy()
    target = rtol * float(np.linalg.norm(b))
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    for i in range(1, max_iter + 1):
        Hp = hessian(p)
        curvature = float(p @ Hp)
        if not curvature > 0.0:
            return x, i, False
        alpha = rz / curvature
        x += alpha * p
        r -= alpha * Hp
        if float(np.linalg.norm(r)) <= target:
            return x, i, True
        if i == max_iter:
            break
        z = precondition(r)
        rz, previous = float(r @ z), rz
        p *= rz / previous
        p += z
    return x, max_iter, False


def _refine(system: _GroupSystem, y: np.ndarray, lam: float, z0: np.ndarray, *, max_steps: int, gtol: float,
            deadline: float | None, stop=None, max_work: float | None = None) -> NewtonRefinement:
    r"""The Newton engine of :func:`refine_group_lasso` and :func:`refine_masked_group_lasso`.

    Each step, on the current support of ``system`` (groups removed from it
    stay at zero):

    1. block zero test: the groups :math:`j` that a proximal step on their own
       block alone (step :math:`1/L_j`, ``system.block_lipschitz``) sets to
       zero, :math:`\|L_j z_j - \nabla_j\| \le \lambda`, are zeroed together
       and removed when that lowers the objective;
    2. one proximal-gradient step (step :math:`1/L`, :math:`L \ge \|B\|^2/n`),
       kept when it lowers the objective; the groups it zeroes are removed;
    3. stop when :math:`\|g\|_\infty \le` ``gtol`` times
       :math:`\|B^\top y\|_\infty / n + \lambda`, or when ``stop(r, F)`` is true;
    4. a damped Newton direction :math:`\Delta`, the solution of
       :math:`H\Delta = -g` (damping :math:`\mu` raised 100x on a failed
       factorization or a non-descent direction): when the support is the one
       of the last factorization, by :func:`_pcg` preconditioned with it, to
       the forcing tolerance :math:`\|H\Delta + g\| \le \eta \|g\|`,
       :math:`\eta = \min(10^{-2}, \max(\|g\|_\infty / \text{scale}, 10^{-10}))`
       (:data:`FORCING_MAX`, :data:`FORCING_MIN`), within at most
       :data:`PCG_MAX_ITERATIONS` iterations and half a factorization's
       estimated work; otherwise, or when they do not reach it, by a new
       factorization (``system.factor``). When the predicted decrease
       :math:`-g^\top\Delta` is below the objective's rounding, the full step
       is taken (unless it raises the objective beyond rounding or zeroes a
       group) and the iteration stops;
    5. crossing groups: the groups that the full step carries past the origin
       (:math:`\langle z_j + \Delta_j, z_j\rangle \le 0`) are tried at zero with
       the rest of the full step, and removed if that passes the Armijo test;
    6. else an Armijo backtracking search (factor 1/4, down to :math:`10^{-6}`)
       on :math:`z + t\Delta`; :math:`\mu` is divided by 10 after a full step,
       multiplied by 10 after a shortened one and by 100 after a failed search.

    The iteration stops after four failed searches or steps that lower the
    objective by less than its rounding, or when :math:`\mu` exceeds
    :math:`10^6` times the Hessian's diagonal scale.

    Parameters
    ----------
    system : _GroupSystem
        The restricted problem on all groups of ``z0``; its support shrinks as groups are removed.
    y : ndarray, shape (n,)
    lam : float
    z0 : ndarray, shape (M,)
        Starting point, all groups' variables side by side.
    max_steps, gtol, deadline, stop, max_work
        As in :func:`refine_group_lasso`.

    Returns
    -------
    NewtonRefinement
        ``z`` of shape (M,), zero on the removed groups.
    """
    n = y.shape[0]
    z = np.array(z0, dtype=np.float64, copy=True).ravel()
    size = z.size
    scale = float(np.max(np.abs(system.adjoint(y)), initial=0.0)) / n + lam
    unit = system.damping_scale + lam
    damping = 1e-10 * unit  # Levenberg-Marquardt: the Hessian is singular when m > n
    lipschitz = _lipschitz(system)
    F, r = _objective(system, y, lam, z)
    gnorm, steps, converged, stalled = np.inf, 0, False, 0
    # and the Lipschitz estimate, counted as 64nm flops as when it was a power iteration (Lanczos takes
    # 9-13 products with B^T B, 18-26 nm; fista schedules its attempts by this count, and 32nm moved them)
    work = NEWTON_RATE * system.setup_flops + _lipschitz_work(n, size)
    factor, factored_on = None, None  # the last factorization and the support it was made on
    while steps < max_steps:
        if steps and ((deadline is not None and time.perf_counter() > deadline)
                      or (max_work is not None and work >= max_work)):
            break
        steps += 1
        if z.size == 0:
            break
        work += system.step_work() - system.factor_work()  # the factorization is counted when made
        # conjugate-gradient iterations a step may spend before factoring: half a factorization's work
        iterations = min(PCG_MAX_ITERATIONS, int(0.5 * system.factor_work() / system.iteration_work()))
        grad = system.adjoint(r) / n
        zero = system.norms(system.block_lipschitz[system.groups][system.group_of] * z - grad) <= lam
        if np.any(zero) and not np.all(zero):
            zt = np.where(zero[system.group_of], 0.0, z)
            Ft, rt = _objective(system, y, lam, zt)
            if Ft <= F:
                z, F, r = system.remove(zero, zt), Ft, rt
                grad = system.adjoint(r) / n
                stalled = 0
        # a proximal-gradient step: it sets exactly to zero the groups whose best value given
        # the others is zero, which Newton steps only approach geometrically
        v = z - grad / lipschitz
        vn = system.norms(v)
        shrink = np.where(vn > lam / lipschitz, 1.0 - (lam / lipschitz) / np.maximum(vn, 1e-300), 0.0)
        zp = v * shrink[system.group_of]
        Fp, rp = _objective(system, y, lam, zp)
        if Fp <= F:
            z, F, r = zp, Fp, rp
            drop = shrink == 0.0
            if np.any(drop):
                z = system.remove(drop, z)
                stalled = 0
                if z.size == 0:
                    break
            grad = system.adjoint(r) / n
        norms = system.norms(z)
        zbar = z / norms[system.group_of]
        g = grad + lam * zbar
        gnorm = float(np.max(np.abs(g), initial=0.0))
        if gnorm <= gtol * scale or (stop is not None and stop(r, F)):
            converged = True
            break
        c = lam / norms
        delta = None
        if factor is not None and factored_on is system.groups and iterations >= 3:
            # inexact Newton: conjugate gradients on this step's system, preconditioned by the last
            # factorization (same support; an earlier point and damping), to a forcing tolerance
            # that shrinks with the gradient (superlinear convergence); when they do not reach it,
            # the matrix is factored afresh
            forcing = min(FORCING_MAX, max(gnorm / scale, FORCING_MIN))
            hessian = functools.partial(system.hessian, zbar=zbar, c=c, mu=damping)
            delta, done, solved = _pcg(hessian, factor.solve, -g, forcing, iterations)
            work += done * system.iteration_work()
            if not (solved and float(g @ delta) < 0.0):
                delta = None
        if delta is None:
            work += system.factor_work()
            try:
                factor, factored_on = system.factor(zbar, c, damping), system.groups
            except np.linalg.LinAlgError:
                factor = None
                damping *= 100.0
                continue
            delta = -factor.solve(g)
        slope = float(g @ delta)
        if not slope < 0.0:
            factor = None
            damping *= 100.0
            continue
        if -slope <= 1e-15 * abs(F):
            # the predicted decrease is below the objective's rounding, where a line search only
            # sees noise: take the full step, which brings the gradient to rounding (unless it
            # raises the objective beyond rounding or zeroes a group), and stop
            candidate = z + delta
            Fc, rc_ = _objective(system, y, lam, candidate)
            cnorms = system.norms(candidate)
            if Fc <= F + 1e-14 * abs(F) and np.all(cnorms > 0.0):
                z, F, r = candidate, Fc, rc_
                g = system.adjoint(r) / n + lam * z / cnorms[system.group_of]
                gnorm = float(np.max(np.abs(g), initial=0.0))
                converged = gnorm <= gtol * scale
            break
        # a group that the full step carries past the origin is heading for zero, where the Newton
        # model (smooth only away from z_j = 0) is wrong: try the full step with those groups at
        # zero, which removes them, before backtracking
        cross = np.add.reduceat((z + delta) * zbar, system.starts) <= 0.0
        if np.any(cross) and not np.all(cross):
            zt = np.where(cross[system.group_of], 0.0, z + delta)
            Ft, rt = _objective(system, y, lam, zt)
            if Ft <= F + 1e-4 * slope:
                z, F, r = system.remove(cross, zt), Ft, rt
                damping = max(damping * 0.1, 1e-14 * unit)
                stalled = 0
                continue
        Bdelta = system.forward(delta)
        t = 1.0
        while t > 1e-6:
            candidate = z + t * delta
            rc_ = r + t * Bdelta
            Fc = 0.5 * float(rc_ @ rc_) / n + lam * float(np.sum(system.norms(candidate)))
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
        Fc, rc_ = _objective(system, y, lam, candidate)  # residual recomputed, not accumulated
        stalled = stalled + 1 if F - Fc <= 1e-15 * abs(F) else 0
        z, F, r = candidate, Fc, rc_
        if stalled >= 4:
            break  # no progress left at this precision
    z_all = np.zeros(size)
    z_all[system.columns] = z
    return NewtonRefinement(z=z_all, objective=F, steps=steps, gradient_norm=gnorm, converged=converged, work=work,
                            factor=factor, factor_groups=factored_on if factor is not None else None)


def refine_group_lasso(
    B: np.ndarray,
    y: np.ndarray,
    lam: float,
    z0: np.ndarray,
    sizes,
    *,
    max_steps: int = 50,
    gtol: float = 1e-13,
    deadline: float | None = None,
    stop=None,
    max_work: float | None = None,
) -> NewtonRefinement:
    r"""Minimize the restricted group lasso by damped Newton steps from ``z0``, with :math:`B` given densely.

    The iteration of :func:`_refine` on :class:`_DenseSystem`: :math:`B^\top B`
    formed once (:math:`nm^2` flops) and an :math:`m \times m` Cholesky
    factorization per Newton step, the cheaper path when :math:`m \le n`.

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
    deadline : float, optional
        A :func:`time.perf_counter` value after which no further Newton step
        starts (the first always does).
    stop : callable, optional
        ``stop(r, F)`` with the residual :math:`r = Bz - y`, shape (n,), and
        the objective ``F`` at the current point, checked before each Newton
        step: true ends the iteration as converged (e.g. once the caller's
        certificate over all groups closes, before the gradient reaches ``gtol``).
    max_work : float, optional
        No further Newton step starts once the estimated work
        (:attr:`NewtonRefinement.work`) reaches this (the first always does).

    Returns
    -------
    NewtonRefinement
        ``converged`` is true when the gradient test or ``stop`` ended the iteration.
    """
    return _refine(_DenseSystem(B, sizes), np.asarray(y, dtype=np.float64), lam, z0, max_steps=max_steps, gtol=gtol,
                   deadline=deadline, stop=stop, max_work=max_work)


def refine_masked_group_lasso(
    X: np.ndarray,
    masks: np.ndarray,
    y: np.ndarray,
    lam: float,
    Z0: np.ndarray,
    *,
    gram: np.ndarray | None = None,
    max_steps: int = 50,
    gtol: float = 1e-13,
    deadline: float | None = None,
    stop=None,
    max_work: float | None = None,
) -> NewtonRefinement:
    r"""Minimize the restricted group lasso with :math:`B_j = D_j X` by damped Newton steps, never forming :math:`B^\top B`.

    The iteration of :func:`_refine` (as :func:`refine_group_lasso`) on
    :class:`_MaskedSystem`, for the groups :math:`B_j = D_j X`,
    :math:`D_j = \mathrm{diag}(` ``masks[:, j]`` :math:`)`: products go
    through the masks (:math:`nm` flops each, :math:`m = kd`) and the Newton
    system is solved by :func:`_masked_newton_direction` (:math:`n^2 k + n^3/3`
    flops per step). It is the cheaper path when :math:`m > n`, where the dense
    path's :math:`m^3/3` per step and :math:`nm^2` for the Gram dominate.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Data.
    masks : ndarray, shape (n, k)
        The active groups' masks (bool or 0/1).
    y : ndarray, shape (n,)
        Targets.
    lam : float
        Weight of the group norms (> 0).
    Z0 : ndarray, shape (k, d)
        Starting point; every row should be nonzero.
    gram : ndarray, shape (n, n), optional
        :math:`XX^\top` when already computed (e.g. shared by several outputs).
    max_steps, gtol, deadline, stop, max_work
        As in :func:`refine_group_lasso`.

    Returns
    -------
    NewtonRefinement
        ``z`` has shape (k * d,): the rows of the refined ``Z`` concatenated.
    """
    system = _MaskedSystem(X, masks, gram)
    Z0 = np.asarray(Z0, dtype=np.float64).reshape(system.masks_all.shape[1], system.X.shape[1])
    return _refine(system, np.asarray(y, dtype=np.float64), lam, Z0, max_steps=max_steps, gtol=gtol, deadline=deadline,
                   stop=stop, max_work=max_work)


DEFAULT_MAX_SIZE = 2500
r"""Default bound on :func:`refinement_size` for :func:`relu_convex.solvers.polish.polish_grelu` and ``"fista"``.

A Newton step factors a matrix of this order at most: about
:math:`s^3/3 + n^2 |S|` flops (:math:`s = \min(m, n)`; the second term for
the masked path only, :math:`|S| \le m/d`), and holds a few :math:`s \times s`
float64 arrays (50 MB each at 2500). Measured on one core: a masked Newton step
takes 0.18 s at :math:`n = 2000, |S| = 227, d = 50` and 0.28 s at
:math:`n = 2500, |S| = 300`; a refinement that converges takes 3 to 6 steps,
about as long as 100 to 300 first-order iterations on such an instance, and
the ``"fista"`` solver bounds the time spent refining anyway. Beyond this the
:math:`n^3` term (and :math:`n^2` memory) grows quickly: 8x the work at twice
the size. The benchmark instance of ``validation/bench_fast_solvers.py``
(:math:`n = 2000`, :math:`|S| \approx 227`, :math:`d = 50`, :math:`m \approx 11350`)
is inside it, where the old bound of 1500 variables excluded it.
"""
