r"""scikit-learn import and export: ``MLPRegressor`` with one ReLU hidden layer.

A fitted ``MLPRegressor(hidden_layer_sizes=(m,), activation="relu")`` has
``coefs_ = [A1 (d, m), A2 (m, c)]`` and ``intercepts_ = [b1 (m,), b2 (c,)]``
and predicts :math:`(X A_1 + b_1)_+ A_2 + b_2`. It maps to a
:class:`~relu_convex.networks.ReLUNetwork` with

* :math:`W_1 = [A_1^\top \; b_1]` of shape (m, d + 1): the hidden bias is the
  last column, so the network takes ``add_bias(X)``;
* :math:`w_2 = A_2` (shape (m,) when ``c == 1``) and ``offset`` :math:`= b_2`.

Objective. scikit-learn (checked against version 1.9's
``_multilayer_perceptron.py``) minimizes, for ``n`` samples and ``c`` outputs,

.. math::

    L = \frac{1}{2nc}\|R\|_F^2 + \frac{\alpha}{2n}(\|A_1\|_F^2 + \|A_2\|_F^2),

(``squared_loss`` is half the mean over samples and outputs; the L2 term is
``0.5 * alpha * sum(coef ** 2) / n_samples``; intercepts are not penalized).
Our network objective with ``unpenalized=(-1,)`` (the bias column) and the
offset is

.. math::

    J = \frac{1}{2n}\|R\|_F^2 + \frac{\lambda}{2}(\|W_1[:, :d]\|_F^2 + \|w_2\|^2)
      = c\,L \quad\text{exactly when}\quad \lambda = \frac{c\,\alpha}{n}.

For one output the two objectives are equal. :func:`lam_from_alpha` and
:func:`alpha_from_lam` convert; :func:`sklearn_loss` evaluates :math:`L`.
"""

from __future__ import annotations

import numpy as np

from ..certificates import Certificate
from ..data import check_X, check_y
from ..networks import GatedReLUNetwork, ReLUNetwork
from ..patterns import add_bias
from ..solvers.result import relative_gap
from ._extras import check_count, check_scale, require

__all__ = [
    "network_from_sklearn",
    "network_to_sklearn",
    "lam_from_alpha",
    "alpha_from_lam",
    "sklearn_loss",
    "certify_mlp",
    "UNPENALIZED",
]

UNPENALIZED = (-1,)
"""The unpenalized columns of an imported MLP: the hidden bias column."""


def _check_mlp(mlp):
    sklearn = require("sklearn", "sklearn")
    from sklearn.neural_network import MLPRegressor
    from sklearn.utils.validation import check_is_fitted

    del sklearn
    if not isinstance(mlp, MLPRegressor):
        raise TypeError(f"mlp must be a fitted sklearn.neural_network.MLPRegressor, got {type(mlp).__name__}")
    check_is_fitted(mlp)
    if mlp.activation != "relu" or len(mlp.coefs_) != 2:
        raise ValueError(
            "mlp must have one hidden layer with ReLU activation (hidden_layer_sizes=(m,), activation='relu'); "
            f"got activation={mlp.activation!r} and {len(mlp.coefs_) - 1} hidden layers"
        )
    if getattr(mlp, "loss", "squared_error") != "squared_error" or getattr(mlp, "out_activation_", "identity") != "identity":
        raise ValueError(f"mlp must use loss='squared_error' with the identity output, got loss={getattr(mlp, 'loss', None)!r}")
    return mlp


def lam_from_alpha(alpha: float, n_samples: int, n_outputs: int = 1) -> float:
    r"""Return :math:`\lambda = c\,\alpha / n`, the ``lam`` whose objective is ``c`` times scikit-learn's.

    Parameters
    ----------
    alpha : float
        scikit-learn's L2 strength, finite and >= 0.
    n_samples : int
        Training samples ``n``, a positive integer (NumPy integers and integral
        floats are accepted).
    n_outputs : int
        Outputs ``c``, a positive integer.

    Raises
    ------
    ValueError
        ``alpha`` negative or not finite, or a count that is not a positive
        integer (e.g. ``0``, ``-2`` or ``2.7``); the message names the argument.
    """
    n = check_count(n_samples, "n_samples")
    c = check_count(n_outputs, "n_outputs")
    return c * check_scale(alpha, "alpha") / n


