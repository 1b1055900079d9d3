"""A problem's patterns form a pattern set: no all-false column, no repeated column."""

import numpy as np
import pytest
from conftest import make_instance

import relu_convex as rc
from relu_convex.data import check_patterns
from relu_convex.patterns import unique_patterns


@pytest.mark.parametrize("cls", [rc.GatedReLUProblem, rc.ReLUProblem])
def test_repeated_and_all_false_columns_are_refused_naming_the_column(cls):
    X, y, P = make_instance(0, n=20, p=8)
    p = P.shape[1]
    repeated = np.hstack([P[:, :5], P[:, [1]], P[:, 5:], P[:, [0]]])
    with pytest.raises(ValueError, match=r"^patterns: column 5 repeats column 1, .*unique columns \(2 repeated"):
        cls(X, y, repeated, 0.1)
    empty = np.hstack([P[:, :2], np.zeros((20, 1), dtype=bool), P[:, 2:]])
    with pytest.raises(ValueError, match=r"^patterns: column 2 is all-false .*unique_patterns"):
        cls(X, y, empty, 0.1)
    with pytest.raises(ValueError, match=rf"^patterns: column {p} repeats column 3"):
        cls(X, y, np.hstack([P, P[:, [3]]]), 0.1)
    # unique_patterns makes a pattern set of them
    assert cls(X, y, unique_patterns(repeated), 0.1).p == p
    assert cls(X, y, unique_patterns(empty), 0.1).p == p


def test_the_package_builds_pattern_sets():
    X, _, _ = make_instance(1, n=12, d=2)
    for P in (rc.enumerate_patterns(X), rc.activation_patterns(X, rc.sample_gates(3, 200, seed=0))):
        assert check_patterns(P, 12, pattern_set=True) is not None
        assert P.any(axis=0).all() and np.unique(P, axis=1).shape[1] == P.shape[1]


def test_check_patterns_accepts_any_masks_unless_asked_for_a_set():
    masks = np.ones((5, 3), dtype=bool)
    assert check_patterns(masks, 5).shape == (5, 3)
    with pytest.raises(ValueError, match="masks: column 1 repeats column 0"):
        check_patterns(masks, 5, "masks", pattern_set=True)
