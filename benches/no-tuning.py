#!/usr/bin/env python3
"""The "No tuning" benchmark of BENCHMARKS.md: a policy with only
target_wait, message_cost, task_startup and the bounds, on every trace in
../shared/traces (or --traces DIR), at several (wait, startup) pairs, next
to the cheapest alternative tuned in hindsight by `simulate --compare`
(fixed fleet, KEDA + HPA, AWS target tracking; the naive rule is shown by
--compare but, as in peer-models.md, is a yardstick, not a product).

usage (from the project root, after `cargo build --release`):
  benches/no-tuning.py [--pairs 60:60,120:30,300:180] [--traces DIR] [--csv FILE]
  benches/no-tuning.py --ours-only --pairs 600:120,180:20   # our runs alone:
      p99 and cost, no alternative tuned (seconds instead of minutes)

Settings as in peer-models.md: concurrency 1, min 1, max 300, one task at
t = 0, S such that the peak bucket needs 100 busy tasks. Goal per run: p99
within 5% of the wait, at no more than the cheapest alternative's cost or
within 5% of the work. Exit 1 when a run falls short.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

from bench_settings import secs, service_time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="60:60,120:30,300:180")
    ap.add_argument("--traces", default=os.path.join(HERE, "..", "..", "shared", "traces"))
    ap.add_argument("--bin", default="target/release/backlog-scaler")
    ap.add_argument("--csv")
    ap.add_argument("--ours-only", action="store_true",
                    help="skip --compare: our p99 and cost only; the goal checked is the wait")
    a = ap.parse_args()
    pairs = [tuple(int(x) for x in p.split(":")) for p in a.pairs.split(",")]
    traces = sorted(f for f in os.listdir(a.traces) if f.endswith(".csv"))
    tmp = tempfile.mkdtemp()
    rows, short = [], 0
    if a.ours_only:
        print(f"{'W s':>4} {'U s':>4} {'trace':42} {'p99 s':>7} {'ours':>7}")
    else:
        print(f"{'W s':>4} {'U s':>4} {'trace':42} {'p99 s':>7} {'ours':>7} {'cheapest':>18} {'ratio':>6}")
    for wait, startup in pairs:
        for trace in traces:
            path = os.path.join(a.traces, trace)
            s = secs(service_time(path))
            pol = os.path.join(tmp, "slo.yaml")
            with open(pol, "w") as f:
                f.write(f"name: slo\ncluster: c\nservice: s\nqueues: [q]\ntarget_wait: {wait}s\n"
                        f"message_cost: {s}s\ntask_startup: {startup}s\nmin_tasks: 1\nmax_tasks: 300\n")
            p = subprocess.run([a.bin, "simulate", "--policies", pol, "--policy", "slo", "--trace", path,
                                "--service-time", s, "--startup", f"{startup}s", "--initial-tasks", "1",
                                "--wait-target", f"{wait}s", "--json"]
                               + ([] if a.ours_only else ["--compare"]),
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"simulate failed on {trace}: {p.stderr.strip()[-400:]}")
            d = json.loads(p.stdout)
            if a.ours_only:
                p99, cost = d["wait_p99_s"], d["cost_ratio"]
                ok = p99 <= 1.05 * wait
                short += not ok
                print(f"{wait:4} {startup:4} {trace[:-4]:42} {p99:7.1f} {cost:6.2f}x"
                      f" {'wait met' if ok else 'WAIT MISSED'}", flush=True)
                rows.append(dict(wait_s=wait, startup_s=startup, trace=trace, p99_s=round(p99, 3),
                                 cost_ratio=round(cost, 4), ok=ok))
                continue
            ours = d["policy"]["summary"]
            met = [x for x in d["alternatives"] if x["summary"] and x["alternative"] != "naive"]
            best = min(met, key=lambda x: x["summary"]["cost_ratio"]) if met else None
            alt = best["summary"]["cost_ratio"] if best else float("inf")
            who = f"{best['alternative']} {best['knob']:g}" if best else "none meets"
            p99, cost = ours["wait_p99_s"], ours["cost_ratio"]
            ok = p99 <= 1.05 * wait and (cost <= alt or cost <= 1.05)
            short += not ok
            ratio = cost / alt if best else 0.0
            print(f"{wait:4} {startup:4} {trace[:-4]:42} {p99:7.1f} {cost:6.2f}x {alt:7.2f}x {who:>10}"
                  f" {ratio:6.2f} {'ok' if ok else 'SHORT'}", flush=True)
            rows.append(dict(wait_s=wait, startup_s=startup, trace=trace, p99_s=round(p99, 3),
                             cost_ratio=round(cost, 4), cheapest=who, cheapest_cost_ratio=round(alt, 4),
                             ok=ok))
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    sys.exit(1 if short else 0)


if __name__ == "__main__":
    main()
