"""Summarize a ``relu-convex validate`` record file: agreement with the reference and time ratios.

For every (program, method) pair other than the reference it prints the number of
problems, how many agree with the reference objective within ``--rtol`` (default
1e-5, relative), how many end ``optimal``, how many finish before the reference (in
all, and among those that agree), and the median and worst ratio of the method's
solve time to the reference's on the same problem (and the median over the problems
that agree); then the agreement per lam. Problems whose reference did not end ``optimal`` are counted apart (no
agreement is claimed against them). ``--before FILE`` adds the same figures for an
earlier record file restricted to the problems both files hold, and ``--profile PNG``
writes the performance profile of the records.

    python validation/summarize_uci.py validation/results/uci-full/records.jsonl --profile validation/figures/uci_full_profile.png
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from relu_convex.validation.runner import read_records


def load(path) -> dict[str, dict]:
    """Records by problem id (the last record of an id wins); an error if the file is missing."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no record file {path}")
    return read_records(path)


def _reference(rec: dict) -> dict | None:
    return next((m for m in rec["methods"] if m["method"] == rec["reference"]), None)


def rows(records: dict[str, dict], rtol: float) -> tuple[list[dict], dict]:
    """One row per (program, method) with counts and time ratios; and counts of unusable references."""
    groups: dict[tuple, list] = defaultdict(list)
    no_ref: dict[str, int] = defaultdict(int)
    for rec in records.values():
        ref = _reference(rec)
        if ref is None or ref["status"] != "optimal" or ref["objective"] is None:
            no_ref[rec["program"]] += 1
            continue
        for m in rec["methods"]:
            if m["method"] == rec["reference"] or (m.get("objective") is None and m.get("status") in (None, "skipped")):
                continue
            groups[(rec["program"], m["method"])].append((rec, m, ref))
    out = []
    for (program, method), items in sorted(groups.items()):
        agree = [abs(m["objective"] - ref["objective"]) <= rtol * abs(ref["objective"])
                 if m.get("objective") is not None else False for _, m, ref in items]
        timed = [(m["time"] / ref["time"], ok) for (_, m, ref), ok in zip(items, agree, strict=True)
                 if m.get("time") and ref.get("time")]
        ratios = np.array([r for r, _ in timed])
        ratios_ok = np.array([r for r, ok in timed if ok])
        by_lam: dict[float, list] = defaultdict(list)
        for (rec, _, _), ok in zip(items, agree, strict=True):
            by_lam[round(rec["spec"]["lam"], 12)].append(ok)
        out.append({
            "program": program, "method": method, "problems": len(items), "agree": int(sum(agree)),
            "optimal": sum(m["status"] == "optimal" for _, m, _ in items),
            "median_ratio": float(np.median(ratios)) if ratios.size else float("nan"),
            "worst_ratio": float(np.max(ratios)) if ratios.size else float("nan"),
            "faster": int(np.sum(ratios < 1.0)),
            "agree_faster": int(np.sum(ratios_ok < 1.0)),
            "median_ratio_agree": float(np.median(ratios_ok)) if ratios_ok.size else float("nan"),
            "by_lam": {lam: (int(sum(v)), len(v)) for lam, v in sorted(by_lam.items())},
        })
    return out, dict(no_ref)


def markdown(table: list[dict], rtol: float) -> str:
    lines = [f"| method | program | problems | within {rtol:g} of Clarabel | status optimal | faster than Clarabel "
             f"| within {rtol:g} and faster | median time / Clarabel | worst time / Clarabel "
             f"| median time / Clarabel, within {rtol:g} |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in table:
        lines.append(f"| {r['method']} | {r['program']} | {r['problems']} | {r['agree']} | {r['optimal']} | {r['faster']} "
                     f"| {r['agree_faster']} | {r['median_ratio']:.3g}x | {r['worst_ratio']:.3g}x "
                     f"| {r['median_ratio_agree']:.3g}x |")
    lines.append("")
    for r in table:
        parts = ", ".join(f"{lam:.3g}: {a}/{n}" for lam, (a, n) in r["by_lam"].items())
        lines.append(f"- {r['method']} ({r['program']}) agreement by lam: {parts}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--before", default=None, help="an earlier record file to compare on the common problems")
    ap.add_argument("--profile", default=None, help="write the performance profile PNG here")
    ap.add_argument("--profile-tol", type=float, default=1e-3)
    args = ap.parse_args(argv)
    records = load(args.records)
    datasets = sorted({r["spec"]["dataset"] for r in records.values()})
    print(f"{len(records)} problems, {len(datasets)} datasets, from {args.records}\n")
    table, no_ref = rows(records, args.rtol)
    print(markdown(table, args.rtol))
    if no_ref:
        print("\nproblems without an optimal reference (not counted above): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(no_ref.items())))
    if args.before:
        before = load(args.before)
        common = sorted(set(before) & set(records))
        print(f"\n## The {len(common)} problems both files hold\n")
        for name, recs in (("before", before), ("now", records)):
            t, _ = rows({k: recs[k] for k in common}, args.rtol)
            print(f"### {name} ({args.before if name == 'before' else args.records})\n")
            print(markdown(t, args.rtol) + "\n")
    if args.profile:
        from relu_convex.validation.report import plot_profile

        path = plot_profile(list(records.values()), Path(args.profile), tol=args.profile_tol,
                            title=f"UCI: {len(datasets)} datasets, {len(records)} problems")
        print(f"\nprofile: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
