"""`dmmlive play` under OSC, end to end: the App's listener, its forwarder and the engine's
Controller, over real UDP on loopback, while a patch plays on the JACK dummy clock.

One App per module (start-up costs seconds). Functions that read the running machine run
in the engine process through `engine.call` (tests/play_probe.py); a per-tick recorder
there gives the tick at which each change first shows. Replies are awaited with a
barrier: a `/dmm/get one.out` sent after the message under test is answered after it.

Waits poll with a deadline (a failure guard); ticks are compared with the Controller's
own clock mapping, never with the wall clock. Figures (latency, flood) are printed, not
asserted: run with `-s` to see them.
"""
from __future__ import annotations

import inspect
import io
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from dmmlive import vv
from dmmlive.app import App
from dmmlive.cli import build_parser
from dmmlive.control import tick_for_time
from dmmlive.drivers import osc
from dmmlive.drivers.osc import MAX_REASON, MAX_UDP, PacketError, build, parse_packet
from dmmlive.neurons.control import smoothing

from . import play_probe as P
from .conftest import engine_xruns_allowed, host_xruns_allowed, skip_if_host_unfit

HOST = "127.0.0.1"
DEADLINE = 20.0
BARRIER = "one.out"      # `/dmm/get one.out`: answered after every command sent before it
FADE = 0.02

PATCH = f"""\
fade({FADE})
tone  = sine(freq=220, amp=0.2)
vol   = knob("/1/fader1", default=0.5, lag=0.02)
px    = knob("/1/xy1/x", default=0.0, lag=0)
py    = knob("/1/xy1/y", default=0.0, lag=0)
vca   = mul(tone, vol)
probe = clip(lo=-1000, hi=1000)
out.left  = 0.5*vca
out.right = 0.5*vca + 0.001*px + 0.001*py
"""
VARIANT = PATCH.replace("clip(lo=-1000,", "clip(lo=-999,")
OUTSIDE = PATCH.replace("clip(lo=-1000,", "clip(lo=-777,") + "far = sine(freq=3, amp=0.25)\n"

# What the per-tick recorder reads (indices into a record's values)
SPECS = [("w", "probe", "in", "one", "out"),   # 0: the weight the flood and the timed tests edit
         ("in", "probe", "in", "mean"),        # 1: its effect: probe.in's input
         ("out", "vol", "out", "mean"),        # 2: the fader knob
         ("in", "out", "left", "peak"),        # 3: what the knob's gain does to the sound
         ("out", "px", "out", "mean"),         # 4, 5: the xy pad's knobs
         ("out", "py", "out", "mean")]
W_PROBE, IN_PROBE, VOL, PEAK_LEFT, PX, PY = range(6)


# sound, file watcher and OSC only (where the app has a window, it is not what is tested here)
NO_WINDOW = {"window": False} if "window" in inspect.signature(App).parameters else {}
NO_WINDOW_FLAG = ["--no-window"] if any(
    "--no-window" in a.option_strings for sub in build_parser()._subparsers._group_actions
    for a in sub.choices["play"]._actions) else []


# ---- helpers ----------------------------------------------------------------------------
def wait_for(cond, what, deadline=DEADLINE, every=0.005):
    end = time.monotonic() + deadline
    while True:
        x = cond()
        if x:
            return x
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)


class Client:
    """A UDP socket of its own (so no stale reply reaches it) talking to the app. Replies
    are read as messages are sent, so a burst of answers never overflows its buffer."""

    def __init__(self, port: int):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(DEADLINE)
        self.pending: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, address, *args):
        osc.send(HOST, self.port, address, *args, sock=self.sock)
        self._collect()

    def raw(self, data: bytes):
        self.sock.sendto(data, (HOST, self.port))
        self._collect()

    def _collect(self):
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            while True:
                self.pending.append(self._read())
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(timeout)

    def _read(self):
        data, _ = self.sock.recvfrom(1 << 17)
        [(msg, _)] = parse_packet(data)
        return msg.address, list(msg.params)

    def reply(self):
        return self.pending.pop(0) if self.pending else self._read()

    def barrier(self) -> list:
        """Every reply to what was sent before, once all of it has run in the engine."""
        self.send("/dmm/get", BARRIER)
        got = []
        while True:
            r = self.reply()
            if r[0] == "/dmm/value" and r[1][0] == BARRIER:
                return got
            got.append(r)


