r"""The ``"al"`` solver for C-ReLU: an augmented Lagrangian with FISTA inner solves.

C-ReLU (per output; ``c`` outputs are solved one after the other) is

.. math::

    \min_{v, w}\ f(v, w) + \lambda \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad\text{s.t.}\quad G_i v_i \ge 0,\ G_i w_i \ge 0,
    \qquad G_i = (2D_i - I) X,

with :math:`f(v, w) = \|\sum_i D_i X (v_i - w_i) - y\|^2 / (2n)`. With
multipliers :math:`a_i, b_i \in \mathbb{R}^n_+` and penalty :math:`\rho > 0`
the augmented Lagrangian (for inequality constraints, Rockafellar's form) is

.. math::

    L_\rho(v, w; a, b) = f(v, w) + \lambda \sum_i (\|v_i\| + \|w_i\|)
        + \frac{1}{2\rho} \sum_i \Big(\|(a_i - \rho G_i v_i)_+\|^2 - \|a_i\|^2
        + \|(b_i - \rho G_i w_i)_+\|^2 - \|b_i\|^2\Big).

Each outer iteration lowers it over :math:`(v, w)` by the restarted FISTA of
:mod:`relu_convex.solvers.proximal` (warm-started at the previous point, step
size and momentum), until the proximal-gradient residual falls below an inner
tolerance or for at most 500 iterations (2000 once the cone violation is
within ``feas_tol``, :func:`_inner_cap`), then updates
:math:`a_i \leftarrow (a_i - \rho G_i v_i)_+`,
:math:`b_i \leftarrow (b_i - \rho G_i w_i)_+`. The penalty starts at
:math:`\rho_0 = c L_f / \max_k \|x_k\|^2` with :math:`c` = :data:`PENALTY_FACTOR`
(0.3) when the solve is polished (the default), :math:`c = 1` otherwise; at
:math:`c = 1` the penalty's curvature on one constraint row,
:math:`\rho \|x_k\|^2`, would equal the loss's (:math:`L_f = \|A\|_2^2/n`). After an inner solve that met its tolerance, the
tolerance (0.5 lam at first, :data:`_INNER_TOL0`) tightens tenfold, and the penalty grows tenfold
if the cone violation has not halved since the previous such solve; solves cut
short at that cap change neither, since their violation says little
about the penalty. Nothing needs tuning. The first tolerance decides when the
first polishing attempt after an inner solve that met it comes, and such
attempts settle more often than those after capped solves: on the C-ReLU
benchmark of ``validation/bench_fast_solvers.py`` (seeds 0-7, one core) 0.5 lam
took 83.7 s over the eight solves (7.6-17.0 s each; the first such solve came
after 1169-3213 iterations), 0.1 lam 135.1 s (11.5-23.9 s; after 4400-8721
iterations, where it came at all) and 1.0 lam 119.3 s (7.3-31.0 s; after 405-1102
iterations, where the attempts of the four earliest, at 405-889, did not settle).

Polishing. A warm start with multipliers that already certify it is returned
with nothing iterated (:func:`~relu_convex.solvers.al_polish._certified_start`; a certified solve hands back the
exchange's certifying multipliers, so a solution restarts certified). Otherwise
polishing comes on a warm start with multipliers (once, after a first inner solve of
at most :data:`WARM_ITERATIONS` iterations, outside the shares), and after each
outer iteration
(within the time shares of :class:`~relu_convex.solvers.al_polish._Refiner`: attempts after inner solves cut
short at the cap come once their share allows twice the last one's time, and
stop at it),
:func:`relu_convex.solvers.polish_relu.polish_relu`
refines the point by Newton's method on its nonzero groups with their tight
cone rows held at zero, exchanging rows and entering groups as an active-set
method would (``exchange=True``, at most :data:`~relu_convex.solvers.al_polish.EXCHANGE_ROUNDS` refinements,
fewer when the exchange stalls or cycles); a settled exchange's own multipliers
certify the point without NNLS over all patterns.
The multiplier estimates of an augmented Lagrangian mark tight rows only
roughly (on the C-ReLU benchmark, n=1000, d=20, p=100, after 11000 iterations
positive estimates miss 93 of the 2734 tight rows and mark 162 others), so the exchange,
not the estimates, settles them. On that benchmark an attempt after 7500 to
10929 iterations (gap 4.6e-2 at 10929) certifies a gap of 1e-11 to 1e-13 in
0.6-1.3 s, where the iterations alone needed 116039 to certify 1e-5. On problems whose inner
solves are all cut short at the cap (a regularization path point of
``validation/bench_paths.py`` took 12000 iterations waiting for one that was
not), the attempts after capped solves certify within 1400 iterations.

Certificates. The stationarity condition of the inner problem reads
:math:`\|X^\top D_i \theta + G_i^\top \tilde a_i\| \le \lambda` with
:math:`\theta = -r/n` and :math:`\tilde a_i = (a_i - \rho G_i v_i)_+`, which is
exactly the C-ReLU dual constraint with cone multipliers :math:`\tilde a_i`
(the normalization by ``n`` of the loss makes the scales agree: the multipliers
of the augmented Lagrangian *are* the dual's ``a_i, b_i``). The gradient of the
smooth part has rows :math:`-(X^\top D_i\theta + G_i^\top\tilde a_i)` and
:math:`-(-X^\top D_i\theta + G_i^\top\tilde b_i)`, so its row norms are the
constraint values of :func:`relu_convex.duality.relu_constraint_values`, and
every FISTA iteration yields a certified lower bound with no extra product
(valid for any nonnegative multipliers). At the end the exact constraint values
(NNLS multipliers) may tighten it further.

Stopping. ``optimal`` requires both the largest relative cone violation
(:meth:`relu_convex.ReLUProblem.constraint_violation`) ``<= feas_tol`` and the
certified relative gap ``<= tol``. The objective of an infeasible point is not
an upper bound on the optimum, so neither criterion alone is enough.

Kernels. On NumPy data an iteration costs two BLAS products, the cone values
:math:`X V^\top` and the gradient :math:`X^\top H` (shape (2, n, p) each), plus
the elementwise work between them. :class:`AugmentedPart` does that work in
about ten NumPy passes over (2, n, p) arrays; with numba installed (the
optional ``numba`` extra) ``kernels="auto"`` uses
:class:`~relu_convex.solvers.al_kernels.FusedAugmentedPart`, which does it in
one fused pass after each product (the momentum point is formed row by row,
never stored), with the same per-entry roundings (only sums are ordered
differently, so the iterates agree to rounding, and long runs drift apart as
any two roundings do). ``kernels="numpy"`` or ``"numba"`` chooses (see
:func:`solve_al`).

PyTorch. For a problem built from tensors (``problem.array_data``, see
:mod:`relu_convex.backend`) the inner FISTA iterations and the multiplier
updates run in PyTorch on the tensors' device
(:class:`~relu_convex.solvers.array_parts.ArrayAugmentedPart`); the weights and
``info["multipliers"]`` are tensors. The initial penalty and the final
certificate are computed on the host as for NumPy data.
"""

