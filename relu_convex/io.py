"""Reading data and networks from files a user hands us (never pickles).

Data files are ``.npz`` archives with arrays ``X`` (n, d) and ``y`` (n,) or
(n, c), or ``.csv`` files of at least two columns whose last column is the
target (a header row is skipped when it is not numeric). Network files are
``.npz`` archives with ``W1`` (m, d) and ``w2`` (m,) or (m, c), optionally
``b1`` (m,) (hidden biases), ``offset`` (scalar or (c,), output offset; ``b2``
is its earlier name) and ``gates`` (a gated network): the format of
:func:`relu_convex.networks.network_from_arrays`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from .data import check_X, check_y

__all__ = ["load_dataset", "load_network_arrays"]


def _existing(path, name: str) -> Path:
    """Return ``path`` as a Path; a ValueError naming ``name`` if it is missing or not a regular file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a directory, expected a file")
    if not path.is_file():
        raise ValueError(f"{name}: file not found: {path}")
    return path


def _csv_problem(exc: Exception) -> str:
    """One line describing why numpy could not parse a CSV file (its messages span several lines)."""
    rows = re.findall(r"Line #(\d+) \(got (\d+) columns instead of (\d+)\)", str(exc))
    if rows:
        shown = "; ".join(f"line {line} has {got} columns, expected {want}" for line, got, want in rows[:3])
        more = f"; and {len(rows) - 3} more such lines" if len(rows) > 3 else ""
        return f"rows of different lengths: {shown}{more}"
    return " ".join(str(exc).split())


def _read_csv(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV table of shape (n, d + 1) (an optional non-numeric header row) into ``X`` (n, d) and ``y`` (n,)."""
    if path.stat().st_size == 0:
        raise ValueError(f"{name}: {path} is empty; expected rows of features followed by the target")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on files without data rows; the checks below say so
            table = np.genfromtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except Exception as exc:
        raise ValueError(f"{name}: cannot parse {path} as CSV ({_csv_problem(exc)})") from None
    if table.size and np.all(np.isnan(table[0])):
        table = table[1:]  # header row
    if table.size == 0:
        raise ValueError(f"{name}: {path} has no data rows; expected rows of features followed by the target")
    if table.shape[1] < 2:
        raise ValueError(
            f"{name}: {path} has one column; a CSV data file needs at least two "
            "(the features, then the target in the last column)"
        )
    return table[:, :-1], table[:, -1]


def load_dataset(path, name: str = "DATA") -> tuple[np.ndarray, np.ndarray]:
    """Read ``(X, y)`` from a ``.npz`` (arrays X, y) or ``.csv`` (target last) file.

    Raises
    ------
    ValueError
        Missing file, unknown suffix, missing arrays, or malformed contents;
        the message names ``name`` and the file.
    """
    path = _existing(path, name)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("X", "y") if k not in z.files]
                if missing:
                    raise ValueError(f"{name}: {path} must hold arrays X and y; missing {', '.join(missing)} (has {', '.join(z.files)})")
                X, y = z["X"], z["y"]
        except ValueError as exc:
            if str(exc).startswith(name):
                raise
            raise ValueError(f"{name}: cannot read {path} as a numpy .npz archive without pickles ({exc})") from None
        except OSError as exc:
            raise ValueError(f"{name}: cannot read {path} as a numpy .npz archive ({exc})") from None
    elif suffix == ".csv":
        X, y = _read_csv(path, name)
    else:
        raise ValueError(f"{name}: expected a .npz (arrays X, y) or .csv (target in the last column) file, got {path.name}")
    X = check_X(X, name=f"{name} X")
    y = check_y(y, X.shape[0], name=f"{name} y")
    return X, y


def load_network_arrays(path, name: str = "--network") -> dict[str, np.ndarray]:
    """Read a network's arrays (``W1``, ``w2``, optional ``b1``, ``offset`` or ``b2``, ``gates``) from a ``.npz`` file."""
    path = _existing(path, name)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:
        raise ValueError(f"{name}: cannot read {path} as a numpy .npz archive without pickles ({exc})") from None
    missing = [k for k in ("W1", "w2") if k not in arrays]
    if missing:
        raise ValueError(f"{name}: {path} must hold arrays W1 and w2; missing {', '.join(missing)}")
    return arrays
