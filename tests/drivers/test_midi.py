"""MIDI through real JACK MIDI ports: `play --midi-in / --midi-out / --midi-clock-in`.

A JACK server of its own (dummy driver, 48 kHz, 128-frame periods: a period is one
engine block) runs for this module. A python-rtmidi JACK MIDI port (`Keyboard`) is the
controller; a JACK-Client client (`Listener`) is the synth and the ear: it records
dmmlive's sound from its output ports and its MIDI from its MIDI port, each stamped with
the JACK frame it came in.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from dmmlive.app import App
from dmmlive.core.errors import BadArgument

from ..conftest import (Jack, _realtime_permitted, close_client, connect_sound, engine_xruns_allowed, replay,
                        skip_if_host_unfit, wait_until)

jack = pytest.importorskip("jack")  # JACK-Client

RATE, PERIOD, B = 48000, 128, 128


# ---- the server -----------------------------------------------------------------------------
def _running(server: str) -> bool:
    r = subprocess.run(["jack_wait", "-s", server, "-c"], capture_output=True, text=True, timeout=10)
    return r.stdout.strip() == "running"


@pytest.fixture(scope="module")
def server():
    """A JACK dummy server at 128-frame periods, the default server of this process (and the
    engine processes it spawns) while the module runs."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    name = f"dmmlive-midi-{os.getpid()}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    env.pop("JACK_DEFAULT_SERVER", None)
    log = tempfile.TemporaryFile("w+")
    # real-time where permitted, as for a performance (tests/conftest.py's server too)
    mode = ["--realtime", "--realtime-priority", "10"] if _realtime_permitted() else ["--no-realtime"]
    proc = subprocess.Popen(["jackd", "-n", name, *mode, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not _running(name):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"jackd did not start: {log.read()[-2000:]}")
        time.sleep(0.1)
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "DMMLIVE_MIDI_API")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["DMMLIVE_MIDI_API"] = "jack"  # (JACK's MIDI even where ALSA's sequencer exists)
    try:
        yield name
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Listener:
    """A JACK client (JACK-Client): `in_0`, `in_1` record dmmlive's sound and `midi_in` its MIDI,
    each with the JACK frame it came in; `midi_out` is a MIDI source (sending nothing)."""

    def __init__(self, name="miditest"):
        self.client = jack.Client(name, no_start_server=True)
        self.name = self.client.name
        self.ins = [self.client.inports.register(f"in_{i}") for i in range(2)]
        self.mi = self.client.midi_inports.register("midi_in")
        self.mo = self.client.midi_outports.register("midi_out")
        self.blocks: deque = deque(maxlen=RATE * 30 // PERIOD)
        self.events: list = []
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames):
        t = self.client.last_frame_time
        self.blocks.append((t, np.stack([p.get_array().copy() for p in self.ins], 1)))
        for off, data in self.mi.incoming_midi_events():
            self.events.append((t + off, bytes(data)))
        self.mo.clear_buffer()

    def connect_sound(self) -> None:
        connect_sound(self.client, self.ins)

    def sound(self, since: int = 0) -> tuple[int, np.ndarray]:
        """(first frame, samples (n, 2)) recorded from JACK frame `since` on."""
        bl = [(t, x) for t, x in list(self.blocks) if t >= since]
        if not bl:
            return since, np.zeros((0, 2), np.float32)
        first = bl[0][0]
        out = np.full((bl[-1][0] + len(bl[-1][1]) - first, 2), np.nan, np.float32)
        for t, x in bl:  # each at its frame (a period JACK skipped this client in stays NaN)
            out[t - first:t - first + len(x)] = x
        return first, out

    @property
    def frame(self) -> int:
        return self.client.frame_time

    def close(self) -> None:
        close_client(self.client)


@pytest.fixture
def listener(server):
    li = Listener()
    yield li
    li.close()


class Keyboard:
    """A MIDI source of its own (python-rtmidi's JACK MIDI: `miditest-keys:out`), sending at once
    from any thread (rtmidi's own process callback, in C, delivers each at the next period)."""

    def __init__(self):
        import rtmidi
        self.rt = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "miditest-keys")
        self.rt.open_virtual_port("out")
        self.name = "miditest-keys:out"
        self.stop = threading.Event()
        self.thread = None

    def send(self, *data) -> None:
        self.rt.send_message(list(data))

    def clock(self, bpm: float) -> None:
        """Send a MIDI clock at `bpm` (24 a beat) from a thread, on an absolute schedule."""
        def run():
            step, due = 60.0 / (bpm * 24), time.monotonic()
            while not self.stop.is_set():
                due += step
                time.sleep(max(0.0, due - time.monotonic()))
                self.rt.send_message([0xF8])
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(2)
        self.rt.close_port()
        self.rt.delete()


