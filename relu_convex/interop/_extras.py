"""Helpers of the interop modules: importing an optional framework, checking counts and scales."""

from __future__ import annotations

import importlib
import numbers

import numpy as np

__all__ = ["require", "check_count", "check_scale"]


def require(module: str, extra: str):
    """Return the imported ``module`` or raise :class:`ImportError` naming the extra.

    Parameters
    ----------
    module : str
        Top-level module name, e.g. ``"torch"`` or ``"sklearn"``.
    extra : str
        The package extra that installs it, e.g. ``"torch"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this feature needs {module}, which is not installed; install it with: pip install 'relu-convex[{extra}]'"
        ) from exc


def check_count(value, name: str) -> int:
    """Return ``value`` as a positive int, or raise :class:`ValueError` naming ``name``.

    Python and NumPy integers are accepted, and so are floats with an integral
    value (``10.0``); ``bool``, non-integral floats (``2.7``), non-finite
    values, other types and values below 1 are refused.

    Parameters
    ----------
    value : int, numpy integer or float
    name : str
        Argument name used in the message.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        count = int(value)
    elif isinstance(value, numbers.Real) and np.isfinite(float(value)) and float(value).is_integer():
        count = int(value)
    else:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if count < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return count


def check_scale(value, name: str) -> float:
    """Return ``value`` as a finite float ``>= 0`` (a regularization strength), or raise :class:`ValueError` naming ``name``."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {scale}")
    return scale
