r"""The ``"fista"`` solver for C-GReLU: restarted FISTA stopped by a certified gap.

C-GReLU is a group lasso with the implicit matrix :math:`A = [D_1 X \cdots D_p X]`,

.. math::

    F(U) = \underbrace{\frac{1}{2n}\|A\,\mathrm{vec}(U) - y\|_2^2}_{f(U)}
         + \lambda \sum_i \|u_i\|_2 ,

so the proximal-gradient engine of :mod:`relu_convex.solvers.proximal` applies
with the predictions :math:`P = A\,\mathrm{vec}(U)` as products: the gradient is
:math:`\nabla f = A^\top r / n` with :math:`r = P - y`, and the Bregman
divergence between two points is exactly :math:`\|P_1 - P_0\|^2 / (2n)`.

Certified stopping. Every ``check_every`` iterations the dual point
:math:`\theta = -r/n` is scaled into the dual feasible set
(:func:`relu_convex.duality.scaled_dual_bound`), both at the momentum point and
at the previous iterate. Its constraint values :math:`\|X^\top D_i \theta\|_2`
are the row norms of the gradient: at the momentum point the iteration has just
computed it, and at the iterate it follows from the gradients already computed
because the gradient is affine in the predictions
(:math:`\nabla f(x_k) = (\nabla f(z_k) + \beta \nabla f(x_{k-1}))/(1 + \beta)`),
so a check costs no matrix product. Every such value is a lower bound on the
optimum (weak duality); the solver keeps the largest and stops when
:math:`(F(U_{\text{best}}) - \text{bound}) / \max(F(U_{\text{best}}), 10^{-6} F(0)) \le` ``tol``
(:func:`~relu_convex.solvers.result.relative_gap`).
Only that stop reports ``optimal``; ``max_iter`` and ``time_limit`` report
``max_iterations`` and ``time_limit`` with the certificate reached.

Mixed precision. On a large problem held in float64 NumPy arrays
(:func:`uses_mixed_precision`, :data:`MIXED_PRECISION_MIN_SIZE`) the early,
inaccurate iterations run on a float32 copy of the data, whose products take
about half the time. This float32 phase is judged only in float64: at its first
iteration and every :data:`MIXED_CHECK_EVERY` iterations the iterate is cast to
float64 and its objective and certified bound computed there (two float64
products; a bound computed in float64 is valid at any point, rounded or not).
The best float64 point and bound so far are what the solver keeps and records
in its history. The phase ends

* with the result, when the float64 certificate is within ``tol``;
* for a Newton refinement (in float64, as below), when the support has
  settled; the float32 iterations go on from the refined point afterwards unless
  its gap is below :data:`MIXED_SWITCH_GAP`;
* for float64 iterations, from the best float64 point with the momentum
  restarted and the step size kept, when the certified gap is below
  :data:`MIXED_SWITCH_GAP` (float32 products round at about 1e-7, and the
  iterates stop improving well before a certificate of 1e-6), or when
  :data:`MIXED_CHECK_EVERY` iterations lowered the best float64 objective by at
  most :data:`MIXED_STALL` relatively;
* at ``max_iter`` or ``time_limit``, which count the iterations of both phases.

A warm start (``weights0``) whose certified gap is already below
:data:`MIXED_SWITCH_GAP` skips the float32 phase. The float32 copy of the data
holds ``X`` and the (n, p) masks again, half the memory of the float64 ones.

On the n=2000, d=50, p=300 benchmark (``validation/bench_fast_solvers.py``) all
1403 iterations run in float32 before the refinement that certifies 1e-6; the
solve takes 5.1 to 5.6 s against 8.7 to 9.0 s (1527 iterations) in float64
alone (one core, two runs each).

PyTorch. For a problem built from tensors (``problem.array_data`` set, see
:mod:`relu_convex.backend`) the iterations run in PyTorch on the tensors'
device (:class:`~relu_convex.solvers.array_parts.ArrayLeastSquaresPart`) and
``weights`` is a tensor; the objective and the bound are recomputed on the host
as for NumPy data.
"""

from __future__ import annotations

import numpy as np

from ..data import to_host
from ..duality import DualBound, scaled_dual_bound
from ..operators import MaskedOperator
from .array_parts import ArrayLeastSquaresPart
from .newton_work import DEFAULT_MAX_SIZE, newton_step_work, refinement_setup_work, refinement_size
from .options import Deadline, History, check_lam_positive, check_optional_flag, check_run_options, iteration_tol
from .polish import polish_grelu
from .proximal import Evaluation, Progress, fista, group_norm_sum, ops_for
from .result import SolveResult, SolveStatus, relative_gap

