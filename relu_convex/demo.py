r"""Small exact instances for teaching: ``relu-convex demo``.

Two instances of the gallery (:mod:`relu_convex.gallery`, the one source of the
reference problems and their stored optima), small enough for the exact pattern set:

* ``regression-1d``: a 1-D regression with a bias column (rank 2: ``2n - 1`` patterns), and
* ``classification-2d``: a 2-D classification with a bias column (rank 3:
  ``2(1 + (n-1) + C(n-1, 2))`` cells minus the all-false one).

For each, the demo prints the pattern count against the formula, the convex
optimum (C-ReLU over the exact set: the global optimum of the network), the best
value that non-convex training reaches from many random starts, the width of the
optimal network, and the certificate of each. It writes PNG figures: the fitted
function with the optimal network's kinks, the regularization path, the
hyperplane arrangement with its cells, and gated versus ReLU fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import gallery
from .arrangement import count_general_position
from .decomposition import approximation_bound
from .network_certificates import certify_network
from .problems import GatedReLUProblem, ReLUProblem
from .training import best_of_restarts

__all__ = ["DemoCase", "DemoReport", "run_demo", "active_blocks", "weight_scale"]


def active_blocks(weights, rel: float = 1e-6, scale: float = 0.0) -> int:
    """Number of blocks whose norm exceeds ``rel * max(largest block norm, scale)``.

    Interior-point solutions carry tiny nonzero blocks; this counts the neurons
    that matter. Pass ``scale`` (e.g. ``max|y| / max_k ||x_k||``) so that an
    all-zero solution with numerical noise counts as width 0.
    """
    blocks = np.concatenate([np.linalg.norm(np.asarray(w), axis=-1).ravel() for w in (weights if isinstance(weights, tuple) else (weights,))])
    top = max(float(blocks.max(initial=0.0)), scale)
    return int(np.sum(blocks > rel * top)) if top > 0 else 0


def weight_scale(X: np.ndarray, y: np.ndarray) -> float:
    """The natural size of a weight block, ``max|y| / max_k ||x_k||``."""
    return float(np.max(np.abs(y)) / np.max(np.linalg.norm(X, axis=1)))


@dataclass
class DemoCase:
    """The results of one demo instance."""

    name: str
    n: int
    rank: int
    patterns: int
    formula: int
    all_false_realizable: bool
    lam: float
    convex_objective: float
    convex_lower_bound: float
    convex_status: str
    nonconvex_best: float
    nonconvex_median: float
    restarts: int
    width: int
    gated_objective: float
    extra: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        expected = self.formula - (1 if self.all_false_realizable else 0)
        gap = (self.nonconvex_best - self.convex_objective) / self.convex_objective
        rel = (self.convex_objective - self.convex_lower_bound) / self.convex_objective
        minus = " minus the all-false one" if self.all_false_realizable else ""
        rows = [
            ("patterns (exact enumeration)", f"{self.patterns}"),
            ("formula 2*sum_(k<r) C(n-1, k)", f"{self.formula}{minus} = {expected}"),
            ("convex optimum (C-ReLU, exact)", f"{self.convex_objective:.10g}  [{self.convex_status}]"),
            ("certified lower bound", f"{self.convex_lower_bound:.10g}  (relative gap {rel:.1e})"),
            (
                f"non-convex training (width {self.width}), best of {self.restarts}",
                f"{self.nonconvex_best:.10g}  (+{gap:.2e} relative; median {self.nonconvex_median:.6g})",
            ),
            ("width of the optimal network", f"{self.width} neurons"),
            ("gated ReLU optimum (C-GReLU)", f"{self.gated_objective:.10g}"),
            *self.extra.items(),
        ]
        out = [f"== {self.name} (n = {self.n}, rank {self.rank}, lam = {self.lam:g})"]
        out += [f"  {label:<44}{value}" for label, value in rows]
        return out


@dataclass
class DemoReport:
    """All demo cases and the figure files written."""

    cases: list[DemoCase]
    figures: list[Path]

    def __str__(self) -> str:
        lines = []
        for case in self.cases:
            lines += case.lines() + [""]
        if self.figures:
            lines.append("figures:")
            lines += [f"  {f}" for f in self.figures]
        return "\n".join(lines)


def _all_false_realizable(X: np.ndarray) -> bool:
    from scipy.optimize import linprog

    # some g with X g <= -1 exists iff the all-false pattern is a cell
    res = linprog(np.zeros(X.shape[1]), A_ub=X, b_ub=-np.ones(X.shape[0]), bounds=[(None, None)] * X.shape[1], method="highs")
    return res.status == 0


def _solve_case(instance, restarts, steps, seed):
    X, y, lam, patterns = instance.X, instance.y, instance.lam, instance.patterns
    name = f"{instance.name}: {instance.description}"
    rank = int(np.linalg.matrix_rank(X))
    relu = ReLUProblem(X, y, patterns, lam)
    res = relu.solve(solver="clarabel", tol=1e-9)
    gated = GatedReLUProblem(X, y, patterns, lam).solve(solver="clarabel", tol=1e-9)
    width = active_blocks(res.weights, scale=weight_scale(X, y))
    # non-convex training gets the width of the optimal network (enough neurons to reach it)
    best, objs = best_of_restarts(X, y, lam, width=max(width, 1), restarts=restarts, seed=seed, steps=steps, lr=1e-2)
    gated_problem = GatedReLUProblem(X, y, patterns, lam)
    bound = approximation_bound(gated_problem, gated.weights)
    trained_cert = certify_network(best.network, X, y, lam)
    optimal_cert = certify_network(relu.to_network(res.weights), X, y, lam)
    case = DemoCase(
        name=name,
        n=X.shape[0],
        rank=rank,
        patterns=patterns.shape[1],
        formula=count_general_position(X.shape[0], rank),
        all_false_realizable=_all_false_realizable(X),
        lam=lam,
        convex_objective=res.objective,
        convex_lower_bound=res.lower_bound,
        convex_status=res.status.value,
        nonconvex_best=best.objective,
        nonconvex_median=float(np.median(objs)),
        restarts=restarts,
        width=width,
        gated_objective=gated.objective,
        extra={
            "stored optimum (gallery)": f"{instance.optimum_relu:.10g}"
            f"  (reproduced to {abs(res.objective - instance.optimum_relu) / instance.optimum_relu:.1e} relative)",
            "certificate, optimal network": f"lower bound {optimal_cert.lower_bound:.10g}, relative gap {optimal_cert.relative_gap:.1e}"
            + (" (rigorous: exact patterns)" if optimal_cert.rigorous else ""),
            "certificate, best trained network": f"lower bound {trained_cert.lower_bound:.10g}, relative gap {trained_cert.relative_gap:.1e}"
            + (" (rigorous: exact patterns)" if trained_cert.rigorous else ""),
            "cone decomposition of gated optimum": f"C-ReLU objective {bound.relu_objective:.6g} <= kappa bound {bound.kappa_bound:.6g}",
        },
    )
    case.bound = bound
    return case, relu, res, gated, best


def run_demo(out_dir="relu-convex-demo", *, restarts: int = 20, seed: int = 0, figures: bool = True, steps: int = 3000) -> DemoReport:
    """Run both teaching instances; optionally write the figures to ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Folder for the PNG figures (created if missing).
    restarts : int
        Random starts of non-convex training per instance.
    seed : int
    figures : bool
        Write figures (needs matplotlib, the ``plot`` extra; uses the Agg
        backend, no display).
    steps : int
        Adam steps per non-convex training run.

    Returns
    -------
    DemoReport

    Raises
    ------
    ImportError
        ``figures=True`` without matplotlib; raised before any work, naming the
        extra to install.
    """
    if figures:
        from .demo_figures import matplotlib_missing

        missing = matplotlib_missing()
        if missing:
            raise ImportError(f"run_demo(figures=True) needs matplotlib: {missing}; or pass figures=False")
    cases, written = [], []
    reg, cls = gallery.load("regression-1d"), gallery.load("classification-2d")
    case1, relu1, res1, gated1, best1 = _solve_case(reg, restarts, steps, seed)
    X1, y1 = reg.X, reg.y
    case2, relu2, res2, gated2, best2 = _solve_case(cls, restarts, steps, seed)
    X2 = cls.X
    cases += [case1, case2]
    if figures:
        from . import demo_figures as figs

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written.append(figs.plot_fit_1d(out / "fit_1d.png", relu1, res1, best1))
        written.append(figs.plot_path_1d(out / "path_1d.png", X1, y1, relu1.patterns))
        written.append(figs.plot_arrangement_2d(out / "arrangement_2d.png", X2))
        written.append(figs.plot_gated_vs_relu_1d(out / "gated_vs_relu_1d.png", relu1, res1, gated1, case1.bound))
        written.append(figs.plot_classifier_2d(out / "classifier_2d.png", relu2, res2))
    return DemoReport(cases, written)
