"""The window draws the engine's own frames: what `play` shows at each frame is what the
engine's network computed for that frame tick (its numbers and the audio drawn), so it
equals, to the bit, the frame an offline machine computes at the same tick, even while the
network rewrites a weight the picture depends on every tick. A headless window in this
process, the engine without a card (NullOutput)."""
from __future__ import annotations

import io
import time

import numpy as np

from dmmlive.app import App

from .window_run import run_beside
from dmmlive.gfx import Gpu
from dmmlive.patch.live import open_patch

WAIT = 30.0
# no feedback loop: a frame's picture is a function of what the frame neurons get at its tick
PATCH = """\
size(32, 18)
fps(30)
fade(0)
lfo = sine(freq=0.5)
bass = saw(freq=55 + 20*lfo)
out = 0.2*bass
level = rms(bass)
glow = plasma(speed=0.3 + 4*level)
screen = glow + 0.6*waveform(bass) + 0.1*level
self.delta = const(value={"screen": {"in": {"glow": {"out": -0.003}}}})
"""


def test_the_window_shows_the_frames_the_engine_computed(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    p = tmp_path / "p.dmm"
    p.write_text(PATCH, encoding="utf-8")
    app = App(p, audio=False, osc=False, seconds=WAIT, out=io.StringIO(), err=io.StringIO(),
              window_size=(32, 18))
    shots = []  # (frame, tick, RGBA float of the screen image) as the window drew them

    def on_frame(window):
        m = window.machine
        img = m.image()
        if img is not None and len(shots) < 12:
            shots.append((m.frame, m.t, window.gpu.read(img).copy()))

    def watcher():
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and (app.window is None or len(shots) < 12):
            if app.window is not None:
                app.window.on_frame = on_frame
            time.sleep(0.02)

    assert run_beside(app, watcher, WAIT) == 0
    assert len(shots) == 12
    frames = [f for f, _, _ in shots]
    assert frames == sorted(frames) and len(set(frames)) == 12
    # offline: the same patch, sound and picture in one machine, to each frame's tick
    gpu = Gpu(size=(32, 18))
    try:
        m = open_patch(p, rate=app.rate, block=app.block, gpu=gpu).machine
        for frame, tick, pic in shots:
            while m.t < tick:
                m.tick()
            assert (m.frame, m.frame_tick) == (frame, True)
            np.testing.assert_array_equal(gpu.read(m.image()), pic, err_msg=f"frame {frame}")
        w = m.matrix["screen"]["in"]["glow"]["out"]
        assert w < 1.0 - 0.003 * (shots[0][1] - 1) + 1e-9  # the network did rewrite it
    finally:
        gpu.close()
