#!/usr/bin/env python3
"""Four arrival traces of shapes the shared six lack, for the "No tuning"
benchmark off its traces (BENCHMARKS.md, "Off the shared traces"):

- cron.csv: a fan-out of 5,000 messages in one minute at the top of every
  hour over a trickle (2 messages in 30% of the other minutes), 2 days;
- onoff.csv: 10 minutes on (about 300 a minute) and 20 off, 1 day;
- workhours.csv: 09:00-17:00 on, rising from about 200 to 300 a minute,
  a message in 5% of the minutes otherwise, 3 days;
- sparse.csv: 1-second buckets, bursts of a few seconds (each on second
  ends the burst with probability 0.3, each off second starts one with
  0.11: about three seconds in four empty), 20 a second on average while
  on, 4 hours.

1-minute buckets (sparse: 1-second), in the shared traces' format
(t_seconds,arrivals), from a fixed seed, so every run writes the same
files.

usage: benches/synthetic-traces.py DIR
"""
import math
import os
import random
import sys


def write(path, counts, bucket=60):
    with open(path, "w") as f:
        f.write("t_seconds,arrivals\n")
        for i, arrivals in enumerate(counts):
            f.write(f"{i * bucket},{arrivals}\n")


def poisson(rng, mean):
    # Knuth's method: fine for small means.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    day = 24 * 60
    write(os.path.join(out, "cron.csv"),
          [5000 if m % 60 == 0 else (2 if rng.random() < 0.3 else 0) for m in range(2 * day)])
    write(os.path.join(out, "onoff.csv"),
          [max(0, int(rng.gauss(300, 30))) if m % 30 < 10 else 0 for m in range(day)])
    work = []
    for m in range(3 * day):
        hour = (m // 60) % 24
        if 9 <= hour < 17:
            work.append(max(0, int(rng.gauss(200 + 100 * ((m % 480) / 480), 40))))
        else:
            work.append(1 if rng.random() < 0.05 else 0)
    write(os.path.join(out, "workhours.csv"), work)
    sparse, on = [], False
    for _ in range(4 * 3600):
        on = rng.random() >= 0.3 if on else rng.random() < 0.11
        sparse.append(poisson(rng, 20) if on else 0)
    write(os.path.join(out, "sparse.csv"), sparse, bucket=1)


if __name__ == "__main__":
    main()
