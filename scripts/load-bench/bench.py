"""Load benchmark driver: 1,000 policies against the AWS emulator.

Run through ``scripts/load-bench.sh`` (which makes sure ``.venv`` exists);
``--help`` lists the options. What it does, in order:

1. starts ``moto_server`` on a free loopback port, with every ECS service's
   running count equal to its desired count (``MOTO_ECS_SERVICE_RUNNING``);
2. creates the fleet (queues with messages, clusters, services; ``fleet.py``)
   straight against the emulator;
3. starts the counting proxy (``proxy.py``) in front of the emulator;
4. writes one policy file per service and checks them with
   ``backlog-scaler validate``;
5. runs ``backlog-scaler run --dry-run`` against the proxy and follows its
   evaluation cycles as bursts of API calls separated by idle gaps (a cycle
   that never goes idle is cut after one poll interval and marked
   ``window``). At each cycle boundary it reads the CPU time of the
   controller, the emulator and the proxy from /proc, then scrapes the
   controller's ``/metrics`` (the scrape's own CPU is measured apart);
6. prints a markdown report: calls per cycle by operation (proxy, and the
   controller's ``backlog_scaler_aws_api_calls_total`` deltas beside them),
   cycle duration, CPU per cycle for each process, the controller's peak
   RSS, and the issue's targets.

Exit codes: 0 done; 1 setup failure or a process died; 2 bad arguments;
3 with ``--require-targets`` when a target is missed.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import fleet as fleet_mod
import procstat
import promtext
import report
from processes import SetupError, free_port, spawn, stop, wait_for_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REGION = "us-east-1"
MIB = 1024 * 1024
# The targets (steady state, per cycle).
RSS_TARGET_MIB = 30
CPU_TARGET_MS = 50
# DescribeServices takes at most this many services per call.
DESCRIBE_BATCH = 10
API_CALLS = "backlog_scaler_aws_api_calls_total"
CYCLES = "backlog_scaler_cycles_total"
DECISIONS = "backlog_scaler_decisions_total"
CYCLE_SECONDS_SUM = "backlog_scaler_cycle_duration_seconds_sum"
CYCLE_SECONDS_COUNT = "backlog_scaler_cycle_duration_seconds_count"


def log(message):
    print(f"[load-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/load-bench.sh",
        description="Run backlog-scaler against the AWS emulator with many policies and measure "
        "API calls, CPU and memory per evaluation cycle.",
    )
    parser.add_argument(
        "--binary",
        default=os.path.join(ROOT, "target", "release", "backlog-scaler"),
        help="the backlog-scaler to measure (default: target/release/backlog-scaler)",
    )
    parser.add_argument("--policies", type=int, default=1000, help="policies, queues and services (default 1000)")
    parser.add_argument("--services-per-cluster", type=int, default=10, help="default 10 (100 clusters)")
    parser.add_argument(
        "--desired", type=int, default=3, help="each service's desired (and running) count (default 3)"
    )
    parser.add_argument("--max-messages", type=int, default=40, help="most messages in one queue (varied 0..N)")
    parser.add_argument("--target", type=int, default=10, help="target_backlog_per_task of every policy")
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=60,
        help="poll_interval in seconds (default 60: the emulator answers a few dozen calls a second, "
        "so a cycle of 1,100 or more calls must fit in it)",
    )
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="cycles before measuring (default 1)")
    parser.add_argument(
        "--gap",
        type=float,
        default=None,
        help="seconds without a call that end a cycle (default: a quarter of the poll interval, at most 2)",
    )
    parser.add_argument("--log-level", default="info", help="the controller's --log-level (default info)")
    parser.add_argument("--max-concurrency", type=int, default=None, help="the controller's --max-concurrency")
    parser.add_argument(
        "--cloudwatch-namespace", default=None, help="also publish CloudWatch metrics (PutMetricData)"
    )
    parser.add_argument("--seed-threads", type=int, default=8, help="threads creating the fleet (default 8)")
    parser.add_argument("--work-dir", default=None, help="keep policies and logs here (default: a temp dir, removed)")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--require-targets", action="store_true", help="exit 3 if a target of the issue is missed"
    )
    args = parser.parse_args(argv)
    for name in ("policies", "services_per_cluster", "poll_interval", "cycles", "seed_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.desired < 0 or args.max_messages < 0 or args.target < 1:
        parser.error("--warmup, --desired and --max-messages must be >= 0, --target >= 1")
    if args.policies % args.services_per_cluster:
        parser.error("--policies must be a multiple of --services-per-cluster")
    if args.gap is None:
        args.gap = min(2.0, args.poll_interval / 4)
    return args


class Proxy:
    """The counting proxy's control endpoints."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/__loadbench/"

    def get(self, what):
        with urllib.request.urlopen(self.base + what, timeout=30) as response:
            return json.load(response)

    def state(self):
        return self.get("state")

    def events(self, since):
        return self.get(f"events?since={since}")


