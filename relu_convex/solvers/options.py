"""Validation of the first-order solvers' options and their shared history record.

Every option is checked before any work starts; a bad value raises
``ValueError`` (or ``TypeError`` for a wrong type) naming the option, what was
expected and what was given.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import NamedTuple

import numpy as np

from ..data import check_positive_int, check_tol

__all__ = ["check_tol", "check_max_iter", "check_time_limit", "check_flag", "check_optional_flag", "RunOptions",
           "check_run_options", "Deadline", "History"]


def check_max_iter(value, name: str = "max_iter") -> int:
    """Return an iteration limit as an int >= 1."""
    return check_positive_int(value, name)


def check_time_limit(value, name: str = "time_limit") -> float | None:
    """Return a time limit in seconds (finite, > 0) or ``None`` for no limit."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds > 0 or None, got {type(value).__name__}")
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number of seconds > 0 or None, got {value}")
    return value


def check_flag(value, name: str) -> bool:
    """Return a boolean option."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_optional_flag(value, name: str) -> bool | None:
    """Return a three-way option: True, False or ``None`` (decided by the solver)."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True, False or None, got {value!r}")
    return bool(value)


class RunOptions(NamedTuple):
    """The options every first-order solver takes, checked (see :func:`check_run_options`)."""

    tol: float
    max_iter: int
    time_limit: float | None
    verbose: bool
    check_every: int
    polish: bool
    polish_size: int


def check_run_options(*, tol, max_iter, time_limit, verbose, check_every, polish, polish_size) -> RunOptions:
    """Check the options shared by ``"fista"`` and ``"al"``; raise naming the first bad one."""
    return RunOptions(
        tol=check_tol(tol),
        max_iter=check_max_iter(max_iter),
        time_limit=check_time_limit(time_limit),
        verbose=check_flag(verbose, "verbose"),
        check_every=check_max_iter(check_every, "check_every"),
        polish=check_flag(polish, "polish"),
        polish_size=check_max_iter(polish_size, "polish_size"),
    )


class Deadline:
    """Wall-clock bookkeeping of one solve: elapsed time and an optional limit."""

    def __init__(self, time_limit: float | None):
        self.start = time.perf_counter()
        self.at = None if time_limit is None else self.start + time_limit

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.perf_counter() - self.start

    def passed(self) -> bool:
        """Whether the time limit has been reached."""
        return self.at is not None and time.perf_counter() > self.at

    def share(self, parts: int) -> Deadline:
        """The same clock with the limit moved to a ``1/parts`` share of the time left.

        Used to give each of ``parts`` remaining pieces of work (e.g. the outputs
        that a solver handles one after another) an equal share, so that the
        first does not use up the whole limit; time a piece leaves unused goes
        to the next ones.
        """
        out = Deadline(None)
        out.start = self.start
        if self.at is not None:
            now = time.perf_counter()
            out.at = now + max(self.at - now, 0.0) / max(int(parts), 1)
        return out


class History:
    """Per-check traces of a first-order solve, as a dict of lists.

    Keys: ``iteration``, ``objective``, ``lower_bound``, ``gap``,
    ``relative_gap``, ``violation``, ``time`` (seconds since the start).
    """

    KEYS = ("iteration", "objective", "lower_bound", "gap", "relative_gap", "violation", "time")

    def __init__(self):
        self.data: dict[str, list] = {key: [] for key in self.KEYS}

    def record(self, iteration: int, objective: float, lower_bound: float, violation: float, elapsed: float) -> None:
        """Append one check."""
        from .result import relative_gap

        self.data["iteration"].append(int(iteration))
        self.data["objective"].append(float(objective))
        self.data["lower_bound"].append(float(lower_bound))
        self.data["gap"].append(float(objective - lower_bound))
        self.data["relative_gap"].append(float(relative_gap(objective, lower_bound)))
        self.data["violation"].append(float(violation))
        self.data["time"].append(float(elapsed))

    def __len__(self) -> int:
        return len(self.data["iteration"])
