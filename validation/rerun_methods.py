"""Re-solve some methods of a finished ``relu-convex validate`` run against its stored references.

The reference solves (Clarabel at 1e-8) are most of the cost of a UCI run. After a
change to a first-order solver, this re-solves only the named methods on the problems
of a run folder, with the run's own settings (``run.json``: tolerances, time limit),
and writes a new record file in which those methods' entries are replaced; every other
entry, the reference's included, is kept (``relu_convex.validation.checks.resolve_methods``).
Records are appended as each problem finishes, and problems already in ``--out`` are
skipped, so an interrupted rerun resumes. Then compare::

    python validation/summarize_uci.py NEW.jsonl --before RUN/records.jsonl

Example (al again on the multi-output C-ReLU problems of the UCI run)::

    OPENBLAS_NUM_THREADS=1 python validation/rerun_methods.py validation/results/uci-full \\
        --methods al --program C-ReLU --outputs multi --out validation/results/uci-full-al-rerun.jsonl

Timing note: the re-solved methods run on today's machine load while the kept
reference times are those of the original run; compare time ratios with that in mind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from relu_convex.validation.checks import CheckConfig, resolve_methods
from relu_convex.validation.runner import read_records


def _config(run_dir: Path) -> CheckConfig:
    info = json.loads((run_dir / "run.json").read_text())
    raw = info["config"]
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return CheckConfig(**fields)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="folder of a validate run (records.jsonl, run.json)")
    ap.add_argument("--methods", required=True, help="comma-separated methods to re-solve (not the reference)")
    ap.add_argument("--out", type=Path, required=True, help="record file to write (appended to; resumes)")
    ap.add_argument("--program", choices=("C-ReLU", "C-GReLU"), default=None, help="only problems of this program")
    ap.add_argument("--outputs", choices=("all", "single", "multi"), default="all",
                    help="only single-output or only multi-output (one-vs-all) problems")
    ap.add_argument("--datasets", default=None, help="comma-separated dataset references (e.g. uci:wine)")
    args = ap.parse_args(argv)

    try:
        config = _config(args.run_dir)
        records = read_records(args.run_dir / "records.jsonl")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.run_dir} is not a readable validate run: {exc}", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    datasets = None if args.datasets is None else {d.strip() for d in args.datasets.split(",")}
    done = read_records(args.out)
    todo = [rec for rec in records.values()
            if rec.get("error") is None and rec.get("reference_objective") is not None
            and (args.program is None or rec["program"] == args.program)
            and (args.outputs == "all" or (rec.get("outputs", 1) > 1) == (args.outputs == "multi"))
            and (datasets is None or rec["spec"]["dataset"] in datasets)
            and rec["id"] not in done]
    print(f"{len(todo)} problems to re-solve ({len(done)} already in {args.out}); methods {', '.join(methods)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        for i, rec in enumerate(todo, 1):
            try:
                new = resolve_methods(rec, methods, config)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            fh.write(json.dumps(new) + "\n")
            fh.flush()
            entry = {m["method"]: m for m in new["methods"]}
            summary = ", ".join(f"{m} {entry[m]['status']} rel_diff {entry[m].get('rel_diff')}" for m in methods if m in entry)
            print(f"[{i}/{len(todo)}] {rec['id']}: {summary}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
