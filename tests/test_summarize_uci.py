"""validation/summarize_uci.py: agreement counts and time ratios from record files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))

import summarize_uci  # noqa: E402


def _record(dataset, lam, program, ref_obj, ref_time, method, obj, time, status="optimal", ref_status="optimal"):
    return {
        "id": f"{dataset}|{lam}|{program}", "program": program, "reference": "clarabel",
        "spec": {"dataset": dataset, "lam": lam},
        "methods": [
            {"method": "clarabel", "status": ref_status, "objective": ref_obj, "time": ref_time},
            {"method": "mosek", "status": "skipped", "objective": None, "time": None},
            {"method": method, "status": status, "objective": obj, "time": time},
        ],
    }


def test_counts_agreement_and_ratios(tmp_path, capsys):
    recs = [
        _record("a", 1e-3, "C-GReLU", 1.0, 1.0, "fista", 1.0 + 1e-7, 2.0),
        _record("b", 1e-3, "C-GReLU", 1.0, 1.0, "fista", 1.0 + 1e-3, 0.5, status="time_limit"),
        _record("c", 1e-2, "C-GReLU", 2.0, 2.0, "fista", 2.0, 8.0),
        _record("d", 1e-2, "C-ReLU", 1.0, 1.0, "al", 0.9, 1.0, ref_status="time_limit"),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    table, no_ref = summarize_uci.rows(summarize_uci.load(path), 1e-5)
    assert len(table) == 1  # the al problem has no finished reference
    row = table[0]
    assert (row["method"], row["problems"], row["agree"], row["optimal"], row["faster"]) == ("fista", 3, 2, 2, 1)
    assert row["median_ratio"] == 2.0 and row["worst_ratio"] == 4.0
    assert row["agree_faster"] == 0 and row["median_ratio_agree"] == 3.0  # agreeing: ratios 2 and 4
    assert row["by_lam"] == {1e-3: (1, 2), 1e-2: (1, 1)}
    assert no_ref == {"C-ReLU": 1}
    assert summarize_uci.main([str(path)]) == 0
    assert "| fista | C-GReLU | 3 | 2 | 2 | 1 | 0 | 2x | 4x | 3x |" in capsys.readouterr().out