@pytest.fixture
def keys(server):
    k = Keyboard()
    yield k
    k.close()


CLOCK_SENDER = """\
import os, sys, time
import rtmidi
try:  # (on time where the system lets it: a clock a band plays to is a real-time one)
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
except (OSError, AttributeError):
    pass
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "miditest-clock")
out.open_virtual_port("out")
print("ready", flush=True)
bpm = float(sys.stdin.readline())
step, due = 60.0 / (bpm * 24), time.monotonic()
out.send_message([0xFA])
while True:
    due += step
    time.sleep(max(0.0, due - time.monotonic()))
    out.send_message([0xF8])
"""


class ClockSender:
    """A MIDI clock in a process of its own (`miditest-clock:out`): `start(bpm)` sends Start, then
    24 pulses a beat on an absolute schedule, until `close()`."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", CLOCK_SENDER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.name = "miditest-clock:out"

    def start(self, bpm: float) -> None:
        self.proc.stdin.write(f"{bpm}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def clock_sender(server):
    c = ClockSender()
    yield c
    c.close()


# ---- probes, run in the engine process -------------------------------------------------------
def tempo(host):
    return host.machine.tempo


def received(host):
    return host.midi_link.applied if host.midi_link is not None else -1


def logged_lines(host) -> int:
    return host.log.lines


def capturing(eng, seconds: float):
    """What the engine computes over the next `seconds`, captured on a thread: (the thread, a
    dict whose 'r' is (tick, sound) once it is done)."""
    got: dict = {}
    cap = threading.Thread(target=lambda: got.update(r=eng.capture(int(seconds * RATE) // B * B,
                                                                   timeout=seconds + 20)))
    cap.start()
    return cap, got




def freq_of(x: np.ndarray) -> float:
    """The frequency of the strongest tone in `x` (Hann window, zero-padded FFT: 0.7 Hz bins)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 16))
    return float(np.argmax(spec) * RATE / (1 << 16))


# ---- MIDI in -----------------------------------------------------------------------------------
IN_PATCH = """\
fade(0)
gain = midicc(7, channel=1, default=0, lag=0.005)
n = midinote(channel=2)
x = sine(freq=1000)
out.left = 0.5*mul(x, gain)
v = sine(freq=n.freq)
out.right = 0.5*mul(mul(v, n.velocity), n.gate)
"""


