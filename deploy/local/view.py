"""Live view of the playground: one line a second with the time, the queue's
backlog, the worker service's desired and running counts, the local workers,
and the controller's last decision (read from its log).

It also records every line to `timeline.csv` and a summary to `summary.json`
in the work directory, which is what the end-to-end test checks. It ends
after `--duration` seconds, on Ctrl-C, when the controller exits, or (with
`--stop-when-settled`) once the load pattern is over, the queue is empty and
the service is back at its minimum.
"""

import argparse
import csv
import json
import os
import re
import shutil
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

import emulator
import status

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
DECISION_WORDS = ("set desired", "would set desired", "hold at", "hold (")
COLUMNS = ["t_s", "phase", "visible", "in_flight", "desired", "running", "workers", "stopping", "sent", "processed", "decision"]


def decision_text(line: str) -> str | None:
    """The decision a controller log line reports, or None when the line is
    about something else. The demo runs the controller with
    `--log-format json`, where a decision is the line with an `action`
    field; plain text lines are read by their wording."""
    line = ANSI_ESCAPE.sub("", line).strip()
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return None
        fields = record.get("fields", record)
        if not isinstance(fields, dict) or "action" not in fields:
            return None
        return str(fields.get("message", fields["action"]))
    # Drop the timestamp, level and module path a text log line starts with.
    text = line.split(": ", 1)[-1]
    return text if any(word in text for word in DECISION_WORDS) else None


class LogTail:
    """Reads the lines appended to a file since the last call."""

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.partial = ""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as src:
                src.seek(self.offset)
                data = src.read()
                self.offset = src.tell()
        except FileNotFoundError:
            return []
        lines = (self.partial + data).split("\n")
        self.partial = lines.pop()
        return lines


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True  # no /proc here (macOS): kill(0) is all we know


def observe(sqs, ecs, url: str) -> tuple[int, int, int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    desired, running = emulator.desired_and_running(ecs)
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        desired,
        running,
    )


def print_header() -> None:
    print(f"{'time':>5} {'phase':<7} {'backlog':>7} {'desired':>7} {'running':>7} {'workers':>7} {'sent':>6} {'done':>6}  decision")


def print_row(row: dict) -> None:
    workers = f"{row['workers']}" + (f"+{row['stopping']}" if row["stopping"] else "")
    line = (
        f"{row['t_s']:>4}s {row['phase']:<7} {row['visible'] + row['in_flight']:>7} {row['desired']:>7} "
        f"{row['running']:>7} {workers:>7} {row['sent']:>6} {row['processed']:>6}  {row['decision']}"
    )
    width = shutil.get_terminal_size((160, 24)).columns
    print(line[:width] if sys.stdout.isatty() else line, flush=True)


def summarize(rows: list[dict], min_tasks: int, ended_by: str) -> dict:
    if not rows:
        return {"ended_by": ended_by, "samples": 0}
    last = rows[-1]
    peak_desired = max(r["desired"] for r in rows)
    peak_at = next(i for i, r in enumerate(rows) if r["desired"] == peak_desired)
    return {
        "ended_by": ended_by,
        "samples": len(rows),
        "sent": last["sent"],
        "processed": last["processed"],
        "peak_backlog": max(r["visible"] + r["in_flight"] for r in rows),
        "final_backlog": last["visible"] + last["in_flight"],
        "min_tasks": min_tasks,
        "peak_desired": peak_desired,
        "peak_workers": max(r["workers"] for r in rows),
        "final_desired": last["desired"],
        "scaled_out": peak_desired > min_tasks,
        "scaled_back_in": peak_desired > min_tasks
        and any(r["desired"] == min_tasks for r in rows[peak_at:]),
        "decisions_seen": sum(1 for r in rows if r["decision"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="emulator URL")
    parser.add_argument("--workdir", required=True, help="where the other processes' status and logs are")
    parser.add_argument("--duration", type=float, required=True, help="seconds until the view ends")
    parser.add_argument("--min-tasks", type=int, required=True, help="the policy's min_tasks")
    parser.add_argument("--controller-pid", type=int, help="end when this process exits")
    parser.add_argument("--stop-when-settled", action="store_true", help="end once everything is back at rest")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between lines")
    args = parser.parse_args()

    sqs = emulator.client("sqs", args.endpoint)
    ecs = emulator.client("ecs", args.endpoint)
    url = emulator.queue_url(args.endpoint)
    log = LogTail(os.path.join(args.workdir, "controller.log"))
    rows: list[dict] = []
    decision = ""
    ended_by = "duration"
    started = time.monotonic()
    print_header()
    with open(os.path.join(args.workdir, "timeline.csv"), "w", newline="", encoding="utf-8") as out:
        timeline = csv.DictWriter(out, fieldnames=COLUMNS)
        timeline.writeheader()
        try:
            while True:
                elapsed = time.monotonic() - started
                for line in log.new_lines():
                    decision = decision_text(line) or decision
                try:
                    visible, in_flight, desired, running = observe(sqs, ecs, url)
                except (BotoCoreError, ClientError) as error:
                    print(f"cannot read the emulator: {error}", file=sys.stderr)
                    ended_by = "emulator-unreachable"
                    break
                load = status.read(os.path.join(args.workdir, "loadgen.json"))
                pool = status.read(os.path.join(args.workdir, "workers.json"))
                row = {
                    "t_s": round(elapsed),
                    "phase": load.get("phase", "-"),
                    "visible": visible,
                    "in_flight": in_flight,
                    "desired": desired,
                    "running": running,
                    "workers": pool.get("workers", 0),
                    "stopping": pool.get("stopping", 0),
                    "sent": load.get("sent", 0),
                    "processed": pool.get("processed", 0),
                    "decision": decision,
                }
                rows.append(row)
                timeline.writerow(row)
                out.flush()
                print_row(row)
                settled = (
                    load.get("done", False)
                    and visible + in_flight == 0
                    and desired == args.min_tasks
                    and row["workers"] == desired
                    and row["stopping"] == 0
                )
                if args.stop_when_settled and settled:
                    ended_by = "settled"
                    break
                if args.controller_pid and not process_alive(args.controller_pid):
                    ended_by = "controller-exited"
                    break
                if elapsed >= args.duration:
                    break
                time.sleep(max(args.interval - (time.monotonic() - started - elapsed), 0.0))  # the view's pace
        except KeyboardInterrupt:
            ended_by = "interrupted"
    summary = summarize(rows, args.min_tasks, ended_by)
    with open(os.path.join(args.workdir, "summary.json"), "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=2)
    print(f"\nended: {ended_by}; summary: {json.dumps(summary)}")
    return {"duration": 0, "settled": 0, "interrupted": 130}.get(ended_by, 1)


if __name__ == "__main__":
    sys.exit(main())
