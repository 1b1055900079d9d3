"""Active-set Newton refinement (relu_convex.solvers.newton) against Clarabel and its own certificate."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import planted_problem

import relu_convex as rc
from relu_convex.solvers import SolveStatus
from relu_convex.solvers.fista import solve_fista
from relu_convex.solvers.newton import refine_group_lasso
from relu_convex.solvers.polish import polish_grelu


def _problem(seed: int, lam: float, outputs=None) -> rc.GatedReLUProblem:
    return planted_problem(rc.GatedReLUProblem, 60, 4, 20, lam, bias=True, seed=seed, outputs=outputs)


def test_zero_test_removes_groups_that_should_vanish():
    rng = np.random.default_rng(0)
    n, d = 40, 3
    B = rng.standard_normal((n, 3 * d))
    y = B[:, :d] @ np.array([1.0, -2.0, 0.5])  # only the first group explains y
    lam = 0.05
    z0 = np.full(3 * d, 0.1)
    out = refine_group_lasso(B, y, lam, z0, [d, d, d])
    assert out.converged
    # the KKT conditions of the full (unrestricted) group lasso hold at the result
    r = (y - B @ out.z) / n
    for j in range(3):
        zj, gj = out.z[j * d:(j + 1) * d], B[:, j * d:(j + 1) * d].T @ r
        if np.linalg.norm(zj) > 0:
            np.testing.assert_allclose(gj, lam * zj / np.linalg.norm(zj), atol=1e-10)
        else:
            assert np.linalg.norm(gj) <= lam * (1 + 1e-10)



@pytest.mark.parametrize("seed", range(3))
def test_dense_refinement_zeroes_the_groups_that_vanish(seed):
    # every group starts nonzero (a rough point, its zero groups set small) and m = p d <= n: the
    # dense path, whose block zero test and crossing-group rule remove the groups that vanish
    problem = planted_problem(rc.GatedReLUProblem, 200, 5, 30, 5e-2, bias=True, seed=seed)
    X, masks, n, d, p = problem.X, problem.patterns, problem.n, problem.d, problem.p
    optimal = np.linalg.norm(problem.solve(solver="clarabel", tol=1e-10).weights, axis=1) > 1e-6
    start = solve_fista(problem, tol=1e-2, polish=False).weights
    zero = np.linalg.norm(start, axis=1) == 0
    start[zero] = 1e-2 * np.random.default_rng(seed).standard_normal((zero.sum(), d))
    assert 0 < optimal.sum() < p and p * d <= n
    B = (masks[:, :, None] * X[:, None, :]).reshape(n, p * d)
    out = refine_group_lasso(B, problem.y, problem.lam, start.ravel(), [d] * p)
    assert out.converged
    W = out.z.reshape(p, d)
    np.testing.assert_array_equal(np.linalg.norm(W, axis=1) > 0, optimal)
    assert np.all(W[~optimal] == 0.0)
    assert problem.certificate(W).relative_gap <= 1e-12


def test_multi_output_refines_each_output():
    problem = _problem(1, 1e-2, outputs=2)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    rough = solve_fista(problem, tol=1e-2, polish=False)
    cert = problem.certificate(polish_grelu(problem, rough.weights))
    assert cert.relative_gap <= 1e-8
    assert abs(cert.objective - ref.objective) <= 1e-7 * ref.objective


def test_fista_with_and_without_refinement_agree():
    problem = _problem(2, 1e-3)
    with_polish = solve_fista(problem, tol=1e-8)
    plain = solve_fista(problem, tol=1e-8, polish=False, max_iter=200_000)
    assert with_polish.status is SolveStatus.OPTIMAL and plain.status is SolveStatus.OPTIMAL
    assert abs(with_polish.objective - plain.objective) <= 2e-8 * plain.objective
    assert with_polish.info["polishes"] >= 1
    assert plain.info["polishes"] == 0


def test_oversized_active_sets_are_left_alone():
    problem = _problem(0, 1e-3)
    rough = solve_fista(problem, tol=1e-2, polish=False)
    assert polish_grelu(problem, rough.weights, max_size=1) is None


def test_bad_polish_options_name_the_option():
    problem = _problem(0, 1e-2)
    with pytest.raises((TypeError, ValueError), match="polish_size"):
        solve_fista(problem, polish_size=0)
    with pytest.raises((TypeError, ValueError), match="polish"):
        solve_fista(problem, polish="yes")


# -- C-ReLU ----------------------------------------------------------------------------------------

def _relu_problem(seed: int, lam: float) -> rc.ReLUProblem:
    return planted_problem(rc.ReLUProblem, 40, 3, 12, lam, bias=True, seed=seed)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("lam", [1e-2, 1e-1])
def test_al_with_refinement_matches_clarabel(seed, lam):
    problem = _relu_problem(seed, lam)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    res = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6)
    assert res.status is SolveStatus.OPTIMAL
    assert abs(res.objective - ref.objective) <= 1e-5 * ref.objective
    assert res.max_violation <= 1e-6
    assert res.lower_bound <= ref.objective * (1 + 1e-9)
    # the reported figures are those of the returned weights
    assert problem.constraint_violation(res.weights) == pytest.approx(res.max_violation, abs=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_relu_refinement_is_feasible_and_its_bound_valid(seed):
    from relu_convex.solvers.al_polish import _point_bound
    from relu_convex.solvers.augmented_lagrangian import solve_al
    from relu_convex.solvers.polish_relu import polish_relu

    problem = _relu_problem(seed, 1e-1)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    rough = solve_al(problem, tol=1e-3, feas_tol=1e-3, polish=False)
    x = np.concatenate(rough.weights)
    multipliers = np.stack(rough.info["multipliers"])
    out = polish_relu(problem.operator, problem.y, problem.lam, x, multipliers)
    if out is None:  # allowed: no feasible refinement found; nothing else to check
        return
    refined, violation = out
    V, W = refined[: problem.p], refined[problem.p:]
    assert problem.constraint_violation((V, W)) <= 1e-10
    assert violation <= 1e-12 and violation == pytest.approx(problem.constraint_violation((V, W)), abs=1e-15)
    assert problem.objective((V, W)) >= ref.objective * (1 - 1e-9)  # feasible, so never below the optimum
    bound = _point_bound(problem.operator, problem.y, problem.lam, refined, multipliers, nnls=True)
    assert bound.value <= ref.objective * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("lam", [1e-3, 1e-2])
def test_relu_exchange_certifies_a_rough_point(seed, lam):
    """From a rough al point (gap 1e-2), exchanging tight rows and entering groups reaches the optimum."""
    from relu_convex.solvers.al_polish import _objective, _point_bound
    from relu_convex.solvers.augmented_lagrangian import solve_al
    from relu_convex.solvers.polish_relu import polish_relu

    problem = planted_problem(rc.ReLUProblem, 300, 6, 40, lam, bias=True, seed=seed)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    rough = solve_al(problem, tol=1e-2, feas_tol=1e-3, polish=False)
    assert rough.relative_gap > 1e-6  # the start is far from certified
    x = np.concatenate(rough.weights)
    multipliers = np.stack(rough.info["multipliers"])
    stats = {}
    out = polish_relu(problem.operator, problem.y, lam, x, multipliers, exchange=True, rounds=80, stats=stats)
    assert out is not None
    refined, violation = out
    V, W = refined[: problem.p], refined[problem.p:]
    assert violation <= 1e-12 and problem.constraint_violation((V, W)) <= 1e-12
    objective = _objective(problem.operator, problem.y, lam, refined)
    assert abs(objective - ref.objective) <= 1e-8 * ref.objective
    bound = _point_bound(problem.operator, problem.y, lam, refined, multipliers, nnls=True)
    assert bound.value <= ref.objective * (1 + 1e-9)
    assert (objective - bound.value) / objective <= 1e-9  # certified by the exact multipliers
    # the exchange settled and its own multipliers certify the point as well, without NNLS
    own = stats["multipliers"]
    assert own.shape == (2, problem.n, problem.p) and np.all(own >= 0)
    own_bound = _point_bound(problem.operator, problem.y, lam, refined, own, nnls=False)
    assert own_bound.value <= ref.objective * (1 + 1e-9)
    assert (objective - own_bound.value) / objective <= 1e-9


def _signed_data(seed: int, n: int, d: int, p: int):
    """A generator, data (n, d), random cone signs (n, p) and the masks they give."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    signs = rng.choice([-1.0, 1.0], size=(n, p))
    return rng, X, signs, signs > 0


