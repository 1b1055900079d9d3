"""``relu-convex validate``: exit codes, messages and reports, bad input included."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from relu_convex.cli import main
from relu_convex.validation import read_suite_file
from relu_convex.validation.suites import ProblemSpec, load_data

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")

UCI = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
FAST = ["--solvers", "clarabel,ecos", "--no-baselines", "--quiet", "--workers", "1"]


def run(capsys, *argv):
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_report(out_dir: Path):
    assert not (out_dir / "report.md").exists()
    assert not (out_dir / "records.jsonl").exists()


def test_small_run_passes_and_writes_a_complete_report(tmp_path, capsys):
    code, out, _ = run(capsys, "--datasets", "gallery:xor", "--out", str(tmp_path), *FAST)
    assert code == 0
    assert "2/2 problems passed, 0 failed; run complete" in out
    assert out.count("PASS") == 4  # two solvers on two programs
    report = (tmp_path / "report.md").read_text()
    assert "**Status: COMPLETE**" in report
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 2


def test_failed_check_exits_1(tmp_path, capsys, monkeypatch):
    import relu_convex.cli.validate as cli_validate

    strict = cli_validate.CheckConfig
    monkeypatch.setattr(cli_validate, "CheckConfig", lambda **kw: strict(rtol=0.0, **kw))
    code, out, _ = run(capsys, "--datasets", "gallery:gated-tiny", "--programs", "grelu", "--out", str(tmp_path), *FAST)
    assert code == 1
    assert "FAIL: objective" in out
    assert "## Failures" in (tmp_path / "report.md").read_text()


def test_limit_leaves_the_report_marked_incomplete(tmp_path, capsys):
    code, out, _ = run(capsys, "--datasets", "gallery:xor,gallery:gated-tiny", "--limit", "1", "--out", str(tmp_path), *FAST)
    assert code == 0
    assert "INCOMPLETE (1/4 problems)" in out
    assert "INCOMPLETE: 1 of 4 problems" in (tmp_path / "report.md").read_text()
    code, out, _ = run(capsys, "--datasets", "gallery:xor,gallery:gated-tiny", "--resume", "--out", str(tmp_path), *FAST)
    assert code == 0 and "run complete; 3 computed now" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--datasets", "iris,no-such-data"], "unknown dataset(s): no-such-data"),
        (["--suite", "uci"], "--suite uci needs --data-dir"),
        (["--data-dir", "/no/such/folder"], "is not a folder"),
        (["--solvers", "clarabel,bogus"], "solver 'bogus' is unknown"),
        (["--lams", "1e-3,abc"], "--lams: expected comma-separated numbers"),
        (["--programs", "relu,nc"], "--programs"),
        (["--patterns", "0"], "--patterns must be a positive integer"),
        (["--resume"], "has no records of this configuration"),
        (["--time-limit", "0"], "--time-limit must be > 0 seconds"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, argv, message):
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert_no_report(tmp_path / "r")


def test_unreachable_scheduler_fails_fast(tmp_path, capsys):
    start = time.perf_counter()
    out_dir = tmp_path / "r"
    code, _, err = run(capsys, "--datasets", "gallery:xor", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out_dir), *FAST)
    assert code == 2
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in err
    assert time.perf_counter() - start < 60
    assert_no_report(tmp_path / "r")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("s.json", "{not json", "is not valid JSON"),
        ("s.json", json.dumps({"datasets": ["iris"], "lamdas": [1]}), "unknown keys ['lamdas']"),
        ("s.json", json.dumps({"sets": ["iris"]}), "must hold a list of dataset names"),
        ("s.json", json.dumps({"datasets": ["iris"], "lams": [-1]}), "lams must be"),
        ("s.txt", "iris 1e-3,x\n", "s.txt:1: lam values must be numbers"),
        ("s.txt", "iris 1e-3 extra\n", "expected 'DATASET [LAM,LAM,...]'"),
        ("s.txt", "# nothing\n", "names no datasets"),
        ("s.txt", "mystery\n", "unknown dataset(s): mystery"),
        ("s.bin", b"\xff\xfe\x00\x81", "cannot read"),
    ],
)
def test_malformed_suite_files_exit_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = run(capsys, "--suite", str(path), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2 and message in err
    assert_no_report(tmp_path / "r")


def test_missing_suite_file_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "--suite", str(tmp_path / "absent.json"), "--out", str(tmp_path / "r"))
    assert code == 2 and "cannot read" in err


def test_suite_files_in_both_formats(tmp_path):
    js = tmp_path / "suite.json"
    js.write_text(json.dumps({"datasets": ["gallery:xor", "iris"], "lams": [0.01, 0.1], "programs": ["C-GReLU"],
                              "patterns": 6, "max_samples": 20, "seed": 3}))
    specs = read_suite_file(js)
    assert [s.dataset for s in specs] == ["gallery:xor", "sklearn:iris", "sklearn:iris"]
    assert {s.program for s in specs} == {"C-GReLU"}
    assert [s.lam for s in specs[1:]] == [0.01, 0.1]
    assert specs[1].patterns == 6 and specs[1].max_samples == 20 and specs[1].seed == 3
    assert specs[0].patterns == "exact"
    txt = tmp_path / "suite.txt"
    data = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.standard_normal((15, 3)), y=rng.standard_normal(15))
    txt.write_text(f"# my problems\nwine 1e-3,1e-2\n{data}   # a file\n")
    specs = read_suite_file(txt, lams=(0.5,), patterns=7)
    assert [(s.dataset, s.lam) for s in specs if s.program == "C-ReLU"] == [
        ("sklearn:wine", 1e-3), ("sklearn:wine", 1e-2), (f"file:{data}", 0.5)]
    X, y = load_data(specs[-1])
    assert X.shape == (15, 4) and np.all(X[:, -1] == 1.0)


def test_sklearn_targets_are_encoded():
    X, y = load_data(ProblemSpec("sklearn:wine", 1e-2, "C-ReLU", 5, max_samples=40))
    assert X.shape == (40, 14) and y.shape == (40, 3)
    assert set(np.unique(y)) == {-1.0, 1.0} and np.all((y == 1).sum(axis=1) == 1)
    X, y = load_data(ProblemSpec("sklearn:breast_cancer", 1e-2, "C-ReLU", 5))
    assert y.ndim == 1 and set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_allclose(X[:, :-1].mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.skipif(not (UCI / "lists.json").is_file(), reason="the UCI folder is not available")
def test_uci_suite_uses_the_training_split_and_one_vs_all_targets(tmp_path, capsys):
    spec = ProblemSpec("uci:teaching", 1e-2, "C-GReLU", 5, data_dir=str(UCI))
    X, y = load_data(spec)
    with np.load(UCI / "teaching.npz") as z:
        n_train, classes = z["train_idx"].size, np.unique(z["y"]).size
    assert X.shape[0] == n_train and y.shape == (n_train, classes)
    assert np.all((y == 1).sum(axis=1) == 1)
    code, out, _ = run(capsys, "--suite", "uci", "--data-dir", str(UCI), "--datasets", "monks-3", "--lams", "1e-2",
                       "--patterns", "8", "--out", str(tmp_path), *FAST)
    assert code == 0 and "uci:monks-3" in out
    code, _, err = run(capsys, "--suite", "uci", "--data-dir", str(UCI), "--datasets", "monks-3,not-a-uci-set",
                       "--out", str(tmp_path / "r"), *FAST)
    assert code == 2 and "not-a-uci-set" in err


def test_runnable_as_python_m_validation(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "validation", "--datasets", "gallery:xor", "--programs", "grelu",
                           "--out", str(tmp_path), *FAST], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1/1 problems passed" in proc.stdout
    assert json.loads((tmp_path / "run.json").read_text())["complete"] is True


@pytest.mark.slow
def test_quick_suite_passes(tmp_path, capsys):
    code, out, _ = run(capsys, "--out", str(tmp_path), "--quiet")
    assert code == 0, out
    from relu_convex.validation import quick_suite

    total = len(quick_suite())
    assert f"{total}/{total} problems passed, 0 failed; run complete" in out
    assert (tmp_path / "performance_profile.png").is_file()


def test_json_summary_and_stale_reports(tmp_path, capsys):
    code, out, _ = run(capsys, "--datasets", "gallery:xor", "--programs", "grelu", "--out", str(tmp_path), "--json", *FAST)
    summary = json.loads(out)
    assert code == 0 and summary["complete"] is True and summary["passed"] == summary["total"] == 1
    assert summary["methods"]["ecos"] == {"runs": 1, "passed": 1}
    # a run with other settings into the same folder is refused, and the old report stays as it was
    before = (tmp_path / "report.md").read_text()
    code, _, err = run(capsys, "--datasets", "gallery:xor", "--programs", "grelu", "--out", str(tmp_path), *FAST,
                       "--tol", "1e-7")
    assert code == 2 and "another configuration" in err
    assert (tmp_path / "report.md").read_text() == before
    # the same settings with another problem list reuse the shared record and report the new list
    code, out, _ = run(capsys, "--datasets", "gallery:xor", "--out", str(tmp_path), "--json", *FAST)
    summary = json.loads(out)
    assert code == 0 and summary["complete"] is True and summary["total"] == 2 and summary["computed"] == 1


def test_time_limit_applies_to_the_first_order_solvers_only():
    from relu_convex.validation.checks import CheckConfig

    config = CheckConfig(solvers=("clarabel", "fista", "al"), time_limit=2.5)
    assert config.solver_options("fista")["time_limit"] == 2.5
    assert config.solver_options("al")["time_limit"] == 2.5
    assert "time_limit" not in config.solver_options("clarabel")  # the reference must finish
    # runs recorded without the option keep their digest
    assert "time_limit" not in CheckConfig(solvers=("clarabel",)).to_dict()
    assert CheckConfig(solvers=("clarabel",)).digest([]) != CheckConfig(solvers=("clarabel",), time_limit=1.0).digest([])
