"""Gpu: weighted sums, read-back, ping-pong, matmul, softmax, feedback, audio images (real GL via EGL)."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.core.registry import STANDARD
from dmmlive.gfx import load_shader_types
from dmmlive.gfx.gpu import CHUNK
from dmmlive.gfx.shaders import parse
from dmmlive.gfx.types import LIBRARY, Ring, column_ranges

N = 32
TOL = dict(rtol=2e-3, atol=2e-3)  # float16 storage: 11-bit mantissa




def f16(a):
    return np.asarray(a, np.float16).astype(np.float32)


def rand(rng, shape=(N, N, 4)):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def state(g, **kw):
    return {"gpu": g, "time": 0.0, "frame": 0, **kw}


def test_upload_read_round_trip_keeps_rows_top_first(gpu):
    rng = np.random.default_rng(1)
    a = rand(rng)
    np.testing.assert_array_equal(gpu.read(gpu.upload(a)), f16(a))
    ramp = np.linspace(0, 1, N)[:, None].repeat(N, 1)  # row 0 (top) = 0
    img = gpu.upload(ramp, key="ramp")
    got = gpu.read(img)
    np.testing.assert_allclose(got[..., 0], ramp, **TOL)
    np.testing.assert_array_equal(got[..., 3], 1.0)  # gray uploads are opaque
    assert gpu.upload(np.zeros((N, N)), key="ramp").texture is img.texture  # a key reuses its texture
    rgb8 = gpu.upload(np.full((N, N, 3), 255, np.uint8))
    np.testing.assert_array_equal(gpu.read(rgb8), 1.0)
    gpu.release("ramp")


def test_read_rgb8_clamps_and_keeps_orientation(gpu):
    rng = np.random.default_rng(2)
    a = rng.uniform(-0.5, 1.5, (N, N, 4)).astype(np.float32)
    got = gpu.read_rgb8(gpu.upload(a))
    want = np.round(np.clip(f16(a[..., :3]), 0, 1) * 255)
    assert got.shape == (N, N, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= 1


def test_combine_two_images_weights_and_constant(gpu):
    rng = np.random.default_rng(3)
    a, b = rand(rng), rand(rng)
    ia, ib = gpu.upload(a), gpu.upload(b)
    out = gpu.combine(("n", "in"), [(ia, 0.7), (ib, -1.5)], 0.25)
    np.testing.assert_allclose(gpu.read(out), f16(0.7 * f16(a) - 1.5 * f16(b) + 0.25), **TOL)


def test_combine_more_terms_than_one_pass(gpu):
    rng = np.random.default_rng(4)
    arrays = [rand(rng) for _ in range(12)]
    weights = rng.uniform(-1, 1, 12)
    assert len(arrays) > CHUNK
    terms = [(gpu.upload(a), w) for a, w in zip(arrays, weights)]
    out = gpu.combine(("n", "big"), terms, -0.5)
    want = sum(w * f16(a) for a, w in zip(arrays, weights)) - 0.5
    np.testing.assert_allclose(gpu.read(out), want, rtol=5e-3, atol=5e-3)  # two roundings to f16


def test_combine_of_nothing_is_black_and_shortcuts(gpu):
    black = gpu.combine(("n", "x"), [], 0.0)
    assert black.texture is gpu.black().texture
    np.testing.assert_array_equal(gpu.read(black), 0.0)
    img = gpu.upload(np.ones((N, N)))
    assert gpu.combine(("n", "x"), [(img, 0.0)], 0.0).texture is gpu.black().texture
    assert gpu.combine(("n", "x"), [(img, 1.0)], 0.0) is img  # one term of weight 1: no pass
    flat = gpu.combine(("n", "x"), [], 0.375)  # a number broadcast: the flat image
    np.testing.assert_array_equal(gpu.read(flat), 0.375)


COUNTER = """
uniform sampler2D prev;
uniform float step;
vec4 effect(vec2 uv) { return texture(prev, uv) + step; }
"""


def test_ping_pong_keeps_the_previous_frame(gpu):
    src = parse(COUNTER, "counter.frag")
    key = gpu.new_key()
    frames = [gpu.render(key, src, {"step": 1.0}) for _ in range(3)]
    np.testing.assert_array_equal(gpu.read(frames[-1]), 3.0)
    np.testing.assert_array_equal(gpu.read(frames[-2]), 2.0)  # last frame's output is intact
    assert frames[-1].texture is not frames[-2].texture
    assert frames[-1].texture is frames[-3].texture


def test_release_and_dropped_keys_free_textures(gpu):
    src = parse(COUNTER, "counter.frag")
    key = gpu.new_key()
    gpu.render(key, src, {"step": 1.0})
    gpu.combine((key, "in"), [], 0.5)
    assert key.id in gpu._slots and (key.id, "in") in gpu._slots
    gpu.release(key)  # the neuron and its ports
    assert key.id not in gpu._slots and (key.id, "in") not in gpu._slots
    k2 = gpu.new_key()
    gpu.render(k2, src, {"step": 1.0})
    ident = k2.id
    del k2
    gc.collect()
    gpu.black()
    gpu.combine(("n", "y"), [], 1.0)  # the next call frees what the dropped key held
    assert ident not in gpu._slots


def test_number_for_an_image_input_is_a_flat_image(gpu, table):
    load_shader_types(LIBRARY, gpu, types=table)
    st = state(gpu)
    out = table["contrast"].fn({"src": 0.25, "amount": 1.0}, st)["out"]
    np.testing.assert_allclose(gpu.read(out)[..., :3], 0.25, **TOL)


def test_matmul_equals_numpy(gpu, table):
    load_shader_types(LIBRARY, gpu, types=table)
    rng = np.random.default_rng(5)
    a, b = rng.uniform(-1, 1, (N, N)), rng.uniform(-1, 1, (N, N))
    out = table["matmul"].fn({"a": gpu.upload(a), "b": gpu.upload(b)}, state(gpu))["out"]
    got = gpu.read(out)
    want = f16(a) @ f16(b) / N  # normalised by the size: images in [0, 1] stay in [0, 1]
    for c in range(3):  # monochrome in, the product in every colour channel
        np.testing.assert_allclose(got[..., c], want, rtol=2e-3, atol=1e-3)
    np.testing.assert_array_equal(got[..., 3], 1.0)


def test_matmul_per_channel(gpu, table):
    load_shader_types(LIBRARY, gpu, types=table)
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0, 1, (N, N, 3)), rng.uniform(0, 1, (N, N, 3))
    got = gpu.read(table["matmul"].fn({"a": gpu.upload(a), "b": gpu.upload(b)}, state(gpu))["out"])
    for c in range(3):
        np.testing.assert_allclose(got[..., c], f16(a[..., c]) @ f16(b[..., c]) / N, rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_along_each_axis_equals_numpy(gpu, axis):
    rng = np.random.default_rng(7 + axis)
    a = rng.normal(0, 3, (N, N, 3)).astype(np.float32) + 40.0  # large values: needs the max subtracted
    t = STANDARD["softmax"]
    st = state(gpu, args=t.check_args({"axis": axis}, "test"))
    got = gpu.read(t.fn({"a": gpu.upload(a)}, st)["out"])
    x = f16(a)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    want = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(got[..., :3], want, rtol=3e-3, atol=1e-5)
    np.testing.assert_allclose(got[..., :3].sum(axis=axis), 1.0, atol=3e-2)


def test_softmax_rejects_a_bad_axis():
    with pytest.raises(dmmlive.BadArgument, match="axis must be 0"):
        STANDARD["softmax"].check_args({"axis": 2}, "test")


PASS = """// Pass the input through.
uniform sampler2D src;
vec4 effect(vec2 uv) { return texture(src, uv); }
"""

BLEND = """// Half the previous frame plus half c.
uniform sampler2D prev;
uniform float c;  // default 0.8
vec4 effect(vec2 uv) { return 0.5 * texture(prev, uv) + 0.5 * c; }
"""


def test_feedback_loop_through_w_converges_per_closed_form(gpu, table, tmp_path):
    # x_n = pass(0.5 x_{n-1} + 0.5 c): a cycle in W, read one frame late; x_n = c (1 - 0.5^n)
    (tmp_path / "gfxtest_pass.frag").write_text(PASS)
    load_shader_types(tmp_path, gpu, types=table)
    t = table["gfxtest_pass"]
    st = state(gpu)
    c = 0.8
    x = gpu.black()
    for n in range(1, 9):
        st["frame"] = n
        inp = gpu.combine(("loop", "src"), [(x, 0.5)], 0.5 * c)
        x = t.fn({"src": inp}, st)["out"]
        np.testing.assert_allclose(gpu.read(x), c * (1 - 0.5 ** n), **TOL)


def test_feedback_through_prev_converges_per_closed_form(gpu, table, tmp_path):
    (tmp_path / "gfxtest_blend.frag").write_text(BLEND)
    load_shader_types(tmp_path, gpu, types=table)
    t = table["gfxtest_blend"]
    assert t.frame and t.inputs["c"].default == 0.8
    st = state(gpu)
    for n in range(1, 9):
        out = t.fn({"c": 0.8}, st)["out"]
        np.testing.assert_allclose(gpu.read(out), 0.8 * (1 - 0.5 ** n), **TOL)


def test_ring_keeps_the_last_samples():
    r = Ring(8)
    r.push(np.arange(5))
    r.push(np.arange(5, 11))
    np.testing.assert_array_equal(r.last(4), [7, 8, 9, 10])
    np.testing.assert_array_equal(r.last(10), [0, 0, 3, 4, 5, 6, 7, 8, 9, 10])


def test_column_ranges_cover_every_sample():
    x = np.array([0.0, 1.0, -1.0, 0.5] * 8)
    lo, hi = column_ranges(x, 4)  # 8 samples per column
    np.testing.assert_array_equal(lo, -1.0)
    np.testing.assert_array_equal(hi, 1.0)
    lo, hi = column_ranges(np.array([0.0, 1.0]), 4)  # fewer samples than columns: interpolated
    assert lo[0] == 0.0 and hi[-1] == 1.0 and np.all(np.diff(lo) >= 0)


def test_waveform_draws_the_level_it_reads(gpu):
    t = STANDARD["waveform"]
    args = t.check_args({"samples": 256}, "test")
    st = {**t.state(args), **state(gpu), "args": args}
    asked = []

    def audio(port, n):
        asked.append((port, n))
        return np.full(n, 0.5, np.float32)

    st["audio"] = audio
    img = gpu.read(t.fn({"gain": 1.0, "thickness": 1.0 / N}, st)["out"])
    assert asked == [("in", 256)]
    # the line sits at uv.y = 0.5 + 0.5 * 0.5 = 0.75: between rows 7 and 8 from the top
    for column in img[:, :, 0].T:
        np.testing.assert_array_equal(np.flatnonzero(column > 0.99), [N // 4 - 1, N // 4])
        assert column[N // 2:].max() == 0.0


def test_waveform_without_the_audio_callable_keeps_its_own_history(gpu):
    t = STANDARD["waveform"]
    args = t.check_args({"samples": 64}, "test")
    st = {**t.state(args), **state(gpu), "args": args}
    for _ in range(3):
        out = t.fn({"in": np.full(16, -1.0, np.float32), "gain": 1.0, "thickness": 0.02}, st)["out"]
    np.testing.assert_array_equal(st["rings"]["in"].last(64)[-48:], -1.0)
    assert np.isfinite(gpu.read(out)).all()


def test_spectrum_peaks_at_the_sines_column(gpu):
    t = STANDARD["spectrum"]
    args = t.check_args({}, "test")
    st = {**t.state(args), **state(gpu), "args": args}
    assert st["history"] == 2048
    rate, f = 48000, 1000.0
    st["audio"] = lambda port, n: np.sin(2 * np.pi * f * np.arange(n) / rate).astype(np.float32)
    img = gpu.read(t.fn({"gain": 1.0, "bars": 0.0}, st)["out"])
    levels = img[0, :, 0]
    want = np.log(f / 20.0) / np.log(rate / 2 / 20.0) * N  # log-frequency axis, 20 Hz .. rate/2
    assert abs(levels.argmax() + 0.5 - want) <= 1.0
    assert levels.max() > 0.95  # a full-scale sine reads 0 dBFS
    bars = gpu.read(t.fn({"gain": 1.0, "bars": 1.0}, st)["out"])
    assert set(np.unique(bars[..., 0])) <= {0.0, 1.0}


def test_non_finite_pixels_never_reach_a_texture(gpu):
    src = parse("uniform float z;\nvec4 effect(vec2 uv) { return vec4(1.0 / z, 0.0 / z, -1.0 / z, 1.0); }", "nan.frag")
    got = gpu.read(gpu.render(gpu.new_key(), src, {"z": 0.0}))
    np.testing.assert_array_equal(got[0, 0], [65504.0, 0.0, -65504.0, 1.0])
    big = gpu.combine(("n", "big"), [(gpu.upload(np.ones((N, N))), 1e6), (gpu.black(), 1.0)])
    np.testing.assert_array_equal(gpu.read(big)[..., 0], 65504.0)
