"""Save-to-sound latency: from a patch file saved to the first output sample that differs,
for networks of 10, 100 and 1,000 sines mixed to `out` (each save changes one gain).

    python benchmarks/latency.py [--sizes 10,100,1000] [--saves 7] [--debounce 0,0.05]
                                 [--no-engine] [--no-jack]

Goal: 20 ms or less at 100 neurons. Prints medians over --saves saves (this machine is
shared and noisy). The parts, each measured on the one perf_counter clock:

  watch   the save (os.replace of a written temporary file) -> PatchWatcher's on_change:
          real inotify, with the debounce `dmmlive play` uses (dmmlive.app.WATCH_DEBOUNCE, 0)
          and, for comparison, the others given with --debounce
  wait    on_change -> the next tick boundary (the engine applies texts between ticks)
  apply   parse + diff + Machine.edit: PatchSession.apply, what app.apply_text runs
  ticks   after apply -> the tick whose output first differs has been computed: the
          edit's way through `edits` -> `self` -> W (the schedule's delay), the recompile
  total   save -> that tick computed, plus where the first differing sample sits in it
  heard   total + the engine's `ahead` + the device's output latency: the engine keeps
          `ahead` of sound computed before the device, which adds its own latency

The exact part is in-process: the patch's machine ticked at real-time pace by a timer
thread (absolute schedule, 128 samples at 48 kHz), texts from a real PatchWatcher applied
between its ticks, as the engine does. A twin machine gets every edit one tick later; the
first tick where the two differ is the first tick the edit is heard in (before it neither
shows it; the twin cannot show it for one more tick). The twin ticks after the timestamp.

Then the app's path (--no-engine skips it): an App (engine process, NullOutput) gets the
same saves; it prints the time from save to `applied` coming back from the engine, the
apply time inside the engine process, and the engine's `ahead`; and, where jackd is
installed (--no-jack skips it), the output latency PortAudio reports for a JACK dummy
device at 48 kHz and 256-frame periods (an AudioEngine on it, started like tests/conftest).
"""
from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dmmlive  # noqa: E402,F401  (fills the type table)
from dmmlive.app import WATCH_DEBOUNCE, apply_text  # noqa: E402
from dmmlive.drivers.watcher import PatchWatcher  # noqa: E402
from dmmlive.patch.live import load  # noqa: E402

RATE, BLOCK = 48000, 128
PERIOD = BLOCK / RATE
SPACING = 0.35  # seconds between saves: longer than the glide (fade 0.05 s) and the debounce


# ---- the patches ------------------------------------------------------------------------------
def patch_text(n: int, gains: list[float], seed: int = 1) -> str:
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(80.0, 4000.0, n)
    lines = [f"# {n} sines at random frequencies, mixed to out", "fade(0.05)"]
    lines += [f"s{i} = sine(freq={freqs[i]:.3f}, amp=0.5)" for i in range(n)]
    lines.append("out = " + " + ".join(f"{g:.6g}*s{i}" for i, g in enumerate(gains)))
    return "\n".join(lines) + "\n"


def edits(n: int, count: int, seed: int = 2):
    """`count` successive gain lists, each differing from the one before in one gain."""
    rng = np.random.default_rng(seed)
    gains = [1.0 / n] * n
    out = []
    for _ in range(count):
        k = int(rng.integers(n))
        gains = list(gains)
        gains[k] = (1.0 if gains[k] < 1.5 / n else 0.5) * (2.0 / n)  # 2/n, or back to 1/n
        out.append(gains)
    return out