__all__ = ["LeastSquaresPart", "solve_fista", "polish_lower_bound", "float64_bound", "iteration_work",
           "ITERATION_OVERHEAD", "ATTEMPT_WORK", "WARM_ATTEMPT_STEPS", "WARM_PATIENCE", "warm_patience",
           "uses_mixed_precision", "MIXED_PRECISION_MIN_SIZE", "MIXED_CHECK_EVERY", "MIXED_SWITCH_GAP", "MIXED_STALL", "MIXED_RESTART_TOL"]


class LeastSquaresPart:
    r"""The C-GReLU loss :math:`f(U) = \|\sum_i D_i X u_i - y\|^2 / (2n)` as a :class:`SmoothPart`.

    Parameters
    ----------
    op : MaskedOperator
    y : ndarray, shape (n,) or (n, c)
        Targets; weights are (p, d) or (c, p, d) to match.
    """

    def __init__(self, op: MaskedOperator, y: np.ndarray):
        self.op = op
        self.y = np.asarray(y, dtype=op.dtype)
        self.n = op.n
        self._inv_n = op.dtype.type(1.0 / op.n)

    def forward(self, U: np.ndarray) -> np.ndarray:
        """Predictions :math:`\\sum_i D_i X u_i`, shape (n,) or (n, c)."""
        return self.op.forward(U)

    def evaluate(self, P: np.ndarray) -> Evaluation:
        """Loss and gradient :math:`A^\\top (P - y) / n`; ``aux`` is the residual ``P - y``."""
        r = P - self.y
        r64 = r.astype(np.float64, copy=False)
        value = 0.5 * float(np.vdot(r64, r64)) / self.n
        return Evaluation(value, self.op.adjoint(r * self._inv_n), P, r)

    def evaluation_from(self, P: np.ndarray, grad: np.ndarray) -> Evaluation:
        """The evaluation at the point with predictions ``P`` whose gradient is known."""
        r = P - self.y
        r64 = r.astype(np.float64, copy=False)
        return Evaluation(0.5 * float(np.vdot(r64, r64)) / self.n, grad, P, r)

    def bregman(self, at: Evaluation, P: np.ndarray) -> float:
        """Exactly :math:`\\|P - P_z\\|^2 / (2n)` (the loss is quadratic)."""
        diff = (P - at.products).astype(np.float64, copy=False)
        return 0.5 * float(np.vdot(diff, diff)) / self.n

    def lower_bound(self, at: Evaluation, lam: float) -> DualBound:
        r"""Certified bound from :math:`\theta = -r/n` at the evaluated point, using its gradient rows."""
        return self.bound_from(at.aux, at.grad, lam)

    def bound_from(self, r: np.ndarray, grad: np.ndarray, lam: float) -> DualBound:
        r"""Certified bound from :math:`\theta = -r/n` given :math:`A^\top r / n` (``grad``)."""
        values = np.linalg.norm(grad, axis=-1)  # ||X^T D_i theta|| = ||grad_i||
        return scaled_dual_bound(self.y, -r * self._inv_n, values, lam)


ITERATION_OVERHEAD = 1e6
"""Fixed work of one iteration (its few dozen array operations), in flop-equivalents of the products.

With :data:`relu_convex.solvers.newton_work.NEWTON_RATE` and ``NEWTON_OVERHEAD`` it
makes the estimated work of iterations and Newton steps comparable on small
problems, where these fixed costs dominate (measured on one core: 110-150 us an
iteration at n=300, d=9, p=50, whose products are 270,000 flops).
"""


ATTEMPT_WORK = 3e8
"""Work a refinement attempt may always take, in flop-equivalents of products (about 50 ms on one core).

On small problems, where Newton steps are cheap and an attempt's share of the
iterations' work is a step or two, this lets a refinement converge (3 to 6 steps)
and grow its support (15 masked steps at n=300, d=9, |S|=48); on large ones it is
less than a step, and the share of the iterations' work decides.
"""


WARM_ATTEMPT_STEPS = 8
"""From a warm start, the first refinement attempt may take this many Newton steps on its support, after its setup.

A warm start is a nearby solution (the previous point of a regularization path,
or its tangent prediction), from which a refinement converges in 3 to 6 steps,
and a growth round may follow; the share of a dozen iterations' work allows one step of the masked path
(n=2000, d=21, 199 groups on ``validation/bench_paths.py --n 2000 --d 20
--p 200``), after which the solve waited hundreds of iterations for the next attempt.
The setup (:func:`~relu_convex.solvers.newton_work.refinement_setup_work`) is added to
the budget: on the dense path it is :math:`3n/m` steps' worth, and a budget of six
steps without it allowed one or two steps at the middle of that path (16 to 69
groups), whose points then took 54 to 151 iterations and a second attempt instead
of 2 to 11. Six steps left the point with 57 groups one growth round short (115
iterations instead of 7).
"""


