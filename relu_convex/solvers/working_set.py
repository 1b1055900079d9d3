r"""Working sets: solve over a few patterns, certify over all of them, grow.

At an optimum of either program most groups are zero when the patterns far
outnumber the samples (an optimal network needs at most :math:`n + 1` neurons;
the exact pattern set of :func:`relu_convex.enumerate_patterns` has
:math:`O(n^{r-1})` patterns for data of rank :math:`r`). A solver then spends
its time on groups that end at zero. The working-set strategy (column
generation, as in the working-set solvers of skglm and celer) solves the same
program restricted to a subset :math:`S` of the patterns, lifts the solution
to all patterns (zero blocks outside :math:`S`) and prices the others by the
dual constraints at the residual :math:`\theta = (y - \hat y)/n`:

.. math::

    \text{C-GReLU:}\ \|X^\top D_i \theta\| \le \lambda, \qquad
    \text{C-ReLU:}\ \max_{u \in K_i,\, \|u\| \le 1} |\theta^\top D_i X u| \le \lambda .

A lifted point is feasible for the full program and has the same objective;
if no pattern outside :math:`S` violates its constraint, the dual point that
certifies the restricted solve certifies the full one (its scaling into the
dual feasible set is unchanged), so the restricted solver's verdict carries
over. Otherwise the most violated patterns join :math:`S` (at most as many as
the solution has significant blocks, at least ``initial_size``) and the restricted program is solved again,
warm-started where the solver allows it (``"fista"``: the weights; ``"al"``:
the weights and the cone multipliers). The set only grows, so the loop ends,
at the latest when :math:`S` holds every pattern.

Every result is judged by the certificate over *all* patterns
(:func:`relu_convex.certificates.certify_weights`): the lower bound, gap and
status of the returned :class:`~relu_convex.solvers.SolveResult` are those of
the full program, never of a restricted one.

Pricing. C-GReLU values cost one product with all patterns. C-ReLU values
need an NNLS problem each; :func:`relu_convex.constraint_max.relu_constraint_max`
with ``floor`` :math:`= \lambda` brackets them all cheaply and values exactly,
the largest first, only the patterns that can violate, until it knows as many
violators as the set may gain (and always the maximizer, which guarantees
progress while any constraint is violated).
"""

from __future__ import annotations

import time

import numpy as np

from ..certificates import certify_weights
from ..constraint_max import relu_constraint_max
from .options import check_max_iter
from .result import SolveResult, SolveStatus

__all__ = ["solve_working_set", "INITIAL_SIZE", "VIOLATION_TOL"]

INITIAL_SIZE = 16
"""Patterns in the first working set (with the support of ``weights0``, if given)."""

SIGNIFICANT = 1e-6
"""Blocks below this fraction of the largest do not count as active when sizing the next set."""

VIOLATION_TOL = 1e-9
r"""A pattern violates its dual constraint when its value exceeds :math:`\lambda (1 + \text{VIOLATION\_TOL})`."""


def _restrict(problem, columns: np.ndarray):
    """The same program over the patterns ``columns`` (sorted indices)."""
    return type(problem)(problem.X, problem.y, problem.patterns[:, columns], problem.lam)


def _scatter(arrays, columns: np.ndarray, size: int, axis: int):
    """Arrays over the patterns ``columns`` (along ``axis``) as arrays over all ``size`` patterns, zero elsewhere."""

    def one(a):
        a = np.asarray(a)
        shape = list(a.shape)
        shape[axis] = size
        full = np.zeros(shape, dtype=a.dtype)
        full[(Ellipsis, columns) + (slice(None),) * (-axis - 1)] = a
        return full

    return tuple(one(a) for a in arrays) if isinstance(arrays, tuple) else one(arrays)


def _gather(arrays, columns: np.ndarray, axis: int):
    """The patterns ``columns`` (along ``axis``) of arrays over all patterns."""
    index = (Ellipsis, columns) + (slice(None),) * (-axis - 1)
    return tuple(np.asarray(a)[index] for a in arrays) if isinstance(arrays, tuple) else np.asarray(arrays)[index]


def _support(weights, significant: bool = False) -> np.ndarray:
    """Patterns with a nonzero block (in any output and either of ``V``, ``W``), shape (p,) bool.

    ``significant``: only blocks above ``SIGNIFICANT`` times the largest (an
    interior-point solution has no exact zeros).
    """
    arrays = weights if isinstance(weights, tuple) else (weights,)
    norms = [np.linalg.norm(np.asarray(a), axis=-1) for a in arrays]
    cut = SIGNIFICANT * max(float(np.max(a, initial=0.0)) for a in norms) if significant else 0.0
    nonzero = [a > cut for a in norms]
    support = np.logical_or.reduce(nonzero)
    return support.reshape(-1, support.shape[-1]).any(axis=0)


