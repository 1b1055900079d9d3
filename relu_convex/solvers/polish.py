r"""Polishing C-GReLU points with the Newton refinement of :mod:`relu_convex.solvers.newton`.

:func:`polish_grelu` refines a C-GReLU point on its nonzero groups (the dense
or the masked system, whichever factors the smaller matrix) and grows the set;
:func:`predict_grelu` steps along the tangent of the solution path to the
next :math:`\lambda`. Every result is a candidate that the caller certifies
over all groups. The C-ReLU counterpart, which holds tight cone rows, is
:func:`relu_convex.solvers.polish_relu.polish_relu`.

Working-set growth (:func:`polish_grelu`, :func:`entering_groups`): the
restriction can also miss groups, e.g. when the start is the solution at the
previous, larger :math:`\lambda` of a regularization path. Before the first
refinement and after each one, one adjoint product gives
:math:`\|X^\top D_i r\|/n` for every group; the zero groups above
:math:`\lambda` (those whose dual constraint a certificate at this point would
find violated) enter, the most violated first, and the refinement is repeated.
Measured on ``validation/bench_paths.py``: from the previous path point alone,
three rounds certify the next point (gap :math:`10^{-14}`) where the refinement
on the old support leaves gaps of :math:`10^{-2}` to :math:`10^{-1}`.
:func:`predict_grelu` gives a better start along a path: the tangent step
:math:`dz/d\lambda` from one Newton system at the previous solution, solved by
conjugate gradients preconditioned with the last factorization of the
previous point's refinement when that is on the same groups
(:class:`NewtonFactor`, kept by :func:`polish_grelu` in ``factors``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from ..duality import grelu_constraint_values, scaled_dual_bound
from ..operators import MaskedOperator
from .newton import PCG_MAX_ITERATIONS, _pcg, refine_group_lasso, refine_masked_group_lasso
from .newton_systems import _DenseSystem, _masked_adjoint, _masked_forward, _MaskedSystem, masked_hessian_product
from .newton_work import DEFAULT_MAX_SIZE, NEWTON_RATE, refinement_size

__all__ = ["entering_groups", "GROW_ROUNDS", "NewtonFactor", "polish_grelu", "predict_grelu"]


@dataclass
class NewtonFactor:
    r"""The last Newton matrix factorization of one output's refinement (:func:`polish_grelu`), kept for a later solve.

    Attributes
    ----------
    groups : ndarray of int, shape (k,)
        The groups (indices into all ``p``, increasing) it is on.
    lam : float
        The :math:`\lambda` of the refinement.
    factor : object
        ``factor.solve(v)``: :math:`H^{-1}v` for ``v`` of shape (k * d,)
        (:attr:`relu_convex.solvers.newton.NewtonRefinement.factor`).
    """

    groups: np.ndarray
    lam: float
    factor: object


def entering_groups(X: np.ndarray, masks: np.ndarray, y: np.ndarray, lam: float, W: np.ndarray, *,
                    limit: int, margin: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    r"""The zero groups of ``W`` that violate their dual constraint most, and a start for them.

    With :math:`r = \sum_i D_i X w_i - y` the gradient of the smooth part is
    :math:`g_i = X^\top D_i r / n` for every group (one adjoint product,
    :math:`npd` flops); a zero group is optimal at zero given the others exactly
    when :math:`\|g_i\| \le \lambda`, the dual constraint that a certificate at
    this point checks. The at most ``limit`` groups with the largest
    :math:`\|g_i\| > \lambda(1 + \text{margin})` enter along their steepest
    descent directions :math:`v_i = -g_i/\|g_i\|`, each at its own exact line
    minimizer :math:`t_i = n(\|g_i\| - \lambda)/\|D_i X v_i\|^2` (the others held),
    all scaled together by the exact minimizer :math:`s` of the objective along
    the joint direction :math:`\Delta = (t_i v_i)_i`, quadratic in :math:`s \ge 0`:

    .. math::

        s = \frac{\sum_i t_i (\|g_i\| - \lambda)}{\|\sum_i D_i X\, t_i v_i\|^2 / n} .

    Parameters
    ----------
    X : ndarray, shape (n, d)
    masks : ndarray, shape (n, p)
        All groups' masks (bool or 0/1).
    y : ndarray, shape (n,)
    lam : float
    W : ndarray, shape (p, d)
        The current point.
    limit : int
        Most groups returned.
    margin : float
        Relative slack on the dual constraint (rounding is not a violation).

    Returns
    -------
    (ndarray of int, ndarray)
        The entering groups (most violated first), shape (e,), and their start, shape (e, d).
    """
    n = X.shape[0]
    nonzero = np.einsum("pd,pd->p", W, W) > 0.0
    r = _masked_forward(X, masks[:, nonzero], W[nonzero]) - y
    grad = _masked_adjoint(X, masks, r) / n
    gnorm = np.where(nonzero, 0.0, np.linalg.norm(grad, axis=1))
    violated = np.flatnonzero(gnorm > lam * (1.0 + margin))
    entering = violated[np.argsort(-gnorm[violated], kind="stable")[:max(limit, 0)]]
    if entering.size == 0:
        return entering, np.zeros((0, W.shape[1]))
    V = -grad[entering] / gnorm[entering, None]
    BV = masks[:, entering] * (X @ V.T)  # column i: D_i X v_i
    excess = gnorm[entering] - lam
    t = n * excess / np.maximum(np.einsum("nk,nk->k", BV, BV), 1e-300)
    joint = BV @ t
    s = float(t @ excess) / max(float(joint @ joint) / n, 1e-300)
    return entering, (s * t)[:, None] * V


GROW_ROUNDS = 3
"""Default number of working-set growth rounds of :func:`polish_grelu` (refinements after the first)."""


def polish_grelu(problem, U: np.ndarray, *, max_size: int = DEFAULT_MAX_SIZE, max_steps: int = 30,
                 deadline: float | None = None, stats: dict | None = None, grow: int = GROW_ROUNDS,
                 tol: float | None = None, max_work: float | None = None,
                 factors: dict | None = None) -> np.ndarray | None:
    r"""Newton-refine C-GReLU weights on their active groups, growing the set; ``None`` if none is attempted.

    Each output is refined separately (the loss and the penalty separate over
    outputs), with :math:`B = [D_i X]_{i \in S}` over the groups ``S`` that are
    nonzero in ``U``: by :func:`refine_group_lasso` on the dense :math:`B` when
    :math:`m = |S| d \le n`, else by :func:`refine_masked_group_lasso`, which
    never forms :math:`B^\top B` (:math:`XX^\top` is formed once for all
    outputs). Outputs whose :func:`refinement_size` :math:`\min(m, n)` exceeds
    ``max_size`` keep their weights.

    Working-set growth: a support that misses optimal groups (a warm start
    from the previous point of a regularization path, or a first-order iterate
    whose support has not settled) refines to a point that some group outside
    it rejects (:math:`\|X^\top D_i r\|/n > \lambda`), and its certificate
    fails. Before the first refinement and after each one, the most violated
    groups, at most :math:`\max(5, \lceil |S|/4 \rceil)` and as many as
    ``max_size`` allows, enter from their line-search start
    (:func:`entering_groups`; one adjoint product) and the refinement is
    repeated while groups enter, ``grow`` times at most, and not past ``deadline``.

    Parameters
    ----------
    problem : GatedReLUProblem
    U : ndarray, shape (p, d) or (c, p, d)
    max_size : int
        Largest order of the matrix factored per Newton step (:math:`\min(m, n)`),
        per output (default :data:`DEFAULT_MAX_SIZE`).
    max_steps : int
        Newton steps at most per refinement.
    deadline : float, optional
        A :func:`time.perf_counter` value after which no further Newton step
        starts (each refined output takes at least one step); a growth round
        starts only if a Newton step as long as the last round's average fits before it.
    stats : dict, optional
        If given, ``stats["steps"]`` is increased by the Newton steps taken,
        ``stats["entered"]`` by the groups added by growth and ``stats["work"]``
        by the estimated work (:attr:`NewtonRefinement.work`, and :math:`XX^\top`).
    grow : int
        Growth rounds at most per output (default :data:`GROW_ROUNDS`; 0 refines on ``S`` only,
        with no group entering).
    tol : float, optional
        Stop refining an output as soon as its certified relative gap over all
        groups (:func:`relu_convex.duality.scaled_dual_bound` at
        :math:`\theta = -r/n`, one adjoint product per Newton step) is at most
        ``tol``, instead of refining to the gradient tolerance; no growth round
        follows a certified refinement. An output within ``tol`` makes the sum
        over outputs within ``tol`` too.
    max_work : float, optional
        Work budget over all outputs and rounds, in the units of
        :attr:`NewtonRefinement.work`: no Newton step starts past it (each
        refined output takes at least one), and a growth round starts only if a
        step of the last round's average work fits in it.
    factors : dict, optional
        If given, ``factors[k]`` is set to output ``k``'s last factorization
        (:class:`NewtonFactor`), for :func:`predict_grelu` at the next point of a path.

    Returns
    -------
    ndarray shaped like ``U`` (float64), or None when no output was refined.
    """
    X, masks, W, W3, Y2 = _grelu_outputs(problem, U)
    refined = False
    n, d = X.shape
    gram = None
    spent = 0.0
    op = None if tol is None else MaskedOperator(X, masks)  # float64, for the certificate test
    for k in range(Y2.shape[1]):
        active = np.flatnonzero(np.linalg.norm(W3[k], axis=-1) > 0.0)
        if active.size == 0 or refinement_size(n, active.size, d) > max_size:
            continue
        for round_ in range(grow + 1):
            # growth: the zero groups that violate their dual constraint at the current point enter
            # (before the first refinement too: a warm start from a nearby problem misses some)
            if grow > 0:
                room = masks.shape[1] if n <= max_size else max_size // d - active.size  # min(m, n) <= max_size
                entering, start = entering_groups(X, masks, Y2[:, k], problem.lam, W3[k],
                                                  limit=min(max(5, -(-active.size // 4)), room))
                if entering.size == 0 and round_ > 0:
                    break
                if stats is not None:
                    stats["entered"] = stats.get("entered", 0) + entering.size
                W3[k, entering] = start
                active = np.flatnonzero(np.linalg.norm(W3[k], axis=-1) > 0.0)
            began = time.perf_counter()
            stop = None if tol is None else _CertifiedWithin(op, Y2[:, k], problem.lam, tol)
            left = None if max_work is None else max_work - spent
            if active.size * d <= n:
                B = (masks[:, active, None] * X[:, None, :]).reshape(n, active.size * d)
                out = refine_group_lasso(B, Y2[:, k], problem.lam, W3[k, active].ravel(), [d] * active.size,
                                         max_steps=max_steps, deadline=deadline, stop=stop, max_work=left)
            else:
                if gram is None:
                    gram = X @ X.T
                    spent += NEWTON_RATE * n * n * d
                out = refine_masked_group_lasso(X, masks[:, active], Y2[:, k], problem.lam, W3[k, active], gram=gram,
                                                max_steps=max_steps, deadline=deadline, stop=stop, max_work=left)
            spent += out.work
            if factors is not None and out.factor is not None:
                factors[k] = NewtonFactor(active[out.factor_groups], problem.lam, out.factor)
            if stats is not None:
                stats["steps"] = stats.get("steps", 0) + out.steps
            W3[k, active] = out.z.reshape(active.size, d)
            refined = True
            # another round takes a Newton step at least: start it only if one such step fits before
            # the deadline and within the work budget
            now, per_step = time.perf_counter(), 1.0 / max(out.steps, 1)
            if (round_ == grow or (deadline is not None and now + (now - began) * per_step > deadline)
                    or (max_work is not None and spent + out.work * per_step > max_work)):
                break
            if stop is not None and stop.passed:
                break
            active = np.flatnonzero(np.linalg.norm(W3[k], axis=-1) > 0.0)
    if stats is not None:
        stats["work"] = stats.get("work", 0.0) + spent
    return W if refined else None


class _CertifiedWithin:
    """``stop(r, F)`` for :func:`_refine`: whether one output's certified relative gap over all groups is within ``tol``.

    ``passed`` remembers whether it ever returned true.
    """

    def __init__(self, op: MaskedOperator, y: np.ndarray, lam: float, tol: float) -> None:
        self.op, self.y, self.lam, self.tol = op, y, lam, tol
        self.passed = False

    def __call__(self, r: np.ndarray, F: float) -> bool:
        theta = -r / r.shape[0]
        bound = scaled_dual_bound(self.y, theta, grelu_constraint_values(self.op, theta), self.lam).value
        self.passed = self.passed or (F - bound <= self.tol * abs(F))
        return self.passed


def _grelu_outputs(problem, U):
    """``X`` (float64), the masks, a float64 copy ``W`` of ``U``, and ``W``, ``y`` with an output axis: (c, p, d), (n, c)."""
    X = np.asarray(problem.X, dtype=np.float64)
    Y = np.asarray(problem.y, dtype=np.float64)
    W = np.array(U, dtype=np.float64, copy=True)
    W3, Y2 = (W[None], Y[:, None]) if Y.ndim == 1 else (W, Y)
    return X, problem.patterns, W, W3, Y2


def predict_grelu(problem, U: np.ndarray, lam_from: float, *, max_size: int = DEFAULT_MAX_SIZE,
                  factors: dict | None = None) -> np.ndarray:
    r"""First-order prediction of the C-GReLU solution at ``problem.lam`` from the solution ``U`` at ``lam_from``.

    On a fixed support :math:`S` (the nonzero groups of ``U``) the optimality
    condition :math:`B^\top (Bz - y)/n + \lambda \bar z = 0` defines the
    solution as a smooth function of :math:`\lambda`; differentiating it,

    .. math::

        H \frac{dz}{d\lambda} = -\bar z, \qquad
        H = B^\top B / n + \lambda\, \mathrm{blockdiag}\Big(\frac{I - \bar z_j \bar z_j^\top}{\|z_j\|}\Big),

    the Hessian of the Newton refinement at ``U`` (one Newton system solve,
    dense or masked as in :func:`polish_grelu`). The prediction is
    :math:`z + (\lambda - \lambda_{\text{from}})\, dz/d\lambda`; a group that the
    step carries past the origin (:math:`\langle z_j^{\text{new}}, z_j\rangle \le 0`)
    is predicted to leave and set to zero. Groups that enter at the new value
    are not predicted (the refinement's growth adds them). Along a
    regularization path this start is closer to the next solution than the
    previous solution itself (error :math:`O(\Delta\lambda^2)` on an unchanged
    support): on ``validation/bench_paths.py``'s small gated path it halves the
    iterations of the warm-started solves.

    Parameters
    ----------
    problem : GatedReLUProblem
        The problem at the new value ``problem.lam``.
    U : ndarray, shape (p, d) or (c, p, d)
        The solution at ``lam_from``.
    lam_from : float
        The value ``U`` solves (> 0).
    max_size : int
        Outputs whose :func:`refinement_size` exceeds this keep ``U``'s weights.
    factors : dict, optional
        :class:`NewtonFactor` by output, from the solve at ``lam_from``
        (:func:`polish_grelu`'s ``factors``): an output whose factorization is on
        the groups of ``U`` at ``lam_from`` solves the tangent system by
        conjugate gradients preconditioned with it (at most
        :data:`~relu_convex.solvers.newton.PCG_MAX_ITERATIONS` iterations, to a
        relative residual of :data:`PREDICT_RTOL`) instead of factoring.

    Returns
    -------
    ndarray shaped like ``U`` (float64)
    """
    X, masks, W, W3, Y2 = _grelu_outputs(problem, U)
    n, d = X.shape
    if not lam_from > 0:
        raise ValueError(f"lam_from must be > 0, got {lam_from!r}")
    for k in range(Y2.shape[1]):
        active = np.flatnonzero(np.linalg.norm(W3[k], axis=-1) > 0.0)
        if active.size == 0 or refinement_size(n, active.size, d) > max_size:
            continue
        Z = W3[k, active]
        norms = np.linalg.norm(Z, axis=1)
        zbar = (Z / norms[:, None]).ravel()
        M = np.asarray(masks[:, active], dtype=np.float64)
        dense = active.size * d <= n
        # the damping scale of the system that would factor it (_DenseSystem: the mean diagonal of
        # B^T B / n; _MaskedSystem: d times that)
        diagonal = float(np.sum(np.einsum("nd,nd->n", X, X) @ M)) / n
        c, mu = lam_from / norms, 1e-12 * (diagonal / (active.size * d if dense else active.size) + lam_from)
        slope, stored = None, None if factors is None else factors.get(k)
        if stored is not None and stored.lam == lam_from and np.array_equal(stored.groups, active):
            hessian = functools.partial(masked_hessian_product, X, M, zbar.reshape(-1, d), c, mu)
            slope, _, solved = _pcg(hessian, stored.factor.solve, -zbar, PREDICT_RTOL, PCG_MAX_ITERATIONS)
            slope = slope if solved else None
        if slope is None:
            if dense:
                system = _DenseSystem((M[:, :, None] * X[:, None, :]).reshape(n, active.size * d), [d] * active.size)
            else:
                system = _MaskedSystem(X, M)
            try:
                slope = system.direction(zbar, zbar, c, mu)  # -H^{-1} zbar
            except np.linalg.LinAlgError:
                continue
        Z_new = Z + (problem.lam - lam_from) * slope.reshape(active.size, d)
        Z_new[np.einsum("kd,kd->k", Z_new, Z) <= 0.0] = 0.0
        W3[k, active] = Z_new
    return W


PREDICT_RTOL = 1e-6
r"""Relative residual to which :func:`predict_grelu` solves the tangent system by conjugate gradients.

The prediction's own error is :math:`O(\Delta\lambda^2)`, far above this.
"""
