"""Re-solving some methods of a finished run against its stored references."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relu_convex.validation import CheckConfig, dataset_suite, run_problem, run_suite
from relu_convex.validation.checks import resolve_methods

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")

ROOT = Path(__file__).resolve().parents[1]


def _config(**kw):
    return CheckConfig(solvers=("clarabel", "fista", "al"), baselines=(), **kw)


def _specs():
    return dataset_suite(["sklearn:iris"], lams=(1e-2,), programs=("C-GReLU", "C-ReLU"), patterns=8, max_samples=30)


def test_resolve_replaces_only_the_named_method_and_keeps_the_reference():
    spec = _specs()[1]  # C-ReLU, three one-vs-all outputs
    config = _config(time_limit=1e-6)  # al is cut short: its entry fails
    old = run_problem(spec, config)
    assert old["error"] is None and not old["passed"]
    new = resolve_methods(old, ["al"], _config())  # now without the limit
    by_name = {m["method"]: m for m in new["methods"]}
    assert [m["method"] for m in new["methods"]] == [m["method"] for m in old["methods"]]
    assert by_name["clarabel"] == next(m for m in old["methods"] if m["method"] == "clarabel")
    assert by_name["al"]["status"] == "optimal" and by_name["al"]["passed"]
    assert by_name["al"]["rel_diff"] <= 1e-5
    assert new["passed"] and new["rerun"]["methods"] == ["al"]
    assert not old["passed"]  # the input record is left as it was


def test_resolve_refuses_the_reference():
    old = run_problem(_specs()[0], _config())
    with pytest.raises(ValueError, match="reference"):
        resolve_methods(old, ["clarabel"], _config())


def test_script_reruns_a_run_folder_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    run_suite(_specs(), _config(time_limit=1e-6), run_dir, progress=False)
    out = tmp_path / "rerun.jsonl"
    cmd = [sys.executable, str(ROOT / "validation" / "rerun_methods.py"), str(run_dir), "--methods", "al",
           "--program", "C-ReLU", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["program"] == "C-ReLU"
    assert {m["method"]: m for m in lines[0]["methods"]}["al"]["time"] > 1e-3  # solved again, not copied
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and "0 problems to re-solve (1 already" in again.stdout
    assert len(out.read_text().splitlines()) == 1


def test_script_refuses_a_folder_that_is_not_a_run(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "validation" / "rerun_methods.py"), str(tmp_path),
                           "--methods", "al", "--out", str(tmp_path / "x.jsonl")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "not a readable validate run" in proc.stderr
    assert "Traceback" not in proc.stderr
