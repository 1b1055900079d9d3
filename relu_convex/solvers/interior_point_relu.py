r"""The ``"ipm"`` solver for C-ReLU and C-GReLU: a structured primal-dual interior-point method.

Program. Per output (``c`` outputs are solved one after the other), with
groups :math:`j = 1..2p` (:math:`u_j = v_i`, :math:`\sigma_j = +1` for
:math:`j = i \le p`; :math:`u_j = w_i`, :math:`\sigma_j = -1` for
:math:`j = p + i`), :math:`G_j = (2D_j - I) X` and an epigraph variable
:math:`t_j` for each group norm, C-ReLU is the cone quadratic program

.. math::

    \min_{u, t}\ \frac{1}{2n}\|B u - y\|^2 + \lambda \sum_j t_j
    \quad\text{s.t.}\quad G_j u_j \ge 0,\ (t_j, u_j) \in \mathcal{Q}^{d+1},
    \qquad B u = \sum_j \sigma_j D_j X u_j,

with :math:`\mathcal{Q}^{d+1}` the second-order cone. In the form
:math:`G x + s = 0`, :math:`s \in K` (:math:`K` the product of ``2p``
nonnegative orthants :math:`\mathbb{R}^n_+` and ``2p`` cones
:math:`\mathcal{Q}^{d+1}`, degree :math:`2pn + 2p`) the slacks are
:math:`s_j = G_j u_j` and :math:`\hat s_j = (t_j, u_j)`; the dual variables are
:math:`z_j \ge 0` (the cone multipliers) and :math:`\hat z_j \in \mathcal{Q}^{d+1}`.

Method. Infeasible-start path following with Nesterov-Todd scaling and
Mehrotra's predictor-corrector, as in CVXOPT's ``coneqp`` (Vandenberghe, "The
CVXOPT linear and quadratic cone program solvers", 2010): the scaling
:math:`W` (diagonal :math:`\omega = \sqrt{s/z}` on the orthants,
:math:`\beta \bar W(w)` on each second-order cone, :math:`\bar W(w)` the
hyperbolic Householder matrix of the scaling point :math:`w`, :math:`w^\top J
w = 1`) gives :math:`W z = W^{-1} s = \lambda`; each iteration factors one
system and solves it twice (affine direction, then the centered and corrected
one, whose residual right-hand sides are scaled by :math:`1 - \sigma`,
:math:`\sigma = (\mu_{aff}/\mu)^3`), and at most twice more for Gondzio's
centrality correctors: at the trial step :math:`\tilde\alpha = \min(1,
1.5\alpha)` the orthant products :math:`\tilde s_k \tilde z_k` outside
:math:`[0.1, 10]\,\sigma\mu` are moved back into it by the right-hand side
:math:`\lambda \circ (W^{-1} ds + W dz)`, kept while the step grows by 1%.
The step is 0.99 of the largest one that keeps :math:`s, z` in the cone
interior, computed in the scaled coordinates (closed form for each
second-order cone, a ratio test on the orthants). The first point is CVXOPT's:
the solution of the system below with :math:`W = I`, shifted into the interior.

Scaled iterates. Near the optimum :math:`s_j` and :math:`z_j` of an active
cone both approach its boundary and :math:`\operatorname{cond}(W)` grows like
:math:`s^\top z / \mu` (to :math:`10^9`-:math:`10^{10}` on an ``n = 1000``
instance near a certified gap of :math:`10^{-7}`), so quantities formed from the unscaled points lose accuracy:
:math:`s_0^2 - \|s_1\|^2` cancels, and :math:`W^{-2}` squares the condition.
As in CVXOPT, the iterate therefore holds :math:`\lambda` and the scaling
:math:`(\omega, w, \beta)`, not :math:`s, z`. A step moves :math:`\lambda` to
:math:`\tilde s = \lambda + \alpha W^{-1} ds` and :math:`\tilde z = \lambda +
\alpha W dz` (well-centred points in the current scaling); the new scaling
and :math:`\lambda` follow from :math:`\tilde s, \tilde z` and the old
:math:`w` in closed form (:func:`~relu_convex.solvers.cone_scaling.soc_update`; :math:`\omega \leftarrow
\omega\sqrt{\tilde s/\tilde z}`, :math:`\lambda \leftarrow \sqrt{\tilde s
\tilde z}` on the orthants), and :math:`s = W\lambda`, :math:`z =
W^{-1}\lambda` are only derived (residuals, certificate). A direction is
returned in scaled form: :math:`ds` from the primal equation :math:`G dx + ds
= -c\,r_z`, :math:`W dz = w - W^{-1} ds`, so the linearized complementarity
holds to rounding; :math:`dz` itself and :math:`W^{-2}` are never formed.

Newton systems. Eliminating :math:`ds` and :math:`dz` leaves

.. math::

    \Big(\operatorname{blockdiag}_j(H_j) + \tilde B^\top \tilde B / n\Big) dx = r,
    \qquad H_j = \hat W_j^{-2} + \begin{pmatrix} 0 & 0 \\ 0 & X^\top
    \operatorname{diag}(z_j / s_j) X\end{pmatrix},

with :math:`\tilde B = [0, \sigma_j D_j X]_j` (no column for :math:`t`) and
:math:`H_j` of size :math:`(d+1) \times (d+1)` (:math:`G_j^\top G_j`-type
products need :math:`n d^2` flops a group, since :math:`(2D_j - I)^2 = I`).
The blocks are factored in scaled form: :math:`H_j = \hat W_j^{-1} M_j \hat
W_j^{-1}` with :math:`M_j = I + C_j C_j^\top`, :math:`C_j = [\hat W_j]_{:,u}
X^\top \operatorname{diag}(z_j/s_j)^{1/2}`, and :math:`M_j = R_j^\top R_j` by
Cholesky's factorization, or, where rounding makes a formed :math:`M_j`
indefinite (near the optimum), from the QR factorization of :math:`[I;
C_j^\top]`, which never fails (the formed :math:`H_j` is far worse: its
condition is that of :math:`\hat W_j^{-2}`). So :math:`H_j^{-1} = T_j^\top
T_j` with :math:`T_j = R_j^{-\top} \hat W_j`; with :math:`[H_j^{-1}]_{uu} =
S_j S_j^\top` (:math:`S_j` of order :math:`d`, from the QR factorization of
:math:`[T_j]_{:,u}`) Woodbury's identity gives

.. math::

    (H + \tilde B^\top\tilde B/n)^{-1} = H^{-1} - H^{-1}\tilde B^\top
    (n I + F F^\top)^{-1} \tilde B H^{-1}, \qquad
    F F^\top = \sum_j D_j X S_j S_j^\top X^\top D_j .

The groups :math:`v_i` and :math:`w_i` share the mask :math:`D_i`, so their
terms combine: :math:`F = [D_i X P_i]_{i \le p}` (:math:`n \times pd`) with
:math:`P_i P_i^\top = S_i S_i^\top + S_{p+i} S_{p+i}^\top` (the R factor of
:math:`[S_i^\top; S_{p+i}^\top]`): one product :math:`F F^\top`
(:math:`n^2 pd` flops, half of the ungrouped form's; 4.6 s instead of 5.8 s on
the n=1000, d=20, p=100 benchmark) and one Cholesky factorization of order
:math:`n` an iteration. When :math:`2pd < n`
the system of order :math:`2p(d+1)` is formed and factored instead
(:math:`n (2pd)^2` flops). Every solve is followed by iterative refinement on
the reduced system (at most three steps, while the residual halves).

C-GReLU. The gated program is the same cone program without the cone rows,
over the ``p`` groups :math:`u_i` (:math:`\sigma_i = +1`): :math:`H_j = \hat
W_j^{-2}`, so :math:`H_j^{-1} = \hat W_j^2`, whose :math:`uu` block is
:math:`\beta_j^2 (I + 2 w_{j,1} w_{j,1}^\top)` for the scaling point
:math:`w_j = (w_{j,0}, w_{j,1})` (:math:`\hat W_j = \beta_j \bar W(w_j)`). The
Woodbury matrix is then

.. math::

    nI + \sum_i D_i X\, \beta_i^2 (I + 2 w_{i,1} w_{i,1}^\top) X^\top D_i
    = nI + K \circ (M \operatorname{diag}(\beta^2) M^\top) + Z Z^\top,
    \qquad Z_{:,i} = \sqrt 2\, \beta_i D_i X w_{i,1},

with :math:`K = XX^\top` and :math:`M` the :math:`n \times p` masks: two
symmetric rank-:math:`p` products (:math:`n^2 p` flops each) instead of
:math:`n^2 pd`, and no factorization of a group's block. Its certificate is
the C-GReLU bound (:func:`relu_convex.duality.scaled_dual_bound` with the
constraint values :math:`\|X^\top D_i \theta\|`). On the n=2000, d=50, p=300
benchmark it certifies 1.5e-7 in 11 iterations, 3.5 s (fista: 5.0 s), and
where the first-order ``"fista"`` is slow (small :math:`\lambda`, many
outputs) it is the faster route: on 100 rows of UCI data at :math:`\lambda =
10^{-5}` ``abalone`` 0.11 s, ``optical`` (10 outputs) 1.6 s, ``semeion`` (10
outputs, 256 features, :math:`\lambda = 10^{-3}`) 4.2 s, all certified to
:math:`10^{-6}`, where ``"fista"`` stopped at its 5 s limit and Clarabel took
0.44, 12.1 and 55-59 s.

Fewer samples than features. The programs see :math:`X` only through
:math:`X u_j`, and the penalty :math:`\|u_j\|` is smallest on the row space of
:math:`X`, so every solution has :math:`u_j = V \tilde u_j` with :math:`V`
(:math:`d \times r`) an orthonormal basis of that space, :math:`r =
\operatorname{rank} X`, and :math:`\|u_j\| = \|\tilde u_j\|`. When :math:`r < d`
(e.g. :math:`n < d`) the method solves the same program for :math:`XV`
(:math:`n \times r`) and returns :math:`V \tilde u_j`: the per-group work of
order :math:`d^3` becomes :math:`r^3` (on 100 rows of UCI ``semeion``,
:math:`d = 256`, ten outputs: 76 s, where one iteration on all :math:`d`
columns took 23 s; Clarabel took 900-1300 s). The basis comes from the SVD of
:math:`X`, keeping singular values above :math:`\max(n, d)\,\epsilon\,
\sigma_{\max}`; the objective, the violation and the bound reported are
computed again with :math:`X` itself.

Certificate. Stationarity in :math:`u_j` reads
:math:`\sigma_j X^\top D_j r / n - G_j^\top z_j = \hat z_{j,u}` with
:math:`\|\hat z_{j,u}\| \le \hat z_{j,t}` and :math:`\hat z_{j,t} \to \lambda`,
which is the C-ReLU dual constraint at :math:`\theta = -r/n` with cone
multipliers :math:`a_i = z_i`, :math:`b_i = z_{p+i}`. At every iteration the
bound of :func:`relu_convex.duality.scaled_dual_bound` is computed at
:math:`\theta = (y - Bu)/n` with these multipliers (valid for any nonnegative
multipliers); at the end also with the exact (NNLS) ones, and the larger bound
is kept. The returned point is the primal iterate :math:`u`: its cone rows
:math:`G_j u_j = s_j - (\text{primal residual})` are positive up to the
residual, which shrinks with the gap; the reported violation is measured
(:meth:`relu_convex.ReLUProblem.constraint_violation`), not assumed.

Stopping. ``optimal`` requires the relative cone violation ``<= feas_tol`` and
the certified relative gap ``<= tol``, as for ``"al"``; otherwise the status
says which limit stopped the run (``max_iterations``, ``time_limit``) or, when
the steps stall (numerical limits of the factorization), ``inaccurate``.
"""

