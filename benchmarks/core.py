"""Core throughput: ticks per second of (a) a synchronous vvalue network of 100 and 1,000
neurons (run as an array, a row at a time, and by the dict walk),
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
from dmmlive import Machine, vv  # noqa: E402
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


class _Walk(vv.FlatCache):
    """The dict walk alone: no V-value is taken as summable flat."""

    def get(self, v):
        return (v, None, None, False)


def flatv_off(m, walk=False):
    """Turn the array program off (rows summed one at a time, flat where they can be), or
    with `walk` the flat sums too (every row by the dict walk)."""
    m._flatv_retry = float("inf")  # noqa: SLF001  (a benchmark's switch)
    m._deflate = lambda: None      # noqa: SLF001
    if walk:
        m._vflat = _Walk()         # noqa: SLF001


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
    for n in (100, 1000):
        rates = {}
        for how in ("array", "rows", "walk"):
            m = vvalue_net(n)
            if how != "array":    # the array program off (core/flatv.py): a row at a time
                flatv_off(m, walk=how == "walk")
            rates[how] = statistics.median(rate_of(m) for _ in range(a.repeat))
        print(f"(a) synchronous vvalue network, {n:,} identity neurons, fan-in 4: {rates['array']:,.0f} ticks/s "
              f"({rates['array'] / 375:.1f}x real time; goal at 100: >= 1,500, at 1,000: >= 3x) "
              f"(median of {a.repeat}); a row at a time {rates['rows']:,.0f}, the dict walk {rates['walk']:,.0f}")
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
