"""``relu-convex validate``: cross-check every solver against the reference and report.

Suites:

``quick`` (default)
    scikit-learn's bundled data (diabetes, breast cancer, wine, iris;
    standardized, subsampled to 100 rows; needs the ``sklearn`` extra), two
    seeded synthetic problems, at lam in {1e-3, 1e-2}, both programs, 40
    sampled gates, plus every gallery instance (exact patterns, stored
    optima). About two minutes on 2 cores.
``uci``
    the paper's setting on the UCI folder (``--data-dir``): the 73
    PERFORMANCE_PROFILE datasets of ``lists.json`` (or ``--datasets``) x lam in
    logspace(-5, -1, 6), training split, 100 sampled gates (seed 0).
``FILE``
    a suite file. JSON: a list of dataset names, or an object with
    ``datasets`` and optionally ``lams``, ``programs``, ``patterns`` (an
    integer >= 1 or "exact"), ``max_samples`` (an integer >= 1 or null) and
    ``seed``. Text: one dataset per line, optionally followed by
    comma-separated lam values; ``#`` starts a comment.

Every dataset is checked before the run: unknown names, unreadable data
files and missing extras (scikit-learn for the ``sklearn:`` datasets) are
refused. The report goes to ``--out``; running the same command again
continues an interrupted run and computes again the problems that raised an
error. The performance profile figure needs matplotlib (the ``plot`` extra);
without it the figure is skipped with a note.

Exit status: 0 every check passed, 1 a check failed (or a problem errored),
2 bad input (unknown dataset, unreadable file, missing extra, unreachable
scheduler ...).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from ..validation.benchmark import format_speed_table, speed_table
from ..validation.checks import CheckConfig, check_solver_names, default_solvers
from ..validation.report import format_table, matplotlib_missing, summarize, write_report
from ..validation.runner import connect, run_suite
from ..validation.suites import (
    PROGRAMS,
    QUICK_DATASETS,
    UCI_LAMS,
    check_datasets,
    dataset_suite,
    quick_suite,
    read_suite_file,
    resolve_datasets,
    uci_profile_names,
)
from .common import check_seed, make_output_folder, plain_text


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="cross-check the solvers on reference problems and write a report",
                       description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="quick", help="'quick' (default), 'uci', or a suite file (JSON or text)")
    p.add_argument("--data-dir", help="folder of the UCI .npz files and lists.json (needed by --suite uci)")
    p.add_argument("--datasets", help="comma-separated subset of dataset names")
    p.add_argument("--lams", help="comma-separated regularization strengths (default: the suite's)")
    p.add_argument("--programs", default="grelu,relu", help="comma-separated subset of grelu, relu (default both)")
    p.add_argument("--solvers", help=f"comma-separated solvers to cross-check (default: {','.join(default_solvers())}; "
                   "mosek is skipped with a note when unlicensed)")
    p.add_argument("--patterns", type=int, help="number of sampled gates (default 40 quick, 100 otherwise)")
    p.add_argument("--max-samples", type=int,
                   help="subsample every dataset to at most this many rows (default 100 quick, all otherwise)")
    p.add_argument("--seed", type=int, default=0, help="seed of gates, subsamples and baselines (default 0)")
    p.add_argument("--tol", type=float, help="one tolerance for every solver (default: 1e-8 for the conic solvers, "
                   "the first-order solvers' own defaults)")
    p.add_argument("--no-baselines", action="store_true", help="skip the non-convex SGD/Adam baselines")
    p.add_argument("--nc-epochs", type=int, help="epochs of each baseline run (default 100 quick, 300 otherwise)")
    p.add_argument("--out", default="relu-convex-report", help="report folder (default ./relu-convex-report)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:port)")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to wait for the Dask scheduler (default 5)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="local worker processes (default 2)")
    p.add_argument("--resume", action="store_true", help="require records of the same configuration in --out and continue them "
                   "(this also happens automatically)")
    p.add_argument("--fresh", action="store_true", help="discard earlier records in --out")
    p.add_argument("--limit", type=int, help="compute at most this many new problems (the report stays incomplete)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per solve for the first-order solvers (default: none, their iteration limits only)")
    p.add_argument("--profile-tol", type=float, default=1e-3, help="relative tolerance of the performance profile (default 1e-3)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _floats(value: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in _split(value)]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated numbers, got {value!r}") from None
    if not vals or any(not (v >= 0 and v < float("inf")) for v in vals):
        raise ValueError(f"{name}: expected finite numbers >= 0, got {value!r}")
    return vals


def _positive(value, name: str):
    if value is not None and value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def build_suite(args) -> tuple[list, str]:
    """Return the specs and a name for the suite selected by the arguments."""
    check_seed(args.seed)
    programs_map = {"grelu": "C-GReLU", "relu": "C-ReLU", "c-grelu": "C-GReLU", "c-relu": "C-ReLU"}
    try:
        programs = tuple(p for p in PROGRAMS if p in {programs_map[v.lower()] for v in _split(args.programs)})
    except KeyError as exc:
        raise ValueError(f"--programs: expected a comma-separated subset of grelu, relu, got {exc}") from None
    if not programs:
        raise ValueError("--programs: expected a comma-separated subset of grelu, relu")
    _positive(args.patterns, "--patterns")
    _positive(args.max_samples, "--max-samples")
    lams = _floats(args.lams, "--lams") if args.lams else None
    data_dir = args.data_dir
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"--data-dir: {data_dir} is not a folder")
    if args.suite == "quick":
        if args.datasets:
            refs = resolve_datasets(_split(args.datasets), data_dir)
        else:
            refs = list(QUICK_DATASETS)
        if args.datasets or lams or programs != PROGRAMS or args.patterns or args.max_samples:
            specs = dataset_suite(refs, lams=lams or (1e-3, 1e-2), programs=programs, patterns=args.patterns or 40,
                                  max_samples=args.max_samples or 100, seed=args.seed, data_dir=data_dir)
        else:
            specs = quick_suite(seed=args.seed)
        return specs, "quick"
    if args.suite == "uci":
        if not data_dir:
            raise ValueError("--suite uci needs --data-dir (the folder with lists.json and NAME.npz)")
        names = _split(args.datasets) or uci_profile_names(data_dir)
        refs = resolve_datasets(names, data_dir)
        specs = dataset_suite(refs, lams=lams or UCI_LAMS, programs=programs, patterns=args.patterns or 100,
                              max_samples=args.max_samples, seed=args.seed, data_dir=data_dir)
        return specs, "uci"
    specs = read_suite_file(args.suite, data_dir=data_dir, lams=lams or UCI_LAMS, patterns=args.patterns or 100,
                            max_samples=args.max_samples, seed=args.seed)
    specs = [s for s in specs if s.program in programs]
    if args.datasets:
        keep = set(resolve_datasets(_split(args.datasets), data_dir))
        specs = [s for s in specs if s.dataset in keep]
        if not specs:
            raise ValueError(f"--datasets: none of {args.datasets} is in the suite file {args.suite}")
    return specs, f"file {args.suite}"


def run(args) -> int:
    specs, suite = build_suite(args)
    solvers = check_solver_names(_split(args.solvers)) if args.solvers else default_solvers()
    _positive(args.nc_epochs, "--nc-epochs")
    _positive(args.workers, "--workers")
    if args.limit is not None and args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    if args.resume and args.fresh:
        raise ValueError("--resume and --fresh contradict each other; give one")
    if args.tol is not None and not (0 < args.tol < 1):
        raise ValueError(f"--tol must be in (0, 1), got {args.tol}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise ValueError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    check_datasets(specs)  # unreadable files and missing extras are bad input, refused before any work
    config = CheckConfig(
        solvers=solvers,
        tol=args.tol,
        baselines=() if args.no_baselines else ("sgd", "adam"),
        nc_epochs=args.nc_epochs or (100 if suite == "quick" else 300),
        time_limit=args.time_limit,
    )
    out = Path(args.out)
    if args.resume:
        from ..validation.runner import RecordStore, reusable_records

        store = RecordStore(out)
        if not store.read_records(config.digest(specs)) and not reusable_records(store, config, [s.id for s in specs]):
            raise ValueError(f"--resume: {out} has no records of this configuration to resume")
    describe = {"suite": suite, "command": "relu-convex " + " ".join(shlex.quote(a) for a in getattr(args, "argv", [])),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    start = time.perf_counter()
    outcome = None
    scheduler = connect(args.scheduler, args.connect_timeout) if args.scheduler else None  # fail fast
    try:
        make_output_folder(out, "--out")
    except ValueError:
        if scheduler is not None:
            scheduler.close()
        raise
    try:
        outcome = run_suite(specs, config, out, scheduler=scheduler, workers=args.workers, limit=args.limit,
                            fresh=args.fresh, progress=not args.quiet, describe=describe)
    finally:
        if scheduler is not None:
            scheduler.close()
        if outcome is None:  # interrupted or failed mid-run: report what is on disk, marked incomplete
            from ..validation.runner import RecordStore

            store = RecordStore(out)
            info = store.read_info()
            if info is not None and info.get("config_hash") == config.digest(specs):
                done = store.read_records(info["config_hash"])
                if done:
                    records = [done[s.id] for s in specs if s.id in done]
                    write_report(out, records, total=len(specs), complete=False, config=config.to_dict(),
                                 describe=describe, profile_tol=args.profile_tol)
    elapsed = time.perf_counter() - start
    report = write_report(out, outcome.records, total=outcome.total, complete=outcome.complete, config=config.to_dict(),
                          describe=describe, profile_tol=args.profile_tol)
    summary = summarize(outcome.records, outcome.total)
    missing = matplotlib_missing()
    if missing:
        summary["notes"].append(f"performance profile not drawn: {missing}")
    if args.json:
        print(json.dumps({**summary, "complete": outcome.complete, "computed": outcome.computed, "report": str(report),
                          "wall_time": elapsed}, indent=2))
    else:
        print(format_table(outcome.records))
        print()
        print(format_speed_table(speed_table(outcome.records, args.profile_tol), config.reference))
        print()
        for note in summary["notes"]:
            print(f"note: {note}")
        state = "complete" if outcome.complete else f"INCOMPLETE ({summary['finished']}/{outcome.total} problems)"
        print(f"{summary['passed']}/{summary['finished']} problems passed, {summary['failed']} failed; run {state}; "
              f"{outcome.computed} computed now in {elapsed:.1f}s; report: {report}")
    return 1 if summary["failed"] else 0
