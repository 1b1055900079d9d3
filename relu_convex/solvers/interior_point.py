"""The interior-point (conic) route: CVXPY with Clarabel, ECOS, SCS or MOSEK.

Statuses are mapped into :class:`SolveStatus` truthfully: CVXPY's
``optimal_inaccurate`` becomes ``inaccurate``; ``user_limit`` becomes
``max_iterations`` or ``time_limit``; a solver exception becomes ``error``.
The returned objective is recomputed from the weights and the lower bound is
the certified one of :mod:`relu_convex.certificates`, never the solver's claim.
For C-GReLU the bound is tightened by a short FISTA polish from the solver's
weights (any dual point gives a valid bound; the larger is kept, and the
weights and objective stay the solver's; ``info["bound_polish_time"]`` gives
its seconds, not counted in ``solve_time``).
A solver that reports ``optimal`` while the certificate shows a relative gap
(or, for C-ReLU, a cone violation) above ``max(100 * tol, 1e-6)`` is reported
as ``inaccurate``.
"""

from __future__ import annotations

import time
import warnings

from ..errors import SolverUnavailableError
from .options import check_flag, check_max_iter, check_time_limit, check_tol
from .result import RELATIVE_GAP_FLOOR, SolveResult, SolveStatus, relative_gap

__all__ = ["CONIC_SOLVERS", "OPEN_SOLVERS", "check_mosek", "solve_conic"]

OPEN_SOLVERS = ("clarabel", "ecos", "scs")
CONIC_SOLVERS = OPEN_SOLVERS + ("mosek",)

_CVXPY_NAMES = {"clarabel": "CLARABEL", "ecos": "ECOS", "scs": "SCS", "mosek": "MOSEK"}
_POLISH_ITERATIONS = 1000  # FISTA steps (two matrix products each) that tighten a C-GReLU bound ...
_POLISH_TIME = 0.1  # ... within this fraction of the conic solve time (at least _POLISH_MIN_TIME seconds)
_POLISH_MIN_TIME = 1.0
_POLISH_TOL = 1e-10  # relative gap below which no polish is attempted (and at which it stops)


def check_mosek() -> None:
    """Raise :class:`SolverUnavailableError` unless MOSEK is installed and licensed."""
    open_list = ", ".join(OPEN_SOLVERS)
    try:
        import mosek
    except ImportError:
        raise SolverUnavailableError(
            "solver='mosek': the mosek package is not installed (pip install 'relu-convex[mosek]', "
            f"and a license); open solvers available: {open_list}"
        ) from None
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
    except mosek.Error as exc:
        raise SolverUnavailableError(
            f"solver='mosek': MOSEK is installed but has no usable license ({exc}); "
            f"open solvers available: {open_list}"
        ) from None


def _check_installed(solver: str) -> None:
    import cvxpy as cp

    if solver == "mosek":
        check_mosek()
    elif _CVXPY_NAMES[solver] not in cp.installed_solvers():
        raise SolverUnavailableError(
            f"solver={solver!r}: {_CVXPY_NAMES[solver]} is not installed in this environment; "
            f"installed conic solvers: {', '.join(s.lower() for s in cp.installed_solvers())}"
        )


