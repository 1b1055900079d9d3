"""The result and status types shared by every solver."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SolveStatus", "SolveResult", "BestBound", "RELATIVE_GAP_FLOOR", "relative_gap", "cone_status", "cone_result"]


class SolveStatus(str, enum.Enum):
    """One vocabulary for every solver.

    ``OPTIMAL``: the solver met its tolerances and the certified gap agrees.
    ``INACCURATE``: a point was returned but the tolerances were not met (or the
    certificate contradicts the solver's claim). ``MAX_ITERATIONS`` and
    ``TIME_LIMIT`` form the limit tier: stopped early, the point is usable and
    its certificate says how good it is. ``INFEASIBLE``/``UNBOUNDED``: the solver
    claims so (the programs here are always feasible and bounded, so this
    signals numerical trouble). ``ERROR``: the solver failed and left no point.
    """

    OPTIMAL = "optimal"
    INACCURATE = "inaccurate"
    MAX_ITERATIONS = "max_iterations"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def has_point(self) -> bool:
        """Whether a result with this status carries weights."""
        return self in (SolveStatus.OPTIMAL, SolveStatus.INACCURATE, SolveStatus.MAX_ITERATIONS, SolveStatus.TIME_LIMIT)


class BestBound:
    """The largest certified lower bound a solve has seen, and its dual point.

    Attributes
    ----------
    bound : float
        The largest ``value`` of the bounds considered (``-inf`` before the first).
    theta : ndarray or None
        Its dual point.
    """

    def __init__(self) -> None:
        self.bound = -np.inf
        self.theta = None

    def consider(self, bound) -> None:
        """Keep ``bound`` (a :class:`relu_convex.duality.DualBound`) if it is larger than the best so far."""
        if bound.value > self.bound:
            self.bound, self.theta = bound.value, bound.theta


RELATIVE_GAP_FLOOR = 1e-6
r"""Fraction of the zero point's objective below which :func:`relative_gap` measures the gap against that fraction.

An objective :math:`F \le 10^{-6} F(0)` belongs to a model that leaves at most a
millionth of the targets' energy unexplained (e.g. a near-interpolating fit at
small or zero :math:`\lambda`, whose optimum is 0 or nearly so). Relative to
such an objective the gap is noise: the certified bound is a difference of
numbers of the size of :math:`F(0)`, computed to about :math:`10^{-16} F(0)`,
and at :math:`\lambda = 0` it is 0 whatever the point. Its gap is therefore
measured in units of :math:`10^{-6} F(0)`: a relative gap of ``tol`` there means
:math:`F - F^\star \le \text{tol} \cdot 10^{-6} F(0)`.
"""


def relative_gap(objective: float, lower_bound: float, zero_objective: float = 0.0) -> float:
    r"""Return the certified gap relative to the objective, or to a floor for near-zero objectives.

    .. math::

        \frac{F - L}{\max(F,\ \kappa F(0))}, \qquad \kappa = \text{RELATIVE\_GAP\_FLOOR} = 10^{-6},

    with :math:`F` = ``objective``, :math:`L` = ``lower_bound`` and :math:`F(0)` =
    ``zero_objective``, the objective of the all-zero weights (for the programs
    here :math:`\|y\|^2 / (2n)`, or that of the centered targets with an
    offset: the problems' ``zero_objective``). When the denominator is 0 (an
    objective of 0 and no scale) the result is 0 if :math:`L \ge F` and ``inf``
    otherwise.

    Whatever the objective, ``relative_gap(F, L, F0) <= tol`` at a feasible point
    guarantees :math:`F - F^\star \le F - L \le \text{tol} \cdot \max(F, \kappa F(0))`:
    within ``tol`` of the optimum relative to the objective, or, for an objective
    below :math:`\kappa F(0)`, within :math:`\text{tol} \cdot \kappa F(0)`
    absolutely (see :data:`RELATIVE_GAP_FLOOR`). The default ``zero_objective=0``
    gives the plain ratio :math:`(F - L) / F`.
    """
    gap = objective - lower_bound
    scale = max(objective, RELATIVE_GAP_FLOOR * zero_objective)
    if scale > 0:
        return gap / scale
    return 0.0 if gap <= 0 else float("inf")


def cone_status(violation: float, feas_tol: float | None, rel: float, tol: float, reasons: set[str], max_iter: int,
                otherwise: str) -> tuple[SolveStatus, str]:
    """Status and message of a solve from its measured cone violation and certified gap.

    ``OPTIMAL`` only when both tolerances hold; otherwise the limit that stopped
    some output (``"time_limit"`` or ``"max_iter"`` in ``reasons``) or
    ``INACCURATE`` with the reason ``otherwise``. ``feas_tol=None``: a program
    without cone constraints (C-GReLU), judged by its gap alone.
    """
    if feas_tol is None:
        if rel <= tol:
            return SolveStatus.OPTIMAL, f"certified relative gap {rel:.2e} <= tol {tol:.0e}"
        detail = f"certified relative gap {rel:.2e} (tol {tol:.0e})"
    elif violation <= feas_tol and rel <= tol:
        return SolveStatus.OPTIMAL, (f"cone violation {violation:.2e} <= feas_tol {feas_tol:.0e} and "
                                     f"certified relative gap {rel:.2e} <= tol {tol:.0e}")
    else:
        detail = (f"cone violation {violation:.2e} (feas_tol {feas_tol:.0e}), "
                  f"certified relative gap {rel:.2e} (tol {tol:.0e})")
    if "time_limit" in reasons:
        return SolveStatus.TIME_LIMIT, f"time limit reached; {detail}"
    if "max_iter" in reasons:
        return SolveStatus.MAX_ITERATIONS, f"max_iter={max_iter} reached; {detail}"
    return SolveStatus.INACCURATE, f"{otherwise}: {detail}"


@dataclass
class SolveResult:
    """The outcome of one solve.

    Attributes
    ----------
    status : SolveStatus
    weights : ndarray or tuple of ndarrays or None
        ``U`` of shape (p, d) (C-GReLU) or the pair ``(V, W)`` (C-ReLU); a
        leading axis ``c`` for multi-output targets. ``None`` without a point.
        NumPy arrays, or arrays of :attr:`backend` on :attr:`device` (e.g.
        ``torch.Tensor`` from ``"fista"``/``"al"`` on a problem built from tensors).
    objective : float
        The primal objective recomputed from ``weights`` (not the solver's claim).
    lower_bound : float
        A certified lower bound on the optimum (weak duality; see
        :mod:`relu_convex.duality`).
    gap, relative_gap : float
        ``objective - lower_bound`` and that divided by the larger of
        ``objective`` and ``RELATIVE_GAP_FLOOR`` (1e-6) times the objective of the
        zero weights (:func:`relative_gap`).
    iterations : int
    solve_time : float
        Wall-clock seconds, problem compilation included.
    solver : str
    max_violation : float
        Largest cone-constraint violation ``max(0, -(2D_i - I) X v_i)`` relative
        to the data scale (C-ReLU; 0 for C-GReLU).
    message : str
        Human-readable account of the status.
    solver_status : str
        The solver's own status string, unmapped.
    dual : ndarray or None
        The dual-feasible point that gives ``lower_bound``.
    history : dict of lists or None
        Per-check traces (first-order solvers).
    info : dict
        Solver-specific extras.
    backend : str
        The array library of ``weights``: ``"numpy"`` (default) or e.g. ``"torch"``.
        ``dual`` and ``history`` are always NumPy (the certificates are computed on the host).
    device : str
        The device of ``weights`` (``"cpu"`` for NumPy), e.g. ``"cuda:0"``.
    """

    status: SolveStatus
    weights: Any
    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    iterations: int
    solve_time: float
    solver: str
    max_violation: float = 0.0
    message: str = ""
    solver_status: str = ""
    dual: np.ndarray | None = None
    history: dict | None = None
    info: dict = field(default_factory=dict)
    backend: str = "numpy"
    device: str = "cpu"

    @property
    def success(self) -> bool:
        """True only for ``SolveStatus.OPTIMAL``."""
        return self.status is SolveStatus.OPTIMAL

    def __repr__(self) -> str:
        return (
            f"SolveResult(status={self.status.value!r}, solver={self.solver!r}, objective={self.objective:.10g}, "
            f"lower_bound={self.lower_bound:.10g}, relative_gap={self.relative_gap:.3g}, "
            f"max_violation={self.max_violation:.3g}, iterations={self.iterations}, "
            f"solve_time={self.solve_time:.3g}s"
            + ("" if self.backend == "numpy" else f", backend={self.backend!r}, device={self.device!r}")
            + ")"
        )


def cone_result(problem, weights, outputs, *, solver: str, clock, history, tol: float, feas_tol: float | None,
                max_iter: int, otherwise: str, multipliers, info: dict, verbose: bool = False,
                history_extra: dict | None = None, stack=np.stack) -> SolveResult:
    """The :class:`SolveResult` of a solve by outputs ("al", "ipm") from its outputs' runs.

    The objective and (C-ReLU) the cone violation are measured at ``weights``; the
    certified bound is the sum of the outputs' bounds (each output is an
    independent problem), the status comes from :func:`cone_status`, and the
    final history row (output ``-1``) records the totals.

    Parameters
    ----------
    problem : ReLUProblem or GatedReLUProblem
    weights : pair of arrays, or array
        C-ReLU: ``(V, W)``, shapes (p, d) or (c, p, d); C-GReLU: shape (p, d) or (c, p, d).
    outputs : sequence
        One run per output, each with ``bound``, ``theta`` (or None),
        ``iterations`` and ``reason`` (``"converged"``, ``"max_iter"``,
        ``"time_limit"`` or the solver's own).
    solver : str
    clock : relu_convex.solvers.options.Deadline
    history : relu_convex.solvers.options.History
        With an ``"output"`` column; ``history_extra`` gives the final row's other extra columns.
    tol, feas_tol, max_iter, otherwise
        As in :func:`cone_status` (``feas_tol=None`` for C-GReLU).
    multipliers : pair of sequences, or None
        The outputs' cone multipliers ``A``, ``B``, shape (n, p) each (None for C-GReLU).
    info : dict
        Solver extras (``info["multipliers"]`` is added).
    stack : callable
        Stacks per-output arrays for multi-output targets (NumPy's, or the
        array library's of the weights).
    """
    multi = problem.y.ndim == 2
    objective = problem.objective(weights)
    violation = problem.constraint_violation(weights) if problem.program == "C-ReLU" else 0.0
    lower = float(sum(run.bound for run in outputs))
    rel = relative_gap(objective, lower, problem.zero_objective)
    iterations = sum(run.iterations for run in outputs)
    elapsed = clock.elapsed()
    history.record(iterations, objective, lower, violation, elapsed, problem.zero_objective)
    history.data["output"].append(-1)
    for key, value in (history_extra or {}).items():
        history.data[key].append(value)
    reasons = {run.reason for run in outputs}
    status, message = cone_status(violation, feas_tol, rel, tol, reasons, max_iter, otherwise)
    if verbose:
        print(f"{solver}: {status.value} after {iterations} iterations, {elapsed:.3g} s; {message}")
    if multipliers is not None:
        A, B = multipliers
        info = {"multipliers": (stack(A), stack(B)) if multi else (A[0], B[0]), **info}
    thetas = [run.theta if run.theta is not None else np.zeros(problem.n) for run in outputs]
    return SolveResult(
        status=status,
        weights=weights,
        objective=objective,
        lower_bound=lower,
        gap=objective - lower,
        relative_gap=rel,
        iterations=iterations,
        solve_time=elapsed,
        solver=solver,
        max_violation=violation,
        message=message,
        solver_status=",".join(sorted(reasons)),
        dual=np.stack(thetas, axis=1) if multi else thetas[0],
        history=history.data,
        info=info,
        backend=problem.backend,
        device=problem.device,
    )