def _tight_row_case(case: str):
    """Data, signs and tight rows: independent rows (QR), dependent ones, more rows than d (both SVD)."""
    _, X, signs, _ = _signed_data(3, 30, 5 if case == "independent" else 4, 4)
    if case == "independent":
        tight = {(0, 0): [1, 4, 7], (0, 2): [], (1, 1): [0, 2, 3, 5], (1, 3): [6]}
    elif case == "dependent":
        X[5] = 2.0 * X[1]
        signs[5] = signs[1]  # cone row 5 is cone row 1 scaled
        tight = {(0, 0): [1, 5], (1, 2): [0, 2]}
    else:
        tight = {(0, 0): [0, 1, 2, 3, 4, 6], (0, 1): [7]}
    return X, signs, tight


@pytest.mark.parametrize("case", ["independent", "dependent", "more rows than d"])
def test_tight_row_factors_match_per_group_lapack(case):
    from relu_convex.solvers.polish_relu import _TightRows

    X, signs, tight = _tight_row_case(case)
    d = X.shape[1]
    groups = list(tight)
    factors = _TightRows(X, signs, tight, groups)
    g = np.random.default_rng(4).standard_normal((len(groups), d))
    mu = factors.multipliers(factors.positions(groups), g)
    bases, real = factors._null_bases()
    for k, (s, i) in enumerate(groups):
        rows = tight[s, i]
        A = signs[rows, i, None] * X[rows]
        free = d - (np.linalg.matrix_rank(A) if rows else 0)
        N = bases[k][real[k]].T
        assert N.shape == (d, free)
        np.testing.assert_allclose(N.T @ N, np.eye(free), atol=1e-12)
        if rows:
            np.testing.assert_allclose(A @ N, 0.0, atol=1e-12)
            # minimum-norm least squares, also for dependent rows
            np.testing.assert_allclose(mu[k, :len(rows)], np.linalg.lstsq(A.T, g[k], rcond=None)[0], atol=1e-10)
            np.testing.assert_allclose(factors.pseudo_inverse((s, i)), np.linalg.pinv(A), atol=1e-10)
        np.testing.assert_allclose(mu[k, len(rows):], 0.0, atol=1e-12)  # the padding rows carry nothing


def test_restricted_problem_blocks_are_the_signed_masked_null_space_products():
    from relu_convex.solvers.polish_relu import _TightRows

    d, p = 4, 3
    rng, X, signs, masks = _signed_data(5, 25, d, p)
    tight = {(0, 0): [2], (1, 0): [], (0, 2): [1, 3, 4], (1, 1): [0, 5, 6, 7]}  # the last leaves no direction
    groups = list(tight)
    x = rng.standard_normal((2 * p, d))
    factors = _TightRows(X, signs, tight, groups)
    B, start, sizes = factors.restricted_problem(X, masks, x, restart=1e-8)
    bases, real = factors._null_bases()
    blocks, starts = [], []
    for k, (s, i) in enumerate(groups):
        N = bases[k][real[k]].T  # (d, free)
        if N.shape[1]:
            blocks.append((1.0 if s == 0 else -1.0) * masks[:, [i]] * (X @ N))
            starts.append(N.T @ x[s * p + i])
    np.testing.assert_allclose(B, np.hstack(blocks), atol=1e-13)
    np.testing.assert_allclose(start, np.concatenate(starts), atol=1e-13)
    assert sizes.tolist() == [d - 1, d, d - 3]


