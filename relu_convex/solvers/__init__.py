"""Solvers: the result types, the interior-point route and the first-order methods.

:func:`solve` dispatches on the solver name. Conic solvers (``"clarabel"``,
``"ecos"``, ``"scs"``, ``"mosek"``) solve either program through CVXPY; the
first-order solvers are tied to one program each: ``"fista"``
(:func:`~relu_convex.solvers.fista.solve_fista`) solves C-GReLU and ``"al"``
(:func:`~relu_convex.solvers.augmented_lagrangian.solve_al`) solves C-ReLU; the
structured interior-point method ``"ipm"``
(:func:`~relu_convex.solvers.interior_point_relu.solve_ipm`) solves both.
"""

from __future__ import annotations

import inspect

import numpy as np

from .interior_point import CONIC_SOLVERS, OPEN_SOLVERS, check_mosek, solve_conic
from .result import SolveResult, SolveStatus

__all__ = ["SolveResult", "SolveStatus", "solve", "available_solvers", "CONIC_SOLVERS", "OPEN_SOLVERS", "check_mosek"]

# first-order solvers: name -> (program names, callable(problem, **options)); a callable with the
# attribute ``supports_free_terms = True`` also accepts problems with unpenalized columns or an offset
FIRST_ORDER: dict[str, tuple[tuple[str, ...], object]] = {}


def available_solvers(problem=None) -> list[str]:
    """Return the solver names accepted by :func:`solve` (for ``problem``'s program if given)."""
    names = list(CONIC_SOLVERS)
    for name, (programs, _) in FIRST_ORDER.items():
        if problem is None or problem.program in programs:
            names.append(name)
    return names


_WORKING_SET_OPTIONS = ("initial_size", "max_rounds", "weights0", "multipliers0")
"""Options that :func:`~relu_convex.solvers.working_set.solve_working_set` takes for any solver."""


def _check_options(problem, solver: str, fn, options: dict, working_set: bool) -> None:
    """Raise ``TypeError`` naming the public method, the unknown options and the accepted ones.

    A solver callable that takes ``**options`` accepts any option.
    """
    parameters = inspect.signature(fn).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    accepted = [parameter.name for parameter in parameters
                if parameter.kind in kinds and parameter.name not in ("problem", "solver")]
    if working_set:
        accepted += [name for name in _WORKING_SET_OPTIONS if name not in accepted]
    unknown = [name for name in options if name not in accepted]
    if unknown:
        raise TypeError(
            f"{type(problem).__name__}.solve(solver={solver!r}) got unknown option"
            f"{'s' if len(unknown) > 1 else ''} {', '.join(repr(name) for name in unknown)}; "
            f"accepted options: {', '.join(accepted + ['working_set'])}"
        )


def solve(problem, solver: str = "clarabel", **options) -> SolveResult:
    """Solve ``problem`` with the named solver.

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
    solver : str
        One of :func:`available_solvers` (case-insensitive).
    **options
        Passed to the solver: ``tol``, ``max_iter``, ``time_limit``,
        ``verbose`` and solver-specific options. ``working_set=True`` solves
        over growing subsets of the patterns and certifies over all of them
        (:func:`~relu_convex.solvers.working_set.solve_working_set`; its
        ``initial_size`` and ``max_rounds`` may be given too).

    Raises
    ------
    ValueError
        Unknown solver name, or a first-order solver for the wrong program.
    TypeError
        An option the solver does not take (the message lists those it takes).
    SolverUnavailableError
        The solver is not installed or (MOSEK) not licensed.
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string, one of {available_solvers(problem)}, got {type(solver).__name__}")
    name = solver.lower()
    working_set = options.pop("working_set", False)
    if not isinstance(working_set, (bool, np.bool_)):
        raise TypeError(f"working_set must be True or False, got {working_set!r}")
    fn = solve_conic if name in CONIC_SOLVERS else FIRST_ORDER.get(name, (None, None))[1]
    if fn is not None:
        _check_options(problem, name, fn, options, bool(working_set))
    if working_set:  # each restricted solve comes back here, where the name and program are checked
        from .working_set import solve_working_set

        return solve_working_set(problem, name, **options)
    if name in CONIC_SOLVERS:
        return solve_conic(problem, name, **options)
    if name in FIRST_ORDER:
        programs, fn = FIRST_ORDER[name]
        if problem.program not in programs:
            raise ValueError(
                f"solver={solver!r} solves {' and '.join(programs)} problems, not {problem.program}; "
                f"use one of {available_solvers(problem)}"
            )
        if getattr(problem, "has_free_terms", False) and not getattr(fn, "supports_free_terms", False):
            # unpenalized columns / offset (relu_convex.free_terms): only solvers that declare support
            raise ValueError(
                f"solver={solver!r} does not handle unpenalized columns or an output offset; "
                f"use a conic solver ({', '.join(CONIC_SOLVERS)})"
            )
        return fn(problem, **options)
    raise ValueError(f"solver={solver!r} is unknown; expected one of {available_solvers(problem)}")


# first-order solvers register here, after FIRST_ORDER exists (they import this package)
from .augmented_lagrangian import solve_al  # noqa: E402
from .fista import solve_fista  # noqa: E402
from .interior_point_relu import solve_ipm  # noqa: E402

FIRST_ORDER["fista"] = (("C-GReLU",), solve_fista)
FIRST_ORDER["al"] = (("C-ReLU",), solve_al)
FIRST_ORDER["ipm"] = (("C-ReLU", "C-GReLU"), solve_ipm)
