"""Worker pool: plays the ECS service's tasks on this machine.

It reads the worker service's desired count (ECS DescribeServices) every
`--poll` seconds and keeps that many worker processes alive. Each worker
really receives messages from the emulated queue, spends `--message-time`
seconds on each, and deletes it. To scale in, the pool asks the newest
workers to stop; a worker finishes the message it holds before it exits, as
a well-behaved consumer does on SIGTERM. SIGTERM or SIGINT stops the whole
pool the same way. Counts go to a status file for the live view.
"""

import argparse
import math
import multiprocessing
import os
import signal
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

import emulator
import status


def work(endpoint: str, message_time: float, stop, processed, pool_pid: int) -> None:
    """One worker process: receive, work, delete, until asked to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    sqs = emulator.client("sqs", endpoint)
    url = emulator.queue_url(endpoint)
    # Long enough that a message is never handed to a second worker while
    # the first is still on it.
    visibility = math.ceil(message_time * 4) + 5
    while not stop.is_set() and os.getppid() == pool_pid:
        try:
            response = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1, VisibilityTimeout=visibility
            )
            for message in response.get("Messages", []):
                time.sleep(message_time)  # the work itself
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                with processed.get_lock():
                    processed.value += 1
        except (BotoCoreError, ClientError) as error:
            print(f"worker {os.getpid()}: {error}", file=sys.stderr, flush=True)
            stop.wait(1.0)  # back off, still answering a stop at once


class Pool:
    def __init__(self, endpoint: str, message_time: float):
        self.endpoint = endpoint
        self.message_time = message_time
        self.processed = multiprocessing.Value("q", 0)
        self.workers: list = []  # (process, stop event), oldest first

    def active(self) -> list:
        """Workers alive and not asked to stop."""
        return [(p, e) for p, e in self.workers if p.is_alive() and not e.is_set()]

    def stopping(self) -> int:
        return sum(1 for p, e in self.workers if p.is_alive() and e.is_set())

    def reap(self) -> None:
        for process, _ in self.workers:
            if not process.is_alive():
                process.join()
        self.workers = [(p, e) for p, e in self.workers if p.is_alive()]

    def resize(self, desired: int) -> None:
        self.reap()
        active = self.active()
        for _ in range(desired - len(active)):
            stop = multiprocessing.Event()
            process = multiprocessing.Process(
                target=work,
                args=(self.endpoint, self.message_time, stop, self.processed, os.getpid()),
                daemon=True,
            )
            process.start()
            self.workers.append((process, stop))
        # The newest stop first, the order the simulator models too.
        for _, stop in active[max(desired, 0):]:
            stop.set()

    def stop_all(self, grace: float) -> None:
        for _, stop in self.workers:
            stop.set()
        deadline = time.monotonic() + grace
        for process, _ in self.workers:
            process.join(max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                process.terminate()
                process.join()
        self.workers = []

    def report(self, path: str, desired: int | None) -> None:
        status.write(
            path,
            {
                "workers": len(self.active()),
                "stopping": self.stopping(),
                "processed": self.processed.value,
                "desired_seen": desired,
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="emulator URL")
    parser.add_argument("--message-time", type=float, default=0.5, help="seconds of work per message")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between reads of the desired count")
    parser.add_argument("--status", required=True, help="status file for the live view")
    args = parser.parse_args()

    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ecs = emulator.client("ecs", args.endpoint)
    pool = Pool(args.endpoint, args.message_time)
    desired = None
    while not stopping:
        try:
            desired, _ = emulator.desired_and_running(ecs)
        except (BotoCoreError, ClientError) as error:
            # Like ECS without its control plane: keep the tasks we have.
            print(f"workers: cannot read the desired count: {error}", file=sys.stderr, flush=True)
        if desired is not None:
            pool.resize(desired)
        pool.report(args.status, desired)
        time.sleep(args.poll)  # the pool's own polling period
    pool.stop_all(grace=args.message_time + 5.0)
    pool.report(args.status, desired)


if __name__ == "__main__":
    main()