def test_exchange_enters_the_most_violated_row_alone():
    from relu_convex.solvers.polish_relu import _exchange_rows, _TightRows

    n, d, p = 40, 5, 2
    rng, X, signs, masks = _signed_data(6, n, d, p)
    point = np.zeros((2, p, d))
    point[0, 0] = rng.standard_normal(d)
    C = np.einsum("nd,spd->snp", X, point) * signs
    violated = C < 0.0
    assert violated[0, :, 0].sum() >= 3  # several rows to choose from
    tight = {(0, 0): []}
    factors = _TightRows(X, signs, tight, [(0, 0)])
    residual = masks[:, 0] * (X @ point[0, 0]) - rng.standard_normal(n)
    changed = _exchange_rows(X, signs, masks, 1e-2, point, residual, C, violated, tight, [(0, 0)], factors,
                             np.zeros((2, n, p)))
    assert changed == 1
    assert tight[0, 0] == [int(np.argmin(C[0, :, 0]))]


def test_al_capped_attempts_wait_for_twice_the_last_ones_time():
    from relu_convex.solvers.al_polish import CAPPED_SHARE, MIN_ATTEMPT_TIME, _Refiner
    from relu_convex.solvers.options import Deadline

    clock = Deadline(None)
    clock.start -= 10.0  # ten seconds into the solve
    refiner = _Refiner(1500)
    refiner.time = refiner.capped_time = refiner.last_capped = 1.0  # one capped attempt of 1 s so far
    # share left: CAPPED_SHARE * 9 s of iterating - 1 s; needed: twice the last attempt, 2 s
    assert refiner.ready(clock, capped=True) == (CAPPED_SHARE * 9.0 - 1.0 >= 2.0)
    refiner.last_capped = 3.0
    assert not refiner.ready(clock, capped=True)
    assert refiner.ready(clock, capped=False)  # after a converged inner solve only POLISH_SHARE counts
    fresh = _Refiner(1500)
    early = Deadline(None)
    early.start -= 2.0 * MIN_ATTEMPT_TIME / CAPPED_SHARE
    assert fresh.ready(early, capped=True)  # the first attempt needs MIN_ATTEMPT_TIME of share


def test_cone_multipliers_of_chosen_patterns():
    from relu_convex.duality import relu_cone_multipliers, relu_constraint_values

    problem = planted_problem(rc.ReLUProblem, 80, 4, 12, 1e-2, bias=True, seed=1)
    theta = np.random.default_rng(0).standard_normal(problem.n) / problem.n
    A, B = relu_cone_multipliers(problem.operator, theta)
    which = np.zeros((2, problem.p), dtype=bool)
    which[0, ::2] = which[1, 1::3] = True
    A2, B2 = relu_cone_multipliers(problem.operator, theta, which)
    np.testing.assert_array_equal(A2[:, which[0]], A[:, which[0]])
    np.testing.assert_array_equal(B2[:, which[1]], B[:, which[1]])
    assert not np.any(A2[:, ~which[0]]) and not np.any(B2[:, ~which[1]])
    # multipliers at a nearby theta seed the working sets; the constraint values stay those of NNLS
    nearby = theta + 1e-3 * np.random.default_rng(1).standard_normal(problem.n) / problem.n
    exact = relu_constraint_values(problem.operator, nearby, relu_cone_multipliers(problem.operator, nearby))
    seeded = relu_cone_multipliers(problem.operator, nearby, seed=np.stack([A, B]))
    np.testing.assert_allclose(relu_constraint_values(problem.operator, nearby, seeded), exact, rtol=1e-9, atol=1e-14)


def test_al_warm_start_with_multipliers_polishes_after_a_short_first_solve():
    from relu_convex.solvers.augmented_lagrangian import WARM_ITERATIONS

    problem = planted_problem(rc.ReLUProblem, 200, 5, 30, 1e-2, bias=True, seed=2)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    first = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6)
    assert first.status is SolveStatus.OPTIMAL
    # a nearby problem started from the solution and its multipliers
    nearby = rc.ReLUProblem(problem.X, problem.y, problem.patterns, problem.lam * 1.01)
    nearby_ref = nearby.solve(solver="clarabel", tol=1e-10)
    warm = nearby.solve(solver="al", tol=1e-6, feas_tol=1e-6, weights0=first.weights,
                        multipliers0=first.info["multipliers"])
    assert warm.status is SolveStatus.OPTIMAL and warm.info["polishes"] >= 1
    assert warm.iterations < first.iterations
    # the nearby optimum is certified by the attempt after the first inner solve
    assert warm.info["polishes"] == 1 and 0 < warm.iterations <= WARM_ITERATIONS
    assert abs(warm.objective - nearby_ref.objective) <= 1e-6 * nearby_ref.objective
    assert warm.lower_bound <= nearby_ref.objective * (1 + 1e-9)
    assert abs(first.objective - ref.objective) <= 1e-6 * ref.objective


def test_al_hands_back_certifying_multipliers_and_a_solution_restarts_certified():
    from relu_convex.duality import relu_multiplier_bound

    problem = planted_problem(rc.ReLUProblem, 200, 5, 30, 1e-2, bias=True, seed=2)
    first = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6)
    assert first.status is SolveStatus.OPTIMAL and first.info["polishes"] >= 1
    # the multipliers handed back certify the returned point by themselves (no NNLS)
    V, W = first.weights
    theta = (problem.y - problem.operator.forward(V - W)) / problem.n
    bound = relu_multiplier_bound(problem.operator, problem.y, theta, first.info["multipliers"], problem.lam)
    assert (first.objective - bound.value) / first.objective <= 1e-6
    # so the same problem started from the result is certified with nothing iterated
    again = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6, weights0=first.weights,
                          multipliers0=first.info["multipliers"])
    assert again.status is SolveStatus.OPTIMAL and again.iterations == 0 and again.info["polishes"] == 0
    assert abs(again.objective - first.objective) <= 1e-12 * first.objective


