"""Regularization path: warm starts versus cold starts over the same lam grid.

Solves C-ReLU or C-GReLU along a decreasing grid of ``--num`` values (default
20, from lam_max down to ``--ratio`` times it) twice in the same run: once
with warm starts (each solve starts from the previous solution) and once cold.
Prints per-path solver time, total time (certificates included), iterations,
the speed-up (cold / warm), and the largest relative objective difference
between the two paths (they must agree to the solver tolerance). With
``--repeat k`` each path is solved k times and its fastest run is reported.

Warm starts exist only for the solvers that accept ``weights0`` ("fista" for
C-GReLU; "al" for C-ReLU, which also starts from the previous cone
multipliers); for a conic solver both runs start cold and the ratio is
measurement noise around 1, which the script says.

    python -m validation.bench_paths --model gated --solver fista --n 500 --d 10 --p 100
    python -m validation.bench_paths --model relu --solver clarabel --n 200 --d 5 --p 40
"""

from __future__ import annotations

import argparse

import numpy as np

import relu_convex as rc
from relu_convex.fitting import PATH_SOLVER, WARM_START_SOLVERS
from relu_convex.paths import lam_grid, lam_max, regularization_path


def make_data(n: int, d: int, p: int, seed: int, exact: bool = False):
    """Seeded planted two-layer ReLU regression with a bias column and sampled patterns (or the exact set)."""
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.standard_normal((n, d)))
    W = rng.standard_normal((5, d + 1))
    y = np.maximum(X @ W.T, 0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if exact:
        return X, y, rc.enumerate_patterns(X)
    patterns = rc.activation_patterns(X, rc.sample_gates(d + 1, p, seed=seed + 1))
    return X, y, patterns


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("relu", "gated"), default="gated")
    parser.add_argument("--solver", default=None, help="any solver name (default: relu_convex.fitting.PATH_SOLVER)")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--ratio", type=float, default=1e-3)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="solve each path this many times, alternating warm and cold, and keep each one's fastest run "
                             "(the machine's other load only ever adds time)")
    parser.add_argument("--verbose", action="store_true", help="print both paths point by point")
    parser.add_argument("--exact", action="store_true", help="the exact pattern set of the data (small d) instead of --p sampled")
    parser.add_argument("--working-set", action="store_true",
                        help="solve every point with working sets (warm: the previous support starts each set)")
    args = parser.parse_args(argv)
    solver = args.solver or PATH_SOLVER[args.model]

    X, y, patterns = make_data(args.n, args.d, args.p, args.seed, exact=args.exact)
    grid = lam_grid(lam_max(X, y, patterns, args.model), args.num, args.ratio)
    print(f"model={args.model} solver={solver} n={X.shape[0]} d={X.shape[1]} p={patterns.shape[1]} grid: {args.num} values "
          f"{grid[0]:.3e} .. {grid[-1]:.3e}, tol={args.tol}")
    if solver.lower() not in WARM_START_SOLVERS and not args.working_set:
        print(f"note: {solver!r} takes no warm start (only {', '.join(WARM_START_SOLVERS)} do); both runs start cold")

    # one untimed solve first, so imports and first-call costs fall on neither run
    regularization_path(X, y, patterns, grid[:1], model=args.model, solver=solver, tol=args.tol, working_set=args.working_set)
    runs = {}
    for _ in range(max(args.repeat, 1)):
        for label, warm in (("warm", True), ("cold", False)):
            path = regularization_path(X, y, patterns, grid, model=args.model, solver=solver, warm_start=warm, tol=args.tol,
                                       working_set=args.working_set)
            if label not in runs or path.solve_time < runs[label].solve_time:
                runs[label] = path
    if args.verbose:
        for label, path in runs.items():
            print(f"\n{label} path\n{path.summary()}")

    print(f"\n{'run':>5} {'solver s':>10} {'total s':>10} {'iterations':>11} {'max rel gap':>12} {'statuses':>30}")
    for label, path in runs.items():
        statuses = ", ".join(f"{s}:{k}" for s, k in zip(*np.unique([p.status.value for p in path], return_counts=True), strict=True))
        print(f"{label:>5} {path.solve_time:10.3f} {path.total_time:10.3f} {sum(p.iterations for p in path):11d} "
              f"{np.max(path.relative_gaps):12.2e} {statuses:>30}")
    warm, cold = runs["warm"], runs["cold"]
    diff = np.max(np.abs(warm.objectives - cold.objectives) / np.maximum(np.abs(cold.objectives), 1e-300))
    print(f"\nspeed-up cold/warm (solver time): {cold.solve_time / warm.solve_time:.2f}x")
    print(f"speed-up cold/warm (total time):  {cold.total_time / warm.total_time:.2f}x")
    print(f"iterations cold/warm:             {sum(p.iterations for p in cold) / max(sum(p.iterations for p in warm), 1):.2f}x")
    print(f"largest relative objective difference warm vs cold: {diff:.2e}")
    print(f"active neurons along the path: {' '.join(str(k) for k in warm.n_active)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
