"""The benchmark's per-trace settings, shared by the scripts in benches/:
the service time that makes a trace's peak bucket need 100 busy tasks
(peer-models.md), and seconds written the way `--service-time` reads them."""
import csv


def service_time(path):
    rows = list(csv.reader(open(path)))[1:]
    t = [int(r[0]) for r in rows]
    a = [int(r[1]) for r in rows]
    return 100.0 * ((t[1] - t[0]) if len(t) > 1 else 1) / max(a)


def secs(s):
    return f"{s:.9f}".rstrip("0").rstrip(".")
