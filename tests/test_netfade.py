"""Network-written changes glide where they are heard: a weight the network switches into
an audio or number input glides over netfade (5 ms by default); V-value weights and a
network writing every tick (a modulation) go in exactly; the edits -> self link is fixed."""
import numpy as np
import pytest

from dmmlive import BadArgument, Machine, vv
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
WAVE = open("patches/wave.dmm").read()


def steps(text, seconds=2.2):
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "wave.dmm").apply(text, now=True)
    out = []
    for _ in range(int(seconds * RATE / B)):
        m.tick()
        out.append(m.sound()[:, 0].copy())
    return np.abs(np.diff(np.concatenate(out)))


def test_the_wave_switches_without_a_click():
    steady = np.percentile(steps(WAVE.replace("fade(0.05)", "fade(0.05)\nnetfade(0.005)"), 0.45), 99.9)
    glided = steps(WAVE)  # netfade 5 ms by default
    jumped = steps(WAVE.replace("fade(0.05)", "fade(0.05)\nnetfade(0)"))
    assert glided.max() <= 3 * steady
    assert jumped.max() > 10 * steady  # the exact jump clicks: what netfade is for


def test_a_network_writing_every_tick_goes_in_exactly_and_v_values_never_glide():
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "p.dmm").apply('a = sine(freq=220)\nout = 0.1*a\n'
                                   'self.delta = vwrite(0.5, path="a/freq/one/out")\n', now=True)
    m.tick(3)
    assert not m.gliding  # wrote last tick too: a modulation, no glide after its first write
    f = vv.path(m.matrix, "a", "freq", "one", "out")
    m.tick()
    assert vv.path(m.matrix, "a", "freq", "one", "out") == f + 0.5


def test_the_edits_to_self_link_is_fixed():
    m = Machine(rate=RATE, block=B)
    with pytest.raises(BadArgument, match="fixed at 1"):
        m.edit({"self": {"delta": {"edits": {"delta": -1.0}}}})
    # the network cannot cut it either: ignored, reported, and outside edits still land
    m.add("cut", "const", value={"self": {"delta": {"edits": {"delta": -1.0}}}})
    m.connect("self.delta", "cut.out", 1.0)
    m.tick(3)
    assert vv.path(m.matrix, "self", "delta", "edits", "delta") == 1.0
    assert any("edits -> self weight" in r for r in m.reports)
    m.add("s", "sine")
    m.edit({"out": {"left": {"s": {"out": 0.5}}}})
    m.tick(3)
    assert vv.path(m.matrix, "out", "left", "s", "out") == 0.5
