"""Tests for relu_convex.arrangement: exact enumeration of activation patterns.

Three independent references are used:

* the general-position count 2 * sum_{k<r} C(n-1, k) (minus the all-false
  pattern exactly when an LP says the points lie in an open half-space);
* 1,000,000 standard-normal gates (every sampled pattern must be enumerated,
  and on small well-separated data every enumerated pattern is sampled);
* an LP oracle that tests every candidate pattern in {0, 1}^n for strict
  realizability (exact, for n <= 8).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linprog

from relu_convex.arrangement import (
    arrangement_rank,
    count_general_position,
    enumerate_patterns,
)
from relu_convex.errors import PatternLimitError

# ----------------------------------------------------------------------------
# references


def _keys(masks: np.ndarray) -> set[bytes]:
    """Columns of a boolean (n, p) array as a set of hashable keys."""
    packed = np.packbits(np.asarray(masks, dtype=bool), axis=0)
    return {packed[:, i].tobytes() for i in range(packed.shape[1])}


def _sampled(X: np.ndarray, n_gates: int = 1_000_000, seed: int = 0) -> set[bytes]:
    """Patterns of ``n_gates`` standard-normal gates (all-false dropped)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    found: set[bytes] = set()
    chunk = 100_000
    for start in range(0, n_gates, chunk):
        G = rng.standard_normal((d, min(chunk, n_gates - start)))
        masks = X @ G >= 0
        masks = masks[:, masks.any(axis=0)]
        if n <= 62:  # dedupe cheaply through integer codes
            codes = np.unique((1 << np.arange(n, dtype=np.int64)) @ masks)
            masks = (codes[None, :] >> np.arange(n, dtype=np.int64)[:, None]) & 1 == 1
        found |= _keys(masks)
    return found


def _realizable(X: np.ndarray, pattern: np.ndarray) -> bool:
    """Whether some gate g has x_k . g > 0 where pattern is True, < 0 elsewhere.

    Zero rows are active for every gate (0 >= 0). The strict system is
    scaled to a margin of 1 (LP feasibility).
    """
    pattern = np.asarray(pattern, dtype=bool)
    zero = ~np.any(X != 0, axis=1)
    if np.any(zero & ~pattern):
        return False
    rows = ~zero
    if not rows.any():
        return True
    sign = np.where(pattern[rows], -1.0, 1.0)  # -x.g <= -1 (active), x.g <= -1
    A_ub = sign[:, None] * X[rows]
    res = linprog(
        np.zeros(X.shape[1]),
        A_ub=A_ub,
        b_ub=-np.ones(A_ub.shape[0]),
        bounds=[(None, None)] * X.shape[1],
        method="highs",
    )
    assert res.status in (0, 2), res.message
    return res.status == 0


def _all_false_realizable(X: np.ndarray) -> bool:
    return _realizable(X, np.zeros(X.shape[0], dtype=bool))


def _lp_oracle(X: np.ndarray) -> set[bytes]:
    """Every strictly realizable pattern except all-false, by brute force."""
    n = X.shape[0]
    found = []
    for bits in itertools.product([False, True], repeat=n):
        pattern = np.array(bits)
        if pattern.any() and _realizable(X, pattern):
            found.append(pattern)
    return _keys(np.array(found).T)


def _check_structure(P: np.ndarray, n: int) -> None:
    assert isinstance(P, np.ndarray)
    assert P.dtype == np.bool_
    assert P.ndim == 2 and P.shape[0] == n and P.shape[1] >= 1
    assert P.any(axis=0).all(), "all-false column present"
    assert np.unique(P, axis=1).shape[1] == P.shape[1], "duplicate columns"
    # lexicographic order of the columns, reading row 0 first, False < True
    cols = [tuple(col) for col in P.T.astype(int)]
    assert cols == sorted(cols)