def test_midi_in_moves_a_gain_and_plays_notes_and_the_log_replays_it(server, listener, keys, tmp_path):
    patch, log = tmp_path / "in.dmm", tmp_path / "in.dmmlog"
    patch.write_text(IN_PATCH)
    app = App(patch, audio=True, device="system", window=False, osc=False, log=log, out=io.StringIO(),
              err=io.StringIO(), midi_in=["miditest-keys"])
    app.start()
    sent = [(0xB0, 8, 100),   # another controller: nothing moves
            (0xB0, 7, 127),   # CC 7 on channel 1: the gain to 1
            (0xB0, 7, 64),    # ... to 64/127
            (0x91, 69, 64),   # note on, channel 2: A4 at velocity 64
            (0x91, 72, 127),  # a second note: last-note priority (C5, velocity 127)
            (0x81, 72, 0),    # its note-off: back to the A4 still held (its velocity)
            (0x91, 69, 0)]    # a note-on at velocity 0 is a note-off: released
    heard = []
    try:
        assert f"in from '{keys.name}'" in app.out.getvalue()
        listener.connect_sound()
        eng = app.engine
        seconds = 5.0
        cap, got = capturing(eng, seconds)
        time.sleep(0.3)
        for data in sent:
            n = eng.call(received)
            keys.send(*data)
            wait_until(lambda: eng.call(received) > n, f"MIDI {data} applied")
            time.sleep(0.5)  # (heard once the engine's margin, up to 0.25 s under load, has played)
            # what a JACK client on dmmlive's output heard over the last 0.12 s (0 in a period
            # JACK skipped it in)
            heard.append(np.nan_to_num(listener.sound(listener.frame - int(0.12 * RATE))[1]))
        cap.join(seconds + 30)
        tick0, data = got["r"]
        n_lines = eng.call(logged_lines)
    finally:
        app.stop()
    peak = [np.abs(h).max(axis=0) for h in heard]  # (left: the CC's gain, right: the note)
    want_left = [0, 0.5, 0.5 * 64 / 127, *[0.5 * 64 / 127] * 4]
    want_right = [0, 0, 0, 0.5 * 64 / 127, 0.5, 0.5 * 64 / 127, 0]
    assert [p[0] for p in peak] == pytest.approx(want_left, abs=0.01)
    assert [p[1] for p in peak] == pytest.approx(want_right, abs=0.01)
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    midi = [e for e in lines if e["kind"] == "midi"]
    assert [tuple(e["bytes"]) for e in midi] == sent
    assert n_lines >= len(midi)
    ticks = [e["tick"] for e in midi]
    n_blocks = len(data) // B
    assert tick0 <= ticks[0] and ticks[-1] < tick0 + n_blocks - 2, (tick0, n_blocks, ticks)
    # the sound the engine played, between one message's tick and the next: the note's pitch
    # and loudness, from the first tick that message reached (logged at t: heard from t + 1)
    spans = [data[(t - tick0 + 1) * B:(u - tick0 + 1) * B] for t, u in zip(ticks, ticks[1:] + [tick0 + n_blocks - 1])]
    for i, f in ((3, 440.0), (4, 523.25), (5, 440.0)):
        right = spans[i][B:, 1]  # (the first block glides the gain's smoothing in)
        assert freq_of(right) == pytest.approx(f, abs=1.0)
        assert np.abs(right).max() == pytest.approx(want_right[i], abs=0.005)
    assert np.abs(spans[6][B:, 1]).max() == 0 and np.abs(spans[2][:, 1]).max() == 0
    np.testing.assert_array_equal(replay(log, tick0, n_blocks), data)  # sample for sample what was played
    assert np.abs(data).max() > 0.4


# ---- MIDI out and clock ---------------------------------------------------------------------------
OUT_PATCH = """\
fade(0)
tempo(150)
c = clock(bpm=120, div=4)
gate = seq(c, values=[1, 0])
notes = seq(c, values=[60, 60, 62, 62, 64, 64])
m = midiout(note=notes, gate=gate, velocity=0.8, channel=3)
out.left = 0.5*gate
out.right = phasor(freq=0.5, amp=0.5)
"""


def test_midi_out_sends_notes_where_the_sound_is_and_a_clock_at_the_tempo(server, listener, tmp_path):
    patch = tmp_path / "out.dmm"
    patch.write_text(OUT_PATCH)
    app = App(patch, audio=True, device="system", window=False, osc=False, out=io.StringIO(),
              err=io.StringIO(), midi_out=f"{listener.name}:midi_in")
    app.start()
    try:
        listener.connect_sound()
        time.sleep(0.5)
        f0 = listener.frame
        listener.events.clear()
        time.sleep(3.0)
        first, x = listener.sound(f0)
        events = [(t, d) for t, d in list(listener.events) if first <= t < first + len(x)]
    finally:
        app.stop()
    # the sound: 0.5 while the gate is up; its rising edges are where the notes must be
    # (a period JACK skipped the listener in is NaN: neither low nor high, no edge there)
    lo, hi = x[:, 0] < 0.25, x[:, 0] > 0.25
    rises = first + 1 + np.flatnonzero(lo[:-1] & hi[1:])
    falls = first + 1 + np.flatnonzero(hi[:-1] & lo[1:])
    ons = [(t, d) for t, d in events if d[0] == 0x92 and d[2] > 0]
    offs = [(t, d) for t, d in events if d[0] == 0x82]
    assert len(rises) >= 6 and len(ons) >= 6, (len(rises), len(ons))

    def errors(msgs, edges):  # each message's frame - its edge's (an edge within 2,000 frames: seen)
        out = [t - edges[np.argmin(np.abs(edges - t))] for t, _ in msgs]
        return np.array([e for e in out if abs(e) < 2000])

    err_on, err_off = errors(ons, rises), errors(offs, falls)
    print(f"\nnote-on - sound onset (frames): {err_on.tolist()}; note-off - release: {err_off.tolist()}")
    assert len(err_on) >= 6 and len(err_off) >= 6
    assert np.median(np.abs(np.r_[err_on, err_off])) == 0  # to the frame
    # within a block, but for a period the machine stalled JACK's own cycle (2 cores, shared)
    assert np.mean(np.abs(np.r_[err_on, err_off]) <= B) >= 0.9
    assert all(d[2] == round(0.8 * 127) for _, d in ons)
    notes = [d[1] for _, d in ons]  # the sequence's notes in turn (one lost with a skipped period aside)
    assert set(notes) == {60, 62, 64}
    assert np.mean([b == {60: 62, 62: 64, 64: 60}[a] for a, b in zip(notes, notes[1:])]) >= 0.7, notes
    # the clock: 24 pulses a beat at tempo(150): one every 800 samples of the sound. Counted in
    # the sound's own samples (the right channel is a ramp: its value says which sample plays),
    # so a period JACK skipped dmmlive's sound in (it plays on a period later) does not count.
    beat = RATE * 60 / 150
    at = [x[t - first, 1] for t, d in events if d == b"\xf8"]
    sample = np.array([round(2 * v * 2 * RATE) for v in at if np.isfinite(v)], np.int64)
    sample = np.unwrap(sample, period=2 * RATE)  # (the ramp starts again every 2 s)
    gaps = np.diff(sample)
    print(f"clock: {len(sample)} pulses, gap mean {gaps.mean():.2f} samples (800 at 150 bpm), "
          f"min {gaps.min()}, max {gaps.max()}")
    assert len(sample) >= 100
    # every pulse on the grid of 24 a beat (a pulse in a period JACK skipped the listener in is
    # not seen: a gap of two), and nearly all seen
    step = beat / 24
    off_grid = np.abs((sample - sample[0] + step / 2) % step - step / 2)
    assert np.median(off_grid) <= 1 and np.mean(off_grid <= B) >= 0.9, off_grid
    assert np.median(gaps) == pytest.approx(step, abs=1)


