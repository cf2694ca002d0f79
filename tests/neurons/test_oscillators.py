"""Oscillators and noise against closed forms: pitch, level, phase, aliasing, spectra, seeds."""
import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import BadArgument, Machine
from dmmlive.neurons import oscillators
from .signals import TYPES, wire  # the shared test source (and its table) and its wiring

RATE = 48000
DELAY = oscillators.BLEP_DELAY


def build(kind, block=128, rate=RATE, seed=0, name="x", args=None, **ports):
    """A machine with `name = kind(**ports)`: a number port is a weight from `one`, an
    array is played by a source neuron (and replaces the port's default)."""
    m = Machine(rate=rate, block=block, seed=seed, types=TYPES)
    m.add(name, kind, **(args or {}))
    wire(m, name, ports)
    return m


def run(m, n, name="x"):
    """The first n samples of `name`'s output."""
    blocks = []
    for _ in range(-(-n // m.block)):
        m.tick()
        blocks.append(m.output(name))
    return np.concatenate(blocks)[:n]


def render(kind, n, name="x", **kw):
    return run(build(kind, name=name, **kw), n, name)


def spectrum_db(y):
    """Magnitude spectrum in dB relative to its peak (Blackman-Harris: sidelobes < -92 dB)."""
    s = np.abs(np.fft.rfft(y * ss.windows.blackmanharris(len(y))))
    return 20 * np.log10(s / s.max() + 1e-300)


def worst_alias_db(y, f0, rate=RATE):
    """The loudest bin that is neither a harmonic of f0 (+-8 bins) nor DC, in dB re the peak."""
    db = spectrum_db(y)
    f = np.fft.rfftfreq(len(y), 1 / rate)
    keep = f > 20
    for h in np.arange(f0, rate / 2 + 1, f0):
        keep &= np.abs(f - h) > 8 * rate / len(y)
    return db[keep].max()


def peak_hz(y, rate=RATE):
    return np.fft.rfftfreq(len(y), 1 / rate)[np.argmax(np.abs(np.fft.rfft(y * np.hanning(len(y)))))]


# ---- sine ---------------------------------------------------------------------------------
def test_sine_is_the_closed_form():
    y = render("sine", RATE, freq=440.0, amp=0.5)
    n = np.arange(RATE)
    assert np.abs(y - 0.5 * np.sin(2 * np.pi * 440 * n / RATE)).max() < 1e-6


def test_sine_phase_offset_is_in_cycles():
    y = render("sine", 4800, freq=1000.0, phase=0.25)
    n = np.arange(4800)
    assert np.abs(y - np.cos(2 * np.pi * 1000 * n / RATE)).max() < 1e-6


def test_sine_pitch_level_and_zero_crossings():
    y = render("sine", RATE, freq=1234.0, amp=0.8)
    assert peak_hz(y) == 1234.0
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.8 / np.sqrt(2), rel=1e-5)
    assert np.abs(y).max() == pytest.approx(0.8, abs=1e-5)
    rising = np.count_nonzero((y[:-1] < 0) & (y[1:] >= 0))
    assert rising in (1233, 1234)


def test_sine_fm_matches_the_instantaneous_phase():
    n = 3 * RATE // 2
    t = np.arange(n) / RATE
    freq = (300 + 200 * np.sin(2 * np.pi * 7 * t) + 150 * np.sign(np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    y = render("sine", n, freq=freq, amp=0.7)
    phase = np.concatenate([[0.0], np.cumsum(freq.astype(np.float64))[:-1]]) / RATE
    assert np.abs(y - 0.7 * np.sin(2 * np.pi * phase)).max() < 2e-6


def test_sine_fm_by_another_sine_is_one_weight():
    m = Machine(rate=RATE, block=128)
    m.add("mod", "sine")
    m.connect("mod.freq", "one", 5.0)
    m.add("car", "sine")
    m.connect("car.freq", "one", 440.0)
    m.connect("car.freq", "mod", 30.0)
    m.connect("out.left", "car", 0.5)
    y = run(m, RATE, "car")
    t = np.arange(RATE) / RATE
    f = (np.float32(440.0) + np.float32(30.0) * np.sin(2 * np.pi * 5 * t).astype(np.float32)).astype(np.float64)
    phase = np.concatenate([[0.0], np.cumsum(f)[:-1]]) / RATE
    assert np.abs(y - np.sin(2 * np.pi * phase)).max() < 1e-5


def test_sine_pm_adds_to_the_phase():
    n = 9600
    t = np.arange(n) / RATE
    pm = (0.3 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    y = render("sine", n, freq=1000.0, phase=pm)
    assert np.abs(y - np.sin(2 * np.pi * (1000 * t + pm))).max() < 2e-6


def test_sine_negative_and_zero_frequency():
    up = render("sine", 4800, freq=440.0)
    down = render("sine", 4800, freq=-440.0)
    assert np.abs(up + down).max() < 1e-6
    still = render("sine", 4800, freq=0.0, phase=0.25)
    assert np.abs(still - 1.0).max() < 1e-6


def test_sine_phase_is_continuous_across_blocks():
    y = render("sine", 64 * 100, block=64, freq=3000.0)
    step = 2 * np.pi * 3000 / RATE
    assert np.abs(np.diff(y)).max() <= step * 1.0001


# ---- band-limited saw, square, tri -----------------------------------------------------------
@pytest.mark.parametrize("kind,f0", [("saw", 5000.0), ("square", 5000.0), ("tri", 5000.0), ("saw", -5000.0),
                                     ("square", -3000.0), ("tri", -5000.0), ("saw", 440.0), ("square", 1234.5)])
def test_aliases_are_60_db_below_the_fundamental(kind, f0):
    y = render(kind, 1024 + RATE, freq=f0)[1024:]  # one second, past the start
    assert worst_alias_db(y, abs(f0)) < -60.0


def test_naive_saw_would_fail_the_alias_test():
    # the test above can fail: the same measure on a naive saw
    p = (np.arange(RATE) * 5000 / RATE) % 1.0
    assert worst_alias_db(2 * p - 1, 5000) > -40


@pytest.mark.parametrize("kind", ["saw", "square", "tri"])
def test_pitch_of_band_limited_oscillators(kind):
    y = render(kind, 1024 + RATE // 2, freq=1000.0)[1024:]
    assert peak_hz(y) == 1000.0
    rising = np.count_nonzero((y[:-1] < 0) & (y[1:] >= 0))
    assert rising in (499, 500)  # 500 periods; an edge may sit on the window border


def kernel_response(f_hz, rate=RATE):
    """The band-limiting kernel's gain at f_hz: the Fourier transform of the windowed sinc."""
    half = oscillators.BLEP_TAPS // 2
    x = np.linspace(-half, half, 64 * 2 * half + 1)
    fc, beta = oscillators._BLEP_CUTOFF, oscillators._BLEP_BETA
    h = np.sinc(2 * fc * x) * np.i0(beta * np.sqrt(np.clip(1 - (x / half) ** 2, 0, 1)))
    h /= h.sum()
    return np.cos(2 * np.pi * np.outer(np.asarray(f_hz) / rate, x)) @ h


@pytest.mark.parametrize("kind", ["saw", "square", "tri"])
def test_band_limited_waveforms_are_their_filtered_fourier_series(kind):
    """Each is its Fourier series through the kernel, sampled (aliases included), lagging
    by BLEP_DELAY samples: the whole shape, the phase and the lag checked at once."""
    n, f0 = 2400, 440.0
    t = (np.arange(n) - DELAY) / RATE
    k = np.arange(1, int(2.5 * RATE / f0))
    if kind == "saw":     # 2*frac(f t) - 1
        c = -2 / (np.pi * k)
    elif kind == "square":  # +1 for the first half of each cycle
        c = np.where(k % 2 == 1, 4 / (np.pi * k), 0.0)
    else:                 # 0 at phase 0, rising, peak 1 at 1/4
        c = np.where(k % 2 == 1, 8 / (np.pi * k) ** 2 * (-1.0) ** ((k - 1) // 2), 0.0)
    ref = np.sin(2 * np.pi * f0 * np.outer(t, k)) @ (c * kernel_response(k * f0))
    y = render(kind, n, freq=f0)
    a = 2 * oscillators.BLEP_TAPS  # past the start-up
    assert np.abs(y[a:] - ref[a:]).max() < 2e-4


def test_levels_of_band_limited_oscillators():
    cyc = RATE // 400 * 100  # 100 whole periods of 400 Hz
    saw = render("saw", 1024 + cyc, freq=400.0, amp=0.5)[1024:]
    assert np.mean(saw) == pytest.approx(0.0, abs=1e-4)
    assert np.sqrt(np.mean(saw ** 2)) == pytest.approx(0.5 / np.sqrt(3), rel=0.01)
    tri = render("tri", 1024 + cyc, freq=400.0)[1024:]
    assert np.sqrt(np.mean(tri ** 2)) == pytest.approx(1 / np.sqrt(3), rel=1e-3)
    assert np.abs(tri).max() == pytest.approx(1.0, abs=0.01)
    sq = render("square", 1024 + cyc, freq=400.0, width=0.25)[1024:]
    assert np.mean(sq) == pytest.approx(2 * 0.25 - 1, abs=1e-4)
    assert np.sqrt(np.mean(sq ** 2)) == pytest.approx(1.0, rel=0.01)


def test_band_limited_oscillators_lag_by_the_kernel_delay():
    y = render("saw", 256, freq=100.0)
    assert np.all(y[:DELAY] == 0.0)
    assert y[DELAY + 40] == pytest.approx(2 * (40 * 100 / RATE) - 1, abs=1e-3)
    tri = render("tri", 256, freq=100.0)
    assert tri[DELAY + 40] == pytest.approx(4 * 40 * 100 / RATE, abs=1e-3)


def test_saw_runs_down_for_negative_frequency():
    up = render("saw", 4800, freq=440.0)
    down = render("saw", 4800, freq=-440.0)
    assert np.abs(up[200:] + down[200:]).max() < 1e-5


@pytest.mark.parametrize("kind,level", [("saw", -1.0), ("tri", 0.0), ("square", 1.0)])
def test_zero_frequency_holds_still(kind, level):
    y = render(kind, 1024, freq=0.0)
    assert np.all(np.isfinite(y))
    assert np.abs(y[DELAY:] - level).max() < 1e-6


@pytest.mark.parametrize("width,level", [(0.0, -1.0), (1.0, 1.0)])
def test_square_extreme_widths_are_constant(width, level):
    # both edges fall on the same instant and cancel, even on exact sample hits
    for f in (375.0, 3000.0, 441.0):
        y = render("square", 4096, freq=f, width=width)
        assert np.abs(y[DELAY:] - level).max() < 1e-5, f


def test_square_pwm_keeps_its_mean():
    n = RATE
    t = np.arange(n) / RATE
    w = (0.5 + 0.3 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    y = render("square", n, freq=220.0, width=w)
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 1.3
    # over each 1/3 s the mean is 2*mean(width) - 1 = 0
    assert abs(np.mean(y[DELAY:DELAY + RATE // 3 * 3])) < 2e-3


def test_frequency_beyond_nyquist_is_held_at_nyquist():
    y = render("saw", 2048, freq=100000.0)
    z = render("saw", 2048, freq=RATE / 2)
    assert np.all(np.isfinite(y)) and np.abs(y - z).max() < 1e-6


BLOCK_KINDS = ["sine", "saw", "square", "tri", "phasor", "noise"]


def _invariance_ports(kind, f, fm, width):
    n = 4096
    t = np.arange(n) / RATE
    ports = {}
    if kind != "noise":
        ports["freq"] = (f + fm * np.sign(np.sin(2 * np.pi * 37 * t))
                         + fm * np.sin(2 * np.pi * 5 * t) * (t > 0.04)).astype(np.float32)
    if kind == "square":
        ports["width"] = (width + 0.2 * np.sin(2 * np.pi * 11 * t) * (t > 0.05)).astype(np.float32)
    ports["amp"] = (0.5 + 0.5 * np.cos(2 * np.pi * 3 * t)).astype(np.float32)
    return ports


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_one_512_block_equals_eight_64_blocks(kind):
    ports = _invariance_ports(kind, 440.0, 200.0, 0.5)
    a = render(kind, 4096, block=512, **ports)
    b = render(kind, 4096, block=64, **ports)
    assert np.abs(a - b).max() < 1e-5


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["saw", "square", "tri", "sine"]),
       f=st.sampled_from([0.0, 375.0, 3000.0, 12000.0, 24000.0, -375.0, -3000.0]) | st.floats(-20000, 20000),
       fm=st.sampled_from([0.0, 0.0, 100.0, 3000.0]),
       width=st.floats(0.0, 1.0),
       blocks=st.sampled_from([(512, 64), (128, 1), (100, 7)]))
def test_block_size_invariance_property(kind, f, fm, width, blocks):
    ports = _invariance_ports(kind, f, fm, width)
    a = render(kind, 1400, block=blocks[0], **ports)
    b = render(kind, 1400, block=blocks[1], **ports)
    assert np.all(np.isfinite(a))
    assert np.abs(a - b).max() < 2e-5


# ---- phasor -----------------------------------------------------------------------------------
def test_phasor_ramps_from_0_to_1():
    n = np.arange(4800)
    for f in (100.0, -100.0, 1234.5):
        y = render("phasor", 4800, freq=f, amp=1.0)
        assert y.min() >= 0.0 and y.max() < 1.0
        err = (y - n * f / RATE + 0.5) % 1.0 - 0.5  # distance on the circle: 0.99999 ~ 0
        assert np.abs(err).max() < 1e-6, f
    assert np.abs(render("phasor", 4800, freq=200.0, amp=0.5) - 0.5 * ((n * 200 / RATE) % 1.0)).max() < 1e-6


# ---- noise --------------------------------------------------------------------------------------
def test_white_noise_is_uniform_and_flat():
    y = render("noise", 4 * RATE, block=512)
    assert y.min() >= -1.0 and y.max() < 1.0
    assert abs(np.mean(y)) < 0.005
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(1 / np.sqrt(3), rel=0.005)
    assert abs(np.corrcoef(y[:-1], y[1:])[0, 1]) < 0.01
    f, p = ss.welch(y, RATE, nperseg=1024)
    bands = [10 * np.log10(p[(f >= lo) & (f < hi)].mean()) for lo, hi in ((100, 1000), (1000, 5000), (5000, 20000))]
    assert max(bands) - min(bands) < 0.3


def test_pink_noise_falls_3_db_per_octave():
    y = render("noise", 6 * RATE, block=512, args={"color": "pink"})
    assert np.all(np.abs(y) < 1.5)
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.2, rel=0.15)
    f, p = ss.welch(y, RATE, nperseg=8192)
    sel = (f >= 40) & (f <= 16000)
    slope = np.polyfit(np.log2(f[sel]), 10 * np.log10(p[sel]), 1)[0]
    assert slope == pytest.approx(-3.01, abs=0.2)


def test_noise_is_deterministic_and_seeded():
    a = render("noise", 2048, seed=5)
    b = render("noise", 2048, seed=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render("noise", 2048, seed=6))
    assert not np.array_equal(a, render("noise", 2048, seed=5, args={"seed": 1}))
    assert not np.array_equal(a, render("noise", 2048, seed=5, name="y"))
    pa = render("noise", 2048, seed=5, args={"color": "pink"})
    assert np.array_equal(pa, render("noise", 2048, seed=5, args={"color": "pink"}))


def test_noise_seed_is_a_stable_hash():
    # zlib.crc32, not hash(): the same on every run, so recordings can be replayed
    assert oscillators.noise_seed(0, 0, "n") == 10834518423939916008
    assert oscillators.noise_seed(7, 3, "hiss") == 4381010497484132293
    s = {oscillators.noise_seed(a, b, c) for a in (0, 1) for b in (0, 1) for c in ("n", "m")}
    assert len(s) == 8


def test_two_noises_in_one_machine_differ_and_keep_their_stream():
    m = Machine(rate=RATE, block=256)
    m.add("a", "noise")
    m.add("b", "noise")
    m.tick(2)
    a1, b1 = m.output("a"), m.output("b")
    assert not np.array_equal(a1, b1)
    alone = run(build("noise", block=256, name="a"), 512, "a")
    assert np.array_equal(a1, alone[256:])


def test_bad_noise_color_is_rejected():
    m = Machine()
    with pytest.raises(BadArgument) as e:
        m.add("n", "noise", color="blue")
    assert str(e.value) == "noise: color must be one of 'white', 'pink', not 'blue'"
    with pytest.raises(BadArgument) as e:
        m.add("n", "noise", seed=1.5)
    assert str(e.value) == "noise: seed must be an integer, not 1.5"
    assert "n" not in m.neurons


# ---- help text ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sine", "saw", "square", "tri", "phasor", "noise"])
def test_every_type_has_a_one_line_help_with_units(kind):
    doc = dmmlive.TYPES[kind].doc
    first = doc.splitlines()[0]
    assert len(first) < 110
    assert "Example: `" in doc
    assert kind == "noise" or "Hz" in first
