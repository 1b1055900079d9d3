"""The figures of the teaching demo (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .patterns import add_bias
from .problems import GatedReLUProblem, ReLUProblem

__all__ = [
    "PLOT_INSTALL",
    "matplotlib_missing",
    "plot_fit_1d",
    "plot_path_1d",
    "plot_arrangement_2d",
    "plot_gated_vs_relu_1d",
    "plot_classifier_2d",
]

#: how to install matplotlib, the optional ``plot`` extra that draws the figures
PLOT_INSTALL = "pip install 'relu-convex[plot]'"


def matplotlib_missing() -> str | None:
    """Why the figures cannot be drawn (matplotlib, the ``plot`` extra, is not installed), or ``None`` when they can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return f"matplotlib is not installed ({PLOT_INSTALL})"
    return None


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"the demo figures need matplotlib: {PLOT_INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid_1d(X: np.ndarray, num: int = 400) -> tuple[np.ndarray, np.ndarray]:
    x = X[:, 0]
    pad = 0.15 * (x.max() - x.min())
    g = np.linspace(x.min() - pad, x.max() + pad, num)
    return g, add_bias(g[:, None])


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    _plt().close(fig)
    return Path(path)


def _active(net, rel: float = 1e-6):
    size = np.linalg.norm(net.W1, axis=1) * np.abs(net.w2 if net.w2.ndim == 1 else net.w2).reshape(len(net.W1), -1).max(axis=1)
    return size > rel * size.max(initial=0.0)


def plot_fit_1d(path, problem: ReLUProblem, result, best_training) -> Path:
    """The optimal network's function, its kinks, and the best non-convex fit."""
    plt = _plt()
    net = problem.to_network(result.weights)
    g, G = _grid_1d(problem.X)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter(problem.X[:, 0], problem.y, color="k", zorder=3, label="data")
    ax.plot(g, net.predict(G), color="C0", lw=2, label=f"convex optimum ({result.objective:.5g})")
    ax.plot(g, best_training.network.predict(G), color="C1", ls="--", label=f"best non-convex run ({best_training.objective:.5g})")
    active = _active(net)
    a, b = net.W1[active, 0], net.W1[active, 1]
    kinks = -b[np.abs(a) > 0] / a[np.abs(a) > 0]
    kinks = kinks[(kinks > g.min()) & (kinks < g.max())]
    for i, k in enumerate(np.unique(np.round(kinks, 9))):
        ax.axvline(k, color="C0", alpha=0.35, lw=1, ls=":", label="kinks of the optimal network" if i == 0 else None)
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    ax.set_title(f"1-D regression: optimal network with {int(active.sum())} neurons (lam = {problem.lam:g})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_path_1d(path, X: np.ndarray, y: np.ndarray, patterns: np.ndarray, lams=None) -> Path:
    """Objective and number of active neurons of the C-ReLU optimum against lam."""
    from .demo import active_blocks, weight_scale

    plt = _plt()
    lams = np.logspace(-4, 0, 13) if lams is None else np.asarray(lams)
    objs, widths = [], []
    for lam in lams:
        res = ReLUProblem(X, y, patterns, float(lam)).solve(solver="clarabel", tol=1e-9)
        objs.append(res.objective)
        widths.append(active_blocks(res.weights, scale=weight_scale(X, y)))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.semilogx(lams, objs, "o-", color="C0", label="optimal objective")
    ax.set_xlabel("lam")
    ax.set_ylabel("optimal objective", color="C0")
    ax2 = ax.twinx()
    ax2.semilogx(lams, widths, "s--", color="C3", label="active neurons")
    ax2.set_ylabel("active neurons", color="C3")
    ax.set_title("Regularization path (1-D regression, exact patterns)")
    return _save(fig, path)


def plot_arrangement_2d(path, X: np.ndarray, extent: float = 4.0, num: int = 500) -> Path:
    r"""The cells of the arrangement :math:`\{g : x_k^\top g = 0\}` for 2-D data with a bias column.

    Gates are :math:`g = (g_1, g_2, g_3)`; each panel is the chart :math:`g_3 = \pm 1`, where
    hyperplane ``k`` is the line :math:`x_{k1} g_1 + x_{k2} g_2 \pm 1 = 0` and every cell of the
    central arrangement with that sign of :math:`g_3` is one colored region.
    """
    from .arrangement import enumerate_patterns

    plt = _plt()
    total = enumerate_patterns(X).shape[1]
    g1, g2 = np.meshgrid(np.linspace(-extent, extent, num), np.linspace(-extent, extent, num))
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.6))
    rng = np.random.default_rng(0)
    for ax, s in zip(axes, (1.0, -1.0), strict=True):
        G = np.stack([g1.ravel(), g2.ravel(), np.full(g1.size, s)])
        masks = X @ G >= 0
        _, ids = np.unique(np.packbits(masks, axis=0), axis=1, return_inverse=True)
        colors = rng.permutation(ids.max() + 1)[ids.ravel()].reshape(g1.shape)
        ax.imshow(colors, extent=(-extent, extent, -extent, extent), origin="lower", cmap="tab20", alpha=0.55, interpolation="nearest")
        t = np.linspace(-extent, extent, 2)
        for x1, x2, _ in X:
            if abs(x2) > 1e-12:
                ax.plot(t, -(x1 * t + s) / x2, color="k", lw=0.6)
            else:
                ax.axvline(-s / x1, color="k", lw=0.6)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_xlabel("gate $g_1$")
        ax.set_ylabel("gate $g_2$")
        ax.set_title(f"chart $g_3 = {s:+.0f}$: {ids.max() + 1} cells visible")
    fig.suptitle(f"Hyperplane arrangement of n = {X.shape[0]} points (rank 3): {total} patterns in all")
    return _save(fig, path)