def test_midi_clock_in_sets_the_tempo(server, keys, tmp_path):
    patch, log = tmp_path / "clk.dmm", tmp_path / "clk.dmmlog"
    patch.write_text("out = 0.1*sine(freq=220)\n")
    app = App(patch, audio=True, device="system", window=False, osc=False, log=log, out=io.StringIO(),
              err=io.StringIO(), midi_in=[keys.name], midi_clock_in=True)
    app.start()
    try:
        assert app.engine.call(tempo) == 120.0
        keys.clock(97.0)
        wait_until(lambda: abs(app.engine.call(tempo) - 97.0) < 0.3, "the tempo to follow the clock", 10)
        time.sleep(2.0)
        assert app.engine.call(tempo) == pytest.approx(97.0, abs=0.5)  # (a clock sent by a Python thread)
    finally:
        app.stop()
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    tempos = [e["tempo"] for e in lines if e["kind"] == "midi"]
    assert tempos and tempos[-1] == pytest.approx(97.0, abs=0.5)
    assert not [e for e in lines if e["kind"] == "midi" and "bytes" in e]  # the pulses are not logged


def device_delay(host) -> float:
    return host.device_delay()


def clock_corrections(host) -> int:
    return host.midi_link.clock.corrections


CLICK_PATCH = "fade(0)\nc = clock()\nout.left = 0.5*c\nout.right = phasor(freq=0.5, amp=0.5)\n"


