"""Audio throughput against peers: the `sines N` and `voices N` workloads of
../shared/bench/peers.py, rendered offline by dmmlive and, in the same run, by pyo and
scsynth through that script.

    python benchmarks/audio.py [--sines 1000,4000] [--voices 6,250,1000] [--patches bass,drums] [--seconds 10]
                               [--fixed 20,100,1000] [--ops] [--block 128] [--repeat 3]

A unit is one oscillator (sines) or one voice (band-limited saw -> resonant lowpass
whose cutoff a sine LFO sweeps 800 +- 300 Hz, q 2 -> gain). Each line prints seconds of
audio per second of CPU, units per core in real time (N x that), and dmmlive's ratio to
each peer. Then example patches alone (a live set's size, where the fixed cost of a tick
counts most): times real time and microseconds a tick. Then the fixed cost of a tick:
voice networks of about --fixed neurons, microseconds a tick with the compiled tick
(neurons/tickvm.py) and with it turned off (`Machine.compiled_tick = False`), runs
alternating; --ops times each operation of the table alone. Medians over --repeat runs;
the machine is shared and noisy.
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEERS = ROOT.parent / "shared" / "bench" / "peers.py"

import dmmlive  # noqa: E402
from dmmlive import Machine  # noqa: E402

SR = 48000


def freqs(n, seed=1):
    rnd = random.Random(seed)
    return [rnd.uniform(100.0, 5000.0) for _ in range(n)]


def sines(n, block):
    m = Machine(rate=SR, block=block)
    fr = freqs(n)
    declare, delta = {}, {"out": {"left": {}, "right": {}}}
    for i in range(n):
        s = f"s{i}"
        declare[s] = "sine"
        delta[s] = {"freq": {"one": {"out": fr[i]}}, "amp": {"one": {"out": 1.0}}}
        delta["out"]["left"][s] = {"out": 0.5 / n}
        delta["out"]["right"][s] = {"out": 0.5 / n}
    m.apply(delta, declare)
    return m


def voices(n, block):
    m = Machine(rate=SR, block=block)
    fr = freqs(n)
    declare, delta = {}, {"out": {"left": {}, "right": {}}}
    for i in range(n):
        lfo, saw, f = f"lfo{i}", f"saw{i}", f"f{i}"
        declare.update({lfo: "sine", saw: "saw", f: "lowpass"})
        delta[lfo] = {"freq": {"one": {"out": 0.1 + i % 7 * 0.05}}, "amp": {"one": {"out": 1.0}}}
        delta[saw] = {"freq": {"one": {"out": fr[i] / 20}}, "amp": {"one": {"out": 1.0}}}
        delta[f] = {"in": {saw: {"out": 1.0}}, "cutoff": {"one": {"out": 800.0}, lfo: {"out": 300.0}},
                    "q": {"one": {"out": 2.0}}}
        delta["out"]["left"][f] = {"out": 0.5 / n}
        delta["out"]["right"][f] = {"out": 0.5 / n}
    m.apply(delta, declare)
    return m


def run_dmmlive(work, n, seconds, block):
    m = (sines if work == "sines" else voices)(n, block)
    m.tick(4)  # compile the plan and the kernels first
    ticks = int(round(seconds * SR / block))
    t0 = time.perf_counter()
    m.tick(ticks)
    return time.perf_counter() - t0


def run_peer(engine, work, n, seconds, block):
    if not PEERS.exists():
        return None, f"{PEERS} not found"
    r = subprocess.run([sys.executable, str(PEERS), work, str(n), "--seconds", str(seconds), "--block", str(block),
                        "--engines", engine], capture_output=True, text=True)
    line = (r.stdout.strip().splitlines() or [""])[-1]
    mt = re.search(r"in ([0-9.]+) s", line)
    if not mt:
        return None, line or r.stderr[-200:]
    return float(mt.group(1)), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sines", default="1000,4000")
    ap.add_argument("--voices", default="6,250,1000")
    ap.add_argument("--patches", default="bass,drums", help="example patches (patches/NAME.dmm) timed alone")
    ap.add_argument("--fixed", default="20,100,1000",
                    help="neurons (voices of 3) timed a tick with the compiled tick and without")
    ap.add_argument("--ops", action="store_true",
                    help="with --fixed: each operation of the compiled tick's table timed alone (where a tick goes)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="pyo,scsynth")
    a = ap.parse_args()
    print(f"offline render of {a.seconds:g} s at {SR} Hz, B={a.block}; medians of {a.repeat}")
    for work, ns in (("sines", a.sines), ("voices", a.voices)):
        for n in [int(x) for x in ns.split(",") if x]:
            t = statistics.median(run_dmmlive(work, n, a.seconds, a.block) for _ in range(a.repeat))
            x = a.seconds / t
            print(f"dmmlive {work} {n}: {x:.1f} x real time; ~{n * x:,.0f} units per core in real time")
            for eng in a.engines.split(","):
                ts = [run_peer(eng, work, n, a.seconds, a.block) for _ in range(a.repeat)]
                good = [u for u, _ in ts if u is not None]
                if not good:
                    print(f"    {eng}: skipped: {ts[0][1]}")
                    continue
                tp = statistics.median(good)
                xp = a.seconds / tp
                print(f"    {eng} {work} {n}: {xp:.1f} x real time; ~{n * xp:,.0f} units per core; "
                      f"dmmlive / {eng} = {x / xp:.2f}")
    for name in [x for x in a.patches.split(",") if x]:  # a live set's size: the fixed cost of a tick
        from dmmlive.patch.live import load
        ticks = int(round(a.seconds * SR / a.block))
        times = []
        for _ in range(a.repeat):
            m = load(str(ROOT / "patches" / f"{name}.dmm"), block=a.block)
            m.tick(4)
            t0 = time.perf_counter()
            m.tick(ticks)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"dmmlive patches/{name}.dmm ({len(m.neurons)} neurons): {a.seconds / t:.1f} x real time, "
              f"{1e6 * t / ticks:.1f} us a tick (goal: 150 x)")
    for n in [int(x) for x in a.fixed.split(",") if x]:  # the fixed cost: the compiled tick against Python
        ticks = int(round(a.seconds * SR / a.block))
        got = {True: [], False: []}
        for _ in range(a.repeat):
            for compiled in (True, False):  # (alternating: the machine's speed moves)
                m = voices(max(1, n // 3), a.block)
                m.compiled_tick = compiled
                m.tick(4)
                t0 = time.perf_counter()
                m.tick(ticks)
                got[compiled].append(time.perf_counter() - t0)
        on, off = (1e6 * statistics.median(got[c]) / ticks for c in (True, False))
        print(f"dmmlive voices {max(1, n // 3)} ({len(m.neurons)} neurons): {on:.1f} us a tick compiled, "
              f"{off:.1f} in Python ({off / on:.2f}x)")
        if a.ops:
            print("    " + ops_profile(voices(max(1, n // 3), a.block)))


def ops_profile(m, reps=2000) -> str:
    """Each operation of the machine's compiled table (neurons/tickvm.py) timed alone, less an
    empty call: where the compiled part of a tick goes (the rest of a tick is Python)."""
    from dmmlive.neurons import tickvm
    m.tick(8)  # (the table is made at the second tick of a plan)
    p = m._program
    if p is None or not p.levels:
        return "(no compiled table)"
    names = {v: k for k, v in vars(tickvm).items()
             if k.isupper() and isinstance(v, int) and k not in ("WIDTH", "FWIDTH")}

    def per_call(a, b):
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                tickvm.run(p.ints, p.floats, a, b)
            best = min(best, (time.perf_counter() - t0) / reps)
        return 1e6 * best
    empty = per_call(0, 0)
    parts = [f"{names[int(p.ints[o, 0])]} {per_call(o, o + 1) - empty:.2f}" for o in range(len(p.ints))
             if int(p.ints[o, 0]) != tickvm.OUT]  # (the sink's block: one a tick, the machine's to renew)
    return f"the call {empty:.2f} us; each operation (us): " + ", ".join(parts)


if __name__ == "__main__":
    main()
