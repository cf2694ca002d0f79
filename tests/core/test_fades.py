"""Click-free edits: weights glide per sample, replaced neurons crossfade, kept ones keep state."""
import numpy as np
import pytest

from dmmlive import Machine, vv
from dmmlive.core.registry import STANDARD

TYPES = STANDARD.copy()  # the standard types and this module's test types (every machine here uses it)


@TYPES.neuron_type("test_ramp", kind="audio", inputs={"slope": 1.0}, batched=True, state={"x": 0.0})
def _ramp(state, rate, slope):
    """Test type: a ramp that counts samples (times slope): its state shows continuity."""
    out = state.x[:, None] + np.cumsum(slope, axis=1, dtype=np.float64)
    state.x[:] = out[:, -1]
    return out.astype(np.float32)


@TYPES.neuron_type("test_dc", kind="audio", inputs={"level": 1.0}, batched=True)
def _dc(state, rate, level):
    """Test type: outputs its level."""
    return level.copy()


def smooth(r):
    r = np.clip(r, 0.0, 1.0)
    return r * r * (3 - 2 * r)


def left_input(m):
    return m.input("out", "left").astype(np.float64)


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
def test_a_weight_change_glides_per_sample(schedule):
    m = Machine(schedule=schedule, block=64, types=TYPES)
    m.add("d", "test_dc")
    m.connect("out.left", "d", 0.2)
    m.tick(3)
    fade = 200 / 48000  # 200 samples
    m.edit({"out": {"left": {"d": {"out": 0.6}}}}, fade=fade)  # 0.2 -> 0.8
    seen = []
    for _ in range(8):
        m.tick()
        seen.append(left_input(m))
    x = np.concatenate(seen)
    start = int(np.argmax(x > 0.2 + 1e-6))  # first sample of the glide
    assert start % 64 == 0 and start // 64 == (1 if schedule == "ordered" else 2)
    j = np.arange(1, len(x) - start + 1)
    np.testing.assert_allclose(x[start:], 0.2 + 0.6 * smooth(j / 200), atol=1e-6)
    assert np.all(x[:start] == np.float32(0.2))
    assert vv.path(m.matrix, "out", "left", "d", "out") == pytest.approx(0.8)


def test_a_number_to_audio_weight_glides_too():
    m = Machine(block=32, types=TYPES)
    m.add("d", "test_dc")
    m.connect("out.left", "d")
    m.tick()
    m.edit({"d": {"level": {"one": {"out": -1.0}}}}, fade=64 / 48000)  # level 1 -> 0
    xs = []
    for _ in range(4):
        m.tick()
        xs.append(left_input(m))
    # ordered: the edit is in W at the end of the first tick, so the glide runs over the
    # next 64 samples; d passes its input on in the same tick
    x = np.concatenate(xs)
    np.testing.assert_allclose(x[:32], 1.0)
    np.testing.assert_allclose(x[32:96], 1 - smooth(np.arange(1, 65) / 64), atol=1e-6)
    np.testing.assert_allclose(x[96:], 0.0, atol=1e-7)


def test_removed_neuron_fades_out_then_retires():
    m = Machine(block=64, types=TYPES)
    m.add("d", "test_dc")
    m.connect("out.left", "d", 0.5)
    m.tick(2)
    m.edit({"out": {"left": {"d": {"out": -0.5}}}, "d": {"level": {"one": {"out": -1.0}}}}, fade=128 / 48000)
    m.tick()
    assert "d" in m.neurons
    m.tick(2)  # the glide is over after 128 samples
    m.tick()
    assert "d" not in m.neurons
    assert np.all(left_input(m) == 0)


def test_replaced_neuron_crossfades_and_the_old_one_retires():
    m = Machine(block=64, types=TYPES)
    m.add("x", "test_ramp")
    m.connect("out.left", "x", 1.0)
    m.tick(2)  # x's ramp is at 128
    m.edit({"x": {"level": {"one": {"out": 2.0}}}}, declare={"x": "test_dc"}, fade=256 / 48000, replace=True)
    m.tick()   # ordered: the swap happens at the end of this tick
    assert m.neurons["x"] == "test_dc" and m.neurons["x~1"] == "test_ramp"
    xs = []
    for _ in range(5):
        m.tick()
        xs.append(left_input(m))
    x = np.concatenate(xs)
    j = np.arange(1, 257)
    ramp = 192 + j          # the old neuron kept its state: it goes on counting from 192
    np.testing.assert_allclose(x[:256], (1 - smooth(j / 256)) * ramp + smooth(j / 256) * 2.0, rtol=1e-6)
    np.testing.assert_allclose(x[256:], 2.0)
    assert "x~1" not in m.neurons and set(m.neurons) >= {"x"}


def test_replace_with_the_same_type_keeps_the_neuron_and_its_state():
    m = Machine(block=64, types=TYPES)
    m.add("x", "test_ramp")
    m.connect("out.left", "x")
    m.tick(3)
    m.edit({"x": {"slope": {"one": {"out": 1.0}}}}, declare={"x": "test_ramp"}, fade=0.01, replace=True)
    m.tick(4)
    assert "x~1" not in m.neurons
    assert m.output("x")[-1] == pytest.approx(192 + 64 + sum(1 + smooth(j / 480) for j in range(1, 193)), rel=1e-6)


def test_replace_without_fade_swaps_at_once():
    m = Machine(block=16, types=TYPES)
    m.add("x", "test_ramp")
    m.connect("out.left", "x")
    m.tick(2)
    m.edit(declare={"x": ("test_dc", {})}, replace=True)
    m.tick(2)
    assert m.neurons["x"] == "test_dc" and not any("~" in n for n in m.neurons)
    np.testing.assert_allclose(left_input(m), 1.0)


def test_fade_argument_is_checked():
    m = Machine(types=TYPES)
    with pytest.raises(Exception, match="fade must be"):
        m.edit({}, fade=-1)