def test_midi_clock_in_with_start_puts_the_beats_on_its_pulses_and_the_log_replays_it(server, listener,
                                                                                       clock_sender, tmp_path):
    """Start, then a clock at 97 bpm: the clicks of a `clock()` (one a beat of the grid) are
    heard within a period (128 frames) of every 24th pulse from the Start on, the first
    excepted (beat 0 is known only once its pulse came: its sample is played by then). The
    right channel is a ramp (its value says which sample plays): where it broke in the half
    second before a click, dmmlive's sound was late (the engine fell behind on a busy
    machine: what it computed ahead is heard late by it, whatever steers the grid), and
    that beat is not judged, as a beat whose pulses the sender sent late is not."""
    patch, log = tmp_path / "clk.dmm", tmp_path / "clk.dmmlog"
    patch.write_text(CLICK_PATCH)
    app = App(patch, audio=True, device="system", window=False, osc=False, log=log, out=io.StringIO(),
              err=io.StringIO(), midi_in=[clock_sender.name], midi_clock_in=True)
    app.start()
    try:
        listener.connect_sound()
        listener.client.connect(clock_sender.name, listener.mi)  # (the listener hears the pulses too)
        eng = app.engine
        time.sleep(0.5)
        seconds = 8.0
        cap, got = capturing(eng, seconds)
        time.sleep(0.3)
        f0 = listener.frame
        listener.events.clear()
        st0 = eng.status()
        clock_sender.start(97.0)
        time.sleep(seconds - 1.5)
        first, x = listener.sound(f0)
        events = list(listener.events)
        delay = eng.call(device_delay)
        corrections = eng.call(clock_corrections)
        st1 = eng.status()
        cap.join(seconds + 30)
        tick0, data = got["r"]
    finally:
        app.stop()
    lat = int(round(delay * RATE))  # frames from a period's start to its first sample being heard
    # xruns in the window (status() counts them from the start): the engine's (its ring short)
    # and the host's (JACK flagged a late cycle)
    short, under = st1["short"] - st0["short"], st1["underflows"] - st0["underflows"]
    calls = st1["callbacks"] - st0["callbacks"]
    assert events[0][1] == b"\xfa"
    pulses = np.array([t for t, d in events if d == b"\xf8"])
    # which pulse of the sender's schedule each is (it sends pulse k (k+1) steps after Start; the
    # listener, a Python client, misses the pulses of a period JACK skipped it in), and whether
    # it came within a period of that schedule (a pulse the sender sent late on a busy machine
    # is not the clock's): a beat is judged where every pulse of the beat up to it did
    step = 60.0 * RATE / (97.0 * 24)
    k = np.round((pulses - events[0][0]) / step).astype(int) - 1
    on_time = np.abs(pulses - (np.median(pulses - k * step) + k * step)) <= B
    n = int(k[-1]) + 1
    good = np.zeros(n, bool)
    good[k[on_time]] = True
    at = np.full(n, -10 ** 9, np.int64)
    at[k] = pulses
    beats = at[::24]   # the frames pulses 0, 24, 48 ... came in
    ramp = np.diff(x[:, 1].astype(np.float64))  # (1/(4·RATE) a frame; -0.5 where it wraps; NaN: not heard)
    smooth = (np.abs(ramp - 0.25 / RATE) < 1e-5) | (np.abs(ramp + 0.5) < 1e-3)
    broke = first + 1 + np.flatnonzero(~smooth)    # the frames the sound did not go on from the last
    judged = np.array([good[max(0, i - 24):i + 1].all() and not np.any((broke > at[i] - RATE // 2)
                                                                        & (broke <= at[i] + B))
                       for i in range(0, n, 24)])
    clicks = first + np.flatnonzero(np.nan_to_num(x[:, 0]) > 0.25) + lat  # when heard
    clicks = clicks[(clicks > events[0][0] + 100) & (clicks < pulses[-1] + 1000)]
    near = [clicks[np.abs(clicks - b) < step * 12] for b in beats]  # each beat's clicks (within half a beat)
    err = np.array([c[0] - b for b, c, j in zip(beats, near, judged) if j and len(c)])
    print(f"\nMIDI clock in at 97 bpm: {len(beats)} beats ({judged[1:].sum()} judged), {len(clicks)} clicks, "
          f"click - pulse (frames, heard {lat} frames after its period): {err.tolist()}; {corrections} phase "
          f"corrections, xruns engine {short} host {under} in {calls} periods, {len(pulses)} pulses heard of {n}")
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    steer = [e for e in lines if e["kind"] == "midi"]
    assert any("beat" in e for e in steer) and any("tempo" in e for e in steer)
    assert [e["tempo"] for e in steer if "tempo" in e][-1] == pytest.approx(97.0, abs=0.5)
    np.testing.assert_array_equal(replay(log, tick0, len(data) // B), data)  # sample for sample
    assert np.count_nonzero(data[:, 0] > 0.25) >= 9 and np.abs(data[:, 1]).max() > 0.45
    assert len(beats) >= 9 and len(near[0]) == 0  # beat 0 is known once it is played: no click
    # judged on a machine that keeps real time (the JACK tests' rule, conftest): the sound never
    # stops for a clock (the engine's xruns as engine_xruns_allowed; the probes above are this
    # module's, imported by the engine at the first: drivers/audio.py covers that import), and
    # the clicks are on the pulses (a fresh-clone rehearsal saw clicks 25 ms off for 4 beats)
    host = Jack(server, "system", RATE, PERIOD, False, _realtime_permitted())
    skip_if_host_unfit(host, under, calls)
    assert short <= engine_xruns_allowed(host, under), (short, under, calls)
    if judged[1:].sum() < 3:
        pytest.skip(f"the machine was too busy: {judged[1:].sum()} beats' pulses came on time")
    assert all(len(c) == 1 for c, j in zip(near[1:], judged[1:]) if j)  # one click a beat
    assert len(err) == judged[1:].sum() and np.all(np.abs(err) <= B), err


def cc_value(host) -> float:
    return float(host.machine.output("g", "out"))


def test_midi_in_by_default_takes_every_source(server, keys, tmp_path):
    """No --midi-in: every MIDI source there is (but dmmlive's own); a CC from one moves its midicc."""
    patch = tmp_path / "all.dmm"
    patch.write_text("g = midicc(7, channel=1, default=0.25, lag=0)\nout = 0.1*mul(sine(freq=220), g)\n")
    exe = Path(sys.executable).with_name("dmmlive")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "dmmlive.cli"]
    r = subprocess.run(cli + ["play", str(patch), "--no-audio", "--no-window", "--no-osc", "--seconds", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"in from '{keys.name}'" in r.stdout, r.stdout  # (the command line's default: all)
    app = App(patch, audio=True, device="system", window=False, osc=False, out=io.StringIO(),
              err=io.StringIO(), midi_in=["all"])
    app.start()
    try:
        said = app.out.getvalue()
        assert f"in from '{keys.name}'" in said and "'dmmlive" not in said, said
        eng = app.engine
        assert eng.call(cc_value) == 0.25
        keys.send(0xB0, 7, 127)
        wait_until(lambda: eng.call(received) == 1, "the CC applied")
        wait_until(lambda: eng.call(cc_value) == 1.0, "the midicc at 1")
        keys.send(0xB1, 7, 0)  # channel 2: not its channel
        wait_until(lambda: eng.call(received) == 2, "the second CC applied")
        time.sleep(0.1)
        assert eng.call(cc_value) == 1.0
    finally:
        app.stop()


def test_link_and_midi_clock_in_together_are_refused(tmp_path):
    patch = tmp_path / "p.dmm"
    patch.write_text("out = 0.1*sine(freq=220)\n")
    with pytest.raises(BadArgument, match=r"^--link and --midi-clock-in: one clock source"):
        App(patch, audio=False, window=False, osc=False, out=io.StringIO(), err=io.StringIO(),
            midi_in=["virtual"], midi_clock_in=True, link=True)
    exe = Path(sys.executable).with_name("dmmlive")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "dmmlive.cli"]
    r = subprocess.run(cli + ["play", str(patch), "--no-audio", "--no-window", "--no-osc", "--seconds", "1",
                              "--link", "--midi-clock-in"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "--link and --midi-clock-in: one clock source" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_an_unknown_midi_port_is_an_error_naming_it(server, listener, tmp_path):
    patch = tmp_path / "p.dmm"
    patch.write_text("out = 0.1*sine(freq=220)\n")
    for kw, said in ((dict(midi_in=["nosuchkeyboard"]), "no MIDI source 'nosuchkeyboard'"),
                     (dict(midi_out="nosuchsynth"), "no MIDI destination 'nosuchsynth'")):
        app = App(patch, audio=False, window=False, osc=False, out=io.StringIO(), err=io.StringIO(), **kw)
        with pytest.raises(BadArgument) as e:
            app.start()
        app.stop()
        assert said in str(e.value) and f"{listener.name}:midi_" in str(e.value)


def test_play_takes_the_midi_options(server, listener, tmp_path):
    """`dmmlive play --midi-in NAME` through the command line; `none` opens nothing."""
    patch = tmp_path / "p.dmm"
    patch.write_text("g = midicc(7)\nout = 0.1*mul(sine(freq=220), g)\n")
    exe = Path(sys.executable).with_name("dmmlive")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "dmmlive.cli"]
    r = subprocess.run(cli + ["play", str(patch), "--no-audio", "--no-window", "--no-osc", "--seconds", "1",
                              "--midi-in", "nosuch"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no MIDI source 'nosuch'" in r.stderr, r.stderr
    r = subprocess.run(cli + ["play", str(patch), "--no-audio", "--no-window", "--no-osc", "--seconds", "1",
                              "--midi-in", "miditest", "--midi-out", "virtual"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "MIDI (JACK): in from 'miditest:midi_out'; out to 'dmmlive:midi_out'" in r.stdout, r.stdout