def _relu_prices(problem, thetas: np.ndarray, count: int) -> np.ndarray:
    """C-ReLU constraint values (largest over outputs) of up to ``count`` likeliest violators, ``-inf`` elsewhere; shape (p,)."""
    prices = np.full(problem.p, -np.inf)
    for theta in thetas.T:
        found = relu_constraint_max(problem.operator, theta, top=count, floor=problem.lam * (1.0 + VIOLATION_TOL))
        prices[found.top_patterns] = np.maximum(prices[found.top_patterns], found.top_values)
    return prices


def _prices(problem, weights, count: int, dual=None) -> np.ndarray:
    r"""Dual constraint values, largest over outputs and dual points, shape (p,).

    At :math:`\theta = (y - \hat y)/n` and, if given, at a solver's ``dual``
    point (the one its bound comes from; a certificate scales both). C-GReLU:
    exact for every pattern. C-ReLU: exact for up to ``count`` patterns that
    can hold the largest values (the set's own among them), ``-inf`` where a
    pattern cannot violate (see the module notes).
    """
    y = np.asarray(problem.y, dtype=np.float64)
    pred = np.zeros_like(y) if weights is None else np.asarray(problem.predict(weights), dtype=np.float64)
    thetas = [((y - pred) / problem.n).reshape(problem.n, -1)]
    if dual is not None:
        thetas.append(np.asarray(dual, dtype=np.float64).reshape(problem.n, -1))
    thetas = np.hstack(thetas)
    if problem.program == "C-ReLU":
        return _relu_prices(problem, thetas, count)
    return np.max(np.linalg.norm(problem.operator.adjoint(thetas), axis=-1), axis=0)


def _grow(prices: np.ndarray, columns: np.ndarray, lam: float, count: int) -> np.ndarray:
    """Up to ``count`` patterns outside ``columns`` whose price exceeds ``lam``, the most violated first."""
    outside = np.ones(prices.size, dtype=bool)
    outside[columns] = False
    violated = np.flatnonzero(outside & (prices > lam * (1.0 + VIOLATION_TOL)))
    return violated[np.argsort(-prices[violated], kind="stable")][:count]


def _check_problem(problem) -> None:
    if getattr(problem, "has_free_terms", False):
        raise ValueError(
            "working_set: problems with unpenalized columns or an output offset are not supported; "
            "solve them with working_set=False"
        )
    if getattr(problem, "array_data", None) is not None:
        raise ValueError("working_set: problems built from tensors are not supported; pass NumPy arrays or working_set=False")


def solve_working_set(problem, solver: str, *, initial_size: int = INITIAL_SIZE, max_rounds: int = 50,
                      **options) -> SolveResult:
    r"""Solve ``problem`` over growing working sets of its patterns (see the module notes).

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
        NumPy data, no unpenalized columns or offset.
    solver : str
        Any solver of :func:`relu_convex.solvers.solve` for the program; it
        solves each restricted program.
    initial_size : int
        Patterns in the first set: the largest dual constraint values at the
        start (the residual of ``weights0``, else :math:`\theta = y/n`), plus
        the support of ``weights0``.
    max_rounds : int
        Most restricted solves. When they are spent with constraints still
        violated, the result's status is ``inaccurate`` (its certificate over
        all patterns still holds).
    **options
        Passed to every restricted solve (``tol``, ``max_iter`` (per solve),
        ``time_limit`` (for the whole run), ``weights0`` over all patterns, ...).

    Returns
    -------
    SolveResult
        Weights over all patterns; ``objective``, ``lower_bound``, ``gap``,
        ``relative_gap``, ``max_violation`` and ``dual`` from the certificate
        over all patterns; ``iterations`` and ``solve_time`` summed over the
        rounds; ``info["working_set"]`` the sizes of the sets, rounds and the
        patterns still violated at the end; ``info`` otherwise that of the
        last restricted solve (``"multipliers"`` lifted to all patterns).
    """
    from . import solve

    _check_problem(problem)
    initial_size = check_max_iter(initial_size, "initial_size")
    max_rounds = check_max_iter(max_rounds, "max_rounds")
    started = time.perf_counter()
    time_limit = options.pop("time_limit", None)
    weights = options.pop("weights0", None)
    multipliers = options.pop("multipliers0", None)
    if weights is not None:
        weights = problem.check_weights(weights, "weights0")
    prices = _prices(problem, weights, initial_size)
    columns = np.flatnonzero(_support(weights)) if weights is not None else np.zeros(0, dtype=np.intp)
    ranked = np.argsort(-prices, kind="stable")
    ranked = ranked[~np.isin(ranked, columns)]
    columns = np.sort(np.concatenate([columns, ranked[: max(initial_size - columns.size, 0)]]))
    sizes, iterations, result, violated = [], 0, None, None
    for round_ in range(max_rounds):
        sub = _restrict(problem, columns)
        sub_options = dict(options)
        if time_limit is not None:
            sub_options["time_limit"] = max(time_limit - (time.perf_counter() - started), 1e-3)
        if weights is not None and solver.lower() in ("fista", "al"):
            sub_options["weights0"] = _gather(weights, columns, axis=-2)
            if multipliers is not None and solver.lower() == "al":
                sub_options["multipliers0"] = _gather(tuple(multipliers), columns, axis=-1)
        result = solve(sub, solver, **sub_options)
        sizes.append(int(columns.size))
        iterations += int(result.iterations)
        if not result.status.has_point:
            break
        weights = _scatter(result.weights, columns, problem.p, axis=-2)
        if "multipliers" in result.info:
            multipliers = _scatter(tuple(result.info["multipliers"]), columns, problem.p, axis=-1)
        # a restricted solve that ran out of iterations, or was inaccurate, still shows which
        # patterns its point leaves violated; only the clock or a full set ends the growth
        if result.status == SolveStatus.TIME_LIMIT or columns.size == problem.p:
            break
        if time_limit is not None and time.perf_counter() - started > time_limit:
            break
        count = max(initial_size, int(np.count_nonzero(_support(weights, significant=True))))
        entering = _grow(_prices(problem, weights, count + columns.size, result.dual), columns, problem.lam, count)
        if entering.size == 0:
            violated = 0  # the pricing looked for more violators than the set holds: none is outside it
            break
        if round_ + 1 == max_rounds:
            break  # the set stays the one solved; the violators are counted below
        columns = np.sort(np.concatenate([columns, entering]))
    # the gap a restricted "optimal" stands for: the first-order solvers' and ipm's tol is a certified gap
    accept = float(options.get("tol", 0.0) or 0.0) if solver.lower() in ("fista", "al", "ipm") else 0.0
    return _full_result(problem, result, weights, multipliers, columns, sizes, iterations, started, accept, violated)


