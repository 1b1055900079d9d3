r"""The convex programs: C-GReLU and C-ReLU, their objectives and CVXPY builders.

Conventions (DESIGN section 2; loss normalized by ``n``):

.. math::

    \text{C-GReLU}\quad F(u) = \frac{1}{2n}\Big\|\sum_i D_i X u_i - y\Big\|^2
        + \lambda \sum_i \|u_i\|_2

    \text{C-ReLU}\quad F(v, w) = \frac{1}{2n}\Big\|\sum_i D_i X (v_i - w_i) - y\Big\|^2
        + \lambda \sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad\text{s.t.}\quad (2D_i - I) X v_i \ge 0,\ (2D_i - I) X w_i \ge 0.

Weights have shape (p, d) (row ``i`` is :math:`u_i`); targets of shape (n, c)
make ``c`` independent problems and weights gain a leading axis ``c``.

The builders return unsolved :class:`cvxpy.Problem` objects wrapped in a
:class:`CvxpyProgram`. The formulation uses one (p, d) variable per output and
the product :math:`X U^\top` masked elementwise, so no ``n x p x d`` tensor is
built (see ``validation/bench_formulations.py`` for the measured comparison
with a per-pattern formulation).

Two keyword options match models whose intercepts are not penalized (DESIGN
section 2, "Biases"; :mod:`relu_convex.free_terms`): ``unpenalized`` (columns
the group norms skip, e.g. ``(-1,)`` for the bias column of ``add_bias``) and
``offset`` (a free output offset, eliminated in closed form: the loss is taken
on the centered residual). Their defaults keep the programs above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .cones import cone_violation
from .data import check_lam, check_patterns, check_X, check_y, to_host
from .free_terms import check_unpenalized
from .operators import MaskedOperator

__all__ = ["CvxpyProgram", "GatedReLUProblem", "ReLUProblem"]


@dataclass
class CvxpyProgram:
    """An unsolved CVXPY problem and the way to read its solution.

    Attributes
    ----------
    problem : cvxpy.Problem
        Solve it with any conic solver: ``program.problem.solve(solver="CLARABEL")``.
    kind : str
        ``"primal"`` or ``"dual"``.
    variables : dict of str to cvxpy.Variable
        The named variables (lists with one entry per output).
    """

    problem: object
    kind: str
    variables: dict = field(default_factory=dict)
    _reader: Callable | None = field(default=None, repr=False)

    def read(self):
        """Return the solution in the package's conventions.

        Primal programs give the weights (``U`` or ``(V, W)``), dual programs
        give ``theta`` of shape (n,) or (n, c).

        Raises
        ------
        RuntimeError
            If the problem has not been solved.
        """
        if self.problem.value is None:
            raise RuntimeError("the CVXPY problem has no solution yet; call program.problem.solve(...) first")
        return self._reader()

    def weights(self):
        """Alias of :meth:`read` for primal programs."""
        if self.kind != "primal":
            raise TypeError("weights() reads primal programs; use theta() for a dual program")
        return self.read()

    def theta(self) -> np.ndarray:
        """Alias of :meth:`read` for dual programs."""
        if self.kind != "dual":
            raise TypeError("theta() reads dual programs; use weights() for a primal program")
        return self.read()


class _ConvexProblem:
    """Shared data, validation and prediction of the two programs."""

    program = ""

    def __init__(self, X, y, patterns, lam, *, unpenalized=(), offset=False):
        self.X = check_X(X)
        self.n, self.d = self.X.shape
        self.y = check_y(y, self.n, dtype=self.X.dtype)
        self.patterns = check_patterns(patterns, self.n, pattern_set=True)
        self.lam = check_lam(lam)
        self.p = self.patterns.shape[1]
        self.operator = MaskedOperator(self.X, self.patterns)
        self.unpenalized = check_unpenalized(unpenalized, self.d)
        if not isinstance(offset, (bool, np.bool_)):
            raise TypeError(f"offset must be True or False, got {type(offset).__name__}")
        self.offset = bool(offset)
        self._penalized = np.array([j for j in range(self.d) if j not in self.unpenalized])
        self.array_data = _array_data(X, y, patterns, self.X, self.y, self.patterns)
        y64 = np.asarray(self.y, dtype=np.float64)
        if self.offset:
            y64 = y64 - y64.mean(axis=0)
        self._zero_objective = float(np.sum(y64 * y64) / (2 * self.n))

    @property
    def zero_objective(self) -> float:
        r"""The objective :math:`F(0) = \|y\|^2 / (2n)` of the all-zero weights (of the centered targets with ``offset``).

        An upper bound on the optimum, and the scale against which
        :func:`~relu_convex.solvers.result.relative_gap` measures near-zero objectives.
        """
        return self._zero_objective

    @property
    def backend(self) -> str:
        """The array library the first-order solvers iterate in: ``"numpy"``, or ``X``'s (e.g. ``"torch"``)."""
        return "numpy" if self.array_data is None else self.array_data.library

    @property
    def device(self) -> str:
        """The device of that library's arrays (``"cpu"`` for NumPy)."""
        return "cpu" if self.array_data is None else self.array_data.device

    @property
    def has_free_terms(self) -> bool:
        """Whether some column is unpenalized or the model has an output offset."""
        return bool(self.unpenalized) or self.offset

    @property
    def objective_name(self) -> str:
        """The certified objective in words, e.g. ``"C-ReLU (unpenalized columns (2,), offset)"``."""
        extras = []
        if self.unpenalized:
            extras.append(f"unpenalized columns {self.unpenalized}")
        if self.offset:
            extras.append("offset")
        return self.program + (f" ({', '.join(extras)})" if extras else "")

    def offset_value(self, weights):
        r"""Return the optimal offset :math:`c^\star = \overline{y - \hat y}` (shape () or (c,)), or ``None``."""
        if not self.offset:
            return None
        return np.mean(self.y - self.predict(weights), axis=0)

    # -- shapes ---------------------------------------------------------------
    @property
    def n_outputs(self) -> int | None:
        """``c`` for targets of shape (n, c), ``None`` for shape (n,)."""
        return None if self.y.ndim == 1 else self.y.shape[1]

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(p, d), or (c, p, d) for multi-output targets."""
        return (self.p, self.d) if self.y.ndim == 1 else (self.y.shape[1], self.p, self.d)

    def _check_array(self, a, name: str) -> np.ndarray:
        a = np.asarray(to_host(a))
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name} must be a real array of shape {self.weight_shape}, got dtype {a.dtype}")
        if a.shape != self.weight_shape:
            raise ValueError(f"{name} must have shape {self.weight_shape} (p, d) with one row per pattern, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must contain only finite numbers")
        return np.asarray(a, dtype=self.X.dtype)

    def _outputs(self):
        """Yield (k, y_k) for each output (k is None for single output)."""
        if self.y.ndim == 1:
            yield None, self.y
        else:
            for k in range(self.y.shape[1]):
                yield k, self.y[:, k]

    def _loss(self, pred: np.ndarray) -> float:
        r = pred - self.y
        if self.offset:
            r = r - r.mean(axis=0)
        return float(np.sum(r * r) / (2 * self.n))

    def _group_norms(self, U: np.ndarray) -> float:
        if self.unpenalized:
            U = U[..., self._penalized]
        return float(np.sum(np.linalg.norm(U, axis=-1)))

    def _cvx_rows(self, U):
        """The penalized columns of a CVXPY (p, d) variable."""
        return U[:, self._penalized] if self.unpenalized else U

    def _cvx_offset(self, pred):
        """Add a free offset variable to a CVXPY prediction when the model has one."""
        if not self.offset:
            return pred
        import cvxpy as cp

        return pred + cp.Variable(name="offset")

    def _cvx_dual_constraints(self, G, th) -> list:
        """Equalities of the dual: unpenalized rows of G (d, p) vanish, 1^T theta = 0 with an offset."""
        cons = [G[j, :] == 0 for j in self.unpenalized]
        if self.offset:
            import cvxpy as cp

            cons.append(cp.sum(th) == 0)
        return cons

    def _dual_rows(self, G):
        return G[self._penalized, :] if self.unpenalized else G

    def solve(self, solver: str = "clarabel", **options):
        """Solve the program and return a :class:`~relu_convex.solvers.SolveResult`.

        Parameters
        ----------
        solver : str
            ``"clarabel"`` (default), ``"ecos"``, ``"scs"``, ``"mosek"`` (the
            interior-point/conic route through CVXPY), or the first-order solver
            of the program where available.
        **options
            ``tol``, ``max_iter``, ``time_limit``, ``verbose`` and
            solver-specific options; see :func:`relu_convex.solvers.solve`.
        """
        from .solvers import solve

        return solve(self, solver=solver, **options)

    def certificate(self, weights, multipliers=None, dual=None):
        """Return the :class:`~relu_convex.certificates.Certificate` of the weights.

        Valid at any point: the lower bound holds by weak duality. ``dual`` (e.g.
        a solver's ``SolveResult.dual``) is a further candidate dual point; the
        larger bound is kept (:func:`~relu_convex.certificates.certify_weights`).
        """
        from .certificates import certify_weights

        return certify_weights(self, weights, multipliers, dual=dual)

    def __repr__(self) -> str:
        c = "" if self.y.ndim == 1 else f", c={self.y.shape[1]}"
        extra = (f", unpenalized={self.unpenalized}" if self.unpenalized else "") + (", offset=True" if self.offset else "")
        return f"{type(self).__name__}(n={self.n}, d={self.d}, p={self.p}{c}, lam={self.lam:g}{extra})"


class GatedReLUProblem(_ConvexProblem):
    r"""The gated ReLU program C-GReLU (unconstrained group lasso).

    .. math::

        \min_{u}\ \frac{1}{2n}\Big\|\sum_i D_i X u_i - y\Big\|_2^2 + \lambda \sum_i \|u_i\|_2

    Parameters
    ----------
    X : array_like or torch.Tensor, shape (n, d)
        Data; add a bias column with :func:`relu_convex.add_bias`. A PyTorch
        tensor (float32 or float64, any device) makes ``solver="fista"``
        iterate in PyTorch on that device and return tensors
        (:mod:`relu_convex.backend`).
    y : array_like, shape (n,) or (n, c)
        NumPy, or a tensor on ``X``'s device.
    patterns : ndarray of bool, shape (n, p)
        Column ``i`` is the diagonal of :math:`D_i` (NumPy, or a bool tensor
        on ``X``'s device). A pattern set: unique columns, none all-false
        (``ValueError`` naming the first offending column otherwise).
    lam : float
        Regularization strength, >= 0.
    unpenalized : sequence of int, optional
        Columns the group norms skip (:math:`\|u_i[S]\|`); default none.
    offset : bool, optional
        Add a free output offset (default ``False``).
    """

    program = "C-GReLU"

    def check_weights(self, weights, name: str = "weights") -> np.ndarray:
        """Validate ``U`` of shape (p, d) (or (c, p, d)); errors name the argument ``name``."""
        if isinstance(weights, tuple):
            raise TypeError(f"{name} for GatedReLUProblem must be one array U of shape (p, d), got a tuple")
        return self._check_array(weights, name)

    def predict(self, weights) -> np.ndarray:
        r"""Return :math:`\sum_i D_i X u_i`, shape (n,) or (n, c)."""
        return self.operator.forward(self.check_weights(weights))

    def objective(self, weights) -> float:
        """Return the C-GReLU objective at ``U``."""
        U = self.check_weights(weights)
        return self._loss(self.operator.forward(U)) + self.lam * self._group_norms(U)

    def to_cvxpy(self) -> CvxpyProgram:
        """Build the primal program as an unsolved CVXPY problem.

        Returns
        -------
        CvxpyProgram
            Variables ``{"U": [U_k]}`` with ``U_k`` of shape (p, d);
            :meth:`CvxpyProgram.weights` returns an array of ``weight_shape``.
        """
        import cvxpy as cp

        M = self.patterns.astype(float)
        Us, terms = [], []
        for _, yk in self._outputs():
            U = cp.Variable((self.p, self.d), name="U")
            pred = self._cvx_offset(cp.sum(cp.multiply(M, self.X @ U.T), axis=1))
            terms.append(cp.sum_squares(pred - yk) / (2 * self.n) + self.lam * cp.sum(cp.norm(self._cvx_rows(U), 2, axis=1)))
            Us.append(U)
        problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms)) if len(terms) > 1 else terms[0]))
        single = self.y.ndim == 1

        def read():
            vals = [np.asarray(U.value, dtype=np.float64) for U in Us]
            return vals[0] if single else np.stack(vals)

        return CvxpyProgram(problem, "primal", {"U": Us}, read)

    def dual_to_cvxpy(self) -> CvxpyProgram:
        r"""Build the dual program as an unsolved CVXPY problem (a maximization).

        .. math::

            \max_\theta\ \theta^\top y - \frac{n}{2}\|\theta\|^2
            \quad\text{s.t.}\quad \|X^\top D_i \theta\|_2 \le \lambda \ \ \forall i

        Returns
        -------
        CvxpyProgram
            Variables ``{"theta": [theta_k]}``; :meth:`CvxpyProgram.theta`
            returns an array of the shape of ``y``.
        """
        import cvxpy as cp

        M = self.patterns.astype(float)
        thetas, terms, cons = [], [], []
        for _, yk in self._outputs():
            th = cp.Variable(self.n, name="theta")
            G = self.X.T @ cp.multiply(M, cp.reshape(th, (self.n, 1), order="F"))  # (d, p)
            cons.append(cp.norm(self._dual_rows(G), 2, axis=0) <= self.lam)
            cons += self._cvx_dual_constraints(G, th)
            terms.append(th @ yk - (self.n / 2) * cp.sum_squares(th))
            thetas.append(th)
        problem = cp.Problem(cp.Maximize(cp.sum(cp.hstack(terms)) if len(terms) > 1 else terms[0]), cons)
        return CvxpyProgram(problem, "dual", {"theta": thetas}, _theta_reader(thetas, self.y.ndim == 1))

    def to_network(self, weights):
        """Return the gated network of ``U`` (see :func:`relu_convex.networks.gated_network_from_weights`)."""
        from .networks import gated_network_from_weights

        if self.has_free_terms:
            raise NotImplementedError(
                "to_network: gated networks from problems with unpenalized columns or an offset are not supported; "
                "use ReLUProblem, or predict with GatedReLUProblem.predict"
            )
        return gated_network_from_weights(self, self.check_weights(weights))


class ReLUProblem(_ConvexProblem):
    r"""The convex ReLU program C-ReLU (group lasso with cone constraints).

    .. math::

        \min_{v, w}\ \frac{1}{2n}\Big\|\sum_i D_i X (v_i - w_i) - y\Big\|_2^2
        + \lambda \sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad\text{s.t.}\quad (2D_i - I) X v_i \ge 0,\ (2D_i - I) X w_i \ge 0

    Its optimum equals that of the weight-decay two-layer ReLU network when
    ``patterns`` is the exact set (:func:`relu_convex.enumerate_patterns`).

    Parameters
    ----------
    X : array_like or torch.Tensor, shape (n, d)
        A PyTorch tensor (float32 or float64, any device) makes ``solver="al"``
        iterate in PyTorch on that device and return tensors
        (:mod:`relu_convex.backend`).
    y : array_like, shape (n,) or (n, c)
        NumPy, or a tensor on ``X``'s device.
    patterns : ndarray of bool, shape (n, p)
        NumPy, or a bool tensor on ``X``'s device. A pattern set: unique
        columns, none all-false (``ValueError`` naming the first offending
        column otherwise).
    lam : float
    unpenalized : sequence of int, optional
        Columns the group norms skip, e.g. ``(-1,)`` for the bias column of
        :func:`relu_convex.add_bias` (scikit-learn's convention); default none.
    offset : bool, optional
        Add a free output offset :math:`c` (default ``False``); the objective
        then uses the centered residual, i.e. the optimal :math:`c`.
    """

    program = "C-ReLU"

    def check_weights(self, weights, name: str = "weights") -> tuple[np.ndarray, np.ndarray]:
        """Validate the pair ``(V, W)``, each of shape (p, d) (or (c, p, d)); errors name the argument ``name``."""
        if not isinstance(weights, (tuple, list)) or len(weights) != 2:
            raise TypeError(f"{name} for ReLUProblem must be a pair (V, W) of arrays of shape (p, d)")
        return self._check_array(weights[0], f"{name}[0] (V)"), self._check_array(weights[1], f"{name}[1] (W)")

    def predict(self, weights) -> np.ndarray:
        r"""Return :math:`\sum_i D_i X (v_i - w_i)`, shape (n,) or (n, c)."""
        V, W = self.check_weights(weights)
        return self.operator.forward(V - W)

    def objective(self, weights) -> float:
        """Return the C-ReLU objective at ``(V, W)`` (the constraints are not checked here)."""
        V, W = self.check_weights(weights)
        return self._loss(self.operator.forward(V - W)) + self.lam * (self._group_norms(V) + self._group_norms(W))

    def constraint_violation(self, weights) -> float:
        r"""Largest cone violation relative to the data scale.

        .. math::

            \frac{\max_{i,k} \max(0, -[(2D_i - I) X v_i]_k, -[(2D_i - I) X w_i]_k)}
                 {\max_k \|x_k\|_2 \cdot \max\big(\max_i \max(\|v_i\|_2, \|w_i\|_2),\;
                  \|y\|_\infty / \max_k \|x_k\|_2\big)}

        The second term of the scale is the size of a weight whose predictions
        are as large as the targets; it keeps the measure meaningful when every
        block is (numerically) zero. Zero exactly when every block lies in its cone.
        The C-ReLU solvers stop on the same measure (:func:`relu_convex.cones.relative_violation`).
        """
        V, W = self.check_weights(weights)
        return cone_violation(np.stack([self.operator.cone(V), self.operator.cone(W)]), np.stack([V, W]),
                              float(np.max(np.linalg.norm(self.X, axis=1))), float(np.max(np.abs(self.y))))

    def to_cvxpy(self) -> CvxpyProgram:
        r"""Build the primal program as an unsolved CVXPY problem.

        The cone constraints :math:`(2D_i - I) X v_i \ge 0` appear as the two
        inspectable constraints ``multiply(S, X @ V.T) >= 0`` and
        ``multiply(S, X @ W.T) >= 0`` with ``S = 2 * patterns - 1`` of shape (n, p):
        column ``i`` is the constraint of pattern ``i``.

        Returns
        -------
        CvxpyProgram
            Variables ``{"V": [V_k], "W": [W_k]}``; :meth:`CvxpyProgram.weights`
            returns the pair ``(V, W)``.
        """
        import cvxpy as cp

        M = self.patterns.astype(float)
        S = 2.0 * M - 1.0
        Vs, Ws, terms, cons = [], [], [], []
        for _, yk in self._outputs():
            V = cp.Variable((self.p, self.d), name="V")
            W = cp.Variable((self.p, self.d), name="W")
            pred = self._cvx_offset(cp.sum(cp.multiply(M, self.X @ (V - W).T), axis=1))
            reg = cp.sum(cp.norm(self._cvx_rows(V), 2, axis=1)) + cp.sum(cp.norm(self._cvx_rows(W), 2, axis=1))
            terms.append(cp.sum_squares(pred - yk) / (2 * self.n) + self.lam * reg)
            cons += [cp.multiply(S, self.X @ V.T) >= 0, cp.multiply(S, self.X @ W.T) >= 0]
            Vs.append(V)
            Ws.append(W)
        problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms)) if len(terms) > 1 else terms[0]), cons)
        single = self.y.ndim == 1

        def read():
            V = [np.asarray(v.value, dtype=np.float64) for v in Vs]
            W = [np.asarray(w.value, dtype=np.float64) for w in Ws]
            return (V[0], W[0]) if single else (np.stack(V), np.stack(W))

        return CvxpyProgram(problem, "primal", {"V": Vs, "W": Ws}, read)

    def dual_to_cvxpy(self) -> CvxpyProgram:
        r"""Build the dual program with explicit cone multipliers (a maximization).

        .. math::

            \max_{\theta, a \ge 0, b \ge 0}\ \theta^\top y - \frac{n}{2}\|\theta\|^2
            \quad\text{s.t.}\quad
            \|X^\top D_i \theta + X^\top (2D_i - I) a_i\|_2 \le \lambda,\
            \|-X^\top D_i \theta + X^\top (2D_i - I) b_i\|_2 \le \lambda

        The multipliers ``a_i, b_i`` in :math:`\mathbb{R}^n_+` are the columns
        of the variables ``A`` and ``B`` of shape (n, p).

        Returns
        -------
        CvxpyProgram
            Variables ``{"theta": [...], "A": [...], "B": [...]}``;
            :meth:`CvxpyProgram.theta` returns theta.
        """
        import cvxpy as cp

        M = self.patterns.astype(float)
        S = 2.0 * M - 1.0
        thetas, As, Bs, terms, cons = [], [], [], [], []
        for _, yk in self._outputs():
            th = cp.Variable(self.n, name="theta")
            A = cp.Variable((self.n, self.p), nonneg=True, name="A")
            B = cp.Variable((self.n, self.p), nonneg=True, name="B")
            Dth = cp.multiply(M, cp.reshape(th, (self.n, 1), order="F"))
            Gp = self.X.T @ (Dth + cp.multiply(S, A))
            Gm = self.X.T @ (-Dth + cp.multiply(S, B))
            cons += [
                cp.norm(self._dual_rows(Gp), 2, axis=0) <= self.lam,
                cp.norm(self._dual_rows(Gm), 2, axis=0) <= self.lam,
            ]
            cons += self._cvx_dual_constraints(Gp, th) + self._cvx_dual_constraints(Gm, th)[: len(self.unpenalized)]
            terms.append(th @ yk - (self.n / 2) * cp.sum_squares(th))
            thetas.append(th)
            As.append(A)
            Bs.append(B)
        problem = cp.Problem(cp.Maximize(cp.sum(cp.hstack(terms)) if len(terms) > 1 else terms[0]), cons)
        return CvxpyProgram(problem, "dual", {"theta": thetas, "A": As, "B": Bs}, _theta_reader(thetas, self.y.ndim == 1))

    def to_network(self, weights):
        """Return the :class:`~relu_convex.networks.ReLUNetwork` of ``(V, W)``.

        Its non-convex objective equals the C-ReLU objective when the weights
        satisfy the cone constraints.
        """
        from .networks import relu_network_from_weights

        weights = self.check_weights(weights)
        if not self.has_free_terms:
            return relu_network_from_weights(weights)
        return relu_network_from_weights(weights, unpenalized=self.unpenalized, offset=self.offset_value(weights), X=self.X)


def _array_data(X, y, patterns, X_host, y_host, patterns_host):
    """The data in ``X``'s array library when it is not NumPy (None otherwise); ``y`` and ``patterns`` must match it."""
    from .backend import is_foreign_array, require_array_api

    if not is_foreign_array(X):
        return None
    require_array_api(X, "X")  # ImportError naming the extra: no silent NumPy route for a tensor
    from .backend import ArrayData, get_namespace

    data = ArrayData(X, X_host, y_host, patterns_host)
    for name, a in (("y", y), ("patterns", patterns)):
        if not is_foreign_array(a):
            continue  # NumPy or array-like: copied to X's device
        try:
            get_namespace(X, a)
        except TypeError as exc:
            raise TypeError(f"{name} must be a NumPy array or an array of X's library ({data.library}), "
                            f"got {type(a).__module__}.{type(a).__name__}") from exc
        from array_api_compat import device

        if str(device(a)) != data.device:
            raise ValueError(f"{name} must be on X's device {data.device!r}, got {str(device(a))!r}")
    return data


def _theta_reader(thetas, single: bool):
    def read():
        vals = [np.asarray(t.value, dtype=np.float64) for t in thetas]
        return vals[0] if single else np.stack(vals, axis=1)

    return read