from __future__ import annotations

import numpy as np

from ..cones import cone_violation
from ..duality import DualBound, grelu_constraint_values, relu_multiplier_bound, scaled_dual_bound
from ..operators import MaskedOperator
from .cone_scaling import (
    matvec,
    orthant_max_step,
    soc_divide,
    soc_matrices,
    soc_max_step,
    soc_product,
    soc_scaling,
    soc_update,
)
from .ipm_system import MAX_MEMORY_GB, _max_abs, _memory_gb, _Newton, _Structure
from .options import Deadline, History, check_flag, check_lam_positive, check_max_iter, check_time_limit, check_tol, default_tol
from .result import BestBound, SolveResult, cone_result, relative_gap

__all__ = ["solve_ipm"]

_STEP = 0.99  # fraction of the largest step to the cone boundary
_STALL_STEP = 1e-8  # a step this short ends the run (the directions are no longer accurate)
_SHORT_STEP = 0.1  # a combined step shorter than this tries a plain centering direction
_CENTERING = 0.5  # the smallest centering parameter of that direction
_POLISH_GAP = 1e-3  # polish when the certified gap first falls below this, then each 1000-fold drop
_CORRECTORS = 2  # Gondzio centrality correctors per iteration at most
_INACTIVE_MARGIN = 1e-3  # a group whose dual constraint is this far below lam is zeroed at the end (_zero_inactive)
_VANISHING_NORM = 1e-6  # so is one below lam whose norm is this fraction of the largest


