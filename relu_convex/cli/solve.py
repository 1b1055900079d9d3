"""``relu-convex solve``: solve C-ReLU or C-GReLU on a data file and report the certificate."""

from __future__ import annotations

import argparse

from ..data import check_lam
from ..fitting import default_solver, default_working_set
from ..io import load_dataset
from ..problems import GatedReLUProblem, ReLUProblem
from .common import add_data_arguments, build_patterns, check_output_file, check_seed, plain_text, prepare_X, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("solve", help="solve the convex program on a data file", description=plain_text(__doc__))
    add_data_arguments(p)
    p.add_argument("--program", choices=["relu", "grelu"], default="relu", help="C-ReLU (default) or C-GReLU")
    p.add_argument("--solver", default=None,
                   help="clarabel, ecos, scs, mosek, fista (C-GReLU), al (C-ReLU) or ipm (both); default: ipm "
                        "(al / fista when its Newton systems would not fit in memory; "
                        "relu_convex.fitting.DEFAULT_SOLVER)")
    p.add_argument("--tol", type=float, default=None, help="solver tolerance")
    p.add_argument("--working-set", action=argparse.BooleanOptionalAction, default=None,
                   help="solve over growing subsets of the patterns and certify over all of them; default: when the "
                        "patterns outnumber the samples 20 to 1, e.g. --patterns exact (relu_convex.fitting.WORKING_SET_RATIO)")
    p.add_argument("--save-network", metavar="FILE",
                   help="write the equivalent network to a .npz file in the format of ReLUNetwork.save: W1 (its last "
                        "column the hidden bias unless --no-bias) and w2, which `relu-convex certify --network` reads; "
                        "with --program grelu also gates: a gated network, which certify refuses")


def run(args) -> int:
    lam = check_lam(args.lam, "--lam")
    check_seed(args.seed)
    if args.save_network:
        check_output_file(args.save_network, "--save-network")  # before solving, not after
    X, y = load_dataset(args.data)
    X = prepare_X(X, args.no_bias)
    patterns, how = build_patterns(X, args.patterns, args.seed)
    cls = ReLUProblem if args.program == "relu" else GatedReLUProblem
    problem = cls(X, y, patterns, lam)
    options = {} if args.tol is None else {"tol": args.tol}
    working_set = default_working_set(problem.n, problem.p) if args.working_set is None else args.working_set
    if working_set:
        options["working_set"] = True
    solver = default_solver(args.program.replace("grelu", "gated"), args.solver, shape=(problem.n, problem.d, problem.p), lam=lam)
    result = problem.solve(solver=solver, **options)
    record = {
        "program": problem.program,
        "n": problem.n,
        "d": problem.d,
        "patterns": problem.p,
        "pattern_set": how,
        "lam": lam,
        "solver": result.solver,
        "status": result.status.value,
        "objective": result.objective,
        "lower_bound": result.lower_bound,
        "relative_gap": result.relative_gap,
        "max_violation": result.max_violation,
        "iterations": result.iterations,
        "solve_time": result.solve_time,
        "message": result.message,
    }
    if "working_set" in result.info:
        record["working_set_sizes"] = result.info["working_set"]["sizes"]
    if result.weights is not None:
        net = problem.to_network(result.weights)
        record["network_width"] = net.width
        if args.save_network:
            net.save(args.save_network)
            record["network_file"] = args.save_network
    if args.json:
        print_json(record)
    else:
        for key, value in record.items():
            print(f"{key:>15}: {value}")
    return 0 if result.status.has_point else 1