WARM_PATIENCE = 10
"""Most checks a warm-started solve waits, with its support unchanged, before its first refinement (:func:`warm_patience`)."""


def warm_patience(problem, U0: np.ndarray, per_iteration: float) -> int:
    r"""Checks with an unchanged support before a warm-started solve first refines: 1 to :data:`WARM_PATIENCE`.

    A quarter of the estimated work of one Newton step on the start's groups, in
    iterations (:func:`_step_work` over :func:`iteration_work`), rounded up. A
    refinement from a wrong support wastes its Newton steps, so a dear step
    waits for the iterations to confirm the support, while a cheap one is
    tried at once. On ``validation/bench_paths.py`` (20 points, warm solver time):
    the small path (n=300, d=9, p=50; a step costs 2 to 10 iterations) took
    0.157 s waiting 10 checks and 0.117 s waiting 1, the large one (n=2000,
    d=21, p=200; up to 120 iterations a step) 6.5-7.0 s waiting 10 and 7.6 s
    waiting 1.
    """
    ratio = _step_work(problem, U0) / max(per_iteration, 1.0)
    return int(min(WARM_PATIENCE, max(1.0, np.ceil(0.25 * ratio))))


MIXED_PRECISION_MIN_SIZE = 5_000_000
r"""Smallest :math:`n p d` (one output's products) for which ``mixed_precision=None`` iterates in float32 first.

Forward plus adjoint on one core, float64 against float32
(:class:`~relu_convex.operators.MaskedOperator`, median of repeated calls):
0.024 against 0.017 ms at n=100, d=10, p=100 (1.4x); 0.25 against 0.14 ms at
n=1000, d=20, p=100 (1.9x); 0.57 against 0.31 ms at n=1000, d=20, p=250
(1.8x); 3.6 against 1.6 ms at n=2000, d=50, p=300 (2.3x). Whole solves to
``tol=1e-6`` on planted problems (lam=1e-3, one core), float64 against mixed:
0.55 against 0.43 s at n=300, d=20, p=100 (:math:`npd = 6 \cdot 10^5`);
1.00 against 0.71 s at n=1000, d=20, p=250 (:math:`5 \cdot 10^6`); 2.40
against 2.32 s at n=2000, d=25, p=200, where Newton refinements take 1 s;
8.7 against 5.1 s at n=2000, d=50, p=300 (``validation/bench_fast_solvers.py``).
The gain starts well below this threshold; it is set above the largest
problems of the UCI validation runs (:math:`npd \le 4 \cdot 10^6`, checked
against Clarabel in float64), which keep their all-float64 solves, and where a
solve takes about a second at most.
"""


MIXED_CHECK_EVERY = 50
"""Iterations between the float64 checks of the float32 phase (each costs two float64 products)."""


MIXED_SWITCH_GAP = 1e-4
"""Certified relative gap below which the float32 phase hands over to float64 iterations.

Float32 products round at about 1e-7 relative, so float32 iterations stop
improving a point long before its certificate reaches the usual ``tol``; at a
gap of 1e-4 they still make progress.
"""


MIXED_STALL = 10.0 * float(np.finfo(np.float32).eps)
"""The float32 phase ends when ``MIXED_CHECK_EVERY`` iterations lower the best float64 objective by at most this, relatively."""


MIXED_RESTART_TOL = 1e-5
"""Relative increase of the objective that restarts the momentum in the float32 phase (``restart_tol`` of :func:`fista`).

The float32 objective is exact only to about ``eps32 * sqrt(f(0) / F)``
relative (the residual is a small difference of float32 numbers), so the
float64 threshold (1e-14) restarts the momentum on rounding noise: on
``tests/conftest.py``'s planted n=50, d=3, p=10, lam=1e-4 problem without
refinement the float32 phase then crawled for 2200 of 3108 iterations, against
1607 iterations all in float64; with 1e-5 it takes 800 of 1607. Tolerated
increases are harmless there: the phase keeps the best point by its float64 objective.
"""


def uses_mixed_precision(problem, mixed_precision: bool | None = None) -> bool:
    r"""Whether :func:`solve_fista` starts with float32 iterations on ``problem``.

    Only problems held in float64 NumPy arrays qualify (float32 problems are
    already float32; tensors iterate in their own library). Among those:
    always for ``True``, never for ``False``, and for ``None`` when
    :math:`n p d \ge` :data:`MIXED_PRECISION_MIN_SIZE`.
    """
    if getattr(problem, "array_data", None) is not None or problem.operator.dtype != np.float64:
        return False
    if mixed_precision is None:
        return problem.n * problem.p * problem.d >= MIXED_PRECISION_MIN_SIZE
    return bool(mixed_precision)


