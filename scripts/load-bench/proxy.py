"""A counting HTTP proxy in front of the AWS emulator.

Forwards every request to the emulator unchanged and records, per request,
the AWS operation, when it started and ended, and the status. The operation
comes from where each AWS protocol puts it:

- JSON protocols (SQS, ECS, DynamoDB): the ``X-Amz-Target`` header,
  ``AmazonSQS.GetQueueAttributes`` -> ``GetQueueAttributes``;
- query protocol (CloudWatch ``PutMetricData``, STS): ``Action=`` in the
  form body (gzip-decoded if the SDK compressed it) or the query string;
- Smithy RPC v2 CBOR: the path ``/service/NAME/operation/OP``.

It runs as its own process, so the benchmark can measure its CPU apart
from the controller's and the emulator's. Requests under ``/__loadbench/``
are the benchmark's own and are answered here, never forwarded:

- ``GET /__loadbench/state``: requests seen, in flight, end of the last one
  (``time.monotonic()`` of this machine, comparable with the driver's);
- ``GET /__loadbench/events?since=N``: the records from index N on, as JSON
  lists ``[start, end, operation, status, client port]`` (the port tells
  how many connections the client used).

Usage: ``proxy.py UPSTREAM_PORT`` binds a free loopback port and prints
``PORT`` as its first line of stdout once it is listening.
"""

import gzip
import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PREFIX = "/__loadbench/"
# Hop-by-hop headers are the proxy's own business on each side.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class Recorder:
    """Every forwarded request, in the order they ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.in_flight = 0
        self.last_end = 0.0

    def begin(self):
        with self.lock:
            self.in_flight += 1

    def end(self, start, operation, status, client_port):
        now = time.monotonic()
        with self.lock:
            self.in_flight -= 1
            self.last_end = now
            self.events.append([start, now, operation, status, client_port])

    def state(self):
        with self.lock:
            return {
                "requests": len(self.events),
                "in_flight": self.in_flight,
                "last_end": self.last_end,
                "now": time.monotonic(),
            }

    def since(self, index):
        with self.lock:
            return self.events[index:]


def operation_of(headers, path, body):
    """The AWS operation a request calls, or ``"?"`` if none is found."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    parsed = urllib.parse.urlsplit(path)
    parts = parsed.path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "service" and parts[2] == "operation":
        return parts[3]
    action = urllib.parse.parse_qs(parsed.query).get("Action")
    if action:
        return action[0]
    content_type = headers.get("Content-Type", "")
    if body and "x-www-form-urlencoded" in content_type:
        if headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except OSError:
                return "?"
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = form.get("Action")
        if action:
            return action[0]
    return "?"


def make_handler(upstream_port, recorder):
    local = threading.local()

    def upstream():
        # One persistent connection per handler thread (one per client
        # connection), as the SDK keeps its own connections alive.
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            local.connection = connection
        return connection

    def drop_upstream():
        connection = getattr(local, "connection", None)
        if connection is not None:
            connection.close()
            local.connection = None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 (the base's name)
            pass

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def reply(self, status, payload, content_type="application/json"):
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def control(self):
            parsed = urllib.parse.urlsplit(self.path)
            name = parsed.path[len(CONTROL_PREFIX):]
            if name == "state":
                return self.reply(200, recorder.state())
            if name == "events":
                since = int(urllib.parse.parse_qs(parsed.query).get("since", ["0"])[0])
                return self.reply(200, recorder.since(since))
            return self.reply(404, {"error": f"no such control endpoint: {name}"})

        def forward(self):
            body = self.read_body()
            if self.path.startswith(CONTROL_PREFIX):
                return self.control()
            start = time.monotonic()
            recorder.begin()
            operation = operation_of(self.headers, self.path, body)
            status = 0
            try:
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length"
                }
                headers["Content-Length"] = str(len(body))
                response = None
                for attempt in range(2):
                    connection = upstream()
                    try:
                        connection.request(self.command, self.path, body=body, headers=headers)
                        response = connection.getresponse()
                        break
                    except (http.client.HTTPException, OSError):
                        # A kept-alive upstream connection may have been
                        # closed by the server: retry once on a fresh one.
                        drop_upstream()
                        if attempt == 1:
                            raise
                data = response.read()
                status = response.status
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (http.client.HTTPException, OSError) as error:
                status = 502
                drop_upstream()
                self.reply(502, {"error": f"upstream: {error}"})
            finally:
                recorder.end(start, operation, status, self.client_address[1])

        do_GET = forward
        do_POST = forward
        do_PUT = forward
        do_DELETE = forward
        do_HEAD = forward

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The controller opens many connections at once at start.
    request_queue_size = 256


def main():
    upstream_port = int(sys.argv[1])
    recorder = Recorder()
    server = Server(("127.0.0.1", 0), make_handler(upstream_port, recorder))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