class Bench:
    def __init__(self, args, work_dir):
        self.args = args
        self.work = work_dir
        self.moto = None
        self.proxy = None
        self.controller = None
        self.results = {}

    # -- setup ------------------------------------------------------------

    def start_moto(self):
        moto_server = os.path.join(ROOT, ".venv", "bin", "moto_server")
        if not os.access(moto_server, os.X_OK):
            raise SetupError(f"{moto_server} not found: run scripts/test.sh or scripts/load-bench.sh")
        env = dict(os.environ, MOTO_ECS_SERVICE_RUNNING=str(self.args.desired))
        for _ in range(5):
            port = free_port()
            self.moto = spawn(
                [moto_server, "-H", "127.0.0.1", "-p", str(port)],
                os.path.join(self.work, "moto.log"),
                env=env,
            )
            try:
                wait_for_port(port, self.moto, 60, "moto_server")
                self.moto_port = port
                log(f"moto_server pid {self.moto.pid} on port {port}")
                return
            except SetupError:
                stop(self.moto)
        raise SetupError("moto_server did not start (see moto.log)")

    def start_proxy(self):
        self.proxy = spawn(
            [sys.executable, os.path.join(HERE, "proxy.py"), str(self.moto_port)],
            os.path.join(self.work, "proxy.log"),
            stdout=subprocess.PIPE,
        )
        line = self.proxy.stdout.readline().decode().strip()
        if not line.isdigit():
            raise SetupError(f"the proxy did not start (printed {line!r}; see proxy.log)")
        self.proxy_port = int(line)
        self.control = Proxy(self.proxy_port)
        wait_for_port(self.proxy_port, self.proxy, 10, "the proxy")
        log(f"counting proxy pid {self.proxy.pid} on port {self.proxy_port}")

    def write_policies(self):
        self.policy_dir = os.path.join(self.work, "policies")
        fleet_mod.write_policies(self.fleet, self.policy_dir, self.args.poll_interval, self.args.target)
        check = subprocess.run(
            [self.args.binary, "validate", self.policy_dir],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise SetupError(
                f"backlog-scaler validate refused the generated policies (exit {check.returncode}):\n"
                + (check.stdout + check.stderr)[-4000:]
            )
        log(f"wrote and validated {self.fleet.policies} policies in {self.policy_dir}")

    def start_controller(self):
        self.metrics_port = free_port()
        command = [
            self.args.binary,
            "run",
            "--dry-run",
            "--policies",
            self.policy_dir,
            "--region",
            REGION,
            "--endpoint-url",
            f"http://127.0.0.1:{self.proxy_port}",
            "--listen",
            f"127.0.0.1:{self.metrics_port}",
            "--log-level",
            self.args.log_level,
        ]
        if self.args.max_concurrency is not None:
            command += ["--max-concurrency", str(self.args.max_concurrency)]
        if self.args.cloudwatch_namespace:
            command += ["--cloudwatch-namespace", self.args.cloudwatch_namespace]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AWS_") and not key.startswith("BACKLOG_SCALER_") and key != "RUST_LOG"
        }
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        self.controller_command = command
        # Everything the controller does, from its first instruction on,
        # belongs to the warm-up cycle: the zero point is taken before it
        # starts (the proxy has seen no call yet, seeding bypasses it).
        self.zero = {
            "kind": "start",
            "time": time.monotonic(),
            "cpu": {
                "controller": 0.0,
                "moto": procstat.cpu_seconds(self.moto.pid),
                "proxy": procstat.cpu_seconds(self.proxy.pid),
            },
            "controller_cpu_after_scrape": 0.0,
            "api_calls": {},
            "cycles_total": 0.0,
            "cycle_seconds_sum": 0.0,
            "cycle_seconds_count": 0.0,
            "decisions_total": 0.0,
        }
        self.controller = spawn(command, os.path.join(self.work, "controller.log"), env=env)
        wait_for_port(self.metrics_port, self.controller, 120, "backlog-scaler run")
        self.startup_cpu = procstat.cpu_seconds(self.controller.pid)
        log(f"backlog-scaler run pid {self.controller.pid}, /metrics on port {self.metrics_port}")

    # -- measuring --------------------------------------------------------

    def alive(self):
        for name, process in (("moto_server", self.moto), ("the proxy", self.proxy), ("backlog-scaler", self.controller)):
            if process.poll() is not None:
                raise SetupError(f"{name} exited with code {process.returncode} during the run")

    def boundary(self, kind):
        """CPU of each process, then a /metrics scrape, then CPU again."""
        pids = {"controller": self.controller.pid, "moto": self.moto.pid, "proxy": self.proxy.pid}
        before = {name: procstat.cpu_seconds(pid) for name, pid in pids.items()}
        memory = procstat.memory_kib(self.controller.pid)
        samples = promtext.scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")
        after_scrape = procstat.cpu_seconds(self.controller.pid)
        return {
            "kind": kind,
            "time": time.monotonic(),
            "cpu": before,
            "controller_cpu_after_scrape": after_scrape,
            "controller_memory_kib": memory,
            "moto_memory_kib": procstat.memory_kib(self.moto.pid),
            "api_calls": promtext.by_label(samples, API_CALLS, "operation"),
            "cycles_total": promtext.total(samples, CYCLES),
            "decisions_total": promtext.total(samples, DECISIONS) or 0.0,
            "cycle_seconds_sum": promtext.total(samples, CYCLE_SECONDS_SUM),
            "cycle_seconds_count": promtext.total(samples, CYCLE_SECONDS_COUNT),
        }

    def follow_cycles(self):
        """Boundaries between cycles, found from the proxy's traffic."""
        wanted = self.args.warmup + self.args.cycles
        poll = self.args.poll_interval
        boundaries = [self.zero]
        cycles = []
        seen = 0
        cycle_start = None
        # Reset after every cycle: the next call is due within an interval.
        next_call_deadline = time.monotonic() + 3 * poll + 60
        while len(cycles) < wanted:
            time.sleep(0.05)
            self.alive()
            state = self.control.state()
            now = state["now"]
            if cycle_start is None:
                if state["requests"] == seen:
                    if time.monotonic() > next_call_deadline:
                        raise SetupError("the controller made no AWS call for 3 poll intervals")
                    continue
                cycle_start = min(event[0] for event in self.control.events(seen))
            idle = state["in_flight"] == 0 and now - state["last_end"] >= self.args.gap
            elapsed = now - cycle_start
            if idle and elapsed >= poll / 2:
                kind = "burst"
            elif elapsed >= poll:
                kind = "window"
            else:
                continue
            events = self.control.events(seen)
            seen += len(events)
            boundaries.append(self.boundary(kind))
            cycles.append({"kind": kind, "start": cycle_start, "events": events})
            label = "warm-up" if len(cycles) <= self.args.warmup else f"cycle {len(cycles) - self.args.warmup}"
            log(f"{label}: {len(events)} calls ({kind})")
            # A cut window goes straight on; a burst waits for the next call.
            cycle_start = boundaries[-1]["time"] if kind == "window" else None
            next_call_deadline = time.monotonic() + 3 * poll + 60
        return boundaries, cycles

    # -- the run ----------------------------------------------------------

    def run(self):
        args = self.args
        self.fleet = fleet_mod.Fleet(args.policies, args.services_per_cluster, args.desired, args.max_messages)
        self.load_start = os.getloadavg()
        self.start_moto()
        started = time.monotonic()
        fleet_mod.seed(
            self.fleet, f"http://127.0.0.1:{self.moto_port}", REGION, args.seed_threads, log
        )
        self.seed_seconds = time.monotonic() - started
        log(f"seeded in {self.seed_seconds:.1f} s")
        self.start_proxy()
        self.write_policies()
        self.start_controller()
        boundaries, cycles = self.follow_cycles()
        self.controller_peak = procstat.memory_kib(self.controller.pid)
        self.controller_threads = procstat.threads(self.controller.pid)
        self.load_end = os.getloadavg()
        code = stop(self.controller)
        log(f"backlog-scaler run stopped (exit {code})")
        return self.analyse(boundaries, cycles)

    def analyse(self, boundaries, cycles):
        args = self.args
        rows = []
        for index, cycle in enumerate(cycles):
            start, end = boundaries[index], boundaries[index + 1]
            events = cycle["events"]
            proxy_ops = {}
            errors = 0
            for _, _, operation, status, _ in events:
                proxy_ops[operation] = proxy_ops.get(operation, 0) + 1
                if not 200 <= status < 300:
                    errors += 1
            metric_ops = {
                op: int(round(end["api_calls"].get(op, 0) - start["api_calls"].get(op, 0)))
                for op in set(end["api_calls"]) | set(start["api_calls"])
            }
            metric_ops = {op: n for op, n in metric_ops.items() if n}
            cycles_delta = delta(start["cycles_total"], end["cycles_total"])
            count_delta = delta(start["cycle_seconds_count"], end["cycle_seconds_count"])
            sum_delta = delta(start["cycle_seconds_sum"], end["cycle_seconds_sum"])
            rows.append(
                {
                    "cycle": index - args.warmup + 1,
                    "warmup": index < args.warmup,
                    "kind": cycle["kind"],
                    "span_s": (max(e[1] for e in events) - min(e[0] for e in events)) if events else 0.0,
                    "latency_ms": 1000 * sum(e[1] - e[0] for e in events) / len(events) if events else 0.0,
                    "proxy_calls": proxy_ops,
                    "metric_calls": metric_ops,
                    "agree": proxy_ops == metric_ops,
                    "http_errors": errors,
                    "connections": len({event[4] for event in events}),
                    "controller_cycles": cycles_delta,
                    "evaluations": int(round(end["decisions_total"] - start["decisions_total"])),
                    "cycle_metric_s": sum_delta / count_delta if count_delta else None,
                    "cpu_ms": {
                        "controller": 1000 * (end["cpu"]["controller"] - start["controller_cpu_after_scrape"]),
                        "moto": 1000 * (end["cpu"]["moto"] - start["cpu"]["moto"]),
                        "proxy": 1000 * (end["cpu"]["proxy"] - start["cpu"]["proxy"]),
                    },
                    "scrape_cpu_ms": 1000 * (end["controller_cpu_after_scrape"] - end["cpu"]["controller"]),
                    "controller_rss_mib": end["controller_memory_kib"]["VmRSS"] / 1024,
                }
            )
        measured = [row for row in rows if not row["warmup"]]
        first = boundaries[args.warmup]
        last = boundaries[-1]
        n = len(measured)

        def per_cycle(process):
            return 1000 * (last["cpu"][process] - first["cpu"][process]) / n

        scrapes = sum(row["scrape_cpu_ms"] for row in measured)
        evaluations = sum(row["evaluations"] for row in measured)
        proxy_totals = totals(measured, "proxy_calls")
        # Per full round of evaluations (one per policy), whatever the cuts:
        # what a cycle costs even when the cycles run into each other.
        per_round = {
            op: n * args.policies / evaluations for op, n in proxy_totals.items()
        } if evaluations else {}
        controller_cpu_ms = 1000 * (last["cpu"]["controller"] - first["cpu"]["controller"]) - scrapes
        describe_target = self.fleet.clusters * math.ceil(args.services_per_cluster / DESCRIBE_BATCH)
        summary = {
            "GetQueueAttributes": sorted({row["proxy_calls"].get("GetQueueAttributes", 0) for row in measured}),
            "DescribeServices": sorted({row["proxy_calls"].get("DescribeServices", 0) for row in measured}),
            "UpdateService": sorted({row["proxy_calls"].get("UpdateService", 0) for row in measured}),
            "targets": {
                "GetQueueAttributes": args.policies,
                "DescribeServices": describe_target,
                "UpdateService": 0,
                "rss_mib": RSS_TARGET_MIB,
                "cpu_ms": CPU_TARGET_MS,
            },
            "controller_cpu_ms_per_cycle_with_scrape": per_cycle("controller"),
            "controller_cpu_ms_per_cycle": per_cycle("controller") - scrapes / n,
            "scrape_cpu_ms": scrapes / n,
            "moto_cpu_ms_per_cycle": per_cycle("moto"),
            "proxy_cpu_ms_per_cycle": per_cycle("proxy"),
            "controller_peak_rss_mib": self.controller_peak["VmHWM"] / 1024,
            "controller_rss_end_mib": self.controller_peak["VmRSS"] / 1024,
            "controller_threads": self.controller_threads,
            "moto_peak_rss_mib": last["moto_memory_kib"]["VmHWM"] / 1024,
            "startup_cpu_ms": 1000 * self.startup_cpu,
            "all_agree": all(row["agree"] for row in measured),
            "http_errors": sum(row["http_errors"] for row in measured),
            "mean_span_s": sum(row["span_s"] for row in measured) / n,
            "mean_latency_ms": sum(row["latency_ms"] for row in measured) / n,
            "saturated": any(row["kind"] == "window" for row in measured),
            "totals_agree": totals(measured, "proxy_calls") == totals(measured, "metric_calls"),
            "proxy_totals": proxy_totals,
            "evaluations": evaluations,
            "per_round_calls": per_round,
            "per_round_controller_cpu_ms": controller_cpu_ms * args.policies / evaluations if evaluations else None,
            "metric_totals": totals(measured, "metric_calls"),
            "mean_cycle_metric_s": mean([row["cycle_metric_s"] for row in measured]),
            "cycles_metric_present": last["cycles_total"] is not None,
            "seed_seconds": self.seed_seconds,
        }
        summary["met"] = {
            "GetQueueAttributes": summary["GetQueueAttributes"] == [args.policies],
            "DescribeServices": summary["DescribeServices"] == [describe_target],
            "UpdateService": summary["UpdateService"] == [0],
            "rss": summary["controller_peak_rss_mib"] < RSS_TARGET_MIB,
            "cpu": summary["controller_cpu_ms_per_cycle"] < CPU_TARGET_MS,
        }
        self.results = {"rows": rows, "summary": summary}
        return self.results


