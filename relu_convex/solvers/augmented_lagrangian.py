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
:math:`\rho_0 = L_f / \max_k \|x_k\|^2`, at which the penalty's curvature on
one constraint row, :math:`\rho \|x_k\|^2`, equals the loss's
(:math:`L_f = \|A\|_2^2/n`). After an inner solve that met its tolerance, the
tolerance (0.1 lam at first) tightens tenfold, and the penalty grows tenfold
if the cone violation has not halved since the previous such solve; solves cut
short at that cap change neither, since their violation says little
about the penalty. Nothing needs tuning.

Polishing. A warm start with multipliers that already certify it is returned
with nothing iterated (:func:`_certified_start`; a certified solve hands back the
exchange's certifying multipliers, so a solution restarts certified). Otherwise
polishing comes on a warm start with multipliers (once, after a first inner solve of
at most :data:`WARM_ITERATIONS` iterations, outside the shares), and after each
outer iteration
(within the time shares of :class:`_Refiner`: attempts after inner solves cut
short at the cap come once their share allows twice the last one's time, and
stop at it),
:func:`relu_convex.solvers.polish_relu.polish_relu`
refines the point by Newton's method on its nonzero groups with their tight
cone rows held at zero, exchanging rows and entering groups as an active-set
method would (``exchange=True``, at most :data:`EXCHANGE_ROUNDS` refinements,
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

import time
import weakref

import numpy as np

from ..cones import cone_violation, relative_violation
from ..data import to_host
from ..duality import DualBound, relu_constraint_values, relu_multiplier_bound, scaled_dual_bound
from ..operators import MaskedOperator
from .array_parts import ArrayAugmentedPart
from .options import Deadline, History, check_flag, check_run_options, check_tol
from .polish_relu import polish_relu
from .proximal import ArrayOps, Evaluation, Progress, extrapolate_products, fista, group_norm_sum, ops_for
from .result import BestBound, SolveResult, cone_result, relative_gap

__all__ = ["AugmentedPart", "solve_al"]

_RHO_GROWTH = 10.0  # penalty factor when the violation stalls
_STALL_RATIO = 0.5  # an accurate inner solve must cut the violation by this factor
_INNER_TOL0 = 1e-1  # first inner tolerance on the proximal-gradient residual, relative to lam
_INNER_MAX = 500  # inner iterations between multiplier updates at most, while the cone violation exceeds feas_tol
_INNER_MAX_FEASIBLE = 2000  # the same once it does not (see _inner_cap)
MIN_ATTEMPT_TIME = 0.05
"""Seconds an attempt after a capped inner solve may always take (:class:`_Refiner`); its first refinement runs in any case."""
CAPPED_SHARE = 0.5
"""Share of the iterating time that attempts after capped inner solves may take (:class:`_Refiner`).

On the C-ReLU benchmark (n=1000, d=20, p=100, seeds 0-3, one core) with the
doubling rule of :class:`_Refiner`: 10.8-17.5, 13.0, 11.8 and 11.8 s; 1.0 gave
20.7, 6.3, 14.7 and 13.1 s; 0.1 without the doubling rule (attempts after every
capped solve, cut at the share) 16.6, 25.8, 20.8 and 26.4 s.
"""
POLISH_SHARE = 0.5
"""Share of the iterating time that polishing may take in all (:class:`_Refiner`)."""
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
EXCHANGE_ROUNDS = 160
"""Refinements of one polishing attempt (:func:`relu_convex.solvers.polish_relu.polish_relu`, ``exchange=True``).

On the C-ReLU benchmark (n=1000, d=20, p=100) the attempt after 10929 iterations
took 44 refinements (6.3 s) to settle its rows and groups; with 40 it failed and
the next attempt, after 18591 iterations, succeeded (23.9 s in all against 19.1 s).
Wandering exchanges end earlier, by the stall rule of ``polish_relu``. On
``validation/bench_paths.py --model relu --solver al`` (seeds 0-3) the warm-start
attempts that failed at 80 rounds were still converging: with 160 the four warm
paths took 4047 iterations instead of 8252 (seed 1: 3.72 s against 4.17 s, seed 3:
3.71 s against 4.06 s, `--repeat 2`), the cold ones the same 70960.
"""


class AugmentedPart:
    r"""The smooth part of the augmented Lagrangian for one output, as a :class:`SmoothPart`.

    The point is ``x`` of shape (2p, d): rows ``0..p-1`` are :math:`v_i`, rows
    ``p..2p-1`` are :math:`w_i`. Its products are the cone values
    :math:`C[0]_{:, i} = G_i v_i`, :math:`C[1]_{:, i} = G_i w_i`, shape (2, n, p);
    the predictions follow as :math:`\sum_i D_i (C[0]_{:, i} - C[1]_{:, i})`
    since :math:`D_i (2D_i - I) = D_i`.

    The penalty terms are nonzero only where :math:`a - \rho c > 0`; one
    comparison with :math:`a / \rho` (raised by a few roundings) finds a superset
    of those entries, and the estimates, the penalty value and the Bregman term
    are computed on it with the same roundings as on the full arrays.

    Parameters
    ----------
    op : MaskedOperator
    y : ndarray, shape (n,)
    multipliers : ndarray, shape (2, n, p)
        :math:`a_i` (column ``i`` of ``multipliers[0]``) and :math:`b_i`
        (of ``multipliers[1]``), nonnegative; not modified while the part is
        in use (a new part is built for new multipliers).
    rho : float
        Penalty parameter.
    """

    def __init__(self, op: MaskedOperator, y: np.ndarray, multipliers: np.ndarray, rho: float):
        self.op = op
        self.y = y
        self.n, self.p, self.d = op.n, op.p, op.d
        self.multipliers = multipliers
        self.rho = float(rho)
        dtype = op.dtype
        self._inv_n = dtype.type(1.0 / op.n)
        # masks and signs in the layout of the cone values (C order): the operator may
        # hold them in Fortran order, and mixed layouts make every pass strided (~3x slower)
        self._mask = np.ascontiguousarray(op.mask)
        self._signs = np.ascontiguousarray(op.signs).ravel()
        a = np.asarray(multipliers, dtype=dtype)
        self._flat_multipliers = a.ravel()
        # scratch arrays: fresh large temporaries in every call cost more (page
        # faults, cold cache lines) than the passes over them
        self._H = np.empty((2, op.n, op.p), dtype=dtype)
        self._candidate_scratch(a)
        # predictions of the latest cone values seen, as (weak reference, predictions)
        self._known: list = []

    def _candidate_scratch(self, a: np.ndarray) -> None:
        """The candidate bar and the buffers of :meth:`evaluate` for the multipliers ``a``, shape (2, n, p)."""
        dtype = a.dtype
        # candidates for t = a - rho c > 0: c < bar. The bar exceeds a / rho by a few
        # roundings, so every entry with fl(a - fl(rho c)) > 0 is a candidate
        # (a superset: the estimates are computed exactly on it)
        finfo = np.finfo(dtype)
        bar = a / dtype.type(self.rho)
        bar *= dtype.type(1.0 + 8.0 * finfo.eps)
        bar += dtype.type(2.0 * finfo.tiny)
        self._bar = np.where(a > 0, bar, dtype.type(0.0))
        self._candidates = np.empty(a.shape, dtype=bool)
        # the multiplier estimates of the last two evaluations (see ``evaluate``),
        # zero off their supports, and those supports
        self._estimates = np.zeros((2, a.size), dtype=dtype)
        self._supports = [np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)]
        self._turn = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Cone values, shape (2, n, p)."""
        C = np.matmul(self.op.X, x.reshape(2, self.p, self.d).transpose(0, 2, 1))
        C *= self._signs.reshape(self.n, self.p)
        return C

    def predictions(self, C: np.ndarray) -> np.ndarray:
        """:math:`\\sum_i D_i X (v_i - w_i)` from the cone values, shape (n,)."""
        return np.einsum("np,np->n", C[0], self._mask) - np.einsum("np,np->n", C[1], self._mask)

    def extrapolate(self, C: np.ndarray, C_prev: np.ndarray, beta: float) -> np.ndarray:
        """Cone values of the momentum point, :math:`C + \\beta (C - C_{prev})`.

        Their predictions follow by the same formula from those of ``C`` and
        ``C_prev`` when known, saving a masked pass in :meth:`evaluate`.
        """
        Cz = extrapolate_products(C, C_prev, beta)
        pred, pred_prev = self._recall(C), self._recall(C_prev)
        if pred is not None and pred_prev is not None:
            self._remember(Cz, pred + beta * (pred - pred_prev))
        return Cz

    def _recall(self, C: np.ndarray) -> np.ndarray | None:
        for ref, pred in self._known:
            if ref() is C:
                return pred
        return None

    def _remember(self, C: np.ndarray, pred: np.ndarray) -> None:
        self._known = [*self._known[-3:], (weakref.ref(C), pred)]

    def _predictions(self, C: np.ndarray) -> np.ndarray:
        """:meth:`predictions`, recalled when known (the engine never modifies products it was given)."""
        pred = self._recall(C)
        if pred is None:
            pred = self.predictions(C)
            self._remember(C, pred)
        return pred

    def _candidates_of(self, C: np.ndarray) -> np.ndarray:
        """Flat indices of the entries of ``C`` where :math:`a - \\rho c` may be positive (sorted)."""
        np.less(C, self._bar, out=self._candidates)
        return np.flatnonzero(self._candidates)

    def _arguments(self, C: np.ndarray, index: np.ndarray) -> np.ndarray:
        """:math:`t = a - \\rho c` at the flat ``index``, rounded as ``C * -rho + a``."""
        t = np.take(C.reshape(-1), index)
        t *= -self.rho
        t += np.take(self._flat_multipliers, index)
        return t

    def evaluate(self, C: np.ndarray) -> Evaluation:
        """Value and gradient; ``aux`` is ``(residual, multiplier estimates, support)``.

        The estimates :math:`q = (a - \\rho c)_+` are positive only where
        :math:`c < a / \\rho`, a small share of the entries near a solution: they
        are computed on those candidates only (``support``, flat indices) and
        kept in one of two zeroed buffers of the part, taken in turn, so an
        evaluation's ``aux`` stays valid until the second evaluation after it
        (the engine needs only the latest one).
        """
        r = self._predictions(C) - self.y
        support = self._candidates_of(C)
        values = self._arguments(C, support)
        np.maximum(values, 0.0, out=values)  # (a - rho G v)_+, the multiplier estimates
        turn = self._turn
        self._turn ^= 1
        q = self._estimates[turn]
        q[self._supports[turn]] = 0.0
        q[support] = values
        self._supports[turn] = support
        r64 = r.astype(np.float64, copy=False)
        value = 0.5 * float(np.vdot(r64, r64)) / self.n + 0.5 * float(np.vdot(values, values)) / self.rho
        # gradient: -X^T (S_i q_i - D_i r / n) for v, -X^T (S_i q_i + D_i r / n) for w
        # (negated on the small (2, d, p) product rather than on the (2, n, p) factor)
        H = self._H
        np.multiply(self._mask, (r * -self._inv_n)[:, None], out=H[0])
        np.negative(H[0], out=H[1])
        flat = H.reshape(-1)
        flat[support] += values * np.take(self._signs, support, mode="wrap")  # the signs of both halves
        G = np.matmul(self.op.X.T, H)
        np.negative(G, out=G)
        grad = G.transpose(0, 2, 1).reshape(2 * self.p, self.d)
        return Evaluation(value, grad, C, (r, q.reshape(2, self.n, self.p), support))

    def bregman(self, at: Evaluation, C: np.ndarray) -> float:
        r"""Exact :math:`f(x) - f(z) - \langle\nabla f(z), x - z\rangle`, as a sum of nonnegative terms.

        Loss part :math:`\|\Delta\hat y\|^2/(2n)`; penalty part, per entry with
        :math:`t = a - \rho c`, :math:`q = t_+`:
        :math:`((q - q_z)^2 + 2 q_z (q - t))/(2\rho)` (no cancellation), summed
        over the entries where :math:`q` or :math:`q_z` may be positive (the
        others contribute zero).
        """
        r_z, q_z, support_z = at.aux
        dpred = (self._predictions(C) - self.y - r_z).astype(np.float64, copy=False)
        np.less(C, self._bar, out=self._candidates)
        self._candidates.reshape(-1)[support_z] = True
        index = np.flatnonzero(self._candidates)
        t = self._arguments(C, index)
        q = np.maximum(t, 0.0)
        qz = np.take(q_z.reshape(-1), index)
        neg = np.subtract(q, t, out=t)  # (-t)_+
        cross = float(np.vdot(qz, neg))
        q -= qz
        pen = float(np.vdot(q, q)) + 2.0 * cross
        return 0.5 * float(np.vdot(dpred, dpred)) / self.n + 0.5 * pen / self.rho

    def constraint_values(self, at: Evaluation) -> np.ndarray:
        """Valid C-ReLU dual constraint values at :math:`\\theta = -r/n` with the multipliers of ``at``."""
        norms = np.linalg.norm(at.grad, axis=-1)
        return np.maximum(norms[: self.p], norms[self.p :])

    def lower_bound(self, at: Evaluation, lam: float) -> DualBound:
        """Certified lower bound from the evaluation ``at`` (any point, any nonnegative multipliers)."""
        return scaled_dual_bound(self.y, -at.aux[0] * self._inv_n, self.constraint_values(at), lam)


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


def _initial_rho(op: MaskedOperator) -> float:
    r"""The penalty whose curvature on one constraint row, :math:`\rho \|x_k\|^2`, equals the loss's.

    The loss curvature is :math:`L_f = \|A\|_2^2 / n` (ten power iterations),
    so :math:`\rho_0 = L_f / \max_k \|x_k\|^2`.
    """
    X = op.X.astype(np.float64, copy=False)
    row_norm2 = float(np.max(np.einsum("nd,nd->n", X, X)))
    a_norm2 = op.norm_squared(iters=10)
    if row_norm2 <= 0.0 or a_norm2 <= 0.0:
        return 1.0
    return a_norm2 / op.n / row_norm2


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


def _solve_output(op, y, lam, run: _OutputRun, *, rho, tol, feas_tol, max_iter, clock, check_every,
                  history: History, output: int, verbose: bool, make_part=None, polish=None) -> _OutputRun:
    """Outer augmented Lagrangian loop for one output (updates and returns ``run``).

    ``op`` is the host (NumPy) operator and ``y`` the host targets;
    ``make_part(y, multipliers, rho)`` builds the smooth part (default: the
    NumPy :class:`AugmentedPart` on ``op``; an :class:`ArrayAugmentedPart` for
    tensors, ``run`` then holds tensors). ``polish`` is a :class:`_Refiner` or None.
    """
    if make_part is None:
        make_part = lambda y, m, rho: AugmentedPart(op, y, m, rho)  # noqa: E731
    row_scale = float(np.sqrt(np.max(np.einsum("nd,nd->n", op.X, op.X))))
    target_scale = float(np.max(np.abs(y), initial=0.0))
    ops = ops_for(run.x)
    inner_tol = _INNER_TOL0
    scale = lam if lam > 0 else 1.0
    step, momentum = None, None
    last_violation = np.inf
    violation = np.inf  # of the latest multiplier update
    # a warm start with multipliers (a nearby solution) is polished after a short first inner
    # solve and its multiplier update (see WARM_ITERATIONS), unless it is certified as it is
    warm = polish is not None and run.iterations == 0 and bool(np.any(run.multipliers > 0))
    if warm and _certified_start(op, y, lam, run, tol, feas_tol, row_scale, target_scale):
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
            history.record(base + progress.iteration, objective, run.bound, violation, clock.elapsed())
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
        if converged:
            # penalty schedule: raise rho when an accurate inner solve did not halve the violation
            if violation > feas_tol and violation > _STALL_RATIO * last_violation:
                rho *= _RHO_GROWTH
            last_violation = violation
            inner_tol = max(inner_tol * 0.1, 0.1 * tol)
    else:
        run.reason = "time_limit" if clock.passed() else "max_iter"
    return run


class _Refiner:
    """Active-set Newton refinement between outer iterations (NumPy float64 problems).

    Attempts come on a warm start with multipliers (after its first inner solve), after an
    outer iteration whose inner solve met its tolerance, and after one cut short at
    the inner cap; each within a share of the time spent iterating. All polishing
    takes at most :data:`POLISH_SHARE` of it; attempts after capped solves, whose
    points are often still far from the optimum (where an exchange fails, after up
    to seconds of rounds on the benchmark instance), take at most
    :data:`CAPPED_SHARE` of it in all and stop starting rounds once they would take
    more (or :data:`MIN_ATTEMPT_TIME`, whichever is longer). Such an attempt starts
    only once its share allows twice the time the last one took (at least
    :data:`MIN_ATTEMPT_TIME`): an exchange that settles needs 30 to 150 rounds, and
    attempts cut after a few rounds each, one after every capped solve, never
    settled (the time they take doubles, so all of them take at most about twice
    the last). Capped solves are the
    rule on some problems (the penalty is then never raised, and only exchange
    finishes them), so they cannot be skipped.
    A refined point replaces the iterate only when it is feasible to ``feas_tol``
    and certified to ``tol``, by the exchange's own multipliers or else the exact
    (NNLS) ones; its bound is kept in any case (every bound is valid).

    The attempt on a warm start (``warm=True``) is made once, after the first
    inner solve (:data:`WARM_ITERATIONS`), and is not charged to the shares:
    charged, a failed one held back
    the attempts that end the solve from a cold start. On
    ``validation/bench_paths.py --model relu --solver al`` the warm attempt at
    lam = 0.044 failed after 0.29 s, the next attempt waited for 0.58 s of
    iterating, and the point took 5592 iterations and 1.5 s against 400
    iterations and 0.23 s cold.
    """

    def __init__(self, max_size: int):
        self.max_size, self.time, self.capped_time, self.warm_time, self.attempts = max_size, 0.0, 0.0, 0.0, 0
        self.last_capped = 0.0  # seconds the latest attempt after a capped solve took

    def _iterating(self, clock: Deadline) -> float:
        """Seconds of the solve not spent polishing."""
        return clock.elapsed() - self.time

    def ready(self, clock: Deadline, capped: bool = False) -> bool:
        iterating = self._iterating(clock)
        if capped and CAPPED_SHARE * iterating - self.capped_time < max(MIN_ATTEMPT_TIME, 2.0 * self.last_capped):
            return False
        return self.time - self.warm_time <= POLISH_SHARE * iterating

    def attempt(self, op, y, lam, run: _OutputRun, clock: Deadline, tol: float, feas_tol: float,
                capped: bool = False, warm: bool = False) -> bool:
        started = clock.elapsed()
        self.attempts += 1
        deadline = clock.at
        if capped:
            share = max(CAPPED_SHARE * self._iterating(clock) - self.capped_time, MIN_ATTEMPT_TIME)
            cut = time.perf_counter() + share
            deadline = cut if deadline is None else min(cut, deadline)
        try:
            stats = {}
            out = polish_relu(op, y, lam, run.x, run.multipliers, max_size=self.max_size, exchange=True,
                              rounds=EXCHANGE_ROUNDS, deadline=deadline, stats=stats)
            if out is None:
                return False
            refined, violation = out
            if "multipliers" not in stats:
                return False  # the exchange did not settle: the point is not the restricted optimum
            theta = _dual_point(op, y, refined)
            objective = _objective(op, y, lam, refined, theta)
            # the exchange's own multipliers, exact at a settled point: no NNLS over all patterns
            certifying = stats["multipliers"]
            bound = _point_bound(op, y, lam, refined, certifying, nnls=False, theta=theta)
            if relative_gap(objective, bound.value) > tol:
                certifying = None
                bound = _point_bound(op, y, lam, refined, run.multipliers, nnls=True, theta=theta)
            run.consider(bound)
            if violation <= feas_tol and relative_gap(objective, bound.value) <= tol:
                # the loop ends here: no products of the refined point are needed; the multipliers
                # handed back are those that certify it (a warm start from it is certified as it is)
                run.x, run.products, run.done, run.reason = refined.astype(op.dtype), None, True, "converged"
                if certifying is not None:
                    run.multipliers = certifying
                return True
            return False
        finally:
            spent = clock.elapsed() - started
            self.time += spent
            if capped:
                self.capped_time += spent
                self.last_capped = spent
            if warm:
                self.warm_time += spent


def _certified_start(op: MaskedOperator, y: np.ndarray, lam: float, run: _OutputRun, tol: float, feas_tol: float,
                     row_scale: float, target_scale: float) -> bool:
    """Whether a warm start (NumPy float64) is feasible to ``feas_tol`` and certified to ``tol`` by its own multipliers.

    Then ``run`` is marked done with nothing iterated: a solution handed back with its
    ``info["multipliers"]`` (the same problem solved again, an estimator refitted) costs
    one product and one bound, instead of a first inner solve and a polishing attempt
    (66 iterations and 0.16 s on a problem with n = 300, p = 50, against 1.8 ms). Its
    bound is kept in any case.
    """
    x = np.asarray(run.x, dtype=np.float64)
    violation = cone_violation(op.cone(x.reshape(2, op.p, -1)), x, row_scale, target_scale)
    theta = _dual_point(op, y, x)
    bound = _point_bound(op, y, lam, x, run.multipliers, nnls=False, theta=theta)
    run.consider(bound)
    if violation > feas_tol or relative_gap(_objective(op, y, lam, x, theta), bound.value) > tol:
        return False
    run.done, run.reason = True, "converged"
    return True


def _dual_point(op: MaskedOperator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:math:`\\theta = (y - \\hat y)/n` at the point ``x`` (2p, d), in the operator's dtype (one forward product)."""
    p = op.p
    x = np.asarray(x, dtype=op.dtype)
    return (np.asarray(y, dtype=op.dtype) - op.forward(x[:p] - x[p:])) / op.n


def _point_bound(op: MaskedOperator, y: np.ndarray, lam: float, x: np.ndarray, multipliers: np.ndarray,
                 nnls: bool, theta: np.ndarray | None = None) -> DualBound:
    """The bound at :math:`\\theta = (y - \\hat y)/n` with the AL multipliers (and, if asked, the NNLS ones).

    ``theta``: that of ``x`` (:func:`_dual_point`) when already computed.
    """
    theta = _dual_point(op, y, x) if theta is None else theta
    return relu_multiplier_bound(op, y, theta, (multipliers[0], multipliers[1]), lam, nnls=nnls)


def solve_al(
    problem,
    *,
    tol: float = 1e-6,
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
    tol : float
        Certified relative gap required for ``optimal`` (default 1e-6).
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
        method (default True; float64 NumPy problems only; see
        :func:`relu_convex.solvers.polish_relu.polish_relu`). A refined point is
        returned only if it is feasible to ``feas_tol`` and certified to ``tol``
        (with the exchange's own cone multipliers, or else the exact NNLS ones).
        A warm start with ``multipliers0`` is refined after a first inner solve
        of at most :data:`WARM_ITERATIONS` iterations; apart from that attempt,
        refining takes at most about a third of the run time.
    polish_size : int
        Largest restricted problem refined, in free variables per output (default 1500).
    penalty0 : float or sequence of float, optional
        First penalty parameter (one per output for targets (n, c)), e.g.
        ``result.info["penalty"]`` of a solve at a nearby ``lam`` together with
        its multipliers; by default :math:`\rho_0 = L_f / \max_k \|x_k\|^2`.
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
        ``"numpy"`` or ``"array"`` for tensors); ``history`` has an ``output``
        column for multi-output targets.

    Raises
    ------
    ValueError, TypeError
        For a bad option value (the message names the option).
    ImportError
        For ``kernels="numba"`` when numba is not installed (the message names
        ``pip install 'relu-convex[numba]'``).
    """
    _check_problem(problem)
    tol, max_iter, time_limit, verbose, check_every, polish, polish_size = check_run_options(
        tol=tol, max_iter=max_iter, time_limit=time_limit, verbose=verbose, check_every=check_every,
        polish=polish, polish_size=polish_size)
    feas_tol = check_tol(feas_tol, "feas_tol")
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
        V0, W0 = (w.astype(dtype) for w in problem.check_weights(weights0))

    clock = Deadline(time_limit)
    history = History()
    history.data["output"] = []
    rho0 = _check_penalty0(penalty0, problem.y.shape[1] if problem.y.ndim == 2 else 1)
    if rho0 is None:
        rho0 = [_initial_rho(op)] * (problem.y.shape[1] if problem.y.ndim == 2 else 1)
    refiner = _Refiner(polish_size) if polish and data is None and dtype == np.float64 else None
    op64 = None if dtype == np.float64 else MaskedOperator(np.asarray(problem.X, dtype=np.float64), problem.patterns)
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
    # the outputs are solved one after another, each within an equal share of the time
    # left; with a time limit, a second sweep gives what the finished outputs left over
    # to those that ran out of time (they go on from where they stopped)
    for sweep in range(2 if time_limit is not None and n_out > 1 else 1):
        pending = [k for k, (_, run, _) in enumerate(tasks) if sweep == 0 or run.reason == "time_limit"]
        for j, k in enumerate(pending):
            yk, run, make_part = tasks[k]
            rho = rho0[k] if sweep == 0 or not np.isfinite(run.rho) else run.rho
            _solve_output(op, yk, lam, run, rho=rho, tol=tol, feas_tol=feas_tol, max_iter=max_iter,
                          clock=clock.share(len(pending) - j), check_every=check_every, history=history,
                          output=k, verbose=verbose, make_part=make_part, polish=refiner)
    runs = []
    for yk, run, _ in tasks:
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
            if use_nnls and run.theta is not None:  # the run's best dual point, exact values in float64
                theta = np.asarray(run.theta, dtype=np.float64)
                other = scaled_dual_bound(y64, theta, relu_constraint_values(op64, theta, None), lam)
                bound = other if other.value > bound.value else bound
            run.bound, run.theta = bound.value, bound.theta
        runs.append(run)

    weights = _combine([_split(r.x, problem.p) for r in runs], multi, stack)
    return cone_result(
        problem, weights, runs, solver="al", clock=clock, history=history, tol=tol, feas_tol=feas_tol,
        max_iter=max_iter, otherwise="the recomputed certificate misses the tolerances (rounding)",
        multipliers=([r.multipliers[0] for r in runs], [r.multipliers[1] for r in runs]), verbose=verbose, stack=stack,
        info={
            "outer_iterations": [r.outer for r in runs] if multi else runs[0].outer,
            "penalty": [r.rho for r in runs] if multi else runs[0].rho,
            "polishes": 0 if refiner is None else refiner.attempts,
            "polish_time": 0.0 if refiner is None else refiner.time,
            "kernels": "array" if data is not None else ("numpy" if numpy_part is AugmentedPart else "numba"),
        },
    )


def _objective(op: MaskedOperator, y: np.ndarray, lam: float, x: np.ndarray, theta: np.ndarray | None = None) -> float:
    """The C-ReLU objective at ``x`` (2p, d); from its :func:`_dual_point` ``theta`` when given (no product)."""
    if theta is not None:
        t = np.asarray(theta, dtype=np.float64)
        return 0.5 * op.n * float(np.vdot(t, t)) + lam * group_norm_sum(x)
    p = op.p
    r = (op.forward(x[:p] - x[p:]) - y).astype(np.float64, copy=False)
    return 0.5 * float(np.vdot(r, r)) / op.n + lam * group_norm_sum(x)


def _split(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    return x[:p], x[p:]


def _combine(pairs: list[tuple[np.ndarray, np.ndarray]], multi: bool, stack=np.stack):
    if not multi:
        return pairs[0]
    return stack([v for v, _ in pairs]), stack([w for _, w in pairs])