def exchange(app, *messages) -> list:
    """Send (address, *args) messages from a fresh socket; the replies they got but the
    acknowledgements (/dmm/ok), once each command was answered exactly once (a knob is not
    answered unless refused) and each acknowledgement named its command."""
    with Client(app.server.port) as c:
        for address, *args in messages:
            c.send(address, *args)
        got = c.barrier()
    commands = [m for m in messages if m[0].startswith("/dmm/")]
    answers = [r for r in got if r[0] in ("/dmm/ok", "/dmm/error", "/dmm/value")]
    assert len(commands) <= len(answers) <= len(messages), (messages, got)  # a knob: only if refused
    assert [a[1][0] for a in got if a[0] == "/dmm/ok"] == [m[0] for m in commands][:len(
        [a for a in got if a[0] == "/dmm/ok"])] or any(r[0] == "/dmm/error" for r in got)
    return [r for r in got if r[0] != "/dmm/ok"]


def E(app, fn, *args):
    return app.engine.call(fn, *args, timeout=30.0)


def settle(app):
    """Edits absorbed and glides ended, and a tick computed since: the tick that ends a
    glide still holds its last ramped block (what /dmm/get reads is the last block's)."""
    wait_for(lambda: E(app, P.settled), "the edits to be absorbed and their glides to end")
    t = tick(app)
    wait_for(lambda: tick(app) > t + 1, "a tick after the glides")


def tick(app) -> int:
    return E(app, P.counters)["t"]


def records_after(app, t, n_after=0, what="records"):
    """The recorder's records since tick t, once those up to tick t + n_after are made, and
    at least that of the tick computed last when this is called (made as the next begins)."""
    upto = max(t + n_after, tick(app))
    return wait_for(lambda: (lambda r: r if r and r[-1][0] >= upto else None)(E(app, P.records, t)), what)


def first_change(records, i, base, eps=1e-9):
    for r in records:
        if abs(r[3][i] - base) > eps:
            return r
    return None


def bundle(timetag, messages) -> bytes:
    b = OscBundleBuilder(timetag)
    for address, args in messages:
        mb = OscMessageBuilder(address)
        for a in args:
            mb.add_arg(a)
        b.add_content(mb.build())
    return b.build().dgram


def vmhwm_rss(pid="self") -> tuple[int, int]:
    """(peak RSS, RSS) of a process in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out["VmHWM"], out["VmRSS"]


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the socket bound to `port` (a full receive buffer)."""
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[-1])
    raise AssertionError(f"no UDP socket on port {port}")


# ---- the app ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("play")
    (d / "live.dmm").write_text(PATCH)
    (d / "variant.dmm").write_text(VARIANT)
    other = tmp_path_factory.mktemp("elsewhere")
    (other / "outside.dmm").write_text(OUTSIDE)
    return d, other


@pytest.fixture(scope="module")
def app(jack, folder):
    d, _ = folder
    out, err = io.StringIO(), io.StringIO()
    a = App(str(d / "live.dmm"), audio=True, device=jack.device, osc_port=0, out=out, err=err, **NO_WINDOW)
    a.start()
    try:
        assert a.engine.info["device"] == jack.device
        assert f"OSC on {HOST}:{a.server.port}" in out.getvalue()
        assert err.getvalue() == ""   # loopback: no warning
        E(a, P.install_recorder, SPECS)
        yield a
    finally:
        a.stop()
    assert "stopped:" in out.getvalue()


# ---- every address of the OSC address space ---------------------------------------------------
def test_set_glides_over_the_fade_and_add_jumps(app):
    w0 = E(app, P.weight, "probe", "in", "one", "out")
    t0 = tick(app)
    assert exchange(app, ("/dmm/set", "probe.in", "one.out", w0 + 2.0)) == []
    settle(app)
    assert E(app, P.weight, "probe", "in", "one", "out") == pytest.approx(w0 + 2.0)
    rec = records_after(app, t0, 3)
    values = [r[3][IN_PROBE] for r in rec]
    ramp = [v for v in values if w0 + 1e-6 < v < w0 + 2.0 - 1e-6]
    n_fade = FADE * app.rate / app.block      # 7.5 ticks
    assert math.floor(n_fade) - 1 <= len(ramp) <= math.ceil(n_fade) + 1, values
    assert ramp == sorted(ramp)
    assert values[-1] == pytest.approx(w0 + 2.0)

    t1 = tick(app)
    assert exchange(app, ("/dmm/add", "probe.in", "one.out", -2.0)) == []
    settle(app)
    rec = records_after(app, t1, 3)
    values = [r[3][IN_PROBE] for r in rec]
    assert not [v for v in values if w0 + 1e-6 < v < w0 + 2.0 - 1e-6], values  # at once: no ramp
    assert values[0] == pytest.approx(w0 + 2.0) and values[-1] == pytest.approx(w0)


