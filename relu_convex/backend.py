r"""Array-API backend: the masked operator for NumPy, PyTorch and other array libraries.

:class:`ArrayAPIMaskedOperator` applies the same maps as
:class:`relu_convex.operators.MaskedOperator` with the namespace of its
inputs (through ``array-api-compat``), so PyTorch tensors in float32 or
float64, on any device, stay tensors:

.. math::

    U \mapsto \sum_i D_i X u_i, \qquad r \mapsto (X^\top D_i r)_i, \qquad
    V \mapsto ((2D_i - I) X v_i)_i, \qquad Z \mapsto (X^\top (2D_i - I) z_i)_i.

Helpers: :func:`get_namespace` (the array namespace of some arrays),
:func:`to_numpy` and :func:`from_numpy`. Importing this module needs
``array-api-compat`` (the ``torch`` extra installs it); NumPy inputs work
without PyTorch.

Solving with PyTorch tensors. The problem classes take the array library of
``X``: ``GatedReLUProblem(X, y, patterns, lam)`` with ``X`` a tensor keeps an
:class:`ArrayData` (the data as tensors of ``X``'s dtype and device, ``y`` and
``patterns`` converted there when they are NumPy arrays) next to the validated
NumPy copy that the objective, the CVXPY builders and the certificates use.
``problem.solve(solver="fista")`` and ``solver="al"`` then iterate in that
library, on that device, and return weights of ``X``'s type (see
``SolveResult.backend`` and ``SolveResult.device``); the conic solvers go
through CVXPY on the host and return NumPy weights. There is no switch to
remember: to solve on NumPy, pass NumPy arrays (``tensor.numpy()``), the
scikit-learn habit of "arrays in, same arrays out". Certificates stay
honest: every reported lower bound is evaluated with NumPy on the host, and
in float64 at the returned weights for float32 data, as for NumPy inputs.
"""

from __future__ import annotations

import numpy as np

from .data import to_host
from .interop._extras import require
from .operators import power_norm_squared

__all__ = ["get_namespace", "to_numpy", "from_numpy", "is_foreign_array", "require_array_api", "ArrayAPIMaskedOperator",
           "ArrayData"]


def get_namespace(*arrays):
    """Return the array-API namespace shared by ``arrays`` (NumPy arrays give ``array_api_compat.numpy``).

    Raises
    ------
    TypeError
        The arrays come from different libraries.
    ImportError
        ``array-api-compat`` is not installed.
    """
    compat = require("array_api_compat", "torch")
    return compat.array_namespace(*arrays)


def to_numpy(a) -> np.ndarray:
    """Return ``a`` as a NumPy array (copied to the host and detached for PyTorch tensors)."""
    return np.asarray(to_host(a))


def from_numpy(a: np.ndarray, like):
    """Return ``a`` in the namespace, dtype and device of ``like``."""
    xp = get_namespace(like)
    compat = require("array_api_compat", "torch")
    return xp.asarray(a, dtype=like.dtype, device=compat.device(like))


def is_foreign_array(a) -> bool:
    """Whether ``a`` is an array of a non-NumPy array-API library (e.g. a PyTorch tensor).

    False for NumPy arrays, lists and scalars. Without ``array-api-compat``, an
    object with ``__array_namespace__`` or ``__dlpack__`` (a PyTorch tensor, a
    CuPy or JAX array) counts as one, so that it is recognised either way
    (:func:`require_array_api` then says what to install).
    """
    if a is None or isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        return False
    try:
        import array_api_compat as compat
    except ImportError:
        return hasattr(a, "__array_namespace__") or hasattr(a, "__dlpack__")
    return bool(compat.is_array_api_obj(a)) and not compat.is_numpy_array(a)


def require_array_api(a, name: str = "X"):
    """Return the ``array_api_compat`` module for the non-NumPy array ``a`` given as ``name``.

    Raises
    ------
    ImportError
        ``array-api-compat`` is not installed: the message names ``name``, its
        type and the extra that installs it (``pip install 'relu-convex[torch]'``).
        A problem built from such an array iterates in its library, on its
        device, and there is no silent fallback to NumPy.
    """
    try:
        import array_api_compat
    except ImportError:
        kind = f"{type(a).__module__}.{type(a).__name__}"
        raise ImportError(
            f"{name} is a {kind}: problems built from non-NumPy arrays iterate in their library through "
            "array-api-compat, which is not installed; install it with: pip install 'relu-convex[torch]' "
            f"(or pip install array-api-compat), or pass NumPy arrays instead (e.g. {name}.numpy() for a CPU tensor)"
        ) from None
    return array_api_compat


