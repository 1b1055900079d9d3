r"""Two-layer networks and the maps from convex solutions to them.

A ReLU network with hidden weights :math:`W_1 \in \mathbb{R}^{m \times d}` and
output weights :math:`w_2 \in \mathbb{R}^m` (or :math:`\mathbb{R}^{m \times c}`)
predicts :math:`f(X) = (X W_1^\top)_+ w_2` and has the weight-decay objective

.. math::

    f(W_1, w_2) = \frac{1}{2n}\|f(X) - y\|^2 + \frac{\lambda}{2}(\|W_1\|_F^2 + \|w_2\|^2).

Two options match models trained elsewhere (DESIGN section 2, "Biases"): an
output offset :math:`c` (one unpenalized scalar per output, added to every
prediction) and unpenalized columns of :math:`W_1` (``unpenalized``, e.g. the
hidden bias column appended by :func:`relu_convex.add_bias`), which the penalty
skips:

.. math::

    f(W_1, w_2, c) = \frac{1}{2n}\|(X W_1^\top)_+ w_2 + c - y\|^2
        + \frac{\lambda}{2}(\|W_1[:, S]\|_F^2 + \|w_2\|^2),

with :math:`S` the penalized columns.

A C-ReLU solution maps to such a network with the same objective on the
training data: for :math:`v_i \ne 0` the neuron :math:`(v_i/\sqrt{\|v_i\|},
+\sqrt{\|v_i\|})`, for :math:`w_i \ne 0` the neuron :math:`(w_i/\sqrt{\|w_i\|},
-\sqrt{\|w_i\|})`; zero blocks are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linprog

from .data import check_lam, check_X, check_y
from .free_terms import penalized_columns

__all__ = [
    "ReLUNetwork",
    "GatedReLUNetwork",
    "relu_network_from_weights",
    "gated_network_from_weights",
    "realizing_gate",
    "network_from_arrays",
    "NETWORK_FILE_ARRAYS",
]


def _check_offset(offset, w2: np.ndarray) -> np.ndarray | None:
    if offset is None:
        return None
    shape = () if w2.ndim == 1 else (w2.shape[1],)
    c = np.asarray(offset, dtype=w2.dtype)
    if c.shape != shape and not (c.shape == (1,) and shape == ()):
        raise ValueError(f"offset must have shape {shape} (one value per output) to match w2, got shape {c.shape}")
    c = c.reshape(shape)
    if not np.all(np.isfinite(c)):
        raise ValueError("offset must contain only finite numbers")
    return c


def _check_layers(W1, w2) -> tuple[np.ndarray, np.ndarray]:
    W1 = np.asarray(W1, dtype=np.float64) if np.asarray(W1).dtype != np.float32 else np.asarray(W1)
    w2 = np.asarray(w2, dtype=W1.dtype)
    if W1.ndim != 2:
        raise ValueError(f"W1 must be 2-D of shape (m, d), got shape {W1.shape}")
    if w2.ndim not in (1, 2) or w2.shape[0] != W1.shape[0]:
        raise ValueError(f"w2 must have shape (m,) or (m, c) with m = {W1.shape[0]} to match W1, got shape {w2.shape}")
    for name, a in (("W1", W1), ("w2", w2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must contain only finite numbers")
    return W1, w2


class ReLUNetwork:
    r"""A two-layer ReLU network :math:`x \mapsto w_2^\top (W_1 x)_+`.

    Parameters
    ----------
    W1 : array_like, shape (m, d)
        Hidden weights, one row per neuron (a bias is a column of ``X``).
    w2 : array_like, shape (m,) or (m, c)
        Output weights.
    offset : float or array_like of shape (c,), optional
        Output offset added to every prediction; it is never penalized.
        ``None`` (default) means no offset.
    """

    def __init__(self, W1, w2, offset=None):
        self.W1, self.w2 = _check_layers(W1, w2)
        self.offset = _check_offset(offset, self.w2)

    @property
    def width(self) -> int:
        """Number of hidden neurons m."""
        return self.W1.shape[0]

    def _check_X(self, X) -> np.ndarray:
        X = check_X(X)
        if X.shape[1] != self.W1.shape[1]:
            raise ValueError(f"X must have d = {self.W1.shape[1]} columns to match W1, got shape {X.shape}")
        return X

    def hidden(self, X) -> np.ndarray:
        r"""Return the hidden activations :math:`(X W_1^\top)_+`, shape (n, m)."""
        return np.maximum(self._check_X(X) @ self.W1.T, 0.0)

    def predict(self, X) -> np.ndarray:
        """Return predictions of shape (n,) or (n, c) (the offset included)."""
        pred = self.hidden(X) @ self.w2
        return pred if self.offset is None else pred + self.offset

    def penalty(self, unpenalized=()) -> float:
        r"""Return :math:`\frac12(\|W_1[:, S]\|_F^2 + \|w_2\|^2)`.

        Parameters
        ----------
        unpenalized : sequence of int
            Columns of ``W1`` left out of the penalty (negative indices count
            from the end: ``-1`` is the bias column of :func:`relu_convex.add_bias`).
            :math:`S` is the set of the other columns. The offset is never penalized.
        """
        S = penalized_columns(self.W1.shape[1], unpenalized)
        return 0.5 * float(np.sum(self.W1[:, S] ** 2) + np.sum(self.w2**2))

    def objective(self, X, y, lam, *, unpenalized=()) -> float:
        r"""Return the non-convex weight-decay objective on ``(X, y)``.

        .. math::

            \frac{1}{2n}\|f(X) - y\|^2 + \frac{\lambda}{2}(\|W_1[:, S]\|_F^2 + \|w_2\|^2)

        Parameters
        ----------
        X : array_like, shape (n, d)
        y : array_like, shape (n,) or (n, c)
        lam : float
        unpenalized : sequence of int
            Columns of ``W1`` the penalty skips (see :meth:`penalty`); the
            default ``()`` penalizes every weight, as DESIGN section 2 fixes.
        """
        X = self._check_X(X)
        lam = check_lam(lam)
        penalty = self.penalty(unpenalized)
        pred = self.predict(X)
        y = check_y(y, X.shape[0])
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape} to match the network's outputs, got {y.shape}")
        r = pred - y
        return float(np.sum(r * r) / (2 * X.shape[0])) + lam * penalty

    def _arrays(self) -> dict:
        arrays = {"W1": self.W1, "w2": self.w2}
        if self.offset is not None:
            arrays["offset"] = self.offset
        return arrays

    def save(self, path) -> None:
        """Write the network to a ``.npz`` file in the format of :func:`network_from_arrays`.

        The file holds ``W1`` and ``w2``, ``offset`` when the network has one, and
        ``gates`` for a :class:`GatedReLUNetwork`. :meth:`load`, ``relu-convex
        solve --save-network`` and ``relu-convex certify --network`` use the same
        format.
        """
        np.savez(Path(path), **self._arrays())

    @classmethod
    def load(cls, path) -> ReLUNetwork:
        """Read a network from a ``.npz`` file (the format of :func:`network_from_arrays`; no pickles).

        Returns
        -------
        ReLUNetwork or GatedReLUNetwork
            A :class:`GatedReLUNetwork` when the file holds ``gates`` (also from
            ``ReLUNetwork.load``: the gates are never dropped), else a
            :class:`ReLUNetwork`.

        Raises
        ------
        ValueError
            The file is not a network file (see :func:`network_from_arrays`), or
            ``GatedReLUNetwork.load`` reads a file without ``gates``.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except ValueError as exc:  # object arrays: they would need unpickling
            raise ValueError(f"network file {path}: cannot read it as a .npz archive without pickles ({exc})") from None
        net = network_from_arrays(arrays, name=f"network file {path}")
        if issubclass(cls, GatedReLUNetwork) and not isinstance(net, GatedReLUNetwork):
            raise ValueError(f"network file {path} holds no gates: it is a ReLU network (read it with ReLUNetwork.load)")
        return net

    def __repr__(self) -> str:
        return f"{type(self).__name__}(width={self.width}, d={self.W1.shape[1]}, outputs={1 if self.w2.ndim == 1 else self.w2.shape[1]})"