def plot_gated_vs_relu_1d(path, problem: ReLUProblem, relu_result, gated_result, bound=None) -> Path:
    """The gated ReLU fit against the ReLU fit, with the approximation bound if given."""
    plt = _plt()
    gated_problem = GatedReLUProblem(problem.X, problem.y, problem.patterns, problem.lam)
    g, G = _grid_1d(problem.X)
    relu_net = problem.to_network(relu_result.weights)
    gated_net = gated_problem.to_network(gated_result.weights)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter(problem.X[:, 0], problem.y, color="k", zorder=3, label="data")
    ax.plot(g, relu_net.predict(G), color="C0", lw=2, label=f"ReLU (C-ReLU optimum {relu_result.objective:.5g})")
    ax.plot(g, gated_net.predict(G), color="C2", ls="--", lw=2, label=f"gated ReLU (C-GReLU optimum {gated_result.objective:.5g})")
    title = "Gated ReLU vs ReLU (1-D regression, exact patterns)"
    if bound is not None and bound.weights is not None:
        decomposed = problem.to_network(bound.weights)
        ax.plot(g, decomposed.predict(G), color="C4", ls=":", lw=1.5, label=f"ReLU from the cone decomposition ({bound.relu_objective:.5g})")
    if bound is not None:
        title += (
            f"\nd* = {bound.gated_objective:.5g} <= p* = {relu_result.objective:.5g}"
            f" <= decomposition {bound.relu_objective:.5g} <= kappa bound {bound.kappa_bound:.5g}"
        )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_classifier_2d(path, problem: ReLUProblem, result, num: int = 200) -> Path:
    """Decision function of the optimal network on the 2-D classification instance."""
    plt = _plt()
    net = problem.to_network(result.weights)
    Z = problem.X[:, :2]
    a, b = np.meshgrid(np.linspace(-1.2, 1.2, num), np.linspace(-1.2, 1.2, num))
    F = net.predict(add_bias(np.column_stack([a.ravel(), b.ravel()]))).reshape(a.shape)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    cs = ax.contourf(a, b, F, levels=20, cmap="RdBu", alpha=0.7)
    ax.contour(a, b, F, levels=[0.0], colors="k", linewidths=1.5)
    fig.colorbar(cs, ax=ax, label="network output")
    ax.scatter(Z[:, 0], Z[:, 1], c=problem.y, cmap="RdBu", edgecolors="k", s=40)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(f"2-D classification: optimal network ({_active(net).sum()} neurons)")
    return _save(fig, path)
