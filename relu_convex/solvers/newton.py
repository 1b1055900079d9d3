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
:class:`~relu_convex.solvers.newton_systems._GroupSystem` gives products, Newton directions and the restriction to
fewer groups). :func:`refine_group_lasso` (:class:`~relu_convex.solvers.newton_systems._DenseSystem`) takes any
:math:`B = [B_1 \cdots B_k]`, formed densely (``n * m`` numbers,
:math:`m = \sum_j d_j`), forms :math:`B^\top B` once (:math:`n m^2` flops) and
factors an :math:`m \times m` matrix per Newton step.
:func:`refine_masked_group_lasso` (:class:`~relu_convex.solvers.newton_systems._MaskedSystem`) is for the C-GReLU
blocks :math:`B_j = D_j X` (:math:`D_j` a 0/1 diagonal mask, all
:math:`d_j = d`) when :math:`m > n`: it never forms :math:`B` or
:math:`B^\top B`; products go through the masks and the Newton system is
solved by two Woodbury steps that factor an :math:`n \times n` and a
:math:`k \times k` matrix (:class:`~relu_convex.solvers.newton_systems._MaskedFactor`,
:math:`2n^2 k + n^3/3` flops per factorization; a solve with the factors
costs one product with :math:`B` and one with :math:`B^\top`).
:func:`relu_convex.solvers.polish.polish_grelu` picks the dense path when
:math:`m \le n` and the masked one otherwise, so a step factors a
matrix of order :func:`~relu_convex.solvers.newton_work.refinement_size` :math:`= \min(m, n)`, which callers
bound (:data:`~relu_convex.solvers.newton_work.DEFAULT_MAX_SIZE`).

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
factor :math:`L` of an earlier :math:`M_0` (:class:`~relu_convex.solvers.newton_systems._MaskedFactor`) and the
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
tight cone rows held) are in :mod:`relu_convex.solvers.polish` and :mod:`relu_convex.solvers.polish_relu`.

Work. A refinement counts its estimated work (:data:`~relu_convex.solvers.newton_work.NEWTON_RATE`,
:data:`~relu_convex.solvers.newton_work.NEWTON_OVERHEAD`, :func:`~relu_convex.solvers.newton_work.newton_step_work`: flops, in units of the
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
import scipy.sparse.linalg

from .newton_systems import _DenseSystem, _GroupSystem, _MaskedSystem, masked_hessian_product
from .newton_work import (
    DEFAULT_MAX_SIZE,
    NEWTON_OVERHEAD,
    NEWTON_RATE,
    _lipschitz_work,
    newton_step_work,
    refinement_setup_work,
    refinement_size,
)

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
        (:data:`~relu_convex.solvers.newton_work.NEWTON_RATE`, :data:`~relu_convex.solvers.newton_work.NEWTON_OVERHEAD`): a count, not a measurement,
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

    The iteration of :func:`_refine` on :class:`~relu_convex.solvers.newton_systems._DenseSystem`: :math:`B^\top B`
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
    :class:`~relu_convex.solvers.newton_systems._MaskedSystem`, for the groups :math:`B_j = D_j X`,
    :math:`D_j = \mathrm{diag}(` ``masks[:, j]`` :math:`)`: products go
    through the masks (:math:`nm` flops each, :math:`m = kd`) and the Newton
    system is solved by :func:`~relu_convex.solvers.newton_systems._masked_newton_direction` (:math:`n^2 k + n^3/3`
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