def test_al_warm_attempt_is_not_charged_to_the_polishing_share():
    from relu_convex.solvers.al_polish import POLISH_SHARE, _Refiner
    from relu_convex.solvers.options import Deadline

    clock = Deadline(None)
    clock.start -= 1.0  # one second into the solve
    charged, warm = _Refiner(1500), _Refiner(1500)
    for refiner in (charged, warm):
        refiner.time = 0.9  # 0.9 s of polishing, 0.1 s of iterating
    warm.warm_time = 0.9
    assert not charged.ready(clock)  # 0.9 s > POLISH_SHARE * 0.1 s
    assert warm.ready(clock)  # nothing charged yet: the first attempt after iterating may start
    warm.time += 0.1 * POLISH_SHARE + 0.01
    assert not warm.ready(clock)


def test_entering_groups_keep_their_nnls_multipliers_for_the_next_call(monkeypatch):
    import relu_convex.solvers.polish_relu as polish_module
    from relu_convex.solvers.polish_relu import _entering_relu_groups

    problem = planted_problem(rc.ReLUProblem, 80, 4, 12, 1e-3, bias=True, seed=1)
    op = problem.operator
    X, signs, masks = op.X, op.signs.astype(np.float64), op.masks.astype(np.float64)
    x = np.zeros((2 * problem.p, problem.d))
    known = np.zeros((2, problem.n, problem.p))
    estimates = np.zeros_like(known)
    tight, active = {}, []
    entered = _entering_relu_groups(op, X, signs, masks, problem.lam, -problem.y, x, tight, active, estimates, known)
    assert entered and len(active) > 1
    # the groups enter together at a point that lowers the objective, in their cones
    weights = (x[:problem.p], x[problem.p:])
    assert problem.objective(weights) < problem.objective((np.zeros_like(x[:problem.p]),) * 2)
    assert problem.constraint_violation(weights) <= 1e-12
    # the multipliers solved for are kept in known (nonnegative, and those of the estimates)
    assert np.any(known > 0) and np.all(known >= 0)
    np.testing.assert_array_equal(known, estimates)
    # at the same point a second call solves nothing again: the entering groups are active now,
    # and the others are settled by the multipliers it kept
    calls = []
    original = polish_module.relu_cone_multipliers
    monkeypatch.setattr(polish_module, "relu_cone_multipliers", lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs))
    again = _entering_relu_groups(op, X, signs, masks, problem.lam, -problem.y, np.zeros_like(x), {}, list(active),
                                  np.zeros_like(known), known)
    assert not again and not calls
    # only: groups outside it do not enter
    only = np.zeros((2, problem.p), dtype=bool)
    only[tuple(np.array(active[0]))] = True
    fresh = []
    _entering_relu_groups(op, X, signs, masks, problem.lam, -problem.y, np.zeros_like(x), {}, fresh,
                          np.zeros_like(known), np.zeros_like(known), only=only)
    assert fresh == [active[0]]


def test_blocked_step_stops_at_the_first_row_the_segment_meets():
    from relu_convex.solvers.polish_relu import _blocked_step

    rng = np.random.default_rng(3)
    n, p, d = 30, 4, 3
    X = rng.standard_normal((n, d))
    gates = rng.standard_normal((d, p))
    signs = np.where(X @ gates >= 0, 1.0, -1.0)  # patterns of gates: each cone holds its gate

    def values(point):
        return np.matmul(X, point.reshape(2, p, d).transpose(0, 2, 1)) * signs

    x = np.zeros((2 * p, d))
    x[1], x[p + 2] = gates[:, 1], 0.5 * gates[:, 2]  # feasible: on the inside of their cones
    target = x + rng.standard_normal(x.shape)
    C, C_target = values(x), values(target)
    assert np.any(C_target < 0)
    point, C_point, blocking = _blocked_step(x, C, target, C_target)
    np.testing.assert_allclose(C_point, values(point), atol=1e-12)
    assert np.all(C_point >= -1e-12) and np.any(blocking)
    np.testing.assert_allclose(values(point)[blocking], 0.0, atol=1e-12)
    # just past it the blocking rows are violated: the step is the longest feasible one
    t = np.linalg.norm(point - x) / np.linalg.norm(target - x)
    assert 0.0 <= t < 1.0
    beyond = x + min(t * 1.001 + 1e-9, 1.0) * (target - x)
    assert np.all(values(beyond)[blocking] < 0)


def test_independent_rows_keeps_rows_that_raise_the_rank():
    from relu_convex.solvers.polish_relu import _independent_rows

    rows = np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 0], [0, 0, 1.0], [1.0, 2.0, 3.0]])
    assert _independent_rows(rows, 3).tolist() == [0, 2, 4]
    assert _independent_rows(rows, 2).tolist() == [0, 2]
    assert _independent_rows(rows[:0], 2).tolist() == []
    assert _independent_rows(rows[1:4], 3).tolist() == [0, 1]  # fewer independent rows than the limit


def test_independent_rows_agree_with_ranks_of_prefixes():
    from relu_convex.solvers.polish_relu import _independent_rows

    rng = np.random.default_rng(3)
    for t, d, dependent in [(5, 9, ()), (12, 9, ()), (12, 9, (3,)), (20, 6, (1, 2, 4)), (30, 21, (0, 5, 19))]:
        rows = rng.standard_normal((t, d))
        for k in dependent:  # a copy or a combination of the rows before it
            rows[k] = rows[k - 1] * 2.0 if k == 1 or k % 2 else rows[: k].sum(axis=0)
        if 0 in dependent:
            rows[0] = 0.0
        expected, rank = [], 0
        for k in range(t):  # rows that raise the rank of the kept ones, at most d - 1
            if len(expected) < d - 1 and np.linalg.matrix_rank(rows[expected + [k]]) > rank:
                expected.append(k)
                rank += 1
        assert _independent_rows(rows, d - 1).tolist() == expected


