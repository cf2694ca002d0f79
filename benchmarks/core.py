"""Core throughput: ticks per second of (a) a synchronous vvalue network of 100 neurons,
(b) an audio network of 1,000 neurons at 5% density, B = 128 (real time is 375 ticks/s).

    python benchmarks/core.py [--repeat 5]
Prints medians over the repeats; this machine is shared and noisy.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dmmlive import Machine  # noqa: E402
from dmmlive.core.registry import STANDARD  # noqa: E402

TYPES = STANDARD.copy()  # the standard types and this benchmark's own (audio_net's machines)


@TYPES.neuron_type("bench_tanh", kind="audio", inputs={"in": 0.0}, batched=True)
def bench_tanh(state, rate, **x):
    """Benchmark type: out = tanh(in)."""
    return np.tanh(x["in"])


def vvalue_net(n=100, fan_in=3, seed=1):
    rng = np.random.default_rng(seed)
    m = Machine(schedule="synchronous")
    for i in range(n):
        m.add(f"u{i}", "identity")
        m.set_output(f"u{i}", "x", {f"k{j}": float(rng.integers(1, 9)) for j in range(5)})
    for i in range(n):
        m.connect(f"u{i}.x", f"u{i}.x", 0.5)
        for j in rng.choice(n, fan_in, replace=False):
            m.connect(f"u{i}.x", f"u{j}.x", 0.5 / fan_in)
    return m


def audio_net(n=1000, density=0.05, block=128, seed=1):
    rng = np.random.default_rng(seed)
    m = Machine(schedule="synchronous", block=block, types=TYPES)
    names = [f"a{i}" for i in range(n)]
    for nm in names:
        m.add(nm, "bench_tanh")
    # build W in one edit: the fast path a patch reload takes
    delta = {}
    k = int(density * n)
    for i, nm in enumerate(names):
        row = {names[j]: {"out": float(rng.normal(0, 1.5 / np.sqrt(k)))} for j in rng.choice(n, k, replace=False)}
        row["one"] = {"out": float(rng.normal(0, 0.1))}
        delta[nm] = {"in": row}
    m.edit(delta)
    m.tick(3)
    return m


def rate_of(m, seconds=1.5):
    m.tick(5)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        m.tick(10)
        n += 10
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    m = vvalue_net()
    va = statistics.median(rate_of(m) for _ in range(a.repeat))
    print(f"(a) synchronous vvalue network, 100 identity neurons, fan-in 4: {va:,.0f} ticks/s (median of {a.repeat})")
    t0 = time.perf_counter()
    m = audio_net()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.connect("a0.in", "a1", 0.01)
    m.tick()
    recompile = time.perf_counter() - t0
    vb = statistics.median(rate_of(m) for _ in range(a.repeat))
    print(f"(b) audio network, 1,000 neurons, 5% density (50,000 weights), B=128: {vb:,.0f} ticks/s "
          f"(median of {a.repeat}); real time is 375 ticks/s: {vb / 375:.2f}x real time")
    print(f"    build (one 50,000-weight edit) {build * 1e3:.0f} ms; one-weight edit + recompile + tick "
          f"{recompile * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
