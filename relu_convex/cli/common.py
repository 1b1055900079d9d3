"""Helpers shared by the subcommands: data, patterns and output."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from ..arrangement import enumerate_patterns
from ..data import check_positive_int
from ..patterns import activation_patterns, add_bias, sample_gates

__all__ = [
    "add_data_arguments",
    "build_patterns",
    "check_output_file",
    "check_seed",
    "make_output_folder",
    "plain_text",
    "print_json",
    "prepare_X",
    "remove_if_empty",
]


def add_data_arguments(p) -> None:
    p.add_argument("data", metavar="DATA", help=".npz file with arrays X, y, or .csv with the target in the last column")
    p.add_argument("--lam", type=float, required=True, help="regularization strength lambda (>= 0)")
    p.add_argument("--no-bias", action="store_true", help="do not append a column of ones to X")
    p.add_argument("--patterns", default="100", help="'exact' (enumerate every cell) or a number of sampled gates (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled gates")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def plain_text(doc: str | None) -> str:
    """A module docstring as plain text for ``--help``.

    Double-backquoted literals lose their backquotes, and roles such as
    ``:func:`name``` keep only their target.
    """
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc or "")
    return re.sub(r"``([^`]+)``", r"\1", text).strip() + "\n"


def check_seed(seed: int, name: str = "--seed") -> int:
    """Return ``seed`` if it is an integer >= 0; a ValueError naming ``name`` otherwise."""
    return check_positive_int(seed, name, minimum=0)


def check_output_file(path, name: str) -> Path:
    """Refuse, before any work, an output file that could not be written.

    Parameters
    ----------
    path : path-like
        The file to be written later.
    name : str
        The option that gave it, for the message.

    Raises
    ------
    ValueError
        ``path`` is a directory, or its folder does not exist, is not a folder
        or is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a directory, expected a file name")
    folder = path.parent
    if not folder.exists():
        raise ValueError(f"{name}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"{name}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: the folder {folder} is not writable")
    return path


def make_output_folder(path, name: str) -> tuple[Path, bool]:
    """Create an output folder (and its parents) before any work is done.

    Parameters
    ----------
    path : path-like
    name : str
        The option that gave it, for the message.

    Returns
    -------
    folder : Path
    created : bool
        Whether the folder was created by this call (the caller may remove it
        again if it stays empty).

    Raises
    ------
    ValueError
        ``path`` exists and is not a folder, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {path} exists and is not a folder")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name}: cannot create the folder {path} ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: the folder {path} is not writable")
    return path, created


def remove_if_empty(path: Path) -> None:
    """Remove a folder this command created when nothing was written into it."""
    try:
        path.rmdir()
    except OSError:
        pass  # not empty (or already gone): keep it


def prepare_X(X: np.ndarray, no_bias: bool) -> np.ndarray:
    return X if no_bias else add_bias(X)


def build_patterns(X: np.ndarray, spec: str, seed: int) -> tuple[np.ndarray, str]:
    """Return the pattern array and a description ('exact' or 'sampled (N gates)')."""
    if spec == "exact":
        return enumerate_patterns(X), "exact"
    try:
        count = int(spec)
    except ValueError:
        raise ValueError(f"--patterns must be 'exact' or a positive integer, got {spec!r}") from None
    if count < 1:
        raise ValueError(f"--patterns must be 'exact' or a positive integer, got {spec!r}")
    return activation_patterns(X, sample_gates(X.shape[1], count, seed=seed)), f"sampled ({count} gates, seed {seed})"


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


def print_json(obj) -> None:
    print(json.dumps(_clean(obj), indent=2))
