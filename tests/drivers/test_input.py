"""Audio input, live: a tone another JACK client plays into dmmlive's input port comes out
through `out = lowpass(input(1), cutoff=...)`, on the JACK dummy clock (real PortAudio,
duplex), and a set log records the input so the replay is sample-identical."""
from __future__ import annotations

import time

import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.drivers.audio import AudioEngine

RATE, BLOCK = 48000, 128
TONE = 440.0


class ToneAndEar:
    """A JACK client of its own: plays a sine into dmmlive's input port, and keeps what it
    hears on dmmlive's left output."""

    def __init__(self, server: str, timeout: float = 30.0):
        import jack
        self.c = jack.Client("dmmlive-tone", servername=server, no_start_server=True)
        self.out = self.c.outports.register("tone")
        self.inp = self.c.inports.register("ear")
        self.heard: list = []
        self.phase = 0
        self.c.set_process_callback(self._process)
        self.c.activate()
        deadline = time.monotonic() + timeout
        while True:
            ins = sorted(p.name for p in self.c.get_ports(is_audio=True, is_input=True)
                         if p.name.startswith("PortAudio"))
            outs = sorted(p.name for p in self.c.get_ports(is_audio=True, is_output=True)
                          if p.name.startswith("PortAudio"))
            if ins and outs:
                break
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("dmmlive's JACK ports did not appear")
            time.sleep(0.05)
        self.c.connect(self.out, ins[0])   # into input(1)
        self.c.connect(outs[0], self.inp)  # out.left

    def _process(self, n):
        k = self.phase + np.arange(n)
        self.out.get_array()[:] = (0.5 * np.sin(2 * np.pi * TONE * k / RATE)).astype(np.float32)
        self.phase += n
        self.heard.append(self.inp.get_array().copy())

    def close(self):
        self.c.deactivate()
        self.c.close()


PATCH = "out = lowpass(input(1), cutoff=3000, q=0.7)\n"


def test_a_tone_played_into_the_input_port_comes_out_through_the_patch_and_the_log_replays_it(jack, tmp_path):
    """The tone at its pitch and level in what dmmlive plays (heard by the same client that
    plays it), the engine never short; and `play --log` wrote the input beside the log, so
    the replay's sound is the live sound, sample for sample."""
    from dmmlive.app import build
    from dmmlive.log import machine_from_log
    patch, log = tmp_path / "in.dmm", tmp_path / "in.dmmlog"
    patch.write_text(PATCH)
    with AudioEngine(build, (str(patch), RATE, BLOCK, True, 0.01, None, False, str(log)), device=jack.device,
                     input_device=jack.device, input_channels=2) as eng:
        ear = ToneAndEar(jack.server)
        try:
            time.sleep(2.0)
            tick0, live = eng.capture(RATE // 2)
            heard = np.concatenate(ear.heard[-int(1.0 * RATE / jack.period):])
            st = eng.status()
        finally:
            ear.close()
    m = machine_from_log(log)
    again = []
    while m.t < tick0 + -(-len(live) // BLOCK) - 1:
        m.tick()
        if m.t >= tick0:
            again.append(m.sound().copy())
    np.testing.assert_array_equal(np.concatenate(again)[:len(live)], live)
    assert np.abs(live).max() > 0.3
    assert st["short"] == 0, st  # the engine never fell behind
    spec = np.abs(np.fft.rfft(heard * np.hanning(len(heard))))
    f = np.fft.rfftfreq(len(heard), 1 / RATE)
    assert abs(f[np.argmax(spec)] - TONE) < 2.0          # the tone, at its pitch
    rms = np.sqrt(np.mean(heard ** 2))
    assert 0.3 < rms < 0.4, rms                          # 0.5/sqrt(2) through a lowpass at 3 kHz: ~0.35
    # the input is held back by what the engine runs ahead: a block or two of silence at
    # the start at most (the engine's first cover), none dropped
    assert st["input_short"] <= 3 and st["input_dropped"] == 0, st


def test_play_input_device_through_the_app_hears_the_tone(jack, tmp_path):
    """`play --input-device` as the App wires it (App(..., input_device=...)): the tone another
    client plays into dmmlive's input port is heard at its output, at its pitch and level."""
    import io
    from dmmlive.app import App
    patch = tmp_path / "in.dmm"
    patch.write_text(PATCH)
    app = App(patch, audio=True, device=jack.device, input_device=jack.device, window=False, osc=False,
              out=io.StringIO(), err=io.StringIO())
    app.start()
    try:
        ear = ToneAndEar(jack.server)
        try:
            time.sleep(2.0)
            heard = np.concatenate(ear.heard[-int(1.0 * RATE / jack.period):])
        finally:
            ear.close()
    finally:
        app.stop()
    spec = np.abs(np.fft.rfft(heard * np.hanning(len(heard))))
    f = np.fft.rfftfreq(len(heard), 1 / RATE)
    assert abs(f[np.argmax(spec)] - TONE) < 2.0          # the tone, at its pitch
    rms = np.sqrt(np.mean(heard ** 2))
    assert 0.3 < rms < 0.4, rms                          # through the lowpass: ~0.35
