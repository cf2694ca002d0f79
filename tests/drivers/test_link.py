"""Ableton Link: `dmmlive play --link` (drivers/link.py, `LinkSync`).

Two parts.

Offline, with a stand-in for the `link` module (`FakeLink`: a session timeline, beat =
b0 + (t - t0) * tempo / 60 s, on a clock that is `time.monotonic` in µs) and a simulated
sound card (`host.device_clock`: ring position 0 heard at a fixed time, plus an output
delay): what LinkSync does tick by tick, exactly — the session's tempo and phase taken,
the pulses of a `clock` neuron on the session's beats to the sample, small drifts and
waking jitter left alone, dmmlive's own tempo given to the session, a failure reported
once, and a `--log` of it all replayed sample for sample by `machine_from_log`.

Live, with the real thing: a second Link peer in a process of its own
(tests/drivers/link_peer.py, LinkPython-extern) and `dmmlive play --link`'s App playing on
the JACK dummy server. How time is compared: both sides are brought to
CLOCK_MONOTONIC_RAW. The peer turns the times of its session's whole beats (its Link
timeline, `timeAtBeat`) from its Link clock into CLOCK_MONOTONIC_RAW, by the offset read
back to back. A JACK client in this process (`Listener`) records dmmlive's output ports
with the JACK frame of every sample and the CLOCK_MONOTONIC_RAW time its process callback
woke for that period; a period's start is the lowest (wake time - frame / rate) of it and
the next 0.2 s of periods, and a sample is *heard* at its period's start + its offset in
the period + the playback latency JACK reports for the physical output port
(system:playback_1): when it leaves the (dummy) converter. (JACK's own period times,
`jack_frames_to_time`, are printed too: their DLL takes seconds to settle after a
disturbance: measured 1.3 ms off, drifting back over 4 s, while the wake times stayed flat.) The onsets of a `clock` neuron's pulses (one a beat, grid
following) are compared with the nearest beat of the peer. Clicks within 0.25 s after an
xrun JACK reports are printed but not held to 3 ms (sound computed before an xrun is heard
late by it); a window whose clean clicks miss 3 ms is measured again (3 tries: a shared
machine). Every figure is printed (`-s`).

All Link peers on one machine share one session: two runs of this module at the same time
(or another Link app changing the tempo) disturb each other's live tests.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dmmlive.core.grid import Grid
from dmmlive.drivers.link import TOLERANCE, LinkSync, phase_error, snap_tempo
from dmmlive.host import Host
from dmmlive.log import check_log, machine_from_log, session_from_text, start_log

from ..conftest import close_client, connect_sound, wait_until

RATE, B = 48000, 128
PEER = str(Path(__file__).with_name("link_peer.py"))


# ---- a stand-in for LinkPython-extern --------------------------------------------------------
class FakeState:
    def __init__(self, tempo, b0, t0, fail=False):
        self._tempo, self.b0, self.t0, self.fail = tempo, b0, t0, fail

    def tempo(self):
        return self._tempo

    def beatAtTime(self, t, quantum):  # noqa: N802  (Link's names)
        assert isinstance(t, int)
        return self.b0 + (t - self.t0) * self._tempo / 60e6

    def setTempo(self, bpm, t):  # noqa: N802
        self.b0, self.t0, self._tempo = self.beatAtTime(t, 4), t, float(bpm)


class FakeClock:
    def micros(self):
        return int(time.monotonic() * 1e6)


class FakeLink:
    """One Link peer's view: the session (tempo, beat b0 at Link time t0 in µs)."""

    def __init__(self, bpm):
        self.enabled = False
        self.session = (float(bpm), 0.0, 0)
        self.commits: list = []
        self.fail = False

    def clock(self):
        return FakeClock()

    def captureSessionState(self):  # noqa: N802
        if self.fail:
            raise RuntimeError("the session is gone")
        return FakeState(*self.session)

    def commitSessionState(self, st):  # noqa: N802
        self.session = (st._tempo, st.b0, st.t0)
        self.commits.append(st._tempo)

    def numPeers(self):  # noqa: N802
        return 1

    # what another peer does to the session
    def peer_sets(self, bpm=None, shift=0.0, at_us=None):
        tempo, b0, t0 = self.session
        if bpm is not None:
            b0, t0, tempo = b0 + (at_us - t0) * tempo / 60e6, at_us, float(bpm)
        self.session = (tempo, b0 + shift, t0)

    def beat(self, t_us):
        tempo, b0, t0 = self.session
        return b0 + (t_us - t0) * tempo / 60e6


