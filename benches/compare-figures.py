#!/usr/bin/env python3
"""`simulate --compare` on the six shared traces at the benchmark's settings
(wait 60 s, startup 60 s, concurrency 1, min 1, max 300, one task at t=0,
S per trace so the peak bucket needs 100 busy tasks), timed, and set beside
the peers' published figures.

usage (from the project root, after `cargo build --release`):
  benches/compare-figures.py [--bin target/release/backlog-scaler]
      [--traces ../shared/traces] [--peer ../shared/peer-figures.csv]
      [--out benches/compare-figures.csv] [trace.csv ...]

Writes one CSV row per trace and controller: our knob and cost ratio, the
peer's, the difference in percent, the p99 wait, and the wall time of the
whole --compare for that trace. Exit 1 when a figure is more than 1% off or
one side meets the target where the other cannot.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

from bench_settings import secs, service_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/backlog-scaler")
    ap.add_argument("--traces", default="../shared/traces")
    ap.add_argument("--peer", default="../shared/peer-figures.csv")
    ap.add_argument("--out", default="benches/compare-figures.csv")
    ap.add_argument("only", nargs="*")
    a = ap.parse_args()
    peer = {}
    order = []
    for r in csv.DictReader(open(a.peer)):
        peer[(r["trace"], r["alternative"])] = r
        if r["trace"] not in order:
            order.append(r["trace"])
    if a.only:
        order = [t for t in order if t in a.only]
    rows, off = [], 0
    for trace in order:
        path = os.path.join(a.traces, trace)
        s = service_time(path)
        cmd = [a.bin, "simulate", "--policies", "benches/sim-policy-lookahead.yaml", "--policy", "bench",
               "--trace", path, "--service-time", secs(s), "--startup", "60s", "--initial-tasks", "1",
               "--wait-target", "60s", "--compare", "--sweep", "target_backlog_per_task=1..10000:24",
               "--json"]
        start = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"{trace}: simulate failed ({p.returncode}): {p.stderr.strip()[-400:]}")
        c = json.loads(p.stdout)
        ours = c["policy"]["summary"]
        rows.append({"trace": trace, "controller": "backlog-scaler", "knob": c["policy"]["value"],
                     "cost_ratio": ours and round(ours["cost_ratio"], 4),
                     "wait_p99_s": ours and ours["wait_p99_s"], "peer_knob": "", "peer_cost_ratio": "",
                     "diff_pct": "", "wall_s": round(wall, 1)})
        for alt in c["alternatives"]:
            name = alt["alternative"]
            mine = alt["summary"]
            ref = peer[(trace, name)]
            ref_cost = float(ref["cost_ratio"]) if ref["cost_ratio"] else None
            cost = mine["cost_ratio"] if mine else None
            if cost is None or ref_cost is None:
                diff = "" if cost is None and ref_cost is None else "one side cannot meet"
                off += diff != ""
            else:
                d = 100.0 * (cost - ref_cost) / ref_cost
                diff = round(d, 2)
                off += abs(d) > 1.0
            rows.append({"trace": trace, "controller": name, "knob": alt["knob"],
                         "cost_ratio": cost and round(cost, 4), "wait_p99_s": mine and mine["wait_p99_s"],
                         "peer_knob": ref["best_knob"], "peer_cost_ratio": ref["cost_ratio"],
                         "diff_pct": diff, "wall_s": round(wall, 1)})
        print(f"{trace}: {wall:.1f} s", file=sys.stderr)
        for r in rows[-5:]:
            print(f"  {r['controller']:20} knob {r['knob']!s:>8} cost {r['cost_ratio']!s:>8} "
                  f"peer {r['peer_knob']!s:>6} {r['peer_cost_ratio']!s:>8} diff {r['diff_pct']}", file=sys.stderr)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    sys.exit(1 if off else 0)


if __name__ == "__main__":
    main()