class GatedReLUNetwork(ReLUNetwork):
    r"""A gated ReLU network :math:`x \mapsto \sum_j 1[g_j^\top x \ge 0]\,(W_1 x)_j\, w_{2j}`.

    Parameters
    ----------
    gates : array_like, shape (d, m)
        Gate vectors, column ``j`` for neuron ``j``.
    W1 : array_like, shape (m, d)
    w2 : array_like, shape (m,) or (m, c)
    offset : float or array_like of shape (c,), optional
        Unpenalized output offset (see :class:`ReLUNetwork`).
    """

    def __init__(self, gates, W1, w2, offset=None):
        super().__init__(W1, w2, offset)
        self.gates = np.asarray(gates, dtype=self.W1.dtype)
        if self.gates.shape != (self.W1.shape[1], self.W1.shape[0]):
            raise ValueError(f"gates must have shape (d, m) = {(self.W1.shape[1], self.W1.shape[0])}, got {self.gates.shape}")

    def hidden(self, X) -> np.ndarray:
        X = self._check_X(X)
        return (X @ self.gates >= 0) * (X @ self.W1.T)

    def _arrays(self) -> dict:
        return {**super()._arrays(), "gates": self.gates}


#: The arrays a network file may hold: ``W1`` and ``w2`` (required), then the optional ones.
NETWORK_FILE_ARRAYS = ("W1", "w2", "b1", "offset", "b2", "gates")