def test_hush_silences_the_sound_while_the_network_runs_and_hush_0_brings_it_back(app):
    n_fade = math.ceil(FADE * app.rate / app.block)
    assert E(app, P.sound)[1] > 0.01
    assert exchange(app, ("/dmm/hush",)) == []
    t0 = E(app, P.sound)[0]
    wait_for(lambda: E(app, P.sound)[0] > t0 + n_fade + 2, "the fade to end")
    seen = [E(app, P.sound)]
    for _ in range(3):  # three later ticks
        seen.append(wait_for(lambda: (lambda s: s if s[0] > seen[-1][0] else None)(E(app, P.sound)), "a tick"))
    assert all(peak == 0.0 for _, peak, _ in seen), seen          # exact silence
    assert len({x for _, _, x in seen}) == len(seen), seen         # while the tone runs on
    assert exchange(app, ("/dmm/hush", 0)) == []
    t1 = E(app, P.sound)[0]
    wait_for(lambda: E(app, P.sound)[0] > t1 + n_fade + 2, "the fade in to end")
    assert E(app, P.sound)[1] > 0.01


def test_value_and_get(app):
    assert exchange(app, ("/dmm/value", "probe.hi", 500)) == []
    settle(app)
    assert E(app, P.weight, "probe", "hi", "one", "out") == 500.0
    with Client(app.server.port) as c:
        c.send("/dmm/get", "probe.hi")
        assert c.reply() == ("/dmm/value", ["probe.hi", 500.0])
        c.send("/dmm/get", "probe.lo")
        assert c.reply() == ("/dmm/value", ["probe.lo", -1000.0])
        c.send("/dmm/get", "vol")    # a default output
        address, (ref, x) = c.reply()
        assert (address, ref) == ("/dmm/value", "vol") and x == pytest.approx(E(app, P.read, "vol", "out"))
    assert exchange(app, ("/dmm/value", "probe.hi", 1000.0)) == []
    settle(app)
    assert E(app, P.weight, "probe", "hi", "one", "out") == 1000.0


def test_neuron_and_remove(app):
    assert exchange(app, ("/dmm/neuron", "wob", "sine", "freq", 3, "amp", 0.5),
                    ("/dmm/set", "probe.in", "wob.out", 0.25)) == []
    settle(app)
    assert E(app, P.neurons)["wob"] == "sine"
    assert E(app, P.weight, "wob", "freq", "one", "out") == 3.0
    assert E(app, P.weight, "probe", "in", "wob", "out") == 0.25
    assert exchange(app, ("/dmm/get", "wob.freq")) == [("/dmm/value", ["wob.freq", 3.0])]
    assert exchange(app, ("/dmm/remove", "wob")) == []
    wait_for(lambda: "wob" not in E(app, P.neurons), "wob to be retired")
    assert E(app, P.weight, "probe", "in", "wob", "out") == 0.0
    assert "wob" not in E(app, P.matrix)


def test_code_and_load_apply_patch_texts(app, folder):
    d, _ = folder
    lo = lambda: E(app, P.weight, "probe", "lo", "one", "out")  # noqa: E731
    assert exchange(app, ("/dmm/code", VARIANT)) == []
    settle(app)
    assert lo() == -999.0
    assert exchange(app, ("/dmm/code", PATCH)) == []
    settle(app)
    assert lo() == -1000.0
    assert exchange(app, ("/dmm/load", "variant.dmm")) == []      # relative to the patch's folder
    settle(app)
    assert lo() == -999.0
    assert exchange(app, ("/dmm/load", str(d / "live.dmm"))) == []
    settle(app)
    assert lo() == -1000.0


def test_load_outside_the_patch_folder_is_refused(app, folder):
    d, other = folder
    before = E(app, P.matrix)
    for path in (str(other / "outside.dmm"), f"../{other.name}/outside.dmm"):
        [(address, (where, reason))] = exchange(app, ("/dmm/load", path))
        assert address == "/dmm/error" and where == "/dmm/load"
        assert reason.startswith(f"{path}: outside the folder patches may be loaded from ({d.resolve()})")
    assert vv.equal(E(app, P.matrix), before)


def test_load_refusal_names_an_option_that_exists(app, folder):
    _, other = folder
    [(_, (_, reason))] = exchange(app, ("/dmm/load", str(other / "outside.dmm")))
    assert "--load-root" not in reason and "--allow-load-anywhere" in reason


def test_record_start_and_stop(app, folder):
    d, _ = folder
    take = d / "take.mp4"
    assert exchange(app, ("/dmm/record", "start", str(take))) == []
    time.sleep(0.3)
    assert exchange(app, ("/dmm/record", "stop")) == []
    wait_for(lambda: take.exists() and take.stat().st_size > 0, "the recording")