class ArrayAPIMaskedOperator:
    r"""The maps of the convex programs for any array-API library.

    Parameters
    ----------
    X : array, shape (n, d)
        Data (float32 or float64), e.g. a NumPy array or a PyTorch tensor.
    masks : array of bool, shape (n, p)
        Same library as ``X``; column ``i`` is the diagonal of :math:`D_i`.

    Notes
    -----
    Shapes as in :class:`relu_convex.operators.MaskedOperator`: weights
    (p, d) or (c, p, d), predictions (n,) or (n, c), cone values (n, p) or
    (c, n, p). Every method returns arrays of the input's library, dtype and
    device; the ``n x p x d`` tensor is never built.
    """

    def __init__(self, X, masks):
        xp = get_namespace(X, masks)
        if X.dtype not in (xp.float32, xp.float64):
            raise TypeError(f"X must be float32 or float64, got dtype {X.dtype}")
        if masks.dtype != xp.bool:
            raise TypeError(f"masks must be a boolean array, got dtype {masks.dtype}")
        if X.ndim != 2 or masks.ndim != 2 or masks.shape[0] != X.shape[0]:
            raise ValueError(f"X must have shape (n, d) and masks shape (n, p) with the same n; got {tuple(X.shape)} and {tuple(masks.shape)}")
        self.xp = xp
        self.X = X
        self.masks = masks
        self._M = xp.astype(masks, X.dtype)
        self._S = 2 * self._M - 1
        self.n, self.d = X.shape
        self.p = masks.shape[1]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def mask(self):
        """The masks as a float array of shape (n, p) (as :attr:`MaskedOperator.mask`)."""
        return self._M

    @property
    def signs(self):
        """The signs :math:`2D_i - I` as a float array of shape (n, p)."""
        return self._S

    def masked_sum(self, Z):
        r"""Return :math:`\sum_i (D_i)_{kk} Z_{ki}`: (n, p) -> (n,)."""
        return self.xp.sum(self._M * Z, axis=-1)

    def _t(self, a):
        """Swap the last two axes."""
        axes = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
        return self.xp.permute_dims(a, axes)

    def gate_products(self, U):
        r"""Return :math:`X U^\top`, shape (n, p) (or (c, n, p) for (c, p, d))."""
        return self.xp.matmul(self.X, self._t(U))

    def forward(self, U):
        r"""Return :math:`\sum_i D_i X u_i`, shape (n,) or (n, c)."""
        xp = self.xp
        Z = self.gate_products(U)
        if U.ndim == 2:
            return xp.sum(self._M * Z, axis=1)
        return self._t(xp.sum(self._M * Z, axis=2))

    def adjoint(self, r):
        r"""Return the rows :math:`X^\top D_i r`: (n,) -> (p, d), (n, c) -> (c, p, d)."""
        xp = self.xp
        if r.ndim == 1:
            return xp.matmul(self._t(self._M * r[:, None]), self.X)
        R = self._t(r)[:, :, None] * self._M  # (c, n, p)
        return xp.matmul(self._t(R), self.X)

    def cone(self, V):
        r"""Return :math:`(2D_i - I) X v_i` as columns, shape (n, p) or (c, n, p)."""
        return self._S * self.gate_products(V)

    def cone_adjoint(self, Z):
        r"""Return the rows :math:`X^\top (2D_i - I) z_i`; (n, p) -> (p, d), (c, n, p) -> (c, p, d)."""
        return self.xp.matmul(self._t(self._S * Z), self.X)

    def norm_squared(self, iters: int = 50, seed: int = 0) -> float:
        r"""Estimate :math:`\|A\|_2^2` by power iteration on :math:`A^\top A` (from below)."""
        U = from_numpy(np.random.default_rng(seed).standard_normal((self.p, self.d)), self.X)
        return power_norm_squared(self, U, self.xp.linalg.vector_norm, iters)


class ArrayData:
    r"""A problem's data in the array library of its ``X`` (e.g. PyTorch on CUDA).

    Built by the problem classes when ``X`` is a non-NumPy array; the solvers
    ``"fista"`` and ``"al"`` iterate on it.

    Parameters
    ----------
    like : array, shape (n, d)
        The user's ``X``; gives the library and the device.
    X : ndarray, shape (n, d)
        The validated host copy (float32 or float64; its dtype is kept).
    y : ndarray, shape (n,) or (n, c)
        Validated targets (host).
    patterns : ndarray of bool, shape (n, p)
        Validated masks (host).

    Attributes
    ----------
    xp : namespace
        The array-API namespace (``array_api_compat.torch`` for tensors).
    X, y, masks : arrays of the library
        On :attr:`device`, ``X`` and ``y`` in :attr:`dtype`.
    operator : ArrayAPIMaskedOperator
    library : str
        The library's name, e.g. ``"torch"``.
    device : str
        E.g. ``"cpu"`` or ``"cuda:0"``.
    """

    def __init__(self, like, X: np.ndarray, y: np.ndarray, patterns: np.ndarray):
        compat = require("array_api_compat", "torch")
        self.xp = compat.array_namespace(like)
        self._device = compat.device(like)
        self.device = str(self._device)
        self.library = type(like).__module__.split(".")[0]
        self.X = self.asarray(X)
        self.y = self.asarray(y)
        self.masks = self.xp.asarray(patterns, device=self._device)
        self.dtype = self.X.dtype
        self.operator = ArrayAPIMaskedOperator(self.X, self.masks)

    def asarray(self, a, dtype=None):
        """Return the host array ``a`` in the library, on the device (default dtype: that of ``X``)."""
        if dtype is None:
            dtype = self.X.dtype if hasattr(self, "X") else None
        if dtype is None:
            return self.xp.asarray(a, device=self._device)
        return self.xp.asarray(a, dtype=dtype, device=self._device)

    def zeros(self, shape):
        """Zeros of ``shape`` in the data's dtype, on the device."""
        return self.xp.zeros(shape, dtype=self.dtype, device=self._device)

    def __repr__(self) -> str:
        return f"ArrayData(library={self.library!r}, device={self.device!r}, dtype={self.dtype})"
