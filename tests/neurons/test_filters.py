"""Filters, delay and reverb against closed forms: responses, echo times, decays."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import BadArgument, Machine
from dmmlive.neurons import filters
from .signals import SIGNALS, TYPES, signal  # noqa: F401  (the shared test source)

RATE = 48000


def build(kind, x, block=128, rate=RATE, args=None, **ports):
    """A machine with `f = kind(x, **ports)`; a port given an array is fed from a source."""
    m = Machine(rate=rate, block=block, types=TYPES)
    m.add("src", "test_signal", signal=signal(x))
    m.add("f", kind, **(args or {}))
    m.connect("f.in", "src")
    for port, v in ports.items():
        if np.ndim(v):
            m.add(f"src_{port}", "test_signal", signal=signal(v))
            m.connect(f"f.{port}", f"src_{port}")
            m.connect(f"f.{port}", "one", 0.0)
        else:
            m.connect(f"f.{port}", "one", float(v))
    return m


def run(m, n, name="f"):
    """The first n samples of `name`'s output."""
    blocks = []
    for _ in range(-(-n // m.block)):
        m.tick()
        blocks.append(m.output(name))
    return np.concatenate(blocks)[:n]


def impulse(n=1):
    x = np.zeros(n)
    x[0] = 1.0
    return x


def svf_response(kind, f, cutoff, q, rate=RATE):
    """The analog state-variable filter through the prewarped bilinear transform."""
    s = 1j * np.tan(np.pi * np.asarray(f) / rate) / np.tan(np.pi * cutoff / rate)
    k = 1.0 / q
    den = s * s + k * s + 1.0
    return {"lowpass": 1.0 / den, "bandpass": k * s / den, "highpass": s * s / den}[kind]


def dtft(h, f, rate=RATE):
    n = np.arange(len(h))
    return np.array([np.sum(h * np.exp(-2j * np.pi * fi / rate * n)) for fi in np.atleast_1d(f)])


# ---- state-variable filters --------------------------------------------------------------

@pytest.mark.parametrize("kind,cutoff,q", [
    ("lowpass", 1000.0, 0.707), ("lowpass", 15000.0, 0.707), ("lowpass", 200.0, 5.0),
    ("highpass", 1000.0, 0.707), ("highpass", 5000.0, 2.0),
    ("bandpass", 2000.0, 5.0), ("bandpass", 300.0, 0.5)])
def test_response_is_the_bilinear_svf(kind, cutoff, q):
    h = run(build(kind, impulse(), cutoff=cutoff, q=q), 16384)
    f = np.fft.rfftfreq(len(h), 1 / RATE)
    keep = f < 0.45 * RATE
    got = np.fft.rfft(h)[keep]
    want = svf_response(kind, f[keep], cutoff, q)
    assert np.all(np.abs(got - want) <= 2e-5 + 2e-4 * np.abs(want))


@pytest.mark.parametrize("cutoff", [50.0, 1000.0, 8000.0, 20000.0])
def test_lowpass_is_3db_down_at_cutoff(cutoff):
    h = run(build("lowpass", impulse(), cutoff=cutoff, q=0.707), 65536 if cutoff < 100 else 8192)
    db = 20 * np.log10(abs(dtft(h, cutoff)[0]))
    assert db == pytest.approx(20 * np.log10(0.707), abs=2e-3)  # -3.01 dB
    assert abs(np.sum(h) - 1.0) < 1e-4  # unity gain at DC


@pytest.mark.parametrize("cutoff,q", [(500.0, 2.0), (3000.0, 10.0)])
def test_bandpass_peaks_at_cutoff_with_unit_gain(cutoff, q):
    h = run(build("bandpass", impulse(), cutoff=cutoff, q=q), 32768)
    f = np.linspace(0.8 * cutoff, 1.2 * cutoff, 401)
    mag = np.abs(dtft(h, f))
    assert f[np.argmax(mag)] == pytest.approx(cutoff, rel=2e-3)
    assert abs(dtft(h, cutoff)[0]) == pytest.approx(1.0, abs=2e-4)
    edges = np.abs(dtft(h, [cutoff / 2, cutoff * 2]))
    assert np.all(edges < 1 / np.sqrt(1 + q * q * 2.25) + 1e-3)  # analog |H| an octave off; warping narrows


def test_highpass_rejects_dc():
    m = build("highpass", np.ones(RATE), cutoff=200.0, q=0.707)
    y = run(m, RATE)
    g = np.tan(np.pi * 200.0 / RATE)
    assert y[0] == pytest.approx(1 / (1 + g / 0.707 + g * g), rel=1e-5)  # a step passes at once...
    assert np.max(np.abs(y[RATE // 4:])) < 1e-6  # ...and its DC is gone


def test_audio_rate_sweep_with_high_q_stays_bounded():
    n = 2 * RATE
    t = np.arange(n) / RATE
    noise = np.random.default_rng(1).uniform(-1, 1, n)
    cutoff = 20.0 * 1000.0 ** ((1 + np.sin(2 * np.pi * 1500.0 * t)) / 2)  # 20 Hz..20 kHz, 1.5 kHz LFO
    for kind in ("lowpass", "bandpass", "highpass"):
        for q in (30.0, 0.01):
            y = run(build(kind, noise, cutoff=cutoff, q=q), n)
            assert np.all(np.isfinite(y))
            assert np.max(np.abs(y)) < 4 * max(q, 1.0), (kind, q)  # measured: 15 at q=30


def test_out_of_range_cutoff_and_q_are_clamped():
    x = np.random.default_rng(2).uniform(-1, 1, 4096)
    top = run(build("lowpass", x, cutoff=0.5 * RATE, q=0.01), 4096)
    near = run(build("lowpass", x, cutoff=0.49 * RATE, q=0.01), 4096)
    assert np.allclose(near, top, rtol=1e-5, atol=1e-5)
    assert np.array_equal(run(build("lowpass", x, cutoff=1e6, q=-3.0), 4096), top)
    assert np.array_equal(run(build("lowpass", x, cutoff=30000.0, q=0.0), 4096), top)
    low = run(build("lowpass", x, cutoff=-500.0, q=1e9), 4096)
    assert np.all(np.isfinite(low)) and np.max(np.abs(low)) < 1e-3


def test_a_group_computes_each_filter_as_if_alone():
    # 37 filters: two full SIMD tiles and a remainder; each must match its solo run.
    x = np.random.default_rng(3).uniform(-1, 1, 512)
    t = np.arange(512) / RATE
    cutoffs = [100.0 * 1.15 ** k for k in range(37)]
    m = Machine(rate=RATE, block=512, types=TYPES)
    m.add("src", "test_signal", signal=signal(x))
    mod = 300 * np.sin(2 * np.pi * 200 * t)
    m.add("mod", "test_signal", signal=signal(mod))
    for k, c in enumerate(cutoffs):
        m.add(f"f{k}", "bandpass")
        m.connect(f"f{k}.in", "src")
        m.connect(f"f{k}.cutoff", "one", c)
        if k % 3 == 0:
            m.connect(f"f{k}.cutoff", "mod")
    m.tick()
    for k in (0, 1, 16, 31, 32, 36):
        alone = build("bandpass", x, block=512, cutoff=cutoffs[k] + (mod if k % 3 == 0 else 0.0))
        assert np.allclose(m.output(f"f{k}"), run(alone, 512), rtol=1e-5, atol=1e-6), k


def blocks_agree(kind, x, args=None, **ports):
    n = len(x)
    big = run(build(kind, x, block=512, args=args, **ports), n)
    small = run(build(kind, x, block=64, args=args, **ports), n)
    return np.array_equal(big, small)


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["lowpass", "highpass", "bandpass"]), base=st.floats(30, 15000),
       q=st.floats(0.3, 40), a=st.integers(0, 2047), b=st.integers(0, 2047), seed=st.integers(0, 99))
def test_one_512_block_equals_eight_64_blocks_for_filters(kind, base, q, a, b, seed):
    # held stretches and sweeps that start and stop inside blocks, so a 64-sample block
    # may hold still (the cheaper loops) where its 512-sample block does not
    x = np.random.default_rng(seed).uniform(-1, 1, 2048)
    n = np.arange(2048)
    a, b = min(a, b), max(a, b)
    sweep = base * (1 + 0.9 * np.sin(2 * np.pi * 90 * n / RATE))
    cutoff = np.where(n < a, base, np.where(n < b, sweep, 2 * base))
    qs = np.where(n < b, q, 1.5 * q)
    assert blocks_agree(kind, x, cutoff=cutoff, q=qs)
    assert blocks_agree(kind, x, cutoff=base, q=q)


def test_every_path_of_the_kernel_computes_the_same_samples():
    # rows of a group (SIMD tiles, padded tiles, the one-by-one remainder; varying or held
    # cutoff and q) equal each row run alone, bit for bit
    rng = np.random.default_rng(6)
    for n, B in ((16, 128), (20, 128), (21, 128), (37, 128), (33, 100)):
        x = rng.uniform(-1, 1, (n, B)).astype(np.float32)
        fc = rng.uniform(20, 20000, (n, B)).astype(np.float32)
        q = rng.uniform(0.3, 20, (n, B)).astype(np.float32)
        held_q = np.repeat(q[:, :1], B, axis=1)
        held_fc = np.repeat(fc[:, :1], B, axis=1)
        for f, qq in ((fc, q), (fc, held_q), (held_fc, held_q)):
            out = np.empty_like(x)
            filters.svf_kernel(x, f, qq, np.zeros(n), np.zeros(n), 1.0, -1.0, -1.0, np.pi / RATE, 1.5, out)
            for j in range(n):
                solo = np.empty((1, B), np.float32)
                filters.svf_kernel(x[j:j + 1], f[j:j + 1], qq[j:j + 1], np.zeros(1), np.zeros(1),
                                   1.0, -1.0, -1.0, np.pi / RATE, 1.5, solo)
                assert np.array_equal(solo[0], out[j]), (n, j)


# ---- delay ---------------------------------------------------------------------------------

@pytest.mark.parametrize("time", [0.0, 0.001, 0.01, 0.25, 0.3, 1.7])
def test_an_impulse_comes_out_exactly_round_time_rate_later(time):
    d = round(time * RATE)
    y = run(build("delay", impulse(), time=time), d + 300)
    want = np.zeros_like(y)
    want[d] = 1.0
    assert np.array_equal(y, want)


def test_fractional_delays_interpolate():
    ramp = np.arange(4096) / 4096.0
    for d in (37.25, 100.5, 0.5, 1.75):
        y = run(build("delay", ramp, time=d / RATE), 4096)
        n = np.arange(4096)
        ok = n >= d + 2
        assert np.allclose(y[ok], (n[ok] - d) / 4096.0, atol=2e-6), d  # cubic keeps lines straight
    y = run(build("delay", impulse(), time=100.5 / RATE), 200)
    assert np.allclose(y[99:103], [-1 / 16, 9 / 16, 9 / 16, -1 / 16], atol=1e-4)  # Catmull-Rom at 1/2
    assert np.all(y[:99] == 0) and np.all(y[103:] == 0)


def test_a_swept_delay_follows_its_time_per_sample():
    n = 8192
    t = np.arange(n) / RATE
    x = np.sin(2 * np.pi * 300 * t)
    time = 0.005 + 0.003 * np.sin(2 * np.pi * 2 * t)
    y = run(build("delay", x, time=time), n)
    want = np.sin(2 * np.pi * 300 * (t - time.astype(np.float32)))
    assert np.allclose(y[600:], want[600:], atol=2e-5)


def test_time_is_clamped_to_max():
    y = run(build("delay", impulse(), args={"max": 0.01}, time=0.5), 1000)
    assert np.flatnonzero(y).tolist() == [480]
    y = run(build("delay", impulse(), time=-1.0), 10)
    assert y[0] == 1.0


def test_feedback_through_w_repeats_every_time_plus_a_block():
    for block in (128, 64):
        m = build("delay", impulse(), block=block, time=0.01)
        m.connect("f.in", "f", 0.45)
        y = run(m, 480 + 7 * (480 + block) + 1)
        at = [480 + k * (480 + block) for k in range(8)]
        assert np.flatnonzero(y).tolist() == at
        assert np.allclose(y[at], 0.45 ** np.arange(8), rtol=1e-6)


@pytest.mark.parametrize("bad", [0, -1.0, 61.0, "long", float("nan"), True])
def test_bad_max_is_rejected(bad):
    m = Machine(rate=RATE)
    with pytest.raises(BadArgument) as e:
        m.add("d", "delay", max=bad)
    assert str(e.value) == f"delay: max must be a number of seconds in (0, 60], got {bad!r}"


def test_feedback_inside_the_line_echoes_at_exact_multiples_of_the_time():
    # a dotted eighth at 120 bpm: echoes at k * 0.375 s to the sample, each half the last
    # (a feedback cycle through W would add a block per round trip: 0.3750, 0.7527 s...)
    d = int(0.375 * RATE)
    y = run(build("delay", impulse(), time=0.375, feedback=0.5), 5 * d + 10)
    hits = np.flatnonzero(y)
    assert list(hits) == [d, 2 * d, 3 * d, 4 * d, 5 * d]
    np.testing.assert_array_equal(y[hits], np.float32([1.0, 0.5, 0.25, 0.125, 0.0625]))


def test_feedback_follows_its_input_per_sample():
    # no feedback until 1 s, then 0.5: the echo of an impulse at 0 comes once, the echo
    # of one at 1 s repeats
    n = 3 * RATE
    x = np.zeros(n)
    x[0] = x[RATE] = 1.0
    fb = np.where(np.arange(n) >= RATE, 0.5, 0.0)
    y = run(build("delay", x, time=0.25, feedback=fb), n)
    q = RATE // 4
    assert list(np.flatnonzero(y)) == [q, RATE + q, RATE + 2 * q, RATE + 3 * q, RATE + 4 * q,
                                       RATE + 5 * q, RATE + 6 * q, RATE + 7 * q]


def test_delay_blocks_agree():
    n = 4096
    t = np.arange(n) / RATE
    x = np.random.default_rng(4).uniform(-1, 1, n)
    assert blocks_agree("delay", x, time=0.002 + 0.0015 * np.sin(2 * np.pi * 40 * t))
    assert blocks_agree("delay", x, args={"max": 0.05}, time=0.0201)


# ---- reverb --------------------------------------------------------------------------------

def energy(y, a, b):
    return float(np.sum(y[int(a * RATE):int(b * RATE)].astype(np.float64) ** 2))


def burst(seconds=0.1, total=3.0, seed=5):
    x = np.zeros(int(total * RATE))
    x[:int(seconds * RATE)] = np.random.default_rng(seed).uniform(-1, 1, int(seconds * RATE))
    return x


@pytest.mark.parametrize("rate", [44100, 48000])
def test_reverb_is_silent_until_its_shortest_comb(rate):
    first = round(1116 * rate / 44100)
    y = run(build("reverb", impulse(), rate=rate), first + 10)
    assert np.all(y[:first] == 0)
    assert y[first] == pytest.approx(0.015)  # input gain through four allpass sign flips


def test_reverb_tail_decays_after_the_input_stops():
    y = run(build("reverb", burst(), size=0.8, damp=0.5), 3 * RATE)
    assert np.all(np.isfinite(y))
    early, late = energy(y, 0.1, 0.3), energy(y, 2.8, 3.0)
    assert early > 1.0
    assert late < early * 1e-4


def test_a_larger_room_rings_longer():
    x = burst(total=1.5)
    late = [energy(run(build("reverb", x, size=s, damp=0.5), 3 * RATE // 2), 1.0, 1.5) for s in (0.2, 0.6, 1.0)]
    assert late[0] < late[1] * 1e-2 < late[2] * 1e-4


def centroid(y):
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / RATE)
    return np.sum(f * spec) / np.sum(spec)


def test_damp_darkens_the_tail():
    x = burst(total=1.0)
    tails = {d: run(build("reverb", x, size=0.8, damp=d), RATE)[RATE // 2:] for d in (0.0, 0.5, 1.0)}
    c = {d: centroid(y) for d, y in tails.items()}
    assert c[1.0] < 0.7 * c[0.5] < 0.7 * 0.7 * c[0.0]


def test_reverb_blocks_agree():
    x = burst(total=0.25)
    t = np.arange(len(x)) / RATE
    assert blocks_agree("reverb", x, size=0.5 + 0.5 * np.sin(2 * np.pi * 3 * t), damp=0.3)


def test_docs_give_units():
    for name in ("lowpass", "highpass", "bandpass", "delay", "reverb"):
        t = dmmlive.TYPES[name]
        assert t.batched and t.outputs == {"out": "audio"}
        assert next(iter(t.inputs)) == "in"
    assert "Hz" in dmmlive.TYPES["lowpass"].doc.splitlines()[0]
    assert "seconds" in dmmlive.TYPES["delay"].doc.splitlines()[0]
    assert filters.NYQUIST_FRACTION == 0.49
