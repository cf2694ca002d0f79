"""The analysers rms, peak and bands against closed forms."""
import numpy as np
import pytest

import dmmlive
from dmmlive import Machine
from dmmlive.neurons.analysis import band_edges, band_plan
from .signals import SIGNALS, TYPES, signal  # noqa: F401  (the shared test source)

RATE, B = 48000, 128


def sine(name, freq, amp, seconds=0.25, phase=0.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    SIGNALS[name] = (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return name


def machine(signals, type_, block=B, rate=RATE):
    """A machine with one `type_` analyser per signal, analyser k reading source k."""
    m = Machine(rate=rate, block=block, types=TYPES)
    for k, s in enumerate(signals):
        m.add(f"src{k}", "test_signal", signal=s)
        m.add(f"a{k}", type_)
        m.connect(f"a{k}.in", f"src{k}")
    return m


# ---- rms and peak -----------------------------------------------------------------------

def test_rms_of_a_sine_is_amplitude_over_sqrt2():
    amps = [1.0, 0.5, 0.1]
    m = machine([sine(f"rms{a}", 3 * RATE / B, a, phase=0.4) for a in amps], "rms")  # 3 cycles a block
    for _ in range(5):
        m.tick()
        for k, a in enumerate(amps):
            assert m.output(f"a{k}") == pytest.approx(a / np.sqrt(2), rel=1e-6)


def test_peak_of_a_sine_is_its_amplitude():
    amps = [1.0, 0.5, 0.1]
    m = machine([sine(f"peak{a}", 3 * RATE / B, a, phase=np.pi / 2) for a in amps], "peak")
    for _ in range(5):
        m.tick()
        for k, a in enumerate(amps):
            assert m.output(f"a{k}") == pytest.approx(a, rel=1e-6)


def test_rms_and_peak_follow_each_block():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(10 * B) * np.repeat(rng.uniform(0, 1, 10), B)).astype(np.float32)
    x[3 * B + 17] = -3.0  # a negative peak counts by its size
    SIGNALS["noise"] = x
    m = Machine(rate=RATE, block=B, types=TYPES)
    m.add("src", "test_signal", signal="noise")
    m.add("r", "rms")
    m.add("p", "peak")
    m.connect("r.in", "src")
    m.connect("p.in", "src")
    for t in range(10):
        m.tick()
        blk = x[t * B:(t + 1) * B].astype(np.float64)
        assert m.output("r") == pytest.approx(np.sqrt(np.mean(blk ** 2)), rel=1e-12)
        assert m.output("p") == np.abs(blk).max()
    assert np.abs(x[3 * B:4 * B]).max() == 3.0


# ---- bands ------------------------------------------------------------------------------

def levels(m, k):
    return np.array([m.output(f"a{k}", f"b{j + 1}") for j in range(8)])


def test_band_edges():
    np.testing.assert_allclose(band_edges()[[0, 4, 8]], [40, 800, 16000])
    assert [w.n for w in band_plan(48000)] == [1024, 2048, 4096]


def test_a_sine_at_a_band_centre_lights_that_band_only():
    e = band_edges()
    centres = np.sqrt(e[:-1] * e[1:])
    amp = 0.5
    m = machine([sine(f"band{k}", c, amp, phase=0.3 * k) for k, c in enumerate(centres)], "bands")
    m.tick(40)  # more than the longest window (4096 samples)
    for k in range(8):
        lv = levels(m, k)
        assert lv[k] == pytest.approx(amp / np.sqrt(2), rel=0.01), (k, lv)
        others = np.delete(lv, k)
        assert np.all(others < lv[k] / 10), (k, 20 * np.log10(others / lv[k]))  # 20 dB lower


def test_a_full_scale_sine_reads_its_rms_in_its_band():
    m = machine([sine("full", 1000.0, 1.0)], "bands")
    m.tick(40)
    lv = levels(m, 0)
    assert lv[4] == pytest.approx(1 / np.sqrt(2), rel=0.01)
    assert lv.argmax() == 4


def test_the_edges_are_not_lost():
    m = machine([sine("low", 25.0, 1.0, seconds=0.5), sine("high", 20000.0, 1.0)], "bands")
    m.tick(60)
    assert levels(m, 0)[0] == pytest.approx(1 / np.sqrt(2), rel=0.05)  # below 40 Hz: b1
    assert levels(m, 1)[7] == pytest.approx(1 / np.sqrt(2), rel=0.01)  # above 16 kHz: b8


def test_silence_reads_zero_and_stays_finite():
    SIGNALS["silence"] = np.zeros(10, np.float32)
    for type_, outs in [("bands", [f"b{j + 1}" for j in range(8)]), ("rms", ["out"]), ("peak", ["out"])]:
        m = machine(["silence"], type_)
        m.tick(5)
        vals = [m.output("a0", o) for o in outs]
        assert all(np.isfinite(v) and v == 0.0 for v in vals), (type_, vals)


def test_bands_with_blocks_longer_than_the_history():
    m = machine([sine("long", 550.0, 1.0, seconds=0.5)], "bands", block=5000)
    m.tick(2)
    lv = levels(m, 0)
    assert np.isfinite(lv).all() and lv[3] == pytest.approx(1 / np.sqrt(2), rel=0.01)


def test_bands_at_another_rate():
    e = band_edges()
    m = machine([sine("r44", np.sqrt(e[1] * e[2]), 1.0, rate=44100)], "bands", rate=44100)
    m.tick(60)
    lv = levels(m, 0)
    assert lv[1] == pytest.approx(1 / np.sqrt(2), rel=0.01) and np.all(np.delete(lv, 1) < lv[1] / 10)


def test_ports_and_help():
    t = dmmlive.TYPES
    assert list(t["rms"].inputs) == ["in"] and t["rms"].outputs == {"out": "number"}
    assert t["peak"].outputs == {"out": "number"}
    assert t["bands"].outputs == {f"b{j + 1}": "number" for j in range(8)}
    for name in ["rms", "peak", "bands"]:
        assert t[name].batched and t[name].doc.splitlines()[0]
