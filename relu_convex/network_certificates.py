r"""Optimality certificates for trained two-layer ReLU networks.

For a network :math:`f(X) = (X W_1^\top)_+ w_2` with weight-decay objective

.. math::

    f(W_1, w_2) = \frac{1}{2n}\|f(X) - y\|^2 + \frac{\lambda}{2}(\|W_1\|_F^2 + \|w_2\|^2),

every :math:`\theta \in \mathbb{R}^n` with

.. math::

    \max_{\|u\| \le 1} |\theta^\top (X u)_+| \le \lambda

gives :math:`\theta^\top y - \frac{n}{2}\|\theta\|^2 \le f(W_1', w_2')` for *every*
network of *any* width (weak duality of Pilanci & Ergen, 2020: the penalty is
at least :math:`\lambda \sum_j |w_{2j}| \|w_{1j}\| \ge \sum_j |\theta^\top (X w_{1j})_+ w_{2j}|`
and :math:`\frac{1}{2n}\|r\|^2 \ge \theta^\top r - \frac{n}{2}\|\theta\|^2`).
The unit ball splits into the cones :math:`K_i` of the activation patterns, on
which :math:`(Xu)_+ = D_i X u`, so the constraint is the C-ReLU dual constraint
over the *exact* pattern set (:func:`relu_convex.duality.relu_constraint_max`).

:func:`certify_network` takes :math:`\theta` = residual / n, scales it into
that set and maximizes the dual value along the segment. Over the exact set
the bound is rigorous. Over a given set (sampled gates plus the network's own
patterns) it bounds only the networks whose neurons' patterns lie in the set,
and the report says so.

Any :math:`\theta` gives a valid bound, so a second candidate is tried
(``refine=True``): the residual of the C-ReLU optimum over the network's own
activation patterns (a small program, one block pair per distinct neuron
pattern). When the network sits near a global optimum its patterns contain the
optimal ones and this dual point is nearly optimal, while the network's own
residual, from a not exactly stationary point, may violate the constraint by a
few percent. The better of the two bounds is reported, with its source. The
network built from that small program is a real network, so its objective is
also an upper bound on the optimum.

Vector outputs (:math:`w_2` of shape (m, c)): the constraint becomes
:math:`\max_{\|u\| \le 1} \|\Theta^\top (Xu)_+\|_2 \le \lambda`, bounded above by
:math:`\big(\sum_k c_k^2\big)^{1/2}` with :math:`c_k` the single-output values;
valid, but not tight for c > 1.

Output offset (an unpenalized scalar per output added to the predictions; a
network's own ``offset`` unless the ``offset`` argument replaces it): the dual
gains :math:`1^\top \theta = 0`, so the residual is centered before scaling;
the bound then holds for every network with every offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arrangement import count_general_position, enumerate_patterns
from .data import check_lam, check_patterns, check_positive_int, check_X, check_y
from .duality import relu_constraint_max
from .errors import PatternLimitError
from .networks import GatedReLUNetwork, ReLUNetwork
from .operators import MaskedOperator
from .patterns import activation_patterns, sample_gates, unique_patterns
from .reports import Report
from .solvers.result import relative_gap

__all__ = ["NetworkCertificate", "certify_network", "exact_pattern_estimate"]

#: largest pattern set for which ``upper_bound=True`` solves C-ReLU through CVXPY
MAX_UPPER_BOUND_PATTERNS = 5000


@dataclass(frozen=True)
class NetworkCertificate(Report):
    """Objective of a trained network, a lower bound on the optimum, and the gap.

    Attributes
    ----------
    objective : float
        The network's objective (see ``objective_kind``).
    lower_bound : float
        Lower bound on the optimum over networks of any width: rigorous when
        ``rigorous`` is true (exact pattern set), otherwise relative to the
        pattern set (networks whose neurons' activation patterns lie in it).
    gap, relative_gap : float
        ``objective - lower_bound`` and that divided by ``objective``.
    rigorous : bool
        Whether the pattern set is the exact one.
    pattern_set : str
        How the pattern set was made.
    n_patterns : int
    lam : float
    width : int
        Hidden neurons of the certified network.
    n_samples, n_features : int
    objective_kind : str
        Which objective is certified (penalty and offset treatment).
    dual_scale : float
        Factor in [0, 1] applied to the residual / n to get the dual point.
    constraint_ratio : float
        :math:`\\max_u |\\theta^\\top (Xu)_+| / \\lambda` at the unscaled residual / n
        (1 at an optimum; above 1 the residual had to be shrunk).
    dual_source : str
        Which residual gave the bound: ``"network residual"`` or
        ``"C-ReLU over the network's patterns"``.
    upper_bound : float
        Smallest objective of the networks built by solving C-ReLU (over the
        network's own patterns when refining, over the whole set when
        ``upper_bound=True``); ``nan`` when none was built. Each is the
        objective of a real network, hence an upper bound on the optimum.
    upper_bound_width : int
    upper_bound_status : str
        Which program and solver status gave ``upper_bound``.
    nnls_patterns, pruned_patterns : int
        Patterns whose constraint value needed NNLS / could be skipped.
    dual : ndarray, shape (n,) or (n, c)
        The dual point that gives ``lower_bound``.
    """

    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    rigorous: bool
    pattern_set: str
    n_patterns: int
    lam: float
    width: int
    n_samples: int
    n_features: int
    objective_kind: str
    dual_scale: float
    constraint_ratio: float
    dual_source: str = "network residual"
    upper_bound: float = float("nan")
    upper_bound_width: int = 0
    upper_bound_status: str = ""
    nnls_patterns: int = 0
    pruned_patterns: int = 0
    dual: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    _array_fields = ("dual",)

    def __str__(self) -> str:
        scope = (
            "rigorous: over networks of any width"
            if self.rigorous
            else "RELATIVE to the pattern set: only networks whose neurons' activation patterns lie in it"
        )
        lines = [
            f"ReLU network certificate (width {self.width}, n = {self.n_samples}, d = {self.n_features}, lam = {self.lam:g})",
            f"  objective      {self.objective:.12g}   [{self.objective_kind}]",
            f"  lower bound    {self.lower_bound:.12g}   ({scope})",
            f"  gap            {self.gap:.3e}  (relative {self.relative_gap:.3e})",
            f"  pattern set    {self.pattern_set}: {self.n_patterns} patterns",
            f"  dual point     {self.dual_source}, scaled by {self.dual_scale:.6g} "
            f"(constraint / lam before scaling: {self.constraint_ratio:.6g})",
        ]
        if np.isfinite(self.upper_bound):
            lines.append(
                f"  upper bound    {self.upper_bound:.12g}   (network of width {self.upper_bound_width} from "
                f"{self.upper_bound_status})"
            )
        return "\n".join(lines)


def exact_pattern_estimate(X) -> tuple[int, int, int]:
    r"""Upper bound on the size of the exact pattern set of ``X``.

    Rows that are nonzero multiples of each other give the same hyperplane
    :math:`\{g : x_k^\top g = 0\}`; ``m`` distinct hyperplanes through the origin
    spanning rank ``r`` cut :math:`\mathbb{R}^d` into at most
    :func:`count_general_position` ``(m, r)`` cells.

    Returns
    -------
    (estimate, m, r) : ints
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    rows = X[norms > 0] / norms[norms > 0, None]
    if rows.shape[0] == 0:
        return 0, 0, 0
    lead = np.argmax(np.abs(rows) > 1e-12, axis=1)
    rows = rows * np.sign(rows[np.arange(rows.shape[0]), lead])[:, None]
    m = int(np.unique(np.round(rows, 10), axis=0).shape[0])
    r = int(np.linalg.matrix_rank(X))
    return int(count_general_position(m, r)), m, r


def _exact_patterns(X: np.ndarray, max_patterns: int) -> np.ndarray:
    estimate, m, r = exact_pattern_estimate(X)
    if estimate > max_patterns:
        raise PatternLimitError(
            f"patterns=None asks for the exact pattern set: up to {estimate} patterns ({m} distinct hyperplanes, "
            f"rank {r}), above max_patterns={max_patterns}; raise max_patterns or certify relative to a sampled set "
            "(patterns=N gates)"
        )
    return enumerate_patterns(X, max_patterns=max_patterns)


def _network_layers(network, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(W1, w2, offset)`` of a network or a pair (``offset`` None for a pair or no offset)."""
    if isinstance(network, GatedReLUNetwork):
        raise TypeError(
            "network: a GatedReLUNetwork is not a ReLU network; certify its convex weights with GatedReLUProblem.certificate"
        )
    if isinstance(network, ReLUNetwork):
        W1, w2, own = network.W1, network.w2, network.offset
    elif isinstance(network, (tuple, list)) and len(network) == 2:
        net = ReLUNetwork(*network)
        W1, w2, own = net.W1, net.w2, None
    else:
        raise TypeError(f"network must be a ReLUNetwork or a pair (W1, w2) of arrays, got {type(network).__name__}")
    if W1.shape[1] != d:
        raise ValueError(
            f"network: W1 has {W1.shape[1]} columns but X has d = {d}; add the bias column to X (add_bias) if W1 has one"
        )
    own = None if own is None else np.asarray(own, dtype=np.float64)
    return np.asarray(W1, dtype=np.float64), np.asarray(w2, dtype=np.float64), own


def _pattern_set(X, W1, patterns, max_patterns, seed, include_network_patterns) -> tuple[np.ndarray, bool, str]:
    own = X @ W1[np.linalg.norm(W1, axis=1) > 0].T >= 0
    if patterns is None or (isinstance(patterns, str) and patterns == "exact"):
        max_patterns = check_positive_int(max_patterns, "max_patterns")
        base, rigorous, how = _exact_patterns(X, max_patterns), True, "exact"
    elif isinstance(patterns, (int, np.integer)) and not isinstance(patterns, (bool, np.bool_)):
        count = check_positive_int(int(patterns), "patterns")
        base = activation_patterns(X, sample_gates(X.shape[1], count, seed=seed))
        rigorous, how = False, f"sampled: {count} gates (seed {seed})"
    elif isinstance(patterns, str):
        raise ValueError(f"patterns must be None or 'exact', a number of gates, or a boolean (n, p) array, got {patterns!r}")
    else:
        base = check_patterns(patterns, X.shape[0])
        rigorous, how = False, "given"
    if include_network_patterns and not rigorous:
        how += f" + the network's own patterns ({own.shape[1]} neurons)"
    masks = unique_patterns(np.hstack([base, own]) if include_network_patterns else base)
    if masks.shape[1] == 0:
        raise ValueError("patterns: the pattern set is empty (every pattern is all-false on X)")
    return masks, rigorous, how


def _joint_bound(Y: np.ndarray, T: np.ndarray, cmax: np.ndarray, lam: float) -> tuple[float, float, float]:
    """Scale all outputs by one factor into the constraint set and maximize the dual along the segment.

    Returns (value, scale t, constraint ratio C / lam).
    """
    n = Y.shape[0]
    C = float(np.sqrt(np.sum(cmax**2)))
    s = 1.0 if C <= lam else lam / C
    ty, tt = float(np.sum(T * Y)), float(np.sum(T * T))
    t = float(np.clip(ty / (n * tt), 0.0, s)) if tt > 0 else 0.0
    value = t * ty - 0.5 * n * t * t * tt
    ratio = C / lam if lam > 0 else (float("inf") if C > 0 else 0.0)
    return value, t, ratio


def certify_network(
    network,
    X,
    y,
    lam,
    patterns=None,
    *,
    offset=None,
    max_patterns: int = 100_000,
    seed: int = 0,
    include_network_patterns: bool = True,
    refine: bool | int = True,
    upper_bound: bool = False,
    solver: str = "clarabel",
    tol: float = 1e-9,
) -> NetworkCertificate:
    r"""Certify a trained two-layer ReLU network: objective, lower bound on the optimum, gap.

    Parameters
    ----------
    network : ReLUNetwork or pair (W1, w2)
        ``W1`` of shape (m, d), ``w2`` of shape (m,) or (m, c). A hidden bias
        is a column of ``X`` (:func:`relu_convex.add_bias`) and the matching
        column of ``W1``; it is penalized like every weight. A
        :class:`~relu_convex.networks.ReLUNetwork` with an ``offset`` (e.g. from
        :func:`relu_convex.interop.network_from_torch` with an output bias, or
        ``to_network`` of a problem with ``offset=True``) is certified with that
        offset; a pair has none.
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, c)
    lam : float
        Weight decay, with the objective's :math:`\lambda/2` scaling.
    patterns : None, "exact", int or boolean array (n, p)
        ``None``/``"exact"``: the exact pattern set (rigorous bound; refused
        with the estimated count when above ``max_patterns``). An int: that
        many sampled gates. An array: that set. Bounds over sampled or given
        sets are relative to the set.
    offset : float or array of shape (c,), optional
        The output offset (added to every prediction, not penalized). ``None``
        (default) means the network's own ``offset`` (no offset for a pair or a
        network without one); a value replaces the network's own. With an
        offset the objective is that of the network plus the offset, and the
        bound covers every network with every offset;
        ``objective_kind`` says which offset was used.
    max_patterns : int
        Limit on the exact set.
    seed : int
        Seed of the sampled gates.
    include_network_patterns : bool
        Add the network's own activation patterns to a sampled or given set.
    refine : bool or int
        Rounds of column generation for a better dual point (``True``: 3,
        ``False``/0: none): solve C-ReLU over the network's own patterns, then
        over those plus the cells whose dual constraint the solution violates
        most, and keep the best bound (skipped above
        :data:`MAX_UPPER_BOUND_PATTERNS` patterns).
    upper_bound : bool
        Also solve C-ReLU over the whole pattern set (interior-point route, at
        most :data:`MAX_UPPER_BOUND_PATTERNS` patterns) for an upper bound.
    solver, tol :
        Conic solver and tolerance for ``refine`` and ``upper_bound``.

    Returns
    -------
    NetworkCertificate

    Raises
    ------
    PatternLimitError
        The exact set would exceed ``max_patterns``.
    """
    X = check_X(X, dtype=np.float64)
    n, d = X.shape
    y = check_y(y, n, dtype=np.float64)
    lam = check_lam(lam)
    W1, w2, own_offset = _network_layers(network, d)
    rounds = _refine_rounds(refine)
    if (w2.ndim == 1) != (y.ndim == 1) or (y.ndim == 2 and y.shape[1] != w2.shape[1]):
        expected = (n,) if w2.ndim == 1 else (n, w2.shape[1])
        raise ValueError(f"y must have shape {expected} to match the network's outputs, got {y.shape}")
    c = 1 if y.ndim == 1 else y.shape[1]
    if offset is None and own_offset is None:
        off = None
        kind = "1/(2n)||f(X) - y||^2 + lam/2 (||W1||_F^2 + ||w2||^2), f(X) = (X W1^T)_+ w2, no output offset"
    else:
        source = "the network's offset" if offset is None else "offset argument"
        given = own_offset if offset is None else offset
        off = np.asarray(given, dtype=np.float64).reshape(-1)
        if off.size != c or not np.all(np.isfinite(off)):
            raise ValueError(f"offset must be a finite number (or {c} numbers, one per output), got {given!r}")
        values = f"{off[0]:.12g}" if c == 1 else "[" + ", ".join(f"{v:.12g}" for v in off) + "]"
        kind = (
            "1/(2n)||f(X) - y||^2 + lam/2 (||W1||_F^2 + ||w2||^2), f(X) = (X W1^T)_+ w2 + b, "
            f"output offset b = {values} ({source}), unpenalized"
        )
    shift = 0.0 if off is None else (off[0] if y.ndim == 1 else off)
    net = ReLUNetwork(W1, w2)
    objective = _objective(net, X, y, shift, lam)
    masks, rigorous, how = _pattern_set(X, W1, patterns, max_patterns, seed, include_network_patterns)
    op = MaskedOperator(X, masks)

    def bound(pred):
        T = ((y - pred - shift) / n).reshape(n, c)
        if off is not None:
            T = T - T.mean(axis=0)  # the dual of a free offset needs 1^T theta = 0
        maxima = [relu_constraint_max(op, T[:, k]) for k in range(c)]
        value, t, ratio = _joint_bound(y.reshape(n, c), T, np.array([m.value for m in maxima]), lam)
        return value, t, ratio, (t * T).reshape(y.shape), maxima

    best = bound(net.predict(X)) + ("network residual",)
    upper = (float("nan"), 0, "")
    subset = unique_patterns(X @ W1[np.linalg.norm(W1, axis=1) > 0].T >= 0)
    own_count = subset.shape[1]
    for r in range(rounds):
        if not 0 < subset.shape[1] <= MAX_UPPER_BOUND_PATTERNS:
            break
        small = _solve_relu(X, y, shift, subset, lam, solver, tol)
        if small is None:
            break
        label = f"C-ReLU over the network's {own_count} patterns"
        if r > 0:
            label += f" + {subset.shape[1] - own_count} violated cells"
        candidate = bound(small[0].predict(X)) + (label,)
        if candidate[0] > best[0]:
            best = candidate
        if not small[1] >= upper[0]:
            upper = (small[1], small[0].width, f"{label} ({small[2]})")
        # column generation: add the cells whose dual constraint is violated
        violated = [m.top_patterns[m.top_values > lam * (1 + 1e-9)] for m in candidate[4]]
        new = masks[:, np.unique(np.concatenate(violated))]
        grown = unique_patterns(np.hstack([subset, new]))
        if candidate[2] <= 1 + 1e-9 or grown.shape[1] == subset.shape[1]:
            break
        subset = grown
    if upper_bound:
        if masks.shape[1] > MAX_UPPER_BOUND_PATTERNS:
            raise ValueError(
                f"upper_bound: the C-ReLU program over {masks.shape[1]} patterns is too large for the interior-point "
                f"route (limit {MAX_UPPER_BOUND_PATTERNS}); certify relative to a sampled set or leave upper_bound off"
            )
        full = _solve_relu(X, y, shift, masks, lam, solver, tol)
        if full is not None and not full[1] >= upper[0]:
            upper = (full[1], full[0].width, f"C-ReLU over the {masks.shape[1]} patterns ({full[2]})")
    lower, t, ratio, theta, maxima, source = best
    return NetworkCertificate(
        objective=objective,
        lower_bound=lower,
        gap=objective - lower,
        relative_gap=relative_gap(objective, lower),
        rigorous=rigorous,
        pattern_set=how,
        n_patterns=int(masks.shape[1]),
        lam=lam,
        width=int(W1.shape[0]),
        n_samples=n,
        n_features=d,
        objective_kind=kind,
        dual_scale=t,
        constraint_ratio=ratio,
        dual_source=source,
        upper_bound=upper[0],
        upper_bound_width=upper[1],
        upper_bound_status=upper[2],
        nnls_patterns=sum(m.nnls_patterns for m in maxima),
        pruned_patterns=sum(m.pruned_patterns for m in maxima),
        dual=theta,
    )


def _refine_rounds(refine) -> int:
    if isinstance(refine, (bool, np.bool_)):
        return 3 if refine else 0
    if isinstance(refine, (int, np.integer)) and refine >= 0:
        return int(refine)
    raise ValueError(f"refine must be True, False or a number of rounds >= 0, got {refine!r}")


def _objective(net: ReLUNetwork, X: np.ndarray, y: np.ndarray, shift, lam: float) -> float:
    r = net.predict(X) + shift - y
    return float(np.sum(r * r) / (2 * X.shape[0]) + lam * net.penalty())


def _solve_relu(X, y, shift, masks, lam, solver, tol):
    """Solve C-ReLU over ``masks`` (targets minus the offset); return (network, objective, status) or None.

    The network keeps the offset; of the full network and the one without its
    negligible neurons (blocks below 1e-9 of the largest), the one with the
    smaller objective is returned. Either objective is that of a real network.
    """
    from .networks import relu_network_from_weights
    from .problems import ReLUProblem

    result = ReLUProblem(X, y - shift, masks, lam).solve(solver=solver, tol=tol)
    if result.weights is None:
        return None
    net = relu_network_from_weights(result.weights)
    best = (net, _objective(net, X, y, shift, lam))
    size = np.linalg.norm(net.W1, axis=1) * np.linalg.norm(net.w2.reshape(net.width, -1), axis=1)
    keep = size > 1e-9 * float(np.max(size, initial=0.0))
    if 0 < np.count_nonzero(keep) < net.width:
        small = ReLUNetwork(net.W1[keep], net.w2[keep])
        value = _objective(small, X, y, shift, lam)
        if value <= best[1]:
            best = (small, value)
    return best[0], best[1], f"{result.solver}: {result.status}"