def alpha_from_lam(lam: float, n_samples: int, n_outputs: int = 1) -> float:
    r"""Return :math:`\alpha = n\lambda / c` (inverse of :func:`lam_from_alpha`).

    Parameters
    ----------
    lam : float
        Finite and >= 0.
    n_samples, n_outputs : int
        Positive integers, as in :func:`lam_from_alpha`.

    Raises
    ------
    ValueError
        As :func:`lam_from_alpha`.
    """
    n = check_count(n_samples, "n_samples")
    c = check_count(n_outputs, "n_outputs")
    return n * check_scale(lam, "lam") / c


def network_from_sklearn(mlp) -> ReLUNetwork:
    """Return the :class:`ReLUNetwork` of a fitted one-hidden-layer ReLU ``MLPRegressor``.

    Parameters
    ----------
    mlp : sklearn.neural_network.MLPRegressor
        Fitted, ``hidden_layer_sizes=(m,)``, ``activation="relu"``.

    Returns
    -------
    ReLUNetwork
        ``W1`` (m, d + 1) with the hidden bias last (evaluate on ``add_bias(X)``),
        ``w2`` (m,) or (m, c), ``offset`` the output intercept. Its objective
        with ``unpenalized=(-1,)`` and ``lam_from_alpha(mlp.alpha, n, c)`` is
        ``c`` times the MLP's loss on the same data.
    """
    mlp = _check_mlp(mlp)
    A1, A2 = (np.asarray(a, dtype=np.float64) for a in mlp.coefs_)
    b1, b2 = (np.asarray(b, dtype=np.float64) for b in mlp.intercepts_)
    W1 = np.hstack([A1.T, b1[:, None]])
    if A2.shape[1] == 1:
        return ReLUNetwork(W1, A2[:, 0], offset=b2[0])
    return ReLUNetwork(W1, A2, offset=b2)


def network_to_sklearn(network: ReLUNetwork, *, alpha: float = 1e-4, bias: bool = True):
    """Return an ``MLPRegressor`` that predicts like ``network`` (ready to ``predict`` or to refit).

    Parameters
    ----------
    network : ReLUNetwork
        Not gated. Its ``offset`` (0 when ``None``) becomes the output intercept.
    alpha : float
        The regressor's ``alpha`` (use :func:`alpha_from_lam` to match a ``lam``).
    bias : bool
        ``True``: the last column of ``W1`` is the hidden bias (the network takes
        ``add_bias(X)``, the regressor takes ``X``). ``False``: the hidden
        intercepts are zero.

    Returns
    -------
    sklearn.neural_network.MLPRegressor
        With ``coefs_``, ``intercepts_``, ``n_features_in_``, ``n_outputs_``,
        ``n_layers_`` and ``out_activation_`` set, as after ``fit``.
    """
    require("sklearn", "sklearn")
    from sklearn.neural_network import MLPRegressor

    if isinstance(network, GatedReLUNetwork) or not isinstance(network, ReLUNetwork):
        raise TypeError(f"network must be a ReLUNetwork (not gated), got {type(network).__name__}")
    m, d = network.W1.shape
    if bias and d < 2:
        raise ValueError("bias=True needs W1 with a bias column and at least one input column; got W1 of shape (m, 1)")
    d_in = d - 1 if bias else d
    W1 = np.asarray(network.W1, dtype=np.float64)
    w2 = np.asarray(network.w2, dtype=np.float64)
    w2 = w2[:, None] if w2.ndim == 1 else w2
    c = w2.shape[1]
    mlp = MLPRegressor(hidden_layer_sizes=(m,), activation="relu", alpha=check_scale(alpha, "alpha"))
    mlp.coefs_ = [W1[:, :d_in].T.copy(), w2.copy()]
    b2 = np.zeros(c) if network.offset is None else np.reshape(np.asarray(network.offset, dtype=np.float64), (c,)).copy()
    mlp.intercepts_ = [W1[:, d_in].copy() if bias else np.zeros(m), b2]
    mlp.n_features_in_ = d_in
    mlp.n_outputs_ = c
    mlp.n_layers_ = 3
    mlp.out_activation_ = "identity"
    mlp.n_iter_ = 0
    mlp.t_ = 0
    return mlp


def _check_targets(mlp, y, n: int) -> np.ndarray:
    """``y`` as float64, of shape (n,) or (n, c) with ``c`` the MLP's outputs (``(n,)`` or ``(n, 1)`` for one)."""
    y = check_y(y, n, dtype=np.float64)
    c = int(mlp.n_outputs_)
    width = 1 if y.ndim == 1 else y.shape[1]
    if width != c:
        shapes = f"({n},) or ({n}, 1)" if c == 1 else f"({n}, {c})"
        raise ValueError(f"y must have shape {shapes} for an MLPRegressor with {c} output(s), got shape {y.shape}")
    return y


