r"""Model names, default solvers and warm starts shared by the estimators and paths.

``model="relu"`` is C-ReLU (:class:`~relu_convex.problems.ReLUProblem`, weights
``(V, W)``), ``model="gated"`` is C-GReLU
(:class:`~relu_convex.problems.GatedReLUProblem`, weights ``U``).

:data:`DEFAULT_SOLVER` is the one place that picks the solver used when none is
named. Only the first-order solvers (``"al"`` for C-ReLU, ``"fista"`` for
C-GReLU) accept a warm start (``weights0``); :func:`solve_options` passes it to
them and to no one else.
"""

from __future__ import annotations

import numpy as np

from .problems import GatedReLUProblem, ReLUProblem

__all__ = [
    "DEFAULT_SOLVER",
    "FREE_TERMS_SOLVER",
    "WARM_START_SOLVERS",
    "MODELS",
    "check_model",
    "default_solver",
    "LARGE_PROBLEM_SOLVER",
    "make_problem",
    "solve_options",
    "active_neurons",
    "zero_weights",
]

DEFAULT_SOLVER: dict[str, str] = {"relu": "ipm", "gated": "fista"}
"""Solver used when none is named, per model.

C-GReLU: ``"fista"``. It stops on a certified gap, returns exactly sparse weights,
warm-starts along regularization paths, and is as fast as Clarabel on small
problems and far faster on large ones (``validation/RESULTS.md``: median 0.97-1.09x
Clarabel's time on the quick suite, 0.77x on the UCI problems of at most 100 rows,
0.53x on the full UCI training splits of up to 1000 rows; ``validation/BENCHMARKS.md``:
36x faster at n=2000, d=50, p=300). ``"ipm"`` solves C-GReLU too and is faster still
on the problems measured (median 0.30x Clarabel's time on those UCI problems, where it
agrees with Clarabel on all 437 against fista's 390, with small ``lam`` and many outputs;
52-87x at n=2000, d=50, p=300), but it does not warm-start, refuses tensors, and factors
an ``n x n`` matrix (memory quadratic in ``n``), so the default stays ``"fista"``; name
``solver="ipm"`` for small ``lam`` or many outputs.

C-ReLU: ``"ipm"``, the structured interior-point method. It stops on the same certified
gap and cone violation as ``"al"``, returns a strictly feasible point, and is faster than
Clarabel on the CVXPY program from small problems up (``validation/RESULTS.md``: median
0.79x Clarabel's time on the quick suite (0.62-0.67x in other runs) and 0.32x on the UCI C-ReLU problems;
``validation/BENCHMARKS.md``: 16.7x faster at n=1000, d=20, p=100). The augmented
Lagrangian ``"al"`` is slower than both on most problems measured."""

FREE_TERMS_SOLVER = "clarabel"
"""Solver used when none is named and the program has unpenalized columns or an offset,
which "fista", "al" and "ipm" do not handle (the conic route does)."""

WARM_START_SOLVERS: tuple[str, ...] = ("fista", "al")
"""Solvers that accept ``weights0`` (the conic route does not)."""

MODELS: dict[str, type] = {"relu": ReLUProblem, "gated": GatedReLUProblem}


def check_model(model) -> str:
    """Return ``model`` if it is ``"relu"`` or ``"gated"``, else raise ``ValueError``."""
    if model not in MODELS:
        raise ValueError(f"model must be 'relu' (C-ReLU) or 'gated' (C-GReLU), got {model!r}")
    return model


LARGE_PROBLEM_SOLVER: dict[str, str] = {"relu": "al", "gated": "fista"}
"""The default instead of ``"ipm"`` for a problem whose Newton systems would not fit
(:func:`relu_convex.solvers.interior_point_relu.fits_in_memory`): the first-order solver
of the model, whose memory is linear in the number of samples."""


def default_solver(model: str, solver: str | None = None, *, free_terms: bool = False,
                   shape: tuple[int, int, int] | None = None) -> str:
    """Return ``solver``, or the default when it is ``None``.

    The default is the model's entry of :data:`DEFAULT_SOLVER`, or
    :data:`FREE_TERMS_SOLVER` when the program has unpenalized columns or an
    output offset (``free_terms=True``). With ``shape = (n, d, p)`` (samples,
    features with any bias column, patterns), a default ``"ipm"`` whose Newton systems
    would exceed its memory limit becomes the model's :data:`LARGE_PROBLEM_SOLVER`.
    """
    model = check_model(model)
    if solver is not None:
        return solver
    name = FREE_TERMS_SOLVER if free_terms else DEFAULT_SOLVER[model]
    if name == "ipm" and shape is not None:
        from .solvers.interior_point_relu import fits_in_memory

        if not fits_in_memory(*shape, MODELS[model].program):
            name = LARGE_PROBLEM_SOLVER[model]
    return name


def make_problem(model: str, X, y, patterns, lam, **options):
    """Build the program of ``model`` (``options``: ``unpenalized``, ``offset``)."""
    return MODELS[check_model(model)](X, y, patterns, lam, **options)


def solve_options(solver: str, *, tol: float | None = None, max_iter: int | None = None, weights0=None) -> dict:
    """Keyword options for :func:`relu_convex.solvers.solve`; ``weights0`` only for warm-start solvers."""
    opts: dict = {}
    if tol is not None:
        opts["tol"] = tol
    if max_iter is not None:
        opts["max_iter"] = max_iter
    if weights0 is not None and solver.lower() in WARM_START_SOLVERS:
        opts["weights0"] = weights0
    return opts


def active_neurons(weights, threshold: float = 0.0) -> int:
    r"""Count the blocks with :math:`\|u_i\| > ` ``threshold`` (``U``, or ``V`` and ``W`` together).

    Each active block is one neuron of the equivalent network.
    """
    arrays = weights if isinstance(weights, tuple) else (weights,)
    return int(sum(np.count_nonzero(np.linalg.norm(np.asarray(a), axis=-1) > threshold) for a in arrays))


def zero_weights(problem):
    """The all-zero point of ``problem`` (``U``, or the pair ``(V, W)``)."""
    U = np.zeros(problem.weight_shape, dtype=problem.X.dtype)
    return (U, U.copy()) if problem.program == "C-ReLU" else U