def save(path: Path, text: str) -> float:
    """An atomic save (as JetBrains, Kate, os.replace); returns its time."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    t = time.perf_counter()
    os.replace(tmp, path)
    return t


def median_ms(xs) -> str:
    return f"{1e3 * statistics.median(xs):7.1f}" if xs else "      -"


# ---- in-process, exact ------------------------------------------------------------------------
class Record:
    def __init__(self, t_save):
        self.t_save = t_save
        self.t_delivered = self.t_apply0 = self.t_apply1 = self.t_heard = None
        self.tick_applied = self.tick_heard = self.sample = self.tick_settled = None


class Pacer(threading.Thread):
    """Ticks `a` and its twin `b` at real-time pace; applies delivered texts to `a` between
    ticks, and to `b` one tick later; timestamps the first tick where they differ."""

    def __init__(self, a, b, path: str):
        super().__init__(name="latency-pacer", daemon=True)
        self.a, self.b, self.path = a, b, path
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()  # (text, record)
        self.stop = threading.Event()
        self.late = 0          # ticks begun more than one period late
        self.out_of_step = 0   # ticks where a and b differed with no edit on its way or gliding
        self.error = None

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001  (shown by the main thread)
            self.error = e

    def _run(self):
        a, b = self.a, self.b
        for_b = []        # texts to give b before its next tick
        watching = []     # records whose first differing tick is not yet found
        settling = []     # records heard, while a's glide runs one tick ahead of b's
        due = time.perf_counter()
        while not self.stop.is_set():
            due += PERIOD
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -PERIOD:
                self.late += 1
                if delay < -1.0:
                    due = time.perf_counter()
            given = []
            while True:
                try:
                    text, rec = self.inbox.get_nowait()
                except queue.Empty:
                    break
                rec.t_apply0 = time.perf_counter()
                a.session.apply(text, self.path)
                rec.t_apply1 = time.perf_counter()
                rec.tick_applied = a.t
                given.append(text)
                watching.append(rec)
            a.tick()
            t_a = time.perf_counter()
            for text in for_b:
                b.session.apply(text, self.path)
            for_b = given
            b.tick()
            sa, sb = a.sound(), b.sound()
            if not np.array_equal(sa, sb):
                if watching:
                    rows = np.flatnonzero((sa != sb).any(axis=1))
                    for rec in watching:
                        rec.t_heard, rec.tick_heard, rec.sample = t_a, a.t, int(rows[0])
                    settling += watching
                    watching = []
                elif not (for_b or settling):
                    self.out_of_step += 1
            elif settling:  # the twins agree again: the scheme holds for the next save
                for rec in settling:
                    rec.tick_settled = a.t
                settling = []


def in_process(n: int, saves: int, debounce: float, folder: Path) -> dict:
    path = folder / f"sines{n}_{debounce:g}.dmm"
    path.write_text(patch_text(n, [1.0 / n] * n))
    a, b = load(path, rate=RATE, block=BLOCK), load(path, rate=RATE, block=BLOCK)
    pacer = Pacer(a, b, str(path))
    records: list[Record] = []
    current: list = [None, None]  # (text, record) of the save in flight

    def on_change(p, text):
        t = time.perf_counter()
        want, rec = current
        if rec is None or text != want or rec.t_delivered is not None:
            return  # not our save in flight
        rec.t_delivered = t
        pacer.inbox.put((text, rec))

    watcher = PatchWatcher(str(path), on_change, debounce=debounce)
    pacer.start()
    watcher.start()
    try:
        time.sleep(0.3)  # let the pacer settle, compile, warm up
        for gains in edits(n, saves):
            text = patch_text(n, gains)
            rec = Record(None)
            records.append(rec)
            current[:] = [text, rec]
            rec.t_save = save(path, text)
            deadline = time.perf_counter() + 10.0
            while rec.t_heard is None and time.perf_counter() < deadline and pacer.error is None:
                time.sleep(0.01)
            time.sleep(SPACING)
    finally:
        watcher.stop()
        pacer.stop.set()
        pacer.join(5.0)
    if pacer.error is not None:
        raise pacer.error
    done = [r for r in records if r.t_heard is not None]
    return {
        "n": n, "debounce": debounce, "saves": len(records), "heard": len(done),
        "watch": [r.t_delivered - r.t_save for r in done],
        "wait": [r.t_apply0 - r.t_delivered for r in done],
        "apply": [r.t_apply1 - r.t_apply0 for r in done],
        "ticks": [r.t_heard - r.t_apply1 for r in done],
        "delay_ticks": [r.tick_heard - r.tick_applied for r in done],
        "total": [r.t_heard - r.t_save + r.sample / RATE for r in done],
        "late": pacer.late, "out_of_step": pacer.out_of_step,
        "unsettled": sum(r.tick_settled is None for r in done),
    }


# ---- the app's path: engine process -----------------------------------------------------------
def timed_apply(m, text: str, path: str) -> float:
    """Run in the engine process: app.apply_text, timed there."""
    t0 = time.perf_counter()
    apply_text(m, text, path)
    return time.perf_counter() - t0


class Lines:
    """The App's console: timestamps each line."""

    def __init__(self):
        self.lines: list[tuple[float, str]] = []
        self._buf = ""
        self._cv = threading.Condition()

    def write(self, s):
        t = time.perf_counter()
        with self._cv:
            self._buf += s
            while "\n" in self._buf:
                line, self._buf = self._buf.split("\n", 1)
                self.lines.append((t, line))
            self._cv.notify_all()
        return len(s)

    def flush(self):
        pass

    def wait(self, pattern, start, timeout=15.0):
        rx = re.compile(pattern)
        deadline = time.perf_counter() + timeout
        with self._cv:
            while True:
                for t, line in self.lines[start:]:
                    if rx.search(line):
                        return t
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self._cv.wait(left)


def app_path(n: int, saves: int, folder: Path) -> dict:
    from dmmlive.app import App
    path = folder / f"app{n}.dmm"
    path.write_text(patch_text(n, [1.0 / n] * n))
    out, err = Lines(), Lines()
    app = App(str(path), audio=False, window=False, osc=False, out=out, err=err, status_every=3600)
    app.start()
    rt, inside = [], []
    try:
        time.sleep(0.3)
        for gains in edits(n, saves):
            mark = len(out.lines)
            t_save = save(path, patch_text(n, gains))
            t = out.wait(r": applied \(", mark)
            if t is not None:
                rt.append(t - t_save)
            time.sleep(SPACING)
        # the apply alone, inside the engine process (no watcher): same kind of edit
        for gains in edits(n, saves, seed=3):
            inside.append(app.engine.call(timed_apply, patch_text(n, gains), str(path), timeout=60.0))
        status, info = app.engine.status(), dict(app.engine.info)
    finally:
        app.stop()
    return {"applied": rt, "inside": inside, "ahead": info["ahead"], "latency": status["latency"],
            "xruns": status["xruns"]}