class _Iterate:
    r"""Primal-dual point of one output, its slacks and multipliers held in scaled form.

    ``u`` (2p, d) and ``t`` (2p,) are the primal variables. The scaling is
    ``omega`` (2p, n) on the orthant rows (:math:`W = \operatorname{diag}(\omega)`) and,
    on the cones, the scaling points ``w`` (2p, d+1) and scales ``beta`` (2p,)
    (:func:`~relu_convex.solvers.cone_scaling.soc_matrices`); ``lam_lin`` and ``lam_soc`` hold :math:`\lambda = W z = W^{-1} s`.
    The slacks and multipliers ``s = W lambda``, ``z = W^{-1} lambda`` are derived
    from these (for the residuals and the certificate).
    """

    def __init__(self, u, t, omega, lam_lin, w, beta, lam_soc):
        self.u, self.t = u, t
        self.omega, self.lam_lin = omega, lam_lin
        self.w, self.beta, self.lam_soc = w, beta, lam_soc
        self.W, self.Winv = soc_matrices(w, beta)
        self.s_lin, self.z_lin = omega * lam_lin, lam_lin / omega
        self.s_soc, self.z_soc = matvec(self.W, lam_soc), matvec(self.Winv, lam_soc)

    @classmethod
    def from_points(cls, u, t, s_lin, s_soc, z_lin, z_soc) -> _Iterate:
        """The iterate with these slacks and multipliers (in the cone interiors)."""
        w, beta = soc_scaling(s_soc, z_soc)
        W, _ = soc_matrices(w, beta)
        return cls(u, t, np.sqrt(s_lin / z_lin), np.sqrt(s_lin * z_lin), w, beta, matvec(W, z_soc))

    def mu(self, degree: int) -> float:
        r"""The duality measure :math:`s^\top z / \text{degree} = \lambda^\top\lambda / \text{degree}`."""
        return (float(np.vdot(self.lam_lin, self.lam_lin)) + float(np.vdot(self.lam_soc, self.lam_soc))) / degree

    def step(self, alpha: float, du, dt, sl, ss, zl, zs) -> _Iterate:
        r"""The iterate after a step ``alpha`` along ``(du, dt)`` and the scaled directions ``W^{-1} ds``, ``W dz``.

        The new scaling is updated from the new points in the current scaling,
        :math:`\lambda + \alpha W^{-1} ds` and :math:`\lambda + \alpha W dz`
        (:func:`~relu_convex.solvers.cone_scaling.soc_update`; on the orthants :math:`\omega \leftarrow \omega
        \sqrt{\tilde s/\tilde z}`, :math:`\lambda \leftarrow \sqrt{\tilde s \tilde z}`).
        """
        s_lin, z_lin = self.lam_lin + alpha * sl, self.lam_lin + alpha * zl
        w, beta, lam_soc = soc_update(self.w, self.beta, self.lam_soc + alpha * ss, self.lam_soc + alpha * zs)
        return _Iterate(self.u + alpha * du, self.t + alpha * dt, self.omega * np.sqrt(s_lin / z_lin),
                        np.sqrt(s_lin * z_lin), w, beta, lam_soc)