from __future__ import annotations

import numpy as np

from ..cones import relative_violation
from ..cones import row_scale as cone_row_scale
from ..data import to_host
from ..duality import relu_multiplier_bound
from ..operators import MaskedOperator
from .al_part import AugmentedPart
from .al_polish import _certified_start, _objective, _point_bound, _Refiner
from .array_parts import ArrayAugmentedPart
from .options import Deadline, History, check_flag, check_lam_positive, check_run_options, check_tol, iteration_tol
from .proximal import ArrayOps, Progress, fista, ops_for
from .result import BestBound, SolveResult, cone_result, relative_gap

__all__ = ["AugmentedPart", "FLOAT32_CAPPED_SOLVES", "PENALTY_FACTOR", "solve_al"]

_RHO_GROWTH = 10.0  # penalty factor when the violation stalls
_STALL_RATIO = 0.5  # an accurate inner solve must cut the violation by this factor
_INNER_TOL0 = 0.5  # first inner tolerance on the proximal-gradient residual, relative to lam (see the module docstring)
_INNER_MAX = 500  # inner iterations between multiplier updates at most, while the cone violation exceeds feas_tol
_INNER_MAX_FEASIBLE = 2000  # the same once it does not (see _inner_cap)
WARM_ITERATIONS = 25
"""Iterations on a warm start with multipliers before its polishing attempt (:func:`_solve_output`).

The previous solution's tight rows are a poor start for the exchange at a new lam:
on ``validation/bench_paths.py --model relu --solver al`` (seed 0) the attempts
made before iterating took 746 refinements over the path, from multipliers that
were the augmented Lagrangian's. After a first inner solve of 100 iterations and its
multiplier update they took 288. Solves now hand back the multipliers that certify
their point, and from those the path's refinements and iterations over seeds 0-3
were: 10 iterations, 780 refinements and 801 iterations; 25, 760 and 1940; 50, 808
and 3564; 100, 858 and 6177.
"""