def network_from_arrays(arrays, name: str = "network") -> ReLUNetwork:
    r"""Build a network from the arrays of a network file.

    One format (a ``.npz`` archive, read without pickles) is written by
    :meth:`ReLUNetwork.save` and ``relu-convex solve --save-network`` and read by
    :meth:`ReLUNetwork.load` and ``relu-convex certify --network``:

    ``W1``, shape (m, d)
        Hidden weights, one row per neuron. A hidden bias is its last column
        (the network takes :func:`relu_convex.add_bias` ``(X)``).
    ``w2``, shape (m,) or (m, c)
        Output weights.
    ``b1``, shape (m,), optional
        Hidden biases given apart from ``W1``; they become its last column, so
        the network is the same as with a ``W1`` of d + 1 columns.
    ``offset``, scalar or shape (c,), optional
        The output offset, added to every prediction and never penalized.
        ``b2`` is read as the same array (its earlier name); a file holds at
        most one of the two.
    ``gates``, shape (d, m), optional
        Gate vectors, one column per neuron: the file holds a
        :class:`GatedReLUNetwork`. ``d`` counts the columns of ``W1`` after
        ``b1`` is appended.

    Parameters
    ----------
    arrays : mapping of str to array_like
        The file's arrays by name.
    name : str
        Names the source in error messages.

    Returns
    -------
    ReLUNetwork or GatedReLUNetwork

    Raises
    ------
    ValueError
        ``W1`` or ``w2`` missing, an array of another name, both ``offset`` and
        ``b2``, or arrays whose shapes do not fit together; the message starts
        with ``name``.
    """
    missing = [k for k in ("W1", "w2") if k not in arrays]
    if missing:
        raise ValueError(f"{name} must hold arrays W1 and w2; missing {', '.join(missing)}")
    unknown = sorted(k for k in arrays if k not in NETWORK_FILE_ARRAYS)
    if unknown:
        raise ValueError(
            f"{name} holds arrays {', '.join(unknown)}, which are not part of a network file "
            f"(arrays: {', '.join(NETWORK_FILE_ARRAYS)})"
        )
    if "offset" in arrays and "b2" in arrays:
        raise ValueError(f"{name} holds both offset and b2 (two names of the output offset); keep one")
    try:
        W1, w2 = _check_layers(arrays["W1"], arrays["w2"])
        if "b1" in arrays:
            b1 = np.asarray(arrays["b1"], dtype=W1.dtype)
            if b1.shape != (W1.shape[0],) or not np.all(np.isfinite(b1)):
                raise ValueError(
                    f"b1 must hold {W1.shape[0]} finite hidden biases, one per neuron; got shape {b1.shape}"
                )
            W1 = np.hstack([W1, b1[:, None]])
        key = "offset" if "offset" in arrays else "b2"
        offset = None
        if key in arrays:
            try:
                offset = _check_offset(arrays[key], w2)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{key} (the output offset): {exc}") from None
        if "gates" in arrays:
            return GatedReLUNetwork(arrays["gates"], W1, w2, offset=offset)
        return ReLUNetwork(W1, w2, offset=offset)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _split_neurons(blocks: np.ndarray, sign: float, S: np.ndarray | None = None):
    """Balance each nonzero block: row ``b / sqrt(||b[S]||)``, output weight ``sign * sqrt(||b[S]||)``.

    Blocks whose penalized part ``b[S]`` is zero are dropped (callers handle
    them: with every column penalized they are the zero blocks).
    """
    norms = np.linalg.norm(blocks if S is None else blocks[:, S], axis=1)
    keep = norms > 0
    root = np.sqrt(norms[keep])
    return blocks[keep] / root[:, None], sign * root, keep


