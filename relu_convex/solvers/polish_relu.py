r"""Polishing C-ReLU points: Newton refinement on active groups with their tight cone rows held.

:func:`polish_relu` refines one output of a C-ReLU point on its active groups,
each restricted to the null space of its tight cone rows, with
:func:`relu_convex.solvers.newton.refine_group_lasso`; with ``exchange`` the
tight sets and the groups change as in an active-set method
(:func:`_exchange_rows`, :class:`_TightRows`, :func:`_entering_relu_groups`).
The result is a candidate that the caller certifies over all groups and rows.
Its users are the augmented Lagrangian (``"al"``,
:mod:`relu_convex.solvers.augmented_lagrangian`) and the interior-point solver
(``"ipm"``, :mod:`relu_convex.solvers.interior_point_relu`).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg.lapack import dgeqrf

from ..cones import cone_violation
from ..cones import row_scale as cone_row_scale
from ..duality import relu_cone_multipliers
from .newton import refine_group_lasso
from .newton_systems import _masked_adjoint, _masked_forward

__all__ = ["polish_relu"]


def polish_relu(op, y: np.ndarray, lam: float, x: np.ndarray, multipliers: np.ndarray, *,
                max_size: int = 1500, max_steps: int = 30, rounds: int = 3,
                tight_tol: float = 1e-6, exchange: bool = False, stall_rounds: int = 40,
                deadline: float | None = None, stats: dict | None = None) -> tuple[np.ndarray, float] | None:
    r"""Newton-refine one output of C-ReLU on its active groups and tight cone rows.

    On an active group the rows of :math:`G_i = (2D_i - I)X` that are tight
    (positive multiplier estimate, or value at most ``tight_tol`` times
    :math:`\max_k\|x_k\|\,\|v_i\|`) are held at zero by
    writing :math:`v_i = N_i z_i` with :math:`N_i` an orthonormal basis of their
    null space; since :math:`\|N_i z_i\| = \|z_i\|` the restriction is a group
    lasso in :math:`z` with blocks :math:`\pm D_i X N_i`, refined by
    :func:`refine_group_lasso`. Rows that the refined point violates join the
    tight set and the refinement is repeated (at most ``rounds`` times).

    With ``exchange`` the tight sets are those of an active-set method. A
    nonzero :math:`v_i` has at most :math:`d - 1` linearly independent tight
    rows, so each set starts from at most that many candidates (largest
    multiplier estimate first, then smallest value), skipping rows that do not
    raise its rank. After each refinement the rows' own multipliers follow from
    the group's stationarity condition,
    :math:`G_{T_i}^\top \mu = \nabla_{v_i} f + \lambda v_i/\|v_i\|` (least
    squares; exact at the restricted minimizer), and each group changes its set
    once (:func:`_exchange_rows`): its most violated row enters (a full set first
    gives up a row whose removal frees a direction the entering row accepts, of
    those the one of smallest multiplier), or else the row of the most negative
    multiplier leaves. One row enters at a time: with every violated row entering
    at once (the most violated first, up to the rank), sets overshot, gained rows
    that later left again, and groups pinned at zero dropped out; on the C-ReLU
    benchmark of ``validation/bench_fast_solvers.py`` (n=1000, d=20, p=100, seed 0)
    the exchange settled from none of the augmented Lagrangian's states before
    10929 iterations (tested every 500), where with one row it settles from 13 of
    those 22 states, after 500, 1500, 3000, 3500, 5500, 6000 and from 7500 on
    (0.9-3.3 s from the earlier ones, 0.6-1.3 s from 7500 on); on seed 1 (tested
    every 2000 iterations and at 15809) from those after 2000, 6000 and from 8000
    on, against none of them. When a round changes no set, every kept group
    satisfies its KKT conditions; the zero groups whose dual constraint is then
    violated (exact NNLS multipliers) enter (:func:`_entering_relu_groups`), and a
    round that changes nothing at all ends the refinement. This finds the tight rows
    from a first-order point whose multiplier estimates still mark a few hundred
    rows wrongly (the augmented Lagrangian's), where holding every candidate row
    pins groups at zero.

    Groups. A group that a refinement sets to zero is tested at once in the same
    way and re-enters if its dual constraint is violated (once until the next
    entry), instead of waiting for the sets to settle: on
    ``validation/bench_paths.py --model relu --solver al`` over seeds 0-3 the warm
    paths took 3206 rounds against 3562 and the cold ones 1459 against 1957 (from
    the al states of the C-ReLU benchmark it settled from 10929 iterations on, against
    10000 without). Groups entering together
    start at 1/k of their own steps (:func:`_entering_relu_groups`). When groups
    enter a support they entered before with the same tight rows (the refinement
    dropped them again), they enter free of rows the second time, and the third
    time the point before the entry is returned as settled, for the caller's
    certificate to judge. On the same paths, seeds 0-2, 7 of the 57 warm-start
    attempts with rounds failed, 3 of them in such cycles, while groups entering
    together entered at their full own steps (they overshot, and the refinement's
    zero tests dropped them); with 1/k, 2 failed, both at the round limit.

    Cycles of rows. Once the sets come back to those of an earlier round since the
    last entry (a row with a slightly negative multiplier leaves, the next
    refinement violates it, it enters again: on the same path such a cycle of four
    rounds ran until the stall rule below ended the attempt), every refinement from a
    feasible point that violates rows is cut back to the first row the segment
    meets (:func:`_blocked_step`), which then enters alone: the primal active-set
    step, along which the objective does not rise. From then on, until the next
    entry of groups, rows only enter a set that a row leaves (from an infeasible point
    as well: on seed 1 of that path a cycle of eight rounds from infeasible points
    ran until the stall rule ended the warm attempt at lam = 7.2e-4, and the point
    took 2600 more iterations; with it the attempt succeeds, and the cold paths of
    seeds 0-3 take the same iterations).

    Giving up. From a point too far from the optimum the exchange wanders
    instead (every round changes the sets of a third of the groups, groups drop out one
    by one, the objective rises): it stops once ``stall_rounds`` rounds in a row have
    not brought the number of groups whose set changed below its smallest value since
    the start or the last entry of groups. On the C-ReLU benchmark instance of
    ``validation/bench_fast_solvers.py`` the converging exchanges reached a new
    smallest number every 1 to 5 rounds in the traces examined (27 rounds from 121
    changed sets to none) and the wandering ones held at about 100 for 80 rounds;
    with ``stall_rounds=5`` the attempt that certifies that instance after 10929
    iterations gave up. With one entering row per round the count falls less
    steadily (it rose from 8 to 30-60 and fell again on the way to none), and with
    20 rounds the exchanges from the states after 8000 and 15809 iterations of
    seed 1 gave up, hence the default of 40.

    Parameters
    ----------
    op : MaskedOperator
        The data and patterns (float64).
    y : ndarray, shape (n,)
    lam : float
    x : ndarray, shape (2p, d)
        Rows ``0..p-1`` are :math:`v_i`, rows ``p..2p-1`` are :math:`w_i`.
    multipliers : ndarray, shape (2, n, p)
        Nonnegative estimates of the cone multipliers (their support marks tight rows).
    max_size : int
        Largest restricted problem (free variables) refined.
    max_steps, rounds : int
    tight_tol : float
    exchange : bool
        Exchange tight rows between rounds as above (otherwise rows only join).
    stall_rounds : int
        With ``exchange``, rounds without a new smallest number of changed sets before
        the refinement gives up (see above).
    deadline : float, optional
        A :func:`time.perf_counter` time after which no further round starts.
    stats : dict, optional
        With ``exchange``, when the sets settled (the last round changed nothing, or the
        groups that would enter entered the same sets before: the entry cycle above), receives
        ``"multipliers"``: cone multipliers for the returned point, shape (2, n, p), the
        clipped least-squares ones of the kept groups' tight rows and the NNLS ones of the
        zero groups whose :math:`\|X^\top D_i\theta\|` exceeds :math:`\lambda` (zero elsewhere).
        Any nonnegative multipliers give a valid bound; these make the returned point's
        constraint values exact up to the least-squares residuals, so its certificate
        needs no NNLS over all patterns.

    Returns
    -------
    (ndarray, float) or None
        The refined point, shape (2p, d), float64, and its relative cone violation
        (:func:`relu_convex.cones.relative_violation` with the scale of ``y``, at most
        1e-12); None when too large or still infeasible after ``rounds`` (with
        ``exchange``, a feasible last point is returned even if its sets were still changing).
    """
    X = np.asarray(op.X, dtype=np.float64)
    signs = np.asarray(op.signs, dtype=np.float64)
    masks = op.masks
    p, d = op.p, op.d
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    multipliers = np.maximum(np.asarray(multipliers, dtype=np.float64), 0.0)

    def cone_values(point: np.ndarray) -> np.ndarray:
        return np.matmul(X, point.reshape(2, p, d).transpose(0, 2, 1)) * signs

    C = cone_values(x)
    row_scale = cone_row_scale(X)

    def below(point: np.ndarray, values: np.ndarray) -> np.ndarray:
        # the cone rows of a point (values: its cone values) that it violates beyond rounding
        return values < -1e-12 * row_scale * float(np.max(np.linalg.norm(point, axis=-1), initial=0.0))

    group_scale = row_scale * np.linalg.norm(x, axis=-1).reshape(2, 1, p)
    feasible = not np.any(below(x, C))  # whether the current point x satisfies every cone row
    candidates = (C <= tight_tol * group_scale) | (multipliers > 0.0)
    active = [(int(k >= p), int(k % p)) for k in np.flatnonzero(np.any(x != 0.0, axis=1))]
    tight = {}
    for s, i in active:
        rows = np.flatnonzero(candidates[s, :, i])
        if exchange:
            rows = rows[np.lexsort((C[s, rows, i], -multipliers[s, rows, i]))]
            rows = _independent_cone_rows(X, signs, rows, i)
        tight[s, i] = [int(k) for k in rows]
    refined = None
    history = _ExchangeHistory(stall_rounds)
    for round_ in range(rounds):
        if round_ and deadline is not None and time.perf_counter() > deadline:
            break
        cycling = exchange and history.visit(tight, active)
        factors = _TightRows(X, signs, tight, active)
        restricted = factors.restricted_problem(X, masks, x, 1e-8 * row_scale)  # groups pinned by their rows are left out
        if restricted is None:
            return None
        B, z0, sizes = restricted
        if z0.size > max_size:
            return None
        out = refine_group_lasso(B, y, lam, z0, sizes, max_steps=max_steps)
        refined = factors.full_point(out.z, 2 * p)
        Cr = cone_values(refined)
        violated = below(refined, Cr)
        blocked = cycling and feasible and np.any(violated)
        if blocked:
            # the sets came back to an earlier state: from the feasible point x (whose sets have only
            # lost rows since) stop at the first row the segment to the refined point meets, and
            # hold that row (a primal active-set step: the objective, convex along the segment, does
            # not rise, so the sets do not come back again)
            refined, Cr, violated = _blocked_step(x, C, refined, Cr)
        feasible = not np.any(below(refined, Cr))
        if exchange:
            nonzero = np.any(refined != 0.0, axis=1)
            kept = [(s, i) for s, i in active if nonzero[s * p + i]]
            residual = _masked_forward(X, masks, refined[:p] - refined[p:]) - y
            estimates = np.zeros((2, X.shape[0], p))
            changed = _exchange_rows(X, signs, masks, lam, refined.reshape(2, p, d), residual, Cr, violated, tight,
                                     kept, factors, estimates, enter_only=cycling)
            C = Cr
            dropped = set(active) - set(kept) - history.reentered
            active, x = kept, refined
            if dropped:
                # groups the refinement set to zero re-enter at once when their dual constraint is
                # violated (along the steepest descent direction within their cone, with its rows),
                # instead of waiting for the sets to settle; once each until the next entry
                only = np.zeros((2, p), dtype=bool)
                for s, i in dropped:
                    only[s, i] = True
                history.reentered.update(dropped)
                if _entering_relu_groups(op, X, signs, masks, lam, residual, x, tight, active, estimates,
                                         multipliers, only=only):
                    changed += 1
                    C = cone_values(x)
            if changed:
                if history.stalls(changed):
                    break
            elif feasible:
                # every kept group satisfies its KKT conditions: the zero groups whose dual
                # constraint the point violates enter (exact NNLS multipliers)
                before = _sets_key(tight, active)
                settled, count = x.copy(), len(active)
                changed = _entering_relu_groups(op, X, signs, masks, lam, residual, x, tight, active, estimates,
                                                multipliers)
                repeat = history.entry(before, len(active))
                if repeat == "free":
                    # the same groups entered the same support and tight rows before, and the
                    # refinement dropped them again: the rows they entered with (those of their
                    # multipliers at the point before) hold them on a face where they cannot stay;
                    # this time they enter free, and their rows come in through the exchange
                    for g in active[count:]:
                        tight[g] = []
                elif repeat == "cycle":
                    # a cycle all the same: the point before the entry is returned with its
                    # multipliers, for the caller's certificate to judge (it fails unless the
                    # entering groups' violations are below the caller's tolerance)
                    refined = settled
                    if stats is not None:
                        stats["multipliers"] = estimates
                    break
                C = cone_values(x)  # the entered groups moved off zero
            done = not changed
            if done and stats is not None:
                stats["multipliers"] = estimates
        else:
            for s, i in active:
                tight[s, i] = sorted(set(tight[s, i]) | set(np.flatnonzero(violated[s, :, i]).tolist()))
            done = feasible
        if done and feasible:
            break
    # with exchange, a feasible point whose sets were still changing when the rounds ran out is a
    # candidate all the same (without it, feasible is done); its values are recomputed, since
    # groups may have entered it after its refinement
    if refined is None:
        return None
    Cr = cone_values(refined)
    if np.any(below(refined, Cr)):
        return None
    return refined, cone_violation(Cr, refined, row_scale, float(np.max(np.abs(y), initial=0.0)))


def _sets_key(tight: dict, groups: list) -> frozenset:
    """The groups with their tight rows, hashable."""
    return frozenset((g, tuple(tight[g])) for g in groups)


class _ExchangeHistory:
    """What the exchange of :func:`polish_relu` remembers, to stop wandering and to break cycles.

    Since the last entry of groups: the smallest number of sets a round changed and the
    rounds since it last fell (the stall rule), the sets of every round (once they recur,
    refinements become blocked steps), and the groups that re-entered after a refinement
    dropped them (once each). Over the whole refinement: every entry of groups (the
    support with its tight rows before it, the size after it), and which entries came
    a second time (their groups then entered free of rows).
    """

    def __init__(self, stall_rounds: int):
        self.stall_rounds = stall_rounds
        self.entries: set = set()
        self.freed: set = set()
        self._forget()

    def _forget(self) -> None:
        """Start the records kept since the last entry."""
        self.fewest, self.stalled = None, 0
        self.seen: set = set()
        self.cycling = False
        self.reentered: set = set()

    def visit(self, tight: dict, groups: list) -> bool:
        """Record a round's sets; whether the sets of some round recurred since the last entry."""
        key = _sets_key(tight, groups)
        self.cycling = self.cycling or key in self.seen
        self.seen.add(key)
        return self.cycling

    def stalls(self, changed: int) -> bool:
        """Record a round that changed ``changed`` sets; whether ``stall_rounds`` rounds passed without a new smallest count."""
        if self.fewest is None or changed < self.fewest:
            self.fewest, self.stalled = changed, 0
        else:
            self.stalled += 1
        return self.stalled >= self.stall_rounds

    def entry(self, before: frozenset, size: int) -> str:
        """Record an entry of groups into the support ``before`` (:func:`_sets_key`), ``size`` groups after it.

        Returns ``"new"``, ``"free"`` the second time the same entry comes (its groups
        are to enter free of rows), or ``"cycle"`` the third time (nothing is recorded then).
        """
        key = (before, size)
        if key in self.freed:
            return "cycle"
        repeat = "free" if key in self.entries else "new"
        if repeat == "free":
            self.freed.add(key)
        self.entries.add(key)
        self._forget()
        return repeat


def _blocked_step(x: np.ndarray, C: np.ndarray, target: np.ndarray,
                  C_target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The point where the segment from ``x`` to ``target`` first meets a cone row, and the rows it meets there.

    Cone values are linear in the point, so along :math:`x + t(x^\star - x)` they are
    :math:`C + t(C^\star - C)`; a row with :math:`C_k \ge 0 > C^\star_k` is met at
    :math:`t_k = C_k / (C_k - C^\star_k)`, and the step is :math:`t = \min_k t_k`.

    Parameters
    ----------
    x, target : ndarray, shape (2p, d)
        A feasible point and the (infeasible) refined point.
    C, C_target : ndarray, shape (2, n, p)
        Their cone values.

    Returns
    -------
    point : ndarray, shape (2p, d)
    values : ndarray, shape (2, n, p)
        Its cone values (at least zero up to rounding).
    blocking : ndarray of bool, shape (2, n, p)
        The rows met at ``t`` (all those within rounding of it).
    """
    crossing = (C_target < 0.0) & (C >= 0.0)
    ratio = np.where(crossing, np.maximum(C, 0.0) / np.where(crossing, C - C_target, 1.0), np.inf)
    t = float(np.min(ratio, initial=1.0))
    blocking = ratio <= t * (1.0 + 1e-9) + 1e-300
    values = C + t * (C_target - C)
    values[blocking] = np.minimum(values[blocking], 0.0)
    return x + t * (target - x), values, blocking


def _independent_rows(rows: np.ndarray, limit: int, rtol: float = 1e-8) -> np.ndarray:
    r"""Positions of the rows of ``rows`` (t, d), in order, that raise the rank of those before, at most ``limit``.

    Row ``k`` raises the rank when its distance to the span of the rows kept before it
    exceeds ``rtol`` times its norm. While every row raises it, that distance is
    :math:`|R_{kk}|` of the QR factorization of the first :math:`\min(t, d)` rows (one
    LAPACK call, a few microseconds, against 50-120 for the loop on the calls of
    ``polish_relu``); from the first row that does not, Gram-Schmidt against the kept
    rows decides, one row at a time.
    """
    t, d = rows.shape
    limit = min(limit, d)
    if limit <= 0 or t == 0:
        return np.zeros(0, dtype=np.intp)
    sizes = np.sqrt(np.einsum("td,td->t", rows, rows))
    head = min(t, d)
    R = dgeqrf(rows[:head].T)[0]  # Householder QR of the (d, head) columns: R on and above the diagonal
    raises = np.abs(np.diagonal(R)) > rtol * sizes[:head]
    first = head if raises.all() else int(np.argmin(raises))  # rows before it are independent
    if first >= limit or first == t:
        return np.arange(min(first, limit), dtype=np.intp)
    basis = np.empty((limit, d))  # orthonormal rows spanning the kept ones
    basis[:first] = np.linalg.qr(rows[:first].T)[0].T
    keep = list(range(first))
    for k in range(first + 1, t):
        if len(keep) >= limit:
            break
        B = basis[:len(keep)]
        r = rows[k] - (B @ rows[k]) @ B
        size = float(np.sqrt(r @ r))
        if size > rtol * sizes[k]:
            basis[len(keep)] = r / size
            keep.append(k)
    return np.asarray(keep, dtype=np.intp)


def _independent_cone_rows(X: np.ndarray, signs: np.ndarray, rows: np.ndarray, i: int) -> np.ndarray:
    """The rows of ``rows`` (indices into ``X``), in order, whose rows of :math:`(2D_i - I)X` raise the rank, at most d - 1.

    A nonzero point of the cone holds at most :math:`d - 1` independent rows at zero
    (:func:`_independent_rows`).
    """
    return rows[_independent_rows(signs[rows, i, None] * X[rows], X.shape[1] - 1)]


def _entering_relu_groups(op, X: np.ndarray, signs: np.ndarray, masks: np.ndarray, lam: float, residual: np.ndarray,
                          x: np.ndarray, tight: dict, active: list, estimates: np.ndarray, known: np.ndarray,
                          margin: float = 1e-9, only: np.ndarray | None = None) -> bool:
    r"""Zero groups of a C-ReLU point whose dual constraint is violated enter ``active``; True if any did.

    With :math:`\theta = -r/n` and the exact NNLS multipliers
    (:func:`relu_convex.duality.relu_cone_multipliers`), :math:`h = g_i + G_i^\top a_i`
    (:math:`g_i = X^\top D_i\theta`; :math:`-g_i + G_i^\top b_i` for :math:`w_i`) is the
    steepest descent direction of the loss within the cone :math:`G_i u \ge 0`, zero on the
    rows of positive multiplier; a group with :math:`\|h\| > \lambda` lowers the objective
    from zero along it. It enters at the exact minimizer along :math:`h` with the others held,
    :math:`t = n(\|h\| - \lambda)/\|D_i X \hat h\|^2`, divided by the number of groups
    entering together, those rows held tight. ``x`` (2p, d) and
    ``tight`` are updated in place. Groups whose dual constraint the nonnegative multipliers
    ``known`` (2, n, p; e.g. the first-order method's) already satisfy are not solved for;
    for the others the NNLS multipliers are written into ``estimates`` (2, n, p), for those
    the ``known`` ones. The NNLS multipliers also replace those groups' columns of
    ``known``, so that a later call (after the exchange has moved the point a little)
    solves again only the groups they no longer settle (``only``, shape (2, p), limits
    the test to those signed groups): on
    ``validation/bench_paths.py --model relu --solver al`` the warm path's calls took
    1.8 s of its 6.4 s of polishing (profiled) with the first-order multipliers alone.
    """
    n, d = X.shape
    p = masks.shape[1]
    theta = -residual / n
    g = _masked_adjoint(X, masks, theta).T  # (d, p)
    # only zero groups with ||g_i|| > lam can enter (multipliers only shorten h): NNLS for those alone
    which = np.repeat((np.linalg.norm(g, axis=0) > lam * (1.0 + margin))[None, :], 2, axis=0)
    if only is not None:
        which &= only
    for s, i in active:
        which[s, i] = False
    for s in (0, 1):
        columns = np.flatnonzero(which[s])
        H = (g[:, columns] if s == 0 else -g[:, columns]) + X.T @ (signs[:, columns] * known[s][:, columns])
        settled = columns[np.linalg.norm(H, axis=0) <= lam * (1.0 + margin)]
        estimates[s][:, settled] = known[s][:, settled]
        which[s, settled] = False
    if not np.any(which):
        return False
    A, B = relu_cone_multipliers(op, theta, which, seed=known)
    for s, multipliers in ((0, A), (1, B)):
        estimates[s][:, which[s]] = known[s][:, which[s]] = multipliers[:, which[s]]
    entering = []  # (s, i, the group's own best point along its direction)
    for s, multipliers in ((0, A), (1, B)):
        H = (g if s == 0 else -g) + X.T @ (signs * multipliers)  # (d, p)
        sizes = np.linalg.norm(H, axis=0)
        for i in np.flatnonzero(which[s] & (sizes > lam * (1.0 + margin))):
            u = H[:, i] / sizes[i]
            curvature = float(np.sum((masks[:, i] * (X @ u)) ** 2))
            if curvature <= 0.0:
                continue
            entering.append((s, int(i), n * (sizes[i] - lam) / curvature * u))
            rows = np.flatnonzero(multipliers[:, i] > 0.0)
            tight[s, int(i)] = [int(k) for k in _independent_cone_rows(X, signs, rows, i)]
            active.append((s, int(i)))
    # each group's point is best with the others held; together they would overshoot (every one
    # explains the same residual), and the refinement's zero tests then dropped them again. The
    # mean of the k points that move one group each lowers the objective (it is convex), so
    # each group enters at 1/k of its own step
    for s, i, point in entering:
        x[s * p + i] = point / len(entering)
    return bool(entering)


class _TightRows:
    r"""Orthogonal decompositions of the tight rows of several groups, in one batched call.

    For group ``(s, i)`` with tight rows :math:`T` the matrix is :math:`A = G_T`
    (rows of :math:`(2D_i - I)X`), padded with zero rows to a common height of at least
    ``d`` (zero rows change neither the row space nor the least-squares solutions).
    Each is held as :math:`A^\top \mu = g \iff \mu = L\, V^\top g` with :math:`V`
    orthogonal, whose last :math:`d - \operatorname{rank} A` columns span the rows'
    null space. That gives the null-space bases (for all groups at once: the
    restricted group lasso in their coordinates, :meth:`restricted_problem`, and the
    way back, :meth:`full_point`), the least-squares multipliers of
    :math:`A^\top \mu = g` (:meth:`multipliers`) and the pseudo-inverse
    :math:`A^+ = V L^\top` (:meth:`pseudo_inverse`).

    When every group's rows are linearly independent (the exchange of
    :func:`polish_relu` keeps them so) the decomposition is the QR factorization
    :math:`A^\top = QR`: :math:`V = Q` and :math:`L = R_1^{-1}` on the group's
    :math:`t` rows (3 ms against 10 ms for the SVDs of 150 groups with
    :math:`d = 20`). Otherwise (some :math:`|R_{jj}|` at most ``1e-10`` times the
    group's largest, or more rows than ``d``) it is the SVD
    :math:`A = U\Sigma V^\top`, :math:`L = U\Sigma^+`, a singular value counting
    when it exceeds ``1e-10`` times the largest.
    """

    def __init__(self, X: np.ndarray, signs: np.ndarray, tight: dict, groups: list):
        d = X.shape[1]
        self.position = {g: k for k, g in enumerate(groups)}
        self.side = np.array([s for s, _ in groups], dtype=np.intp)
        self.index = np.array([i for _, i in groups], dtype=np.intp)
        self.count = np.array([len(tight[g]) for g in groups], dtype=np.intp)
        height = max(int(self.count.max(initial=0)), d)
        A = np.zeros((len(groups), height, d))
        rows = np.fromiter((r for g in groups for r in tight[g]), dtype=np.intp, count=int(self.count.sum()))
        owner = np.repeat(np.arange(len(groups)), self.count)
        place = np.arange(rows.size) - np.repeat(np.cumsum(self.count) - self.count, self.count)
        A[owner, place] = signs[rows, self.index[owner], None] * X[rows]
        self.rows, self.owner, self.place = rows, owner, place  # every tight row, its group's position, its place
        if height > d or not self._factor_qr(A):
            self._factor_svd(A)

    def _factor_qr(self, A: np.ndarray) -> bool:
        """QR of every :math:`A^\top`; False (nothing set) when some group's rows are dependent."""
        d = A.shape[-1]
        Q, R = np.linalg.qr(A.transpose(0, 2, 1), mode="complete")  # (k, d, d) each
        diagonal = np.abs(np.diagonal(R, axis1=1, axis2=2))
        held = np.arange(d)[None, :] < self.count[:, None]
        largest = np.max(diagonal, axis=1, initial=0.0, where=held)
        if np.any(held & (diagonal <= 1e-10 * largest[:, None])):
            return False
        # R_1^{-1} on each group's t rows: R with the identity below and right of them, inverted
        block = held[:, :, None] & held[:, None, :]
        square = np.where(block, R, 0.0)
        square[:, np.arange(d), np.arange(d)] += ~held
        self.left = np.where(block, np.linalg.inv(square), 0.0)
        self.Vt, self.rank = Q.transpose(0, 2, 1), self.count.copy()
        return True

    def _factor_svd(self, A: np.ndarray) -> None:
        U, sv, self.Vt = np.linalg.svd(A, full_matrices=False)  # (k, h, d), (k, d), (k, d, d)
        largest = sv[:, :1]
        kept = (sv > 1e-10 * largest) & (largest > 0.0)
        self.rank = kept.sum(axis=1)
        self.left = U * np.where(kept, 1.0 / np.where(kept, sv, 1.0), 0.0)[:, None, :]

    def _null_bases(self) -> tuple[np.ndarray, np.ndarray]:
        """All groups' null bases padded to the largest dimension ``F``: (k, F, d) rows, and (k, F) which are real.

        Row ``f`` of group ``k`` is a basis vector when ``f >= F - (d - rank_k)`` (the last
        rows of :math:`V^\top` span the null space); the rows before it are not.
        """
        d = self.Vt.shape[-1]
        free = d - self.rank
        width = int(free.max(initial=0))
        return self.Vt[:, d - width:, :], np.arange(width)[None, :] >= (width - free)[:, None]

    def restricted_problem(self, X: np.ndarray, masks: np.ndarray, x: np.ndarray,
                           restart: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        r"""The group lasso in the null-space coordinates :math:`z_i` of the groups' tight rows.

        Blocks :math:`\pm D_i X N_i` side by side (shape (n, m)), the start
        :math:`N_i^\top x_i` (a group projected to zero restarts at ``restart`` in every
        coordinate: the refinement needs every group nonzero), and the block sizes;
        groups whose rows leave no free direction are left out. ``x`` is the point,
        shape (2p, d), rows ``s p + i``. None when no group is free.
        """
        basis, real = self._null_bases()
        if not np.any(real):
            return None
        p = masks.shape[1]
        owner = np.nonzero(real)[0]  # each free coordinate's group position
        B = X @ basis[real].T  # (n, number of free coordinates): one product for all groups
        B *= masks[:, self.index[owner]] * np.where(self.side[owner] == 0, 1.0, -1.0)
        start = np.einsum("kfd,kd->kf", basis, x[self.side * p + self.index])
        lost = ~np.any(np.where(real, start, 0.0) != 0.0, axis=1)
        start[lost] = restart
        sizes = real.sum(axis=1)
        return B, start[real], sizes[sizes > 0]

    def full_point(self, z: np.ndarray, rows: int) -> np.ndarray:
        """The point, shape (rows, d), of the null-space coordinates ``z`` of :meth:`restricted_problem`."""
        basis, real = self._null_bases()
        coordinates = np.zeros(real.shape)
        coordinates[real] = z
        point = np.zeros((rows, basis.shape[-1]))
        p = rows // 2
        point[self.side * p + self.index] = np.einsum("kfd,kf->kd", basis, coordinates)
        return point

    def positions(self, groups: list) -> np.ndarray:
        """Where ``groups`` are among the decomposed groups, shape (len(groups),): the ``k`` of :meth:`rows_of` and :meth:`multipliers`."""
        return np.array([self.position[g] for g in groups], dtype=np.intp)

    def rows_of(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tight rows of the groups at positions ``k``: each one's index into ``k``, its row of ``X``, its place among its group's rows."""
        slot = np.full(self.count.size, -1, dtype=np.intp)
        slot[k] = np.arange(k.size)
        listed = slot[self.owner] >= 0
        return slot[self.owner[listed]], self.rows[listed], self.place[listed]

    def multipliers(self, k: np.ndarray, g: np.ndarray) -> np.ndarray:
        r"""Least-squares (minimum-norm) :math:`\mu` of :math:`A^\top\mu = g` for the groups at positions ``k``, shape (k.size, h)."""
        return np.einsum("khj,kj->kh", self.left[k], np.einsum("kjd,kd->kj", self.Vt[k], g))

    def pseudo_inverse(self, group) -> np.ndarray:
        r""":math:`A^+` restricted to the group's tight rows, shape (d, t): column ``j`` is zero on the other rows, one on row ``j``."""
        k = self.position[group]
        t = self.count[k]
        return self.Vt[k].T @ self.left[k, :t].T


def _exchange_rows(X: np.ndarray, signs: np.ndarray, masks: np.ndarray, lam: float, point: np.ndarray,
                   residual: np.ndarray, C: np.ndarray, violated: np.ndarray, tight: dict, groups: list,
                   factors: _TightRows, estimates: np.ndarray, enter_only: bool = False) -> int:
    r"""One active-set exchange of each nonzero group's tight rows (see :func:`polish_relu`); the number of sets changed.

    ``point`` (2, p, d) is the refined point, ``residual`` its :math:`\sum_i D_i X (v_i - w_i) - y`,
    ``C`` (2, n, p) its cone values and ``violated`` where they are negative (the rows to
    enter); ``tight`` maps ``(s, i)`` to the rows held and is updated for the groups listed
    in ``groups``; ``factors`` holds the decompositions of those rows. The rows'
    least-squares multipliers, clipped at zero, are written into ``estimates`` (2, n, p).
    With ``enter_only`` no row leaves a set that no row enters: at a point short of the
    restricted minimizer (:func:`_blocked_step`) the multipliers say nothing, and once
    the sets have recurred, rows leaving on negative multipliers are what cycles.
    """
    n, d = X.shape
    if not groups:
        return 0
    loss_gradient = _masked_adjoint(X, masks, residual) / n  # rows X^T D_i r / n, the gradient in v_i (minus it in w_i)
    side, index = (np.array(part, dtype=np.intp) for part in zip(*groups, strict=True))
    V = point[side, index]
    grads = np.where(side[:, None] == 0, 1.0, -1.0) * loss_gradient[index]
    grads += lam * V / np.linalg.norm(V, axis=1, keepdims=True)
    positions = factors.positions(groups)
    all_mu = factors.multipliers(positions, grads)
    # the multipliers of every listed group's rows, clipped, into estimates (one scatter)
    owner, rows, place = factors.rows_of(positions)
    estimates[side[owner], rows, index[owner]] = np.maximum(all_mu[owner, place], 0.0)
    # only groups with a violated row, or (unless enter_only) a negative multiplier, change their sets
    counts = factors.count[positions]
    smallest = np.min(np.where(np.arange(all_mu.shape[1]) < counts[:, None], all_mu, np.inf), axis=1, initial=np.inf)
    entered = np.any(violated[side, :, index], axis=1)
    moving = entered if enter_only else entered | (smallest < -1e-10 * lam)
    changed = 0
    for j in np.flatnonzero(moving):
        s, i = groups[j]
        rows = list(tight[s, i])
        mu = all_mu[j, :len(rows)]
        if entered[j]:
            violating = np.flatnonzero(violated[s, :, i])
            e = int(violating[np.argmin(C[s, violating, i])])  # the most violated row enters, alone
            if len(rows) >= d - 1:
                # the leaving row: of those whose removal frees a direction the entering row accepts
                # (a 1-D null space moves to the ray that holds the entering row at zero), the smallest multiplier
                allowed = (signs[e, i] * X[e] @ factors.pseudo_inverse((s, i))) > 0.0
                order = np.argsort(np.where(allowed, mu, np.inf))
                rows.pop(int(order[0]))
            candidates = rows + ([] if e in rows else [e])
            rows = [int(k) for k in _independent_cone_rows(X, signs, np.array(candidates, dtype=np.intp), i)]
        else:  # a multiplier below rounding: its row pulls the wrong way
            rows.pop(int(np.argmin(mu)))
        if rows != tight[s, i]:
            tight[s, i] = rows
            changed += 1
    return changed
