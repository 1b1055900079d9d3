"""Options of problem.solve: one check of tol on every route, and unknown options named with the accepted ones."""

import pytest
from conftest import make_instance

import relu_convex as rc

ROUTES = [(rc.GatedReLUProblem, s) for s in ("clarabel", "ecos", "scs", "fista", "ipm")] + \
         [(rc.ReLUProblem, s) for s in ("clarabel", "ecos", "scs", "al", "ipm")]


@pytest.mark.parametrize("cls, solver", ROUTES)
@pytest.mark.parametrize("tol", [-1, 0, 0.0, 1, 2])
def test_tol_outside_the_unit_interval_is_refused_on_every_route(cls, solver, tol):
    X, y, P = make_instance(0, n=20, p=8)
    with pytest.raises(ValueError, match=r"^tol must be in \(0, 1\)"):
        cls(X, y, P, 0.1).solve(solver=solver, tol=tol)


@pytest.mark.parametrize("cls, solver", ROUTES)
@pytest.mark.parametrize("tol", ["a", True, [1e-6]])
def test_tol_of_the_wrong_type_is_refused_on_every_route(cls, solver, tol):
    X, y, P = make_instance(0, n=20, p=8)
    with pytest.raises(TypeError, match=r"^tol must be a real number"):
        cls(X, y, P, 0.1).solve(solver=solver, tol=tol)


@pytest.mark.parametrize("solver", ["clarabel", "ecos", "scs"])
def test_conic_route_checks_its_other_options(solver):
    X, y, P = make_instance(0, n=20, p=8)
    problem = rc.GatedReLUProblem(X, y, P, 0.1)
    with pytest.raises(ValueError, match="^max_iter"):
        problem.solve(solver=solver, max_iter=0)
    with pytest.raises(TypeError, match="^max_iter"):
        problem.solve(solver=solver, max_iter="a")
    with pytest.raises(ValueError, match="^time_limit"):
        problem.solve(solver=solver, time_limit=-1)
    with pytest.raises(TypeError, match="^verbose"):
        problem.solve(solver=solver, verbose="yes")
    with pytest.raises(TypeError, match="^solver_options"):
        problem.solve(solver=solver, solver_options=3)
    assert problem.solve(solver=solver, tol=1e-6).status.has_point


@pytest.mark.parametrize("cls, solver", ROUTES)
def test_unknown_option_names_the_method_and_the_accepted_options(cls, solver):
    X, y, P = make_instance(0, n=20, p=8)
    problem = cls(X, y, P, 0.1)
    pattern = rf"^{cls.__name__}\.solve\(solver='{solver}'\) got unknown option 'bogus'; accepted options: .*\btol\b"
    with pytest.raises(TypeError, match=pattern):
        problem.solve(solver=solver, bogus=1)
    with pytest.raises(TypeError, match=pattern + r".*\binitial_size\b"):
        problem.solve(solver=solver, bogus=1, working_set=True)
    with pytest.raises(TypeError, match=r"got unknown options 'bogus', 'other'; accepted options: "):
        problem.solve(solver=solver, bogus=1, other=2)
    # the options of one route are unknown to another
    other = "solver_options" if solver in ("fista", "al", "ipm") else "polish"
    with pytest.raises(TypeError, match=rf"got unknown option '{other}'"):
        problem.solve(solver=solver, **{other: True})


def test_conic_tol_reaches_the_solver():
    X, y, P = make_instance(0, n=20, p=8)
    problem = rc.GatedReLUProblem(X, y, P, 0.1)
    loose, tight = (problem.solve(solver="clarabel", tol=t) for t in (1e-3, 1e-9))
    assert loose.status is rc.SolveStatus.OPTIMAL
    assert tight.iterations > loose.iterations
    assert tight.relative_gap <= 1e-8 < loose.relative_gap