def relu_network_from_weights(weights, *, unpenalized=(), offset=None, X=None) -> ReLUNetwork:
    r"""Map C-ReLU weights ``(V, W)`` to a :class:`ReLUNetwork`.

    Parameters
    ----------
    weights : pair of ndarrays, shape (p, d) or (c, p, d) each
    unpenalized : sequence of int
        Columns the group norms skip. A block is balanced on its penalized
        part: row :math:`v_i / \sqrt{\|v_i[S]\|}`, output weight
        :math:`\sqrt{\|v_i[S]\|}`, so the network penalty with the same
        ``unpenalized`` equals :math:`\lambda\|v_i[S]\|`.
    offset : float or ndarray of shape (c,), optional
        Output offset of the network.
    X : ndarray, shape (n, d), optional
        Training data; needed only when some nonzero block has a zero
        penalized part. Such a block lies in a cone whose pattern is constant
        on ``X`` (:math:`X v_i` is a multiple of the bias column), so it is a
        constant on the training data with zero penalty; it is folded into
        the offset (no finite neuron has zero penalty and the same output).

    Returns
    -------
    ReLUNetwork
        Width equal to the number of blocks with a nonzero penalized part. For
        ``c`` outputs, each neuron feeds one output (its ``w2`` row has one
        nonzero entry).

    Raises
    ------
    ValueError
        If a block with a zero penalized part is not constant on ``X`` (or
        ``X`` is not given).
    """
    V, W = (np.asarray(a, dtype=np.float64) for a in weights)
    if V.ndim == 2:
        V, W, single = V[None], W[None], True
    else:
        single = False
    c, _, d = V.shape
    S = penalized_columns(d, unpenalized) if len(unpenalized) else None
    extra = np.zeros(c)
    rows, outs = [], []
    for k in range(c):
        for blocks, sign in ((V[k], 1.0), (W[k], -1.0)):
            w1, a, keep = _split_neurons(blocks, sign, S)
            free = blocks[~keep][np.any(blocks[~keep] != 0, axis=1)]
            if len(free):
                extra[k] += sign * _constant_value(free, X)
            rows.append(w1)
            col = np.zeros((len(a), c))
            col[:, k] = a
            outs.append(col)
    W1 = np.concatenate(rows, axis=0) if rows else np.zeros((0, d))
    w2 = np.concatenate(outs, axis=0)
    if np.any(extra != 0):
        offset = extra + (0.0 if offset is None else np.asarray(offset, dtype=np.float64).reshape(-1))
    if offset is not None:
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        offset = offset[0] if single else offset
    return ReLUNetwork(W1, w2[:, 0] if single else w2, offset=offset)


def _constant_value(blocks: np.ndarray, X) -> float:
    """Total output of bias-only blocks ``(X b)_+`` summed, when it is constant on ``X``."""
    if X is None:
        raise ValueError("X is needed to map blocks with an unpenalized part only (pass the training data X)")
    out = np.maximum(np.asarray(X, dtype=np.float64) @ blocks.T, 0.0).sum(axis=1)
    if not np.allclose(out, out[0], rtol=1e-9, atol=1e-12 * max(1.0, abs(out[0]))):
        raise ValueError("a block with only unpenalized coordinates is not constant on X; it has no network with a finite penalty")
    return float(np.mean(out))


def realizing_gate(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""Find a gate :math:`g` with :math:`1[Xg \ge 0] = ` ``mask``.

    Solves :math:`\max t` s.t. :math:`x_k^\top g \ge t` (active rows),
    :math:`x_k^\top g \le -t` (inactive rows), :math:`\|g\|_\infty \le 1`,
    :math:`t \le 1`; if the best margin is zero (the pattern lies on a
    boundary), keeps active rows at :math:`\ge 0` and asks for a margin on the
    inactive rows only.

    Raises
    ------
    ValueError
        If no gate gives ``mask`` on ``X``.
    """
    n, d = X.shape
    s = np.where(mask, 1.0, -1.0)
    A = -(s[:, None] * X)
    for margin_rows in (np.ones(n, dtype=bool), ~mask):
        A_ub = np.hstack([A, margin_rows[:, None].astype(float)])  # -s x.g + t <= 0
        res = linprog(
            c=np.r_[np.zeros(d), -1.0],
            A_ub=A_ub,
            b_ub=np.zeros(n),
            bounds=[(-1, 1)] * d + [(None, 1)],
            method="highs",
        )
        if res.status == 0 and -res.fun > 1e-12:
            g = res.x[:d]
            if np.array_equal(X @ g >= 0, mask):
                return g
    raise ValueError("patterns: a pattern is not realized by any gate on X (it is not a cell of the arrangement)")


def gated_network_from_weights(problem, U: np.ndarray) -> GatedReLUNetwork:
    """Map C-GReLU weights to a :class:`GatedReLUNetwork`, one gate per nonzero block.

    The gate of block ``i`` is found by :func:`realizing_gate` so that the
    network reproduces the pattern :math:`D_i` on the training data.
    """
    U = np.asarray(U, dtype=np.float64)
    single = U.ndim == 2
    U3 = U[None] if single else U
    c = U3.shape[0]
    rows, outs, gates = [], [], []
    gate_cache: dict[int, np.ndarray] = {}
    for k in range(c):
        w1, a, keep = _split_neurons(U3[k], 1.0)
        for i in np.flatnonzero(keep):
            if i not in gate_cache:
                gate_cache[i] = realizing_gate(np.asarray(problem.X, dtype=np.float64), problem.patterns[:, i])
            gates.append(gate_cache[i])
        rows.append(w1)
        col = np.zeros((len(a), c))
        col[:, k] = a
        outs.append(col)
    W1 = np.concatenate(rows, axis=0)
    w2 = np.concatenate(outs, axis=0)
    G = np.stack(gates, axis=1) if gates else np.zeros((problem.d, 0))
    return GatedReLUNetwork(G, W1, w2[:, 0] if single else w2)