FAKE = SimpleNamespace(Link=FakeLink)

CLICKS = """\
fade(0)
tick = clock()
out.left = 0.5*tick
out.right = 0.3*mul(ar(clock(div=4), attack=0.001, release=0.02), sine(freq=seq(clock(div=2), values=[220, 330, 440])))
"""


class Card:
    """A simulated sound card of 256-frame periods: ring position p is heard at t0 + delay +
    p / RATE (monotonic s); with `jitter`, a period's callback wakes 0.1 ms late, and one in
    ten up to `jitter` s late."""

    def __init__(self, delay=0.004, jitter=0.0):
        self.t0 = time.monotonic() + 0.05
        self.delay, self.jitter = delay, jitter

    def clock(self, pos):
        cb = (pos // 256) * 256  # the period playing now began at this ring position
        late = 0.0
        if self.jitter:
            rng = np.random.default_rng(cb)
            late = 0.0001 + (rng.random() < 0.1) * rng.uniform(0, self.jitter)
        return lambda: (cb, self.t0 + cb / RATE + late, 256)

    def heard_us(self, s):
        return (self.t0 + self.delay + s / RATE) * 1e6


def make_host(text=CLICKS, bpm_session=97.0, card=None, log=None, tmp_path=None):
    session = session_from_text(text, "clicks.dmm", rate=RATE, block=B, limiter=False, images=False)
    host = Host(session.machine, session)
    if log is not None:
        start_log(host, log, "clicks.dmm", text, at_exit=False)
    host.link = LinkSync(host.machine.tempo, link_module=FAKE)
    host.link.link.session = (float(bpm_session), 2.3, int(card.heard_us(0)))  # beat 2.3 at sample 0
    host.device_delay = lambda: card.delay
    return host


def run(host, card, ticks, each=None):
    """Tick as the engine does (write position and device clock set before each tick)."""
    m, out = host.machine, []
    for _ in range(ticks):
        pos = m.t * m.block
        host.write_pos = pos
        host.device_clock = card.clock(pos)
        if each is not None:
            each(m)
        host.will_tick(0.01)
        m.tick()
        out.append(m.sound().copy())
    return np.concatenate(out)


def pulses(x):
    return np.flatnonzero(x[:, 0] > 0.25)


# ---- offline ------------------------------------------------------------------------------------
def test_snap_and_phase_error():
    assert snap_tempo(96.99995311668933) == 97.0 and snap_tempo(140.00014000014) == 140.0
    assert snap_tempo(123.456) == 123.456
    assert phase_error(7.9, 0.1, 4) == pytest.approx(-0.2)
    assert phase_error(2.3, 0.1, 4) == pytest.approx(-1.8)
    assert phase_error(0.1, 3.9, 4) == pytest.approx(0.2)


def test_a_second_change_at_the_same_sample_keeps_the_segment_before_it():
    g = Grid(RATE, 120.0)
    before = g.phase(999)
    g.set_tempo(140.0, at=1000)
    g.set_beat(5.0, at=1000)
    assert g.phase(999) == before and g.beat(1000) == 5.0
    g2 = Grid(RATE, 120.0)
    g2.set_beat(5.0, at=1000)
    g2.set_tempo(97.0, at=1000)
    assert g2.phase(999) == before and g2.beat(1000) == 5.0 and g2.tempo == 97.0


def test_takes_the_session_tempo_and_phase_and_pulses_on_its_beats():
    card = Card()
    host = make_host(card=card)
    sync, fake = host.link, host.link.link
    assert fake.enabled
    x = run(host, card, 3000)  # 8 s
    m = host.machine
    assert m.tempo == 97.0 and sync.taken == 1 and sync.corrections == 1 and sync.given == 0
    # the grid is on the session's phase (modulo the meter) at every tick's first sample
    for s in (B, 1000 * B, 2999 * B):
        assert abs(phase_error(fake.beat(card.heard_us(s)), m.grid.beat(s), 4)) < 1e-4  # (µs: Link counts whole ones)
    # and the clock pulses on the sample the session's beat is heard on (the first at or after it)
    p = pulses(x)[1:]  # (the first: the jump into phase)
    assert len(p) == pytest.approx(8 * 97 / 60, abs=1.5)
    per_sample = 97.0 / 60 / RATE
    for s in p:
        b = fake.beat(card.heard_us(s))
        assert -5e-6 <= b - round(b) < per_sample + 5e-6, (s, b)  # (5e-6: Link's whole µs)


def test_small_drift_and_waking_jitter_are_left_alone():
    card = Card(jitter=0.005)  # callbacks up to 5 ms late
    host = make_host(bpm_session=97.0004, card=card)  # 97.0004: snapped to 97 (a drift of 0.0004 bpm)
    run(host, card, 200)
    first = host.link.corrections
    assert host.machine.tempo == 97.0 and 1 <= first <= 3
    run(host, card, 7500)  # 20 s more
    assert host.link.corrections == first
    err_s = abs(host.link.last_error) * 60 / 97.0
    assert err_s <= TOLERANCE


def test_a_shift_of_the_card_is_followed():
    card = Card(jitter=0.002)
    host = make_host(card=card)
    run(host, card, 400)
    n = host.link.corrections
    card.t0 += 256 / RATE  # the sound server skipped a period: everything is heard 5.3 ms later
    run(host, card, 60)    # 160 ms (a shift is taken once every period of the last 0.1 s shows it)
    assert host.link.corrections == n + 1
    m, s = host.machine, host.machine.t * B
    assert abs(phase_error(host.link.link.beat(card.heard_us(s)), m.grid.beat(s), 4)) * 60 / 97 < 0.0003


def test_a_phase_or_tempo_change_of_the_session_is_followed():
    card = Card()
    host = make_host(card=card)
    fake = host.link.link
    run(host, card, 100)
    fake.peer_sets(bpm=131.5, at_us=card.heard_us(100 * B))
    run(host, card, 10)
    fake.peer_sets(shift=0.25)
    run(host, card, 10)
    m = host.machine
    assert m.tempo == 131.5 and host.link.taken == 2 and host.link.corrections == 2
    s = m.t * B
    assert abs(phase_error(fake.beat(card.heard_us(s)), m.grid.beat(s), 4)) < 1e-4  # (µs: Link counts whole ones)


def test_its_own_tempo_reaches_the_session():
    card = Card()
    host = make_host(card=card)
    fake = host.link.link
    run(host, card, 50)
    replies = host.osc([("tempo", [140.0], None, None)])
    assert replies and host.machine.tempo == 140.0
    run(host, card, 1)
    assert fake.commits == [140.0] and fake.session[0] == 140.0 and host.link.given == 1
    run(host, card, 500)
    m = host.machine
    assert m.tempo == 140.0 and host.link.taken == 1 and host.link.corrections == 1  # no fight, no jump
    s = m.t * B
    assert abs(phase_error(fake.beat(card.heard_us(s)), m.grid.beat(s), 4)) < 1e-4  # (µs: Link counts whole ones)


def test_a_failure_is_reported_once_and_the_sound_goes_on():
    card = Card()
    host = make_host(card=card)
    run(host, card, 10)
    host.link.link.fail = True
    x = run(host, card, 400)
    said = [r for r in host.machine.reports if r.startswith("Link:")]
    assert len(said) == 1 and "the session is gone" in said[0]
    assert len(pulses(x)) >= 1


def test_link_that_cannot_start_is_an_error_at_start():
    from dmmlive.core.errors import BadArgument

    class Broken:
        def Link(self, bpm):  # noqa: N802
            raise RuntimeError("no network")
    with pytest.raises(BadArgument, match="--link: cannot join the Link session: RuntimeError: no network"):
        LinkSync(120.0, link_module=Broken())


def test_a_log_of_a_link_set_replays_sample_for_sample(tmp_path):
    log = tmp_path / "link.dmmlog"
    card = Card(jitter=0.002)
    host = make_host(card=card, log=log)
    fake = host.link.link
    ticks = 0

    def peer(m):  # the other peer moves the session while dmmlive plays
        if m.t == 300:
            fake.peer_sets(bpm=131.5, at_us=card.heard_us(m.t * B))
        if m.t == 700:
            fake.peer_sets(shift=-0.4)
        if m.t == 900:
            host.osc([("tempo", [104.0], None, None)])  # and dmmlive's own change, logged as OSC

    live = run(host, card, 1200, each=peer)
    ticks = host.machine.t
    host.log.close(ticks)
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    links = [e for e in lines if e["kind"] == "link"]
    assert [e["tempo"] for e in links if "tempo" in e] == [97.0, 131.5]
    assert len([e for e in links if "beat" in e]) >= 2
    assert [e["args"] for e in lines if e["kind"] == "osc"] == [[104.0]]
    m = machine_from_log(log)
    replay = []
    for _ in range(ticks):
        m.tick()
        replay.append(m.sound().copy())
    replay = np.concatenate(replay)
    assert replay.shape == live.shape and np.array_equal(replay, live)
    assert "Link changes" in check_log(log)


def test_a_bad_link_line_is_named():
    from dmmlive.core.errors import BadArgument
    from dmmlive.log import read_log
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d, "bad.dmmlog")
        head = {"format": "dmmlog", "version": 1, "rate": RATE, "block": B, "seed": 0, "schedule": "ordered",
                "fps": 30.0, "size": [64, 36], "limiter": False, "patch": "x.dmm", "text": "", "shaders": {}}
        p.write_text(json.dumps(head) + "\n" + json.dumps({"tick": 3, "kind": "link", "tempo": -1}) + "\n")
        with pytest.raises(BadArgument, match="line 2.*link line"):
            read_log(p, warn=False)