def test_al_polish_ends_early_with_a_certificate():
    problem = planted_problem(rc.ReLUProblem, 300, 6, 40, 1e-3, bias=True, seed=0)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    polished = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6)
    plain = problem.solve(solver="al", tol=1e-6, feas_tol=1e-6, polish=False, max_iter=200_000)
    assert polished.status is SolveStatus.OPTIMAL and plain.status is SolveStatus.OPTIMAL
    assert polished.info["polishes"] >= 1
    assert polished.iterations < plain.iterations
    for res in (polished, plain):
        assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
        assert res.lower_bound <= ref.objective * (1 + 1e-9)


def test_al_refinement_can_be_switched_off():
    problem = _relu_problem(0, 1e-1)
    off = problem.solve(solver="al", polish=False)
    on = problem.solve(solver="al")
    assert off.info["polishes"] == 0 and off.info["polish_time"] == 0.0
    assert off.status is SolveStatus.OPTIMAL and on.status is SolveStatus.OPTIMAL
    assert abs(on.objective - off.objective) <= 1e-5 * off.objective


# -- the masked path (B_j = D_j X, m > n) ------------------------------------------------------------

def _masked_problem(seed: int, lam: float) -> rc.GatedReLUProblem:
    # n = 40 with 14-21 active groups of d = 6: m = 84-126 > n, so polish_grelu takes the masked path
    return planted_problem(rc.GatedReLUProblem, 40, 5, 30, lam, bias=True, seed=seed)


def _dense_blocks(X, masks):
    return np.hstack([masks[:, [j]] * X for j in range(masks.shape[1])])


@pytest.mark.parametrize("shape", [(30, 4, 12), (50, 5, 20), (20, 3, 3)])
@pytest.mark.parametrize("mu", [1e-1, 1e-6, 1e-10])
def test_masked_newton_direction_matches_the_dense_solve(shape, mu):
    from relu_convex.solvers.newton_systems import _masked_newton_direction

    n, d, k = shape
    rng = np.random.default_rng(n + k)
    X = rng.standard_normal((n, d))
    masks = (rng.random((n, k)) < 0.5).astype(float)
    Z, g, lam = rng.standard_normal((k, d)), rng.standard_normal((k, d)), 0.1
    norms = np.linalg.norm(Z, axis=1)
    zbar, c = Z / norms[:, None], lam / norms
    B = _dense_blocks(X, masks)
    H = B.T @ B / n + mu * np.eye(k * d)
    for j in range(k):
        block = slice(j * d, (j + 1) * d)
        H[block, block] += c[j] * (np.eye(d) - np.outer(zbar[j], zbar[j]))
    dense = np.linalg.solve(H, -g.ravel())
    masked = _masked_newton_direction(X, X @ X.T, masks, g, zbar, c, mu).ravel()
    assert np.linalg.norm(masked - dense) <= 1e-11 * np.linalg.norm(dense)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [1e-3, 1e-2])
def test_masked_refinement_reaches_the_dense_refinements_minimizer(seed, lam):
    from relu_convex.solvers.newton import refine_masked_group_lasso

    problem = _masked_problem(seed, lam)
    rough = solve_fista(problem, tol=1e-2, polish=False)
    active = np.flatnonzero(np.linalg.norm(rough.weights, axis=1) > 0)
    X, masks, d = problem.X, problem.patterns[:, active], problem.d
    assert active.size * d > problem.n
    dense = refine_group_lasso(_dense_blocks(X, masks.astype(float)), problem.y, lam, rough.weights[active].ravel(),
                               [d] * active.size)
    masked = refine_masked_group_lasso(X, masks, problem.y, lam, rough.weights[active])
    assert masked.z.shape == (active.size * d,)
    assert abs(masked.objective - dense.objective) <= 1e-10 * dense.objective
    # the same groups vanish, and the point is stationary on the groups left
    np.testing.assert_array_equal(np.linalg.norm(masked.z.reshape(-1, d), axis=1) > 0,
                                  np.linalg.norm(dense.z.reshape(-1, d), axis=1) > 0)
    assert masked.gradient_norm <= 1e-9 * lam


# dense path (m <= n) from a rough point (fista tol 1e-2): on the right support the gap closes
# to rounding (1e-13); a group missing from the rough point's support leaves up to about 1e-9
# on these seeds. Masked path (m > n: n = 40 with 14-21 active groups of d = 6) from tol 1e-4.
PATHS = [("dense", lambda seed, lam: _problem(seed, lam), 1e-2, 1e-8),
         ("masked", lambda seed, lam: _masked_problem(seed, lam), 1e-4, 1e-10)]


@pytest.mark.parametrize("path, build, start_tol, gap_tol", PATHS, ids=[p[0] for p in PATHS])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [1e-3, 1e-2])
def test_polish_closes_the_certified_gap_and_matches_clarabel(path, build, start_tol, gap_tol, seed, lam):
    problem = build(seed, lam)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    start = solve_fista(problem, tol=start_tol, polish=False)
    refined = polish_grelu(problem, start.weights)
    assert refined is not None
    cert = problem.certificate(refined)
    assert cert.relative_gap <= gap_tol
    assert abs(cert.objective - ref.objective) <= 1e-7 * ref.objective
    assert cert.lower_bound <= ref.objective * (1 + 1e-12)
    # and through the solver, whose certificate is the same bound
    res = solve_fista(problem, tol=1e-10)
    assert res.status is SolveStatus.OPTIMAL and res.info["polishes"] >= 1
    assert res.relative_gap <= 1e-10
    assert abs(res.objective - ref.objective) <= 1e-7 * ref.objective