def test_knob_fader_moves_the_gain_toward_its_value(app):
    a = smoothing(0.02, app.rate, app.block)
    v0 = E(app, P.read, "vol", "out")
    assert v0 == pytest.approx(0.5)
    t0 = tick(app)
    target = float(np.float32(0.9))     # an OSC float is 32 bits
    assert exchange(app, ("/1/fader1", 0.9)) == []
    n = math.ceil(0.02 * 12 * app.rate / app.block)       # 12 time constants
    rec = records_after(app, t0, n + 30)
    first = first_change(rec, VOL, v0)
    assert first is not None
    k = rec.index(first)
    vols = [r[3][VOL] for r in rec[k:]]
    assert vols[0] == pytest.approx(v0 + a * (target - v0), rel=1e-12)   # one pole: 12.5 % of the way
    assert all(x <= y <= target for x, y in zip(vols, vols[1:]))
    assert vols[-1] == pytest.approx(target, abs=1e-3)
    peak = max(r[3][PEAK_LEFT] for r in rec[-30:])      # out.left = 0.5 * 0.2 * sine * vol
    assert peak == pytest.approx(0.5 * 0.2 * 0.9, rel=0.02)
    assert exchange(app, ("/1/fader1", 0.5)) == []


def test_knob_xy_pad_sets_its_two_knobs(app):
    assert exchange(app, ("/1/xy1", 0.25, 0.75)) == []
    wait_for(lambda: E(app, P.read, "px", "out") == 0.25 and E(app, P.read, "py", "out") == 0.75,
             "the xy knobs")
    assert exchange(app, ("/1/xy1", 0, 1)) == []          # ints from a controller are numbers too
    wait_for(lambda: E(app, P.read, "px", "out") == 0.0 and E(app, P.read, "py", "out") == 1.0,
             "the xy knobs")


# ---- bad messages: answered, and nothing changes ---------------------------------------------
BAD = [
    ("/dmm/set", ["probe.in", "one.out"], "expected dst.port src.port w"),
    ("/dmm/set", ["probe.in", "one.out", "0.5"], "got (string, string, string)"),
    ("/dmm/set", ["probe.in", "one.out", True], "got (string, string, bool)"),
    ("/dmm/set", ["probe.in", "one.out", float("inf")], "finite"),
    ("/dmm/set", ["probe.in", "nope.out", 0.5], "unknown neuron 'nope'"),
    ("/dmm/add", [], "got no arguments"),
    ("/dmm/add", ["probe.nothere", "one.out", 1.0], "nothere"),
    ("/dmm/value", ["probe.lo", 1.0, 2.0], "expected name.port x"),
    ("/dmm/neuron", ["s"], "expected name type"),
    ("/dmm/neuron", ["s", "sinee"], "did you mean 'sine'"),
    ("/dmm/neuron", ["s", "sine", "level", 1.0], "no argument or input 'level'"),
    ("/dmm/remove", [], "expected name"),
    ("/dmm/remove", ["nobody"], "unknown neuron 'nobody'"),
    ("/dmm/remove", ["one"], "built in"),
    ("/dmm/code", [3], "expected patch text"),
    ("/dmm/code", ["x = sinee()\n"], "<osc>:1:"),
    ("/dmm/load", [""], "path must be a non-empty string, got '' (/dmm/load path)"),
    ("/dmm/load", ["missing.dmm"], "no such file"),
    ("/dmm/record", ["pause"], "'start' [path] or 'stop'"),
    ("/dmm/get", [1.0], "expected name.port"),
    ("/dmm/get", ["nobody.out"], "unknown neuron 'nobody'"),
    ("/1/fader1", [0.1, 0.2], "/1/fader1 is a knob: send one number, got two"),
    ("/1/xy1", [0.1], "/1/xy1 is an xy pad (/1/xy1/x, /1/xy1/y): send two numbers, got one"),
    ("/dmm/sett", ["a", "b", 1.0], "unknown address (did you mean /dmm/set?)"),
    ("/nothing/here", [1.0], "unknown address: no knob listens to it"),
    ("/nothing/here", ["x"], "unknown address"),
]


@pytest.fixture
def unchanged(app):
    """Asserts afterwards that W, the neurons and the Controller's successes did not change
    (but for the barrier gets), and that the listener met no internal error."""
    settle(app)
    before = (E(app, P.matrix), E(app, P.neurons), E(app, P.counters)["executed"])
    gets = []
    yield gets
    after = (E(app, P.matrix), E(app, P.neurons), E(app, P.counters)["executed"])
    assert vv.equal(after[0], before[0])
    assert after[1] == before[1]
    assert after[2] - before[2] == len(gets)
    assert app.server.stats()["internal_errors"] == 0