def _step_work(problem, U: np.ndarray, setup: bool = False) -> float:
    """Estimated work of one Newton step on the nonzero groups of ``U``, summed over outputs.

    With ``setup``, that of setting the refinements up instead (:func:`refinement_setup_work`).
    """
    work = refinement_setup_work if setup else newton_step_work
    counts = np.count_nonzero(np.einsum("...d,...d->...", U, U) > 0.0, axis=-1)
    return float(sum(work(problem.n, int(k), problem.d) for k in np.atleast_1d(counts) if k > 0))


def iteration_work(problem) -> float:
    r"""Estimated work of one iteration: a forward and an adjoint product (:math:`2npd` per output) plus :data:`ITERATION_OVERHEAD`."""
    outputs = 1 if problem.y.ndim == 1 else problem.y.shape[1]
    return 2.0 * problem.n * problem.p * problem.d * outputs + ITERATION_OVERHEAD


class _SupportTracker:
    """Says when the set of nonzero groups has stayed the same long enough to refine on it.

    An attempt needs the support unchanged for ``patience`` consecutive checks
    and the iteration count at least ``next_at``. After an attempt that did not
    certify, :meth:`backoff` moves ``next_at`` a quarter further on and sets the
    patience to the number of iterations that two Newton steps of that attempt
    cost in estimated work (at least the initial ``patience``): when a Newton
    step is dear (the masked refinement on a large support costs as much as
    about 40 iterations on the n=2000, d=50, p=300 benchmark) a support that
    holds for only a few dozen iterations is usually not the final one and an
    attempt on it is wasted, while for the small dense refinements this stays
    at 20 checks. Work, not time, so that a solve decides the same way on every run.
    """

    def __init__(self, problem, max_size: int, patience: int = 20, first: int = 50):
        self.n, self.d, self.max_size = problem.n, problem.d, max_size
        self.patience = self.min_patience = patience
        self.first, self.next_at, self.stable, self.last = first, first, 0, None

    def ready(self, x: np.ndarray, iteration: int) -> bool:
        x = to_host(x)
        active = np.einsum("...d,...d->...", x, x) > 0.0
        self.stable = self.stable + 1 if self.last is not None and np.array_equal(active, self.last) else 0
        self.last = active
        if self.stable < self.patience or iteration < self.next_at:
            return False
        groups = active.reshape(-1, active.shape[-1]).sum(axis=-1)
        return any(0 < refinement_size(self.n, int(k), self.d) <= self.max_size for k in groups)

    def backoff(self, iteration: int, step_work: float = 0.0, iteration_work: float = 0.0) -> None:
        """After an attempt at ``iteration`` whose Newton steps cost ``step_work`` each (an iteration ``iteration_work``)."""
        self.next_at, self.stable = iteration + max(self.first, iteration // 4), 0
        if step_work > 0.0 and iteration_work > 0.0:
            self.patience = max(self.min_patience, int(np.ceil(2.0 * step_work / iteration_work)))


def _check_problem(problem) -> None:
    if getattr(problem, "program", None) != "C-GReLU":
        raise ValueError(
            f"solver 'fista' solves C-GReLU problems (GatedReLUProblem), got {type(problem).__name__}; "
            "use solver='al' for ReLUProblem"
        )
    check_lam_positive(problem, "fista")


def solve_fista(
    problem,
    *,
    tol: float | None = None,
    max_iter: int = 50_000,
    time_limit: float | None = None,
    weights0=None,
    verbose: bool = False,
    check_every: int = 1,
    polish: bool = True,
    polish_size: int = DEFAULT_MAX_SIZE,
    mixed_precision: bool | None = None,
    factors: dict | None = None,
) -> SolveResult:
    r"""Solve a :class:`~relu_convex.GatedReLUProblem` by restarted FISTA.

    Parameters
    ----------
    problem : GatedReLUProblem
        Targets (n,) give weights (p, d); targets (n, c) give (c, p, d).
        ``lam > 0``: at ``lam = 0`` no certified bound exceeds 0, and this
        solver refuses it (``ValueError`` naming ``lam``; the conic solvers
        handle it).
    tol : float, optional
        Stop when the certified relative gap
        (:func:`~relu_convex.solvers.result.relative_gap`) is at most ``tol``.
        ``None`` (default): :data:`~relu_convex.solvers.options.DEFAULT_TOL`
        (1e-6) for float64 data, :data:`~relu_convex.solvers.options.FLOAT32_TOL`
        (1e-4) for float32 data (NumPy or tensors), whose iterations in float32
        stop improving the certificate long before 1e-6. Float32 iterations stop
        at :data:`~relu_convex.solvers.options.FLOAT32_STOP` times ``tol`` on
        their own certificate, which is then recomputed in float64.
    max_iter : int
        Largest number of proximal-gradient steps (default 50000).
    time_limit : float, optional
        Seconds of wall-clock time.
    weights0 : ndarray or tensor, shape (p, d) or (c, p, d), optional
        Warm start (default zeros).
    verbose : bool
        Print progress every 100 checks.
    check_every : int
        Iterations between certificate checks (default 1; a check costs
        :math:`O(pd + n)`, no matrix product). The float32 phase checks every
        :data:`MIXED_CHECK_EVERY` iterations instead (two float64 products).
    polish : bool
        Newton-refine on the active groups once they stop changing (default
        True; see :mod:`relu_convex.solvers.newton`; in NumPy on the host, in
        float64: a problem holding tensors copies the point there and the
        refined point back to its device, and float32 data is refined on
        float64 copies, the refined point rounded to float32 and certified by
        its float64 dual point, since the rounded weights' own dual point leaves
        gaps near 1e-4 at ``lam = 1e-3``; unrefined, float32 iterations on three
        planted problems of ``tests/test_float32_defaults.py`` reached none of
        them in 20000 iterations, refined they certify after 50):
        after 20 unchanged checks and at least 50 iterations, or, when
        ``weights0`` is given (a warm start from a nearby solution, as along a
        regularization path, settles sooner), after 1 to 10 unchanged checks,
        fewer when a Newton step is cheap (:func:`warm_patience`). The
        refinement adds the groups outside the support that violate their dual
        constraint at its result and refines again (working-set growth,
        :func:`~relu_convex.solvers.polish.polish_grelu`). A refined
        point is kept if its objective is lower or its own bound certifies it
        (then the returned weights' own certificate says what the status says),
        and it counts as optimal only through the same certificate; a failed attempt delays the next one
        until the iteration count has grown by a quarter and the support has
        held for as many iterations as two of its Newton steps cost (at least 20).
        Each refinement stops as soon as its certified gap is within ``tol``.
    polish_size : int
        Largest refinement attempted, per output, as the order of the matrix a
        Newton step factors: :math:`\min(m, n)` with :math:`m` the active groups
        times ``d`` (:func:`~relu_convex.solvers.newton_work.refinement_size`; when
        :math:`m > n` the masked path factors :math:`n \times n` and never forms
        the :math:`m \times m` Gram). Default
        :data:`~relu_convex.solvers.newton_work.DEFAULT_MAX_SIZE` (2500). Refining takes about
        a third of the work at most: an attempt waits until the work spent
        refining is at most half the work of the iterations, and starts no Newton
        step past that share or past :data:`ATTEMPT_WORK`, whichever is more (it
        takes at least one step; from a warm start the first attempt may take
        :data:`WARM_ATTEMPT_STEPS` steps). Work is an estimate
        in flops (:func:`iteration_work`,
        :attr:`~relu_convex.solvers.newton.NewtonRefinement.work`), not a clock
        reading, so that the same problem is solved the same way on every run
        (up to ``time_limit``, which is a clock reading).
    mixed_precision : bool or None
        Start with float32 iterations on a float32 copy of the data (see the
        module notes): ``None`` (default) when :math:`npd \ge`
        :data:`MIXED_PRECISION_MIN_SIZE`, ``True`` always, ``False`` never.
        Only for problems held in float64 NumPy arrays; the others ignore it.
        The returned weights, objective and bound are float64 either way, and
        ``optimal`` means a float64 certificate within ``tol``.
    factors : dict, optional
        If given, each refinement stores its last Newton matrix factorization
        here, by output (:func:`~relu_convex.solvers.polish.polish_grelu`'s
        ``factors``): along a regularization path
        :func:`~relu_convex.solvers.polish.predict_grelu` preconditions the next
        point's tangent system with it instead of factoring.

    Returns
    -------
    SolveResult
        ``weights`` is the best iterate (a tensor of ``X``'s dtype and device
        when the problem holds tensors; ``backend`` and ``device`` say which);
        ``lower_bound`` the largest certified
        bound seen; ``history`` has one entry per check; ``info`` has the
        number of forward products, the final step size, the refinement
        attempts (``polishes``), their time (``polish_time``) and estimated
        work (``polish_work``, in flops of products), the groups the
        refinements added (``entered``) and the iterations run in float32
        (``float32_iterations``, included in ``iterations``).

    Raises
    ------
    ValueError, TypeError
        For a bad option value (the message names the option), or ``lam = 0``.
    """
    _check_problem(problem)
    dtype = problem.operator.dtype
    tol, max_iter, time_limit, verbose, check_every, polish, polish_size = check_run_options(
        tol=tol, max_iter=max_iter, time_limit=time_limit, verbose=verbose, check_every=check_every,
        polish=polish, polish_size=polish_size, dtype=dtype)
    mixed_precision = check_optional_flag(mixed_precision, "mixed_precision")
    stop_tol = iteration_tol(tol, dtype)
    F0 = problem.zero_objective  # the scale of relative gaps of near-zero objectives (relative_gap)
    U0 = np.zeros(problem.weight_shape, dtype=dtype) if weights0 is None else problem.check_weights(weights0, "weights0").astype(dtype)

    clock = Deadline(time_limit)
    data = getattr(problem, "array_data", None)  # X's array library when not NumPy (relu_convex.backend)
    if data is None:
        smooth = LeastSquaresPart(problem.operator, problem.y)
    else:
        U0, smooth = data.asarray(U0), ArrayLeastSquaresPart(data.operator, data.y, problem.y)
    lam = problem.lam
    history = History()
    best = {"bound": -np.inf, "theta": None}
    # refinement runs in NumPy on the host, in float64: tensors are copied there and back, and
    # float32 data is refined on float64 copies (the rounded result certified by the exact dual point)
    exact_duals = []  # the float64 dual points of refinements of float32 data
    per_iteration = iteration_work(problem)
    # from a warm start (a nearby solution) the support settles within a few iterations: refine once
    # it has held for warm_patience checks instead of 20 after at least 50 iterations
    patience = first = warm_patience(problem, to_host(U0), per_iteration) if weights0 is not None else None
    if patience is None:
        patience, first = 20, 50
    tracker = _SupportTracker(problem, polish_size, patience=patience, first=first) if polish else None
    done = {"iterations": 0, "forward": 0, "polishes": 0, "polish_time": 0.0, "polish_work": 0.0, "entered": 0,
            "float32": 0}
    # float32 phase: the same iteration on a float32 copy of the data, judged by float64 checks
    low = None
    if uses_mixed_precision(problem, mixed_precision):
        op32 = MaskedOperator(problem.operator.X.astype(np.float32), problem.operator.masks)
        low = {"smooth": LeastSquaresPart(op32, problem.y), "stop": None, "run_best": np.inf}
    point = None  # (weights, products, objective) of the best float64 point over all runs

    def consider(bound: DualBound) -> None:
        if bound.value > best["bound"]:
            best["bound"], best["theta"] = bound.value, bound.theta

    def examine(x32: np.ndarray, iteration: int) -> float:
        """Float64 objective and certified bound at a point of the float32 phase (two float64 products); returns the objective."""
        nonlocal point
        x64 = x32.astype(np.float64)
        ev = smooth.evaluate(smooth.forward(x64))
        done["forward"] += 1
        consider(smooth.lower_bound(ev, lam))
        F = ev.value + lam * group_norm_sum(x64)
        if point is None or F < point[2]:
            point = (x64, ev.products, F)
        history.record(iteration, point[2], best["bound"], 0.0, clock.elapsed(), F0)
        return F

    def refine_ready(progress: Progress, iteration: int) -> bool:
        # refining may take at most a third of the work (a wrong support makes it slow)
        if tracker is None or done["polish_work"] > 0.5 * iteration * per_iteration:
            return False
        return tracker.ready(progress.x, iteration)

    def check_low(progress: Progress) -> bool:
        iteration = done["iterations"] + progress.iteration
        if progress.iteration == 1 or progress.iteration % MIXED_CHECK_EVERY == 0:
            F = examine(progress.x, iteration)
            rel = relative_gap(point[2], best["bound"], F0)
            if verbose:
                print(f"fista {iteration:6d}  float32 iterate: objective {F:.10e}  "
                      f"bound {best['bound']:.10e}  rel gap {rel:.2e}  step {progress.step:.2e}")
            previous, low["run_best"] = low["run_best"], min(low["run_best"], F)
            if rel <= tol:
                low["stop"] = "certified"
            elif rel <= MIXED_SWITCH_GAP:
                low["stop"] = "floor"
            elif progress.iteration > 1 and previous - low["run_best"] <= MIXED_STALL * abs(low["run_best"]):
                low["stop"] = "stall"
            if low["stop"] is not None:
                return True
        if refine_ready(progress, iteration):
            low["stop"] = "support"
            return True
        return False

    def check(progress: Progress) -> bool:
        iteration = done["iterations"] + progress.iteration
        if progress.iteration % check_every:
            return False
        # the momentum point and the previous iterate both give valid dual points
        consider(smooth.lower_bound(progress.at_z, lam))
        if progress.at_x is not None and progress.at_x is not progress.at_z:
            consider(smooth.lower_bound(progress.at_x, lam))
        history.record(iteration, progress.best_objective, best["bound"], 0.0, clock.elapsed(), F0)
        rel = relative_gap(progress.best_objective, best["bound"], F0)
        if verbose and len(history) % 100 == 1:
            print(f"fista {iteration:6d}  objective {progress.best_objective:.10e}  "
                  f"bound {best['bound']:.10e}  rel gap {rel:.2e}  step {progress.step:.2e}")
        if rel <= stop_tol:
            return True
        return refine_ready(progress, iteration)

    x0, P0, step0, momentum = U0, None, None, None
    in_float32 = low is not None
    if in_float32 and weights0 is not None:
        # a warm start is judged in float64 first: one already within MIXED_SWITCH_GAP (a nearby
        # solution) would lose accuracy by rounding to float32, and starts in float64
        examine(U0, 0)
        in_float32 = relative_gap(point[2], best["bound"], F0) > MIXED_SWITCH_GAP
        if not in_float32:
            P0 = point[1]
    if in_float32:
        x0 = U0.astype(np.float32)
    while True:
        if in_float32:
            low["stop"], low["run_best"] = None, np.inf
        run = fista(low["smooth"] if in_float32 else smooth, lam, x0, products0=P0, step0=step0, momentum=momentum,
                    max_iter=max_iter - done["iterations"], deadline=clock.at,
                    callback=check_low if in_float32 else check,
                    restart_tol=MIXED_RESTART_TOL if in_float32 else 1e-14)
        done["iterations"] += run.iterations
        done["forward"] += run.forward_products
        if in_float32:
            done["float32"] += run.iterations
            if low["stop"] != "certified":
                examine(run.x, done["iterations"])  # the best float32 iterate, judged in float64
        elif point is None or run.objective < point[2]:
            point = (run.x, run.products, run.objective)
        if run.reason != "callback" or relative_gap(point[2], best["bound"], F0) <= tol:
            reason = run.reason
            break
        if in_float32 and low["stop"] in ("floor", "stall"):
            # float32 has done what it can: go on in float64 from the best point, momentum restarted
            in_float32 = False
            x0, P0, step0, momentum = point[0], point[1], run.step, None
            continue
        # the support settled: Newton-refine on it, certify, and go on from the better point
        started = clock.elapsed()
        before = point
        # the attempt's share of the work: after it, refining has cost at most half the work of
        # the iterations, or ATTEMPT_WORK, or from a warm start the first time WARM_ATTEMPT_STEPS Newton
        # steps (at least one Newton step per output; within the time limit)
        budget = max(0.5 * done["iterations"] * per_iteration - done["polish_work"], ATTEMPT_WORK)
        start = to_host(point[0])
        if weights0 is not None and done["polishes"] == 0:
            budget = max(budget, WARM_ATTEMPT_STEPS * _step_work(problem, start)
                         + _step_work(problem, start, setup=True))
        stats = {"steps": 0, "work": 0.0}
        refined = polish_grelu(problem, start, max_size=polish_size, deadline=clock.at, stats=stats, tol=stop_tol,
                               max_work=budget, factors=factors)
        done["polishes"] += 1
        done["entered"] += stats.get("entered", 0)
        if refined is not None:
            exact = None
            if dtype != np.float64:
                # the float64 refined point's own dual point, evaluated in float64: rounding the weights
                # to float32 moves theirs enough to leave gaps near 1e-4 at lam = 1e-3
                exact = float64_bound(problem, refined)
                consider(exact)
                exact_duals.append(exact.theta)
                refined = refined.astype(dtype)
            if data is not None:
                refined = data.asarray(refined)
            ev = smooth.evaluate(smooth.forward(refined))
            own = smooth.lower_bound(ev, lam)
            consider(own)
            F = ev.value + lam * ops_for(refined).group_norm_sum(refined)
            certified = relative_gap(F, own.value, F0) <= tol
            if exact is not None:  # the rounded weights' objective in float64, against the exact bound
                certified = certified or relative_gap(problem.objective(to_host(refined)), exact.value, F0) <= tol
            # a refined point certified by its own bound is returned even when an iterate's objective
            # is a little lower, so that the weights' own certificate says what the status says
            if F < point[2] or certified:
                point = (refined, ev.products, F)
        tracker.backoff(done["iterations"], stats["work"] / max(stats["steps"], 1), per_iteration)
        done["polish_time"] += clock.elapsed() - started
        done["polish_work"] += stats["work"]
        history.record(done["iterations"], point[2], best["bound"], 0.0, clock.elapsed(), F0)
        if relative_gap(point[2], best["bound"], F0) <= tol or done["iterations"] >= max_iter or clock.passed():
            reason = "callback" if relative_gap(point[2], best["bound"], F0) <= tol else (
                "max_iter" if done["iterations"] >= max_iter else "time_limit")
            break
        step0 = run.step
        if in_float32 and relative_gap(point[2], best["bound"], F0) > MIXED_SWITCH_GAP:
            # stay in float32: continue the run's momentum, or restart at the refined point
            if point is before:
                x0, P0, momentum = run.last_x, run.last_products, run.momentum
            else:
                x0, P0, momentum = point[0].astype(np.float32), None, None
        elif in_float32:
            # the refinement brought the gap below what float32 iterations improve: float64 from here
            in_float32 = False
            x0, P0, momentum = point[0], point[1], None
        elif point[0] is run.x:
            # continue from the last iterate's momentum when it is still the best point, else restart there
            x0, P0, momentum = run.last_x, run.last_products, run.momentum
        else:
            x0, P0, momentum = point[0], point[1], None
    x, products, iterations = point[0], point[1], done["iterations"]

    # final certificate at the returned point (two products); keep the best valid bound
    objective = problem.objective(x)
    if dtype == np.float64:
        consider(smooth.lower_bound(smooth.evaluate(products), lam))
    else:
        # float32 products round at ~1e-7 relative, enough to overstate a bound: the
        # reported one is recomputed in float64 at the returned weights
        bound = float64_bound(problem, x, best["theta"], *exact_duals)
        best["bound"], best["theta"] = bound.value, bound.theta
    lower = float(best["bound"])
    rel = relative_gap(objective, lower, F0)
    elapsed = clock.elapsed()
    history.record(iterations, objective, lower, 0.0, elapsed, F0)
    if rel <= tol:
        status, message = SolveStatus.OPTIMAL, f"certified relative gap {rel:.2e} <= tol {tol:.0e}"
    elif reason == "time_limit":
        status, message = SolveStatus.TIME_LIMIT, f"time limit reached; certified relative gap {rel:.2e} > tol {tol:.0e}"
    elif reason == "max_iter":
        status, message = SolveStatus.MAX_ITERATIONS, (
            f"max_iter={max_iter} reached; certified relative gap {rel:.2e} > tol {tol:.0e}"
        )
    else:
        status, message = SolveStatus.INACCURATE, (
            f"the recomputed certificate gives relative gap {rel:.2e} > tol {tol:.0e} (rounding)"
        )
    if verbose:
        print(f"fista: {status.value} after {iterations} iterations, {elapsed:.3g} s; {message}")
    return SolveResult(
        status=status,
        weights=np.asarray(x) if data is None else x,
        objective=objective,
        lower_bound=lower,
        gap=objective - lower,
        relative_gap=rel,
        iterations=iterations,
        solve_time=elapsed,
        solver="fista",
        max_violation=0.0,
        message=message,
        solver_status=reason,
        dual=best["theta"],
        history=history.data,
        info={"forward_products": done["forward"], "step": run.step,
              "polishes": done["polishes"], "polish_time": done["polish_time"], "polish_work": done["polish_work"],
              "entered": done["entered"], "float32_iterations": done["float32"]},
        backend=problem.backend,
        device=problem.device,
    )


def float64_bound(problem, U: np.ndarray, *thetas: np.ndarray | None) -> DualBound:
    r"""Certified bound computed in float64 arithmetic, for problems held in float32.

    Float32 products round at about 1e-7 relative, enough to overstate a bound.
    This evaluates :math:`\theta = (y - \hat y)/n` at ``U`` and the candidate
    ``thetas`` given (e.g. the best one of a float32 run; ``None`` entries are
    skipped) with float64 copies of the data and masks, and returns the best of
    their bounds.
    """
    op = MaskedOperator(np.asarray(problem.X, dtype=np.float64), problem.patterns)
    y = np.asarray(problem.y, dtype=np.float64)
    candidates = [(y - op.forward(np.asarray(to_host(U), dtype=np.float64))) / op.n]
    candidates += [np.asarray(theta, dtype=np.float64) for theta in thetas if theta is not None]
    bounds = [scaled_dual_bound(y, t, np.linalg.norm(op.adjoint(t), axis=-1), problem.lam) for t in candidates]
    return max(bounds, key=lambda b: b.value)


def polish_lower_bound(problem, weights, *, max_iter: int = 200, tol: float = 1e-12,
                       time_limit: float | None = None) -> DualBound:
    r"""A certified lower bound from a short FISTA run warm-started at ``weights``.

    The dual point :math:`\theta = (y - \hat y)/n` of an interior-point solution
    carries the solver's first-order error in the weights into the bound. A few
    proximal-gradient steps from those weights give residuals, and so bounds,
    of far higher accuracy. Any dual point gives a valid bound, so the result
    can be combined with others by taking the maximum.

    Parameters
    ----------
    problem : GatedReLUProblem
    weights : ndarray, shape (p, d) or (c, p, d)
    max_iter : int
        FISTA iterations at most (two matrix products each).
    tol : float
        Stop early when the certified relative gap of the polished point is below this.
    time_limit : float, optional
        Seconds at most.

    Returns
    -------
    DualBound
        ``value`` (the bound), ``theta`` (the dual point), ``scale``.
    """
    result = solve_fista(problem, tol=tol, max_iter=max_iter, weights0=weights, time_limit=time_limit)
    theta = result.dual
    return DualBound(value=float(result.lower_bound), theta=theta, scale=np.ones(()))
