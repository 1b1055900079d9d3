r"""Model names, default solvers and warm starts shared by the estimators and paths.

``model="relu"`` is C-ReLU (:class:`~relu_convex.problems.ReLUProblem`, weights
``(V, W)``), ``model="gated"`` is C-GReLU
(:class:`~relu_convex.problems.GatedReLUProblem`, weights ``U``).

:data:`DEFAULT_SOLVER` (one solve) and :data:`PATH_SOLVER` (regularization paths)
are the one place that picks the solver used when none is named. Only the
first-order solvers (``"al"`` for C-ReLU, ``"fista"`` for C-GReLU) accept a warm
start (``weights0``); :func:`solve_options` passes it to them and to no one else.
"""

from __future__ import annotations

import numpy as np

from .problems import GatedReLUProblem, ReLUProblem

__all__ = [
    "DEFAULT_SOLVER",
    "PATH_SOLVER",
    "FREE_TERMS_SOLVER",
    "ZERO_LAM_SOLVER",
    "POSITIVE_LAM_SOLVERS",
    "WARM_START_SOLVERS",
    "MODELS",
    "check_model",
    "default_solver",
    "LARGE_PROBLEM_SOLVER",
    "GATED_IPM_MAX_RATIO",
    "ipm_work_ratio",
    "WORKING_SET_RATIO",
    "default_working_set",
    "make_problem",
    "solve_options",
    "active_neurons",
    "zero_weights",
]

DEFAULT_SOLVER: dict[str, str] = {"relu": "ipm", "gated": "ipm"}
"""Solver used when none is named, per model, for one solve (estimators, ``relu-convex solve``).

Both models: ``"ipm"``, the structured interior-point method. It stops on a certified
gap (and, C-ReLU, cone violation) and returns exact zeros for the groups its dual point
shows inactive. Measured:

- C-GReLU (``validation/RESULTS.md``): within 1e-5 of Clarabel on all 252 full-size UCI
  problems (61-500 rows; ``"fista"``: 223) at a median 0.14x Clarabel's time (``"fista"``:
  0.53x), and on all 437 100-row UCI problems at 0.30x (``"fista"``: 390, 0.77x);
  ``validation/BENCHMARKS.md``: 52-87x faster than Clarabel at n=2000, d=50, p=300, against
  36x for ``"fista"``, and 0.23-0.76x ``"fista"``'s time on planted problems up to n=8000
  (``bench_fast_solvers.py --parts grelu-sizes``). Not everywhere: on the 20 tiny solves
  of the default ``validation/bench_paths.py --model gated`` instance (n=300, d=9, p=50)
  cold ``"fista"`` took 0.38 s in all against ipm's 0.52 s.
- C-ReLU: median 0.79x Clarabel's time on the quick suite and 0.32x on the UCI C-ReLU
  problems; 16.7x faster than Clarabel at n=1000, d=20, p=100. The augmented Lagrangian
  ``"al"`` is slower than both on most problems measured.

``"ipm"`` factors an ``n x n`` matrix (memory quadratic in ``n``, work cubic): a problem
whose Newton systems would not fit, or a C-GReLU problem large enough for ``"fista"`` to
be the faster (:data:`GATED_IPM_MAX_RATIO`), gets :data:`LARGE_PROBLEM_SOLVER` instead.
It neither warm-starts nor runs on tensors; regularization paths use :data:`PATH_SOLVER`."""

PATH_SOLVER: dict[str, str] = {"relu": "ipm", "gated": "fista"}
"""Solver of :func:`relu_convex.paths.regularization_path` when none is named, per model.

C-GReLU: ``"fista"``, warm-started from the tangent prediction at the previous point.
On ``validation/bench_paths.py --model gated`` (n=300, d=9, p=50, 20 values) its warm
path took 0.12 s, its cold path 0.38 s and ``"ipm"``'s (cold) 0.52 s. C-ReLU: ``"ipm"``
(cold starts; ``"al"``'s warm starts do not make up for its speed)."""

FREE_TERMS_SOLVER = "clarabel"
"""Solver used when none is named and the program has unpenalized columns or an offset,
which "fista", "al" and "ipm" do not handle (the conic route does)."""

ZERO_LAM_SOLVER = "clarabel"
r"""Solver used when none is named and ``lam = 0`` (no regularization).

The program is then (cone-constrained) least squares: the dual feasible set shrinks
to :math:`\{\theta : X^\top D_i \theta = 0\}`, the certified bound of any computed
point is 0, and :data:`POSITIVE_LAM_SOLVERS` refuse it; the conic route solves it,
and certifies it when the optimum is (near) 0, e.g. when the patterns let the
model interpolate the data (:func:`relu_convex.solvers.result.relative_gap`)."""