@pytest.mark.parametrize("address,args,why", BAD, ids=[f"{a}{b}" for a, b, _ in BAD])
def test_bad_messages_are_answered_and_change_nothing(app, unchanged, address, args, why):
    [(got, (where, reason))] = exchange(app, (address, *args))
    unchanged.append(BARRIER)
    assert got == "/dmm/error" and where == address and why in reason


def test_errors_reach_the_console_and_overlay_once_and_successes_are_acknowledged(app):
    err = app.err.getvalue()
    bad = ("/dmm/set", "probe.in", "nosuch_console.out", 1.0)
    with Client(app.server.port) as c:
        for _ in range(3):
            c.send(*bad)
        c.send("/nosuch/console/fader", 0.5)          # refused by the listener
        c.send("/dmm/value", "probe.in", 0.0)          # done
        got = c.barrier()
    assert [r[0] for r in got] == ["/dmm/error"] * 4 + ["/dmm/ok"]  # each answered to its sender
    assert got[-1] == ("/dmm/ok", ["/dmm/value", "probe.in", 0.0])
    new = app.err.getvalue()[len(err):]
    said = [line for line in new.splitlines() if "nosuch_console" in line]
    assert said == ["dmmlive: OSC /dmm/set: unknown neuron 'nosuch_console'"], new  # once
    assert "dmmlive: OSC /nosuch/console/fader: unknown address" in new
    assert any("nosuch_console" in e for e in app.errors)  # the window's overlay shows these


def test_a_knob_sent_a_string_is_told_what_a_knob_takes(app):
    [(got, (where, reason))] = exchange(app, ("/1/fader1", "loud"))
    assert got == "/dmm/error" and "a knob takes one number" in reason


def test_truncated_packets_are_answered_and_change_nothing(app, unchanged):
    packets = [build("/dmm/set", ["probe.in", "one.out", 0.5]), build("/dmm/neuron", ["s", "sine", "freq", 3.0]),
               build("/1/xy1", [0.1, 0.2]), build("/dmm/code", ["probe = clip(lo=-5)\n"])]
    cuts = [p[:i] for p in packets for i in range(1, len(p))]
    with Client(app.server.port) as c:
        for data in cuts:
            c.raw(data)
        replies = c.barrier()
    unchanged.append(BARRIER)
    assert len(replies) == len(cuts)     # every cut of a message is refused, one answer each
    assert all(address == "/dmm/error" and len(args) == 2 for address, args in replies)


def test_random_bytes_are_answered_and_change_nothing(app, unchanged):
    gen = random.Random(20240611)
    packets, expect = [], 0
    for _ in range(300):
        body = bytes(gen.getrandbits(8) for _ in range(gen.choice([1, 3, 4, 7, 8, 16, 33, 64, 200, 1500])))
        p = gen.choice([b"", b"/", b"#bundle\x00", b"/dmm/set\x00\x00\x00\x00",
                        b"/dmm/set\x00\x00\x00\x00,ssf"]) + body
        packets.append(p)
        try:               # a datagram refused whole gets one answer; a readable one, one per message
            expect += len(parse_packet(p))
        except PacketError:
            expect += 1
    with Client(app.server.port) as c:
        for p in packets:
            c.raw(p)
        replies = c.barrier()
    unchanged.append(BARRIER)
    assert len(replies) == expect
    assert all(address == "/dmm/error" and len(args) == 2 for address, args in replies)


def test_the_largest_datagrams_are_answered_and_change_nothing(app, unchanged):
    # Nothing larger than MAX_UDP fits in a UDP datagram over IPv4, and the app takes up to
    # that: the largest bogus packets are answered, with a reply of bounded size.
    name = "n" * 40000
    big_set = build("/dmm/set", ["probe.in", name + ".out", 0.5])
    big_code = build("/dmm/code", ["# a comment\n" * 5400 + "x = sinee()\n"])
    noise = b"\x01" * MAX_UDP
    assert len(big_set) < MAX_UDP and 60000 < len(big_code) < MAX_UDP
    with Client(app.server.port) as c:
        for data in (big_set, big_code, noise):
            c.raw(data)
        replies = c.barrier()
        with pytest.raises(OSError):
            c.raw(b"/" + b"x" * MAX_UDP)     # the OS refuses to send more
    unchanged.append(BARRIER)
    # the listener answers the noise at once, the engine the other two when it has run them
    got = {args[0]: (a, args[1]) for a, args in replies}
    assert len(replies) == 3 and sorted(got) == ["/dmm/code", "/dmm/set", "?"]
    assert {a for a, _ in got.values()} == {"/dmm/error"}
    assert "unknown neuron 'nnnn" in got["/dmm/set"][1] and len(got["/dmm/set"][1]) <= MAX_REASON + 1
    assert ":5401:" in got["/dmm/code"][1]


