#!/usr/bin/env python3
"""The tuned benchmark at other waits and startups: a policy file's
`target_backlog_per_task` swept over the peers' 96 values (1 to 10,000) at
each (wait, startup) pair, the cheapest value whose p99 meets the wait,
against the cheapest alternative tuned in hindsight at that pair, as
`benches/no-tuning.py` recorded it (its CSV).

usage (from the project root, after `cargo build --release`):
  benches/tuned-pairs.py --policy-file benches/sim-policy.yaml --pairs 120:30,300:180
  benches/tuned-pairs.py ... --state-settings   # write each pair's wait and
                                                # startup into the file's
                                                # target_wait and task_startup
Options: --bin, --traces (default ../shared/traces), --alternatives (default
benches/no-tuning.csv; the synthetic traces' is benches/no-tuning-synthetic.csv).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_settings import secs, service_time  # noqa: E402


def grid(n=96, lo=1.0, hi=10000.0):
    return sorted({float(f"{lo * (hi / lo) ** (k / (n - 1)):.3g}") for k in range(n)})


def stated(text, wait, startup):
    """The policy text with the pair's wait and startup written in."""
    for key, value in (("target_wait", wait), ("task_startup", startup)):
        text, n = re.subn(rf"(?m)^{key}:.*$", f"{key}: {value}s", text)
        if n != 1:
            sys.exit(f"--state-settings: the policy file must have one `{key}:` line")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy-file", required=True)
    ap.add_argument("--policy", default="bench")
    ap.add_argument("--pairs", required=True, help="WAIT:STARTUP in seconds, comma-separated")
    ap.add_argument("--state-settings", action="store_true")
    ap.add_argument("--bin", default="target/release/backlog-scaler")
    ap.add_argument("--traces", default="../shared/traces")
    ap.add_argument("--alternatives", default="benches/no-tuning.csv")
    a = ap.parse_args()
    cheapest = {}
    for r in csv.DictReader(open(a.alternatives)):
        key = (int(float(r["wait_s"])), int(float(r["startup_s"])), r["trace"])
        cheapest[key] = (float(r["cheapest_cost_ratio"]), r["cheapest"])
    values = ",".join(f"{g:g}" for g in grid())
    tmp = tempfile.mkdtemp()
    text = open(a.policy_file).read()
    print(f"{'wait':>5} {'startup':>7} {'trace':45} {'p99 s':>7} {'ours':>7} {'cheapest alternative':>24} {'ratio':>6}")
    for pair in a.pairs.split(","):
        wait, startup = (int(x) for x in pair.split(":"))
        policy_file = a.policy_file
        if a.state_settings:
            policy_file = os.path.join(tmp, f"policy-{wait}-{startup}.yaml")
            open(policy_file, "w").write(stated(text, wait, startup))
        for trace in sorted(f for f in os.listdir(a.traces) if f.endswith(".csv")):
            path = os.path.join(a.traces, trace)
            p = subprocess.run(
                [a.bin, "simulate", "--policies", policy_file, "--policy", a.policy, "--trace", path,
                 "--service-time", secs(service_time(path)), "--startup", f"{startup}s", "--initial-tasks", "1",
                 "--wait-target", f"{wait}s", "--json", "--sweep", f"target_backlog_per_task={values}"],
                capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"simulate failed ({p.returncode}): {p.stderr.strip()[-400:]}")
            meeting = [r for r in json.loads(p.stdout)["runs"] if r["wait_p99_s"] <= wait]
            alt, who = cheapest.get((wait, startup, trace), (float("nan"), "-"))
            if not meeting:
                print(f"{wait:5} {startup:7} {trace:45} cannot meet {wait} s", flush=True)
                continue
            best = min(meeting, key=lambda r: r["cost_ratio"])
            print(f"{wait:5} {startup:7} {trace:45} {best['wait_p99_s']:7.1f} {best['cost_ratio']:6.3f}x "
                  f"{alt:9.3f}x ({who:>12}) {best['cost_ratio'] / alt:6.2f}", flush=True)


if __name__ == "__main__":
    main()