class _Kkt:
    """One iteration's factored system, and the scaled Newton directions from it."""

    def __init__(self, st: _Structure, it: _Iterate):
        self.st = st
        self.omega, self.lam_lin = it.omega, it.lam_lin
        self.W, self.Winv, self.lam_soc = it.W, it.Winv, it.lam_soc
        self.newton = _Newton(st, 1.0 / self.omega**2, self.W, self.Winv, scaling=(it.w, it.beta))

    def direction(self, rx_u, rx_t, rz_lin, rz_soc, w_lin, w_soc, scale: float):
        r"""Solve :math:`P dx + G^\top dz = -c\,r_x`, :math:`G dx + ds = -c\,r_z`, :math:`W dz + W^{-1} ds = w`.

        Returns ``(du, dt, sl, ss, zl, zs)``: ``dx`` and the scaled directions
        :math:`W^{-1} ds` and :math:`W dz` on the orthants (``sl``, ``zl``) and the
        cones (``ss``, ``zs``). Eliminating ``ds`` and ``dz`` leaves the reduced
        system :math:`(P + G^\top W^{-2} G)\,dx = -c\,r_x + G^\top W^{-1}(W^{-1}(-c\,r_z) - w)`
        (:class:`~relu_convex.solvers.ipm_system._Newton`); then ``ds`` is taken from the second equation and
        :math:`W dz = w - W^{-1} ds`, so that the linearized complementarity holds
        to rounding. Neither :math:`W^{-2}` nor ``dz`` itself is formed: near the
        optimum :math:`W^{-2}` has the square of the condition of :math:`W`, and a
        ``dz`` through it (or a residual of the two-block system measured with it)
        loses the small components that decide the step.
        """
        st = self.st
        # G^T W^{-1} (W^{-1} b_z) with b_z = -c r_z - W w, G x = (-G_j u_j, -(t_j, u_j))
        q_lin = (-scale * rz_lin / self.omega - w_lin) / self.omega
        q_soc = matvec(self.Winv, matvec(self.Winv, -scale * rz_soc) - w_soc)
        du, dt = self.newton.solve(-scale * rx_u - st.cone_adjoint(q_lin) - q_soc[:, 1:], -scale * rx_t - q_soc[:, 0])
        sl = (st.cone(du) - scale * rz_lin) / self.omega
        ss = matvec(self.Winv, np.concatenate([dt[:, None], du], axis=1) - scale * rz_soc)
        return du, dt, sl, ss, w_lin - sl, w_soc - ss

    def max_step(self, sl, ss, zl, zs) -> float:
        """Largest step keeping ``lambda + alpha W^{-1} ds`` and ``lambda + alpha W dz`` in the cones."""
        return min(orthant_max_step(self.lam_lin, sl), orthant_max_step(self.lam_lin, zl),
                   soc_max_step(self.lam_soc, ss), soc_max_step(self.lam_soc, zs))


def _initial_point(st: _Structure, y: np.ndarray, lam: float) -> _Iterate:
    """CVXOPT's start: the system with W = I, ``s`` and ``z`` shifted into the cone interior."""
    m, d, n = st.m, st.d, st.n
    eye = np.broadcast_to(np.eye(d + 1), (m, d + 1, d + 1))
    unit = np.zeros((m, d + 1))
    unit[:, 0] = 1.0  # the scaling point of W = I
    newton = _Newton(st, np.ones((m, st.rows)), eye, eye, scaling=(unit, np.ones(m)))
    u, t = newton.solve(st.predict_adjoint(y) / n, -lam * np.ones(m))
    s_lin = st.cone(u)
    s_soc = np.concatenate([t[:, None], u], axis=1)

    def shift(v_lin, v_soc):
        depth = min(float(np.min(v_lin, initial=np.inf)),
                    float(np.min(v_soc[:, 0] - np.linalg.norm(v_soc[:, 1:], axis=1))))
        v_lin, v_soc = v_lin.copy(), v_soc.copy()
        if depth <= 0.0:
            v_lin += 1.0 - depth
            v_soc[:, 0] += 1.0 - depth
        return v_lin, v_soc

    s_lin, s_soc = shift(s_lin, s_soc)
    z_lin, z_soc = shift(-st.cone(u), -np.concatenate([t[:, None], u], axis=1))
    return _Iterate.from_points(u.copy(), t.copy(), s_lin, s_soc, z_lin, z_soc)


