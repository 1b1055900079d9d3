r"""scikit-learn estimators that fit two-layer ReLU networks by convex optimization.

:class:`ConvexReLURegressor` and :class:`ConvexReLUClassifier` solve C-ReLU
(``model="relu"``) or C-GReLU (``model="gated"``) over sampled activation
patterns (``n_gates`` standard normal gates) or the exact set
(``patterns="exact"``, small data only), with the objective of DESIGN section 2

.. math::

    \frac{1}{2n}\Big\|\sum_i D_i X (v_i - w_i) - y\Big\|^2
    + \lambda \sum_i (\|v_i\|_2 + \|w_i\|_2),

where ``X`` gains a bias column when ``bias=True`` (penalized like every
weight unless ``penalize_bias=False``); ``offset=True`` adds a free output
offset (scikit-learn's ``MLPRegressor`` convention is ``penalize_bias=False,
offset=True``, see :mod:`relu_convex.interop.sklearn`). Classification is regression on :math:`\pm 1` targets (two classes)
or one-vs-all :math:`\pm 1` targets of shape (n, c); ``decision_function``
returns the network outputs.

After ``fit`` they expose ``network_`` (the equivalent
:class:`~relu_convex.networks.ReLUNetwork`, or a gated network, taking
``add_bias(X)`` when ``bias=True``), ``certificate_`` (objective, certified
lower bound and gap of the fitted weights for the sampled or exact pattern
set; its dual point is the better of the weights' residual and the solver's
own, checked anew, so its bound is the solver's ``solve_result_.lower_bound``
up to rounding),
``weights_``, ``patterns_``, ``gates_`` and ``solve_result_``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .interop._extras import require

require("sklearn", "sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import LabelBinarizer  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data  # noqa: E402

from .arrangement import enumerate_patterns  # noqa: E402
from .certificates import Certificate  # noqa: E402
from .errors import SolverFailedError  # noqa: E402
from .fitting import check_model, default_solver, make_problem, solve_options  # noqa: E402
from .networks import GatedReLUNetwork, _split_neurons, realizing_gate  # noqa: E402
from .patterns import add_bias  # noqa: E402

__all__ = ["ConvexReLURegressor", "ConvexReLUClassifier"]


def _sampled_patterns(X: np.ndarray, n_gates: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sample gates and keep one per distinct non-empty pattern: (masks (n, p), gates (d, p))."""
    G = rng.standard_normal((X.shape[1], n_gates))
    masks = X @ G >= 0
    keep = masks.any(axis=0)
    masks, G = masks[:, keep], G[:, keep]
    if masks.shape[1] == 0:
        raise ValueError(f"n_gates={n_gates} sampled gates all give empty activation patterns on X; use more gates or bias=True")
    _, first = np.unique(np.packbits(masks, axis=0), axis=1, return_index=True)
    first = np.sort(first)
    return masks[:, first], G[:, first]


def _gated_network(gates: np.ndarray, U: np.ndarray, offset=None) -> GatedReLUNetwork:
    """The gated network of C-GReLU weights ``U`` (p, d) or (c, p, d) with known gates (d, p)."""
    U3 = U[None] if U.ndim == 2 else U
    c, _, d = U3.shape
    rows, outs, cols = [], [], []
    for k in range(c):
        w1, a, keep = _split_neurons(U3[k], 1.0)
        rows.append(w1)
        out = np.zeros((len(a), c))
        out[:, k] = a
        outs.append(out)
        cols.append(gates[:, keep])
    w2 = np.concatenate(outs, axis=0)
    W1 = np.concatenate(rows, axis=0).reshape(-1, d)
    return GatedReLUNetwork(np.concatenate(cols, axis=1), W1, w2[:, 0] if U.ndim == 2 else w2, offset=offset)


