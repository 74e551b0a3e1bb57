"""Child processes that never outlive the benchmark.

Each child is started with ``PR_SET_PDEATHSIG``, so the kernel sends it
SIGTERM if the driver dies without cleaning up (even on SIGKILL), and
:func:`stop` ends it politely, then firmly.
"""

import ctypes
import signal
import socket
import subprocess
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(args, log_path, env=None, stdout=None):
    """Start ``args`` with stderr (and stdout unless given) into ``log_path``."""
    log = open(log_path, "ab")  # noqa: SIM115 (the child keeps it open)
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log,
            stderr=log,
            env=env,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def stop(process, grace=10.0):
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.terminate()
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, deadline_seconds, what):
    """Until something listens on ``port``; raises if ``process`` exits first."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"{what} exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SetupError(f"{what} did not listen on port {port} within {deadline_seconds:.0f} s")


class SetupError(Exception):
    """The benchmark could not be set up; exit code 1."""