@pytest.mark.parametrize("path, build, start_tol, gap_tol", PATHS, ids=[p[0] for p in PATHS])
@pytest.mark.parametrize("outputs", [None, 2])
def test_polish_with_tol_stops_once_certified(path, build, start_tol, gap_tol, outputs):
    # polish_grelu(tol=...) stops each output's refinement as soon as its certified gap is within tol:
    # never more Newton steps than refining to the gradient tolerance, and the gap it promises holds
    problem = build(1, 1e-3) if outputs is None else planted_problem(
        rc.GatedReLUProblem, 40, 5, 30, 1e-3, bias=True, seed=1, outputs=outputs)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    start = solve_fista(problem, tol=start_tol, polish=False)
    full_stats, tol_stats = {}, {}
    full = polish_grelu(problem, start.weights, stats=full_stats)
    early = polish_grelu(problem, start.weights, stats=tol_stats, tol=1e-6)
    assert tol_stats["steps"] <= full_stats["steps"]
    cert = problem.certificate(early)
    assert cert.relative_gap <= 1e-6
    assert cert.lower_bound <= ref.objective * (1 + 1e-12) <= cert.objective * (1 + 1e-6 + 1e-12)
    assert problem.certificate(full).relative_gap <= gap_tol


def test_masked_zero_test_removes_groups_that_should_vanish():
    from relu_convex.solvers.newton import refine_masked_group_lasso

    rng = np.random.default_rng(3)
    n, d, k = 30, 4, 12
    X = rng.standard_normal((n, d))
    masks = rng.random((n, k)) < 0.5
    y = (masks[:, 0] * (X @ np.array([1.0, -2.0, 0.5, 1.0]))) + 0.5 * (masks[:, 1] * X[:, 0])
    lam = 0.05
    out = refine_masked_group_lasso(X, masks, y, lam, np.full((k, d), 0.1))
    assert out.converged
    Z = out.z.reshape(k, d)
    assert 0 < np.sum(np.linalg.norm(Z, axis=1) > 0) < k
    # the KKT conditions of the full (unrestricted) group lasso hold at the result
    r = (y - np.einsum("nk,nk->n", X @ Z.T, masks)) / n
    for j in range(k):
        gj = X.T @ (masks[:, j] * r)
        if np.linalg.norm(Z[j]) > 0:
            np.testing.assert_allclose(gj, lam * Z[j] / np.linalg.norm(Z[j]), atol=1e-10)
        else:
            assert np.linalg.norm(gj) <= lam * (1 + 1e-10)


def test_refinement_size_bounds_the_masked_path_by_n():
    from relu_convex.solvers.newton import refinement_size

    problem = _masked_problem(0, 1e-2)
    rough = solve_fista(problem, tol=1e-2, polish=False)
    groups = int(np.sum(np.linalg.norm(rough.weights, axis=1) > 0))
    assert refinement_size(problem.n, groups, problem.d) == problem.n == 40
    assert refinement_size(problem.n, 0, problem.d) == 0
    assert polish_grelu(problem, rough.weights, max_size=problem.n - 1) is None
    assert polish_grelu(problem, rough.weights, max_size=problem.n) is not None


def test_masked_polish_refines_each_output():
    problem = planted_problem(rc.GatedReLUProblem, 40, 5, 30, 1e-3, bias=True, seed=1, outputs=2)
    ref = problem.solve(solver="clarabel", tol=1e-8)
    start = solve_fista(problem, tol=1e-4, polish=False)
    assert all(np.sum(np.linalg.norm(U, axis=1) > 0) * problem.d > problem.n for U in start.weights)
    stats = {}
    cert = problem.certificate(polish_grelu(problem, start.weights, stats=stats))
    assert stats["steps"] >= 2
    assert cert.relative_gap <= 1e-10
    assert abs(cert.objective - ref.objective) <= 1e-7 * ref.objective


def _previous_path_point(problem: rc.GatedReLUProblem, factor: float = 2.0) -> np.ndarray:
    """The certified solution at ``factor`` times ``problem.lam``: a warm start whose support misses groups."""
    larger = rc.GatedReLUProblem(problem.X, problem.y, problem.patterns, lam=factor * problem.lam)
    return solve_fista(larger, tol=1e-10).weights


@pytest.mark.parametrize(("make", "seed"), [(_problem, 0), (_problem, 1), (_problem, 2),
                                            (_masked_problem, 1), (_masked_problem, 2), (_masked_problem, 3)])
def test_growth_finds_the_groups_the_start_misses(make, seed):
    from relu_convex.solvers.polish import entering_groups

    problem = make(seed, 1e-2)
    ref = problem.solve(solver="clarabel", tol=1e-10)
    start = _previous_path_point(problem)
    optimal = np.linalg.norm(solve_fista(problem, tol=1e-10).weights, axis=1) > 0
    missing = optimal & ~(np.linalg.norm(start, axis=1) > 0)
    assert missing.sum() >= 2
    # the dense path (m <= n) for _problem at this lam, the masked one (m > n) for _masked_problem
    assert (optimal.sum() * problem.d <= problem.n) == (make is _problem)
    # on the start's support alone the refinement cannot be certified
    assert problem.certificate(polish_grelu(problem, start, grow=0)).relative_gap > 1e-3
    stats = {}
    cert = problem.certificate(polish_grelu(problem, start, stats=stats))
    assert stats["entered"] >= missing.sum()
    assert cert.relative_gap <= 1e-9
    assert abs(cert.objective - ref.objective) <= 1e-7 * ref.objective
    # the entering groups violate their dual constraint, the most violated first, and their start lowers the objective
    refined = polish_grelu(problem, start, grow=0)
    entering, values = entering_groups(problem.X, problem.patterns, problem.y, problem.lam, refined, limit=3)
    assert 0 < entering.size <= 3 and values.shape == (entering.size, problem.d)
    grad = problem.operator.adjoint(problem.operator.forward(refined) - problem.y) / problem.n
    norms = np.linalg.norm(grad, axis=1)
    assert np.all(norms[entering] > problem.lam) and np.all(np.diff(norms[entering]) <= 0)
    moved = refined.copy()
    moved[entering] = values
    assert problem.objective(moved) < problem.objective(refined)


