"""The cross-check of one problem: every solver against the reference, and the baselines.

For each problem the reference solver (Clarabel) is run first; every other
solver that applies to the program is then run and checked:

``status``
    the solver returned a point and says it converged: ``optimal``, or
    ``inaccurate`` (a conservative claim; the status column shows it);
``objective``
    ``|F - F_ref| <= rtol * |F_ref|`` (``rtol = 1e-5``): the cross-check proper;
``gap``
    the certified lower bound of the solver's point does not exceed the
    reference objective (a certificate never overclaims) and, when the solver
    claims ``optimal``, the certified relative gap is at most ``gap_tol``
    (1e-5), so no solver calls a point optimal that its certificate does not back;
``cone``
    the C-ReLU cone violation is at most ``violation_tol`` (1e-6);
``stored`` (gallery only)
    the reference objective matches the stored optimum within ``stored_rtol`` (1e-6).

The reference itself must report ``optimal``. When it does not, the problem fails on
the reference's status, and the table shows the other solvers' objective failures as
``objective (vs inaccurate reference)`` (or the reference's other status): they were
measured against an unconverged point, and their own certificates say more.

A problem passes when every check of every solver passes. A solver that is not available (MOSEK without a license) is recorded as
``skipped`` with the reason and is not a failure. On C-ReLU problems the
non-convex baselines (:mod:`.baselines`) are trained at the width of the
reference solution and compared with the convex optimum; they are reported,
not checked (a local method has no obligation to reach the optimum).
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import SolverUnavailableError
from ..solvers import CONIC_SOLVERS, FIRST_ORDER, SolveStatus, available_solvers, check_mosek
from .baselines import BASELINES, STEP_SIZES, run_baseline
from .suites import ProblemSpec, build_problem

__all__ = ["CheckConfig", "DEFAULT_TOLERANCES", "default_solvers", "check_solver_names", "run_problem", "resolve_methods"]

# tolerances handed to the conic solvers; first-order solvers run with their own
# defaults unless a tolerance is given
DEFAULT_TOLERANCES = {"clarabel": 1e-8, "ecos": 1e-8, "scs": 1e-8, "mosek": 1e-8}


def default_solvers() -> tuple[str, ...]:
    """Clarabel, ECOS and MOSEK (skipped without a license), then every registered first-order solver."""
    return ("clarabel", "ecos", "mosek") + tuple(FIRST_ORDER)


def check_solver_names(names) -> tuple[str, ...]:
    """Validate solver names against the registry; returns them lower-cased."""
    known = available_solvers()
    out = []
    for name in names:
        key = str(name).strip().lower()
        if key not in known:
            raise ValueError(f"--solvers: solver {name!r} is unknown; expected some of {', '.join(known)}")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError(f"--solvers: give at least one solver; expected some of {', '.join(known)}")
    return tuple(out)


@dataclass(frozen=True)
class CheckConfig:
    """What a run checks and how strictly; its hash identifies the run for resuming.

    Attributes
    ----------
    solvers : tuple of str
        Solvers to cross-check (the reference is always run).
    reference : str
    tol : float or None
        One tolerance for every solver; ``None`` uses :data:`DEFAULT_TOLERANCES`
        (and the first-order solvers' own defaults).
    rtol, gap_tol, violation_tol, stored_rtol : float
        See the module docstring.
    baselines : tuple of str
        Non-convex baselines run on C-ReLU problems (``"sgd"``, ``"adam"``).
    nc_epochs : int
    nc_step_sizes : tuple of float
    time_limit : float or None
        Seconds per solve for the first-order solvers (``None``: their own
        iteration limits only). A solve cut short reports ``time_limit`` and
        fails the status check. The reference and the other conic solvers run
        without a time limit: a cross-check needs a finished reference.
    """

    solvers: tuple = ("clarabel", "ecos")
    reference: str = "clarabel"
    tol: float | None = None
    rtol: float = 1e-5
    gap_tol: float = 1e-5
    violation_tol: float = 1e-6
    stored_rtol: float = 1e-6
    baselines: tuple = BASELINES
    nc_epochs: int = 100
    nc_step_sizes: tuple = STEP_SIZES
    time_limit: float | None = None

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        d = asdict(self)
        if d["time_limit"] is None:
            del d["time_limit"]  # runs recorded before the option existed keep their digest
        d["solvers"], d["baselines"], d["nc_step_sizes"] = list(self.solvers), list(self.baselines), list(self.nc_step_sizes)
        return d

    def digest(self, specs) -> str:
        """Return a hash of the settings and the problem list (what a resumed run must match)."""
        payload = json.dumps({"config": self.to_dict(), "problems": sorted(s.id for s in specs)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def solver_options(self, name: str) -> dict:
        """Return the keyword arguments of ``solve`` for solver ``name``."""
        options = {"tol": self.tol} if self.tol is not None else (
            {"tol": DEFAULT_TOLERANCES[name]} if name in DEFAULT_TOLERANCES else {})
        if self.time_limit is not None and name in FIRST_ORDER:
            options["time_limit"] = self.time_limit
        return options


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _entry(result, ref_objective: float | None, config: CheckConfig, program: str) -> dict:
    obj = float(result.objective)
    rel = None if ref_objective is None or not np.isfinite(obj) else abs(obj - ref_objective) / max(abs(ref_objective), 1e-300)
    lower = float(result.lower_bound)
    checks = {
        "status": result.status in (SolveStatus.OPTIMAL, SolveStatus.INACCURATE),
        "objective": rel is not None and rel <= config.rtol,
        "gap": bool(
            np.isfinite(result.relative_gap)
            and ref_objective is not None
            and lower <= ref_objective + 1e-7 * abs(ref_objective) + 1e-14
            and (result.status is not SolveStatus.OPTIMAL or result.relative_gap <= config.gap_tol)
        ),
    }
    if program == "C-ReLU":
        checks["cone"] = bool(np.isfinite(result.max_violation) and result.max_violation <= config.violation_tol)
    return {
        "method": result.solver,
        "status": result.status.value,
        "objective": _finite(obj),
        "lower_bound": _finite(lower),
        "relative_gap": _finite(result.relative_gap),
        "max_violation": _finite(result.max_violation),
        "iterations": int(result.iterations),
        "time": float(result.solve_time),
        "rel_diff": rel,
        "checks": checks,
        "passed": all(checks.values()),
        "message": result.message,
    }


def _active_neurons(weights) -> int:
    V, W = weights
    norms = np.concatenate([np.linalg.norm(V, axis=-1).ravel(), np.linalg.norm(W, axis=-1).ravel()])
    if norms.size == 0 or norms.max() == 0:
        return 1
    return int(np.sum(norms > 1e-6 * norms.max()))


def _solve_one(problem, name: str, config: CheckConfig):
    if name == "mosek":
        check_mosek()  # raises SolverUnavailableError without a license
    return problem.solve(solver=name, **config.solver_options(name))


def _method_entry(problem, name: str, ref_objective: float | None, config: CheckConfig, program: str) -> dict:
    """Solve with one non-reference method and check it; an unavailable solver gives a ``skipped`` entry."""
    try:
        return _entry(_solve_one(problem, name, config), ref_objective, config, program)
    except SolverUnavailableError as exc:
        return {"method": name, "status": "skipped", "passed": True, "checks": {}, "message": str(exc)}


def _applies(name: str, program: str) -> bool:
    return name in CONIC_SOLVERS or (name in FIRST_ORDER and program in FIRST_ORDER[name][0])


def run_problem(spec: ProblemSpec, config: CheckConfig, config_hash: str = "") -> dict:
    """Solve one problem with every solver, cross-check against the reference, run the baselines.

    Never raises for a failing problem: an exception becomes a record with
    ``error`` set and ``passed`` false.

    Returns
    -------
    dict
        The JSON-ready record (see the module docstring for the checks).
    """
    start = time.perf_counter()
    record = {"id": spec.id, "config_hash": config_hash, "spec": spec.to_dict(), "program": spec.program,
              "reference": config.reference, "methods": [], "baselines": [], "notes": [], "error": None}
    try:
        problem, stored = build_problem(spec)
        record.update(n=problem.n, d=problem.d, p=problem.p, outputs=problem.n_outputs or 1, stored_optimum=stored)
        ref = _solve_one(problem, config.reference, config)
        ref_obj = float(ref.objective) if ref.status.has_point else None
        record["reference_objective"] = ref_obj
        ref_entry = _entry(ref, ref_obj, config, spec.program)
        ref_entry["checks"]["status"] = ref.status is SolveStatus.OPTIMAL  # the reference itself must converge
        if stored is not None:
            ok = ref_obj is not None and abs(ref_obj - stored) <= config.stored_rtol * abs(stored)
            ref_entry["checks"]["stored"] = bool(ok)
        ref_entry["passed"] = all(ref_entry["checks"].values())
        record["methods"].append(ref_entry)
        for name in config.solvers:
            if name == config.reference or not _applies(name, spec.program):
                continue
            entry = _method_entry(problem, name, ref_obj, config, spec.program)
            record["methods"].append(entry)
            if entry["status"] == "skipped":
                record["notes"].append(f"{name} skipped: {entry['message']}")
        if spec.program == "C-ReLU" and config.baselines and ref.weights is not None:
            width = _active_neurons(ref.weights)
            for method in config.baselines:
                out = run_baseline(problem.X, problem.y, problem.lam, width, method, epochs=config.nc_epochs,
                                   step_sizes=config.nc_step_sizes, seed=spec.seed)
                out["objective"] = _finite(out["objective"])
                out["objectives"] = [_finite(v) for v in out["objectives"]]
                out["rel_to_convex"] = (None if out["objective"] is None or not ref_obj
                                        else (out["objective"] - ref_obj) / abs(ref_obj))
                record["baselines"].append(out)
    except Exception as exc:  # a failing problem is a result, not a crash of the run
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=5)
    record["passed"] = record["error"] is None and all(m["passed"] for m in record["methods"])
    record["wall_time"] = time.perf_counter() - start
    return record


def resolve_methods(record: dict, names, config: CheckConfig) -> dict:
    """Re-solve some non-reference methods of a finished record against its stored reference.

    The problem is rebuilt from ``record["spec"]``; each method in ``names``
    that applies to the program is solved again with ``config`` and checked
    against ``record["reference_objective"]`` exactly as :func:`run_problem`
    does; its entry replaces the old one (or is appended). Every other entry,
    the reference's included, is kept as it was, so a solver change can be
    measured without paying for the reference solves again.

    Parameters
    ----------
    record : dict
        A record written by :func:`run_problem` (not modified).
    names : sequence of str
        Methods to re-solve; the reference is refused.
    config : CheckConfig
        The run's settings (time limit, tolerances).

    Returns
    -------
    dict
        A new record, with ``rerun`` listing the methods re-solved.

    Raises
    ------
    ValueError
        If ``names`` holds the reference or the record has no reference objective.
    """
    names = check_solver_names(names)
    if record["reference"] in names:
        raise ValueError(f"methods: the reference {record['reference']!r} is kept, not re-solved")
    if record.get("error") is not None or record.get("reference_objective") is None:
        raise ValueError(f"record {record['id']!r} has no reference objective to check against")
    out = json.loads(json.dumps(record))  # a deep copy of a JSON record
    spec = ProblemSpec(**record["spec"])
    problem, _ = build_problem(spec)
    start = time.perf_counter()
    for name in names:
        if not _applies(name, spec.program):
            continue
        entry = _method_entry(problem, name, record["reference_objective"], config, spec.program)
        at = next((i for i, m in enumerate(out["methods"]) if m["method"] == name), None)
        if at is None:
            out["methods"].append(entry)
        else:
            out["methods"][at] = entry
    out["passed"] = out["error"] is None and all(m["passed"] for m in out["methods"])
    out["rerun"] = {"methods": list(names), "wall_time": time.perf_counter() - start}
    return out