def _solver_options(solver: str, tol: float, max_iter: int | None, time_limit: float | None) -> dict:
    if solver == "clarabel":
        opts = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol, "tol_ktratio": min(1e-6, tol)}
        if max_iter is not None:
            opts["max_iter"] = max_iter
        if time_limit is not None:
            opts["time_limit"] = time_limit
    elif solver == "ecos":
        if time_limit is not None:
            raise ValueError("time_limit: ECOS has no time limit; use max_iter, or solver='clarabel'")
        opts = {"abstol": tol, "reltol": tol, "feastol": tol}
        if max_iter is not None:
            opts["max_iters"] = max_iter
    elif solver == "scs":
        opts = {"eps_abs": tol, "eps_rel": tol}
        if max_iter is not None:
            opts["max_iters"] = max_iter
        if time_limit is not None:
            opts["time_limit_secs"] = time_limit
    else:  # mosek
        params = {
            "MSK_DPAR_INTPNT_CO_TOL_REL_GAP": tol,
            "MSK_DPAR_INTPNT_CO_TOL_PFEAS": tol,
            "MSK_DPAR_INTPNT_CO_TOL_DFEAS": tol,
        }
        if max_iter is not None:
            params["MSK_IPAR_INTPNT_MAX_ITERATIONS"] = max_iter
        if time_limit is not None:
            params["MSK_DPAR_OPTIMIZER_MAX_TIME"] = time_limit
        opts = {"mosek_params": params}
    return opts


def _map_status(cvx_status: str, iterations: int, max_iter: int | None) -> SolveStatus:
    import cvxpy as cp

    if cvx_status == cp.OPTIMAL:
        return SolveStatus.OPTIMAL
    if cvx_status == cp.OPTIMAL_INACCURATE:
        return SolveStatus.INACCURATE
    if cvx_status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        return SolveStatus.INFEASIBLE
    if cvx_status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
        return SolveStatus.UNBOUNDED
    if cvx_status == cp.USER_LIMIT:
        if max_iter is not None and iterations >= max_iter:
            return SolveStatus.MAX_ITERATIONS
        return SolveStatus.TIME_LIMIT
    return SolveStatus.ERROR


