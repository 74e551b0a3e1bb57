"""Load generator: sends messages to the emulated queue in phases.

A pattern is a comma-separated list of `NAME:SECONDS:RATE` phases, RATE in
messages per second, e.g. `quiet:20:0.5,burst:40:12,quiet:60:0.5`. Messages
are spread evenly over each phase. After the last phase the generator reports
itself done and exits. Progress goes to a status file for the live view.
"""

import argparse
import math
import signal
import sys
import time
from dataclasses import dataclass

import emulator
import status


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    rate: float


def parse_pattern(text: str) -> list[Phase]:
    phases = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"phase {item!r}: expected NAME:SECONDS:RATE")
        name, seconds, rate = parts[0], float(parts[1]), float(parts[2])
        if not name or seconds <= 0 or rate < 0 or not math.isfinite(seconds * rate):
            raise ValueError(f"phase {item!r}: needs a name, SECONDS > 0 and RATE >= 0")
        phases.append(Phase(name, seconds, rate))
    if not phases:
        raise ValueError("the pattern has no phase")
    return phases


def total_messages(phases: list[Phase]) -> int:
    return sum(math.floor(p.seconds * p.rate) for p in phases)


def due_at(phases: list[Phase], elapsed: float) -> tuple[int, str | None]:
    """Messages the pattern has sent by `elapsed` seconds, and the phase
    running then (None once the pattern is over)."""
    sent = 0
    start = 0.0
    for phase in phases:
        into = elapsed - start
        if into < phase.seconds:
            return sent + math.floor(max(into, 0.0) * phase.rate), phase.name
        sent += math.floor(phase.seconds * phase.rate)
        start += phase.seconds
    return sent, None


def send(sqs, url: str, first_id: int, count: int) -> None:
    """Send `count` messages numbered from `first_id`, ten per call (the API's batch limit)."""
    for offset in range(0, count, 10):
        batch = range(first_id + offset, first_id + min(offset + 10, count))
        entries = [{"Id": str(n), "MessageBody": f"job {n}"} for n in batch]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"the queue refused messages: {response['Failed']}")


def run(endpoint: str, phases: list[Phase], status_path: str, tick: float) -> None:
    sqs = emulator.client("sqs", endpoint)
    url = emulator.queue_url(endpoint)
    started = time.monotonic()
    sent = 0
    while True:
        due, phase = due_at(phases, time.monotonic() - started)
        if due > sent:
            send(sqs, url, sent, due - sent)
            sent = due
        status.write(status_path, {"sent": sent, "phase": phase or "done", "done": phase is None})
        if phase is None:
            return
        time.sleep(tick)  # paces the pattern: the next tick's share is due then


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="emulator URL")
    parser.add_argument("--pattern", required=True, help="NAME:SECONDS:RATE[,...]")
    parser.add_argument("--status", required=True, help="status file for the live view")
    parser.add_argument("--tick", type=float, default=0.2, help="seconds between sends")
    args = parser.parse_args()
    try:
        phases = parse_pattern(args.pattern)
    except ValueError as error:
        sys.exit(f"loadgen: --pattern: {error}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(args.endpoint, phases, args.status, args.tick)


if __name__ == "__main__":
    main()
