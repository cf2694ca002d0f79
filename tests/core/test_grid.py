"""The beat grid: one clock for the machine, quantised edits landing on its beats to the
sample, tempo changes keeping the beat."""
import numpy as np
import pytest

from dmmlive import Machine
from dmmlive.core.grid import Grid

RATE, B = 48000, 128


def test_next_multiple_is_the_first_sample_on_or_after_the_beat():
    g = Grid(RATE, 120.0)
    assert g.next_multiple(0, 1) == 0
    assert g.next_multiple(1, 1) == 24000
    assert g.next_multiple(24000, 1) == 24000
    assert g.next_multiple(24001, 4) == 96000          # a bar of 4
    assert g.next_multiple(1, 0.25) == 6000
    g = Grid(RATE, 137.0)                                # 60*48000/137 = 21021.9 samples a beat
    assert [g.next_multiple(s, 1) for s in (1, 21022, 21023)] == [21022, 21022, 42044]
    g.set_tempo(90.0, at=30000)                          # at beat 1.427..: beat 2 at 30000 + 0.573*32000
    p = 137 * 30000 / 2880000
    assert g.next_multiple(30000, 1) == 30000 + int(np.ceil((2 - p) * 32000))
    assert g.beat(30000) == pytest.approx(p)


def tone(schedule="ordered"):
    m = Machine(schedule=schedule, rate=RATE, block=B)
    m.add("s", "sine")
    m.connect("s.freq", "one", 997.3)
    m.connect("out.left", "s", 0.25)
    return m


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@pytest.mark.parametrize("fade", [0.0, 0.01])
def test_a_quantised_edit_lands_on_the_beats_first_sample(schedule, fade):
    """out.left's gain goes 0.25 -> 0.75 quantised to the beat: every sample before the
    beat is the unchanged twin's, from the beat on three times it (a step) or the glide
    starting there."""
    m, ref = tone(schedule), tone(schedule)
    m.tick(50), ref.tick(50)
    at = m.quant_at(1)
    assert at == 24000
    m.edit({"out": {"left": {"s": {"out": 0.5}}}}, fade=fade, at=at)
    got, base = [], []
    for _ in range(250):
        m.tick(), ref.tick()
        got.append(m.sound()[:, 0].copy()), base.append(ref.sound()[:, 0].copy())
    got, base = np.concatenate(got), np.concatenate(base)
    k = at - 50 * B
    # before the beat the old gain (to float32 rounding: the new W less the glide's part)
    np.testing.assert_allclose(got[:k], base[:k], rtol=0, atol=1e-7)
    assert abs(base[k]) > 1e-3
    if fade == 0:
        assert abs(got[k] - 3 * base[k]) < 1e-6
        np.testing.assert_allclose(got[k:], 3 * base[k:], rtol=1e-5, atol=1e-7)
    else:
        n = int(fade * RATE)
        r = np.arange(1, n + 1) / n
        gain = 0.25 + 0.5 * r * r * (3 - 2 * r)
        np.testing.assert_allclose(got[k:k + n], base[k:k + n] / 0.25 * gain, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got[k + n:], 3 * base[k + n:], rtol=1e-5, atol=1e-7)


def test_quantised_edits_keep_their_order_and_compose():
    """A later edit (unquantised) queued after a quantised one waits behind it; the W
    they give is the same as applied one after the other."""
    m = tone()
    m.tick(10)
    m.edit({"out": {"left": {"s": {"out": 0.5}}}}, at=m.quant_at(1))
    m.edit({"out": {"left": {"s": {"out": -0.25}}}})
    m.tick(100)
    assert m.matrix["out"]["left"]["s"]["out"] == 0.25       # both still queued
    m.tick(100)
    assert m.matrix["out"]["left"]["s"]["out"] == 0.5


def test_a_neuron_added_by_a_quantised_edit_is_heard_from_the_beat():
    m = tone()
    m.tick(20)
    at = m.quant_at(1)
    m.edit({"out": {"left": {"c": {"out": 0.5}}}}, declare={"c": "clock"}, at=at)
    out = []
    for _ in range(400):
        m.tick()
        out.append(m.sound()[:, 0].copy())
    base = tone()
    ref = []
    for _ in range(420):
        base.tick()
        ref.append(base.sound()[:, 0].copy())
    diff = np.concatenate(out) - np.concatenate(ref)[20 * B:]
    hits = np.flatnonzero(np.abs(diff) > 1e-6) + 20 * B
    assert hits.tolist() == [24000, 48000]      # the clock's pulses, from the beat on
