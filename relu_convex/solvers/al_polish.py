r"""Polishing attempts of the ``"al"`` solver: when to refine, and how a refined point is certified.

Between outer iterations of the augmented Lagrangian (:mod:`relu_convex.solvers.augmented_lagrangian`)
:class:`_Refiner` decides, by shares of the time spent iterating, when
:func:`relu_convex.solvers.polish_relu.polish_relu` refines the point with its
tight cone rows exchanged as in an active-set method, and certifies the result:
a refined point replaces the iterate only when it is feasible to ``feas_tol``
and its certified relative gap is within ``tol``. :func:`_certified_start`
returns a warm start that its own multipliers already certify.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from ..cones import cone_violation, row_scale
from ..data import to_host
from ..duality import DualBound, relu_multiplier_bound
from ..operators import MaskedOperator
from .options import Deadline
from .polish_relu import polish_relu
from .proximal import group_norm_sum
from .result import relative_gap

if TYPE_CHECKING:
    from .augmented_lagrangian import _OutputRun

__all__ = ["MIN_ATTEMPT_TIME", "CAPPED_SHARE", "POLISH_SHARE", "EXCHANGE_ROUNDS"]

MIN_ATTEMPT_TIME = 0.05
"""Seconds an attempt after a capped inner solve may always take (:class:`_Refiner`); its first refinement runs in any case."""
CAPPED_SHARE = 0.5
"""Share of the iterating time that attempts after capped inner solves may take (:class:`_Refiner`).

On the C-ReLU benchmark (n=1000, d=20, p=100, seeds 0-3, one core) with the
doubling rule of :class:`_Refiner`: 10.8-17.5, 13.0, 11.8 and 11.8 s; 1.0 gave
20.7, 6.3, 14.7 and 13.1 s; 0.1 without the doubling rule (attempts after every
capped solve, cut at the share) 16.6, 25.8, 20.8 and 26.4 s.
"""
POLISH_SHARE = 0.5
"""Share of the iterating time that polishing may take in all (:class:`_Refiner`)."""
EXCHANGE_ROUNDS = 160
"""Refinements of one polishing attempt (:func:`relu_convex.solvers.polish_relu.polish_relu`, ``exchange=True``).