def _embed(Z: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """Map rank-r data Z (n, r) into R^d without changing its rank."""
    r = Z.shape[1]
    return Z if d == r else Z @ rng.standard_normal((r, d))


# ----------------------------------------------------------------------------
# data sets for the comparisons (n <= 10)


def _degenerate_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12345)
    cases: dict[str, np.ndarray] = {}
    for r in (1, 2, 3):
        for seed in (0, 1):
            g = np.random.default_rng(100 * r + seed)
            cases[f"gauss-rank{r}-seed{seed}"] = _embed(g.standard_normal((8, r)), r + 1, g)
    # rank 4 with cells wide enough for 10^6 gates to hit every one of them
    cases["rank4-structured"] = np.r_[np.eye(4), [[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]]]
    cube = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, 0], [0, 1, 1]])
    cases["rank4-cube-bias"] = np.c_[cube.astype(float), np.ones(7)]
    pts = rng.standard_normal((7, 2))
    cases["bias"] = np.c_[pts, np.ones(7)]
    base = rng.standard_normal((5, 3))
    cases["duplicates"] = np.r_[base, base[[0, 0, 2]]]
    cases["antipodal"] = np.r_[base, -base[[1, 3]]]
    cases["multiples"] = np.r_[base, -2.0 * base[[0]], 3.5 * base[[2]]]
    cases["zero-rows"] = np.r_[base[:4], np.zeros((2, 3)), base[4:]]
    t = np.array([-2.0, -0.5, 0.3, 1.0, 2.5])
    p0, v = rng.standard_normal(2), rng.standard_normal(2)
    line = p0 + t[:, None] * v  # collinear points (float, not exact)
    cases["collinear-bias"] = np.c_[np.r_[line, rng.standard_normal((3, 2))], np.ones(8)]
    grid = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 2], [0, 2], [1, 2]], float)
    cases["integer-grid-bias"] = np.c_[grid, np.ones(8)]
    cases["rank2-in-R5"] = _embed(rng.standard_normal((9, 2)), 5, rng)
    cases["mixed"] = np.r_[base[:3], -base[[0]], np.zeros((1, 3)), base[[1]], 2 * base[[2]]]
    return cases


DEGENERATE = _degenerate_cases()


def _thin_cell_cases() -> dict[str, np.ndarray]:
    """Random rank-4 data: exact, but some cells are too thin for sampling.

    For example 5 Gaussian hyperplanes in R^4 typically have cells whose
    inscribed cone has angular radius ~1e-3 (solid angle ~1e-9), which 10^6
    (even 10^7) random gates miss; these are checked against the LP oracle.
    """
    cases = {}
    for n, seed in ((5, 5), (6, 0), (8, 0), (8, 1)):
        g = np.random.default_rng(400 + seed)
        cases[f"gauss-rank4-n{n}-seed{seed}"] = _embed(g.standard_normal((n, 4)), 5, g)
    return cases


THIN = _thin_cell_cases()


# ----------------------------------------------------------------------------
# count_general_position


def test_count_general_position_values():
    assert count_general_position(5, 1) == 2
    assert count_general_position(7, 2) == 14
    assert count_general_position(3, 5) == 8  # 2^n when n <= r
    assert count_general_position(4, 4) == 16
    assert count_general_position(200, 3) == 2 * (1 + 199 + 19701)
    assert count_general_position(10, 5) == 2 * (1 + 9 + 36 + 84 + 126)
    assert isinstance(count_general_position(1000, 10), int)


def test_count_general_position_rejects_bad_input():
    with pytest.raises(ValueError, match="n"):
        count_general_position(0, 2)
    with pytest.raises(ValueError, match="r"):
        count_general_position(5, 0)
    with pytest.raises(TypeError, match="n"):
        count_general_position(2.5, 2)


# ----------------------------------------------------------------------------
# counts on general-position data


@pytest.mark.parametrize(("n", "r"), [(5, 1), (6, 2), (10, 2), (8, 3), (12, 3), (9, 4), (10, 5), (4, 6)])
@pytest.mark.parametrize("extra_dims", [0, 2])
def test_count_matches_general_position_formula(n, r, extra_dims):
    rng = np.random.default_rng(1000 * n + 10 * r + extra_dims)
    X = _embed(rng.standard_normal((n, r)), r + extra_dims, rng)
    P = enumerate_patterns(X)
    _check_structure(P, n)
    rank = min(n, r)
    assert arrangement_rank(X) == rank
    expected = count_general_position(n, rank) - int(_all_false_realizable(X))
    assert P.shape[1] == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_count_with_bias_column(seed):
    # points in general position in the plane plus a bias column: rank 3, and
    # the all-false pattern is realizable (g = (0, 0, -1)).
    rng = np.random.default_rng(seed)
    X = np.c_[rng.standard_normal((15, 2)), np.ones(15)]
    P = enumerate_patterns(X)
    _check_structure(P, 15)
    assert P.shape[1] == count_general_position(15, 3) - 1


