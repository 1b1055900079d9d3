"""Validation of user input at the boundary.

Every public entry point passes its arguments through these functions once.
Each failure raises ``ValueError`` or ``TypeError`` naming the argument, what
was expected and what was received.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_X",
    "check_y",
    "check_lam",
    "check_patterns",
    "check_gates",
    "check_positive_int",
    "check_tol",
    "to_host",
]


def _describe(a: np.ndarray) -> str:
    return f"array of shape {a.shape} and dtype {a.dtype}"


def _as_float_array(value, name: str, dtype=None) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array of real numbers, got None")
    # array-API arrays (e.g. torch tensors, on any device) are validated on a host
    # copy; problems keep the original library for the solvers (relu_convex.backend)
    value = to_host(value)
    try:
        a = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many types
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}") from exc
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if np.iscomplexobj(a):
        raise TypeError(f"{name} must be real, got complex dtype {a.dtype}")
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
    return np.asarray(a, dtype=dtype)


def to_host(value):
    """Return a PyTorch tensor (any device, detached) or other array-API array as a NumPy array; other values unchanged."""
    if value is None or isinstance(value, np.ndarray):
        return value
    if callable(getattr(value, "detach", None)) and callable(getattr(value, "cpu", None)):
        return value.detach().cpu().numpy()
    if hasattr(value, "__array_namespace__") or hasattr(value, "__dlpack__"):
        try:
            return np.asarray(value)
        except (TypeError, RuntimeError, ValueError):
            # an array on a device NumPy cannot read implicitly (CuPy, a non-CPU
            # array-API device): ask the producer for a host copy through DLPack
            if not hasattr(value, "__dlpack__"):
                raise
            return np.from_dlpack(value, device="cpu")
    return value


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(a)):
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} must contain only finite numbers; found {bad} NaN or inf entries")


def check_X(X, name: str = "X", dtype=None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array of shape (n, d) with n, d >= 1.

    Parameters
    ----------
    X : array_like, shape (n, d)
    name : str
        Argument name used in error messages.
    dtype : numpy dtype, optional
        float32 and float64 inputs keep their dtype by default; others become float64.
    """
    a = _as_float_array(X, name, dtype)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n, d), got {_describe(a)}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {a.shape}")
    _check_finite(a, name)
    return a


def check_y(y, n: int, name: str = "y", dtype=None) -> np.ndarray:
    """Return targets as a finite float array of shape (n,) or (n, c).

    Parameters
    ----------
    y : array_like, shape (n,) or (n, c)
    n : int
        Number of rows of the data matrix.
    """
    a = _as_float_array(y, name, dtype)
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D of shape (n,) or 2-D of shape (n, c), got {_describe(a)}")
    if a.shape[0] != n:
        raise ValueError(f"{name} must have n = {n} rows to match X, got shape {a.shape}")
    if a.ndim == 2 and a.shape[1] == 0:
        raise ValueError(f"{name} of shape (n, c) must have c >= 1, got shape {a.shape}")
    _check_finite(a, name)
    return a


def check_lam(lam, name: str = "lam") -> float:
    """Return the regularization strength as a float, finite and >= 0."""
    if isinstance(lam, (bool, np.bool_)) or not isinstance(lam, numbers.Real):
        if isinstance(lam, np.ndarray) and lam.ndim == 0 and np.issubdtype(lam.dtype, np.floating):
            lam = float(lam)
        else:
            raise TypeError(f"{name} must be a real number, got {type(lam).__name__}")
    lam = float(lam)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {lam}")
    return lam


def check_patterns(patterns, n: int, name: str = "patterns", *, pattern_set: bool = False) -> np.ndarray:
    """Return activation patterns as a boolean array of shape (n, p) with p >= 1.

    Column ``i`` is the diagonal of the mask ``D_i``. With ``pattern_set=True``
    the columns must also form a pattern set: no all-false column and no column
    repeated (``ValueError`` naming the first offending column; the problem
    classes ask this, since such columns only add copies of a block or a block
    that cannot act, and usually mean masks built for other data).
    :func:`relu_convex.patterns.unique_patterns` drops them.
    """
    if patterns is None:
        raise TypeError(f"{name} must be a boolean array of shape (n, p), got None")
    a = np.asarray(to_host(patterns))
    if a.dtype != np.bool_:
        raise TypeError(
            f"{name} must be a boolean array of shape (n, p) (column i is the diagonal of D_i), "
            f"got dtype {a.dtype}; use relu_convex.activation_patterns to build it"
        )
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"{name} must have shape (n, p) with n = {n}, got shape {a.shape}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one pattern (p >= 1), got shape {a.shape}")
    if pattern_set:
        _check_pattern_set(a, name)
    return a


def _check_pattern_set(a: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` at the first all-false or repeated column of the boolean (n, p) array ``a``."""
    fix = "drop them with relu_convex.patterns.unique_patterns"
    empty = np.flatnonzero(~a.any(axis=0))
    if empty.size:
        raise ValueError(f"{name}: column {empty[0]} is all-false (no active row), and a pattern set has no all-false "
                         f"column ({empty.size} found); {fix}")
    _, first, inverse = np.unique(np.packbits(a, axis=0), axis=1, return_index=True, return_inverse=True)
    if first.size < a.shape[1]:
        original = first[np.ravel(inverse)]  # the first column equal to each column
        repeats = np.flatnonzero(original != np.arange(a.shape[1]))
        raise ValueError(f"{name}: column {repeats[0]} repeats column {original[repeats[0]]}, and a pattern set has "
                         f"unique columns ({repeats.size} repeated columns found); {fix}")


def check_gates(gates, d: int, name: str = "gates") -> np.ndarray:
    """Return gate vectors as a finite float array of shape (d, p) with p >= 1."""
    a = _as_float_array(gates, name)
    if a.ndim != 2 or a.shape[0] != d:
        raise ValueError(f"{name} must have shape (d, p) with d = {d}, got {_describe(a)}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one gate (p >= 1), got shape {a.shape}")
    _check_finite(a, name)
    return a


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_tol(value, name: str = "tol") -> float:
    """Return a tolerance as a float in (0, 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1), got {type(value).__name__}")
    value = float(value)
    if not (0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value
