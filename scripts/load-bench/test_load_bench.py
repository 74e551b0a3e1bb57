"""Unit tests of the load benchmark's parts that decide what it reports:
which operation a request calls, the Prometheus text it sums, the /proc
figures, and the counting proxy end to end in front of a stub upstream."""

import gzip
import http.client
import json
import os
import subprocess
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402
import fleet  # noqa: E402
import procstat  # noqa: E402
import promtext  # noqa: E402
import report  # noqa: E402
from proxy import operation_of  # noqa: E402


class OperationOf(unittest.TestCase):
    def test_json_protocols_name_it_in_x_amz_target(self):
        headers = {"X-Amz-Target": "AmazonSQS.GetQueueAttributes"}
        self.assertEqual(operation_of(headers, "/", b"{}"), "GetQueueAttributes")
        headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeServices"}
        self.assertEqual(operation_of(headers, "/", b"{}"), "DescribeServices")

    def test_query_protocol_names_it_in_the_form_body(self):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = b"Action=PutMetricData&Version=2010-08-01&Namespace=x"
        self.assertEqual(operation_of(headers, "/", body), "PutMetricData")

    def test_a_gzipped_form_body_is_read(self):
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
        body = gzip.compress(b"Action=PutMetricData&Version=2010-08-01")
        self.assertEqual(operation_of(headers, "/", body), "PutMetricData")

    def test_query_string_and_rpc_v2_path(self):
        self.assertEqual(operation_of({}, "/?Action=GetCallerIdentity&Version=1", b""), "GetCallerIdentity")
        path = "/service/GraniteServiceVersion20100801/operation/PutMetricData"
        self.assertEqual(operation_of({}, path, b""), "PutMetricData")

    def test_unknown_requests_are_marked(self):
        self.assertEqual(operation_of({}, "/", b""), "?")


class PromText(unittest.TestCase):
    TEXT = "\n".join(
        [
            "# HELP backlog_scaler_aws_api_calls AWS API calls, by operation.",
            "# TYPE backlog_scaler_aws_api_calls counter",
            'backlog_scaler_aws_api_calls_total{operation="GetQueueAttributes"} 1000',
            'backlog_scaler_aws_api_calls_total{operation="DescribeServices"} 100',
            'backlog_scaler_decisions_total{policy="a",action="hold"} 3',
            'backlog_scaler_decisions_total{policy="b",action="scale_out"} 2',
            "# EOF",
        ]
    )

    def test_sums_by_label_and_in_total(self):
        samples = promtext.parse(self.TEXT)
        self.assertEqual(
            promtext.by_label(samples, "backlog_scaler_aws_api_calls_total", "operation"),
            {"GetQueueAttributes": 1000.0, "DescribeServices": 100.0},
        )
        self.assertEqual(promtext.total(samples, "backlog_scaler_decisions_total"), 5.0)
        self.assertIsNone(promtext.total(samples, "backlog_scaler_cycles_total"))


class ProcStat(unittest.TestCase):
    def test_reads_this_process(self):
        burn = sum(i * i for i in range(2_000_000))
        self.assertGreater(burn, 0)
        self.assertGreater(procstat.cpu_seconds(os.getpid()), 0.0)
        memory = procstat.memory_kib(os.getpid())
        self.assertGreaterEqual(memory["VmHWM"], memory["VmRSS"])
        self.assertGreater(memory["VmRSS"], 1000)


class Fleet(unittest.TestCase):
    def test_backlogs_vary_and_policies_name_their_cluster(self):
        counts = {fleet.messages_for(i, 40) for i in range(1000)}
        self.assertEqual(counts, set(range(41)))
        f = fleet.Fleet(1000, 10, 3, 40)
        self.assertEqual(f.clusters, 100)
        self.assertEqual(f.cluster_of(999), "bench-099")
        with self.assertRaises(ValueError):
            fleet.Fleet(15, 10, 3, 40)