def test_n200_rank3_exact_count():
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal((200, 2)), np.ones(200)]
    P = enumerate_patterns(X)
    assert P.shape == (200, count_general_position(200, 3) - 1) == (200, 39801)
    assert P.dtype == np.bool_
    assert P.any(axis=0).all()
    assert np.unique(np.packbits(P, axis=0), axis=1).shape[1] == 39801
    # every returned column is the pattern of an actual gate: sampled patterns
    # are a subset (100k gates find only part of the 39,801 cells)
    assert _sampled(X, n_gates=100_000) <= _keys(P)


# ----------------------------------------------------------------------------
# comparison with random gates and with the LP oracle


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_matches_one_million_random_gates(name):
    X = DEGENERATE[name]
    P = enumerate_patterns(X)
    _check_structure(P, X.shape[0])
    enumerated = _keys(P)
    sampled = _sampled(X)
    assert sampled <= enumerated, "a sampled pattern is missing from the enumeration"
    assert enumerated == sampled


@pytest.mark.parametrize("name", sorted(THIN))
def test_thin_cells_contain_all_sampled_patterns(name):
    X = THIN[name]
    P = enumerate_patterns(X)
    _check_structure(P, X.shape[0])
    assert P.shape[1] == count_general_position(X.shape[0], 4) - int(_all_false_realizable(X))
    sampled = _sampled(X, n_gates=200_000)
    assert sampled <= _keys(P)
    assert len(sampled) < P.shape[1]  # the sampler misses thin cells here


@pytest.mark.parametrize(
    "name",
    [
        "bias",
        "duplicates",
        "antipodal",
        "multiples",
        "zero-rows",
        "collinear-bias",
        "integer-grid-bias",
        "rank2-in-R5",
        "mixed",
        "rank4-structured",
        "rank4-cube-bias",
        *sorted(THIN),
    ],
)
def test_matches_lp_oracle(name):
    X = DEGENERATE.get(name, THIN.get(name))
    assert X.shape[0] <= 9
    assert _keys(enumerate_patterns(X)) == _lp_oracle(X)


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 4)),
        elements=st.integers(-2, 2).map(float),
    )
)
def test_small_integer_data_matches_lp_oracle(X):
    # small integer entries: duplicates, multiples, zero rows and dependent
    # triples are the rule rather than the exception
    P = enumerate_patterns(X)
    _check_structure(P, X.shape[0])
    assert _keys(P) == _lp_oracle(X)


# ----------------------------------------------------------------------------
# structure, invariances, degenerate inputs


def test_small_explicit_examples():
    P = enumerate_patterns(np.eye(2))
    np.testing.assert_array_equal(P, [[False, True, True], [True, False, True]])
    P = enumerate_patterns([[1.0], [-1.0]])
    np.testing.assert_array_equal(P, [[False, True], [True, False]])
    # x and -2x: the same hyperplane, opposite sides
    P = enumerate_patterns([[1.0, 2.0], [-2.0, -4.0]])
    np.testing.assert_array_equal(P, [[False, True], [True, False]])
    # a column of ones only: the all-false pattern is dropped
    np.testing.assert_array_equal(enumerate_patterns(np.ones((3, 1))), np.ones((3, 1), bool))


def test_all_zero_data_gives_one_all_true_pattern():
    P = enumerate_patterns(np.zeros((4, 3)))
    np.testing.assert_array_equal(P, np.ones((4, 1), dtype=bool))
    assert arrangement_rank(np.zeros((4, 3))) == 0


def test_single_row():
    np.testing.assert_array_equal(enumerate_patterns([[-3.0, 1.0, 2.0]]), [[True]])
    np.testing.assert_array_equal(enumerate_patterns([[0.0, 0.0]]), [[True]])
    np.testing.assert_array_equal(enumerate_patterns([[5.0]]), [[True]])


def test_zero_rows_always_active():
    X = DEGENERATE["zero-rows"]
    P = enumerate_patterns(X)
    zero = ~np.any(X != 0, axis=1)
    assert zero.sum() == 2
    assert P[zero].all()
    # the zero rows do not change the cells; only the all-false pattern of the
    # other rows (dropped there when realizable) becomes a valid pattern here
    base = X[~zero]
    assert P.shape[1] == enumerate_patterns(base).shape[1] + int(_all_false_realizable(base))