FLOAT32_CAPPED_SOLVES = 20
"""Inner solves in a row that miss their tolerance after which float32 iterations go on in float64 (NumPy data).

The refinements that settle mostly come after inner solves that meet their
tolerance, and in float32 the residual of the proximal-gradient mapping may never
fall to it: on 400 Gaussian samples (d = 9, lam = 1e-4) every float32 inner
solve was capped and the solve stopped at ``max_iterations`` (gap 0.40 after
50000 iterations), where float64 data certified after 16473. Going on in float64
after 20 capped solves (10000 iterations at the cap of 500), it certified after
25322 iterations (13.2 s); the C-ReLU benchmark instance on float32 data (seeds
0-3) took 12.9 / 14.1 / 13.3 / 15.2 s against 8.9 / 13.2 / 15.8 / 44.8 s
iterating in float32 throughout. (Those figures are with the earlier first inner
tolerance of 0.1 lam; at :data:`_INNER_TOL0` = 0.5 lam the same four seeds took
18.99 / 3.77 / 6.05 / 4.98 s, and none went on in float64.)
"""


PENALTY_FACTOR = 0.3
"""Factor of the first penalty below the one that matches the loss's curvature on one row (:func:`_initial_rho`).

A penalty acts on every row of a group that its multiplier holds or that is
violated (at the benchmark's optimum 2734 tight rows over 152 groups, about 18
a group), so at the factor 1 its curvature outweighs the loss's and the inner
FISTA steps are the shorter. Measured whole solves
(``tol=1e-5``, ``feas_tol=1e-6``, one BLAS thread; ``validation/BENCHMARKS.md``):
on the C-ReLU benchmark (n=1000, d=20, p=100, seeds 0-3) 7.2 / 13.8 / 10.7 /
7.7 s against 16.6 / 15.7 / 19.5 / 17.3 s at the factor 1; on planted problems
of other sizes and lam 35 s against 46 s in all; on 8 UCI datasets x 6 lam
(at most 200 rows) the same problems certify in 59.5 s against 58.4 s.
"""


class _Output:
    """Objective and relative cone violation of a point from its cone values (any array library)."""

    def __init__(self, part: AugmentedPart, lam: float, row_scale: float, target_scale: float, ops: ArrayOps):
        self.part, self.lam, self.row_scale, self.target_scale, self.ops = part, lam, row_scale, target_scale, ops
        # the NumPy part recalls the predictions of the iterates it has seen
        self.predictions = getattr(part, "_predictions", part.predictions)
        # the fused part's products are the raw products, the cone values up to signs;
        # it knows their smallest value from the pass that made them
        self.cone_values = getattr(part, "cone_values", lambda C: C)
        self.smallest = getattr(part, "smallest_cone_value", lambda C: ops.min(C, initial=0.0))

    def objective(self, x: np.ndarray, C: np.ndarray) -> float:
        r = self.predictions(C) - self.part.y
        return 0.5 * self.ops.sumsq64(r) / self.part.n + self.lam * self.ops.group_norm_sum(x)

    def violation(self, x: np.ndarray, C: np.ndarray) -> float:
        """:func:`relu_convex.cones.relative_violation` of ``x`` with products ``C``."""
        worst = -self.smallest(C)
        if worst <= 0.0:
            return 0.0
        return relative_violation(worst, self.ops.max_row_norm(x), self.row_scale, self.target_scale)


def _inner_cap(violation: float, feas_tol: float) -> int:
    """Inner iterations allowed before the next multiplier update.

    While the cone violation of the latest update exceeds ``feas_tol``, frequent
    updates drive it down (:data:`_INNER_MAX`); once it is within ``feas_tol`` only
    the certified gap is left to close, and longer inner solves, less perturbed by
    updates, close it in fewer iterations (:data:`_INNER_MAX_FEASIBLE`). On the C-ReLU
    benchmark (n=1000, d=20, p=100, tol 1e-5, feas_tol 1e-6): 118217 iterations and
    181.4 s, against 166332 and 271.7 s with 500 throughout (2000 throughout: 104167
    iterations, but float32 problems, which are not refined, then stall above feas_tol).
    """
    return _INNER_MAX_FEASIBLE if violation <= feas_tol else _INNER_MAX