class _OutputRun(BestBound):
    """The outcome of one output's solve."""

    def __init__(self, u: np.ndarray, multipliers: np.ndarray):
        super().__init__()
        self.u = u
        self.multipliers = multipliers  # (2p, n) cone multipliers (a_i rows 0..p-1, b_i rows p..2p-1)
        self.iterations = 0
        self.mu = np.inf
        self.reason = "max_iter"


def _violation(st: _Structure, u: np.ndarray, y_scale: float, row_scale: float) -> float:
    """:func:`relu_convex.cones.relative_violation` of one output's point ``u`` (2p, d)."""
    return cone_violation(st.cone(u), u, row_scale, y_scale)


def _bound(op: MaskedOperator, st: _Structure, y: np.ndarray, lam: float, u: np.ndarray, z_lin: np.ndarray,
           nnls: bool) -> DualBound:
    """The certified bound at :math:`\\theta = (y - Bu)/n` with multipliers ``z_lin`` (and the NNLS ones if asked).

    C-GReLU (``st.gated``) has no multipliers: the bound of :func:`relu_convex.duality.scaled_dual_bound`
    with the constraint values :math:`\\|X^\\top D_i \\theta\\|`.
    """
    p = st.p
    theta = (y - st.predict(u)) / st.n
    if st.gated:
        return scaled_dual_bound(y, theta, grelu_constraint_values(op, theta), lam)
    return relu_multiplier_bound(op, y, theta, (z_lin[:p].T, z_lin[p:].T), lam, nnls=nnls)


def _objective(st: _Structure, y: np.ndarray, lam: float, u: np.ndarray) -> float:
    r = st.predict(u) - y
    return 0.5 * float(r @ r) / st.n + lam * float(np.sum(np.linalg.norm(u, axis=1)))


def _polish(op: MaskedOperator, st: _Structure, y: np.ndarray, lam: float, it: _Iterate, run: _OutputRun,
            row_scale: float, y_scale: float, tol: float, feas_tol: float) -> bool:
    r"""Refine the iterate on its identified active set; True when that certifies the tolerances.

    A group counts as active when its primal size :math:`t_j / \max_k t_k` exceeds its
    dual slack :math:`(\hat z_{j,t} - \|\hat z_{j,u}\|)/\hat z_{j,t}`; a cone row as
    tight when its scaled multiplier :math:`z_{jk}\max_k\|x_k\|/\lambda` exceeds its
    scaled slack :math:`s_{jk}/(\max_k\|x_k\|\, t_j)`. The inactive groups are set to
    zero and :func:`relu_convex.solvers.polish_relu.polish_relu` solves the group lasso
    restricted to the active groups with their tight rows held at zero. The refined
    point is kept when it is feasible to ``feas_tol`` and its certified gap (with the
    exact NNLS multipliers) is at most ``tol``; its bound is kept in any case.
    """
    from .polish_relu import polish_relu

    p = st.p
    t = np.maximum(it.s_soc[:, 0], 0.0)
    slack = (it.z_soc[:, 0] - np.linalg.norm(it.z_soc[:, 1:], axis=1)) / it.z_soc[:, 0]
    active = t / max(float(np.max(t)), np.finfo(float).tiny) > slack
    u = np.where(active[:, None], it.u, 0.0)
    tight = it.z_lin * (row_scale / lam) > it.s_lin / (row_scale * np.maximum(t, np.finfo(float).tiny))[:, None]
    estimates = np.where(tight, it.z_lin, 0.0)
    out = polish_relu(op, y, lam, u, estimates.reshape(2, p, st.n).transpose(0, 2, 1))
    if out is None:
        return False
    refined = out[0]
    bound = _bound(op, st, y, lam, refined, estimates, nnls=True)
    run.consider(bound)
    violation = _violation(st, refined, y_scale, row_scale)
    if violation <= feas_tol and relative_gap(_objective(st, y, lam, refined), run.bound) <= tol:
        run.u, run.multipliers, run.reason = refined, estimates, "converged"
        return True
    return False


