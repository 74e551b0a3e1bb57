"""The benchmark's results as markdown, ready for BENCHMARKS.md."""

import os
import shlex

MAIN_OPS = ("GetQueueAttributes", "DescribeServices", "UpdateService")


def calls(ops):
    """The operations other than the three main ones, as ``Op N, ...``."""
    others = sorted((op, n) for op, n in ops.items() if op not in MAIN_OPS)
    return ", ".join(f"{op} {n:,}" for op, n in others) or "-"


def fmt(value, digits=1, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def ranged(values):
    return " / ".join(f"{value:,}" for value in values) if values else "-"


def yes(flag):
    return "yes" if flag else "**no**"


def markdown(args, results, command, binary, version, revision, controller_command, loads):
    rows, summary = results["rows"], results["summary"]
    targets, met = summary["targets"], summary["met"]
    profile = next((name for name in ("release", "debug") if name in binary), "unknown")
    lines = [
        f"## Load benchmark: {args.policies:,} policies, poll_interval {args.poll_interval}s, "
        f"{args.cycles} cycles after {args.warmup} warm-up",
        "",
        f"- command: `{command}`",
        f"- binary: `{binary}` ({version}, {profile} build), load-bench script at {revision}",
        f"- controller: `{shlex.join(os.path.basename(part) if i == 0 else part for i, part in enumerate(controller_command))}`",
        f"- fleet: {args.policies:,} queues (0-{args.max_messages} messages each), "
        f"{args.policies // args.services_per_cluster:,} clusters x {args.services_per_cluster} services "
        f"(desired = running = {args.desired}); seeded in {summary['seed_seconds']:.0f} s",
        f"- machine: {os.cpu_count()} cores; load average {loads[0][0]:.2f} at start, {loads[1][0]:.2f} at end",
        "",
        "| | target | measured | met? |",
        "|---|---|---|---|",
        f"| GetQueueAttributes per cycle | {targets['GetQueueAttributes']:,} | "
        f"{ranged(summary['GetQueueAttributes'])} | {yes(met['GetQueueAttributes'])} |",
        f"| DescribeServices per cycle | {targets['DescribeServices']:,} | "
        f"{ranged(summary['DescribeServices'])} | {yes(met['DescribeServices'])} |",
        f"| UpdateService per cycle | 0 | {ranged(summary['UpdateService'])} | {yes(met['UpdateService'])} |",
        f"| controller peak RSS (VmHWM) | < {targets['rss_mib']} MiB | "
        f"{summary['controller_peak_rss_mib']:.1f} MiB | {yes(met['rss'])} |",
        f"| controller CPU per cycle | < {targets['cpu_ms']} ms | "
        f"{summary['controller_cpu_ms_per_cycle']:.1f} ms | {yes(met['cpu'])} |",
        f"| per round of {args.policies:,} evaluations ({summary['evaluations']:,} in the measured cycles) | | "
        f"{round_calls(summary)}; controller CPU {fmt(summary['per_round_controller_cpu_ms'], 1, ' ms')} | |",
        f"| emulator (moto) CPU per cycle | (should dominate) | {summary['moto_cpu_ms_per_cycle']:,.0f} ms | |",
        f"| counting proxy CPU per cycle | (not counted) | {summary['proxy_cpu_ms_per_cycle']:,.0f} ms | |",
        f"| one /metrics scrape (controller CPU) | | {summary['scrape_cpu_ms']:.1f} ms | |",
        f"| cycle duration (controller metric) | | {fmt(summary['mean_cycle_metric_s'], 2, ' s')} | |",
        f"| burst of calls, first to last (proxy) | | {summary['mean_span_s']:.2f} s | |",
        f"| mean call latency through the proxy | | {summary['mean_latency_ms']:.1f} ms | |",
        "",
        "Per cycle (`proxy` counts what reached the emulator; `/metrics` is the delta of "
        "`backlog_scaler_aws_api_calls_total`; CPU from /proc utime+stime; the controller's "
        "excludes the /metrics scrape that opens each cycle):",
        "",
        "| cycle | cut | GetQueueAttributes | DescribeServices | UpdateService | other calls | "
        "/metrics agrees | evaluations | HTTP errors | connections | burst s | controller cycles | cycle s (metric) | controller CPU ms | moto CPU ms | "
        "proxy CPU ms | controller RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ops = row["proxy_calls"]
        label = "warm-up" if row["warmup"] else str(row["cycle"])
        agree = "yes" if row["agree"] else f"**no**: {calls_all(row['metric_calls'])}"
        lines.append(
            f"| {label} | {row['kind']} | {ops.get('GetQueueAttributes', 0):,} | "
            f"{ops.get('DescribeServices', 0):,} | {ops.get('UpdateService', 0):,} | {calls(ops)} | {agree} | "
            f"{row['evaluations']:,} | {row['http_errors']} | {row['connections']} | {row['span_s']:.2f} | {fmt(row['controller_cycles'], 0)} | {fmt(row['cycle_metric_s'], 2)} | "
            f"{row['cpu_ms']['controller']:.1f} | {row['cpu_ms']['moto']:,.0f} | {row['cpu_ms']['proxy']:,.0f} | "
            f"{row['controller_rss_mib']:.1f} |"
        )
    totals_line = (
        "Over the measured cycles the proxy and `/metrics` agree: "
        if summary["totals_agree"]
        else "**Over the measured cycles the proxy and `/metrics` differ**: "
    )
    totals_line += f"proxy {calls_all(summary['proxy_totals'])}; /metrics {calls_all(summary['metric_totals'])}."
    lines += [
        "",
        totals_line,
        "",
        f"Controller at the end: peak RSS {summary['controller_peak_rss_mib']:.1f} MiB, RSS "
        f"{summary['controller_rss_end_mib']:.1f} MiB, {summary['controller_threads']} threads; "
        f"{summary['startup_cpu_ms']:,.0f} ms of CPU to load the policies and start. "
        f"Emulator peak RSS {summary['moto_peak_rss_mib']:.0f} MiB.",
    ]
    if summary["saturated"]:
        lines += [
            "",
            "**Some cycles never went idle** (`cut: window`, cut after one poll interval: the emulator "
            "is too slow for this poll interval, or the policies' schedules have drifted into one "
            "another), so their calls are what the emulator could answer in that time, not what "
            "the controller asks per cycle, and calls in flight at a cut are counted on different sides "
            "by the proxy and `/metrics`. The per-round row still holds; for per-cycle figures, rerun with a "
            "longer `--poll-interval`.",
        ]
    if not summary["cycles_metric_present"]:
        lines.append(
            "The binary exports no `backlog_scaler_cycles_total`: cycles are the bursts of calls "
            "seen by the proxy."
        )
    return "\n".join(lines)


def round_calls(summary):
    ops = summary["per_round_calls"]
    if not ops:
        return "no evaluation counted"
    return ", ".join(f"{op} {n:,.0f}" for op, n in sorted(ops.items()))


def calls_all(ops):
    return ", ".join(f"{op} {n:,}" for op, n in sorted(ops.items())) or "none"