def _initial_rho(op: MaskedOperator, refined: bool = True) -> float:
    r"""The first penalty: :data:`PENALTY_FACTOR` times the one whose curvature on one row equals the loss's.

    The loss curvature is :math:`L_f = \|A\|_2^2 / n` (ten power iterations), and
    a penalty :math:`\rho` has curvature :math:`\rho \|x_k\|^2` on constraint row
    :math:`k`, so :math:`\rho_0 = c\, L_f / \max_k \|x_k\|^2` with
    :math:`c` = :data:`PENALTY_FACTOR` when the solve is refined by Newton steps
    (``refined``, the default ``polish=True``), :math:`c = 1` otherwise: solves that
    only iterate need the larger penalty to bring the cone violation within
    ``feas_tol`` (at 0.3 an unrefined float32 solve of the tests stalled at a
    violation of 1.5e-5 against ``feas_tol`` 1e-5).
    """
    X = op.X.astype(np.float64, copy=False)
    row_norm2 = float(np.max(np.einsum("nd,nd->n", X, X)))
    a_norm2 = op.norm_squared(iters=10)
    if row_norm2 <= 0.0 or a_norm2 <= 0.0:
        return 1.0
    return (PENALTY_FACTOR if refined else 1.0) * a_norm2 / op.n / row_norm2


def _part_class(kernels, tensors: bool) -> type:
    """The NumPy smooth part for ``kernels`` (see :func:`solve_al`): :class:`AugmentedPart` or the fused one."""
    if kernels not in ("auto", "numba", "numpy"):
        raise ValueError(f"kernels must be 'auto', 'numba' or 'numpy', got {kernels!r}")
    if tensors and kernels == "numba":
        raise ValueError("kernels='numba' applies to NumPy data; a problem holding tensors iterates in their library")
    if tensors or kernels == "numpy":
        return AugmentedPart
    try:
        from .al_kernels import FusedAugmentedPart
    except ImportError:  # numba missing (or unusable)
        if kernels == "auto":
            return AugmentedPart
        from ..interop._extras import require

        require("numba", "numba")  # an ImportError naming the extra when numba is missing
        raise
    return FusedAugmentedPart


def _check_penalty0(penalty0, outputs: int) -> list[float] | None:
    if penalty0 is None:
        return None
    values = np.atleast_1d(np.asarray(penalty0, dtype=np.float64)).ravel() if not isinstance(penalty0, str) else None
    if values is None or values.size not in (1, outputs) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"penalty0 must be a positive number (or {outputs} of them, one per output), got {penalty0!r}")
    return [float(v) for v in np.broadcast_to(values, (outputs,))]


def _check_problem(problem) -> None:
    if getattr(problem, "program", None) != "C-ReLU":
        raise ValueError(
            f"solver 'al' solves C-ReLU problems (ReLUProblem), got {type(problem).__name__}; "
            "use solver='fista' for GatedReLUProblem"
        )
    check_lam_positive(problem, "al")


def _check_multipliers(multipliers0, problem) -> tuple[np.ndarray, np.ndarray] | None:
    if multipliers0 is None:
        return None
    shape = (problem.n, problem.p) if problem.y.ndim == 1 else (problem.y.shape[1], problem.n, problem.p)
    if not isinstance(multipliers0, (tuple, list)) or len(multipliers0) != 2:
        raise TypeError(f"multipliers0 must be a pair (A, B) of arrays of shape {shape}")
    out = []
    for name, m in zip(("A", "B"), multipliers0, strict=True):
        m = np.asarray(to_host(m), dtype=np.float64)
        if m.shape != shape:
            raise ValueError(f"multipliers0 ({name}) must have shape {shape}, got {m.shape}")
        if not np.all(np.isfinite(m)) or np.any(m < 0):
            raise ValueError(f"multipliers0 ({name}) must be finite and nonnegative")
        out.append(m)
    return out[0], out[1]


class _OutputRun(BestBound):
    """The state of one output's solve (weights, multipliers, best bound, counters)."""

    def __init__(self, x: np.ndarray, multipliers: np.ndarray):
        super().__init__()
        self.x = x
        self.products: np.ndarray | None = None
        self.multipliers = multipliers
        self.iterations = 0
        self.outer = 0
        self.rho = float("nan")
        self.reason = "max_iter"
        self.done = False
        self.float64_from: int | None = None  # float32 data: the iteration its iterations went on in float64


