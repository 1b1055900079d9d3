"""Benchmark the fast solvers ("fista", "al", "ipm") against Clarabel and pyscnn.

Planted ReLU targets ``y = relu(X W) a + 0.1 * noise`` with a few random neurons,
Gaussian ``X``, float64, ``lam = 1e-3`` and sampled gates. Parts:

``grelu``    C-GReLU (n=2000, d=50, p=300): "fista" to a certified relative gap of
             1e-6, Clarabel on the CVXPY program, pyscnn's R-FISTA at its default
             tolerance (its objective evaluated in this package's convention).
``relu``     C-ReLU (n=1000, d=20, p=100): "al" to violation 1e-6 and certified
             relative gap 1e-5, Clarabel, pyscnn's AL.
``ipm``      the ``relu`` instance solved by "ipm" (structured interior point) to the
             same tolerances, median of ``--ipm-repeat`` runs, against Clarabel.
``grelu-ipm`` the ``grelu`` instance solved by "ipm" to a certified relative gap of
             1e-6, median of ``--ipm-repeat`` runs, against Clarabel and R-FISTA.
``memory``   C-GReLU (n=50000, d=100, p=1000): a few hundred FISTA iterations in a
             subprocess; peak resident memory from ``resource.getrusage``.
``periter``  time per iteration of "fista" and "al" against the time of the two
             matrix products an iteration needs; "al" with its default kernels
             (the fused numba ones when numba is installed; their first call,
             numba's import and compilation or cache load, is timed apart) and
             with ``kernels="numpy"``.

``--al-kernels`` chooses the kernels of the ``relu`` part's al solve.

pyscnn runs in its own virtual environment through ``pyscnn_runner.py``
(``--pyscnn-python``). It minimizes ``||yhat - y||^2 / (2n) + lam * sum_i ||u_i||``,
the same objective and the same ``lam`` as here; its column unitization is off
so that both solve the same problem, and it sorts the activation patterns, so its
weights are matched back to this package's pattern order before evaluation.

Not part of the test suite. Example (single-threaded BLAS for a fair comparison
with the single-threaded interior-point solver)::

    python validation/bench_fast_solvers.py --threads 1 --pyscnn-python /work/pyscnn-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="grelu,relu,memory,periter",
                    help="comma-separated: grelu, grelu-ipm, grelu-sizes, relu, ipm, memory, periter")
    ap.add_argument("--ipm-repeat", type=int, default=3, help="runs of the ipm part (the median is reported)")
    ap.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (set before numpy loads)")
    ap.add_argument("--pyscnn-python", default=None, help="python of a venv with pyscnn installed (skip pyscnn if absent)")
    ap.add_argument("--skip-clarabel", action="store_true", help="do not run Clarabel (minutes on the large instances)")
    ap.add_argument("--al-kernels", default="auto", choices=("auto", "numba", "numpy"),
                    help="elementwise kernels of the al solves in the relu part (solve_al's kernels option)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-iterations", type=int, default=200)
    ap.add_argument("--json", default=None, help="write the figures to this file")
    ap.add_argument("--memory-child", nargs=4, metavar=("N", "D", "P", "ITERS"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


ARGS = parse_args()
if ARGS.threads is not None:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE.parent))
import relu_convex as rc  # noqa: E402
from relu_convex.solvers.augmented_lagrangian import AugmentedPart, solve_al  # noqa: E402
from relu_convex.solvers.fista import solve_fista  # noqa: E402
from relu_convex.solvers.interior_point_relu import solve_ipm  # noqa: E402


def planted(n: int, d: int, p: int, seed: int, neurons: int = 5, noise: float = 0.1):
    """Data, targets and gates of a planted ReLU problem (unique, nonempty patterns)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, neurons))
    a = rng.standard_normal(neurons)
    y = np.maximum(X @ W, 0.0) @ a + noise * rng.standard_normal(n)
    gates = rc.sample_gates(d, p, seed=seed + 1)
    patterns = rc.activation_patterns(X, gates)
    if patterns.shape[1] != p:
        raise RuntimeError("sampled gates gave repeated patterns; choose another seed")
    return X, y, gates, patterns


