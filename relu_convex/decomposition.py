r"""Cone decompositions: from gated ReLU weights to feasible ReLU weights.

A C-GReLU block :math:`u_i` becomes a pair of C-ReLU blocks through a
decomposition

.. math::

    u_i = v_i - w_i, \qquad v_i, w_i \in K_i = \{u : (2D_i - I) X u \ge 0\},

which keeps every prediction :math:`D_i X u_i` and so the loss; only the
penalty grows, from :math:`\|u_i\|` to :math:`\|v_i\| + \|w_i\|`. Such a pair
exists for every :math:`u_i` exactly when :math:`K_i - K_i = \mathbb{R}^d`, i.e.
when :math:`K_i` has a nonempty interior (patterns of sampled gates always do;
an exact set can hold cells of lower dimension).

Methods (:func:`cone_decompose`):

* ``"fast"``: a minimum-norm correction per block. With
  :math:`B = (2D_i - I)X` and :math:`h = \max(0, -B u)`, the smallest
  :math:`w` with :math:`B w \ge h` gives :math:`w, u + w \in K_i`; the mirror
  problem (smallest :math:`v` with :math:`B v \ge \max(0, Bu)`, :math:`w = v - u`)
  is solved too and the pair with the smaller :math:`\|v\| + \|w\|` is kept.
  Blocks with :math:`\pm u \in K_i` need nothing (:math:`\|v\| + \|w\| = \|u\|`).
* ``"exact"``: :math:`\min \sum_i \|v_i\| + \|w_i\|` subject to the cone
  constraints and :math:`v_i - w_i = u_i`, an SOCP solved through CVXPY.

Approximation bound (:func:`approximation_bound`). The minimum-norm
correction :math:`w` is :math:`B_A^+ h_A` on its active rows :math:`A`
(linearly independent), so

.. math::

    \|w\| \le \frac{\|h_A\|}{\sigma_{\min}(X_A)} \le \frac{\|X_A u\|}{\sigma_{\min}(X_A)}
    \le \kappa(X_A)\,\|u\|,

and the C-ReLU objective of the decomposition is at most
:math:`F_G(U) + 2\lambda \sum_i \kappa_i \|u_i\|`, with :math:`\kappa_i` the
condition number of the rows of :math:`X` active in the correction of block
``i`` (the smaller of the two corrections' values; 0 when no correction is
needed). At a C-GReLU optimum :math:`F_G(U) = d^*`, and this is the bound
:math:`d^* \le p^* \le d^* + 2\lambda \sum_i \kappa_i \|u_i\|` of Mishkin, Sahiner &
Pilanci (2022), with :math:`\kappa_i` computed from the data rows the
correction actually uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .cones import condition_number, has_interior, least_distance
from .errors import SolverFailedError
from .reports import Report

__all__ = ["cone_decompose", "approximation_bound", "ApproximationBound", "repair_feasibility"]

_METHODS = ("fast", "exact")


@dataclass
class _Blocks:
    """Decomposition of one output's weights (internal)."""

    V: np.ndarray
    W: np.ndarray
    kappa: np.ndarray
    failed: list
    status: str | None = None  # status of the exact method's SOCP (None when none was solved)


def _check_problem(problem):
    from .problems import GatedReLUProblem, ReLUProblem

    if not isinstance(problem, (GatedReLUProblem, ReLUProblem)):
        raise TypeError(f"problem must be a GatedReLUProblem or ReLUProblem, got {type(problem).__name__}")
    return problem