class Analyse(unittest.TestCase):
    """Per-cycle figures from boundaries, as the driver records them."""

    @staticmethod
    def boundary(cpu, calls, decisions, cycles=None, cycle_sum=None):
        return {
            "kind": "burst",
            "time": 0.0,
            "cpu": {"controller": cpu, "moto": 10 * cpu, "proxy": cpu / 2},
            "controller_cpu_after_scrape": cpu + 0.01,
            "controller_memory_kib": {"VmHWM": 20480, "VmRSS": 20480},
            "moto_memory_kib": {"VmHWM": 204800, "VmRSS": 204800},
            "api_calls": calls,
            "decisions_total": decisions,
            "cycles_total": cycles,
            "cycle_seconds_sum": cycle_sum,
            "cycle_seconds_count": cycles,
        }

    def analyse(self, with_cycle_metrics):
        args = bench.parse_args(["--policies", "20", "--cycles", "2", "--warmup", "1"])
        run = bench.Bench(args, "/nonexistent")
        run.fleet = fleet.Fleet(20, 10, 3, 40)
        run.seed_seconds = 1.0
        run.startup_cpu = 0.05
        run.controller_peak = {"VmHWM": 25600, "VmRSS": 24576}
        run.controller_threads = 4

        def calls(n):
            return {"GetQueueAttributes": 20.0 * n, "DescribeServices": 2.0 * n}

        def cycle_metric(n):
            return (float(n), 1.5 * n) if with_cycle_metrics else (None, None)

        boundaries = [self.boundary(0.0, {}, 0.0, *((0.0, 0.0) if with_cycle_metrics else (None, None)))]
        boundaries += [self.boundary(0.1 * n, calls(n), 20.0 * n, *cycle_metric(n)) for n in (1, 2, 3)]
        event = [0.0, 0.01, "GetQueueAttributes", 200, 5000]
        describe = [0.0, 0.01, "DescribeServices", 200, 5001]
        cycles = [{"kind": "burst", "events": [event] * 20 + [describe] * 2} for _ in range(3)]
        return run.analyse(boundaries, cycles)

    def test_steady_cycles_meet_the_call_targets_and_agree(self):
        results = self.analyse(with_cycle_metrics=True)
        summary = results["summary"]
        self.assertEqual(summary["GetQueueAttributes"], [20])
        self.assertEqual(summary["DescribeServices"], [2])
        self.assertTrue(summary["met"]["GetQueueAttributes"] and summary["met"]["DescribeServices"])
        self.assertTrue(summary["all_agree"])
        # 0.1 s of controller CPU per cycle, less the 10 ms scrape.
        self.assertAlmostEqual(summary["controller_cpu_ms_per_cycle"], 90.0)
        self.assertAlmostEqual(summary["scrape_cpu_ms"], 10.0)
        self.assertFalse(summary["met"]["cpu"])
        self.assertAlmostEqual(summary["mean_cycle_metric_s"], 1.5)
        self.assertEqual([row["controller_cycles"] for row in results["rows"]], [1.0, 1.0, 1.0])
        self.assertEqual(summary["per_round_calls"], {"GetQueueAttributes": 20.0, "DescribeServices": 2.0})
        text = report.markdown(args_for_report(), results, "cmd", "target/release/x", "x 1", "abc", ["x"], ((1.0,), (1.0,)))
        self.assertIn("| GetQueueAttributes per cycle | 20 | 20 | yes |", text)
        self.assertNotIn("exports no `backlog_scaler_cycles_total`", text)

    def test_without_cycle_metrics_the_report_says_so(self):
        results = self.analyse(with_cycle_metrics=False)
        self.assertIsNone(results["summary"]["mean_cycle_metric_s"])
        text = report.markdown(args_for_report(), results, "cmd", "b", "x 1", "abc", ["x"], ((1.0,), (1.0,)))
        self.assertIn("exports no `backlog_scaler_cycles_total`", text)


def args_for_report():
    return bench.parse_args(["--policies", "20", "--cycles", "2", "--warmup", "1"])


class ProxyEndToEnd(unittest.TestCase):
    """The proxy forwards requests and counts them, over kept-alive connections."""

    def setUp(self):
        class Upstream(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = json.dumps({"echo": body.decode()}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        here = os.path.dirname(os.path.abspath(__file__))
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(here, "proxy.py"), str(self.upstream.server_address[1])],
            stdout=subprocess.PIPE,
        )
        self.port = int(self.proxy.stdout.readline())

    def tearDown(self):
        self.proxy.terminate()
        self.proxy.wait(timeout=10)
        self.proxy.stdout.close()
        self.upstream.shutdown()
        self.upstream.server_close()

    def test_counts_each_operation_and_forwards_the_answer(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for target in ["AmazonSQS.GetQueueAttributes"] * 3 + ["AmazonEC2ContainerServiceV20141113.DescribeServices"]:
            connection.request("POST", "/", body=b'{"q":1}', headers={"X-Amz-Target": target})
            response = connection.getresponse()
            self.assertEqual(response.status, 200)
            self.assertEqual(json.loads(response.read()), {"echo": '{"q":1}'})
        connection.request("GET", "/__loadbench/events?since=0")
        events = json.loads(connection.getresponse().read())
        self.assertEqual([event[2] for event in events], ["GetQueueAttributes"] * 3 + ["DescribeServices"])
        self.assertTrue(all(event[3] == 200 for event in events))
        # One client connection, kept alive throughout.
        self.assertEqual(len({event[4] for event in events}), 1)
        connection.request("GET", "/__loadbench/state")
        state = json.loads(connection.getresponse().read())
        self.assertEqual((state["requests"], state["in_flight"]), (4, 0))
        connection.close()


if __name__ == "__main__":
    unittest.main()
