"""A set's log rendered in segments on Ray workers (`dmmlive render set.dmmlog --workers N`):
wall time with 1 worker (in this process, no Ray) and with N workers (a local Ray
instance, started before the clock runs: a cluster is up before a render is sent to it),
and the speedup.

    python benchmarks/render_workers.py [--seconds 60] [--size 1280x720] [--workers 1,2]
                                        [--segment 10] [--warmup 1]

The log is made offline first (patches/demo.dmm driven by hand as the engine would, a
save and an OSC change on the way). Prints, per worker count, the wall time (the sound
pass, the segments and the join), the render as a multiple of real time, and the
speedup over 1 worker; then checks that the files decode to the same pictures and sound.
On a machine without a GPU the pictures are drawn by llvmpipe on the CPU, so N workers on
fewer than N free cores cannot go N times faster.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dmmlive.app import build  # noqa: E402
from dmmlive.distributed import render_split  # noqa: E402


def make_log(d: Path, seconds: float) -> Path:
    patch, log = d / "set.dmm", d / "set.dmmlog"
    text = (ROOT / "patches" / "demo.dmm").read_text()
    patch.write_text(text)
    host = build(str(patch), 48000, 128, True, 0.05, None, False, str(log))
    ticks = int(seconds * 48000 / 128)
    for t in range(ticks):
        if t == ticks // 3:
            host.apply_text(text.replace("sides=6", "sides=5"), str(patch))
        if t == 2 * ticks // 3:
            host.osc([("set", ["out.left", "echo", 0.35], None, None)])
        host.tick()
    host.log.close(host.machine.t)
    return log


def decode(path):
    import av
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        sound = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    return frames, sound


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--segment", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.split("x"))
    counts = [int(x) for x in a.workers.split(",")]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t = time.perf_counter()
        log = make_log(d, a.seconds)
        print(f"log of {a.seconds:g} s (patches/demo.dmm) made in {time.perf_counter() - t:.1f} s; "
              f"rendering at {size[0]}x{size[1]}, segments of {a.segment:g} s, warm-up {a.warmup:g} s", flush=True)
        ray = None
        if max(counts) > 1:
            import ray
            t = time.perf_counter()
            ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
            print(f"ray.init(num_cpus={max(counts)}): {time.perf_counter() - t:.1f} s (not counted below)", flush=True)
        walls, files = {}, {}
        try:
            for n in counts:
                out = d / f"w{n}.mp4"
                t = time.perf_counter()
                render_split(str(log), out, size=size, workers=n, segment=a.segment, warmup=a.warmup)
                walls[n] = time.perf_counter() - t
                files[n] = out
                print(f"workers {n}: {walls[n]:7.1f} s wall, {a.seconds / walls[n]:.2f}x real time"
                      + (f", speedup {walls[counts[0]] / walls[n]:.2f}x over {counts[0]}" if n != counts[0] else ""),
                      flush=True)
        finally:
            if ray is not None:
                ray.shutdown()
        ref = decode(files[counts[0]])
        for n in counts[1:]:
            got = decode(files[n])
            same = len(ref[0]) == len(got[0]) and all(np.array_equal(x, y) for x, y in zip(ref[0], got[0])) \
                and np.array_equal(ref[1], got[1])
            print(f"workers {n} vs {counts[0]}: decoded pictures and sound {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