def solve_conic(
    problem,
    solver: str = "clarabel",
    *,
    tol: float = 1e-8,
    max_iter: int | None = None,
    time_limit: float | None = None,
    verbose: bool = False,
    solver_options: dict | None = None,
) -> SolveResult:
    """Solve a problem's CVXPY program with a conic solver.

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
    solver : {"clarabel", "ecos", "scs", "mosek"}
    tol : float
        Gap and feasibility tolerance handed to the solver, in (0, 1) (default 1e-8).
        At ``lam = 0`` Clarabel gets the gap tolerances ``tol * RELATIVE_GAP_FLOOR``:
        the certified bound is then 0 and certifies only an objective within
        ``tol * RELATIVE_GAP_FLOOR * F(0)`` of it
        (:func:`~relu_convex.solvers.result.relative_gap`); an interpolating
        solution reaches that in an iteration or two more.
    max_iter : int, optional
        Iteration limit (>= 1) handed to the solver.
    time_limit : float, optional
        Seconds, > 0 (not supported by ECOS).
    verbose : bool
    solver_options : dict, optional
        Extra keyword arguments for ``cvxpy.Problem.solve``; they override the
        tolerances set from ``tol``.

    Returns
    -------
    SolveResult

    Raises
    ------
    ValueError, TypeError
        For a bad option value (the message names the option).
    SolverUnavailableError
        The solver is not installed or (MOSEK) not licensed.
    """
    import cvxpy as cp

    tol = check_tol(tol)
    max_iter = None if max_iter is None else check_max_iter(max_iter)
    time_limit = check_time_limit(time_limit)
    verbose = check_flag(verbose, "verbose")
    if solver_options is not None and not isinstance(solver_options, dict):
        raise TypeError(f"solver_options must be a dict of keyword arguments for cvxpy.Problem.solve or None, "
                        f"got {type(solver_options).__name__}")
    _check_installed(solver)
    opts = _solver_options(solver, tol, max_iter, time_limit)
    if solver == "clarabel" and problem.lam == 0:
        # at lam = 0 the certified bound is 0, so a certificate needs the objective itself within
        # tol * RELATIVE_GAP_FLOOR * F(0) of 0 (relative_gap); Clarabel's gaps are absolute below an
        # objective of 1, and its steps converge fast enough there for this tighter gap tolerance
        opts["tol_gap_abs"] = opts["tol_gap_rel"] = tol * RELATIVE_GAP_FLOOR
    opts.update(solver_options or {})
    start = time.perf_counter()
    program = problem.to_cvxpy()
    try:
        with warnings.catch_warnings():
            # CVXPY warns on inaccurate solutions; the status carries that here.
            warnings.simplefilter("ignore", UserWarning)
            program.problem.solve(solver=_CVXPY_NAMES[solver], verbose=verbose, **opts)
        cvx_status = program.problem.status
        message = ""
    except cp.error.SolverError as exc:
        cvx_status, message = "solver_error", str(exc)
    elapsed = time.perf_counter() - start
    stats = program.problem.solver_stats if cvx_status != "solver_error" else None
    iterations = int(getattr(stats, "num_iters", None) or 0)
    status = _map_status(cvx_status, iterations, max_iter)
    nan = float("nan")
    if not status.has_point or program.problem.value is None:
        return SolveResult(
            status=status if not status.has_point else SolveStatus.ERROR,
            weights=None,
            objective=nan,
            lower_bound=nan,
            gap=nan,
            relative_gap=nan,
            iterations=iterations,
            solve_time=elapsed,
            solver=solver,
            message=message or f"{solver} returned status {cvx_status!r} without a solution",
            solver_status=str(cvx_status),
        )
    weights = program.weights()
    cert = problem.certificate(weights)
    lower, dual, info = cert.lower_bound, cert.dual, {"solver_objective": float(program.problem.value)}
    # (at lam = 0 every residual scales to theta = 0 and the bound is 0: a polish cannot raise it)
    if problem.program == "C-GReLU" and problem.lam > 0 and cert.relative_gap > _POLISH_TOL:
        budget = max(_POLISH_MIN_TIME, _POLISH_TIME * elapsed)
        lower, dual, info["bound_polish_time"] = _polished_bound(problem, weights, lower, dual, budget)
    gap = cert.objective - lower
    rel = relative_gap(cert.objective, lower, problem.zero_objective)
    check = max(100.0 * tol, 1e-6)
    if status is SolveStatus.OPTIMAL and (rel > check or cert.max_violation > check):
        status = SolveStatus.INACCURATE
        message = (
            f"{solver} reported optimal, but the certified relative gap is {rel:.2e} "
            f"and the cone violation {cert.max_violation:.2e} (threshold {check:.0e})"
        )
    elif status is SolveStatus.OPTIMAL:
        message = f"{solver} converged; certified relative gap {rel:.2e}"
    else:
        message = message or f"{solver} returned status {cvx_status!r}"
    return SolveResult(
        status=status,
        weights=weights,
        objective=cert.objective,
        lower_bound=lower,
        gap=gap,
        relative_gap=rel,
        iterations=iterations,
        solve_time=elapsed,
        solver=solver,
        max_violation=cert.max_violation,
        message=message,
        solver_status=str(cvx_status),
        dual=dual,
        info=info,
    )


def _polished_bound(problem, weights, lower: float, dual, time_limit: float):
    """The larger of the certified bound at ``weights`` and that of a short FISTA polish from them.

    The dual point :math:`(y - \\hat y)/n` inherits the solver's first-order error in
    the weights, so the bound at an interior-point solution is loose by about
    that error (ECOS: ~1e-5 relative while its objective is accurate to ~1e-9).
    Proximal-gradient steps from the same weights (at most 1000, within a
    tenth of the conic solve time or one second) give a more accurate dual point;
    every dual point gives a valid bound, so the larger is kept. The reported
    weights and objective remain the solver's.
    """
    from .fista import polish_lower_bound

    start = time.perf_counter()
    polished = polish_lower_bound(problem, weights, max_iter=_POLISH_ITERATIONS, tol=_POLISH_TOL, time_limit=time_limit)
    if polished.value > lower:
        lower, dual = polished.value, polished.theta
    return lower, dual, time.perf_counter() - start
