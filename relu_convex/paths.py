r"""Regularization paths: a decreasing :math:`\lambda` grid solved with warm starts.

For :math:`\lambda \ge \lambda_{\max}` the zero network is optimal: at
:math:`u = 0` the dual point is :math:`\theta = y/n`, and zero is optimal
exactly when that point is dual feasible,

.. math::

    \lambda_{\max} = \max_i \|X^\top D_i y\|_2 / n \quad\text{(C-GReLU)}, \qquad
    \lambda_{\max} = \max_i \max_{u \in K_i, \|u\| \le 1} |y^\top D_i X u| / n
    \quad\text{(C-ReLU)}.

:func:`regularization_path` solves the programs along a grid from large to
small :math:`\lambda`. Solvers that accept a warm start (``"fista"``,
``"al"``; :data:`relu_convex.fitting.WARM_START_SOLVERS`) start each solve from
the previous solution (``"al"`` also from its cone multipliers; ``"fista"``,
on float64 data, from the first-order prediction along the solution path,
:func:`relu_convex.solvers.polish.predict_grelu`); the conic route always
starts cold. Every point keeps
its weights, its certificate (objective, certified lower bound, gap) and the
number of active neurons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .certificates import Certificate
from .data import check_lam, check_patterns, check_positive_int, check_X, check_y
from .duality import grelu_constraint_values, relu_constraint_values
from .fitting import (
    POSITIVE_LAM_SOLVERS,
    WARM_START_SOLVERS,
    active_neurons,
    check_model,
    default_solver,
    default_working_set,
    make_problem,
    solve_options,
)
from .operators import MaskedOperator
from .solvers.polish import predict_grelu
from .solvers.result import SolveStatus

__all__ = ["PathPoint", "RegularizationPath", "lam_max", "lam_grid", "regularization_path"]


@dataclass(frozen=True)
class PathPoint:
    """One solution on the path.

    Attributes
    ----------
    lam : float
    weights : ndarray or pair of ndarrays
        ``U`` (C-GReLU) or ``(V, W)`` (C-ReLU).
    certificate : Certificate
        Objective, certified lower bound and gap of ``weights`` at ``lam``.
    n_active : int
        Number of active blocks (neurons of the equivalent network): blocks
        below ``1e-4`` of the largest one (or of the data's weight scale)
        count as zero, since interior-point solutions are not exactly sparse.
    status : SolveStatus
    iterations : int
    solve_time : float
        Seconds spent in the solver, with the warm-start prediction of ``"fista"`` (the
        certificate not included).
    warm_started : bool
        Whether the solver started from the previous point.
    """

    lam: float
    weights: object
    certificate: Certificate
    n_active: int
    status: SolveStatus
    iterations: int
    solve_time: float
    warm_started: bool


@dataclass
class RegularizationPath:
    """The solutions of a path, in the order of decreasing ``lam``.

    Attributes
    ----------
    points : list of PathPoint
    model : {"relu", "gated"}
    solver : str
    warm_start : bool
        Whether warm starts were requested (they apply only to the solvers
        in :data:`relu_convex.fitting.WARM_START_SOLVERS`).
    total_time : float
        Wall-clock seconds for the whole path, certificates included.
    """

    points: list[PathPoint] = field(default_factory=list)
    model: str = "relu"
    solver: str = ""
    warm_start: bool = True
    total_time: float = 0.0

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i) -> PathPoint:
        return self.points[i]

    def __iter__(self):
        return iter(self.points)

    @property
    def lams(self) -> np.ndarray:
        """The grid, shape (k,), decreasing."""
        return np.array([p.lam for p in self.points])

    @property
    def objectives(self) -> np.ndarray:
        return np.array([p.certificate.objective for p in self.points])

    @property
    def lower_bounds(self) -> np.ndarray:
        return np.array([p.certificate.lower_bound for p in self.points])

    @property
    def relative_gaps(self) -> np.ndarray:
        return np.array([p.certificate.relative_gap for p in self.points])

    @property
    def n_active(self) -> np.ndarray:
        return np.array([p.n_active for p in self.points])

    @property
    def solve_time(self) -> float:
        """Seconds spent in the solver over the whole path."""
        return float(sum(p.solve_time for p in self.points))

    def summary(self) -> str:
        """A table: lam, objective, lower bound, relative gap, active neurons, status, iterations, time."""
        head = f"{'lam':>10} {'objective':>14} {'lower bound':>14} {'rel. gap':>9} {'active':>6} {'status':>14} {'iters':>6} {'time':>8}"
        rows = [head]
        for p in self.points:
            c = p.certificate
            rows.append(
                f"{p.lam:10.3e} {c.objective:14.8g} {c.lower_bound:14.8g} {c.relative_gap:9.2e} {p.n_active:6d} "
                f"{p.status.value:>14} {p.iterations:6d} {p.solve_time:8.3f}"
            )
        return "\n".join(rows)


def lam_max(X, y, patterns, model: str = "relu") -> float:
    r"""Return the smallest :math:`\lambda` at which the zero network is optimal.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, c)
    patterns : ndarray of bool, shape (n, p)
    model : {"relu", "gated"}

    Returns
    -------
    float
        For C-ReLU computed with the NNLS multipliers of
        :func:`relu_convex.duality.relu_constraint_values` (exact up to the
        NNLS tolerance).
    """
    X = check_X(X, dtype=np.float64)
    y = check_y(y, X.shape[0], dtype=np.float64)
    patterns = check_patterns(patterns, X.shape[0])
    op = MaskedOperator(X, patterns)
    theta = y / X.shape[0]
    if check_model(model) == "gated":
        return float(np.max(grelu_constraint_values(op, theta)))
    return float(np.max(relu_constraint_values(op, theta)))


def lam_grid(lam_high: float, num: int = 20, ratio: float = 1e-3) -> np.ndarray:
    """Return ``num`` values from ``lam_high`` down to ``ratio * lam_high``, evenly spaced on a log scale."""
    lam_high = check_lam(lam_high, "lam_high")
    num = check_positive_int(num, "num")
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    return lam_high * np.logspace(0.0, np.log10(ratio), num)


def regularization_path(
    X,
    y,
    patterns,
    lams=None,
    *,
    model: str = "relu",
    solver: str | None = None,
    warm_start: bool = True,
    tol: float | None = None,
    max_iter: int | None = None,
    num: int = 20,
    ratio: float = 1e-3,
    working_set: bool | None = None,
    **problem_options,
) -> RegularizationPath:
    r"""Solve C-ReLU or C-GReLU along a decreasing grid of :math:`\lambda`.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, c)
    patterns : ndarray of bool, shape (n, p)
    lams : array_like of float, optional
        The grid; solved from the largest value down (duplicates removed).
        ``None``: :func:`lam_grid` of ``num`` values from :func:`lam_max` down
        to ``ratio`` times it.
    model : {"relu", "gated"}
    solver : str, optional
        Any solver name; ``None`` uses :data:`relu_convex.fitting.PATH_SOLVER`, or
        :data:`relu_convex.fitting.ZERO_LAM_SOLVER` for a grid that holds 0 (which
        ``"fista"``, ``"al"`` and ``"ipm"`` refuse).
    warm_start : bool
        Start each solve from the previous solution when the solver accepts
        ``weights0`` (and, for ``"al"``, from the previous cone multipliers,
        ``multipliers0``); ignored (cold starts) otherwise.
    tol, max_iter : optional
        Passed to the solver.
    working_set : bool, optional
        Solve each point over growing subsets of the patterns, certified over
        all of them (:mod:`relu_convex.solvers.working_set`). ``None`` (default):
        when the patterns outnumber the samples 20 to 1
        (:func:`relu_convex.fitting.default_working_set`), e.g. exact pattern sets. With
        ``warm_start`` the previous solution's support starts each point's set,
        for every solver (the conic solvers and ``"ipm"`` then start cold on
        that set), so a path over an exact pattern set needs few rounds a point.
    **problem_options
        ``unpenalized``, ``offset`` for the programs.

    Returns
    -------
    RegularizationPath
    """
    model = check_model(model)
    free = bool(problem_options.get("unpenalized")) or bool(problem_options.get("offset"))
    X = check_X(X)
    y = check_y(y, X.shape[0], dtype=X.dtype)
    patterns = check_patterns(patterns, X.shape[0])
    if lams is None:
        lams = lam_grid(lam_max(X, y, patterns, model), num=num, ratio=ratio)
    try:
        values = np.atleast_1d(np.asarray(lams, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lams must be a non-empty 1-D sequence of numbers >= 0, got {type(lams).__name__} {lams!r:.80}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"lams must be a non-empty 1-D sequence of numbers >= 0, got shape {values.shape}")
    grid = sorted({check_lam(v, "lams") for v in values}, reverse=True)
    solver = default_solver(model, solver, free_terms=free, shape=(X.shape[0], X.shape[1], patterns.shape[1]), path=True,
                            lam=grid[-1])
    if isinstance(solver, str) and solver.lower() in POSITIVE_LAM_SOLVERS and not grid[-1] > 0:
        raise ValueError(f"lams: solver {solver!r} needs lam > 0, and the grid holds 0; leave solver=None "
                         "(the path is then solved by a conic solver) or name one: 'clarabel', 'ecos' or 'scs'")
    if working_set is None:
        working_set = default_working_set(X.shape[0], patterns.shape[1], free_terms=free)
    if not isinstance(working_set, (bool, np.bool_)):
        raise TypeError(f"working_set must be True, False or None, got {working_set!r}")
    warm = warm_start and (solver.lower() in WARM_START_SOLVERS or bool(working_set))
    path = RegularizationPath(model=model, solver=solver, warm_start=warm_start)
    start = time.perf_counter()
    previous, previous_lam, multipliers = None, None, None
    # the refinements' last factorizations, by output, for the next point's prediction
    # (not with working sets: a factorization indexes the groups of one restricted program)
    factors = {} if warm and solver.lower() == "fista" and X.dtype == np.float64 and not working_set else None
    for lam in grid:
        problem = make_problem(model, X, y, patterns, lam, **problem_options)
        weights0 = previous if warm else None
        began = time.perf_counter()
        if weights0 is not None and solver.lower() == "fista" and X.dtype == np.float64:
            # start from the solution path's tangent, not the previous point itself
            weights0 = predict_grelu(problem, weights0, previous_lam, factors=factors)
        prediction_time = time.perf_counter() - began
        options = solve_options(solver, tol=tol, max_iter=max_iter, weights0=weights0)
        if working_set:
            options["working_set"] = True
            if weights0 is not None:
                options["weights0"] = weights0  # the start of the set, whatever the solver
        if factors is not None:
            options["factors"] = factors
        if weights0 is not None and multipliers is not None:
            # the augmented Lagrangian's state is the pair (weights, cone multipliers):
            # starting it from the previous weights with zero multipliers wastes the
            # outer iterations that rebuilt them
            options["multipliers0"] = multipliers
            # (continuing the penalty too, penalty0, was measured slower: 0.53x of cold on
            # validation/bench_paths.py --model relu --solver al --n 120 --d 4 --p 20)
        result = problem.solve(solver=solver, **options)
        if not result.status.has_point:
            raise RuntimeError(f"regularization_path: solver {solver!r} failed at lam={lam:g} with status {result.status.value}: {result.message}")
        # the solver's best dual point can certify more than the weights' own residual
        cert = problem.certificate(result.weights, dual=result.dual)
        path.points.append(
            PathPoint(
                lam=lam,
                weights=result.weights,
                certificate=cert,
                n_active=active_neurons(result.weights, threshold=_activity_threshold(result.weights, X, y)),
                status=result.status,
                iterations=int(result.iterations),
                solve_time=float(result.solve_time) + prediction_time,
                warm_started=weights0 is not None,
            )
        )
        previous, previous_lam = result.weights, lam
        multipliers = result.info.get("multipliers") if solver.lower() == "al" else None
    path.total_time = time.perf_counter() - start
    return path


def _activity_threshold(weights, X: np.ndarray, y: np.ndarray) -> float:
    r"""Norm below which a block counts as zero: ``1e-4`` times the larger of the largest block and the data's weight scale.

    Interior-point solutions are never exactly sparse: at tolerance ``1e-6``
    their zero blocks sit at up to about ``1e-5`` of the largest block. The
    weight scale :math:`\max|y| / \max_k \|x_k\|` is the size of a block that
    alone fits the targets, so the empty model at large :math:`\lambda` counts
    no neuron.
    """
    arrays = weights if isinstance(weights, tuple) else (weights,)
    top = max(float(np.max(np.linalg.norm(np.asarray(a), axis=-1), initial=0.0)) for a in arrays)
    scale = float(np.max(np.abs(y))) / max(float(np.max(np.linalg.norm(X, axis=1))), np.finfo(np.float64).tiny)
    return 1e-4 * max(top, scale)
