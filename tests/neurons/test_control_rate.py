"""Control-rate oscillators: a number a tick, the wave at the time of the tick's first
sample (closed forms), and the kind-mismatch message that points at them."""
import numpy as np
import pytest

from dmmlive import Machine
from dmmlive.patch.errors import PatchError
from dmmlive.patch.parse import parse

RATE, B = 48000, 128


def values(kind, ticks, **ports):
    m = Machine(rate=RATE, block=B)
    m.add("k", kind)
    for port, v in ports.items():
        m.connect(f"k.{port}", "one", float(v))
    m.connect("out.left", "k", 1e-3)  # something reads it: it runs
    out = []
    for _ in range(ticks):
        m.tick()
        out.append(m.output("k"))
    return np.array(out)


def phases(freq, ticks):
    """The phase at each tick: freq * B / RATE a tick, kept in [0, 1) as it goes (as the
    oscillators keep it: a wrap lands where the float sum lands, not at t * f exactly)."""
    out, p = [], 0.0
    for _ in range(ticks):
        p -= np.floor(p)
        out.append(p)
        p += freq * (B / RATE)
    return np.array(out)


@pytest.mark.parametrize("freq", [0.5, 3.0, 40.0])
def test_the_shapes_at_each_ticks_first_sample(freq):
    n = 400
    p = phases(freq, n)
    np.testing.assert_allclose(values("sine_kr", n, freq=freq, amp=2.0, offset=5.0),
                               5.0 + 2.0 * np.sin(2 * np.pi * p), atol=1e-9)
    np.testing.assert_allclose(values("saw_kr", n, freq=freq), 2 * p - 1, atol=1e-9)
    tri = np.where(p < 0.25, 4 * p, np.where(p < 0.75, 2 - 4 * p, 4 * p - 4))
    np.testing.assert_allclose(values("tri_kr", n, freq=freq), tri, atol=1e-9)
    sq = values("square_kr", n, freq=freq, width=0.25)
    ok = np.abs(p - 0.25) > 1e-9  # (a phase at the edge itself may round either way)
    np.testing.assert_array_equal(sq[ok], np.where(p < 0.25, 1.0, -1.0)[ok])


def test_noise_kr_is_a_new_number_each_tick_and_seeded():
    a = values("noise_kr", 2000, amp=0.5, offset=1.0)
    assert ((a >= 0.5) & (a < 1.5)).all()
    assert len(np.unique(a)) == 2000
    assert abs(a.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(a, values("noise_kr", 2000, amp=0.5, offset=1.0))  # deterministic


def test_a_control_rate_oscillator_drives_a_shader_number_input():
    p = parse("glow = plasma()\nk = kaleid(glow, sides=5 + 2*sine_kr(freq=0.2))\nscreen = k\n")
    assert p.neurons["k/sine_kr#1"].type == "sine_kr"


def test_an_audio_oscillator_on_a_number_input_names_the_converters():
    with pytest.raises(PatchError) as e:
        parse("lfo = sine(freq=0.2)\nglow = plasma()\nk = kaleid(glow, sides=5 + 2*lfo)\nscreen = k\n",
              "p.dmm")
    msg = str(e.value)
    assert msg.startswith("p.dmm:3:30: kind mismatch: k.sides is number but lfo.out is audio")
    for name in ("rms(", "peak(", "sine_kr", "noise_kr"):
        assert name in msg