# ---- pacing -------------------------------------------------------------------------------------
def test_ticks_are_paced_a_block_at_a_time_and_heard_a_margin_after(app):
    """The engine computes each block when the device's play position comes within the margin
    of it, not a whole device period (256 frames: two blocks) at once: so consecutive ticks
    begin about a block apart (topping the ring up a period at a time, every other tick
    began ~0.05 ms after the one before), and each is heard about the margin after it is
    computed (the clock the timed commands run by)."""
    c = E(app, P.counters)
    rate, block = c["rate"], c["block"]
    m0 = app.engine.status()["margin"]  # (it may come down a block a quarter second meanwhile)
    rec = records_after(app, tick(app), 240, "240 ticks")[-200:]
    gaps = np.diff([r[1] for r in rec])
    m1 = margin = app.engine.status()["margin"]
    heard = [r[2][1] - r[1] for r in rec]  # when the tick is heard (its clock), less when it began
    print(f"\npacing: tick gaps p25 {1e3 * np.percentile(gaps, 25):.2f} ms, median "
          f"{1e3 * np.median(gaps):.2f} ms; heard after {1e3 * np.median(heard):.2f} ms (margin "
          f"{1e3 * margin:.1f} ms)")
    assert np.percentile(gaps, 25) > 0.4 * block / rate
    assert min(m0, m1) - 0.002 <= np.median(heard) <= max(m0, m1) + block / rate + 0.002


# ---- bundles ------------------------------------------------------------------------------------
def test_a_bundle_with_a_future_timetag_lands_at_its_tick(app):
    c = E(app, P.counters)
    rate, block = c["rate"], c["block"]
    base = E(app, P.weight, "probe", "in", "one", "out")
    t0 = c["t"]
    when = time.time() + 0.3
    with Client(app.server.port) as cl:
        cl.raw(bundle(when, [("/dmm/add", ["probe.in", "one.out", 1.0])]))
        assert cl.barrier() == []
    assert E(app, P.counters)["waiting"] == 1        # kept for its tick, not run
    rec = records_after(app, t0, int(0.3 * rate / block) + 40, "the timed add")
    first = first_change(rec, IN_PROBE, base)
    assert first is not None
    k = first[0]
    [prev] = [r for r in rec if r[0] == k - 1]
    expected = tick_for_time(when, prev[2], rate, block)   # the Controller's mapping for tick k
    print(f"\ntimed bundle: first tick showing it {k}, the tick of its time by the clock mapping {expected} "
          f"(engine began computing it {1e3 * (prev[1] - (when - 0.05)):+.1f} ms from its time less the "
          f"0.05 s the app counts ahead)")
    assert abs(k - expected) <= 1
    assert first[3][IN_PROBE] == pytest.approx(base + 1.0)
    assert exchange(app, ("/dmm/add", "probe.in", "one.out", -1.0)) == []
    settle(app)


def test_past_and_immediate_bundles_run_at_once(app):
    base = E(app, P.weight, "probe", "in", "one", "out")
    with Client(app.server.port) as cl:
        cl.raw(bundle(time.time() - 10.0, [("/dmm/add", ["probe.in", "one.out", 1.0])]))
        cl.raw(bundle(osc_types.IMMEDIATELY, [("/dmm/add", ["probe.in", "one.out", 2.0])]))
        assert cl.barrier() == [("/dmm/ok", ["/dmm/add", "probe.in", "one.out", 1.0]),
                                ("/dmm/ok", ["/dmm/add", "probe.in", "one.out", 2.0])]
    assert E(app, P.counters)["waiting"] == 0
    settle(app)
    assert E(app, P.weight, "probe", "in", "one", "out") == pytest.approx(base + 3.0)
    assert exchange(app, ("/dmm/add", "probe.in", "one.out", -3.0)) == []
    settle(app)