def test_rank_deficient_data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((7, 2)) @ rng.standard_normal((2, 5))
    assert arrangement_rank(X) == 2
    P = enumerate_patterns(X)
    _check_structure(P, 7)
    assert P.shape[1] == 14 - int(_all_false_realizable(X))


def test_duplicates_and_multiples_follow_their_hyperplane():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 3))
    X = np.r_[base, base[[0]], -0.5 * base[[1]], 4.0 * base[[2]]]
    P = enumerate_patterns(X)
    np.testing.assert_array_equal(P[6], P[0])
    np.testing.assert_array_equal(P[7], ~P[1])
    np.testing.assert_array_equal(P[8], P[2])
    # same cells as the base data (x and -x/2 make all-false unrealizable in X)
    assert not _all_false_realizable(X)
    assert P.shape[1] == enumerate_patterns(base).shape[1] + int(_all_false_realizable(base))


def test_invariances():
    rng = np.random.default_rng(11)
    X = np.c_[rng.standard_normal((9, 3)), np.ones(9)]
    ref = _keys(enumerate_patterns(X))
    # positive row scaling, positive column scaling, invertible linear map
    assert _keys(enumerate_patterns(X * rng.uniform(0.01, 100.0, (9, 1)))) == ref
    assert _keys(enumerate_patterns(X * rng.uniform(0.01, 100.0, (1, 4)))) == ref
    assert _keys(enumerate_patterns(X @ rng.standard_normal((4, 4)))) == ref
    # row permutation permutes the rows of every pattern
    perm = rng.permutation(9)
    assert _keys(enumerate_patterns(X[perm])) == _keys(enumerate_patterns(X)[perm])
    # float32 input gives the same result
    X32 = X.astype(np.float32)
    assert _keys(enumerate_patterns(X32)) == _keys(enumerate_patterns(X32.astype(np.float64)))


def test_deterministic():
    X = DEGENERATE["mixed"]
    np.testing.assert_array_equal(enumerate_patterns(X), enumerate_patterns(X.copy()))


# ----------------------------------------------------------------------------
# max_patterns guard and input validation


def test_max_patterns_guard_names_expected_count():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    bound = count_general_position(50, 3)
    assert bound == 2452
    with pytest.raises(PatternLimitError, match=r"max_patterns") as info:
        enumerate_patterns(X, max_patterns=100)
    msg = str(info.value)
    assert "2,452" in msg or "2452" in msg
    assert "sample" in msg and "activation_patterns" in msg
    assert isinstance(info.value, ValueError)
    # at the limit it runs
    assert enumerate_patterns(X, max_patterns=bound).shape[1] <= bound


def test_max_patterns_guard_counts_distinct_hyperplanes():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((5, 3))
    X = np.r_[base, base, -3.0 * base, np.zeros((5, 3))]  # 20 rows, 5 hyperplanes
    limit = count_general_position(5, 3)
    P = enumerate_patterns(X, max_patterns=limit)
    assert P.shape[1] <= limit
    with pytest.raises(PatternLimitError, match=str(limit)):
        enumerate_patterns(X, max_patterns=limit - 1)


def test_max_patterns_guard_comes_before_the_work(monkeypatch):
    # the bound is checked on the hyperplanes left after merging parallel normals, before
    # any chamber is enumerated
    import relu_convex.arrangement as arrangement

    def never(*args, **kwargs):
        raise AssertionError("the guard let the work start")

    monkeypatch.setattr(arrangement, "_chambers", never)
    X = np.random.default_rng(2).standard_normal((5000, 10))
    with pytest.raises(PatternLimitError, match="max_patterns"):
        enumerate_patterns(X)


@pytest.mark.parametrize(
    "bad",
    [np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([1.0, 2.0, 3.0]), np.zeros((0, 2))],
)
def test_bad_X_raises_value_error_naming_X(bad):
    with pytest.raises(ValueError, match="X"):
        enumerate_patterns(bad)
    with pytest.raises(ValueError, match="X"):
        arrangement_rank(bad)


def test_bad_max_patterns():
    with pytest.raises(ValueError, match="max_patterns"):
        enumerate_patterns(np.eye(2), max_patterns=0)
    with pytest.raises(TypeError, match="max_patterns"):
        enumerate_patterns(np.eye(2), max_patterns=1.5)