def _solve_output(op, y, lam, run: _OutputRun, *, rho, tol, feas_tol, max_iter, clock, check_every,
                  history: History, output: int, verbose: bool, make_part=None, polish=None,
                  float64_part=None) -> _OutputRun:
    """Outer augmented Lagrangian loop for one output (updates and returns ``run``).

    ``op`` is the host (NumPy) operator and ``y`` the host targets;
    ``make_part(y, multipliers, rho)`` builds the smooth part (default: the
    NumPy :class:`AugmentedPart` on ``op``; an :class:`ArrayAugmentedPart` for
    tensors, ``run`` then holds tensors). ``polish`` is a :class:`~relu_convex.solvers.al_polish._Refiner` or None.
    ``float64_part`` (NumPy float32 data): the factory of a float64 smooth part, to
    go on with once :data:`FLOAT32_CAPPED_SOLVES` inner solves in a row missed their
    tolerance (``run`` then holds float64 arrays).
    """
    if make_part is None:
        make_part = lambda y, m, rho: AugmentedPart(op, y, m, rho)  # noqa: E731
    row_scale = cone_row_scale(op.X)
    target_scale = float(np.max(np.abs(y), initial=0.0))
    zero_objective = 0.5 * float(np.sum(np.square(y, dtype=np.float64))) / op.n  # this output's F(0), for the history
    ops = ops_for(run.x)
    inner_tol = _INNER_TOL0
    scale = lam if lam > 0 else 1.0
    step, momentum = None, None
    last_violation = np.inf
    violation = np.inf  # of the latest multiplier update
    capped_solves = 0  # inner solves in a row that missed their tolerance
    if float64_part is not None and run.x.dtype == np.float64:
        # a later call (the second sweep of a time limit) goes on where an earlier one switched to float64
        make_part, float64_part, y = float64_part, None, np.asarray(y, dtype=np.float64)
    # a warm start with multipliers (a nearby solution) is polished after a short first inner
    # solve and its multiplier update (see WARM_ITERATIONS), unless it is certified as it is
    warm = polish is not None and run.iterations == 0 and ops.vdot(run.multipliers, run.multipliers) > 0.0
    if warm and _certified_start(polish.operator(op), y, lam, run, tol, feas_tol, row_scale, target_scale):
        return run
    while run.iterations < max_iter and not clock.passed():
        part = make_part(y, run.multipliers, rho)
        out = _Output(part, lam, row_scale, target_scale, ops)
        base = run.iterations

        def check(progress: Progress, part=part, out=out, base=base, inner_tol=inner_tol) -> bool:
            inner_done = progress.residual <= inner_tol * scale
            if progress.iteration % check_every and not inner_done:
                return False
            run.consider(part.lower_bound(progress.at_z, lam))
            objective = out.objective(progress.x, progress.products)
            violation = out.violation(progress.x, progress.products)
            history.record(base + progress.iteration, objective, run.bound, violation, clock.elapsed(), zero_objective)
            history.data["output"].append(output)
            if violation <= feas_tol and relative_gap(objective, run.bound) <= tol:
                run.done = True
                return True
            return inner_done

        # the inner FISTA keeps its momentum across multiplier updates: restarting it
        # every outer iteration costs far more than the change of the smooth part
        result = fista(part, lam, run.x, products0=run.products, step0=step, momentum=momentum,
                       max_iter=min(WARM_ITERATIONS if warm else _inner_cap(violation, feas_tol), max_iter - run.iterations),
                       deadline=clock.at,
                       callback=check)
        run.iterations += result.iterations
        run.outer += 1
        run.rho = rho
        run.x, run.products, step, momentum = result.last_x, result.last_products, result.step, result.momentum
        if run.done:
            run.reason = "converged"
            break
        if result.reason == "time_limit":
            run.reason = "time_limit"
            break
        # multiplier update a <- (a - rho G v)_+, b <- (b - rho G w)_+
        run.multipliers = ops.positive_part(run.multipliers - rho * out.cone_values(run.products))
        violation = out.violation(run.x, run.products)
        converged = result.reason == "callback"  # the inner tolerance was met
        if verbose:
            gap = relative_gap(out.objective(run.x, run.products), run.bound)
            print(f"al output {output} outer {run.outer:3d}  iterations {run.iterations:6d}  rho {rho:.2e}  "
                  f"violation {violation:.2e}  rel gap {gap:.2e}  inner {'converged' if converged else 'capped'}")
        if warm:
            warm = False
            if polish.attempt(op, y, lam, run, clock, tol, feas_tol, warm=True):
                break
        elif polish is not None and polish.ready(clock, capped=not converged):
            if polish.attempt(op, y, lam, run, clock, tol, feas_tol, capped=not converged):
                break
        capped_solves = 0 if converged else capped_solves + 1
        if float64_part is not None and capped_solves >= FLOAT32_CAPPED_SOLVES:
            # float32 inner solves that never meet their tolerance (their rounding keeps the
            # proximal-gradient residual above it): the iterations go on in float64
            make_part, float64_part = float64_part, None
            run.float64_from = run.iterations
            run.x, run.multipliers = run.x.astype(np.float64), run.multipliers.astype(np.float64)
            run.products, step, momentum = None, None, None
            y = np.asarray(y, dtype=np.float64)
        if converged:
            # penalty schedule: raise rho when an accurate inner solve did not halve the violation
            if violation > feas_tol and violation > _STALL_RATIO * last_violation:
                rho *= _RHO_GROWTH
            last_violation = violation
            inner_tol = max(inner_tol * 0.1, 0.1 * tol)
    else:
        run.reason = "time_limit" if clock.passed() else "max_iter"
    return run


