"""A picture drawn from the frames a sound-only machine publishes equals the picture of a
machine that computes both: the frame neurons get the engine's inputs (numbers, image
terms, the audio they draw), not a second computation of the sound."""
from pathlib import Path

import numpy as np

from dmmlive.gfx import Gpu
from dmmlive.gfx.picture import Picture
from dmmlive.patch.live import open_patch

from .conftest import N

DEMO = (Path(__file__).resolve().parents[2] / "patches" / "demo.dmm").read_text()
# the network rewrites a weight the picture depends on, every tick: the kaleidoscope's
# share of the screen grows, and a flip of the sign at 0.5 s and 1.0 s
SELFMOD = DEMO.replace("size(640, 360)", f"size({N}, {N})") + (
    'self.delta = const(value={"screen": {"in": {"screen/kaleid#1": {"out": 0.002}}}})'
    ' + pulse(value={"glow": {"speed": {"one": {"out": -0.6}}}}, period=0.5, phase=0.5)\n'
    "screen.in_ += 0.5*level\n")  # a number in an image row (a grey the loudness brightens)


def machines(tmp_path, gpu):
    path = tmp_path / "p.dmm"
    path.write_text(SELFMOD)
    full = open_patch(path, size=(N, N), gpu=gpu).machine
    sound = open_patch(path, size=(N, N), images=False, publish_frames=True).machine
    return full, sound


def test_a_picture_from_published_frames_equals_the_full_machines(tmp_path, gpu):
    full, sound = machines(tmp_path, gpu)
    other = Gpu(size=(N, N), ctx=gpu.ctx)
    pic = Picture(other, rate=sound.rate, block=sound.block, fps=sound.fps, types=sound.types)
    frames = 0
    for _ in range(560):  # 1.5 s: 45 frames
        full.tick()
        sound.tick()
        np.testing.assert_array_equal(full.sound(), sound.sound())  # publishing changes no sound
        if full.frame_tick:
            rec = sound.frames_out.popleft()
            assert not sound.frames_out and (rec["tick"], rec["frame"]) == (full.t, full.frame)
            # the inputs the frame neurons got are the engine's: every number input equals
            # the full machine's at that tick, to the bit
            for name, _, _, ins in rec["neurons"]:
                for port, v in ins.items():
                    if isinstance(v, float):
                        assert v == full.input(name, port), (name, port)
            img = pic.draw(rec)
            np.testing.assert_array_equal(other.read(img), gpu.read(full.image()))
            frames += 1
        else:
            assert not sound.frames_out
    assert frames == 45
    w = sound.matrix["screen"]["in"]["screen/kaleid#1"]["out"]
    assert w > 0.35 + 0.002 * 500  # the network did rewrite it, every tick
    assert sound.compiles < 10