def timed(fn, repeat: int = 20) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run_pyscnn(python: str, X, y, gates, lam: float, solver: str, patterns) -> dict:
    """Run pyscnn in its venv; return its time and weights in this package's pattern order."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, X=X, y=y, G=gates, lam=lam, solver=solver, max_iters=10000, tol=1e-6)
        env = dict(os.environ)
        proc = subprocess.run([python, str(HERE / "pyscnn_runner.py"), str(inp), str(out)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
        res = np.load(out, allow_pickle=False)
        G_out = res["G"]
        # pyscnn keeps 1[X g > 0] patterns sorted; match them to ours (1[X g >= 0], same on continuous data)
        index = {patterns[:, i].tobytes(): i for i in range(patterns.shape[1])}
        order = np.array([index[col.tobytes()] for col in (X @ G_out > 0).T])

        def place(W):
            full = np.zeros((patterns.shape[1], X.shape[1]))
            full[order] = W
            return full

        out_w = place(res["U"]) if solver == "rfista" else (place(res["V"]), place(res["W"]))
        return {"time": float(res["time"]), "weights": out_w, "version": str(res["version"])}


def row(name: str, seconds: float | None, objective: float | None, rel_to_opt: float | None, extra: str = "") -> str:
    s = "-" if seconds is None else f"{seconds:9.2f}"
    o = "-" if objective is None else f"{objective:.10f}"
    g = "-" if rel_to_opt is None else f"{rel_to_opt:+.2e}"
    return f"  {name:<22} {s:>9}  {o:>14}  {g:>10}  {extra}"


def _against_references(args, problem, X, y, gates, patterns, ours, label: str, extra: str, target: str,
                        pyscnn_solver: str, fig: dict) -> None:
    """Run Clarabel and pyscnn on ``problem``, print the table rows, and fill ``fig``.

    ``ours`` is the first-order result; every objective is compared with the best lower
    bound of the run (``ours``'s or Clarabel's). For C-ReLU the time to reach pyscnn's
    objective counts only checks at least as feasible as pyscnn's final point (the
    objective of an infeasible point is no upper bound).
    """
    relu = problem.program == "C-ReLU"
    best_lb = ours.lower_bound
    clar = None
    if not args.skip_clarabel:
        clar = problem.solve(solver="clarabel", tol=1e-8)
        best_lb = max(best_lb, clar.lower_bound)
        fig.update(clarabel_time=clar.solve_time, clarabel_objective=clar.objective, clarabel_status=str(clar.status),
                   clarabel_relative_gap=clar.relative_gap, clarabel_violation=clar.max_violation,
                   speedup_vs_clarabel=clar.solve_time / ours.solve_time)
    gap = lambda f: (f - best_lb) / f  # noqa: E731
    print(row(label, ours.solve_time, ours.objective, gap(ours.objective), extra))
    if clar is not None:
        violation = f"violation {clar.max_violation:.1e}, " if relu else ""
        print(row("clarabel (tol 1e-8)", clar.solve_time, clar.objective, gap(clar.objective),
                  f"{violation}{clar.status}; {ours.solver} is {clar.solve_time / ours.solve_time:.2f}x as fast "
                  f"(target {target})"))
    if not args.pyscnn_python:
        return
    name = {"rfista": "R-FISTA", "al": "AL"}[pyscnn_solver]
    ps = run_pyscnn(args.pyscnn_python, X, y, gates, problem.lam, pyscnn_solver, patterns)
    if "error" in ps:
        print(f"  pyscnn {name} failed: {ps['error']}")
        fig["pyscnn_error"] = ps["error"]
        return
    cert = problem.certificate(ps["weights"])
    fig.update(pyscnn_time=ps["time"], pyscnn_objective=cert.objective, pyscnn_violation=cert.max_violation,
               pyscnn_gap_to_bound=gap(cert.objective), pyscnn_version=ps["version"],
               speedup_vs_pyscnn=ps["time"] / ours.solve_time)
    violation = f"violation {cert.max_violation:.1e}; " if relu else ""
    print(row(f"pyscnn {ps['version']} {name}", ps["time"], cert.objective, gap(cert.objective),
              f"{violation}default tolerances; {ours.solver}/pyscnn time ratio {ours.solve_time / ps['time']:.2f}"))
    h = ours.history
    bar = max(cert.max_violation, 1e-6)
    reach = next((float(t) for t, f, v in zip(h["time"], h["objective"], h["violation"], strict=True)
                  if f <= cert.objective and (not relu or v <= bar)), None)
    fig[f"{ours.solver}_time_to_pyscnn_objective"] = reach
    if reach is not None:
        feasible = " at no larger violation" if relu else ""
        print(f"  {ours.solver} reached pyscnn's final objective{feasible} after {reach:.2f} s "
              f"(pyscnn {ps['time']:.2f} s: {ps['time'] / reach:.1f}x)")


INSTANCES = {"C-GReLU": (2000, 50, 300, 1e-3), "C-ReLU": (1000, 20, 100, 1e-3)}
"""The benchmark instances: ``(n, d, p, lam)`` per program."""


def instance(args, program: str):
    """Problem and data of the ``program`` benchmark instance (``INSTANCES``), after printing its header line."""
    n, d, p, lam = INSTANCES[program]
    X, y, gates, patterns = planted(n, d, p, args.seed)
    problem = (rc.GatedReLUProblem if program == "C-GReLU" else rc.ReLUProblem)(X, y, patterns, lam)
    print(f"\n{program}  n={n} d={d} p={p} lam={lam:g}  (time s, objective, (objective - best lower bound)/objective)")
    return problem, X, y, gates, patterns


def bench_grelu(args, report: dict) -> None:
    problem, X, y, gates, patterns = instance(args, "C-GReLU")
    fista = solve_fista(problem, tol=1e-6, max_iter=100_000)
    fig = {"fista_time": fista.solve_time, "fista_iterations": fista.iterations, "fista_objective": fista.objective,
           "fista_lower_bound": fista.lower_bound, "fista_relative_gap": fista.relative_gap, "fista_status": str(fista.status),
           "fista_polishes": fista.info.get("polishes"), "fista_polish_time": fista.info.get("polish_time")}
    _against_references(args, problem, X, y, gates, patterns, fista, "fista (tol 1e-6)",
                        f"{fista.iterations} iterations, certified gap {fista.relative_gap:.1e}, {fista.status}",
                        ">= 50x", "rfista", fig)
    report["grelu"] = fig


def bench_relu(args, report: dict) -> None:
    problem, X, y, gates, patterns = instance(args, "C-ReLU")
    al = solve_al(problem, tol=1e-5, feas_tol=1e-6, max_iter=200_000, kernels=args.al_kernels)
    fig = {"al_time": al.solve_time, "al_iterations": al.iterations, "al_objective": al.objective,
           "al_violation": al.max_violation, "al_relative_gap": al.relative_gap, "al_status": str(al.status),
           "al_kernels": al.info["kernels"]}
    _against_references(args, problem, X, y, gates, patterns, al, "al (1e-5, viol 1e-6)",
                        f"{al.iterations} iterations, violation {al.max_violation:.1e}, "
                        f"certified gap {al.relative_gap:.1e}, {al.status}, kernels {al.info['kernels']!r}",
                        ">= 10x", "al", fig)
    report["relu"] = fig


def _median_ipm(args, problem, **options):
    """Median (by time) of ``--ipm-repeat`` "ipm" solves of ``problem``, and all their times."""
    runs = sorted((solve_ipm(problem, **options) for _ in range(args.ipm_repeat)), key=lambda r: r.solve_time)
    print(f"  ipm times over {len(runs)} runs: " + ", ".join(f"{r.solve_time:.2f}" for r in runs) + " s")
    return runs[len(runs) // 2], [r.solve_time for r in runs]


def bench_grelu_ipm(args, report: dict) -> None:
    """The "ipm" solver on the ``grelu`` instance (tol 1e-6): median of ``--ipm-repeat`` runs, then Clarabel once."""
    problem, X, y, gates, patterns = instance(args, "C-GReLU")
    ipm, times = _median_ipm(args, problem, tol=1e-6)
    fig = {"ipm_times": times, "ipm_time": ipm.solve_time, "ipm_iterations": ipm.iterations,
           "ipm_objective": ipm.objective, "ipm_relative_gap": ipm.relative_gap, "ipm_status": str(ipm.status)}
    _against_references(args, problem, X, y, gates, patterns, ipm, "ipm (tol 1e-6)",
                        f"{ipm.iterations} iterations, certified gap {ipm.relative_gap:.1e}, {ipm.status}",
                        ">= 50x", "rfista", fig)
    report["grelu_ipm"] = fig


GRELU_SIZES = ((1000, 50, 300), (4000, 50, 300), (8000, 50, 300), (3000, 20, 300))
"""(n, d, p) of the ``grelu-sizes`` part: planted C-GReLU problems, lam = 1e-3."""


def bench_grelu_sizes(args, report: dict) -> None:
    """"ipm" against "fista" (tol 1e-6 each, no Clarabel) on larger C-GReLU problems (``GRELU_SIZES``).

    The figures behind the default solver of single C-GReLU solves
    (``relu_convex.fitting.DEFAULT_SOLVER``): ipm's cost grows as ``n^2 p + n^3`` per
    iteration, fista's as ``n d p``, so the ratio says up to which size ipm is the faster.
    """
    print("\nC-GReLU, ipm against fista at larger n (lam=1e-3, tol 1e-6; time s, status, certified gap)")
    rows = []
    for n, d, p in GRELU_SIZES:
        X, y, _, patterns = planted(n, d, p, args.seed)
        problem = rc.GatedReLUProblem(X, y, patterns, 1e-3)
        ipm = solve_ipm(problem, tol=1e-6)
        fista = solve_fista(problem, tol=1e-6, max_iter=100_000)
        rows.append({"n": n, "d": d, "p": p, "ipm_time": ipm.solve_time, "ipm_status": str(ipm.status),
                     "ipm_relative_gap": ipm.relative_gap, "fista_time": fista.solve_time,
                     "fista_status": str(fista.status), "fista_relative_gap": fista.relative_gap,
                     "ratio": ipm.solve_time / fista.solve_time})
        print(f"  n={n:5d} d={d} p={p}: ipm {ipm.solve_time:7.2f} s {ipm.status} {ipm.relative_gap:.1e} | "
              f"fista {fista.solve_time:7.2f} s {fista.status} {fista.relative_gap:.1e} | "
              f"ipm/fista {ipm.solve_time / fista.solve_time:.2f}", flush=True)
    report["grelu_sizes"] = rows


def bench_ipm(args, report: dict) -> None:
    """The "ipm" solver on the ``relu`` instance: median of ``--ipm-repeat`` runs, then Clarabel once."""
    problem, X, y, gates, patterns = instance(args, "C-ReLU")
    ipm, times = _median_ipm(args, problem, tol=1e-5, feas_tol=1e-6)
    fig = {"ipm_times": times, "ipm_time": ipm.solve_time, "ipm_iterations": ipm.iterations,
           "ipm_objective": ipm.objective, "ipm_violation": ipm.max_violation,
           "ipm_relative_gap": ipm.relative_gap, "ipm_status": str(ipm.status)}
    _against_references(args, problem, X, y, gates, patterns, ipm, "ipm (1e-5, viol 1e-6)",
                        f"{ipm.iterations} iterations, violation {ipm.max_violation:.1e}, "
                        f"certified gap {ipm.relative_gap:.1e}, {ipm.status}",
                        ">= 10x", "al", fig)
    report["ipm"] = fig


def memory_child(n: int, d: int, p: int, iters: int) -> None:
    """Run in a fresh process: build the problem, run FISTA, print peak RSS (GiB) as JSON."""
    import resource

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 5)), 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    patterns = rc.activation_patterns(X, rc.sample_gates(d, p, seed=1))
    problem = rc.GatedReLUProblem(X, y, patterns, 1e-3)
    t = time.perf_counter()
    res = solve_fista(problem, max_iter=iters)
    elapsed = time.perf_counter() - t
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_gib": peak_kib / 2**20, "iterations": res.iterations, "seconds": elapsed,
                      "status": str(res.status), "relative_gap": res.relative_gap, "p": problem.p}))


def bench_memory(args, report: dict) -> None:
    n, d, p = 50_000, 100, 1_000
    print(f"\nMemory  C-GReLU n={n} d={d} p={p}, {args.memory_iterations} FISTA iterations in a subprocess")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(n), str(d), str(p), str(args.memory_iterations)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print("  failed:", proc.stderr.strip()[-500:])
        report["memory"] = {"error": proc.stderr.strip()[-500:]}
        return
    fig = json.loads(proc.stdout.strip().splitlines()[-1])
    data_gib = n * d * 8 / 2**30
    print(f"  peak RSS {fig['peak_gib']:.2f} GiB (target < 4 GiB; X alone {data_gib:.2f} GiB, one (n, p) float64 array "
          f"{n * p * 8 / 2**30:.2f} GiB); {fig['iterations']} iterations in {fig['seconds']:.1f} s, "
          f"relative gap {fig['relative_gap']:.1e} ({fig['status']})")
    report["memory"] = fig


def bench_periter(args, report: dict) -> None:
    print("\nTime per iteration against the two matrix products it needs (median of repeated calls)")
    fig = {}
    # C-GReLU: forward A vec(U) and adjoint A^T r
    X, y, _, patterns = planted(2000, 50, 300, args.seed)
    problem = rc.GatedReLUProblem(X, y, patterns, 1e-3)
    op = problem.operator
    rng = np.random.default_rng(1)
    U, r = rng.standard_normal((op.p, op.d)), rng.standard_normal(op.n)
    products = timed(lambda: op.forward(U)) + timed(lambda: op.adjoint(r))
    blas = timed(lambda: X @ U.T) + timed(lambda: (r[:, None] * X).T @ op.mask)
    # iterations only: the Newton refinement attempts are not iterations (their time is reported
    # with the grelu part); float64 iterations, to compare with the float64 products above
    res = solve_fista(problem, tol=1e-6, max_iter=1000, polish=False, mixed_precision=False)
    per_iter = res.solve_time / res.iterations
    fig["fista"] = {"per_iteration": per_iter, "two_products": products, "blas_only": blas, "ratio": per_iter / products}
    print(f"  fista  n=2000 d=50 p=300: {per_iter * 1e3:.2f} ms/iteration; forward+adjoint {products * 1e3:.2f} ms "
          f"(bare BLAS {blas * 1e3:.2f} ms); ratio {per_iter / products:.2f} (target <= 2)")
    # C-ReLU: cone values of (V, W) and the gradient product, (2, n, p) each
    X, y, _, patterns = planted(1000, 20, 100, args.seed)
    problem = rc.ReLUProblem(X, y, patterns, 1e-3)
    op = problem.operator
    part = AugmentedPart(op, problem.y, np.zeros((2, op.n, op.p)), 1.0)
    x = rng.standard_normal((2 * op.p, op.d))
    H = rng.standard_normal((2, op.n, op.p))
    products = timed(lambda: part.forward(x)) + timed(lambda: np.matmul(op.X.T, H))
    V = x.reshape(2, op.p, op.d).transpose(0, 2, 1)
    blas = timed(lambda: np.matmul(op.X, V)) + timed(lambda: np.matmul(op.X.T, H))
    # the first solve with the default kernels pays numba's import and compilation (or cache load):
    # reported on its own, not as iterations
    started = time.perf_counter()
    warm = solve_al(problem, tol=1e-5, max_iter=5, nnls=False, polish=False)
    first_call = time.perf_counter() - started
    fig["al_first_call"] = {"seconds": first_call, "kernels": warm.info["kernels"]}
    print(f"  al     first call (5 iterations, kernels {warm.info['kernels']!r}; numba import + compilation or cache "
          f"load): {first_call:.2f} s")
    for kernels in ("auto", "numpy"):
        res = solve_al(problem, tol=1e-5, max_iter=1000, nnls=False, polish=False, kernels=kernels)
        per_iter = res.solve_time / res.iterations
        name = "al" if kernels == "auto" else "al_numpy"
        fig[name] = {"per_iteration": per_iter, "two_products": products, "blas_only": blas, "ratio": per_iter / products,
                     "kernels": res.info["kernels"]}
        print(f"  {name:<8} n=1000 d=20 p=100 (kernels {res.info['kernels']!r}): {per_iter * 1e3:.2f} ms/iteration; "
              f"cone values+gradient product {products * 1e3:.2f} ms (bare BLAS {blas * 1e3:.2f} ms); "
              f"ratio {per_iter / products:.2f}" + (" (target <= 2)" if kernels == "auto" else ""))
    report["periter"] = fig


def main() -> None:
    args = ARGS
    if args.memory_child:
        memory_child(*(int(v) for v in args.memory_child))
        return
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    benches = {"grelu": bench_grelu, "grelu-ipm": bench_grelu_ipm, "grelu-sizes": bench_grelu_sizes,
               "relu": bench_relu, "ipm": bench_ipm,
               "memory": bench_memory,
               "periter": bench_periter}
    unknown = set(parts) - set(benches)
    if unknown:
        raise SystemExit(f"--parts: unknown part(s) {sorted(unknown)}; expected {', '.join(benches)}")
    print(f"relu_convex {rc.__version__}, numpy {np.__version__}, threads {args.threads or 'default'}, "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    report: dict = {"threads": args.threads, "load_average_start": os.getloadavg()}
    for part in parts:
        benches[part](args, report)
    report["load_average_end"] = os.getloadavg()
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (the machine's other jobs slow every timing)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
