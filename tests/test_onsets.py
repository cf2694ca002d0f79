"""patches/onsets.dmm: sound that rewires the network on its own onsets. The drums' attacks
feed a `lif` (refractory 20 ticks), each spike writes +40 Hz into the bell's pitch weight
through `self.delta`, and the weight, read back with `vread`, springs toward 440 Hz between
the spikes (x 0.99 a tick)."""
import numpy as np
import pytest

from dmmlive import vv
from dmmlive.patch.live import load

BPM = 112  # the patch's tempo(112): the kick on every beat, the clap on every other


def run(seconds=4.0):
    m = load("patches/onsets.dmm")
    w, hit, f = [vv.path(m.matrix, "bell", "freq", "one", "out")], [], []
    for _ in range(int(seconds * m.rate / m.block)):
        m.tick()
        w.append(vv.path(m.matrix, "bell", "freq", "one", "out"))
        hit.append(m.output("hit"))
        f.append(m.output("f"))
    return m, np.array(w), np.array(hit), np.array(f)


def test_onsets_spikes_once_a_kick_and_each_spike_pushes_the_pitch_up():
    m, w, hit, f = run()
    assert w[0] == 440.0 and not m.reports and set(hit) == {0.0, 1.0}
    # hit[i] is tick i+1, which plays samples [i*B, (i+1)*B): the kick k starts at
    # k*60/112 s, in block floor(k*60/112*rate/B); one spike each, within 2 ticks
    n = len(hit)
    beats = [int(k * 60 / BPM * m.rate) // m.block for k in range(20)]
    beats = [b for b in beats if b < n - 2]
    spikes = np.flatnonzero(hit)
    assert len(spikes) == len(beats) == 8  # (without refractory the fourth spiked twice)
    assert np.abs(spikes - np.array(beats)).max() <= 2, (spikes, beats)
    # every tick (from the second: vread reads W from then), the weight moves by what
    # vwrite writes: 40*hit + 4.4 - 0.01*f, f being the weight of the tick before
    np.testing.assert_array_equal(f[1:], w[1:-1])
    np.testing.assert_allclose(np.diff(w)[1:], 40 * hit[1:] + 4.4 - 0.01 * w[1:-1], rtol=0, atol=1e-9)
    # the jump at each spike: 40 + 4.4 - 0.01*w, ~ +39.5 up from where it had sunk
    for s in spikes[1:]:
        jump = w[s + 1] - w[s]
        assert jump == pytest.approx(44.4 - 0.01 * w[s], abs=1e-9) and 39.0 < jump < 40.0, s
    # between spikes it sinks toward 440 as w - 440 = (w_s - 440) * 0.99^(t - s)
    ends = list(spikes[1:]) + [n]
    for s, e in zip(spikes, ends):
        t = np.arange(s + 1, e + 1)
        np.testing.assert_allclose(w[t], 440 + (w[s + 1] - 440) * 0.99 ** (t - s - 1), rtol=0, atol=1e-9)
    assert 440 < w[1:].min() and w.max() < 440 + 44.4 / (1 - 0.99 ** 200)  # jumps and sinks balance
