"""The suite runner: records, resuming, Dask execution, reports."""

import json

import numpy as np
import pytest

from relu_convex.validation import CheckConfig, ProblemSpec, RecordStore, dataset_suite, run_problem, run_suite
from relu_convex.validation.report import format_table, performance_profile, write_report

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")

TIMING_KEYS = {"time", "grid_time", "wall_time"}


def small_suite():
    specs = dataset_suite(["gallery:xor", "gallery:gated-tiny"], lams=(), programs=("C-GReLU", "C-ReLU"))
    specs += dataset_suite(["sklearn:iris"], lams=(1e-2,), programs=("C-GReLU", "C-ReLU"), patterns=8, max_samples=30)
    return specs


def small_config(**kw):
    return CheckConfig(solvers=("clarabel", "ecos"), nc_epochs=3, nc_step_sizes=(0.1, 0.01), **kw)


def strip(value):
    """Drop the timing fields, which differ between runs."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def test_record_cross_checks_every_solver_against_the_reference():
    spec = ProblemSpec("gallery:xor", 1e-3, "C-ReLU", "exact")
    rec = run_problem(spec, small_config())
    assert rec["error"] is None and rec["passed"]
    methods = {m["method"]: m for m in rec["methods"]}
    assert set(methods) == {"clarabel", "ecos"}
    assert methods["clarabel"]["checks"] == {"status": True, "objective": True, "gap": True, "cone": True, "stored": True}
    assert abs(methods["ecos"]["objective"] - rec["reference_objective"]) <= 1e-5 * rec["reference_objective"]
    assert abs(rec["reference_objective"] - rec["stored_optimum"]) <= 1e-6 * rec["stored_optimum"]
    assert [b["method"] for b in rec["baselines"]] == ["sgd", "adam"]
    for b in rec["baselines"]:
        assert b["objective"] is None or b["objective"] > 0
        assert b["width"] >= 1 and b["step_size"] in (0.1, 0.01)


def test_a_disagreeing_solver_fails_its_objective_check():
    rec = run_problem(ProblemSpec("gallery:gated-tiny", 5e-2, "C-GReLU", "exact"), small_config(rtol=0.0, baselines=()))
    ecos = next(m for m in rec["methods"] if m["method"] == "ecos")
    assert ecos["rel_diff"] > 0
    assert ecos["checks"]["objective"] is False and not ecos["passed"] and not rec["passed"]


def test_an_objective_failure_against_an_unconverged_reference_says_so(tmp_path):
    rec = run_problem(ProblemSpec("gallery:gated-tiny", 5e-2, "C-GReLU", "exact"), small_config(rtol=0.0, baselines=()))
    plain = format_table([rec])
    assert "FAIL: objective" in plain and "reference)" not in plain  # the reference converged: a plain objective failure
    rec["methods"][0]["status"] = "inaccurate"  # as when Clarabel stops short of its tolerance
    rec["methods"][0]["checks"]["status"] = False
    table = format_table([rec])
    assert "FAIL: objective (vs inaccurate reference)" in table  # the other solver's row
    assert "clarabel" in table and "FAIL: status" in table  # the reference's own row keeps its verdict
    write_report(tmp_path, [rec], total=1, complete=True, config=small_config(rtol=0.0, baselines=()).to_dict())
    assert "ecos: objective (vs inaccurate reference)" in (tmp_path / "report.md").read_text()  # and the failure list


def test_a_broken_problem_becomes_an_error_record(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive")
    rec = run_problem(ProblemSpec(f"file:{bad}", 1e-2, "C-GReLU", 5), small_config())
    assert rec["passed"] is False
    assert "cannot read" in rec["error"]


def test_local_and_dask_runs_give_the_same_records(tmp_path):
    distributed = pytest.importorskip("distributed")
    specs, config = small_suite(), small_config()
    local = run_suite(specs, config, tmp_path / "local", progress=False)
    assert local.complete and local.computed == len(specs)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = run_suite(specs, config, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert remote.complete and remote.computed == len(specs)
    assert [r["id"] for r in remote.records] == [r["id"] for r in local.records]
    assert strip(remote.records) == strip(local.records)
    on_disk = RecordStore(tmp_path / "dask").read_records()
    assert set(on_disk) == {s.id for s in specs}


def test_an_interrupted_run_resumes_without_recomputing_or_losing(tmp_path):
    specs, config = small_suite(), small_config(baselines=())
    first = run_suite(specs, config, tmp_path, limit=2, progress=False)
    assert first.computed == 2 and not first.complete
    assert json.loads((tmp_path / "run.json").read_text())["complete"] is False
    # a torn last line (a run killed mid-write) is ignored
    with open(tmp_path / "records.jsonl", "a") as fh:
        fh.write('{"id": "half a rec')
    seen = []
    second = run_suite(specs, config, tmp_path, progress=False, on_record=lambda r: seen.append(r["id"]))
    assert second.complete and second.computed == len(specs) - 2
    first_ids = {r["id"] for r in first.records}
    assert not first_ids & set(seen)  # nothing recomputed
    assert {r["id"] for r in second.records} == {s.id for s in specs}  # nothing lost
    for r in first.records:  # the earlier records are kept as they were
        assert next(x for x in second.records if x["id"] == r["id"]) == r
    assert json.loads((tmp_path / "run.json").read_text())["complete"] is True
    third = run_suite(specs, config, tmp_path, progress=False)
    assert third.computed == 0 and third.complete


def test_records_of_another_configuration_are_not_mixed(tmp_path):
    specs = small_suite()[:1]
    run_suite(specs, small_config(baselines=()), tmp_path, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        run_suite(specs, small_config(baselines=(), rtol=1e-4), tmp_path, progress=False)
    fresh = run_suite(specs, small_config(baselines=(), rtol=1e-4), tmp_path, fresh=True, progress=False)
    assert fresh.computed == 1


def test_report_marks_incomplete_runs_and_draws_the_profile(tmp_path):
    specs, config = small_suite(), small_config()
    outcome = run_suite(specs, config, tmp_path, limit=3, progress=False)
    path = write_report(tmp_path, outcome.records, total=outcome.total, complete=outcome.complete, config=config.to_dict())
    text = path.read_text()
    assert f"INCOMPLETE: 3 of {len(specs)} problems" in text
    assert (tmp_path / "performance_profile.png").stat().st_size > 1000
    table = format_table(outcome.records)
    assert table.count("PASS") == sum(m["passed"] for r in outcome.records for m in r["methods"])


def test_performance_profile_counts_solved_problems():
    def rec(program, ref, entries):
        methods = [{"method": m, "objective": o, "max_violation": v, "time": t, "status": "optimal"} for m, o, v, t in entries]
        return {"program": program, "reference_objective": ref, "error": None, "baselines": [], "methods": methods}

    records = [
        rec("C-ReLU", 1.0, [("a", 1.0, 0.0, 2.0), ("b", 1.1, 0.0, 1.0)]),
        rec("C-ReLU", 2.0, [("a", 2.0, 0.0, 3.0), ("b", 2.0, 1e-3, 1.0)]),  # b infeasible
        rec("C-GReLU", 1.0, [("a", 1.0, 0.0, 5.0)]),
    ]
    prof = performance_profile(records, "C-ReLU", tol=1e-3)
    np.testing.assert_array_equal(prof["a"], [2.0, 3.0])
    assert np.all(np.isinf(prof["b"]))
    assert list(performance_profile(records, "C-GReLU")) == ["a"]


def test_speed_table_compares_with_the_reference_on_solved_problems():
    from relu_convex.validation.benchmark import format_speed_table, speed_table

    def rec(ref, entries):
        methods = [{"method": m, "objective": o, "max_violation": 0.0, "time": t, "status": "optimal"} for m, o, t in entries]
        return {"program": "C-GReLU", "reference": "clarabel", "reference_objective": ref, "error": None,
                "baselines": [], "methods": methods}

    records = [rec(1.0, [("clarabel", 1.0, 2.0), ("fast", 1.0, 0.5)]), rec(1.0, [("clarabel", 1.0, 4.0), ("fast", 2.0, 0.1)])]
    rows = {r["method"]: r for r in speed_table(records)}
    assert rows["fast"]["solved"] == 1 and rows["fast"]["problems"] == 2
    assert rows["fast"]["median_ratio"] == pytest.approx(0.25)
    assert rows["clarabel"]["geomean_ratio"] == pytest.approx(1.0)
    assert "fast" in format_speed_table(list(rows.values()), markdown=True)


def test_same_settings_with_another_problem_list_reuse_records(tmp_path):
    specs, config = small_suite(), small_config(baselines=())
    first = run_suite(specs[:3], config, tmp_path, progress=False)
    assert first.complete and first.computed == 3
    seen = []
    # a different list (two of the earlier problems and the rest): only the new ones are computed
    second = run_suite(specs[1:], config, tmp_path, progress=False, on_record=lambda r: seen.append(r["id"]))
    assert second.complete and second.computed == len(specs) - 3
    assert set(seen) == {s.id for s in specs[3:]}
    for r in first.records[1:]:
        kept = next(x for x in second.records if x["id"] == r["id"])
        assert {k: v for k, v in kept.items() if k != "config_hash"} == {k: v for k, v in r.items() if k != "config_hash"}
    # and the restamped records are found again when that list is resumed
    third = run_suite(specs[1:], config, tmp_path, progress=False)
    assert third.computed == 0 and third.complete
    # other settings are still refused
    with pytest.raises(ValueError, match="another configuration"):
        run_suite(specs[1:], small_config(baselines=(), rtol=1e-4), tmp_path, progress=False)


def test_read_records_last_wins_skips_torn_lines_and_filters(tmp_path):
    from relu_convex.validation.runner import read_records

    path = tmp_path / "records.jsonl"
    assert read_records(path) == {}  # no file yet: nothing to resume
    path.write_text('{"id": "a", "v": 1, "config_hash": "h1"}\n\n{"id": "b", "v": 2, "config_hash": "h2"}\n'
                    '{"id": "a", "v": 3, "config_hash": "h1"}\n{"id": "c", "v"', encoding="utf-8")
    records = read_records(path)
    assert {k: r["v"] for k, r in records.items()} == {"a": 3, "b": 2}
    assert set(read_records(path, config_hash="h2")) == {"b"}