def _solve_output(op: MaskedOperator, y: np.ndarray, lam: float, *, tol: float, feas_tol: float, max_iter: int,
                  clock: Deadline, history: History, output: int, verbose: bool, gated: bool = False) -> _OutputRun:
    st = _Structure(op, gated)
    n, m = st.n, st.m
    degree = m * st.rows + m
    row_scale = st.row_scale
    y_scale = float(np.max(np.abs(y))) if y.size else 0.0
    zero_objective = 0.5 * float(np.dot(y, y)) / n  # this output's F(0), for the history
    it = _initial_point(st, y, lam)
    run = _OutputRun(it.u.copy(), it.z_lin.copy())
    best_gap = np.inf
    polish_at = _POLISH_GAP  # the next polishing attempt when the gap falls below this
    while True:
        # residuals of P x + q + G^T z = 0 and G x + s = 0
        rx_u = st.predict_adjoint(st.predict(it.u) - y) / n - st.cone_adjoint(it.z_lin) - it.z_soc[:, 1:]
        rx_t = lam - it.z_soc[:, 0]
        rz_lin = it.s_lin - st.cone(it.u)
        rz_soc = it.s_soc - np.concatenate([it.t[:, None], it.u], axis=1)
        mu = it.mu(degree)
        # certificate of the current primal point with the current multipliers
        objective = _objective(st, y, lam, it.u)
        violation = _violation(st, it.u, y_scale, row_scale)
        bound = _bound(op, st, y, lam, it.u, it.z_lin, nnls=False)
        run.consider(bound)
        gap = relative_gap(objective, run.bound)
        history.record(run.iterations, objective, run.bound, violation, clock.elapsed(), zero_objective)
        history.data["output"].append(output)
        history.data["mu"].append(mu)
        if verbose:
            print(f"ipm output {output} iteration {run.iterations:3d}  objective {objective:.10e}  "
                  f"rel gap {gap:.2e}  violation {violation:.2e}  mu {mu:.2e}")
        if violation <= feas_tol and gap <= best_gap:
            best_gap = gap
            run.u, run.multipliers, run.mu = it.u.copy(), it.z_lin.copy(), mu
        if violation <= feas_tol and gap <= tol:
            run.reason = "converged"
            break
        if gap <= polish_at and not st.gated:
            polish_at = gap * _POLISH_GAP
            if _polish(op, st, y, lam, it, run, row_scale, y_scale, tol, feas_tol):
                break
        if run.iterations >= max_iter:
            run.reason = "max_iter"
            break
        if clock.passed():
            run.reason = "time_limit"
            break
        try:
            kkt = _Kkt(st, it)
            # affine (predictor) direction: lambda o (W dz + W^{-1} ds) = -lambda o lambda
            aff = kkt.direction(rx_u, rx_t, rz_lin, rz_soc, -it.lam_lin, -it.lam_soc, 1.0)
            alpha = min(1.0, kkt.max_step(*aff[2:]))
            sl, ss, zl, zs = aff[2:]
            lam_l, lam_s = it.lam_lin, it.lam_soc
            mu_aff = (float(np.vdot(lam_l + alpha * sl, lam_l + alpha * zl))
                      + float(np.vdot(lam_s + alpha * ss, lam_s + alpha * zs))) / degree
            sigma = min(1.0, max(0.0, mu_aff / mu)) ** 3
            # combined direction: lambda o (W dz + W^{-1} ds) = -lambda o lambda + sigma mu e - (W^{-1}ds_a) o (W dz_a)
            c_lin = -lam_l * lam_l + sigma * mu - sl * zl
            c_soc = -soc_product(lam_s, lam_s) - soc_product(ss, zs)
            c_soc[:, 0] += sigma * mu
            w_soc = soc_divide(lam_s, c_soc)
            direction = kkt.direction(rx_u, rx_t, rz_lin, rz_soc, c_lin / lam_l, w_soc, 1.0 - sigma)
            alpha = min(1.0, _STEP * kkt.max_step(*direction[2:]))
            for _ in range(_CORRECTORS if alpha < 1.0 and st.rows else 0):
                # Gondzio's centrality corrector on the orthant rows: at a longer trial step, move the
                # products s_k z_k that leave [0.1, 10] sigma mu back to that interval
                trial = min(1.0, 1.5 * alpha / _STEP)
                v = (lam_l + trial * direction[2]) * (lam_l + trial * direction[4])
                target = sigma * mu
                corr = np.maximum(np.clip(v, 0.1 * target, 10.0 * target) - v, -10.0 * target)
                c_lin = c_lin + corr
                other = kkt.direction(rx_u, rx_t, rz_lin, rz_soc, c_lin / lam_l, w_soc, 1.0 - sigma)
                alpha_c = min(1.0, _STEP * kkt.max_step(*other[2:]))
                if alpha_c < 1.01 * alpha:
                    break
                alpha, direction = alpha_c, other
            if alpha < _SHORT_STEP:
                # the second-order term blocks the step (a badly centered cone): try a centering
                # direction without it, and keep the longer step
                sigma_c = max(sigma, _CENTERING)
                c_lin = -lam_l * lam_l + sigma_c * mu
                c_soc = -soc_product(lam_s, lam_s)
                c_soc[:, 0] += sigma_c * mu
                other = kkt.direction(rx_u, rx_t, rz_lin, rz_soc, c_lin / lam_l, soc_divide(lam_s, c_soc),
                                      1.0 - sigma_c)
                alpha_c = min(1.0, _STEP * kkt.max_step(*other[2:]))
                if alpha_c > alpha:
                    alpha, direction = alpha_c, other
        except np.linalg.LinAlgError:
            alpha = np.nan
        if not np.isfinite(alpha) or alpha < _STALL_STEP:
            run.reason = "stalled"
            if polish_at < _POLISH_GAP and not st.gated:  # polished before: once more from the last point
                _polish(op, st, y, lam, it, run, row_scale, y_scale, tol, feas_tol)
            break
        if verbose:
            print(f"    step {alpha:.3f}  sigma {sigma:.2e}  primal residual {_max_abs(rz_lin, rz_soc):.2e}  "
                  f"dual residual {_max_abs(rx_u, rx_t):.2e}  cond(W) {float(np.max(it.w[:, 0] + np.sqrt(it.w[:, 0] ** 2 - 1.0))) ** 2:.1e}")
        it = it.step(alpha, *direction)
        run.iterations += 1
    return run


