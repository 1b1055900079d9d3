"""``relu-convex demo``: small exact instances for teaching, with figures.

The figures need matplotlib (the ``plot`` extra: ``pip install 'relu-convex[plot]'``).
Without it the demo prints its tables and a note that the figures were
skipped; asking for them with ``--out DIR`` is then an error, before any work.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .common import check_seed, make_output_folder, plain_text, print_json, remove_if_empty

DEFAULT_OUT = "relu-convex-demo"


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="exact teaching instances: patterns, optimum, non-convex training, figures",
                       description=plain_text(__doc__))
    p.add_argument("--out", default=None,
                   help=f"folder for the PNG figures (default ./{DEFAULT_OUT}; needs matplotlib, the plot extra; "
                        "without it the figures are skipped with a note, or refused when --out is given)")
    p.add_argument("--restarts", type=int, default=20, help="random starts of non-convex training (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the non-convex training starts (default 0)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures (no matplotlib needed)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args) -> int:
    from ..demo import run_demo
    from ..demo_figures import matplotlib_missing

    if args.restarts < 1:
        raise ValueError(f"--restarts must be >= 1, got {args.restarts}")
    check_seed(args.seed)
    figures, notes, created = not args.no_figures, [], False
    out = Path(args.out if args.out is not None else DEFAULT_OUT)
    if figures:
        missing = matplotlib_missing()
        if missing and args.out is not None:
            raise ValueError(f"--out: the figures need matplotlib, and {missing}; or pass --no-figures")
        if missing:
            figures = False
            notes.append(f"figures skipped: {missing}; --no-figures skips them without this note")
        else:
            out, created = make_output_folder(out, "--out")
    try:
        report = run_demo(out, restarts=args.restarts, seed=args.seed, figures=figures)
    except BaseException:
        if created:
            remove_if_empty(out)
        raise
    if args.json:
        print_json({"cases": [asdict(c) for c in report.cases], "figures": [str(f) for f in report.figures], "notes": notes})
    else:
        print(report)
        for note in notes:
            print(f"note: {note}")
    return 0
