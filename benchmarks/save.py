"""The cost of a save, by step: parse (fresh / incremental), diff (full / fast), apply + tick.

Usage: python benchmarks/save.py [--repeats 9] [--sizes 100,1000]

A generated patch of N sines mixed to `out` (the shape of benchmarks/latency.py's) gets
one-statement changes of two kinds:
- `sine`: one sine's frequency (a one-line statement);
- `gain`: one gain in the `out = g0*s0 + ... ` line (a statement with N terms).
Printed: medians in ms over the repeats (the machine is shared and noisy).
- parse fresh: `parse(text, path)`, what a save cost before;
- parse incr.: `parse(text, path, previous=last)`, what the app's process does now;
- diff full: `diff_full` (every row of both patches, the algorithm diff had before);
- diff fast: `diff`, as the engine runs it (both patches pickled across, as they arrive);
- unpickle: the Patch arriving in the engine (part of the engine's cost of a save);
- apply: `PatchSession.apply(text, parsed=...)` on a Machine (ordered schedule), diff included;
- tick: the tick that absorbs the edit (compiles the plan: the core's cost).
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dmmlive  # noqa: E402
from dmmlive.patch.diff import diff, diff_full  # noqa: E402
from dmmlive.patch.live import EMPTY_PATCH, PatchSession, running_decls  # noqa: E402
from dmmlive.patch.parse import parse  # noqa: E402


def patch_text(n: int, freq_bump: float = 0.0, gain_k: int | None = None) -> str:
    lines = [f"# {n} sines mixed to out", "fade(0.05)"]
    lines += [f"s{i} = sine(freq={80 + 3.7 * i + (freq_bump if i == n // 2 else 0):.3f}, amp=0.5)"
              for i in range(n)]
    gains = [(2.0 if i == gain_k else 1.0) / n for i in range(n)]
    lines.append("out = " + " + ".join(f"{g:.6g}*s{i}" for i, g in enumerate(gains)))
    return "\n".join(lines) + "\n"


def median_ms(xs) -> float:
    return statistics.median(xs) * 1e3


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def bench(n: int, kind: str, repeats: int) -> dict:
    base = patch_text(n)
    edited = [patch_text(n, freq_bump=1.0 + k) if kind == "sine" else patch_text(n, gain_k=(7 * k) % n)
              for k in range(repeats)]
    out = {k: [] for k in ("parse fresh", "parse incr.", "diff full", "diff fast", "unpickle", "apply", "tick")}
    m = dmmlive.Machine(block=128, schedule="ordered")
    session = PatchSession(m, "bench.dmm")
    session.apply(base, now=True)
    m.tick()
    app_last = parse(base, "bench.dmm", previous=EMPTY_PATCH)  # the app's parse of what the engine runs
    session.patch = pickle.loads(pickle.dumps(app_last))     # the engine's copy of it
    session.patch.matrix()
    for text in edited + [base]:
        dt, _ = timed(lambda: parse(text, "bench.dmm"))
        out["parse fresh"].append(dt)
        dt, new = timed(lambda: parse(text, "bench.dmm", previous=app_last))
        out["parse incr."].append(dt)
        blob = pickle.dumps(new)
        dt, arrived = timed(lambda: pickle.loads(blob))
        out["unpickle"].append(dt)
        W, running = m.pending_matrix(), running_decls(m)
        dt, want = timed(lambda: diff_full(W, running, session.patch, arrived))
        out["diff full"].append(dt)
        probe = pickle.loads(blob)  # a copy: the session's own builds its W in apply
        dt, got = timed(lambda: diff(W, running, session.patch, probe))
        out["diff fast"].append(dt)
        assert got == want
        dt, _ = timed(lambda: session.apply(text, "bench.dmm", parsed=arrived))
        out["apply"].append(dt)
        dt, _ = timed(m.tick)
        out["tick"].append(dt)
        for _ in range(int(0.06 * m.rate / m.block) + 1):  # past the glide
            m.tick()
        app_last = new
    return {k: median_ms(v) for k, v in out.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--sizes", default="100,1000")
    a = ap.parse_args(argv)
    cols = ("parse fresh", "parse incr.", "diff full", "diff fast", "unpickle", "apply", "tick")
    print(f"medians of {a.repeats + 1} saves, ms")
    print(f"{'neurons':>8} {'change':>6} " + " ".join(f"{c:>11}" for c in cols))
    for n in (int(x) for x in a.sizes.split(",")):
        for kind in ("sine", "gain"):
            r = bench(n, kind, a.repeats)
            print(f"{n:>8} {kind:>6} " + " ".join(f"{r[c]:>11.2f}" for c in cols), flush=True)


if __name__ == "__main__":
    main()
