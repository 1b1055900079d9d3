"""Working-set solves against full solves on exact pattern sets (many more patterns than samples).

For each instance (points in the plane plus a bias column, all cells of the
hyperplane arrangement as patterns) and each solver, solves the program once
over all patterns and once with ``working_set=True``, and prints the times,
their ratio, the certified gaps over all patterns, the objectives' relative
difference and the working-set sizes. A full solve that exceeds
``--time-limit`` is reported as such (its ratio is then a lower bound).

    OPENBLAS_NUM_THREADS=1 python -m validation.bench_working_set
    OPENBLAS_NUM_THREADS=1 python -m validation.bench_working_set --n 50,100 --solvers ipm,clarabel --model relu
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import relu_convex as rc


def plane_instance(n: int, seed: int = 0):
    """``n`` points uniform in the square with a bias column, a smooth target plus noise, and the exact pattern set."""
    rng = np.random.default_rng(seed)
    X = rc.add_bias(rng.uniform(-1.0, 1.0, (n, 2)))
    y = np.sin(3.0 * X[:, 0]) * np.cos(2.0 * X[:, 1]) + 0.05 * rng.standard_normal(n)
    return X, y, rc.enumerate_patterns(X)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="50,100", help="comma-separated sample counts")
    parser.add_argument("--model", choices=("relu", "gated"), default="relu")
    parser.add_argument("--solvers", default=None, help="comma-separated (default: ipm,clarabel for relu, fista,ipm,clarabel for gated)")
    parser.add_argument("--lam", type=float, default=1e-3)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds allowed to each full solve")
    args = parser.parse_args(argv)
    solvers = (args.solvers or ("ipm,clarabel" if args.model == "relu" else "fista,ipm,clarabel")).split(",")
    cls = rc.ReLUProblem if args.model == "relu" else rc.GatedReLUProblem
    print(f"model={args.model} lam={args.lam} load average {os.getloadavg()[0]:.2f}")
    print(f"{'n':>4} {'patterns':>8} {'solver':>9} {'full s':>9} {'ws s':>8} {'speed-up':>8} {'full gap':>9} {'ws gap':>9} "
          f"{'obj diff':>9} {'status full/ws':>24}  sizes")
    for n in (int(v) for v in args.n.split(",")):
        X, y, patterns = plane_instance(n)
        problem = cls(X, y, patterns, args.lam)
        for solver in solvers:
            t = time.perf_counter()
            ws = problem.solve(solver=solver, working_set=True)
            ws_time = time.perf_counter() - t
            t = time.perf_counter()
            full = problem.solve(solver=solver, time_limit=args.time_limit)
            full_time = time.perf_counter() - t
            diff = abs(ws.objective - full.objective) / full.objective if full.status.has_point else float("nan")
            over = ">" if full.status.value == "time_limit" else " "
            print(f"{n:4d} {problem.p:8d} {solver:>9} {full_time:9.2f} {ws_time:8.2f} {over}{full_time / ws_time:7.1f}x "
                  f"{full.relative_gap:9.1e} {ws.relative_gap:9.1e} {diff:9.1e} {full.status.value + '/' + ws.status.value:>24}  "
                  f"{ws.info['working_set']['sizes']}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
