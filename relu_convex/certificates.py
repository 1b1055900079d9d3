r"""Certificates: objective, certified lower bound and gap at any point.

A certificate is a pure function of the problem data and the weights, so it
applies to the output of any solver (CVXPY's included) or of any training run.
The lower bound comes from the dual point built from the residual
(:mod:`relu_convex.duality`) and is valid by weak duality at every point,
optimal or not, feasible or not.

For C-ReLU the weights may violate the cone constraints (interior-point and
first-order solvers return points feasible only up to a tolerance). Then the
objective is not an upper bound on the optimum, and the certificate says so:
it reports the violation and repairs the point
(:func:`relu_convex.decomposition.repair_feasibility`): a point with the same
predictions whose blocks lie in their cones (up to rounding), found by one
small least-distance problem per violated block. Its objective is an upper
bound on the optimum, so the optimum lies in ``[lower_bound, upper_bound]``.

All constraint values and dual objectives are evaluated in float64 whatever
the data's dtype, so rounding cannot push a bound above its exact value by
more than a few units in the last place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .duality import DualBound, relu_constraint_max, relu_constraint_values, scaled_dual_bound
from .reports import Report
from .solvers.result import relative_gap

__all__ = ["Certificate", "certify_weights"]


@dataclass(frozen=True)
class Certificate(Report):
    """Objective, certified lower bound and gap of a point.

    Attributes
    ----------
    objective : float
        The primal objective at the weights.
    lower_bound : float
        A lower bound on the optimum of the same program (weak duality).
    gap : float
        ``objective - lower_bound``.
    relative_gap : float
        ``gap / max(objective, 1e-6 * F(0))``, ``F(0)`` the objective of the zero
        weights (:func:`relu_convex.solvers.result.relative_gap`).
    max_violation : float
        Largest cone violation relative to the data scale (C-ReLU; 0 for C-GReLU).
        When it is positive the weights are not feasible for C-ReLU and
        ``objective`` is not an upper bound on its optimum; see ``upper_bound``.
    program : str
        ``"C-GReLU"`` or ``"C-ReLU"``: the objective being certified.
    dual : ndarray, shape (n,) or (n, c)
        The dual-feasible point that gives ``lower_bound``.
    upper_bound : float
        An upper bound on the optimum: ``objective`` for a feasible point, the
        objective of the repaired point for an infeasible one, ``nan`` when no
        repair was attempted or possible.
    repaired_objective : float
        Objective of the repaired point (``nan`` when the point is feasible or
        no repair was attempted).
    repair_violation : float
        Cone violation left in the repaired point (rounding level), ``nan`` when
        there is none.
    lam : float
    n_patterns : int
    multipliers : str
        ``"nnls"`` (computed) or ``"given"`` (the caller's), C-ReLU only.
    objective_name : str
        The certified objective in words: the program and its options, e.g.
        ``"C-ReLU (unpenalized columns (2,), offset)"`` (see
        :mod:`relu_convex.free_terms`); empty means exactly ``program``.
    """

    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    max_violation: float
    program: str
    dual: np.ndarray = field(repr=False)
    upper_bound: float = float("nan")
    repaired_objective: float = float("nan")
    repair_violation: float = float("nan")
    lam: float = float("nan")
    n_patterns: int = 0
    multipliers: str = ""
    objective_name: str = ""

    _array_fields = ("dual",)

    @property
    def feasible(self) -> bool:
        """Whether the weights satisfy the cone constraints exactly (always true for C-GReLU)."""
        return self.max_violation == 0.0

    @property
    def optimum_interval(self) -> tuple[float, float]:
        """``(lower_bound, upper_bound)``: where the optimum of the program lies."""
        return self.lower_bound, self.upper_bound

    def __str__(self) -> str:
        lines = [
            f"{self.objective_name or self.program} certificate ({self.n_patterns} patterns, lam = {self.lam:g})",
            f"  objective      {self.objective:.12g}",
            f"  lower bound    {self.lower_bound:.12g}",
            f"  gap            {self.gap:.3e}  (relative {self.relative_gap:.3e})",
        ]
        if self.program == "C-ReLU":
            if self.feasible:
                lines.append("  cone violation 0 (feasible point)")
            else:
                lines.append(f"  cone violation {self.max_violation:.3e}  (infeasible: the objective is not an upper bound)")
                if np.isfinite(self.repaired_objective):
                    lines.append(
                        f"  repaired point objective {self.repaired_objective:.12g} "
                        f"(same predictions, violation {self.repair_violation:.1e})"
                    )
                else:
                    lines.append("  no feasible repair: some block's cone has an empty interior")
        lines.append(f"  optimum in     [{self.lower_bound:.12g}, {self.upper_bound:.12g}]")
        return "\n".join(lines)


def _grelu_max(problem, theta: np.ndarray) -> np.ndarray:
    """Largest ``||X^T D_i theta_k||`` per output, in float64; shape (c,)."""
    X = np.asarray(problem.X, dtype=np.float64)
    T = theta.reshape(problem.n, -1)
    M = problem.patterns
    return np.array([np.max(np.linalg.norm((M * T[:, k, None]).T @ X, axis=1)) for k in range(T.shape[1])])


def _relu_max(problem, theta: np.ndarray, multipliers) -> np.ndarray:
    """Largest C-ReLU constraint value per output (valid upper bounds); shape (c,)."""
    T = theta.reshape(problem.n, -1)
    if multipliers is None:
        return np.array([relu_constraint_max(problem.operator, T[:, k]).value for k in range(T.shape[1])])
    A, B = multipliers
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    expected = (problem.n, problem.p) if theta.ndim == 1 else (T.shape[1], problem.n, problem.p)
    for name, m in (("multipliers[0]", A), ("multipliers[1]", B)):
        if m.shape != expected:
            raise ValueError(f"{name} must have shape {expected} (one column of cone multipliers per pattern), got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError(f"{name} must contain only finite numbers")
    vals = relu_constraint_values(problem.operator, theta.astype(np.float64), (A, B))
    return np.max(np.atleast_2d(vals), axis=1)


def _bound_at(problem, y: np.ndarray, theta: np.ndarray, multipliers) -> DualBound:
    """The certified bound from the candidate dual point ``theta`` (scaled into the feasible set)."""
    if getattr(problem, "has_free_terms", False):
        # unpenalized columns / offset: projected dual point and equality-repaired
        # NNLS multipliers (relu_convex.free_terms); given multipliers are not used
        from .free_terms import free_constraint_values

        theta, values = free_constraint_values(
            problem.operator, theta, problem.lam, program=problem.program, unpenalized=problem.unpenalized, offset=problem.offset
        )
        cmax = np.max(np.atleast_2d(values), axis=1)
    elif problem.program == "C-GReLU":
        cmax = _grelu_max(problem, theta)
    else:
        cmax = _relu_max(problem, theta, multipliers)
    return scaled_dual_bound(y, theta, cmax[:, None], problem.lam)


def certify_weights(problem, weights, multipliers=None, *, repair: bool = True, dual=None) -> Certificate:
    """Certify weights for a :class:`GatedReLUProblem` or :class:`ReLUProblem`.

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
    weights : ndarray (p, d) or pair of ndarrays (V, W)
        Leading output axis ``c`` for multi-output problems.
    multipliers : pair of ndarrays, optional
        C-ReLU cone multipliers ``(A, B)`` of shape (n, p) (or (c, n, p)),
        for example an augmented Lagrangian's. Negative entries are clipped
        (any nonnegative multipliers give a valid bound). ``None`` computes
        them by NNLS, exactly for the patterns that can hold the maximum
        (:func:`relu_convex.duality.relu_constraint_max`).
    repair : bool
        For an infeasible C-ReLU point, compute the objective of a feasible
        repair (``upper_bound``).
    dual : ndarray, shape (n,) or (n, c), optional
        Another candidate dual point, e.g. a solver's ``SolveResult.dual`` (the
        point of the best bound it saw, not always the weights' own residual):
        it is scaled into the dual feasible set the same way, with NNLS
        multipliers for C-ReLU, and the larger of the two bounds is kept. Any
        candidate gives a valid bound.

    Returns
    -------
    Certificate
    """
    weights = problem.check_weights(weights)
    pred = np.asarray(problem.predict(weights), dtype=np.float64)
    objective = problem.objective(weights)
    y = np.asarray(problem.y, dtype=np.float64)
    repaired = repair_violation = float("nan")
    free = getattr(problem, "has_free_terms", False)
    bound = _bound_at(problem, y, (y - pred) / problem.n, multipliers)
    if dual is not None:
        other = _bound_at(problem, y, np.asarray(dual, dtype=np.float64).reshape(y.shape), None)
        bound = other if other.value > bound.value else bound
    if problem.program == "C-GReLU":
        violation = 0.0
        upper = objective
        how = ""
    else:
        how = "nnls" if multipliers is None or free else "given"
        violation = problem.constraint_violation(weights)
        upper = objective if violation == 0.0 else float("nan")
        if violation > 0.0 and repair:
            from .decomposition import repair_feasibility

            fixed = repair_feasibility(problem, *weights)
            if fixed is not None:
                repaired = problem.objective(fixed)
                repair_violation = problem.constraint_violation(fixed)
                upper = repaired
    lower = bound.value
    return Certificate(
        objective=objective,
        lower_bound=lower,
        gap=objective - lower,
        relative_gap=relative_gap(objective, lower, problem.zero_objective),
        max_violation=violation,
        program=problem.program,
        dual=bound.theta,
        upper_bound=upper,
        repaired_objective=repaired,
        repair_violation=repair_violation,
        lam=problem.lam,
        n_patterns=problem.p,
        multipliers=how,
        objective_name=getattr(problem, "objective_name", problem.program),
    )
