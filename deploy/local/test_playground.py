"""Tests of the playground's own parts against the real emulator: the load
pattern, the load generator, the worker pool following the desired count,
and the live view's reading of controller log lines.

Run by scripts/test.d/playground.sh with the project's .venv:
    .venv/bin/python -m unittest discover -s deploy/local -v
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import emulator
import loadgen
import seed
import status
import view

HERE = os.path.dirname(os.path.abspath(__file__))
MOTO_SERVER = os.path.join(os.path.dirname(sys.executable), "moto_server")


def wait_until(condition, limit: float, what: str):
    """Poll `condition` until it returns something truthy, or fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


class Emulator:
    """A fresh moto_server on a loopback port of its own.

    The server binds port 0 and its startup line on stderr (" * Running on
    http://127.0.0.1:PORT") says which port it got. Probing for a free port
    and binding it later leaves a window in which another test's emulator
    takes it, and a "something listens" check would then point this test at
    that emulator. The line comes from this very child.
    """

    def __enter__(self):
        self.process = subprocess.Popen(
            [MOTO_SERVER, "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"moto_server exited with code {self.process.wait()} before listening")
            if "Running on http://127.0.0.1:" in line:
                port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        if port is None:
            raise AssertionError("moto_server did not say it listens within 60 s")
        # The request log keeps coming on stderr: drain it so the pipe never fills.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_):
        self.process.kill()
        self.process.wait()


def queue_counts(endpoint: str) -> tuple[int, int]:
    attributes = emulator.client("sqs", endpoint).get_queue_attributes(
        QueueUrl=emulator.queue_url(endpoint),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def set_desired(endpoint: str, count: int) -> None:
    emulator.client("ecs", endpoint).update_service(
        cluster=emulator.CLUSTER, service=emulator.SERVICE, desiredCount=count
    )


class PatternTest(unittest.TestCase):
    def test_parses_phases(self):
        self.assertEqual(
            loadgen.parse_pattern("quiet:20:0.5, burst:40:12"),
            [loadgen.Phase("quiet", 20.0, 0.5), loadgen.Phase("burst", 40.0, 12.0)],
        )

    def test_rejects_malformed_phases(self):
        for bad in ["", "quiet:20", "burst:0:5", "burst:10:-1", ":10:1", "burst:ten:1"]:
            with self.subTest(pattern=bad), self.assertRaises(ValueError):
                loadgen.parse_pattern(bad)

    def test_spreads_each_phase_evenly(self):
        phases = loadgen.parse_pattern("quiet:10:0.5,burst:4:10,tail:2:1")
        self.assertEqual(loadgen.due_at(phases, 0), (0, "quiet"))
        self.assertEqual(loadgen.due_at(phases, 4.1), (2, "quiet"))
        self.assertEqual(loadgen.due_at(phases, 10), (5, "burst"))
        self.assertEqual(loadgen.due_at(phases, 11.5), (20, "burst"))
        self.assertEqual(loadgen.due_at(phases, 14.5), (45, "tail"))
        self.assertEqual(loadgen.due_at(phases, 16), (47, None))
        self.assertEqual(loadgen.total_messages(phases), 47)


class DecisionLineTest(unittest.TestCase):
    def test_reads_the_message_of_json_decision_lines(self):
        record = {
            "timestamp": "2026-01-01T00:00:00Z",
            "level": "INFO",
            "message": "set desired 1 -> 4 (backlog 40 / target 10 = 4 tasks)",
            "policy": "demo-workers",
            "action": "scale_out",
            "desired": 4,
        }
        self.assertEqual(view.decision_text(json.dumps(record)), record["message"])

    def test_reads_text_decision_lines(self):
        line = "2026-01-01T00:00:00Z  INFO backlog_scaler::controller::worker: hold at 2 (inside tolerance) policy=demo"
        self.assertEqual(view.decision_text(line), "hold at 2 (inside tolerance) policy=demo")

    def test_ignores_other_lines(self):
        starting = {"level": "INFO", "message": "backlog-scaler starting", "policies": 1}
        self.assertIsNone(view.decision_text(json.dumps(starting)))
        self.assertIsNone(view.decision_text("2026-01-01T00:00:00Z  INFO backlog_scaler: running 1 policies"))
        self.assertIsNone(view.decision_text("{not json"))


class LoadgenTest(unittest.TestCase):
    def test_sends_the_whole_pattern_then_reports_done(self):
        with Emulator() as moto, tempfile.TemporaryDirectory() as workdir:
            seed.seed(moto.endpoint, 1)
            status_path = os.path.join(workdir, "loadgen.json")
            phases = loadgen.parse_pattern("quiet:0.5:0,burst:1:25")
            loadgen.run(moto.endpoint, phases, status_path, tick=0.1)
            self.assertEqual(status.read(status_path), {"sent": 25, "phase": "done", "done": True})
            self.assertEqual(queue_counts(moto.endpoint), (25, 0))


class WorkerPoolTest(unittest.TestCase):
    def start_pool(self, endpoint: str, workdir: str, message_time: float):
        pool = subprocess.Popen(
            [
                sys.executable,
                os.path.join(HERE, "workers.py"),
                "--endpoint", endpoint,
                "--message-time", str(message_time),
                "--poll", "0.2",
                "--status", os.path.join(workdir, "workers.json"),
            ],
        )
        self.addCleanup(lambda: pool.poll() is None and pool.kill())
        return pool

    def test_follows_the_desired_count_and_drains_the_queue(self):
        with Emulator() as moto, tempfile.TemporaryDirectory() as workdir:
            seed.seed(moto.endpoint, 1)
            pool = self.start_pool(moto.endpoint, workdir, message_time=0.05)
            report = lambda: status.read(os.path.join(workdir, "workers.json"))
            wait_until(lambda: report().get("workers") == 1, 20, "one worker")

            set_desired(moto.endpoint, 3)
            wait_until(lambda: report().get("workers") == 3, 20, "three workers")

            sqs = emulator.client("sqs", moto.endpoint)
            loadgen.send(sqs, emulator.queue_url(moto.endpoint), 0, 40)
            wait_until(lambda: report().get("processed") == 40, 30, "all 40 messages processed")
            self.assertEqual(queue_counts(moto.endpoint), (0, 0))

            set_desired(moto.endpoint, 1)
            wait_until(
                lambda: report().get("workers") == 1 and report().get("stopping") == 0, 20, "back to one worker"
            )

            pool.send_signal(signal.SIGTERM)
            self.assertEqual(pool.wait(timeout=10), 0)
            self.assertEqual(report()["workers"], 0)

    def test_a_stopping_worker_finishes_its_message(self):
        with Emulator() as moto, tempfile.TemporaryDirectory() as workdir:
            seed.seed(moto.endpoint, 1)
            pool = self.start_pool(moto.endpoint, workdir, message_time=1.5)
            report = lambda: status.read(os.path.join(workdir, "workers.json"))
            wait_until(lambda: report().get("workers") == 1, 20, "one worker")

            sqs = emulator.client("sqs", moto.endpoint)
            loadgen.send(sqs, emulator.queue_url(moto.endpoint), 0, 1)
            wait_until(lambda: queue_counts(moto.endpoint) == (0, 1), 10, "the worker to take the message")

            set_desired(moto.endpoint, 0)
            wait_until(lambda: report().get("stopping") == 1, 10, "the worker to be asked to stop")
            wait_until(lambda: report().get("stopping") == 0, 10, "the worker to finish and exit")
            self.assertEqual(report()["processed"], 1)
            self.assertEqual(queue_counts(moto.endpoint), (0, 0), "the message was deleted, not abandoned")

            pool.send_signal(signal.SIGTERM)
            self.assertEqual(pool.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