def solve_al(
    problem,
    *,
    tol: float | None = None,
    feas_tol: float = 1e-6,
    max_iter: int = 50_000,
    time_limit: float | None = None,
    weights0=None,
    multipliers0=None,
    verbose: bool = False,
    check_every: int = 10,
    nnls: bool | None = None,
    polish: bool = True,
    polish_size: int = 1500,
    penalty0=None,
    kernels: str = "auto",
) -> SolveResult:
    r"""Solve a :class:`~relu_convex.ReLUProblem` by the augmented Lagrangian method.

    Parameters
    ----------
    problem : ReLUProblem
        ``lam > 0``: at ``lam = 0`` no certified bound exceeds 0, and this
        solver refuses it (``ValueError`` naming ``lam``; the conic solvers
        handle it).
    tol : float, optional
        Certified relative gap (:func:`~relu_convex.solvers.result.relative_gap`)
        required for ``optimal``. ``None`` (default):
        :data:`~relu_convex.solvers.options.DEFAULT_TOL` (1e-6) for float64 data,
        :data:`~relu_convex.solvers.options.FLOAT32_TOL` (1e-4) for float32 data
        (NumPy or tensors), whose float32 iterations stop improving their
        certificate long before 1e-6. Float32 iterations stop at
        :data:`~relu_convex.solvers.options.FLOAT32_STOP` times ``tol`` on their
        own certificate, which is then recomputed in float64. Float32 data is
        refined in float64 (``polish``); without refinement float32 iterations
        may stall above even 1e-4 (a 40-sample problem stayed near 1.5e-4 for
        50000 iterations, where float64 iterations certified 1e-5 after 6211
        without refinement). For a tighter certificate use float64 data or
        ``"ipm"``, which computes in float64.
    feas_tol : float
        Largest relative cone violation allowed for ``optimal`` (default 1e-6),
        measured as :meth:`~relu_convex.ReLUProblem.constraint_violation`.
    max_iter : int
        Largest number of FISTA iterations per output, summed over the outer
        iterations (default 50000).
    time_limit : float, optional
        Seconds of wall-clock time for the whole solve. The outputs of
        multi-output targets are solved one after another, each within an equal
        share of the time left (what one leaves goes to the next); the outputs
        that ran out of their share then go on, from where they stopped, with
        the time the others left.
    weights0 : pair of ndarrays or tensors (V, W), optional
        Warm start, each of shape (p, d) (or (c, p, d)); default zeros.
    multipliers0 : pair of ndarrays (A, B), optional
        Warm start of the cone multipliers, each of shape (n, p) (or (c, n, p)),
        nonnegative, e.g. ``result.info["multipliers"]`` of an earlier solve.
    verbose : bool
        Print one line per outer iteration.
    check_every : int
        Inner iterations between certificate checks (default 10; a check
        costs a few passes over the (n, 2p) cone values, no matrix product).
    nnls : bool, optional
        Whether to tighten the final bound with the exact (NNLS) cone multipliers
        at the returned point; by default only when the augmented Lagrangian's
        own bound does not certify ``tol``. For float32 problems the reported
        bound is recomputed in float64 at the returned weights.
    polish : bool
        Between outer iterations, Newton-refine on the active groups with their
        tight cone rows held at zero, exchanging rows and groups as an active-set
        method (default True; see :func:`relu_convex.solvers.polish_relu.polish_relu`;
        in NumPy on the host, so a problem holding tensors sends the point and
        the multipliers there and a refined point back to its device). A refined point is
        returned only if it is feasible to ``feas_tol`` and certified to ``tol``
        (with the exchange's own cone multipliers, or else the exact NNLS ones).
        Float32 data (NumPy or tensors) is refined in float64 on a float64 copy of ``X``; the refined
        point is rounded to float32 and its objective and violation are those of
        the rounded point, its bound that of the refined point's dual point
        (the rounded weights' own dual point moves enough to leave gaps near
        1e-4 at ``lam = 1e-3``). Four planted float32 problems (n = 150 to 300,
        ``lam = 1e-3``, ``tests/test_float32_defaults.py``) certify in 333 to
        1122 iterations (500 to 4538 with the earlier first inner tolerance of
        0.1 lam), where unrefined float32 iterations reached none in 20000.
        The attempts that settle mostly follow inner solves that meet their
        tolerance, and float32 inner solves may never do: after
        :data:`FLOAT32_CAPPED_SOLVES` of them in a row, NumPy float32 data is
        iterated in float64 (tensors stay in their dtype), and the weights are
        returned in float32.
        A warm start with ``multipliers0`` is refined after a first inner solve
        of at most :data:`WARM_ITERATIONS` iterations; apart from that attempt,
        refining takes at most about a third of the run time.
    polish_size : int
        Largest restricted problem refined, in free variables per output (default 1500).
    penalty0 : float or sequence of float, optional
        First penalty parameter (one per output for targets (n, c)), e.g.
        ``result.info["penalty"]`` of a solve at a nearby ``lam`` together with
        its multipliers; by default :math:`\rho_0 = c L_f / \max_k \|x_k\|^2`, :math:`c` = :data:`PENALTY_FACTOR` (1 on
        solves that are not polished).
    kernels : {"auto", "numba", "numpy"}
        How the elementwise work of the iterations on NumPy data is done:
        ``"numba"`` in the fused kernels of
        :mod:`relu_convex.solvers.al_kernels` (one pass over the (2, n, p) cone
        values per matrix product instead of about ten NumPy passes; needs the
        optional ``numba`` extra, compiled on first use and cached on disk),
        ``"numpy"`` in NumPy, ``"auto"`` (default) the kernels when numba can
        be imported and NumPy otherwise. Same math and per-entry roundings but
        for the order of summation, so the iterates agree to rounding.
        ``info["kernels"]`` says which ran. Problems holding PyTorch tensors
        always iterate in PyTorch (``"auto"``; ``"numba"`` is an error there).

    Returns
    -------
    SolveResult
        ``weights`` (and ``info["multipliers"]``) are tensors of ``X``'s dtype and
        device when the problem holds tensors (``backend``, ``device`` say which).
        ``max_violation`` is the relative cone violation of the returned weights
        (their objective is not an upper bound when it is positive);
        ``info["multipliers"]`` holds ``(A, B)`` (for an output that polishing
        certified, the exchange's multipliers that certify it, so that a warm
        start from the result is certified with nothing iterated; else the
        augmented Lagrangian's), ``info["penalty"]`` the last
        penalty parameter, ``info["kernels"]`` the kernels used (``"numba"``,
        ``"numpy"`` or ``"array"`` for tensors), ``info["float64_from"]`` the
        iteration from which NumPy float32 data was iterated in float64
        (:data:`FLOAT32_CAPPED_SOLVES`; None when it was not); ``history`` has an
        ``output`` column for multi-output targets.

    Raises
    ------
    ValueError, TypeError
        For a bad option value (the message names the option), or ``lam = 0``.
    ImportError
        For ``kernels="numba"`` when numba is not installed (the message names
        ``pip install 'relu-convex[numba]'``).
    """
    _check_problem(problem)
    tol, max_iter, time_limit, verbose, check_every, polish, polish_size = check_run_options(
        tol=tol, max_iter=max_iter, time_limit=time_limit, verbose=verbose, check_every=check_every,
        polish=polish, polish_size=polish_size, dtype=problem.operator.dtype)
    feas_tol = check_tol(feas_tol, "feas_tol")
    stop_tol = iteration_tol(tol, problem.operator.dtype)
    if nnls is not None:
        nnls = check_flag(nnls, "nnls")
    mult0 = _check_multipliers(multipliers0, problem)
    op, lam, dtype = problem.operator, problem.lam, problem.operator.dtype
    data = getattr(problem, "array_data", None)  # X's array library when not NumPy (relu_convex.backend)
    numpy_part = _part_class(kernels, data is not None)
    stack = np.stack if data is None else data.xp.stack
    if weights0 is None:
        V0 = W0 = np.zeros(problem.weight_shape, dtype=dtype)
    else:
        V0, W0 = (w.astype(dtype) for w in problem.check_weights(weights0, "weights0"))

    clock = Deadline(time_limit)
    history = History()
    history.data["output"] = []
    rho0 = _check_penalty0(penalty0, problem.y.shape[1] if problem.y.ndim == 2 else 1)
    op64 = None if dtype == np.float64 else MaskedOperator(np.asarray(problem.X, dtype=np.float64), problem.patterns)
    # refinement runs in NumPy on the host, for float32 data in float64 (op64); tensors go there and back
    refiner = None
    if polish:
        refiner = _Refiner(polish_size, op64, None if data is None else data.asarray)
    if rho0 is None:
        rho0 = [_initial_rho(op, refined=refiner is not None)] * (problem.y.shape[1] if problem.y.ndim == 2 else 1)
    multi = problem.y.ndim == 2
    n_out = problem.y.shape[1] if multi else 1
    tasks = []  # (targets, run, part factory) of each output
    for k in range(n_out):
        yk = problem.y[:, k] if multi else problem.y
        x0 = np.concatenate([V0[k], W0[k]]) if multi else np.concatenate([V0, W0])
        if mult0 is None:
            m0 = np.zeros((2, problem.n, problem.p), dtype=dtype)
        else:
            A0, B0 = (m[k] for m in mult0) if multi else mult0
            m0 = np.stack([A0, B0]).astype(dtype)
        make_part = lambda y, m, rho: numpy_part(op, y, m, rho)  # noqa: E731
        if data is not None:  # iterate in X's library, on its device
            x0, m0 = data.asarray(x0), data.asarray(m0)
            yk_array = data.y[:, k] if multi else data.y
            make_part = lambda y, m, rho, yk_array=yk_array: ArrayAugmentedPart(data.operator, yk_array, y, m, rho)  # noqa: E731
        tasks.append((yk, _OutputRun(x0, m0), make_part))
    # NumPy float32 data whose float32 inner solves never meet their tolerance goes on in float64
    float64_part = None if op64 is None or data is not None else (lambda y, m, rho: numpy_part(op64, y, m, rho))  # noqa: E731
    # the outputs are solved one after another, each within an equal share of the time
    # left; with a time limit, a second sweep gives what the finished outputs left over
    # to those that ran out of time (they go on from where they stopped)
    for sweep in range(2 if time_limit is not None and n_out > 1 else 1):
        pending = [k for k, (_, run, _) in enumerate(tasks) if sweep == 0 or run.reason == "time_limit"]
        for j, k in enumerate(pending):
            yk, run, make_part = tasks[k]
            rho = rho0[k] if sweep == 0 or not np.isfinite(run.rho) else run.rho
            _solve_output(op, yk, lam, run, rho=rho, tol=stop_tol, feas_tol=feas_tol, max_iter=max_iter,
                          clock=clock.share(len(pending) - j), check_every=check_every, history=history,
                          output=k, verbose=verbose, make_part=make_part, polish=refiner, float64_part=float64_part)
    runs = []
    for yk, run, _ in tasks:
        if data is None and run.x.dtype != dtype:  # float64 iterations of float32 data: returned in float32
            run.x, run.multipliers = run.x.astype(dtype), run.multipliers.astype(dtype)
        x_host, m_host = to_host(run.x), to_host(run.multipliers)  # the final certificate is computed on the host
        use_nnls = nnls or (nnls is None and relative_gap(_objective(op, yk, lam, x_host), run.bound) > tol)
        if op64 is None:
            if use_nnls:
                run.consider(_point_bound(op, yk, lam, x_host, m_host, nnls=True))
        else:
            # float32 products round at ~1e-7 relative, enough to overstate a bound: the
            # reported one is recomputed in float64 at the returned weights
            y64 = np.asarray(yk, dtype=np.float64)
            bound = _point_bound(op64, y64, lam, x_host, m_host, nnls=use_nnls)
            if run.theta is not None:
                # the run's best dual point (a float64 refinement's, whose bound is tighter than that of
                # the returned float32 weights' own dual point), its values recomputed in float64
                theta = np.asarray(run.theta, dtype=np.float64)
                other = relu_multiplier_bound(op64, y64, theta, (m_host[0], m_host[1]), lam, nnls=use_nnls)
                bound = other if other.value > bound.value else bound
            run.bound, run.theta = bound.value, bound.theta
        runs.append(run)

    weights = _combine([_split(r.x, problem.p) for r in runs], multi, stack)
    return cone_result(
        problem, weights, runs, solver="al", clock=clock, history=history, tol=tol, feas_tol=feas_tol,
        max_iter=max_iter, otherwise="the recomputed certificate misses the tolerances (rounding)",
        multipliers=([r.multipliers[0, ...] for r in runs], [r.multipliers[1, ...] for r in runs]), verbose=verbose, stack=stack,
        info={
            "outer_iterations": [r.outer for r in runs] if multi else runs[0].outer,
            "penalty": [r.rho for r in runs] if multi else runs[0].rho,
            "float64_from": [r.float64_from for r in runs] if multi else runs[0].float64_from,
            "polishes": 0 if refiner is None else refiner.attempts,
            "polish_time": 0.0 if refiner is None else refiner.time,
            "kernels": "array" if data is not None else ("numpy" if numpy_part is AugmentedPart else "numba"),
        },
    )


def _split(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    return x[:p, ...], x[p:, ...]


def _combine(pairs: list[tuple[np.ndarray, np.ndarray]], multi: bool, stack=np.stack):
    if not multi:
        return pairs[0]
    return stack([v for v, _ in pairs]), stack([w for _, w in pairs])