# ---- latency (measured, not asserted) ---------------------------------------------------------
def test_send_to_first_tick_latency(app):
    period = app.block / app.rate
    ticks, ms = [], []
    sign = 1.0
    with Client(app.server.port) as c:
        for _ in range(40):
            base = E(app, P.read, "probe", "in", False)
            t0 = tick(app)
            time.sleep((len(ticks) * 0.618034) % 1.0 * period)    # sends fall anywhere in a tick
            ts = time.time()
            c.send("/dmm/add", "probe.in", "one.out", sign * 0.125)
            rec = wait_for(lambda: (lambda r: r if first_change(r, IN_PROBE, base) else None)(
                E(app, P.records, t0)), "the add")
            k = first_change(rec, IN_PROBE, base)[0]
            done = max((r[0] for r in rec if r[1] <= ts), default=t0)   # ticks computed at ts
            prev = [r for r in rec if r[0] == k - 1]                    # made as tick k began
            assert k > done
            sign = -sign
            if not prev:  # tick k-1 was computed before the recording began: no timing sample
                continue
            prev = prev[0]
            assert prev[1] >= ts
            ticks.append(k - done)
            ms.append(1e3 * (prev[1] - ts))
    assert len(ticks) >= 20
    st = app.engine.status()
    print(f"\nsend -> first tick reflecting it: median {statistics.median(ticks)} ticks "
          f"(range {min(ticks)}-{max(ticks)}), median {statistics.median(ms):.2f} ms until the engine "
          f"begins computing that tick (p90 {sorted(ms)[int(0.9 * len(ms))]:.2f} ms); heard "
          f"{1e3 * (st['ahead'] + st['latency']):.1f} ms later (ahead + device latency)")


# ---- a flood while the sound plays ----------------------------------------------------------------
N_FLOOD = 20_000
DW = 1e-6
DW32 = float(np.float32(DW))   # what arrives: an OSC float is 32 bits
PER_BUNDLE = 500
SENDER = r"""
import socket, sys, time
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from dmmlive.drivers.osc import build
port, n, per, dw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = build("/dmm/add", ["probe.in", "one.out", dw])
if per > 1:
    b = OscBundleBuilder(IMMEDIATELY)
    for _ in range(per):
        b.add_content(OscMessage(data))
    data = b.build().dgram
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
to = ("127.0.0.1", port)
t0 = time.perf_counter()
for _ in range(n // per):
    s.sendto(data, to)
print(time.perf_counter() - t0)
"""


