"""Shader files as neuron types: parsing, error lines, reload, the library, closed forms."""
from __future__ import annotations

import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.gfx import ShaderError, load_shader_types, parse, reload_shader
from dmmlive.gfx.shaders import ShaderSource, map_errors
from dmmlive.gfx.types import LIBRARY

N = 32
TOL = dict(rtol=2e-3, atol=2e-3)




@pytest.fixture
def library(gpu, table):
    """The library's shader types, compiled on `gpu`, loaded into the test's table; their names."""
    errors = []
    names = load_shader_types(LIBRARY, gpu, errors, types=table)
    assert errors == []
    return names


def state(g, **kw):
    return {"gpu": g, "time": 0.0, "frame": 0, **kw}


def run(gpu, table, name, /, **inputs):
    t = table[name]
    ins = {k: p.default if p.kind == "number" else None for k, p in t.inputs.items()}
    ins.update(inputs)
    return gpu.read(t.fn(ins, state(gpu))["out"])


WARP = """// Domain-warp the image `src` by a moving sine field.
uniform sampler2D src;
uniform float amount;   // default 0.05
uniform float time;
uniform float speed;    // default -.5e1: how fast
uniform sampler2D prev;
/* uniform vec3 commented_out; */
// uniform vec2 also_commented;
uniform sampler2D map;
uniform float a, b;  // default 2
vec4 effect(vec2 uv) { return texture(src, uv) + amount; }
"""


# --- parsing (no GPU) ------------------------------------------------------------------------

def test_uniforms_are_ports_in_order_with_defaults():
    src = parse(WARP, "shaders/warp.frag")
    assert src.name == "warp" and src.doc == "Domain-warp the image `src` by a moving sine field."
    assert [(u.name, u.kind, u.default, u.line) for u in src.ports] == [
        ("src", "image", 0.0, 2), ("amount", "number", 0.05, 3), ("speed", "number", -5.0, 5),
        ("map", "image", 0.0, 9), ("a", "number", 2.0, 10), ("b", "number", 2.0, 10)]
    assert src.uses_prev and src.style == "effect"
    assert "uniform float time;\n" not in src.fragment.split(WARP[:20])[0]  # declared once, by the file
    assert src.fragment.splitlines()[src.offset] == WARP.splitlines()[0]


def test_unsupported_uniform_type_names_file_and_line():
    text = "// x\nuniform sampler2D src;\n\nuniform vec2 center;  // default 0.5\nvec4 effect(vec2 uv) { return vec4(0); }\n"
    with pytest.raises(ShaderError) as e:
        parse(text, "shaders/bad.frag")
    assert str(e.value).startswith("shaders/bad.frag:4:1: uniform vec2 center: unsupported uniform type 'vec2'")
    assert str(e.value).endswith("\n    uniform vec2 center;  // default 0.5\n    ^")  # the line, a caret
    assert e.value.line == 4
    with pytest.raises(ShaderError, match=r"^shaders/t.frag:1:1: uniform vec3 time: 'time' is supplied as a float"):
        parse("uniform vec3 time;\nvec4 effect(vec2 uv) { return vec4(0); }", "shaders/t.frag")
    with pytest.raises(ShaderError, match=r"^shaders/arr.frag:2:1: uniform float w\[4\]: arrays are not ports"):
        parse("\nuniform float w[4];\nvec4 effect(vec2 uv) { return vec4(0); }", "shaders/arr.frag")


def test_missing_entry_point_is_an_error():
    with pytest.raises(ShaderError, match=r"^shaders/e.frag:2:1: defines no entry point"):
        parse("uniform float a;\nfloat f() { return 1.0; }\n", "shaders/e.frag")
    assert parse("void main() { fragColor = vec4(uv, 0, 1); }", "m.frag").style == "main"


def test_reserved_words_are_renamed_in_glsl_only():
    src = parse("uniform float smooth; // default 0.1\nvec4 effect(vec2 uv) { return vec4(smooth); }", "s.frag")
    assert src.ports[0].name == "smooth" and src.ports[0].glsl == "smooth_" and src.ports[0].default == 0.1
    assert "vec4(smooth_)" in src.fragment