POSITIVE_LAM_SOLVERS: tuple[str, ...] = ("fista", "al", "ipm")
"""Solvers that need ``lam > 0`` (they raise ``ValueError`` naming ``lam`` otherwise)."""

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
(:func:`relu_convex.solvers.ipm_system.fits_in_memory`), and for a C-GReLU
problem whose :func:`ipm_work_ratio` exceeds :data:`GATED_IPM_MAX_RATIO`: the
first-order solver of the model, whose memory and work per iteration are linear in the
number of samples."""

GATED_IPM_MAX_RATIO = 2000.0
"""Largest :func:`ipm_work_ratio` at which ``"ipm"`` stays the C-GReLU default.

Measured ipm / fista times (``validation/bench_fast_solvers.py --parts grelu-sizes``,
tol 1e-6): 0.23 at ratio 42 (n=1000, d=50, p=300), 0.25 at 436 (n=4000), 0.54 at 650
(n=3000, d=20), 0.76 at 1582 (n=8000, d=50, p=300): the trend crosses 1 near 2000."""


WORKING_SET_RATIO = 20.0
"""Patterns per sample from which paths and ``relu-convex solve`` use working sets when not told.

On exact pattern sets of points in the plane (49 and 99 patterns per sample) working
sets never cost time and mostly saved much of it: paths (``validation/bench_paths.py
--exact``, 20 values) took 1.9 s (C-GReLU, fista, n=50) against 24 s for the best full
path (warm: 136 s, four points at ``max_iterations``) and 6.3 s (C-ReLU, ipm) against
46 s; single solves (``validation/bench_working_set.py``) 1.0-1.3x (n=50) and 5.3-58x
(n=100) faster. Sampled sets with fewer patterns than samples keep the full solves;
:meth:`problem.solve` itself only uses working sets when asked (``working_set=True``)."""


def default_working_set(n: int, p: int, free_terms: bool = False) -> bool:
    """Whether a solve over ``p`` patterns of ``n`` samples uses working sets when not told (:data:`WORKING_SET_RATIO`).

    Never for programs with unpenalized columns or an offset, which working sets do not handle.
    """
    return not free_terms and p >= WORKING_SET_RATIO * n


def ipm_work_ratio(n: int, d: int, p: int) -> float:
    r"""Work of one C-GReLU ``"ipm"`` iteration over that of one ``"fista"`` product, :math:`n d p`.

    ipm's Newton system is the :math:`n \times n` Woodbury matrix when the
    :math:`m = pd` weights outnumber the samples (:math:`n^2 p` to form, :math:`n^3/3`
    to factor), else the :math:`m \times m` normal matrix (:math:`n m^2 + m^3/3`);
    ``d`` counts at most ``n`` (ipm's row-space reduction).
    """
    from .solvers.ipm_system import woodbury_form

    d = min(d, n)
    m = p * d
    work = n * n * p + n**3 / 3.0 if woodbury_form(n, p, d) else n * m * m + m**3 / 3.0
    return work / max(n * d * p, 1)


def default_solver(model: str, solver: str | None = None, *, free_terms: bool = False,
                   shape: tuple[int, int, int] | None = None, path: bool = False, lam: float | None = None) -> str:
    """Return ``solver``, or the default when it is ``None``.

    The default is the model's entry of :data:`DEFAULT_SOLVER` (of :data:`PATH_SOLVER`
    for a regularization path, ``path=True``), :data:`FREE_TERMS_SOLVER` when the
    program has unpenalized columns or an output offset (``free_terms=True``), or
    :data:`ZERO_LAM_SOLVER` when ``lam`` is 0 (for a path: the smallest value of its
    grid; ``None``: not known, taken as positive). With
    ``shape = (n, d, p)`` (samples, features with any bias column, patterns), a default
    ``"ipm"`` whose Newton systems would exceed its memory limit, or (C-GReLU) whose
    :func:`ipm_work_ratio` exceeds :data:`GATED_IPM_MAX_RATIO`, becomes the model's
    :data:`LARGE_PROBLEM_SOLVER`.
    """
    model = check_model(model)
    if solver is not None:
        return solver
    if lam is not None and not lam > 0:
        return ZERO_LAM_SOLVER
    name = FREE_TERMS_SOLVER if free_terms else (PATH_SOLVER if path else DEFAULT_SOLVER)[model]
    if name == "ipm" and shape is not None:
        from .solvers.ipm_system import fits_in_memory

        too_slow = model == "gated" and ipm_work_ratio(*shape) > GATED_IPM_MAX_RATIO
        if too_slow or not fits_in_memory(*shape, MODELS[model].program):
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