def test_growth_respects_the_size_limit():
    problem = _problem(0, 1e-2)
    start = _previous_path_point(problem)
    size = int(np.sum(np.linalg.norm(start, axis=1) > 0))
    n, d = problem.n, problem.d
    assert size * d < n
    # with max_size below n the support may grow only while m = |S| d stays within it
    grown = polish_grelu(problem, start, max_size=size * d)
    assert np.sum(np.linalg.norm(grown, axis=1) > 0) <= size


def _hessian(B, zbar, c, mu):
    """The restricted Newton matrix, formed densely: B^T B / n + blockdiag(c_j (I - zbar_j zbar_j^T)) + mu I."""
    n, d = B.shape[0], zbar.shape[1]
    H = B.T @ B / n + mu * np.eye(B.shape[1])
    for j in range(zbar.shape[0]):
        block = slice(j * d, (j + 1) * d)
        H[block, block] += c[j] * (np.eye(d) - np.outer(zbar[j], zbar[j]))
    return H


@pytest.mark.parametrize("system_kind", ["dense", "masked"])
def test_pcg_with_an_earlier_factorization_gives_the_exact_direction(system_kind):
    # the factorization at one point preconditions conjugate gradients on the Newton system at a
    # nearby point (other norms, directions and damping): a few iterations reach the exact direction
    import functools

    from relu_convex.solvers.newton import _pcg
    from relu_convex.solvers.newton_systems import _DenseSystem, _MaskedSystem

    rng = np.random.default_rng(7)
    n, d, k = 60, 4, 25
    X = rng.standard_normal((n, d))
    masks = (rng.random((n, k)) < 0.5).astype(float)
    B = _dense_blocks(X, masks)
    system = _DenseSystem(B, [d] * k) if system_kind == "dense" else _MaskedSystem(X, masks)
    Z = rng.standard_normal((k, d))
    Z_near = Z + 1e-3 * rng.standard_normal((k, d))
    lam, g = 0.05, rng.standard_normal(k * d)

    def data(Z):
        norms = np.linalg.norm(Z, axis=1)
        return (Z / norms[:, None]), lam / norms

    zbar0, c0 = data(Z)
    zbar, c = data(Z_near)
    factor = system.factor(zbar0.ravel(), c0, 1e-6)
    hessian = functools.partial(system.hessian, zbar=zbar.ravel(), c=c, mu=1e-7)
    H = _hessian(B, zbar, c, 1e-7)
    np.testing.assert_allclose(hessian(g), H @ g, rtol=1e-12, atol=1e-12 * np.abs(H @ g).max())
    exact = np.linalg.solve(H, -g)
    x, iterations, solved = _pcg(hessian, factor.solve, -g, 1e-12, 10)
    assert solved and iterations <= 10
    assert np.linalg.norm(x - exact) <= 1e-9 * np.linalg.norm(exact)
    # a loose forcing tolerance stops earlier with a descent direction within it
    x, loose, solved = _pcg(hessian, factor.solve, -g, 1e-2, 10)
    assert solved and loose < iterations
    assert float(g @ x) < 0.0 and np.linalg.norm(H @ x + g) <= 1e-2 * np.linalg.norm(g)


def _count_pcg(monkeypatch):
    """Record every conjugate-gradient solve of the Newton engine: a list of (iterations, solved)."""
    from relu_convex.solvers import newton

    calls = []
    original = newton._pcg

    def counted(*args):
        x, iterations, solved = original(*args)
        calls.append((iterations, solved))
        return x, iterations, solved

    monkeypatch.setattr(newton, "_pcg", counted)
    return calls


@pytest.mark.parametrize("path", ["dense", "masked"])
def test_refinement_with_reused_factorizations_reaches_the_same_minimizer(monkeypatch, path):
    # large enough that a factorization costs several conjugate-gradient iterations, so steps after
    # the first solve by PCG with the last factorization; the minimizer is the one that a
    # factorization at every step reaches
    from relu_convex.solvers import newton

    if path == "dense":
        problem = planted_problem(rc.GatedReLUProblem, 1500, 9, 100, 2e-3, bias=True, seed=3)
    else:
        problem = planted_problem(rc.GatedReLUProblem, 800, 9, 120, 1e-3, bias=True, seed=3)
    rough = solve_fista(problem, tol=1e-4, polish=False)
    active = np.flatnonzero(np.linalg.norm(rough.weights, axis=1) > 0)
    X, masks, d, y, lam = problem.X, problem.patterns[:, active], problem.d, problem.y, problem.lam
    assert (active.size * d <= problem.n) == (path == "dense")

    def refine():
        if path == "dense":
            return refine_group_lasso(_dense_blocks(X, masks.astype(float)), y, lam, rough.weights[active].ravel(),
                                      [d] * active.size)
        return newton.refine_masked_group_lasso(X, masks, y, lam, rough.weights[active])

    calls = _count_pcg(monkeypatch)
    reused = refine()
    assert any(solved for _, solved in calls)  # some steps reused a factorization
    assert all(iterations <= newton.PCG_MAX_ITERATIONS for iterations, _ in calls)
    monkeypatch.setattr(newton, "PCG_MAX_ITERATIONS", 0)  # a factorization at every step
    calls.clear()
    exact = refine()
    assert not calls
    assert reused.converged and exact.converged
    assert abs(reused.objective - exact.objective) <= 1e-10 * exact.objective
    np.testing.assert_array_equal(np.linalg.norm(reused.z.reshape(-1, d), axis=1) > 0,
                                  np.linalg.norm(exact.z.reshape(-1, d), axis=1) > 0)
    # the reused factorizations cost less estimated work than factoring at every step
    assert reused.work < exact.work
    full = rc.GatedReLUProblem(X, y, problem.patterns, lam)
    W = np.zeros((problem.p, d))
    W[active] = reused.z.reshape(-1, d)
    assert full.certificate(W).relative_gap <= 1e-8


