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
           "check_run_options", "Deadline", "History", "DEFAULT_TOL", "FLOAT32_TOL", "FLOAT32_STOP", "default_tol", "iteration_tol",
           "check_lam_positive"]

DEFAULT_TOL = 1e-6
"""Certified relative gap that ``tol=None`` asks of ``"fista"``, ``"al"`` and ``"ipm"`` when they iterate in float64."""

FLOAT32_TOL = 1e-4
r"""Certified relative gap that ``tol=None`` asks of ``"fista"`` and ``"al"`` when they iterate in float32.

Float32 products round at about 1e-7 relative, and a bound or objective
computed from them at about :math:`10^{-7} \sqrt{F(0)/F}`: float32 iterations
stop improving a point well before a certificate of :data:`DEFAULT_TOL` (on a
40-sample problem ``"fista"`` ended at 2.6e-6 after 50000 iterations,
``"al"`` at 1.5e-4), while down to about 1e-4 they still make progress (the same
level at which ``"fista"``'s float32 phase hands over to float64,
:data:`~relu_convex.solvers.fista.MIXED_SWITCH_GAP`). ``"ipm"`` computes in
float64 whatever the data's dtype and keeps :data:`DEFAULT_TOL`.
"""

FLOAT32_STOP = 0.5
"""Fraction of ``tol`` at which float32 iterations stop on their own certificate.

The reported certificate is recomputed in float64 at the returned weights; the
float32 one differs from it by rounding (about 1% of a tolerance of 1e-4 was
measured), so iterations that stopped at ``tol`` itself were often reported
``inaccurate`` by a hair. The other half of ``tol`` covers that difference.
"""


def default_tol(tol, dtype) -> float:
    """Return ``tol`` checked (a float in (0, 1)), or for ``None`` the default of iterations in ``dtype``.

    :data:`FLOAT32_TOL` for float32, :data:`DEFAULT_TOL` otherwise.
    """
    if tol is None:
        return FLOAT32_TOL if np.dtype(dtype) == np.float32 else DEFAULT_TOL
    return check_tol(tol)


def iteration_tol(tol: float, dtype) -> float:
    """The certified gap at which iterations in ``dtype`` stop: ``tol``, or :data:`FLOAT32_STOP` times it in float32.

    The float32 margin leaves room for the certificate's recomputation in float64.
    """
    return tol if np.dtype(dtype) == np.float64 else FLOAT32_STOP * tol


def check_lam_positive(problem, solver: str) -> None:
    r"""Raise ``ValueError`` naming ``lam`` unless ``problem.lam > 0`` (the solvers ``"fista"``, ``"al"`` and ``"ipm"``).

    At ``lam = 0`` the dual feasible set is :math:`\{\theta : X^\top D_i \theta = 0\}`
    (C-GReLU), which a computed residual never meets: the certified bound is 0
    whatever the point, so these solvers, which stop on a certified gap, could
    only run to their limits (and ``"ipm"``'s barrier needs ``lam > 0``). The conic
    solvers solve the unregularized program.
    """
    if not problem.lam > 0:
        raise ValueError(
            f"lam: solver {solver!r} needs lam > 0, got lam={problem.lam:g}; at lam = 0 (no regularization) use "
            "a conic solver: solver='clarabel', 'ecos' or 'scs'"
        )


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


def check_run_options(*, tol, max_iter, time_limit, verbose, check_every, polish, polish_size,
                      dtype=np.float64) -> RunOptions:
    """Check the options shared by ``"fista"`` and ``"al"``; raise naming the first bad one.

    ``tol=None`` becomes the default for iterations in ``dtype`` (:func:`default_tol`).
    """
    return RunOptions(
        tol=default_tol(tol, dtype),
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

    def record(self, iteration: int, objective: float, lower_bound: float, violation: float, elapsed: float,
               zero_objective: float = 0.0) -> None:
        """Append one check; ``zero_objective`` is the objective of the zero weights of the program recorded
        (:func:`~relu_convex.solvers.result.relative_gap`)."""
        from .result import relative_gap

        self.data["iteration"].append(int(iteration))
        self.data["objective"].append(float(objective))
        self.data["lower_bound"].append(float(lower_bound))
        self.data["gap"].append(float(objective - lower_bound))
        self.data["relative_gap"].append(float(relative_gap(objective, lower_bound, zero_objective)))
        self.data["violation"].append(float(violation))
        self.data["time"].append(float(elapsed))

    def __len__(self) -> int:
        return len(self.data["iteration"])