def _zero_inactive(st: _Structure, y: np.ndarray, lam: float, run: _OutputRun, tol: float, feas_tol: float) -> None:
    r"""Set exactly to zero the groups that the dual point shows inactive, if the certificate still holds.

    An interior point leaves the groups that are zero at the optimum small but
    nonzero (their norms shrink with :math:`\mu`). At :math:`\theta = (y - Bu)/n`
    the dual constraint value of group :math:`j` is
    :math:`c_j = \|B_j^\top\theta + G_j^\top z_j\|` (:math:`z_j` its cone
    multipliers; no cone term for C-GReLU), an upper bound on the exact one. The
    optimal :math:`\theta` is unique (the loss is strictly convex in the
    predictions), and a group with :math:`c_j < \lambda` there is zero in every
    solution. Candidates: the groups with :math:`c_j < (1 - 10^{-3})\lambda`, and
    those with :math:`c_j < \lambda` whose norm is at most :math:`10^{-6}` of the
    largest (C-ReLU has many groups whose constraint stays within :math:`10^{-3}`
    of :math:`\lambda` at the optimum while their weights vanish). Tried in turn:
    all groups (the zero point, optimal for :math:`\lambda \ge \lambda_{\max}`),
    all candidates, the candidates of the first kind only; the first point
    whose objective the run's bound still certifies to ``tol`` (and, for C-ReLU,
    whose cone violation stays within ``feas_tol``) replaces ``run.u``.
    Otherwise ``run`` is left as it is.
    """
    theta = (y - st.predict(run.u)) / st.n
    values = np.linalg.norm(st.predict_adjoint(theta) + st.cone_adjoint(run.multipliers), axis=1)
    row_scale = st.row_scale
    y_scale = float(np.max(np.abs(y), initial=0.0))
    norms = np.linalg.norm(run.u, axis=1)
    nonzero = norms > 0.0
    clear = nonzero & (values < (1.0 - _INACTIVE_MARGIN) * lam)
    vanishing = nonzero & (values < lam) & (norms <= _VANISHING_NORM * float(np.max(norms, initial=0.0)))
    for inactive in (nonzero, clear | vanishing, clear):
        if not np.any(inactive):
            continue
        u = np.where(inactive[:, None], 0.0, run.u)
        if (relative_gap(_objective(st, y, lam, u), run.bound) <= tol
                and (st.gated or _violation(st, u, y_scale, row_scale) <= feas_tol)):
            run.u = u
            return


def _row_space(X: np.ndarray) -> np.ndarray | None:
    """Orthonormal basis (d, r) of the row space of ``X`` (n, d) when its rank ``r < d``, else None."""
    n, d = X.shape
    if n >= d and np.linalg.matrix_rank(X) == d:
        return None
    _, sv, Vt = np.linalg.svd(X, full_matrices=False)
    rank = int(np.sum(sv > max(n, d) * np.finfo(np.float64).eps * sv[0])) if sv.size and sv[0] > 0 else 0
    return Vt[:max(rank, 1)].T if rank < d else None


def _check_problem(problem) -> None:
    if getattr(problem, "program", None) not in ("C-ReLU", "C-GReLU"):
        raise ValueError(
            f"solver 'ipm' solves C-ReLU and C-GReLU problems (ReLUProblem, GatedReLUProblem), "
            f"got {type(problem).__name__}"
        )
    if getattr(problem, "array_data", None) is not None:
        other = "al" if problem.program == "C-ReLU" else "fista"
        raise ValueError("problem: solver 'ipm' needs NumPy float64 data; this problem holds tensors "
                         f"(use solver='{other}', or build the problem from NumPy arrays)")
    if getattr(problem, "has_free_terms", False):
        raise ValueError("problem: solver 'ipm' does not handle unpenalized columns or an output offset; "
                         "use a conic solver (e.g. 'clarabel')")
    check_lam_positive(problem, "ipm")