def test_compiler_logs_map_to_file_lines_for_each_driver_format():
    src = parse("uniform float a;\nvec4 effect(vec2 uv) {\n    return vec4(a);\n}\n", "shaders/x.frag")
    o = src.offset
    mesa = f"GLSL Compiler failed\n\nfragment_shader\n===============\n0:{o + 3}(12): error: `q' undeclared\n"
    assert str(map_errors(mesa, src)) == "shaders/x.frag:3:12: error: `q' undeclared\n        return vec4(a);\n               ^"
    nvidia = f"0({o + 2}) : error C1008: undefined variable \"q\"\n"
    assert str(map_errors(nvidia, src)) == ("shaders/x.frag:2:1: error C1008: undefined variable \"q\""
                                            "\n    vec4 effect(vec2 uv) {\n    ^")  # no column: the line's start
    angle = f"ERROR: 0:{o + 1}: 'q' : undeclared identifier\n"
    assert str(map_errors(angle, src)) == "shaders/x.frag:1:1: 'q' : undeclared identifier\n    uniform float a;\n    ^"


# --- compiling --------------------------------------------------------------------------------

def test_compile_error_is_reported_at_the_files_line(gpu, table, tmp_path, monkeypatch):
    (tmp_path / "shaders").mkdir()
    (tmp_path / "shaders" / "gfxtest_broken.frag").write_text(
        "// Broken on line 4.\nuniform float a;  // default 1\nvec4 effect(vec2 uv) {\n"
        "    return vec4(a * nothing_here);\n}\n")
    monkeypatch.chdir(tmp_path)
    errors = []
    assert load_shader_types("shaders", gpu, errors, types=table) == ["gfxtest_broken"]  # registered all the same
    assert len(errors) == 1
    msg = str(errors[0])
    assert msg.startswith("shaders/gfxtest_broken.frag:4:21: ") and "nothing_here" in msg  # + the driver's text
    assert msg.endswith("\n        return vec4(a * nothing_here);\n                        ^")  # the name it quotes
    with pytest.raises(ShaderError, match=r"^shaders/gfxtest_broken.frag:4:21: "):
        table["gfxtest_broken"].fn({"a": 1.0}, state(gpu))  # its neurons fail with the same text
    with pytest.raises(ShaderError, match=r"^shaders/gfxtest_broken.frag:4:21: "):
        load_shader_types("shaders", gpu, types=table)  # without a list, the first error is raised


def test_errors_in_renamed_ports_use_the_port_name(gpu):
    src = parse("uniform float smooth;\nvec4 effect(vec2 uv) {\n  return smooth;\n}\n", "shaders/r.frag")
    with pytest.raises(ShaderError) as e:
        gpu.compile(src)
    assert e.value.line == 3 and "smooth_" not in str(e.value)


def test_a_shader_cannot_take_the_name_of_another_type(table, tmp_path):
    (tmp_path / "lowpass.frag").write_text("vec4 effect(vec2 uv) { return vec4(1.0); }\n")
    with pytest.raises(ShaderError, match="a neuron type 'lowpass' exists already"):
        load_shader_types(tmp_path, types=table)
    assert table["lowpass"].outputs == {"out": "audio"}


GOOD = """// Flat gray at level.
uniform float level;  // default 0.25
vec4 effect(vec2 uv) { return vec4(vec3(level), 1.0); }
"""


def test_reload_keeps_the_old_program_on_error_and_takes_the_fixed_one(gpu, table, tmp_path):
    f = tmp_path / "gfxtest_live.frag"
    f.write_text(GOOD)
    assert load_shader_types(tmp_path, gpu, types=table) == ["gfxtest_live"]
    t = table["gfxtest_live"]
    st = state(gpu)
    np.testing.assert_allclose(gpu.read(t.fn({"level": 0.25}, st)["out"])[..., 0], 0.25)

    f.write_text(GOOD.replace("vec3(level)", "vec3(level * 2.0 +)"))
    with pytest.raises(ShaderError, match=r"gfxtest_live.frag:3:54: error: syntax error, unexpected '\)'\n"):
        reload_shader(f, types=table)
    np.testing.assert_allclose(gpu.read(t.fn({"level": 0.25}, st)["out"])[..., 0], 0.25)  # old one runs

    f.write_text(GOOD.replace("uniform float level", "uniform vec2 level"))
    with pytest.raises(ShaderError, match=r"gfxtest_live.frag:2:1: uniform vec2 level"):
        reload_shader(f, types=table)

    f.write_text(GOOD.replace("vec3(level)", "vec3(level * 2.0)"))
    assert reload_shader(f, types=table) is t  # same ports: the same type
    np.testing.assert_allclose(gpu.read(t.fn({"level": 0.25}, st)["out"])[..., 0], 0.5)

    f.write_text(GOOD.replace("vec3(level)", "vec3(level + gain)").replace(
        "vec4 effect", "uniform float gain;  // default 1\nvec4 effect"))
    t2 = reload_shader(f, types=table)
    assert t2 is table["gfxtest_live"] and list(t2.inputs) == ["level", "gain"]
    np.testing.assert_allclose(gpu.read(t2.fn({"level": 0.25, "gain": 1.0}, st)["out"])[..., 0], 1.25)