On the C-ReLU benchmark (n=1000, d=20, p=100) the attempt after 10929 iterations
took 44 refinements (6.3 s) to settle its rows and groups; with 40 it failed and
the next attempt, after 18591 iterations, succeeded (23.9 s in all against 19.1 s).
Wandering exchanges end earlier, by the stall rule of ``polish_relu``. On
``validation/bench_paths.py --model relu --solver al`` (seeds 0-3) the warm-start
attempts that failed at 80 rounds were still converging: with 160 the four warm
paths took 4047 iterations instead of 8252 (seed 1: 3.72 s against 4.17 s, seed 3:
3.71 s against 4.06 s, `--repeat 2`), the cold ones the same 70960.
"""


class _Refiner:
    """Active-set Newton refinement between outer iterations (NumPy float64 problems).

    Attempts come on a warm start with multipliers (after its first inner solve), after an
    outer iteration whose inner solve met its tolerance, and after one cut short at
    the inner cap; each within a share of the time spent iterating. All polishing
    takes at most :data:`POLISH_SHARE` of it; attempts after capped solves, whose
    points are often still far from the optimum (where an exchange fails, after up
    to seconds of rounds on the benchmark instance), take at most
    :data:`CAPPED_SHARE` of it in all and stop starting rounds once they would take
    more (or :data:`MIN_ATTEMPT_TIME`, whichever is longer). Such an attempt starts
    only once its share allows twice the time the last one took (at least
    :data:`MIN_ATTEMPT_TIME`): an exchange that settles needs 30 to 150 rounds, and
    attempts cut after a few rounds each, one after every capped solve, never
    settled (the time they take doubles, so all of them take at most about twice
    the last). Capped solves are the
    rule on some problems (the penalty is then never raised, and only exchange
    finishes them), so they cannot be skipped.
    A refined point replaces the iterate only when it is feasible to ``feas_tol``
    and certified to ``tol``, by the exchange's own multipliers or else the exact
    (NNLS) ones; its bound is kept in any case (every bound is valid).

    The attempt on a warm start (``warm=True``) is made once, after the first
    inner solve (:data:`~relu_convex.solvers.augmented_lagrangian.WARM_ITERATIONS`), and is not charged to the shares:
    charged, a failed one held back
    the attempts that end the solve from a cold start. On
    ``validation/bench_paths.py --model relu --solver al`` the warm attempt at
    lam = 0.044 failed after 0.29 s, the next attempt waited for 0.58 s of
    iterating, and the point took 5592 iterations and 1.5 s against 400
    iterations and 0.23 s cold.
    """

    def __init__(self, max_size: int, float64_op: MaskedOperator | None = None, to_library=None):
        self.max_size, self.time, self.capped_time, self.warm_time, self.attempts = max_size, 0.0, 0.0, 0.0, 0
        self.float64_op = float64_op  # for float32 iterations: refinement and certificates in float64
        # for iterations in another array library (tensors): host arrays back to it, on its device
        self.to_library = (lambda a: a) if to_library is None else to_library
        self.last_capped = 0.0  # seconds the latest attempt after a capped solve took

    def operator(self, op: MaskedOperator) -> MaskedOperator:
        """The operator the refinements and their certificates use: ``op``, or its float64 copy for float32 data."""
        return op if self.float64_op is None else self.float64_op

    def _iterating(self, clock: Deadline) -> float:
        """Seconds of the solve not spent polishing."""
        return clock.elapsed() - self.time

    def ready(self, clock: Deadline, capped: bool = False) -> bool:
        iterating = self._iterating(clock)
        if capped and CAPPED_SHARE * iterating - self.capped_time < max(MIN_ATTEMPT_TIME, 2.0 * self.last_capped):
            return False
        return self.time - self.warm_time <= POLISH_SHARE * iterating

    def attempt(self, op, y, lam, run: _OutputRun, clock: Deadline, tol: float, feas_tol: float,
                capped: bool = False, warm: bool = False) -> bool:
        started = clock.elapsed()
        self.attempts += 1
        op = self.operator(op)
        deadline = clock.at
        if capped:
            share = max(CAPPED_SHARE * self._iterating(clock) - self.capped_time, MIN_ATTEMPT_TIME)
            cut = time.perf_counter() + share
            deadline = cut if deadline is None else min(cut, deadline)
        try:
            stats = {}
            x, multipliers = to_host(run.x), to_host(run.multipliers)  # refinement runs in NumPy on the host
            out = polish_relu(op, y, lam, x, multipliers, max_size=self.max_size, exchange=True,
                              rounds=EXCHANGE_ROUNDS, deadline=deadline, stats=stats)
            if out is None:
                return False
            refined, violation = out
            if "multipliers" not in stats:
                return False  # the exchange did not settle: the point is not the restricted optimum
            # the dual point of the refined point, exact at a settled one
            theta = _dual_point(op, y, refined)
            objective = _objective(op, y, lam, refined, theta)
            dtype = x.dtype
            if dtype != np.float64:
                # float32 iterations go on from (or return) the refined point in their precision: its
                # objective and violation are those of the rounded point, and the bound is that of the
                # refined point's dual point (rounding the weights to float32 moves their own dual point
                # enough to leave gaps of 1e-4 at lam = 1e-3)
                refined = refined.astype(dtype).astype(np.float64)
                objective = _objective(op, y, lam, refined)
                violation = cone_violation(op.cone(refined.reshape(2, op.p, -1)), refined, row_scale(op.X),
                                           float(np.max(np.abs(y), initial=0.0)))
            # the exchange's own multipliers, exact at a settled point: no NNLS over all patterns
            certifying = stats["multipliers"]
            bound = _point_bound(op, y, lam, refined, certifying, nnls=False, theta=theta)
            if relative_gap(objective, bound.value) > tol:
                certifying = None
                bound = _point_bound(op, y, lam, refined, multipliers, nnls=True, theta=theta)
            run.consider(bound)
            if violation <= feas_tol and relative_gap(objective, bound.value) <= tol:
                # the loop ends here: no products of the refined point are needed; the multipliers
                # handed back are those that certify it (a warm start from it is certified as it is)
                run.x, run.products, run.done, run.reason = self.to_library(refined.astype(dtype)), None, True, "converged"
                if certifying is not None:
                    run.multipliers = self.to_library(certifying.astype(dtype))
                return True
            return False
        finally:
            spent = clock.elapsed() - started
            self.time += spent
            if capped:
                self.capped_time += spent
                self.last_capped = spent
            if warm:
                self.warm_time += spent


def _certified_start(op: MaskedOperator, y: np.ndarray, lam: float, run: _OutputRun, tol: float, feas_tol: float,
                     row_scale: float, target_scale: float) -> bool:
    """Whether a warm start (NumPy float64) is feasible to ``feas_tol`` and certified to ``tol`` by its own multipliers.

    Then ``run`` is marked done with nothing iterated: a solution handed back with its
    ``info["multipliers"]`` (the same problem solved again, an estimator refitted) costs
    one product and one bound, instead of a first inner solve and a polishing attempt
    (66 iterations and 0.16 s on a problem with n = 300, p = 50, against 1.8 ms). Its
    bound is kept in any case.
    """
    x = np.asarray(to_host(run.x), dtype=np.float64)
    violation = cone_violation(op.cone(x.reshape(2, op.p, -1)), x, row_scale, target_scale)
    theta = _dual_point(op, y, x)
    bound = _point_bound(op, y, lam, x, to_host(run.multipliers), nnls=False, theta=theta)
    run.consider(bound)
    if violation > feas_tol or relative_gap(_objective(op, y, lam, x, theta), bound.value) > tol:
        return False
    run.done, run.reason = True, "converged"
    return True


def _dual_point(op: MaskedOperator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:math:`\\theta = (y - \\hat y)/n` at the point ``x`` (2p, d), in the operator's dtype (one forward product)."""
    p = op.p
    x = np.asarray(x, dtype=op.dtype)
    return (np.asarray(y, dtype=op.dtype) - op.forward(x[:p] - x[p:])) / op.n


def _point_bound(op: MaskedOperator, y: np.ndarray, lam: float, x: np.ndarray, multipliers: np.ndarray,
                 nnls: bool, theta: np.ndarray | None = None) -> DualBound:
    """The bound at :math:`\\theta = (y - \\hat y)/n` with the AL multipliers (and, if asked, the NNLS ones).

    ``theta``: that of ``x`` (:func:`_dual_point`) when already computed.
    """
    theta = _dual_point(op, y, x) if theta is None else theta
    return relu_multiplier_bound(op, y, theta, (multipliers[0], multipliers[1]), lam, nnls=nnls)


def _objective(op: MaskedOperator, y: np.ndarray, lam: float, x: np.ndarray, theta: np.ndarray | None = None) -> float:
    """The C-ReLU objective at ``x`` (2p, d); from its :func:`_dual_point` ``theta`` when given (no product)."""
    if theta is not None:
        t = np.asarray(theta, dtype=np.float64)
        return 0.5 * op.n * float(np.vdot(t, t)) + lam * group_norm_sum(x)
    p = op.p
    r = (op.forward(x[:p] - x[p:]) - y).astype(np.float64, copy=False)
    return 0.5 * float(np.vdot(r, r)) / op.n + lam * group_norm_sum(x)