def _rows(problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 X, its row norms and the sign matrix S = 2 * patterns - 1 (n, p)."""
    X = np.asarray(problem.X, dtype=np.float64)
    return X, np.linalg.norm(X, axis=1), np.where(problem.patterns, 1.0, -1.0)


def _fast_block(B: np.ndarray, norms: np.ndarray, X: np.ndarray, u: np.ndarray, both: bool = True):
    """Return (v, w, kappa) for one block, or None when no decomposition exists.

    ``both=False`` solves only the correction with the smaller right side.
    """
    z = B @ u
    if not np.any(z < 0):
        return u.copy(), np.zeros_like(u), 0.0
    if not np.any(z > 0):
        return np.zeros_like(u), -u, 0.0
    sides = [(np.maximum(0.0, -z), False), (np.maximum(0.0, z), True)]
    if not both:
        sides = [min(sides, key=lambda side: float(np.linalg.norm(side[0] / np.where(norms > 0, norms, 1.0))))]
    candidates, kappas = [], []
    for h, mirror in sides:
        c, active = least_distance(B, h, norms)
        if c is None:
            continue
        v, w = (c, c - u) if mirror else (u + c, c)
        candidates.append((np.linalg.norm(v) + np.linalg.norm(w), v, w))
        kappas.append(condition_number(X[active]))
    if not candidates:
        return None
    # the cheaper pair satisfies ||v|| + ||w|| <= (1 + 2 kappa_j) ||u|| for both j
    _, v, w = min(candidates, key=lambda t: t[0])
    return v, w, min(kappas)


def _fast(problem, U: np.ndarray) -> _Blocks:
    X, norms, S = _rows(problem)
    V, W = np.zeros_like(U), np.zeros_like(U)
    kappa = np.zeros(U.shape[0])
    failed = []
    for i in np.flatnonzero(np.any(U != 0, axis=1)):
        out = _fast_block(S[:, i, None] * X, norms, X, U[i])
        if out is None:
            failed.append(int(i))
            V[i], kappa[i] = U[i], np.inf
            continue
        V[i], W[i], kappa[i] = out
    return _Blocks(V, W, kappa, failed)


def _exact(problem, U: np.ndarray, solver: str, tol: float) -> _Blocks:
    import cvxpy as cp

    from .solvers.interior_point import _CVXPY_NAMES, _check_installed, _map_status, _solver_options

    fast = _fast(problem, U)
    X, norms, S = _rows(problem)
    idx = np.array([i for i in np.flatnonzero(np.any(U != 0, axis=1)) if i not in fast.failed], dtype=int)
    if idx.size == 0:
        return fast
    _check_installed(solver)
    Ui = U[idx]
    Vv = cp.Variable(Ui.shape, name="V")
    Ww = Vv - Ui
    Si = S[:, idx]
    prob = cp.Problem(
        cp.Minimize(cp.sum(cp.norm(Vv, 2, axis=1)) + cp.sum(cp.norm(Ww, 2, axis=1))),
        [cp.multiply(Si, X @ Vv.T) >= 0, cp.multiply(Si, X @ Ww.T) >= 0],
    )
    try:
        with warnings.catch_warnings():
            # CVXPY warns when a solver stops short of its tolerances; the status (reported by
            # approximation_bound as solver_status) says so instead
            warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            prob.solve(solver=_CVXPY_NAMES[solver], **_solver_options(solver, tol, None, None))
    except cp.error.SolverError as exc:
        raise SolverFailedError(f"cone_decompose(method='exact'): {solver} failed ({exc}); 'fast' needs no solver") from None
    if Vv.value is None:
        raise SolverFailedError(
            f"cone_decompose(method='exact'): {solver} returned status {prob.status!r} without a point; "
            "method='fast' needs no solver"
        )
    # per block, keep the cheaper of the SOCP's pair (made exact and feasible) and the fast one
    V, W = fast.V.copy(), fast.W.copy()
    for j, i in enumerate(idx):
        v = np.asarray(Vv.value[j], dtype=np.float64)
        w = v - U[i]  # v - w = u exactly
        fixed = _common_correction(S[:, i, None] * X, norms, v, w)
        if fixed is None:
            continue
        v, w = fixed
        if np.linalg.norm(v) + np.linalg.norm(w) < np.linalg.norm(V[i]) + np.linalg.norm(W[i]):
            V[i], W[i] = v, w
    return _Blocks(V, W, fast.kappa, fast.failed, _map_status(prob.status, 0, None).value)


def _common_correction(B: np.ndarray, norms: np.ndarray, v: np.ndarray, w: np.ndarray):
    r"""Smallest :math:`c` with :math:`v + c, w + c \in K` (keeps :math:`v - w`); None if impossible."""
    h = np.maximum(-(B @ v), -(B @ w))
    if not np.any(h > 0):
        return v, w
    c, _ = least_distance(B, h, norms)
    if c is None:
        return None
    return v + c, w + c


def _as_outputs(problem, U) -> tuple[np.ndarray, bool]:
    U = problem._check_array(U, "U")
    U = np.asarray(U, dtype=np.float64)
    return (U[None], True) if U.ndim == 2 else (U, False)


def _worst_status(statuses) -> str | None:
    """One status for several SOCP solves: ``None`` if none was solved, else the first that is not optimal."""
    solved = [s for s in statuses if s is not None]
    return next((s for s in solved if s != "optimal"), solved[0] if solved else None)


def _decompose(problem, U, method: str, solver: str, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, str | None]:
    _check_problem(problem)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    U3, single = _as_outputs(problem, U)
    parts = [_fast(problem, Uk) if method == "fast" else _exact(problem, Uk, solver, tol) for Uk in U3]
    V = np.stack([b.V for b in parts])
    W = np.stack([b.W for b in parts])
    kappa = np.stack([b.kappa for b in parts])
    failed = [(k, i) for k, b in enumerate(parts) for i in b.failed]
    status = _worst_status(b.status for b in parts)
    if single:
        return V[0], W[0], kappa[0], [i for _, i in failed], status
    return V, W, kappa, failed, status


def cone_decompose(problem, U, method: str = "fast", *, solver: str = "clarabel", tol: float = 1e-10):
    r"""Split gated weights into C-ReLU weights with the same predictions.

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
        Supplies ``X`` and the patterns.
    U : ndarray, shape (p, d) or (c, p, d)
        Gated weights, row ``i`` is :math:`u_i`.
    method : {"fast", "exact"}
        ``"fast"``: minimum-norm correction per block (NNLS); ``"exact"``:
        minimize :math:`\sum_i \|v_i\| + \|w_i\|` as an SOCP (CVXPY).
    solver : str
        Conic solver for ``"exact"`` (default Clarabel).
    tol : float
        Solver tolerance for ``"exact"``.

    Returns
    -------
    (V, W) : ndarrays of the shape of ``U``
        :math:`v_i - w_i = u_i` and :math:`v_i, w_i \in K_i` (up to rounding).

    Raises
    ------
    ValueError
        If some :math:`u_i` is not in :math:`K_i - K_i` (its cone has an empty
        interior); the message names the blocks.

    Notes
    -----
    With ``"exact"``, each block keeps the cheaper of the SOCP's pair (made
    exact and feasible) and the fast one, so the result is a valid
    decomposition even when the solver stops short of its tolerances. CVXPY's
    warning about such a solve is not shown;
    :func:`approximation_bound` reports the SOCP's status (``solver_status``).
    """
    V, W, _, failed, _ = _decompose(problem, U, method, solver, tol)
    if failed:
        raise ValueError(
            f"U: blocks {failed[:10]} cannot be decomposed: their cones K_i have an empty interior "
            "and u_i is not in K_i - K_i; use approximation_bound(...) for a report"
        )
    return V, W


def repair_feasibility(problem, V, W) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Return C-ReLU weights feasible up to rounding with the same predictions as ``(V, W)``.

    For each violated block, the smallest common shift :math:`c` with
    :math:`v_i + c, w_i + c \in K_i` (which keeps :math:`v_i - w_i`); when that
    shift is not small (above 1e-3 of :math:`\|v_i\| + \|w_i\|`), also the fast
    decomposition of :math:`v_i - w_i`, keeping the cheaper in
    :math:`\|v_i\| + \|w_i\|`. Blocks already feasible are kept. Returns
    ``None`` when some block cannot be repaired (empty-interior cone).

    Parameters
    ----------
    problem : ReLUProblem
    V, W : ndarrays, shape (p, d) or (c, p, d)
    """
    X, norms, S = _rows(problem)
    V = np.asarray(V, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    single = V.ndim == 2
    V3, W3 = (V[None], W[None]) if single else (V, W)
    Vr, Wr = V3.copy(), W3.copy()
    for k in range(V3.shape[0]):
        bad = np.flatnonzero(np.any(S * (X @ V3[k].T) < 0, axis=0) | np.any(S * (X @ W3[k].T) < 0, axis=0))
        for i in bad:
            B = S[:, i, None] * X
            v, w = V3[k, i], W3[k, i]
            options = []
            shifted = _common_correction(B, norms, v, w)
            if shifted is not None:
                options.append(shifted)
            size = np.linalg.norm(v) + np.linalg.norm(w)
            # a small shift (a point feasible up to solver tolerance) is kept; a large
            # one (a far infeasible point) is compared with a fresh decomposition
            if shifted is None or np.linalg.norm(shifted[0] - v) > 1e-3 * size:
                dec = _fast_block(B, norms, X, v - w, both=False)
                if dec is not None:
                    options.append(dec[:2])
            if not options:
                return None
            Vr[k, i], Wr[k, i] = min(options, key=lambda vw: np.linalg.norm(vw[0]) + np.linalg.norm(vw[1]))
    return (Vr[0], Wr[0]) if single else (Vr, Wr)


@dataclass(frozen=True)
class ApproximationBound(Report):
    r"""How well gated weights translate into a ReLU model (cone decomposition).

    Attributes
    ----------
    gated_objective : float
        :math:`F_G(U)`, the C-GReLU objective of the weights (equal to the
        gated optimum :math:`d^*` when ``U`` is optimal).
    gated_lower_bound : float
        Certified lower bound on :math:`d^*` (weak duality); also a lower bound
        on the C-ReLU optimum :math:`p^*` over the same patterns.
    relu_objective : float
        C-ReLU objective of the decomposition: an upper bound on :math:`p^*`
        (the decomposition is feasible up to ``max_violation``).
    relu_lower_bound : float
        Certified lower bound on :math:`p^*` from the C-ReLU dual.
    kappa_bound : float
        :math:`F_G(U) + 2\lambda\sum_i \kappa_i \|u_i\|`, never below ``relu_objective``.
    kappa : ndarray, shape (p,) or (c, p)
        :math:`\kappa_i` per block (0 where no correction is needed, ``inf``
        where the decomposition failed).
    singular_patterns : tuple of int
        Patterns whose cone has an empty interior (:math:`K_i - K_i \ne \mathbb{R}^d`).
    undecomposable : tuple
        Blocks with :math:`u_i \notin K_i - K_i` (pattern index, or
        ``(output, pattern)`` for multi-output weights); the decomposition keeps
        them as :math:`(u_i, 0)`, infeasible.
    max_violation : float
        Cone violation of the decomposition relative to the data scale.
    method : str
    lam : float
    n_patterns : int
    weights : pair of ndarrays
        The decomposition ``(V, W)`` (not in the JSON form unless asked).
    solver_status : str or None
        ``method="exact"``: the status of its SOCP solve (``"optimal"``, or
        ``"inaccurate"`` when the solver stopped short of its tolerances; the
        worst over outputs); ``None`` when no SOCP was solved. An inaccurate
        solve leaves the decomposition exact (:math:`v_i - w_i = u_i`) and
        feasible, and never worse than the fast one, but its
        :math:`\sum_i \|v_i\| + \|w_i\|` may not be the minimum.
    """

    gated_objective: float
    gated_lower_bound: float
    relu_objective: float
    relu_lower_bound: float
    kappa_bound: float
    kappa: np.ndarray
    singular_patterns: tuple
    undecomposable: tuple
    max_violation: float
    method: str
    lam: float
    n_patterns: int
    weights: tuple = field(repr=False, default=())
    solver_status: str | None = None

    _array_fields = ("weights",)

    def __str__(self) -> str:
        lines = [
            f"Cone decomposition ({self.method}), {self.n_patterns} patterns, lam = {self.lam:g}",
            f"  gated objective F_G(U)        {self.gated_objective:.12g}",
            f"  gated optimum d*          >=  {self.gated_lower_bound:.12g}",
            f"  C-ReLU optimum p*         in  [{self.relu_lower_bound:.12g}, {self.relu_objective:.12g}]",
            f"  kappa bound F_G(U) + 2 lam sum kappa_i ||u_i||  =  {self.kappa_bound:.12g}",
            f"  max kappa_i                   {float(np.max(self.kappa, initial=0.0)):.4g}",
            f"  decomposition violation       {self.max_violation:.3e}",
        ]
        if self.solver_status is not None:
            note = "" if self.solver_status == "optimal" else " (the decomposition is exact and feasible; its norm may not be minimal)"
            lines.append(f"  exact SOCP status             {self.solver_status}{note}")
        if self.singular_patterns:
            lines.append(f"  patterns with empty-interior cones: {list(self.singular_patterns)[:20]}")
        if self.undecomposable:
            lines.append(f"  blocks that cannot be decomposed (kept infeasible): {list(self.undecomposable)[:20]}")
        return "\n".join(lines)


def approximation_bound(
    problem, U, *, method: str = "fast", solver: str = "clarabel", tol: float = 1e-10
) -> ApproximationBound:
    r"""Decompose gated weights and report the chain of bounds.

    .. math::

        \text{gated lower bound} \le d^* \le p^* \le F_R(V, W) \le
        F_G(U) + 2\lambda \sum_i \kappa_i \|u_i\|

    where :math:`(V, W)` is the decomposition and :math:`p^*` the C-ReLU
    optimum over the same patterns (the middle inequality because C-GReLU
    relaxes C-ReLU).

    Parameters
    ----------
    problem : GatedReLUProblem or ReLUProblem
        Data, patterns and ``lam``.
    U : ndarray, shape (p, d) or (c, p, d)
        Gated weights, ideally a C-GReLU optimum.
    method : {"fast", "exact"}
    solver, tol :
        For ``method="exact"``.

    Returns
    -------
    ApproximationBound
    """
    from .certificates import certify_weights
    from .problems import GatedReLUProblem, ReLUProblem

    _check_problem(problem)
    data = (problem.X, problem.y, problem.patterns, problem.lam)
    gated = problem if isinstance(problem, GatedReLUProblem) else GatedReLUProblem(*data)
    relu = problem if isinstance(problem, ReLUProblem) else ReLUProblem(*data)
    U = gated.check_weights(U)
    V, W, kappa, failed, status = _decompose(gated, U, method, solver, tol)
    gcert = certify_weights(gated, U)
    rcert = certify_weights(relu, (V, W), repair=False)
    norms = np.linalg.norm(np.asarray(U, dtype=np.float64), axis=-1)
    with np.errstate(invalid="ignore"):
        extra = np.where(norms > 0, kappa * norms, 0.0)
    X, rn, S = _rows(gated)
    singular = tuple(i for i in range(gated.p) if not has_interior(S[:, i, None] * X, rn))
    return ApproximationBound(
        gated_objective=gcert.objective,
        gated_lower_bound=gcert.lower_bound,
        relu_objective=rcert.objective,
        relu_lower_bound=max(rcert.lower_bound, gcert.lower_bound),
        kappa_bound=float(gcert.objective + 2.0 * gated.lam * np.sum(extra)),
        kappa=kappa,
        singular_patterns=singular,
        undecomposable=tuple(failed),
        max_violation=rcert.max_violation,
        method=method,
        lam=gated.lam,
        n_patterns=gated.p,
        weights=(V, W),
        solver_status=status,
    )
