r"""Gates, activation patterns and the bias column.

A gate :math:`g \in \mathbb{R}^d` gives the mask :math:`D = \mathrm{diag}(1[Xg \ge 0])`.
A pattern set is a boolean array of shape (n, p) whose column ``i`` is the
diagonal of :math:`D_i`; it has unique columns and no all-false column. The
exact set of all cell patterns lives in :mod:`relu_convex.arrangement`.
"""

from __future__ import annotations

import numpy as np

from .data import check_gates, check_positive_int, check_X

__all__ = ["sample_gates", "activation_patterns", "add_bias", "unique_patterns"]


def sample_gates(d: int, p: int, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Draw ``p`` standard normal gate vectors in dimension ``d``.

    Parameters
    ----------
    d : int
        Dimension of the data (after any bias column is added).
    p : int
        Number of gates.
    seed : int, Generator or None
        Seed for :func:`numpy.random.default_rng` (an integer >= 0, a sequence of
        them, or None), or a Generator to draw from.

    Returns
    -------
    ndarray, shape (d, p)
    """
    d = check_positive_int(d, "d")
    p = check_positive_int(p, "p")
    if isinstance(seed, np.random.Generator):
        rng = seed
    else:
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, an integer >= 0 (or a sequence of them) or a numpy.random.Generator, "
                            f"got {type(seed).__name__} {seed!r:.60}") from exc
    return rng.standard_normal((d, p))


def unique_patterns(masks: np.ndarray) -> np.ndarray:
    """Drop all-false and repeated columns of a boolean mask array, keeping first occurrences.

    Parameters
    ----------
    masks : ndarray of bool, shape (n, q)

    Returns
    -------
    ndarray of bool, shape (n, p) with p <= q
    """
    masks = masks[:, masks.any(axis=0)]
    if masks.shape[1] == 0:
        return masks
    packed = np.packbits(masks, axis=0)
    _, first = np.unique(packed, axis=1, return_index=True)
    return masks[:, np.sort(first)]


def activation_patterns(X, gates) -> np.ndarray:
    r"""Return the activation patterns :math:`1[X g_j \ge 0]` of the given gates.

    Parameters
    ----------
    X : array_like, shape (n, d)
    gates : array_like, shape (d, q)

    Returns
    -------
    ndarray of bool, shape (n, p)
        Unique columns in order of first appearance, all-false columns removed
        (p <= q).

    Raises
    ------
    ValueError
        If no gate gives a pattern with an active row.
    """
    X = check_X(X)
    gates = check_gates(gates, X.shape[1])
    masks = unique_patterns(X @ gates >= 0)
    if masks.shape[1] == 0:
        raise ValueError(
            "gates: every gate gives the all-false pattern on X (no row has x . g >= 0); "
            "expected at least one gate with an active row"
        )
    return masks


def add_bias(X) -> np.ndarray:
    """Append a column of ones to ``X`` (the hidden-layer bias).

    Parameters
    ----------
    X : array_like, shape (n, d)

    Returns
    -------
    ndarray, shape (n, d + 1)
    """
    X = check_X(X)
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])
