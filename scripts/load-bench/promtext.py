"""Just enough of the Prometheus text format to sum counters by label."""

import re
import urllib.request

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse(response.read().decode("utf-8"))


def parse(text):
    """``[(name, {label: value}, float)]`` for every sample line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        samples.append((name, dict(LABEL.findall(labels or "")), number))
    return samples


def total(samples, name):
    """Sum of every series of ``name``; ``None`` if there is none."""
    values = [value for sample_name, _, value in samples if sample_name == name]
    return sum(values) if values else None


def by_label(samples, name, label):
    """``{label value: sum}`` over the series of ``name``."""
    sums = {}
    for sample_name, labels, value in samples:
        if sample_name == name:
            key = labels.get(label, "")
            sums[key] = sums.get(key, 0.0) + value
    return sums