def _fit_certificate(problem, result) -> Certificate:
    r"""The certificate of the fitted weights, checked from the solver's dual point as well.

    ``problem.certificate`` gets two candidate dual points: the residual of the
    weights, :math:`(y - \hat y)/n`, and the solver's ``result.dual``, the point of
    the best bound the solve saw (an earlier iterate or a polished point, not
    always the final weights' residual). Each is checked for dual feasibility
    anew (exact NNLS cone multipliers for C-ReLU), scaled into the feasible set,
    and the larger bound is kept. Only a bound verified here is reported: it
    agrees with ``result.lower_bound`` up to the rounding of evaluating the same
    point twice (relative differences of about 1e-12 and below).
    """
    return problem.certificate(result.weights, dual=result.dual)


class _ConvexReLUBase(BaseEstimator):
    """Shared parameters, fitting and prediction."""

    def __init__(
        self,
        model: str = "relu",
        lam: float = 1e-3,
        n_gates: int = 16,
        patterns: str | None = None,
        bias: bool = True,
        penalize_bias: bool = True,
        offset: bool = False,
        solver: str | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        random_state=None,
    ):
        self.model = model
        self.lam = lam
        self.n_gates = n_gates
        self.patterns = patterns
        self.bias = bias
        self.penalize_bias = penalize_bias
        self.offset = offset
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _check_params(self) -> None:
        check_model(self.model)
        if isinstance(self.lam, bool) or not isinstance(self.lam, numbers.Real) or not np.isfinite(self.lam) or self.lam < 0:
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        if isinstance(self.n_gates, bool) or not isinstance(self.n_gates, numbers.Integral) or self.n_gates < 1:
            raise ValueError(f"n_gates must be an integer >= 1, got {self.n_gates!r}")
        if self.patterns not in (None, "exact"):
            raise ValueError(f"patterns must be None (sample n_gates gates) or 'exact', got {self.patterns!r}")
        if not isinstance(self.tol, numbers.Real) or not 0 < self.tol < 1:
            raise ValueError(f"tol must be in (0, 1), got {self.tol!r}")
        if not self.penalize_bias and not self.bias:
            raise ValueError("penalize_bias=False needs bias=True (there is no bias column to leave unpenalized)")
        if not self.penalize_bias and self.model == "gated":
            raise ValueError(
                "penalize_bias=False with model='gated' is degenerate (bias-only gated neurons cost nothing); use model='relu'"
            )

    def _design(self, X: np.ndarray) -> np.ndarray:
        return add_bias(X) if self.bias else X

    def _fit_targets(self, X: np.ndarray, Y: np.ndarray):
        self._check_params()
        Xd = self._design(X)
        if self.patterns == "exact":
            masks = enumerate_patterns(Xd)
            gates = None
        else:
            masks, gates = _sampled_patterns(Xd, int(self.n_gates), check_random_state(self.random_state))
        options = {"offset": bool(self.offset)}
        if not self.penalize_bias:
            options["unpenalized"] = (-1,)
        problem = make_problem(self.model, Xd, Y, masks, float(self.lam), **options)
        solver = default_solver(self.model, self.solver, free_terms=problem.has_free_terms,
                                shape=(problem.n, problem.d, problem.p), lam=problem.lam)
        result = problem.solve(solver=solver, **solve_options(solver, tol=self.tol, max_iter=self.max_iter))
        if not result.status.has_point:
            raise SolverFailedError(f"{type(self).__name__}.fit: solver {solver!r} returned status {result.status.value}: {result.message}")
        if not result.success:
            message = f"{type(self).__name__}: solver {solver!r} stopped with status {result.status.value}: {result.message}"
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        self.weights_ = result.weights
        self.patterns_ = masks
        self.gates_ = gates
        self.solve_result_ = result
        self.n_iter_ = max(1, int(result.iterations))
        self.certificate_ = _fit_certificate(problem, result)
        if self.model == "relu":
            self.network_ = problem.to_network(result.weights)
        else:
            U = np.asarray(result.weights)
            if gates is None:  # exact patterns: one realizing gate per active pattern
                active = np.any(np.linalg.norm(U.reshape(-1, *U.shape[-2:]), axis=-1) > 0, axis=0)
                gates = np.zeros((Xd.shape[1], masks.shape[1]))
                for i in np.flatnonzero(active):
                    gates[:, i] = realizing_gate(Xd, masks[:, i])
            self.network_ = _gated_network(gates, U, offset=problem.offset_value(U))
        return self

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.predict(self._design(X))


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    """Two-layer ReLU regression by convex optimization (C-ReLU or C-GReLU).

    Parameters
    ----------
    model : {"relu", "gated"}
        ``"relu"``: C-ReLU, an exact ReLU network for the pattern set.
        ``"gated"``: C-GReLU (no cone constraints; a gated ReLU network).
    lam : float
        Regularization :math:`\\lambda \\ge 0` (loss normalized by ``n``).
    n_gates : int
        Number of sampled gates (duplicate and empty patterns are dropped).
    patterns : {None, "exact"}
        ``"exact"`` enumerates every activation pattern of the data (the
        global optimum of the weight-decay network; small data only).
    bias : bool
        Append a column of ones (the hidden bias) to ``X``.
    penalize_bias : bool
        ``False`` leaves the bias column out of the group norms (C-ReLU only).
    offset : bool
        Fit a free (unpenalized) output offset.
    solver : str, optional
        Solver name (see :func:`relu_convex.solvers.available_solvers`);
        ``None`` uses :data:`relu_convex.fitting.DEFAULT_SOLVER`.
    tol : float
        Solver tolerance.
    max_iter : int, optional
    random_state : int, RandomState or None
        Seeds the gates.

    Attributes
    ----------
    network_ : ReLUNetwork or GatedReLUNetwork
        The fitted network; it takes ``add_bias(X)`` when ``bias=True``.
    certificate_ : Certificate
        Objective, certified lower bound and gap of the fit. Its dual point is
        the better of the weights' residual and the solver's
        ``solve_result_.dual``, checked anew, so its lower bound is
        ``solve_result_.lower_bound`` up to rounding (:func:`_fit_certificate`).
    weights_ : ndarray or pair of ndarrays
    patterns_ : ndarray of bool, shape (n, p)
    gates_ : ndarray, shape (d, p) or None
        The gate of each pattern (``None`` for ``patterns="exact"``).
    solve_result_ : SolveResult
    n_iter_ : int
        Solver iterations (at least 1).
    n_features_in_ : int
    """

    def fit(self, X, y):
        """Fit on ``X`` (n, d) and ``y`` (n,) or (n, c)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return self._fit_targets(X, np.asarray(y, dtype=np.float64))

    def predict(self, X) -> np.ndarray:
        """Return predictions, shape (n,) or (n, c)."""
        return self._outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    """Two-layer ReLU classification by convex optimization: regression on +-1 targets.

    Two classes: one output, target :math:`+1` for ``classes_[1]`` and
    :math:`-1` otherwise. More: one-vs-all targets of shape (n, c). Parameters
    and attributes are those of :class:`ConvexReLURegressor`, plus
    ``classes_``.
    """

    def fit(self, X, y):
        """Fit on ``X`` (n, d) and class labels ``y`` (n,)."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        binarizer = LabelBinarizer(neg_label=-1, pos_label=1).fit(y)
        self.classes_ = binarizer.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least two classes; got 1 class ({self.classes_[0]!r})")
        Y = binarizer.transform(y).astype(np.float64)
        return self._fit_targets(X, Y[:, 0] if Y.shape[1] == 1 else Y)

    def decision_function(self, X) -> np.ndarray:
        """Return the network outputs: shape (n,) for two classes (positive means ``classes_[1]``), else (n, c)."""
        return self._outputs(X)

    def predict(self, X) -> np.ndarray:
        """Return the predicted class labels, shape (n,)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
