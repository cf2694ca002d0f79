"""What a change to W costs: (a) a network that rewrites its own W every tick against the same
network static, (b) one-weight edits (changed, added, removed) at 50,000 weights.

    python benchmarks/selfmod.py [--sizes 100,1000] [--seconds 1.5] [--repeat 5] [--edits 41]
                                 [--only a|b|c] [--phases]

(a) N sines (N = 100, 1,000), each `sine` with its own freq, mixed into `out` (ordered schedule,
    B = 128, 48 kHz), plus one `const` vvalue neuron whose value is the rank-4 ΔW
    {"s0": {"freq": {"one": {"out": 0.01}}}}, linked with weight 1 into `self.delta`: the
    network adds 0.01 Hz to s0's frequency every tick, so W changes every tick. Printed:
    ticks/s self-modifying and static (the const declared, not linked), their ratio
    (goal >= 0.8) and how many times the plan was compiled per tick while self-modifying.
(b) the 50,000-weight audio network of benchmarks/core.py (b) (1,000 `bench_tanh` neurons at
    5% density, synchronous, B = 128): `m.edit(ΔW)` plus the ticks until the change is in W
    (found once, by reading `m.matrix`; 2 in the synchronous schedule), timed as one, for an
    existing weight changed, a new link added and that link removed. Printed: the median over
    --edits repeats, the same ticks with no edit (the baseline), their difference, and how
    many of the edits recompiled the plan (`m.compiles`). Goal: <= 1 ms.
(c) structural edits in the network of (a) (static) at N = 100, 1,000, 4,000: a new link
    between two sines (FM: one moves down a level; removed again, untimed), and a neuron declared and linked (a sine fed by `one`,
    mixed into `out.left`); each timed as the edit plus the two ticks that take it in, less two
    plain ticks. Printed: medians over --edits repeats (what still grows with N is numpy over
    arrays of every row: the sparse entries carried, the outputs moved, the rows refilled).
    --phases: also the median time of a compile and of its phases (the local re-levelling,
    the layout by change or from scratch, the matrices: dmmlive.core.compiler's functions,
    wrapped to time them).

Only the public Machine API (add, connect, edit, tick, compiles, matrix): runs on any engine.
Figures are medians; this 2-core machine is shared and noisy (measurements of (a) alternate
self-modifying and static windows so that load on the machine falls on both).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from dmmlive import Machine  # noqa: E402

RATE, BLOCK = 48000, 128
REAL_TIME = RATE / BLOCK  # ticks/s


def _core():
    """benchmarks/core.py as a module (its audio_net and the bench_tanh type)."""
    name = "dmmlive_bench_core"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "core.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---- (a) self-modifying vs static -------------------------------------------------------------
DW = {"s0": {"freq": {"one": {"out": 0.01}}}}


def sines(n: int, selfmod: bool, seed: int = 1) -> Machine:
    rng = np.random.default_rng(seed)
    m = Machine(schedule="ordered", rate=RATE, block=BLOCK)
    for i, f in enumerate(rng.uniform(80.0, 4000.0, n)):
        m.add(f"s{i}", "sine")
        m.connect(f"s{i}.freq", "one", float(f))
        m.connect("out.left", f"s{i}", 0.5 / n)
        m.connect("out.right", f"s{i}", 0.5 / n)
    m.add("dw", "const", value=DW)
    if selfmod:
        m.connect("self.delta", "dw.out", 1.0)
    m.tick(5)
    return m


def rate_of(m: Machine, seconds: float) -> tuple[float, int, int]:
    """(ticks/s, ticks, compiles) over about `seconds` of ticking."""
    c0, n, t0 = m.compiles, 0, time.perf_counter()
    while True:
        m.tick(5)
        n += 5
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt, n, m.compiles - c0


def part_a(sizes, seconds, repeat):
    print(f"(a) N sines -> out, ordered, B={BLOCK}, {RATE} Hz; one const neuron writing "
          f"ΔW = {DW} into self.delta every tick\n    (real time is {REAL_TIME:.0f} ticks/s; "
          f"medians of {repeat} windows of {seconds:g} s, alternating)")
    print(f"{'N':>6} | {'static':>9} {'selfmod':>9} | {'ratio':>6} (goal >= 0.8) | "
          f"{'x real time':>11} | compiles/tick selfmod (static)")
    for n in sizes:
        ms, mm = sines(n, False), sines(n, True)
        f0 = mm.matrix["s0"]["freq"]["one"]["out"]
        rs, rm, cs, cm, ts, tm = [], [], 0, 0, 0, 0
        for _ in range(repeat):
            r, t, c = rate_of(ms, seconds)
            rs.append(r)
            ts, cs = ts + t, cs + c
            r, t, c = rate_of(mm, seconds)
            rm.append(r)
            tm, cm = tm + t, cm + c
        f1 = mm.matrix["s0"]["freq"]["one"]["out"]
        s, sm = statistics.median(rs), statistics.median(rm)
        check = "" if abs((f1 - f0) - 0.01 * tm) < 1e-6 * max(1.0, tm) else \
            f"  (!) s0.freq moved {f1 - f0:.4g} Hz in {tm} ticks, expected {0.01 * tm:.4g}"
        print(f"{n:>6} | {s:>9,.0f} {sm:>9,.0f} | {sm / s:>6.2f}               | "
              f"{sm / REAL_TIME:>11.2f} | {cm / max(tm, 1):.3f} ({cs / max(ts, 1):.3f}) "
              f"over {tm:,} ticks{check}")


# ---- (b) one-weight edits at 50,000 weights ---------------------------------------------------
def weight(m: Machine, dst: str, src: str) -> float:
    return m.matrix.get(dst, {}).get("in", {}).get(src, {}).get("out", 0.0)


def ticks_to_absorb(m: Machine, dst: str, src: str, dw: float) -> int:
    """Ticks after `m.edit` until the change shows in `m.matrix` (found once, not timed)."""
    w0 = weight(m, dst, src)
    m.edit({dst: {"in": {src: {"out": dw}}}})
    for k in range(1, 10):
        m.tick()
        if abs(weight(m, dst, src) - (w0 + dw)) < 1e-9:
            m.edit({dst: {"in": {src: {"out": -dw}}}})  # back as it was
            m.tick(k)
            return k
    raise SystemExit("(b) an edit did not reach W within 9 ticks")


def window(m: Machine, delta, k: int) -> tuple[float, float, int]:
    """`m.edit(delta)` (unless None) and k ticks, each timed: (total s, slowest tick s, compiles)."""
    c0 = m.compiles
    t0 = time.perf_counter()
    if delta is not None:
        m.edit(delta)
    worst, t = 0.0, time.perf_counter()
    for _ in range(k):
        m.tick()
        t1 = time.perf_counter()
        worst, t = max(worst, t1 - t), t1
    return t - t0, worst, m.compiles - c0


def part_b(edits: int, seed: int = 7):
    core = _core()
    t0 = time.perf_counter()
    m = core.audio_net()
    build = time.perf_counter() - t0
    W = m.matrix
    names = [f"a{i}" for i in range(1000)]
    existing = [(d, s) for d in names for s in W[d]["in"] if s != "one"]
    nw = sum(len(W[d]["in"]) for d in names)
    rng = np.random.default_rng(seed)
    k = ticks_to_absorb(m, *existing[0], 0.01)
    n = k + 1  # the ticks until W holds it, and the first tick whose down movement uses it
    m.tick(20)  # let what the calibration started settle
    print(f"\n(b) audio network of benchmarks/core.py: 1,000 bench_tanh, 5% density, {len(existing):,} "
          f"weights (+{nw - len(existing):,} from `one`), synchronous, B={BLOCK} (built in "
          f"{1e3 * build:.0f} ms)\n    timed: m.edit + {n} ticks ({k} until the change is in m.matrix, "
          f"1 that computes with it); baseline: {n} ticks, no edit;\n    then 2 ticks untimed (a "
          f"compile put off to them shows as 'late'); medians of {edits}")
    kinds = ("changed", "added", "removed")
    res = {key: [] for key in kinds + ("base",)}
    worst = {key: [] for key in kinds + ("base",)}
    comp = {key: 0 for key in kinds}
    late = {key: 0 for key in kinds}

    def run(key, delta):
        dt, w, c = window(m, delta, n)
        res[key].append(dt)
        worst[key].append(w)
        if key != "base":
            comp[key] += c > 0
            late[key] += window(m, None, 2)[2] > 0

    for i in range(edits):
        d, s = existing[int(rng.integers(len(existing)))]
        run("changed", {d: {"in": {s: {"out": 0.01 if i % 2 == 0 else -0.01}}}})  # and back
        run("base", None)
        while True:  # a link that is not in W
            d, s = names[int(rng.integers(1000))], names[int(rng.integers(1000))]
            if s not in W[d]["in"]:
                break
        w = float(rng.normal(0, 0.2)) or 0.1
        run("added", {d: {"in": {s: {"out": w}}}})
        run("base", None)
        run("removed", {d: {"in": {s: {"out": -w}}}})
        run("base", None)
    W1 = m.matrix
    base = statistics.median(res["base"])
    print(f"{'edit':>14} | {'edit+ticks':>10} {'baseline':>9} {'edit cost':>10} | {'slowest tick':>12} | "
          f"plan compiled in the window (late)")
    for key, label in zip(kinds, ("weight changed", "link added", "link removed")):
        med = statistics.median(res[key])
        print(f"{label:>14} | {1e3 * med:>7.2f} ms {1e3 * base:>6.2f} ms {1e3 * (med - base):>7.2f} ms | "
              f"{1e3 * statistics.median(worst[key]):>9.2f} ms | {comp[key]} of {edits} ({late[key]})")
    print(f"{'(no edit)':>14} | {'':>10} {'':>9} {'':>10} | {1e3 * statistics.median(worst['base']):>9.2f} ms |")
    print("    edit cost = edit+ticks - baseline (goal: <= 1 ms); slowest tick: median over the repeats "
          "of the window's slowest tick")
    n1 = sum(len(W1[d]["in"]) for d in names)
    if n1 != nw:
        print(f"    (!) W has {n1:,} entries after the edits, not {nw:,}")


# dmmlive.core.compiler's phases, timed by --phases: the local re-levelling, the layout by change
# (relayout) or from scratch (layout), the matrices; a phase this engine lacks prints "-"
PHASES = ("_reorder", "relayout", "layout", "_matrices")


def timing_phases():
    """Wrap Machine._compile and the compiler's phases to time them (--phases): {name: [s]}, and
    a function that unwraps them; None where this engine has no such functions."""
    from dmmlive.core import compiler, machine
    if not hasattr(machine.Machine, "_compile"):
        return None
    times = {f: [] for f in PHASES + ("compile",)}
    saved = [(compiler, f, getattr(compiler, f)) for f in PHASES if hasattr(compiler, f)] + [
        (machine.Machine, "_compile", getattr(machine.Machine, "_compile"))]
    for owner, name, fn in saved:
        key = "compile" if name == "_compile" else name

        def timed(*a, _fn=fn, _key=key, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                times[_key].append(time.perf_counter() - t0)
        setattr(owner, name, timed)

    def undo():
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    return times, undo


def part_c(sizes, edits: int, phases: bool = False):
    print("(c) structural edits, N sines mixed into out, ordered: edit + 2 ticks - 2 ticks, ms")
    print(f"{'N':>6} | {'new link':>9} {'new neuron':>11} | compiles per round (3 edits)"
          + (" | a compile's phases, medians: " + ", ".join(PHASES) + ", whole" if phases else ""))
    for n in sizes:
        m = sines(n, False)
        cost = {"link": [], "neuron": []}
        timing = timing_phases() if phases else None
        before = m.compiles
        for k in range(edits):
            t0 = time.perf_counter()
            m.tick(2)
            base = time.perf_counter() - t0
            t0 = time.perf_counter()
            a, b = f"s{(k * 7919) % n}", f"s{(k * 104729 + 1) % n}"
            if a == b:
                b = f"s{((k * 104729 + 1) % n + 1) % n}"
            m.connect(f"{a}.freq", b, 0.001)  # a new link between two neurons: FM, a moves a level
            m.tick(2)
            cost["link"].append(time.perf_counter() - t0 - base)
            m.edit(delta={a: {"freq": {b: {"out": -0.001}}}})
            m.tick(2)
            t0 = time.perf_counter()
            m.add(f"x{k}", "sine")
            m.connect(f"x{k}.freq", "one", 300.0 + k)
            m.connect("out.left", f"x{k}", 0.001)
            m.tick(2)
            cost["neuron"].append(time.perf_counter() - t0 - base)
        per = (m.compiles - before) / edits
        extra = ""
        if timing is not None:
            times, undo = timing
            undo()
            extra = " | " + " ".join(f"{1e3 * statistics.median(times[f]):.2f}" if times[f] else "-"
                                     for f in PHASES + ("compile",))
        print(f"{n:>6} | {1e3 * statistics.median(cost['link']):>9.2f} {1e3 * statistics.median(cost['neuron']):>11.2f} |"
              f" {per:.2f}{extra}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000", help="(a) numbers of sines")
    ap.add_argument("--seconds", type=float, default=1.5, help="(a) length of one window")
    ap.add_argument("--repeat", type=int, default=5, help="(a) windows per network")
    ap.add_argument("--edits", type=int, default=41, help="(b) repeats of each kind of edit")
    ap.add_argument("--only", choices=["a", "b", "c"])
    ap.add_argument("--phases", action="store_true",
                    help="(c) also time a compile's phases (the core's own functions, where it has them)")
    a = ap.parse_args()
    if a.only in (None, "a"):
        part_a([int(x) for x in a.sizes.split(",")], a.seconds, a.repeat)
    if a.only in (None, "b"):
        part_b(a.edits)
    if a.only in (None, "c"):
        part_c([100, 1000, 4000], a.edits, a.phases)


if __name__ == "__main__":
    main()