def test_exchange_history_stall_rule_cycles_and_repeated_entries():
    from relu_convex.solvers.polish_relu import _ExchangeHistory, _sets_key

    history = _ExchangeHistory(stall_rounds=2)
    # the stall rule: rounds without a new smallest number of changed sets
    assert not history.stalls(5) and not history.stalls(3) and not history.stalls(4)
    assert history.stalls(3)  # two rounds since the count fell to 3
    # sets that recur since the last entry turn cycling on, and it stays on
    tight = {(0, 1): [2, 5], (1, 0): [7]}
    assert not history.visit(tight, [(0, 1), (1, 0)])
    assert history.visit(tight, [(0, 1), (1, 0)])
    assert history.visit({(0, 1): [2]}, [(0, 1)])
    # an entry resets what is kept since the last one; the same entry again enters free, a third time is a cycle
    before = _sets_key(tight, [(0, 1), (1, 0)])
    assert history.entry(before, 3) == "new"
    assert not history.cycling and history.fewest is None and not history.reentered
    assert history.entry(before, 4) == "new"  # another size: another entry
    assert history.entry(before, 3) == "free"
    assert history.entry(before, 3) == "cycle"


def test_exchange_rows_drops_a_negative_multiplier_unless_rows_only_enter():
    from relu_convex.solvers.polish_relu import _exchange_rows, _TightRows

    rng = np.random.default_rng(5)
    n, d, p, lam = 40, 4, 2, 0.1
    X = rng.standard_normal((n, d))
    masks = (rng.standard_normal((n, p)) > 0).astype(np.float64)
    signs = 2.0 * masks - 1.0
    v = rng.standard_normal(d)
    tight = {(0, 0): [3, 7]}
    factors = _TightRows(X, signs, tight, [(0, 0)])
    A = signs[[3, 7], 0, None] * X[[3, 7]]
    # a residual whose stationarity multipliers on the two tight rows are (1, -1)
    q = A.T @ np.array([1.0, -1.0]) - lam * v / np.linalg.norm(v)
    XD = masks[:, :1] * X
    residual = XD @ np.linalg.solve(XD.T @ XD, n * q)
    point = np.zeros((2, p, d))
    point[0, 0] = v
    C = np.matmul(X, point.transpose(0, 2, 1)) * signs
    violated = np.zeros_like(C, dtype=bool)
    for enter_only, expected in ((True, [3, 7]), (False, [3])):
        sets = {g: list(rows) for g, rows in tight.items()}
        estimates = np.zeros((2, n, p))
        changed = _exchange_rows(X, signs, masks, lam, point, residual, C, violated, sets, [(0, 0)], factors,
                                 estimates, enter_only=enter_only)
        assert sets[0, 0] == expected and changed == (0 if enter_only else 1)
        np.testing.assert_allclose(estimates[0, [3, 7], 0], [1.0, 0.0], atol=1e-10)


@pytest.mark.parametrize("system_kind", ["dense", "masked"])
@pytest.mark.parametrize("k", [2, 25])
def test_lipschitz_estimate_is_the_padded_largest_eigenvalue(system_kind, k):
    # Lanczos (or the explicit matrix for m < 16) against the eigenvalues of B^T B / n
    from relu_convex.solvers.newton import _lipschitz
    from relu_convex.solvers.newton_systems import _DenseSystem, _MaskedSystem

    rng = np.random.default_rng(3)
    n, d = 80, 5
    X = rng.standard_normal((n, d))
    masks = (rng.random((n, k)) < 0.5).astype(float)
    B = _dense_blocks(X, masks)
    system = _DenseSystem(B, [d] * k) if system_kind == "dense" else _MaskedSystem(X, masks)
    largest = np.linalg.eigvalsh(B.T @ B / n)[-1]
    estimate = _lipschitz(system)
    assert largest < estimate <= 1.05 * largest * (1 + 1e-3)


def test_warm_attempt_budget_covers_the_refinements_setup():
    # on the dense path, forming B^T B costs 3n/m factorizations: a budget of a few steps without
    # it stops a warm refinement after its first step
    from relu_convex.solvers.fista import WARM_ATTEMPT_STEPS, _step_work
    from relu_convex.solvers.newton import newton_step_work, refinement_setup_work

    n, d, groups = 2000, 21, 46
    setup = refinement_setup_work(n, groups, d)
    assert setup > 5 * (newton_step_work(n, groups, d) - rc.solvers.newton.NEWTON_OVERHEAD)
    masks = np.ones((n, 60), dtype=bool)
    masks[np.arange(60), np.arange(60)] = False  # 60 distinct patterns
    problem = rc.GatedReLUProblem(np.ones((n, d)), np.ones(n), masks, lam=0.1)
    U = np.zeros((60, d))
    U[:groups] = 1.0
    assert _step_work(problem, U, setup=True) == pytest.approx(setup)
    # the setup is most of what the warm attempt may spend
    assert setup > 0.6 * WARM_ATTEMPT_STEPS * _step_work(problem, U)


def test_lipschitz_estimate_of_degenerate_systems():
    # a zero operator, and one of rank one, where ARPACK's Krylov space ends at once
    from relu_convex.solvers.newton import _lipschitz
    from relu_convex.solvers.newton_systems import _MaskedSystem

    X = np.random.default_rng(0).standard_normal((50, 4))
    assert _lipschitz(_MaskedSystem(X, np.zeros((50, 10)))) == 1.0
    masks = np.zeros((50, 10))
    masks[0, 3] = 1.0
    assert _lipschitz(_MaskedSystem(X, masks)) == pytest.approx(1.05 * float(X[0] @ X[0]) / 50, rel=1e-9)