def test_play_takes_link():
    from dmmlive.cli import build_parser
    a = build_parser().parse_args(["play", "x.dmm", "--link"])
    assert a.link is True
    assert build_parser().parse_args(["play", "x.dmm"]).link is False


# ---- live: a second Link peer, and play --link on the JACK dummy server ----------------------------
RAW = time.CLOCK_MONOTONIC_RAW


class Peer:
    """tests/drivers/link_peer.py in a process of its own: `ask(command)` -> its JSON answer."""

    def __init__(self, bpm):
        self.p = subprocess.Popen([sys.executable, PEER, str(bpm)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines: deque = deque()
        threading.Thread(target=lambda: [self.lines.append(x) for x in self.p.stdout], daemon=True).start()
        assert self._line(20.0).strip() == "ready"
        self.ready_at = time.monotonic()

    def settled(self, age: float = 1.0) -> None:
        """Wait until its session is `age` s old. Where two Link sessions meet, the older one
        wins only when they started more than SESSION_EPS (0.5 s) apart; closer than that,
        Link picks by session id, and dmmlive started at once could found the winning
        session at its own 120 bpm (seen once in a CI rehearsal: the peer's tempo never came)."""
        time.sleep(max(0.0, self.ready_at + age - time.monotonic()))

    def _line(self, timeout=10.0) -> str:
        deadline = time.monotonic() + timeout
        while not self.lines:
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise AssertionError(f"the Link peer did not answer (exit {self.p.poll()})")
            time.sleep(0.002)
        return self.lines.popleft()

    def ask(self, command: str) -> dict:
        self.p.stdin.write(command + "\n")
        self.p.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()


class Listener:
    """A JACK client recording dmmlive's output ports, each period with its first frame and that
    frame's JACK time (µs, `jack_frames_to_time`)."""

    def __init__(self, jack_mod, name="linktest"):
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        lib.jack_frames_to_time.restype, lib.jack_frames_to_time.argtypes = ctypes.c_uint64, [ctypes.c_void_p,
                                                                                             ctypes.c_uint32]
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_port_by_name.restype, lib.jack_port_by_name.argtypes = ctypes.c_void_p, [ctypes.c_void_p,
                                                                                         ctypes.c_char_p]
        lib.jack_port_get_latency_range.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32 * 2]
        self.lib, self.jack = lib, jack_mod
        self.client = jack_mod.Client(name, no_start_server=True)
        self.ptr = int(jack_mod._ffi.cast("uintptr_t", self.client._ptr))  # noqa: SLF001 (JACK-Client has no
        self.name = self.client.name                                       # frames_to_time)
        self.ins = [self.client.inports.register(f"in_{i}") for i in range(2)]
        self.blocks: deque = deque(maxlen=RATE * 30 // 128)
        self.xruns: list = []  # JACK times (µs) of the server's xruns
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(lambda delayed: self.xruns.append(self.lib.jack_get_time()))
        self.client.activate()

    def _process(self, frames):
        woke = time.clock_gettime(RAW)
        f = self.client.last_frame_time
        self.blocks.append((f, self.lib.jack_frames_to_time(self.ptr, f), woke, self.ins[0].get_array().copy()))

    def connect_sound(self) -> None:
        connect_sound(self.client, self.ins)

    def playback_latency(self) -> int:
        """Frames from a period's start to its sound leaving the converter: system:playback_1's
        playback latency, as JACK reports it."""
        port = self.lib.jack_port_by_name(self.ptr, b"system:playback_1")
        rng = (ctypes.c_uint32 * 2)()
        self.lib.jack_port_get_latency_range(port, 1, rng)  # JackPlaybackLatency
        return int(rng[1])

    def jack_minus_raw(self) -> float:
        """JACK's clock minus CLOCK_MONOTONIC_RAW (µs), read back to back."""
        best = None
        for _ in range(20):
            a = time.clock_gettime(RAW)
            j = self.lib.jack_get_time()
            b = time.clock_gettime(RAW)
            if best is None or b - a < best[0]:
                best = (b - a, j - 0.5 * (a + b) * 1e6)
        return best[1]

    def onsets(self, since_us: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """When the clicks recorded since JACK time `since_us` are heard (CLOCK_MONOTONIC_RAW s),
        by the periods' wake times and by JACK's own period times; and whether each is clean:
        no xrun of the server in the XRUN_SHADOW s before it.

        A period's start is taken as the lowest of (wake time - frame / rate) over it and the
        periods of the next 0.2 s (a callback woken late only reads later; time the server
        loses shows in every period after it): this client's own reading of CLOCK_MONOTONIC_RAW
        first thing in its process callback. JACK's `jack_frames_to_time` comes from a DLL that
        takes seconds to settle after a disturbance (measured: 1.3 ms off and drifting back over
        4 s while the periods' wake times were flat): printed, not held to anything."""
        lat, off = self.playback_latency(), self.jack_minus_raw()
        out, dll, clean = [], [], []
        xr = np.array(self.xruns, dtype=float)
        blocks = list(self.blocks)
        frames = np.array([b[0] for b in blocks], dtype=float)
        zero = np.array([b[2] for b in blocks]) * 1e6 - frames * 1e6 / RATE  # wake-time start of frame 0
        for k, (f, t_us, _, x) in enumerate(blocks):
            if t_us < since_us:
                continue
            for i in np.flatnonzero(np.nan_to_num(x) > 0.25):
                fr = f + int(i)
                ahead = (frames >= f) & (frames <= f + 0.2 * RATE)
                out.append((float(zero[ahead].min()) + fr * 1e6 / RATE) / 1e6 + lat / RATE)
                t = t_us + int(i) * 1e6 / RATE  # JACK's time of the frame
                dll.append((t - off) / 1e6 + lat / RATE)
                clean.append(not np.any((xr > t - XRUN_SHADOW * 1e6) & (xr <= t + 1e3)))
        return np.array(out), np.array(dll), np.array(clean, dtype=bool)

    def close(self) -> None:
        close_client(self.client)


def tempo(host):  # probes, run in the engine process
    return host.machine.tempo


def set_tempo(host, bpm):
    return host.osc([("tempo", [float(bpm)], None, None)])


def link_counts(host):
    return host.link.status()


XRUN_SHADOW = 0.25  # s: sound computed ahead before a JACK xrun is heard late by it (the margin, to 0.25 s)


def onset_errors(listener, peer, seconds, want=4, most=12.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each click heard from now on against the peer's nearest beat (s, signed; by the wake
    times, and by JACK's period times), and whether it is clean (no JACK xrun shortly before
    it), over `seconds`, or longer, up to `most` s, until `want` clean ones are heard (a busy
    machine). (Waits 0.2 s past the last click: the period times look that far ahead.)"""
    since = listener.lib.jack_get_time()
    t0 = time.monotonic()
    while True:
        time.sleep(0.5)
        heard, dll, clean = listener.onsets(since)
        took = time.monotonic() - t0
        if took >= seconds and clean.sum() >= want or took >= most:
            break
    time.sleep(0.3)
    heard, dll, clean = listener.onsets(since)
    assert len(heard) >= 2, "no clicks heard"
    beats = np.array([t for _, t in peer.ask(f"beats {heard[0] - 1.0} {heard[-1] + 1.0}")["beats"]])
    near = lambda h: beats[np.abs(h[:, None] - beats[None, :]).argmin(axis=1)]  # noqa: E731
    return heard - near(heard), dll - near(dll), clean


LIVE = """\
fade(0)
tick = clock()
out.left = 0.5*tick
out.right = 0.5*tick
"""


def measure(listener, peer, seconds, tries=3) -> dict:
    """The clicks of the next `seconds` against the peer's beats; measured again (`tries` in
    all) while a window's clean clicks miss 3 ms: this is a shared machine, and the work of
    others (their own real-time processes) now and then disturbs a window."""
    windows = []
    for _ in range(tries):
        errs, dll, clean = onset_errors(listener, peer, seconds)
        ms = np.round(errs * 1e3, 2)
        windows.append({"errors_ms": ms.tolist(), "clean": clean.astype(int).tolist(),
                        "by_jack_dll_ms": np.round(dll * 1e3, 2).tolist()})
        if clean.sum() >= 3 and np.abs(errs[clean]).max() <= 0.003:
            break
    last = windows[-1]
    ok = [e for e, c in zip(last["errors_ms"], last["clean"]) if c]
    return {"windows": windows, "clean_max_ms": max(map(abs, ok), default=None), "n_clean": len(ok),
            "ok": len(ok) >= 3 and max(map(abs, ok)) <= 3.0}


def test_play_link_with_a_peer_tempo_beats_and_replay(jack, tmp_path):
    """One set against a second Link peer (another process): dmmlive takes its tempo within 1 s,
    its clicks are heard within 3 ms of the peer's beats (at 97 and at 140 bpm), /dmm/tempo 140
    reaches the peer within 1 s, a tempo the peer sets is followed, and the set's log replays
    what the engine computed. Every figure is printed (`-s`)."""
    jack_mod = pytest.importorskip("jack")
    pytest.importorskip("link")
    patch, log = tmp_path / "clicks.dmm", tmp_path / "clicks.dmmlog"
    patch.write_text(LIVE)
    peer = Peer(97)
    listener = Listener(jack_mod)
    peer.settled()
    from dmmlive.app import App
    app = App(patch, audio=True, device=jack.device, window=False, osc=False, log=log, limiter=False,
              link=True, out=io.StringIO(), err=io.StringIO())
    figures = {}
    try:
        app.start()
        started = time.monotonic()
        eng = app.engine
        assert "Link: in the local session" in app.out.getvalue()
        wait_until(lambda: eng.call(tempo) == 97.0, "dmmlive to take the peer's tempo", 10)
        figures["adopted_s"] = time.monotonic() - started
        assert figures["adopted_s"] < 1.0
        listener.connect_sound()
        time.sleep(1.0)  # the first second: the heard-time estimate settles
        figures["at97"] = measure(listener, peer, 3.0)
        got = {}  # what the engine computes from here on, for the replay
        cap = threading.Thread(target=lambda: got.update(r=eng.capture(5 * RATE // B * B, timeout=40)))
        cap.start()
        time.sleep(0.2)
        sent = time.monotonic()
        set_reply = eng.call(set_tempo, 140)
        assert set_reply and set_reply[0][1] == [140.0]
        wait_until(lambda: abs(peer.ask("status")["tempo"] - 140.0) < 0.01, "the peer to take 140 bpm", 5)
        figures["pushed_s"] = time.monotonic() - sent
        assert figures["pushed_s"] < 1.0
        time.sleep(0.5)
        figures["at140"] = measure(listener, peer, 2.0)
        peer.ask("tempo 110")
        wait_until(lambda: eng.call(tempo) == 110.0, "dmmlive to follow the peer to 110 bpm", 5)
        cap.join(60)
        tick0, live = got["r"]
        counts = eng.call(link_counts)
    finally:
        app.stop()
        listener.close()
        peer.close()
    figures.update(xruns=len(listener.xruns), **{k: counts[k] for k in ("taken", "corrections", "given")})
    print("\nLink against a peer:", json.dumps(figures))
    for k in ("at97", "at140"):
        if figures[k]["n_clean"] < 3:
            pytest.skip(f"JACK xruns on every beat (a machine too busy to measure): {figures}")
        assert figures[k]["ok"], figures
    # the log: Link's tempos and phase corrections, and the OSC tempo; the replay is what was computed
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    assert [e["tempo"] for e in lines if e["kind"] == "link" and "tempo" in e][:1] == [97.0]
    assert 110.0 in [e.get("tempo") for e in lines if e["kind"] == "link"]
    assert any("beat" in e for e in lines if e["kind"] == "link")
    assert [e["args"] for e in lines if e["kind"] == "osc" and e["op"] == "tempo"] == [[140.0]]
    m = machine_from_log(log)
    while m.t < tick0 - 1:
        m.tick()
    replay = []
    while sum(len(x) for x in replay) < len(live):
        m.tick()
        replay.append(m.sound().copy())
    replay = np.concatenate(replay)[:len(live)]
    assert np.array_equal(replay, live)


def test_dmmlive_play_link_from_the_command_line_and_its_log_renders(tmp_path):
    """`dmmlive play --link` as a user runs it (no sound card: --no-audio), beside a peer at
    123 bpm: it says it joined and takes 123 (a `link` log line); a real OSC message
    (`dmmlive send /dmm/tempo 140`) reaches the peer; `dmmlive render` replays the log
    without Link, twice to the same samples."""
    import socket
    pytest.importorskip("link")
    patch, log = tmp_path / "p.dmm", tmp_path / "p.dmmlog"
    patch.write_text(LIVE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    peer = Peer(123)
    peer.settled()
    cli = [sys.executable, "-m", "dmmlive.cli"]
    p, said = None, []
    try:
        p = subprocess.Popen(cli + ["play", str(patch), "--link", "--no-audio", "--no-window", "--osc-port", str(port),
                                    "--seconds", "4", "--log", str(log)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
        for line in p.stdout:
            said.append(line)
            if line.startswith("playing"):
                break
        assert any("Link: in the local session" in x for x in said), said
        wait_until(lambda: abs(peer.ask("status")["tempo"] - 123.0) < 0.01, "the session at 123", 5)
        time.sleep(0.5)
        r = subprocess.run(cli + ["send", "--port", str(port), "--wait", "/dmm/tempo", "140"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: abs(peer.ask("status")["tempo"] - 140.0) < 0.01, "the peer to take 140 bpm", 2)
        out, _ = p.communicate(timeout=60)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
        peer.close()
    assert p.returncode == 0, "".join(said) + out
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    assert [e["tempo"] for e in lines if e["kind"] == "link" and "tempo" in e][:1] == [123.0]
    assert [e["args"] for e in lines if e["kind"] == "osc" and e["op"] == "tempo"] == [[140.0]]
    assert lines[-1]["kind"] == "end"
    outs = []
    for name in ("a.wav", "b.wav"):
        rr = subprocess.run(cli + ["render", str(log), "-o", str(tmp_path / name)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert rr.returncode == 0, rr.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1] and len(outs[0]) > 10000
