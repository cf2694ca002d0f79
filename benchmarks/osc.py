"""OSC control: (a) latency from a message's arrival to the tick whose output reflects it,
(b) the highest message rate the listener and its queue sustain without a loss.

The machine ticks in-process at real-time pace on a timer (48 kHz, B = 128: 375 ticks/s)
in an engine thread that drains the listener, runs the commands through a Controller
between ticks and sends replies; the listener runs in its own thread (as in the app's
main process). Senders run in a separate process.

    python benchmarks/osc.py [--messages 400] [--repeat 3]
Prints medians; this machine is shared and noisy.
"""
import argparse
import multiprocessing as mp
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dmmlive import Machine  # noqa: E402
from dmmlive.control import Controller  # noqa: E402
from dmmlive.core.registry import STANDARD  # noqa: E402
from dmmlive.drivers.osc import OscServer, build  # noqa: E402

RATE, BLOCK = 48000, 128
TYPES = STANDARD.copy()  # the standard types and this benchmark's own


@TYPES.neuron_type("bench_dc_osc", kind="audio", inputs={"level": 1.0}, batched=True)
def bench_dc_osc(state, rate, level):
    """Benchmark type: outputs its level."""
    return level.copy()


class Engine(threading.Thread):
    """Ticks a machine at real-time pace; before each tick runs what the listener received."""

    def __init__(self, server: OscServer, watch=None, apply=True):
        super().__init__(daemon=True, name="bench-engine")
        self.m = Machine(rate=RATE, block=BLOCK, types=TYPES)
        self.m.add("d", "bench_dc_osc")
        self.m.connect("out.left", "d", 0.0)
        self.m.tick()
        self.ctl = Controller(self.m, fade=0.0)
        self.server = server
        self.watch = watch        # called after each tick: watch(m, tick_end_time)
        self.stop = threading.Event()
        self.late = 0             # ticks that started more than one period late
        self.commands = 0
        self.apply = apply        # False: drain and count only (as when handing on to an engine process)

    def run(self):
        period = BLOCK / RATE
        start = time.perf_counter()
        k = 0
        while not self.stop.is_set():
            k += 1
            due = start + k * period
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            elif now - due > period:
                self.late += 1
            replies = []
            for cmd in self.server.drain():
                self.commands += 1
                if self.apply:
                    replies += self.ctl.submit(cmd.op, cmd.args, cmd.timetag, cmd.reply_addr)
            replies += self.ctl.run_due()
            self.m.tick()
            if self.watch:
                self.watch(self.m, time.perf_counter())
            if replies:
                self.server.send_replies(replies)


def latency(n_messages: int):
    """Per message: ticks from the tick boundary that picked it up to the tick whose output
    shows it, and ms from sending it to the end of that tick."""
    server = OscServer(port=0).start()
    sent = {}      # value -> (send time, tick count at send)
    seen = {}      # value -> (tick, time) of the first tick whose output shows it
    picked = {}    # value -> tick count when the engine drained it

    arrived = threading.Event()

    def watch(m, t):
        x = round(float(m.input("out", "left")[0]) * 1000)
        if x in sent and x not in seen:
            seen[x] = (m.t, t)
            arrived.set()

    eng = Engine(server, watch)
    orig = server.drain

    def drain(max_n=None):
        cmds = orig(max_n)
        for c in cmds:
            picked.setdefault(round(c.args[2] * 1000), eng.m.t)
        return cmds
    server.drain = drain
    eng.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = np.random.default_rng(1)
    ticks, ms = [], []
    time.sleep(0.2)
    for i in range(1, n_messages + 1):
        v = i % 900 + 1
        sent.pop(v, None), seen.pop(v, None), picked.pop(v, None)
        time.sleep(0.004 + float(rng.uniform(0, BLOCK / RATE)))  # off the tick grid
        arrived.clear()
        sent[v] = (time.perf_counter(), eng.m.t)
        sock.sendto(build("/dmm/set", ["out.left", "d.out", v / 1000]), ("127.0.0.1", server.port))
        arrived.wait(1.0)
        if v in seen:
            ticks.append(seen[v][0] - picked[v])
            ms.append((seen[v][1] - sent[v][0]) * 1000)
    eng.stop.set()
    eng.join()
    server.close()
    sock.close()
    return ticks, ms, eng.late


def _sender(port, rate, seconds, ready, go):
    """Send /dmm/add messages at `rate` per second for `seconds`, paced in 1 ms slices."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    msg = build("/dmm/add", ["out.right", "d.out", 1.0])
    to = ("127.0.0.1", port)
    ready.set()
    go.wait()
    n_total = int(rate * seconds)
    start = time.perf_counter()
    sent = 0
    while sent < n_total:
        target = min(n_total, int((time.perf_counter() - start) * rate) + 1)
        while sent < target:
            sock.sendto(msg, to)
            sent += 1
        time.sleep(0.001)
    sock.close()


def sustained(rate: int, apply: bool, seconds: float = 1.0, queue_size: int = 4096):
    """(lost, dropped by the full queue, weight applied, max queue depth, queued) for one
    paced run at `rate` msg/s."""
    server = OscServer(port=0, queue_size=queue_size).start()
    eng = Engine(server, apply=apply)
    eng.start()
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_sender, args=(server.port, rate, seconds, ready, go))
    p.start()
    ready.wait(30)
    go.set()
    p.join()
    n = int(rate * seconds)
    deadline = time.perf_counter() + 2.0
    while eng.commands < n and time.perf_counter() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    eng.stop.set()
    eng.join()
    s = server.stats()
    server.close()
    applied = eng.m.matrix.get("out", {}).get("right", {}).get("d", {}).get("out", 0.0)
    return n - s["accepted"], s["dropped"], applied, s["max_depth"], s["accepted"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"machine: {RATE} Hz, block {BLOCK} ({BLOCK / RATE * 1000:.2f} ms a tick), ordered schedule")
    ticks, ms, late = latency(a.messages)
    print(f"(a) arrival -> first tick whose output reflects it, {len(ticks)} messages:")
    print(f"    ticks after the tick boundary that picked it up: median {statistics.median(ticks):g}, "
          f"max {max(ticks)}")
    print(f"    send -> end of that tick: median {statistics.median(ms):.2f} ms, "
          f"p95 {np.percentile(ms, 95):.2f} ms ({late} late ticks)")
    print("(b) paced /dmm/add from another process for 1 s each; lost = sent - queued")
    for apply, what in ((False, "listener + queue, drained each tick (the engine elsewhere)"),
                        (True, "listener + queue + each command applied by the in-process engine")):
        print(f"  {what}:")
        best = 0
        for rate in (1000, 2000, 5000, 10000, 15000, 20000, 30000, 40000, 60000, 80000):
            runs = [sustained(rate, apply) for _ in range(a.repeat)]
            lost = statistics.median(r[0] for r in runs)
            line = (f"    {rate:6d} msg/s: lost median {lost:g} (of which the full queue dropped "
                    f"{statistics.median(r[1] for r in runs):g}), max depth "
                    f"{statistics.median(r[3] for r in runs):g}")
            if apply:
                line += f", weight == commands queued: {all(r[2] == r[4] for r in runs)}"
            print(line)
            if all(r[0] == 0 for r in runs):
                best = rate
            elif lost > 0.05 * rate:
                break
        print(f"    highest rate with no loss in any of {a.repeat} runs: {best} msg/s")


if __name__ == "__main__":
    main()
