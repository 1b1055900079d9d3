r"""The work model of the Newton refinement: estimated flops of its steps, setups and conjugate-gradient iterations.

The refinement (:mod:`relu_convex.solvers.newton`) counts its work in the
flops of the products a first-order iteration does, so that a solver weighs
iterations against Newton steps without a clock and decides the same way on
every run (``"fista"`` budgets its refinement attempts by this count). The
estimates here cover both paths of :func:`relu_convex.solvers.polish.polish_grelu`:
the dense one (an :math:`m \times m` factorization, :math:`m = |S| d \le n`)
and the masked one (:math:`n \times n` and :math:`|S| \times |S|`), and
:data:`DEFAULT_MAX_SIZE` bounds the order of the matrices factored.
"""

from __future__ import annotations

__all__ = ["NEWTON_RATE", "NEWTON_OVERHEAD", "PCG_OVERHEAD", "PCG_MATRIX_WEIGHT", "DEFAULT_MAX_SIZE",
           "newton_step_work", "refinement_setup_work", "refinement_size"]


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

    As :func:`~relu_convex.solvers.newton._refine` counts it, times :data:`NEWTON_RATE` for the matrix
    products: the dense path (:math:`m = |S| d \le n`) forms :math:`B^\top B`
    (:math:`nm^2` flops), the masked one :math:`XX^\top` (:math:`n^2 d`); both
    estimate :math:`\|B\|^2/n` (counted as :math:`64nm`, as :func:`~relu_convex.solvers.newton._refine` does). On the dense path this
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
    """The factorizations' share of :func:`newton_step_work` on the masked path (:class:`~relu_convex.solvers.newton_systems._MaskedFactor`)."""
    return NEWTON_RATE * (2.0 * n * n * groups + n**3 / 3.0 + groups**3 / 3.0)


PCG_OVERHEAD = 1e6
"""Fixed work of one preconditioned conjugate-gradient iteration of :func:`~relu_convex.solvers.newton._pcg` (a dozen array operations).

As an iteration of the first-order methods (:data:`relu_convex.solvers.fista.ITERATION_OVERHEAD`).
"""


def _dense_iteration_work(m: int) -> float:
    r"""Work of one conjugate-gradient iteration on the dense path: a product with the :math:`m \times m` Gram matrix and a Cholesky solve.

    (An iteration of :func:`~relu_convex.solvers.newton._pcg`.)

    :math:`2m^2` multiply-adds, weighted by :data:`PCG_MATRIX_WEIGHT` (each reads a matrix of
    order :math:`m` once), plus :data:`PCG_OVERHEAD`.
    """
    return PCG_MATRIX_WEIGHT * 2.0 * m * m + 10.0 * m + PCG_OVERHEAD


def _masked_iteration_work(n: int, groups: int, d: int) -> float:
    r"""Work of one :func:`~relu_convex.solvers.newton._pcg` iteration on the masked path.

    A Hessian product (a product with :math:`B` and one with :math:`B^\top`)
    and a solve with a :class:`~relu_convex.solvers.newton_systems._MaskedFactor` (two more, two triangular solves
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

    :func:`relu_convex.solvers.polish.polish_grelu` refines with :func:`~relu_convex.solvers.newton.refine_group_lasso` (an
    :math:`m \times m` factorization, :math:`m = |S| d`) when :math:`m \le n`
    and with :func:`~relu_convex.solvers.newton.refine_masked_group_lasso` (:math:`n \times n` and
    :math:`|S| \times |S|`) otherwise, so the order is :math:`\min(m, n)`
    (0 for no group).
    """
    return min(groups * d, n) if groups > 0 else 0


def _lipschitz_work(n: int, m: int) -> float:
    """The work a refinement counts for its Lipschitz estimate on an (n, m) system: 64nm, as for the power iteration it replaced.

    (:func:`~relu_convex.solvers.newton._refine` and :func:`~relu_convex.solvers.newton._lipschitz`.)
    """
    return 64.0 * n * m


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