def _full_result(problem, result: SolveResult, weights, multipliers, columns, sizes, iterations, started,
                 accept: float, violated: int | None) -> SolveResult:
    """The last restricted result as a result of the full program, judged by the certificate over all patterns.

    An ``optimal`` restricted result stays optimal when no pattern violates its
    constraint and the gap over all patterns is within ``accept`` or within the
    restricted gap (up to the recomputation's rounding and :data:`VIOLATION_TOL`).
    ``violated``: the patterns outside ``columns`` (the last set solved) that
    violate their constraint, when the loop already counted them.
    """
    info = dict(result.info)
    if weights is None:  # the first restricted solve left no point
        info["working_set"] = {"sizes": sizes, "rounds": len(sizes), "violated": None}
        return SolveResult(status=result.status, weights=None, objective=np.nan, lower_bound=-np.inf, gap=np.inf,
                           relative_gap=np.inf, iterations=iterations, solve_time=time.perf_counter() - started,
                           solver=result.solver, message=result.message, solver_status=result.solver_status, info=info)
    if multipliers is not None:
        info["multipliers"] = multipliers
    cert = certify_weights(problem, weights, repair=False, dual=result.dual)
    if violated is None:
        violated = _grow(_prices(problem, weights, problem.p, result.dual), columns, problem.lam, problem.p).size
    info["working_set"] = {"sizes": sizes, "rounds": len(sizes), "violated": int(violated)}
    status, message = result.status, result.message
    if status == SolveStatus.OPTIMAL and violated:
        status = SolveStatus.INACCURATE
        message = f"working set: {violated} patterns outside the last set still violate their dual constraint"
    elif status == SolveStatus.OPTIMAL and cert.relative_gap > max(1.01 * result.relative_gap, accept) + 10.0 * VIOLATION_TOL:
        # without violated constraints the bound over all patterns is the restricted one (up to VIOLATION_TOL)
        status = SolveStatus.INACCURATE
        message = (f"working set: the certified relative gap over all patterns, {cert.relative_gap:.2e}, "
                   f"exceeds the restricted solve's {result.relative_gap:.2e}")
    message = f"{message} (working set: {len(sizes)} rounds, {sizes[-1]} of {problem.p} patterns)".strip()
    return SolveResult(
        status=status,
        weights=weights,
        objective=cert.objective,
        lower_bound=cert.lower_bound,
        gap=cert.gap,
        relative_gap=cert.relative_gap,
        iterations=iterations,
        solve_time=time.perf_counter() - started,
        solver=result.solver,
        max_violation=cert.max_violation,
        message=message,
        solver_status=result.solver_status,
        dual=cert.dual,
        history=result.history,
        info=info,
    )
