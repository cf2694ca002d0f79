"""mul, tanh, clip and pan against their closed forms."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import Machine
from .signals import TYPES, wire  # the shared test source (and its table) and its wiring

RATE = 48000


def build(kind, block=128, **ports):
    """A machine with `x = kind(**ports)`: a number port is a weight from `one`, an array
    is played by a source neuron (and replaces the port's default)."""
    m = Machine(rate=RATE, block=block, types=TYPES)
    m.add("x", kind)
    wire(m, "x", ports)
    return m


def run(m, n, port=None):
    blocks = []
    for _ in range(-(-n // m.block)):
        m.tick()
        blocks.append(m.output("x", port))
    return np.concatenate(blocks)[:n]


def ramp(n=4096, lo=-3.0, hi=3.0):
    return np.linspace(lo, hi, n).astype(np.float32)


def sine(f, n=4096, amp=1.0):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / RATE)).astype(np.float32)


# ---- mul ----------------------------------------------------------------------------------------
def test_mul_is_the_product():
    a, b = sine(440, amp=0.9), sine(3, amp=1.0)
    y = run(build("mul", a=a, b=b), 4096)
    assert np.array_equal(y, a * b)


def test_mul_is_a_vca_and_b_defaults_to_1():
    a = sine(440)
    assert np.array_equal(run(build("mul", a=a), 4096), a)  # b = 1
    env = np.linspace(0, 1, 4096).astype(np.float32)
    assert np.array_equal(run(build("mul", a=a, b=env), 4096), a * env)
    m = Machine(rate=RATE)
    m.add("x", "mul")
    m.tick()
    assert np.all(m.output("x") == 0.0)  # a defaults to silence


def test_mul_of_two_sines_is_ring_modulation():
    n = 4800
    t = np.arange(n) / RATE
    m = Machine(rate=RATE, block=128)
    m.add("c", "sine")
    m.connect("c.freq", "one", 1000.0)
    m.add("mod", "sine")
    m.connect("mod.freq", "one", 300.0)
    m.add("x", "mul")
    m.connect("x.a", "c")
    m.connect("x.b", "mod")
    m.connect("x.b", "one", 0.0)
    y = run(m, n)
    ref = 0.5 * (np.cos(2 * np.pi * 700 * t) - np.cos(2 * np.pi * 1300 * t))
    assert np.abs(y - ref).max() < 1e-6


# ---- tanh ---------------------------------------------------------------------------------------
def test_tanh_is_tanh_of_drive_times_in():
    x = ramp(8192, -12, 12)
    assert np.abs(run(build("tanh", **{"in": x}), 8192) - np.tanh(x.astype(np.float64))).max() < 1e-6
    drive = np.linspace(0.1, 8, 8192).astype(np.float32)
    x = sine(200, 8192)
    y = run(build("tanh", **{"in": x, "drive": drive}), 8192)
    assert np.abs(y - np.tanh(drive.astype(np.float64) * x)).max() < 1e-6


def test_tanh_is_odd_bounded_and_linear_near_zero():
    x = ramp(4096, -1e4, 1e4)
    y = run(build("tanh", **{"in": x, "drive": 3.0}), 4096)
    assert np.abs(y).max() <= 1.0
    assert np.array_equal(y, -y[::-1])
    xs = ramp(256, -1e-4, 1e-4)
    small = run(build("tanh", **{"in": xs}), 256)
    assert np.all(np.abs(small - xs) <= 2e-7 * np.abs(xs))  # tanh x = x - x^3/3: 2 ulp at 1e-4


# ---- clip ---------------------------------------------------------------------------------------
def test_clip_is_min_max():
    x = ramp()
    assert np.array_equal(run(build("clip", **{"in": x}), 4096), np.clip(x, -1, 1))
    lo = np.linspace(-2, 0, 4096).astype(np.float32)
    y = run(build("clip", **{"in": x, "lo": lo, "hi": 0.5}), 4096)
    assert np.array_equal(y, np.minimum(np.maximum(x, lo), np.float32(0.5)))


def test_clip_hi_wins_when_lo_is_above_it():
    y = run(build("clip", **{"in": ramp(), "lo": 0.8, "hi": 0.2}), 4096)
    assert np.all(y == np.float32(0.2))


# ---- pan ----------------------------------------------------------------------------------------
def test_pan_is_equal_power():
    x = sine(330, 4096, amp=0.8)
    pos = np.linspace(-1, 1, 4096).astype(np.float32)
    m = build("pan", **{"in": x, "pos": pos})
    left, right = [], []
    for _ in range(4096 // 128):
        m.tick()
        left.append(m.output("x", "left"))
        right.append(m.output("x", "right"))
    left, right = np.concatenate(left), np.concatenate(right)
    theta = (pos.astype(np.float64) + 1) * np.pi / 4
    assert np.abs(left - x * np.cos(theta)).max() < 1e-6
    assert np.abs(right - x * np.sin(theta)).max() < 1e-6
    assert np.abs(left ** 2 + right ** 2 - x.astype(np.float64) ** 2).max() < 1e-6


@pytest.mark.parametrize("pos,gl,gr", [(0.0, 2 ** -0.5, 2 ** -0.5), (-1.0, 1.0, 0.0), (1.0, 0.0, 1.0),
                                       (-5.0, 1.0, 0.0), (5.0, 0.0, 1.0), (0.5, np.cos(3 * np.pi / 8), np.sin(3 * np.pi / 8))])
def test_pan_positions(pos, gl, gr):
    x = sine(100, 1024)
    m = build("pan", **{"in": x, "pos": pos})
    left, right = [], []
    for _ in range(8):
        m.tick()
        left.append(m.output("x", "left"))
        right.append(m.output("x", "right"))
    assert np.abs(np.concatenate(left) - gl * x).max() < 3e-7
    assert np.abs(np.concatenate(right) - gr * x).max() < 3e-7


def test_pan_feeds_both_speakers():
    m = Machine(rate=RATE, block=128, limiter=False)
    m.add("s", "sine")
    m.connect("s.freq", "one", 440.0)
    m.connect("s.amp", "one", 0.5)
    m.add("p", "pan")
    m.connect("p.in", "s")
    m.connect("p.pos", "one", 0.0)
    m.connect("out.left", "p.left")
    m.connect("out.right", "p.right")
    m.tick(3)
    sound = m.sound()
    assert np.abs(sound[:, 0] - sound[:, 1]).max() == 0.0
    assert np.abs(sound[:, 0] - m.output("s") * 2 ** -0.5).max() < 1e-6


# ---- stateless: any block size --------------------------------------------------------------------
@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["mul", "tanh", "clip", "pan"]), block=st.sampled_from([1, 7, 64, 512]))
def test_shaping_ignores_the_block_size(kind, block):
    x, y = sine(440, 1024, amp=2.0), sine(7, 1024)
    ports = {"mul": {"a": x, "b": y}, "tanh": {"in": x, "drive": 2 + y}, "clip": {"in": x, "lo": y - 1},
             "pan": {"in": x, "pos": y}}[kind]
    port = "right" if kind == "pan" else None
    a = run(build(kind, block=block, **ports), 1024, port)
    b = run(build(kind, block=512, **ports), 1024, port)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["mul", "tanh", "clip", "pan"])
def test_every_type_has_a_one_line_help(kind):
    doc = dmmlive.TYPES[kind].doc
    assert len(doc.splitlines()[0]) < 110
    assert "Example: `" in doc