# --- the library ------------------------------------------------------------------------------

IMAGE_TYPES = ["softmax", "waveform", "spectrum"]


def test_every_library_type_compiles_and_renders_finite_values(gpu, table, library):
    assert {"plasma", "snoise", "gradient", "shape", "osc", "zoom", "rotate", "translate", "kaleid",
            "blur", "displace", "hue", "contrast", "threshold", "colorize", "matmul"} <= set(library)
    rng = np.random.default_rng(0)
    src = gpu.upload(rng.uniform(0, 1, (N, N, 4)))
    for name in library + IMAGE_TYPES:
        t = table[name]
        assert t.frame and t.outputs == {"out": "image"} and t.doc, name
        args = t.check_args({}, name)
        st = {**(t.state(args) if callable(t.state) else {}), **state(gpu, time=1.5), "args": args}
        ins = {k: (src if p.kind == "image" else p.default) for k, p in t.inputs.items()}
        if "in" in t.inputs and t.inputs["in"].kind == "audio":
            st["audio"] = lambda port, n: rng.uniform(-1, 1, n).astype(np.float32)
        out = gpu.read(t.fn(ins, st)["out"])
        assert out.shape == (N, N, 4) and np.isfinite(out).all(), name
        assert out.std() > 0, name  # something is drawn


def test_gradient_ramps(gpu, table, library):
    img = run(gpu, table, "gradient")
    ramp = (np.arange(N) + 0.5) / N
    np.testing.assert_allclose(img[..., 0], np.broadcast_to(ramp, (N, N)), **TOL)          # left to right
    np.testing.assert_allclose(img[..., 1], np.broadcast_to(ramp[::-1, None], (N, N)), **TOL)  # bottom up
    np.testing.assert_allclose(img[..., 2], 0.5, **TOL)


def test_threshold_is_binary_at_smooth_zero(gpu, table, library):
    gray = np.linspace(0, 1, N * N).reshape(N, N)
    img = run(gpu, table, "threshold", src=gpu.upload(gray), level=0.5, smooth=0.0)
    np.testing.assert_array_equal(img[..., 0], (np.float16(gray) >= 0.5).astype(np.float32))
    soft = run(gpu, table, "threshold", src=gpu.upload(gray), level=0.5, smooth=0.2)
    assert 0 < soft[..., 0][(gray > 0.45) & (gray < 0.55)].mean() < 1  # a ramp across the edge


def test_colorize_tints_the_luma(gpu, table, library):
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, (N, N, 3))
    img = run(gpu, table, "colorize", src=gpu.upload(a), r=1.0, g=0.5, b=0.25)
    luma = np.float16(a).astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722])
    np.testing.assert_allclose(img[..., :3], luma[..., None] * [1.0, 0.5, 0.25], **TOL)
    np.testing.assert_array_equal(img[..., 3], 1.0)


def test_translate_shifts_pixels_by_the_right_amount(gpu, table, library):
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 1, (N, N, 4))
    img = run(gpu, table, "translate", src=gpu.upload(a), x=0.25, y=0.125)
    # x right by N/4 columns, y up by N/8 rows (rows count from the top), wrapping
    want = np.roll(np.roll(np.float16(a).astype(np.float32), N // 4, axis=1), -N // 8, axis=0)
    np.testing.assert_allclose(img, want, **TOL)


def test_contrast_one_and_zoom_one_leave_the_image(gpu, table, library):
    rng = np.random.default_rng(5)
    a = np.float16(rng.uniform(0, 1, (N, N, 4))).astype(np.float32)
    np.testing.assert_allclose(run(gpu, table, "contrast", src=gpu.upload(a), amount=1.0), a, **TOL)
    np.testing.assert_allclose(run(gpu, table, "zoom", src=gpu.upload(a), amount=1.0), a, **TOL)
    np.testing.assert_allclose(run(gpu, table, "rotate", src=gpu.upload(a), angle=np.pi / 2)[..., 0],
                               np.rot90(a[..., 0]), **TOL)  # a quarter turn counter-clockwise


def test_shader_types_take_time_from_the_state(gpu, table, library):
    t = table["gradient"]
    st = state(gpu, time=np.pi / 2)
    img = gpu.read(t.fn({"speed": 1.0}, st)["out"])
    np.testing.assert_allclose(img[..., 2], 1.0, **TOL)  # 0.5 + 0.5 sin(time * speed)


def test_source_objects_are_plain_data():
    src = parse(GOOD, "shaders/g.frag")
    assert isinstance(src, ShaderSource) and src.lines == 3 and src.doc == "Flat gray at level."
