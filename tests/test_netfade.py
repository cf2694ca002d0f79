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


GLIDE = '''netfade({fade})
a = sine(freq=220)
n = sum_kr(0.5)
out = 0.1*a
self.delta = pulse(value={{"out": {{"left": {{"a": {{"out": 0.2}}}}}}, "n": {{"in": {{"one": {{"out": 2.0}}}}}}}}, period=100, phase=0.04)
'''


def smoothstep(r):
    r = np.clip(r, 0.0, 1.0)
    return 3 * r * r - 2 * r ** 3


@pytest.mark.parametrize("fade", [0.01, 0])
def test_a_network_written_switch_glides_over_netfade_into_audio_and_number_inputs(fade):
    """A `pulse` (a writer after a pause) adds +0.2 to out.left's weight from a (an audio
    input) and +2 to n's input from one (a number input). W holds the new weights at once;
    what is heard glides from the next tick over netfade(0.01) = 480 samples along the
    smoothstep 3r² - 2r³: per sample into audio, per tick (r at the block's end) into a
    number; m.gliding is true while it runs, 4 ticks (480 samples / 128), then false.
    With netfade(0) both step on the next tick's first sample."""
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "p.dmm").apply(GLIDE.format(fade=fade), now=True)
    ticks = []
    for _ in range(30):
        m.tick()
        ticks.append((m.t, vv.path(m.matrix, "out", "left", "a", "out"), vv.path(m.matrix, "n", "in", "one", "out"),
                      m.gliding, m.sound()[:, 0].copy(), np.array(m.output("a")), m.output("n")))
    t0 = next(t for t, wa, *_ in ticks if wa != 0.1)  # the pulse's tick (phase 0.04 s: tick 15)
    assert t0 == 15 and not m.reports
    by = {t: rest for t, *rest in ticks}
    for t in range(t0, 31):  # W exact at once, from the pulse's tick on
        assert by[t][0] == 0.1 + 0.2 and by[t][1] == 0.5 + 2.0
    n = round(fade * RATE)
    glide_ticks = -(-n // B)  # 4
    assert [t for t, *_, g, _s, _a, _n in ticks if g] == (list(range(t0, t0 + glide_ticks)) if fade else [])
    for k in range(1, 6):  # the ticks after the pulse's
        _, _, _, sound, a, num = by[t0 + k]
        j = (k - 1) * B + np.arange(1, B + 1)  # samples into the glide
        r = j / n if fade else np.ones(B)
        np.testing.assert_allclose(sound, (0.1 + 0.2 * smoothstep(r)) * a, rtol=0, atol=1e-6)
        assert num == pytest.approx(0.5 + 2.0 * smoothstep(k * B / n if fade else 1.0), abs=1e-6)
    # before the pulse: the old weights exactly
    np.testing.assert_allclose(by[t0][3], 0.1 * by[t0][4], rtol=0, atol=1e-7)
    assert by[t0][5] == 0.5


def test_a_switched_off_source_with_an_input_is_read_in_order_while_it_glides():
    # a's only link to out is switched off by the network while a reads wob: until the glide
    # ends out still reads a, so a stays before out in the level order (by W's links alone
    # out came first and read a's block of the tick before: a step of 0.39)
    sw = '{"out": {"left": {"a": {"out": -0.2}, "b": {"out": 0.2}}, "right": {"a": {"out": -0.2}, "b": {"out": 0.2}}}}'
    text = (f"wob = sine(freq=6)\na = sine(freq=220 + 6*wob)\nb = sine(freq=330)\nout = 0.2*a\n"
            f"self.delta = pulse(value={sw}, period=1, phase=0.5)\n")
    d = steps(text, 0.8)
    steady = np.percentile(d[:int(0.45 * RATE)], 99.9)
    assert d.max() <= 3 * steady