def jack_figures(folder: Path) -> dict | None:
    """`ahead` and the output latency of an AudioEngine on a JACK dummy device, or None."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        return None
    from tests.conftest import JACK_PERIOD, _start_jackd, _stop
    from dmmlive.app import build
    from dmmlive.drivers.audio import AudioEngine
    server = f"dmmlive-latency-{os.getpid()}"
    proc, realtime, log = _start_jackd(server, False)
    if proc is None:
        log.close()
        return None
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server
    try:
        path = folder / "jack.dmm"
        path.write_text(patch_text(10, [0.1] * 10))
        eng = AudioEngine(build, (str(path), RATE, BLOCK, True), device="system").start()
        try:
            time.sleep(1.0)
            s, info = eng.status(), dict(eng.info)
        finally:
            eng.stop()
        return {"ahead": info["ahead"], "fill": s["ahead"], "latency": s["latency"], "period": JACK_PERIOD}
    finally:
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
        _stop(proc)
        log.close()


# ---- main -------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--saves", type=int, default=7)
    ap.add_argument("--debounce", default=f"{WATCH_DEBOUNCE:g},0.05",
                    help="watcher debounces to try (s); the first should be the app's")
    ap.add_argument("--no-engine", action="store_true", help="skip the app's path (engine process)")
    ap.add_argument("--no-jack", action="store_true", help="skip the JACK device latency")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    debounces = [float(x) for x in a.debounce.split(",")]
    print(f"watcher debounce of `dmmlive play`: {WATCH_DEBOUNCE:g} s (PatchWatcher's default: "
          f"{PatchWatcher.__init__.__defaults__[0]:g} s); tick = {1e3 * PERIOD:.2f} ms; medians over "
          f"{a.saves} saves, ms")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jack = None if a.no_jack else jack_figures(folder)
        engine = {} if a.no_engine else {n: app_path(n, a.saves, folder) for n in sizes}

        print("\nin-process, exact (real inotify; machine ticked at real-time pace)")
        print(f"{'neurons':>7} {'debounce':>8} | {'watch':>7} {'wait':>7} {'apply':>7} {'ticks':>7} "
              f"{'total':>7} | delay  heard/null  heard/jack | late")
        rows = []
        for n in sizes:
            for d in debounces:
                r = in_process(n, a.saves, d, folder)
                rows.append(r)
                tot = statistics.median(r["total"]) if r["total"] else float("nan")
                ahead_null = engine[n]["ahead"] if n in engine else 0.05
                null = tot + ahead_null
                jk = f"{1e3 * (tot + jack['ahead'] + jack['latency']):9.1f}" if jack else "        -"
                dt = statistics.median(r["delay_ticks"]) if r["delay_ticks"] else float("nan")
                print(f"{n:>7} {d:>8g} | {median_ms(r['watch'])} {median_ms(r['wait'])} "
                      f"{median_ms(r['apply'])} {median_ms(r['ticks'])} {median_ms(r['total'])} | "
                      f"{dt:5.0f}  {1e3 * null:9.1f}  {jk} | {r['late']}"
                      + (f"  ({r['heard']}/{r['saves']} heard)" if r["heard"] < r["saves"] else "")
                      + (f"  OUT OF STEP {r['out_of_step']}" if r["out_of_step"] else "")
                      + (f"  ({r['unsettled']} glides unsettled)" if r["unsettled"] else ""))
        print("  delay: ticks from the tick boundary of the apply to the first differing tick;"
              " late: ticks begun over a period late (the apply or a recompile ran long)")

        if engine:
            print("\nthe app's path (App, engine process, NullOutput)")
            print(f"{'neurons':>7} | save->applied  apply in engine | ahead  latency  xruns")
            for n in sizes:
                e = engine[n]
                print(f"{n:>7} | {median_ms(e['applied']):>13} {median_ms(e['inside']):>16} | "
                      f"{1e3 * e['ahead']:5.1f}  {1e3 * e['latency']:7.1f}  {e['xruns']:5d}")
        if jack:
            print(f"\nJACK dummy device ({jack['period']}-frame periods at {RATE} Hz), AudioEngine: "
                  f"ahead {1e3 * jack['ahead']:.1f} ms (filled: {1e3 * jack['fill']:.1f} ms), "
                  f"output latency {1e3 * jack['latency']:.1f} ms")
        elif not a.no_jack:
            print("\n(no jackd: heard/jack not measured)")
        goal = [r for r in rows if r["n"] == 100]
        if goal and jack:
            best = min(statistics.median(r["total"]) + jack["ahead"] + jack["latency"] for r in goal if r["total"])
            print(f"\ngoal: <= 20 ms heard at 100 neurons; best here {1e3 * best:.1f} ms (JACK dummy)")


if __name__ == "__main__":
    main()