def sklearn_loss(mlp, X, y) -> float:
    r"""Return scikit-learn's training loss of ``mlp`` on ``(X, y)``, from its formula.

    .. math::

        L = \frac{1}{2nc}\|\hat Y - Y\|_F^2 + \frac{\alpha}{2n}\sum_\ell \|A_\ell\|_F^2

    (no sample weights; the value of ``mlp.loss_`` at the final weights).
    """
    mlp = _check_mlp(mlp)
    X = check_X(X, dtype=np.float64)
    y = _check_targets(mlp, y, X.shape[0])
    pred = np.asarray(mlp.predict(X), dtype=np.float64).reshape(y.shape)
    n = X.shape[0]
    fit = 0.5 * float(np.mean((y - pred) ** 2))
    l2 = sum(float(np.sum(np.asarray(a, dtype=np.float64) ** 2)) for a in mlp.coefs_)
    return fit + 0.5 * float(mlp.alpha) * l2 / n


def certify_mlp(mlp, X, y, patterns=None) -> Certificate:
    r"""Certify a trained one-output ``MLPRegressor``: its objective and a lower bound on the global optimum.

    The objective is :math:`J` (module notes) with :math:`\lambda = \alpha / n`,
    which equals scikit-learn's loss. The lower bound is the dual value of the
    scaled residual :math:`\theta = (y - f(X))/n` for C-ReLU with the
    unpenalized bias column and the offset (:mod:`relu_convex.free_terms`):
    with the exact pattern set (``patterns=None``) it bounds the optimum of
    every network of any width under this objective; with a sampled set it is
    a bound relative to that set.

    Parameters
    ----------
    mlp : sklearn.neural_network.MLPRegressor
    X : array_like, shape (n, d)
        The training data (without a bias column).
    y : array_like, shape (n,) or (n, 1)
        The targets of the one output (an ``(n, k)`` array with ``k > 1`` is
        refused).
    patterns : ndarray of bool, shape (n, p), optional
        Patterns of ``add_bias(X)``; ``None`` enumerates the exact set.

    Returns
    -------
    Certificate
        ``program="C-ReLU"``; ``objective_name`` says which objective and
        whether the pattern set is exact.

    Raises
    ------
    ValueError
        A multi-output MLP, ``X`` whose width differs from the MLP's inputs
        (the message gives the shape passed), or ``y`` of another shape.
    """
    from ..arrangement import enumerate_patterns
    from ..duality import scaled_dual_bound
    from ..free_terms import free_constraint_values
    from ..operators import MaskedOperator

    mlp = _check_mlp(mlp)
    if mlp.n_outputs_ != 1:
        raise ValueError(f"certify_mlp certifies one-output regressors, got n_outputs_={mlp.n_outputs_}")
    X = check_X(X, dtype=np.float64)
    n, d = X.shape
    d_mlp = mlp.coefs_[0].shape[0]
    if d != d_mlp:
        raise ValueError(f"X must have {d_mlp} columns (the MLP's input features, without a bias column), got shape {X.shape}")
    y = _check_targets(mlp, y, n)
    if y.ndim == 2:
        y = y[:, 0]
    Xb = add_bias(X)
    lam = lam_from_alpha(mlp.alpha, n)
    network = network_from_sklearn(mlp)
    objective = network.objective(Xb, y, lam, unpenalized=UNPENALIZED)
    exact = patterns is None
    P = enumerate_patterns(Xb) if exact else np.asarray(patterns)
    op = MaskedOperator(Xb, P)
    theta, values = free_constraint_values(op, (y - network.predict(Xb)) / n, lam, program="C-ReLU", unpenalized=UNPENALIZED, offset=True)
    bound = scaled_dual_bound(y, theta, values, lam)
    kind = "exact" if exact else "sampled"
    name = f"NC-ReLU (MLPRegressor objective, lam = alpha / n = {lam:.6g}; unpenalized hidden bias, offset; {kind} patterns)"
    return Certificate(
        objective=objective,
        lower_bound=bound.value,
        gap=objective - bound.value,
        relative_gap=relative_gap(objective, bound.value),
        max_violation=0.0,
        program="C-ReLU",
        dual=bound.theta,
        objective_name=name,
        upper_bound=objective,
        lam=lam,
        n_patterns=P.shape[1],
    )
