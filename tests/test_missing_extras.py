"""Optional extras that are not installed (matplotlib, scikit-learn), and errored records on resume.

A missing extra is simulated by putting ``None`` in ``sys.modules``, which makes its import fail.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from relu_convex.cli import main
from relu_convex.validation import CheckConfig, ProblemSpec, RecordStore, run_problem, run_suite
from relu_convex.validation.report import plot_profile, write_report

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")

FAST = ["--solvers", "clarabel,ecos", "--no-baselines", "--quiet", "--workers", "1"]


@pytest.fixture
def no_matplotlib(monkeypatch):
    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def no_sklearn(monkeypatch):
    for name in ("sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, name, None)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- matplotlib -----------------------------------------------------------------------------------


def test_validate_without_matplotlib_writes_the_report_and_the_json_and_notes_the_extra(tmp_path, capsys, no_matplotlib):
    code, out, err = run(capsys, "validate", "--datasets", "gallery:xor", "--out", tmp_path, "--json", *FAST)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["passed"] == summary["total"] == 2
    assert "performance profile not drawn: matplotlib is not installed (pip install 'relu-convex[plot]')" in summary["notes"]
    assert "Traceback" not in err
    report = (tmp_path / "report.md").read_text()
    assert "Not drawn: matplotlib is not installed (pip install 'relu-convex[plot]')." in report
    assert not (tmp_path / "performance_profile.png").exists()


def test_validate_text_output_without_matplotlib_exits_with_the_checks(tmp_path, capsys, monkeypatch, no_matplotlib):
    import relu_convex.cli.validate as cli_validate

    strict = cli_validate.CheckConfig
    monkeypatch.setattr(cli_validate, "CheckConfig", lambda **kw: strict(rtol=0.0, **kw))
    code, out, _ = run(capsys, "validate", "--datasets", "gallery:gated-tiny", "--programs", "grelu", "--out", tmp_path, *FAST)
    assert code == 1  # the failed check decides, not the missing figure
    assert "FAIL: objective" in out
    assert "note: performance profile not drawn: matplotlib is not installed (pip install 'relu-convex[plot]')" in out


def test_plot_profile_names_the_extra(tmp_path, no_matplotlib):
    with pytest.raises(ImportError, match=r"pip install 'relu-convex\[plot\]'"):
        plot_profile([], tmp_path / "p.png")


def test_write_report_without_matplotlib(tmp_path, no_matplotlib):
    rec = run_problem(ProblemSpec("gallery:xor", 1e-3, "C-GReLU", "exact"), CheckConfig(baselines=()))
    path = write_report(tmp_path, [rec], total=1, complete=True, config=CheckConfig(baselines=()).to_dict())
    assert "**Status: COMPLETE**" in path.read_text() and "Not drawn: matplotlib" in path.read_text()


def test_demo_without_matplotlib_skips_the_figures_with_a_note(tmp_path, capsys, monkeypatch, no_matplotlib):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo", "--restarts", 2, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [c["rank"] for c in report["cases"]] == [2, 3] and report["figures"] == []
    assert report["notes"] == ["figures skipped: matplotlib is not installed (pip install 'relu-convex[plot]'); "
                               "--no-figures skips them without this note"]
    assert not (tmp_path / "relu-convex-demo").exists()
    code, out, _ = run(capsys, "demo", "--restarts", 2)
    assert code == 0 and "convex optimum" in out
    assert out.rstrip().splitlines()[-1].startswith("note: figures skipped: matplotlib is not installed")


def test_demo_with_out_but_without_matplotlib_is_refused_before_any_work(tmp_path, capsys, monkeypatch, no_matplotlib):
    import relu_convex.demo

    def fail(*args, **kwargs):
        raise AssertionError("the demo ran")

    monkeypatch.setattr(relu_convex.demo, "run_demo", fail)
    code, out, err = run(capsys, "demo", "--out", tmp_path / "figs")
    assert code == 2 and out == ""
    assert err.splitlines() == ["relu-convex demo: error: --out: the figures need matplotlib, and matplotlib is not installed "
                                "(pip install 'relu-convex[plot]'); or pass --no-figures"]
    assert not (tmp_path / "figs").exists()


def test_run_demo_with_figures_fails_fast_without_matplotlib(tmp_path, monkeypatch, no_matplotlib):
    import relu_convex.demo as demo

    monkeypatch.setattr(demo, "_solve_case", lambda *a: (_ for _ in ()).throw(AssertionError("solved")))
    with pytest.raises(ImportError, match=r"relu-convex\[plot\]"):
        demo.run_demo(tmp_path / "figs")
    assert not (tmp_path / "figs").exists()


def test_demo_out_that_cannot_be_created_names_the_option(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    taken = tmp_path / "file"
    taken.write_text("")
    for out in (taken, taken / "sub"):
        code, _, err = run(capsys, "demo", "--out", out, "--restarts", 1)
        assert code == 2
        assert len(err.splitlines()) == 1 and "relu-convex demo: error: --out: " in err and "Errno" not in err


# -- scikit-learn ---------------------------------------------------------------------------------


def test_validate_without_sklearn_is_refused_naming_the_extra(tmp_path, capsys, no_sklearn):
    code, out, err = run(capsys, "validate", "--out", tmp_path / "r", "--quiet")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert "need scikit-learn, which is not installed: pip install 'relu-convex[sklearn]'" in err
    assert "sklearn:iris" in err
    assert not (tmp_path / "r").exists()
    # datasets that need no extra still run
    code, _, _ = run(capsys, "validate", "--datasets", "gallery:xor", "--out", tmp_path / "r", *FAST)
    assert code == 0


def test_a_record_of_an_sklearn_dataset_without_sklearn_names_the_extra(no_sklearn):
    rec = run_problem(ProblemSpec("sklearn:iris", 1e-2, "C-GReLU", 5, max_samples=20), CheckConfig(baselines=()))
    assert not rec["passed"]
    assert "pip install 'relu-convex[sklearn]'" in rec["error"]


# -- errored records and unreadable data ----------------------------------------------------------


def test_an_unreadable_data_file_exits_2_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, A=np.ones((3, 2)), b=np.ones(3))
    code, out, err = run(capsys, "validate", "--datasets", bad, "--out", tmp_path / "r", "--quiet")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "must hold arrays X and y; missing X, y" in err
    assert not (tmp_path / "r").exists()


def test_errored_records_are_computed_again_on_resume(tmp_path):
    data = tmp_path / "data.npz"
    np.savez(data, A=np.ones((3, 2)))  # wrong keys: every problem of this file errors
    specs = [ProblemSpec(f"file:{data}", lam, "C-GReLU", 5) for lam in (1e-2, 1e-1)]
    specs.append(ProblemSpec("gallery:xor", 1e-3, "C-GReLU", "exact"))
    config = CheckConfig(baselines=())
    first = run_suite(specs, config, tmp_path / "r", progress=False)
    assert first.computed == 3
    assert [bool(r["error"]) for r in first.records] == [True, True, False]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    np.savez(data, X=X, y=X[:, 0])  # the cause is fixed
    seen = []
    second = run_suite(specs, config, tmp_path / "r", progress=False, on_record=lambda r: seen.append(r["id"]))
    assert second.computed == 2 and sorted(seen) == sorted(s.id for s in specs[:2])
    assert all(r["error"] is None and r["passed"] for r in second.records)
    assert len(RecordStore(tmp_path / "r").read_records()) == 3  # the last record of an id wins
    third = run_suite(specs, config, tmp_path / "r", progress=False)
    assert third.computed == 0 and third.complete


def test_an_honest_failure_is_kept_on_resume(tmp_path):
    specs = [ProblemSpec("gallery:gated-tiny", 5e-2, "C-GReLU", "exact")]
    config = CheckConfig(solvers=("clarabel", "ecos"), rtol=0.0, baselines=())
    first = run_suite(specs, config, tmp_path, progress=False)
    assert first.computed == 1 and not first.records[0]["passed"] and first.records[0]["error"] is None
    second = run_suite(specs, config, tmp_path, progress=False)
    assert second.computed == 0 and second.records == first.records


def test_resume_from_the_command_line_recomputes_errors_after_the_fix(tmp_path, capsys, monkeypatch):
    import relu_convex.validation.checks as checks

    real = checks.build_problem

    def broken(spec):
        raise RuntimeError("a crash")

    monkeypatch.setattr(checks, "build_problem", broken)
    args = ["validate", "--datasets", "gallery:xor", "--programs", "grelu", "--out", tmp_path, *FAST]
    code, out, _ = run(capsys, *args)
    assert code == 1 and "FAIL: RuntimeError" in out
    monkeypatch.setattr(checks, "build_problem", real)
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "1/1 problems passed, 0 failed; run complete; 1 computed now" in out
