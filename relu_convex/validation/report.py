"""Reports of a validation run: the console table, ``report.md`` and the performance profile.

The performance profile follows the paper's Figure 4: for each program, the
fraction of problems a method has solved to a relative tolerance against wall
time, one curve per method. A method solves a problem at its run time when its
objective is within ``tol`` (relative) of the reference optimum and, for
C-ReLU, its point satisfies the cone constraints (``violation_tol``). The
non-convex baselines count with their network objective, which has the same
optimum as C-ReLU over the exact pattern set (with sampled patterns it can
even fall below the sampled optimum, which counts as solved).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..demo_figures import PLOT_INSTALL, matplotlib_missing
from .benchmark import format_speed_table, speed_table

__all__ = ["PLOT_INSTALL", "format_table", "summarize", "matplotlib_missing", "performance_profile", "plot_profile", "write_report"]

def _num(value, fmt: str = ".6g") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)


def _lam(record) -> str:
    return format(record["spec"]["lam"], ".0e")


def _failed_checks(record, method) -> list[str]:
    """The names of ``method``'s failed checks in ``record``.

    An objective cross-check against a reference that did not converge says so
    (``objective (vs inaccurate reference)``): either side may be off.
    """
    failed = [k for k, ok in method["checks"].items() if not ok]
    reference = next((m for m in record["methods"] if m["method"] == record.get("reference")), None)
    if reference is None or reference["status"] == "optimal" or method is reference:
        return failed
    return [f"objective (vs {reference['status']} reference)" if k == "objective" else k for k in failed]


def _rows(record):
    """Yield the table rows (as lists of strings) of one record."""
    name = record["spec"]["dataset"]
    if record.get("error"):
        yield [name, _lam(record), record["program"], "-", "error", "-", "-", "-", "-", "FAIL: " + record["error"].split(":")[0]]
        return
    for m in record["methods"]:
        if m["status"] == "skipped":
            continue  # listed once in the notes
        failed = _failed_checks(record, m)
        verdict = "PASS" if not failed else "FAIL: " + ",".join(failed)
        yield [name, _lam(record), record["program"], m["method"], m["status"], _num(m["objective"], ".10g"),
               _num(m["relative_gap"], ".1e"), _num(m["max_violation"], ".0e") if record["program"] == "C-ReLU" else "",
               _num(m["time"], ".2f"), verdict]
    for b in record.get("baselines", []):
        rel = b.get("rel_to_convex")
        yield [name, _lam(record), "NC-ReLU", f"{b['method']} (m={b['width']})", f"lr={b['step_size']:g}",
               _num(b["objective"], ".10g"), "", "", _num(b["time"], ".2f"),
               "vs convex " + ("-" if rel is None else f"{rel:+.1e}")]


HEADER = ["dataset", "lam", "program", "method", "status", "objective", "cert.gap", "viol", "time[s]", "check"]


def format_table(records, markdown: bool = False) -> str:
    """Return the table of every method on every problem (plain text or markdown)."""
    rows = [r for rec in records for r in _rows(rec)]
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADER)]
    widths[0] = min(widths[0], 28)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*HEADER), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(row[0][:28], *row[1:]) for row in rows]
    return "\n".join(out)


def summarize(records, total: int) -> dict:
    """Return counts: problems, passed, failed, errors, per-method pass counts and skipped notes."""
    methods: dict[str, list] = {}
    notes = sorted({n for r in records for n in r.get("notes", [])})
    for r in records:
        for m in r.get("methods", []):
            if m["status"] != "skipped":
                methods.setdefault(m["method"], []).append(bool(m["passed"]))
    return {
        "total": total,
        "finished": len(records),
        "passed": sum(bool(r.get("passed")) for r in records),
        "failed": sum(not r.get("passed") for r in records),
        "errors": sum(bool(r.get("error")) for r in records),
        "methods": {k: {"runs": len(v), "passed": sum(v)} for k, v in methods.items()},
        "notes": notes,
    }


def performance_profile(records, program: str, tol: float = 1e-3, violation_tol: float = 1e-6) -> dict[str, np.ndarray]:
    """Return, per method, the sorted solve times of the problems it solved (``inf`` for unsolved).

    The fraction solved by time ``t`` is ``mean(times <= t)``.
    """
    recs = [r for r in records if r["program"] == program and not r.get("error") and r.get("reference_objective") is not None]
    times: dict[str, list] = {}
    for r in recs:
        ref = r["reference_objective"]
        entries = [(m["method"], m.get("objective"), m.get("max_violation") or 0.0, m.get("time"), m["status"])
                   for m in r["methods"]]
        entries += [(f"{b['method']} (NC)", b.get("objective"), 0.0, b.get("time"), "point") for b in r.get("baselines", [])]
        for method, obj, viol, t, status in entries:
            if status == "skipped":
                continue
            ok = obj is not None and t is not None and obj <= ref + tol * abs(ref) and viol <= violation_tol
            times.setdefault(method, []).append(float(t) if ok else math.inf)
    return {k: np.sort(np.asarray(v)) for k, v in times.items()}


def plot_profile(records, path, tol: float = 1e-3, violation_tol: float = 1e-6, title: str = "") -> Path | None:
    """Draw the performance profiles (one panel per program) to a PNG; ``None`` if nothing to draw.

    Raises
    ------
    ImportError
        matplotlib (the ``plot`` extra) is not installed; the message says how to install it.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"plot_profile needs matplotlib: {PLOT_INSTALL}") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    programs = [p for p in ("C-GReLU", "C-ReLU") if any(r["program"] == p for r in records)]
    profiles = {p: performance_profile(records, p, tol, violation_tol) for p in programs}
    profiles = {p: v for p, v in profiles.items() if v}
    if not profiles:
        return None
    finite = [t for v in profiles.values() for ts in v.values() for t in ts if np.isfinite(t) and t > 0]
    lo, hi = (min(finite) / 2, max(finite) * 2) if finite else (1e-3, 1.0)
    fig, axes = plt.subplots(1, len(profiles), figsize=(5.2 * len(profiles), 3.6), squeeze=False)
    grid = np.logspace(np.log10(lo), np.log10(hi), 400)
    for ax, (program, prof) in zip(axes[0], profiles.items(), strict=True):
        for method, ts in sorted(prof.items()):
            ax.step(grid, [np.mean(ts <= t) for t in grid], where="post", label=f"{method} ({np.isfinite(ts).sum()}/{ts.size})")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"fraction solved (rel. tol {tol:g})")
        ax.set_title(f"{program}: {next(iter(prof.values())).size} problems")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_report(out, records, *, total: int, complete: bool, config: dict, describe: dict | None = None,
                 profile_tol: float = 1e-3) -> Path:
    """Write ``report.md`` and ``performance_profile.png`` into ``out``; returns the report path.

    Without matplotlib (the ``plot`` extra) the figure is left out and the
    report says so; everything else is written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, total)
    missing = matplotlib_missing()
    figure = None if missing else plot_profile(records, out / "performance_profile.png", profile_tol,
                                               config.get("violation_tol", 1e-6), title=(describe or {}).get("suite", ""))
    state = "COMPLETE" if complete else f"INCOMPLETE: {summary['finished']} of {total} problems have records"
    lines = ["# relu_convex validation report", "", f"**Status: {state}**", ""]
    for key, value in (describe or {}).items():
        lines.append(f"- {key}: `{value}`")
    lines += [
        f"- problems: {summary['finished']} finished of {total}; {summary['passed']} passed, {summary['failed']} failed "
        f"({summary['errors']} errors)",
        f"- checks: objective within {config['rtol']:g} (relative) of {config['reference']}; certified lower bound not above "
        f"the reference objective, and relative gap <= {config['gap_tol']:g} wherever a solver claims optimal; cone violation "
        f"<= {config['violation_tol']:g}; status optimal or inaccurate (the reference: optimal); gallery optima within "
        f"{config['stored_rtol']:g} of the stored values",
        f"- non-convex baselines: {', '.join(config['baselines']) or 'none'} ({config['nc_epochs']} epochs, step sizes "
        f"{', '.join(format(s, 'g') for s in config['nc_step_sizes'])}; best per problem)",
        "",
        "| method | runs | passed |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v['runs']} | {v['passed']} |" for k, v in summary["methods"].items()]
    if summary["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in summary["notes"]]
    failures = [r for r in records if not r.get("passed")]
    if failures:
        lines += ["", "## Failures", ""]
        for r in failures:
            why = r.get("error") or "; ".join(
                f"{m['method']}: " + ",".join(_failed_checks(r, m))
                for m in r["methods"] if not m["passed"]
            )
            lines.append(f"- `{r['id']}`: {why}")
    speed = speed_table(records, profile_tol, config.get("violation_tol", 1e-6))
    if speed:
        lines += ["", "## Speed against the reference", "",
                  f"Problems solved to relative tolerance {profile_tol:g}; time ratios on those problems.", "",
                  format_speed_table(speed, config["reference"], markdown=True)]
    if figure is not None:
        lines += ["", "## Performance profile", "", f"Relative tolerance {profile_tol:g} against the reference optimum.", "",
                  f"![performance profile]({figure.name})"]
    elif missing and records:
        lines += ["", "## Performance profile", "", f"Not drawn: {missing}."]
    lines += ["", "## All results", "", format_table(records, markdown=True), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