def totals(rows, key):
    sums = {}
    for row in rows:
        for op, n in row[key].items():
            sums[op] = sums.get(op, 0) + n
    return sums


def delta(start, end):
    if start is None or end is None:
        return None
    return end - start


def mean(values):
    values = [value for value in values if value is not None]
    return sum(values) / len(values) if values else None


def version_of(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


def git_revision():
    try:
        answer = subprocess.run(
            ["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=30
        )
        return answer.stdout.strip() or "?"
    except OSError:
        return "?"


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
        log(f"error: {args.binary} is not an executable: build it (cargo build --release) or pass --binary")
        return 1
    work = args.work_dir or tempfile.mkdtemp(prefix="load-bench-")
    os.makedirs(work, exist_ok=True)
    bench = Bench(args, work)
    code = 0
    try:
        results = bench.run()
        command = shlex.join(["scripts/load-bench.sh", *argv])
        print(
            report.markdown(
                args,
                results,
                command=command,
                binary=args.binary,
                version=version_of(args.binary),
                revision=git_revision(),
                controller_command=bench.controller_command,
                loads=(bench.load_start, bench.load_end),
            )
        )
        if args.json_out:
            with open(args.json_out, "w", encoding="utf-8") as out:
                json.dump({"command": command, **results}, out, indent=2)
        if args.require_targets and not all(results["summary"]["met"].values()):
            log("a target was missed (--require-targets)")
            code = 3
    except SetupError as error:
        log(f"error: {error}")
        log(f"logs are in {work}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        for process in (bench.controller, bench.proxy, bench.moto):
            stop(process)
        if args.work_dir is None and code == 0:
            shutil.rmtree(work, ignore_errors=True)
        elif code != 0:
            args.work_dir = work
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