def solve_ipm(
    problem,
    *,
    tol: float | None = None,
    feas_tol: float = 1e-6,
    max_iter: int = 200,
    time_limit: float | None = None,
    verbose: bool = False,
) -> SolveResult:
    r"""Solve a :class:`~relu_convex.ReLUProblem` or :class:`~relu_convex.GatedReLUProblem` by the structured interior-point method.

    Parameters
    ----------
    problem : ReLUProblem or GatedReLUProblem
        NumPy data, ``lam > 0``, no unpenalized columns or offset. Computations
        are in float64 whatever the data's dtype.
    tol : float, optional
        Certified relative gap (:func:`~relu_convex.solvers.result.relative_gap`)
        required for ``optimal``. ``None`` (default):
        :data:`~relu_convex.solvers.options.DEFAULT_TOL` (1e-6) whatever the
        data's dtype, because the iterations are in float64 (the tolerance follows
        the arithmetic, as for ``"fista"`` and ``"al"``, whose float32 iterations
        default to :data:`~relu_convex.solvers.options.FLOAT32_TOL`).
    feas_tol : float
        Largest relative cone violation allowed for ``optimal`` (default 1e-6),
        measured as :meth:`~relu_convex.ReLUProblem.constraint_violation`
        (C-ReLU only: C-GReLU has no cone constraints).
    max_iter : int
        Largest number of interior-point iterations per output (default 200;
        typically 20 to 40 are needed).
    time_limit : float, optional
        Seconds of wall-clock time for the whole solve, shared equally among
        the outputs still to solve.
    verbose : bool
        Print per iteration the objective, certified gap, violation and
        :math:`\mu`, then the step taken, :math:`\sigma`, the largest primal and
        dual residuals and the largest condition number of the cone scalings.

    Returns
    -------
    SolveResult
        C-ReLU: ``weights`` is the pair ``(V, W)`` (shape (p, d) each, or (c, p, d)).
        ``max_violation`` is the measured relative cone violation of the
        returned weights. ``info["multipliers"]`` holds the cone multipliers
        ``(A, B)`` (shape (n, p) each, or (c, n, p)) that certify the bound.
        C-GReLU: ``weights`` has shape (p, d) or (c, p, d), ``max_violation``
        is 0 and ``dual`` the dual point of the bound. Both:
        ``info["mu"]`` is the final barrier parameter; ``history`` has the columns
        of :class:`~relu_convex.solvers.options.History` plus ``output`` and ``mu``.

    Raises
    ------
    ValueError, TypeError
        For a bad option value (the message names the option), or a problem
        the method does not handle (tensors, free terms, ``lam = 0``).
    """
    _check_problem(problem)
    tol = default_tol(tol, np.float64)  # the iterations are in float64 whatever the data's dtype
    feas_tol = check_tol(feas_tol, "feas_tol")
    max_iter = check_max_iter(max_iter)
    time_limit = check_time_limit(time_limit)
    verbose = check_flag(verbose, "verbose")
    op = problem.operator
    if op.dtype != np.float64:
        op = MaskedOperator(np.asarray(problem.X, dtype=np.float64), problem.patterns)
    lam = float(problem.lam)
    clock = Deadline(time_limit)
    history = History()
    history.data["output"] = []
    history.data["mu"] = []
    multi = problem.y.ndim == 2
    Y = np.asarray(problem.y, dtype=np.float64).reshape(problem.n, -1)
    # fewer independent rows than features: solve on the row space of X (see the module notes)
    basis = _row_space(op.X)
    solve_op = op if basis is None else MaskedOperator(op.X @ basis, problem.patterns)
    gated = problem.program == "C-GReLU"
    groups = problem.p if gated else 2 * problem.p
    need = _memory_gb(problem.n, groups, solve_op.d, problem.p, cone_rows=not gated)
    if need > MAX_MEMORY_GB:
        other = "fista" if gated else "al"
        raise ValueError(f"problem: solver 'ipm' would need about {need:.1f} GB for its Newton systems "
                         f"(n={problem.n}, {groups} groups of {solve_op.d} weights), above its limit "
                         f"MAX_MEMORY_GB={MAX_MEMORY_GB:g}; use solver='{other}' (memory linear in n)")
    runs = []
    for k in range(Y.shape[1]):
        runs.append(_solve_output(solve_op, Y[:, k], lam, tol=tol, feas_tol=feas_tol, max_iter=max_iter,
                                  clock=clock.share(Y.shape[1] - k), history=history, output=k, verbose=verbose,
                                  gated=gated))
    st = _Structure(op, gated)
    for k, run in enumerate(runs):
        if basis is not None:
            # the runs' bounds are those of the program for X V V^T: the reported one is computed with X
            run.u = run.u @ basis.T
            run.bound, run.theta = -np.inf, None
            run.consider(_bound(op, st, Y[:, k], lam, run.u, run.multipliers, nnls=False))
        if relative_gap(_objective(st, Y[:, k], lam, run.u), run.bound) > tol:
            run.consider(_bound(op, st, Y[:, k], lam, run.u, run.multipliers, nnls=True))
        if run.reason == "converged":
            _zero_inactive(st, Y[:, k], lam, run, tol, feas_tol)
    p = problem.p
    dtype = problem.operator.dtype
    if gated:
        U = [run.u.astype(dtype) for run in runs]
        weights, multipliers = (np.stack(U) if multi else U[0]), None
    else:
        V = [run.u[:p].astype(dtype) for run in runs]
        W = [run.u[p:].astype(dtype) for run in runs]
        weights = (np.stack(V), np.stack(W)) if multi else (V[0], W[0])
        multipliers = ([run.multipliers[:p].T for run in runs], [run.multipliers[p:].T for run in runs])
    return cone_result(
        problem, weights, runs, solver="ipm", clock=clock, history=history, tol=tol,
        feas_tol=None if gated else feas_tol, max_iter=max_iter,
        otherwise="the steps stalled before the tolerances were met", multipliers=multipliers,
        verbose=verbose, history_extra={"mu": max(run.mu for run in runs)},
        info={
            "mu": [run.mu for run in runs] if multi else runs[0].mu,
            "outer_iterations": [run.iterations for run in runs] if multi else runs[0].iterations,
        },
    )