def run_flood(app, per: int) -> dict:
    """N_FLOOD `/dmm/add probe.in one.out 1e-6` from another process, as fast as it can send
    them: one a datagram (per=1), or `per` to an immediate bundle."""
    eng_pid = E(app, P.pid)
    port = app.server.port
    settle(app)
    st0, s0, c0 = app.engine.status(), app.server.stats(), E(app, P.counters)
    w0 = E(app, P.weight, "probe", "in", "one", "out")
    drops0 = udp_drops(port)
    rss0, eng_rss0 = vmhwm_rss()[1], vmhwm_rss(eng_pid)[1]
    depth = {"max": 0, "rss": rss0, "eng_rss": eng_rss0}
    sampling = threading.Event()

    def sample():   # the queue depth as the forwarder sees it, besides the server's own max;
        n = 0       # and the resident memory of both processes while the flood runs (VmHWM is
        while not sampling.is_set():  # the peak of the whole process's life: earlier tests count)
            depth["max"] = max(depth["max"], app.server.stats()["queued"])
            if n % 10 == 0:
                depth["rss"] = max(depth["rss"], vmhwm_rss()[1])
                depth["eng_rss"] = max(depth["eng_rss"], vmhwm_rss(eng_pid)[1])
            n += 1
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", SENDER, str(port), str(N_FLOOD), str(per), repr(DW)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    send_s = float(r.stdout)
    # Markers the listener answers itself (never queued, so never dropped): once the answer
    # to one is back, every datagram before it has been read and judged. One lost in a full
    # buffer is sent again.
    markers = 0
    with Client(port) as c:
        c.sock.settimeout(0.2)
        while True:
            c.send(f"/dmm/flood-done-{markers}")
            markers += 1
            try:
                address, args = c.reply()
            except socket.timeout:
                assert time.monotonic() - t0 < 60, "the listener never caught up"
                continue
            if args[0].startswith("/dmm/flood-done"):
                break
    read_s = time.monotonic() - t0
    wait_for(lambda: app.server.stats()["queued"] == 0, "the queue to drain", deadline=60)
    with Client(port) as c:
        assert c.barrier() == []
    settle(app)
    done_s = time.monotonic() - t0
    sampling.set()
    sampler.join()
    st1, s1, c1 = app.engine.status(), app.server.stats(), E(app, P.counters)
    res = {
        "per_datagram": per, "sent": N_FLOOD, "datagrams_sent": N_FLOOD // per, "send_s": send_s,
        "read_s": read_s, "done_s": done_s, "kernel_drops": udp_drops(port) - drops0, "markers_sent": markers,
        **{k: s1[k] - s0[k] for k in ("received", "messages", "accepted", "rejected", "dropped",
                                      "internal_errors", "replies_suppressed", "acks", "acks_suppressed")},
        "max_depth": s1["max_depth"], "sampled_depth": depth["max"], "queue_size": s1["queue_size"],
        "executed": c1["executed"] - c0["executed"], "failed": c1["failed"] - c0["failed"],
        "w0": w0, "w1": E(app, P.weight, "probe", "in", "one", "out"),
        "xruns": st1["xruns"] - st0["xruns"], "short": st1["short"] - st0["short"],
        "underflows": st1["underflows"] - st0["underflows"], "callbacks": st1["callbacks"] - st0["callbacks"],
        "running": st1["running"],
        "rss_growth_kib": depth["rss"] - rss0, "engine_rss_growth_kib": depth["eng_rss"] - eng_rss0,
    }
    res["flood_read"] = res["messages"] - res["rejected"] - 1          # less the markers and the barrier
    res["applied"] = res["executed"] - 1                                # less the barrier
    print(f"\nflood, {per} message(s) a datagram: " + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    return res


@pytest.fixture(scope="module")
def flood(app):
    """The flood twice: one message a datagram, then 500 to an immediate bundle (as a client
    that packs its messages sends them: nearly all reach the listener at once)."""
    return {"single": run_flood(app, 1), "bundled": run_flood(app, PER_BUNDLE)}


@pytest.mark.parametrize("how", ["single", "bundled"])
def test_flood_is_all_accounted_for_and_the_network_matches(app, flood, how):
    f = flood[how]
    assert f["running"] and app.engine.running
    assert f["internal_errors"] == 0 and f["failed"] == 0
    # every datagram sent (flood, markers, barrier): dropped by the kernel (a full socket
    # buffer), or read by the listener
    assert f["datagrams_sent"] + f["markers_sent"] + 1 == f["kernel_drops"] + f["received"]
    # the markers read are the messages rejected; each flood datagram read held `per` messages
    assert f["messages"] == (f["received"] - f["rejected"] - 1) * f["per_datagram"] + f["rejected"] + 1
    # every flood message read: queued (then run), or dropped by the full queue, and counted
    assert f["flood_read"] == (f["accepted"] - 1) + f["dropped"]
    assert f["applied"] == f["accepted"] - 1 > 0
    assert f["w1"] == pytest.approx(f["w0"] + f["applied"] * DW32, rel=1e-9, abs=1e-12)
    assert f["replies_suppressed"] == 0
    # each command run acknowledged, or its acknowledgement past the reply rate (the flood's
    # sender reads none of them), counted
    assert f["acks"] + f["acks_suppressed"] == f["applied"]
    w = E(app, P.weight, "probe", "in", "one", "out")    # what the machine holds now, read over OSC
    assert exchange(app, ("/dmm/get", "probe.in")) == [("/dmm/value", ["probe.in", pytest.approx(w)])]


@pytest.mark.parametrize("how", ["single", "bundled"])
def test_flood_memory_is_bounded(flood, how):
    f = flood[how]
    assert f["max_depth"] <= f["queue_size"] and f["sampled_depth"] <= f["queue_size"]
    assert f["rss_growth_kib"] < 64 * 1024
    assert f["engine_rss_growth_kib"] < 64 * 1024


def test_flood_plays_without_xruns(flood, jack):
    # the engine never starved the card (short); host-flagged late cycles: see host_xruns_allowed
    for f in flood.values():
        skip_if_host_unfit(jack, f["underflows"], f["callbacks"])
        assert f["short"] <= engine_xruns_allowed(jack, f["underflows"]), flood
        assert f["underflows"] <= host_xruns_allowed(jack, f["callbacks"]), (jack.realtime, flood)


# ---- opening the listener; loading from anywhere -------------------------------------------------
def test_cli_osc_host_warns_and_allow_load_anywhere_loads(jack, folder):
    d, other = folder
    cmd = [sys.executable, "-m", "dmmlive.cli", "play", str(d / "live.dmm"), "--device", jack.device,
           "--osc-host", "0.0.0.0", "--osc-port", "0", "--seconds", "3", "--allow-load-anywhere", *NO_WINDOW_FLAG]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        port = None
        for line in proc.stdout:
            m = re.match(r"OSC on 0\.0\.0\.0:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "no 'OSC on' line"
        with Client(port) as c:
            c.send("/dmm/load", str(other / "outside.dmm"))
            assert c.barrier() == [("/dmm/ok", ["/dmm/load", str(other / "outside.dmm")])]

            def far_freq():   # 0.0 until the edit declaring `far` is absorbed
                c.send("/dmm/get", "far.freq")
                return c.reply() == ("/dmm/value", ["far.freq", 3.0])
            wait_for(far_freq, "the outside patch's neuron")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"OSC listens on 0.0.0.0:{port}, not on loopback: anyone who can reach this machine can " \
           "rewire the patch" in err
    assert re.search(r"stopped: \d+ ticks, \d+ xruns", out)
