"""Envelopes, clock and sequencer: timings in samples against closed forms."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import BadArgument, Machine
from .signals import SIGNALS, TYPES, signal  # noqa: F401  (the shared test source)

RATE = 48000


def build(kind, block=128, rate=RATE, args=None, **ports):
    """A machine with `e = kind(**ports)`; a port given an array is fed from a source."""
    m = Machine(rate=rate, block=block, types=TYPES)
    m.add("e", kind, **(args or {}))
    for port, v in ports.items():
        if np.ndim(v):
            m.add(f"src_{port}", "test_signal", signal=signal(v))
            m.connect(f"e.{port}", f"src_{port}")
            m.connect(f"e.{port}", "one", 0.0)
        else:
            m.connect(f"e.{port}", "one", float(v))
    return m


def run(m, n, name="e"):
    blocks = []
    for _ in range(-(-n // m.block)):
        m.tick()
        blocks.append(m.output(name))
    return np.concatenate(blocks)[:n]


def gate(n, *spans):
    g = np.zeros(n)
    for a, b in spans:
        g[a:b] = 1.0
    return g


# ---- adsr ------------------------------------------------------------------------------------

def test_adsr_segments_in_samples():
    A, D, S, R = 480, 960, 0.6, 2400  # 10 ms, 20 ms, 0.6, 50 ms
    on, off, n = 100, 10000, 16000
    y = run(build("adsr", gate=gate(n, (on, off)), attack=A / RATE, decay=D / RATE, sustain=S,
                  release=R / RATE), n)
    k = np.arange(n)
    assert np.all(y[:on + 1] == 0)
    assert np.allclose(y[on:on + A + 1], (k[on:on + A + 1] - on) / A, atol=1e-6)  # reaches 1 at A
    assert y[on + A] == 1.0
    assert np.allclose(y[on + A:on + A + D + 1], 1 - (1 - S) * (k[on + A:on + A + D + 1] - on - A) / D, atol=1e-6)
    assert np.all(y[on + A + D:off + 1] == np.float32(S))  # sustain level
    assert np.allclose(y[off:off + R + 1], S * (1 - (k[off:off + R + 1] - off) / R), atol=1e-6)
    assert np.all(y[off + R:] == 0)  # release reaches 0


def test_adsr_retriggers_from_the_current_level_without_a_jump():
    A, R = 1000, 4000
    n = 12000
    y = run(build("adsr", gate=gate(n, (0, 3000), (4000, 9000)), attack=A / RATE, decay=0.01,
                  sustain=0.8, release=R / RATE), n)
    level = y[4000]
    assert 0.5 < level < 0.8  # mid-release: 0.8 * (1 - 1000/4000)
    assert level == pytest.approx(0.8 * (1 - 1000 / R), abs=1e-6)
    assert np.max(np.abs(np.diff(y))) <= 1 / A + 1e-6  # no sample jumps more than the attack slope
    peak = 4000 + int(np.ceil((1 - level) * A - 1e-6))
    assert y[peak] == 1.0 and y[peak - 1] < 1.0


def test_adsr_gate_closed_during_attack_releases_from_there():
    A, R = 1000, 2000
    y = run(build("adsr", gate=gate(6000, (0, 500)), attack=A / RATE, release=R / RATE), 6000)
    assert y[500] == pytest.approx(0.5, abs=1e-6)
    assert y[501] < y[500]
    assert y[500 + R] == 0 and np.all(y[500 + R:] == 0)
    assert np.all(np.diff(y[500:500 + R]) < 0)


def test_adsr_with_zero_times_jumps_in_one_sample():
    y = run(build("adsr", gate=gate(100, (10, 50)), attack=0.0, decay=0.0, sustain=0.5, release=0.0), 100)
    assert y[10] == 0 and y[11] == 1.0 and y[12] == 0.5 and y[50] == 0.5 and y[51] == 0


# ---- ar --------------------------------------------------------------------------------------

def test_ar_starts_on_a_rising_edge_through_zero():
    A, R = 240, 960
    n = 6000
    trig = np.zeros(n)
    trig[100] = 1.0       # an edge
    trig[2000:2600] = 1.0  # an edge, then held: one start only
    trig[3500:3600] = -1.0
    trig[3600] = 0.5      # from negative through zero: an edge
    y = run(build("ar", trig=trig, attack=A / RATE, release=R / RATE), n)
    k = np.arange(n)
    assert np.all(y[:101] == 0)
    assert np.allclose(y[100:100 + A + 1], (k[100:100 + A + 1] - 100) / A, atol=1e-6)
    assert y[100 + A] == 1.0
    assert np.allclose(y[100 + A:100 + A + R + 1], 1 - (k[100 + A:100 + A + R + 1] - 100 - A) / R, atol=1e-6)
    assert np.all(y[100 + A + R:2001] == 0)
    assert y[2000 + A] == 1.0 and np.all(y[2000 + A + R:3601] == 0)
    assert y[3600 + A] == 1.0 and y[3600 + A - 1] < 1.0


def test_ar_retrigger_continues_from_the_current_level():
    A, R = 1000, 1000
    trig = np.zeros(4000)
    trig[0] = 1.0
    trig[1500] = 1.0  # mid-release, level 0.5
    y = run(build("ar", trig=trig, attack=A / RATE, release=R / RATE), 4000)
    assert y[1500] == pytest.approx(0.5, abs=1e-6)
    assert y[1500 + 500] == 1.0 and y[1500 + 499] < 1.0
    assert np.max(np.abs(np.diff(y))) <= 1 / A + 1e-6


# ---- clock -----------------------------------------------------------------------------------

def test_clock_is_sample_exact_over_many_beats():
    m = build("clock", block=512, bpm=137, div=4)
    y = run(m, 3_000_000)  # 62 s, 570 pulses
    pulses = np.flatnonzero(y)
    assert set(np.unique(y)) == {0.0, 1.0}
    # pulse k at ceil(k * 60*rate / (bpm*div)) = ceil(k * 720000 / 137), in integers
    want = [-(-k * 60 * RATE // (137 * 4)) for k in range(len(pulses))]
    assert pulses.tolist() == want
    assert len(pulses) == 1 + (3_000_000 - 1) * 137 * 4 // (60 * RATE)


def test_clock_follows_its_tempo_per_sample():
    n = 96000
    bpm = np.where(np.arange(n) < 30000, 120.0, 240.0)
    pulses = np.flatnonzero(run(build("clock", bpm=bpm, div=1), n))
    assert pulses[:2].tolist() == [0, 24000]
    # a quarter beat done by 30000; the other three quarters at 240 bpm take 9000 samples
    assert pulses[2:5].tolist() == [39000, 51000, 63000]


def test_clock_stopped_by_zero_div_and_capped_at_one_pulse_a_sample():
    assert np.flatnonzero(run(build("clock", div=0.0), 50000)).tolist() == []
    assert np.flatnonzero(run(build("clock", bpm=120, div=np.where(np.arange(50000) < 10, 1.0, 0.0)),
                              50000)).tolist() == [0]
    assert np.all(run(build("clock", bpm=60 * RATE * 3.0), 300) == 1.0)


def clicks(m, name, n0, n):
    """The sample numbers (from the machine's start) of the pulses of `name` over the
    blocks n0 .. n-1."""
    out = []
    for t in range(n0, n):
        m.tick()
        out += (np.flatnonzero(m.output(name)) + t * m.block).tolist()
    return out


def test_clocks_follow_the_beat_grid_and_clocks_added_apart_coincide():
    """Two clocks added 1.3 s apart pulse on the same samples, the grid's: pulse k of a
    clock with div d on the first sample at or after beat k/d, ceil(k*60*rate/(tempo*d))."""
    m = Machine(rate=RATE, block=128)
    m.tempo = 137
    m.add("a", "clock")
    m.connect("a.div", "one", 4.0)
    m.connect("out.left", "a", 0.0001)
    first = clicks(m, "a", 0, 487)          # 1.3 s = 487.5 blocks
    m.add("b", "clock")
    m.connect("b.div", "one", 4.0)
    m.connect("out.left", "b", 0.0001)
    m.tick()                                 # b is wired in and fires from the next block
    a_rest, b = [], []
    for t in range(488, 488 + 2000):
        m.tick()
        a_rest += (np.flatnonzero(m.output("a")) + t * 128).tolist()
        b += (np.flatnonzero(m.output("b")) + t * 128).tolist()
    assert b == a_rest and len(b) == 49
    pulses = first + a_rest
    want = [-(-k * 60 * RATE // (137 * 4)) for k in range(2000)]
    assert pulses == [x for x in want if x < 488 * 128 + 2000 * 128 and (x < 487 * 128 or x >= 488 * 128)]


def test_a_tempo_change_keeps_the_beat_and_moves_every_grid_clock():
    m = Machine(rate=RATE, block=128)
    m.add("c", "clock")
    m.connect("out.left", "c", 0.0001)
    before = clicks(m, "c", 0, 300)        # 120 bpm: a beat every 24000 samples
    assert before == [0, 24000]
    m.tempo = 90                            # from sample 300*128 = 38400, at beat 1.6
    after = clicks(m, "c", 300, 1200)
    # beat 2 comes 0.4 beat later at 90 bpm: 0.4 * 32000 = 12800 samples; then every 32000
    assert after == [38400 + 12800 + 32000 * k for k in range(4)]
    assert m.beat == pytest.approx(1.6 + (1200 - 300) * 128 / 32000)


def test_an_override_tempo_starts_on_the_grid_then_runs_at_its_own():
    m = Machine(rate=RATE, block=128)
    m.tick(100)                            # at sample 12800: beat 0.533
    m.add("c", "clock")
    m.connect("c.bpm", "one", 100.0)
    m.connect("out.left", "c", 0.0001)
    m.tick()
    got = clicks(m, "c", 101, 1000)
    # waits for the grid's next beat (sample 24000), then a beat every 28800 samples
    assert got == [24000 + 28800 * k for k in range(4)]


# ---- seq -------------------------------------------------------------------------------------

def test_seq_steps_and_wraps_on_rising_edges():
    trig = np.zeros(1000)
    edges = [100, 300, 301, 500, 700, 900]
    trig[edges] = 1.0
    trig[300:302] = 1.0  # held across 300..301: one edge
    m = build("seq", args={"values": [5, -2.5, 7]}, trig=trig)
    y = run(m, 1000)
    assert np.all(y[:100] == 5)       # before the first edge: values[0]
    assert np.all(y[100:300] == 5)    # edge 0 -> values[0]
    assert np.all(y[300:500] == -2.5)  # edge 1
    assert np.all(y[500:700] == 7)    # edge 2
    assert np.all(y[700:900] == 5)    # edge 3 wraps
    assert np.all(y[900:] == -2.5)


def test_clock_drives_seq_on_the_beat():
    m = Machine(rate=RATE, block=128)
    m.add("c", "clock")
    m.connect("c.bpm", "one", 600.0)  # a beat every 4800 samples
    m.add("e", "seq", values=[1.0, 2.0, 3.0])
    m.connect("e.trig", "c")
    y = run(m, 4800 * 4)
    assert y[0] == 1 and y[4799] == 1 and y[4800] == 2 and y[9600] == 3 and y[14400] == 1


@pytest.mark.parametrize("bad", [[], "1 2 3", [1, "a"], [float("inf")], [True, 2.0], 3.0, None])
def test_seq_rejects_bad_values(bad):
    m = Machine(rate=RATE)
    with pytest.raises(BadArgument) as e:
        m.add("s", "seq", values=bad)
    assert str(e.value) == f"seq: values must be a non-empty list of numbers, got {bad!r}"


# ---- block size ------------------------------------------------------------------------------

def agree(kind, n, args=None, **ports):
    big = run(build(kind, block=512, args=args, **ports), n)
    small = run(build(kind, block=64, args=args, **ports), n)
    return np.array_equal(big, small)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), a=st.floats(0, 0.02), r=st.floats(0, 0.05))
def test_one_512_block_equals_eight_64_blocks_for_envelopes(seed, a, r):
    n = 8192
    rng = np.random.default_rng(seed)
    g = (np.cumsum(rng.uniform(-1, 1, n)) > 0).astype(float)
    trig = (rng.uniform(0, 1, n) > 0.999).astype(float)
    assert agree("adsr", n, gate=g, attack=a, decay=0.01, sustain=rng.uniform(0, 1), release=r)
    assert agree("ar", n, trig=trig, attack=a, release=r)
    assert agree("clock", n, bpm=rng.uniform(60, 20000), div=rng.integers(1, 8))
    assert agree("seq", n, args={"values": [1, 2, 3, 4, 5]}, trig=trig)


def test_docs_give_units():
    for name in ("adsr", "ar", "clock", "seq"):
        t = dmmlive.TYPES[name]
        assert t.batched and t.outputs == {"out": "audio"}
    assert "seconds" in dmmlive.TYPES["adsr"].doc.splitlines()[0]
    assert "beats per minute" in dmmlive.TYPES["clock"].doc.splitlines()[0]
