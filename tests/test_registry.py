"""Tables of neuron types: `STANDARD.copy()` is a table of its own, for machines, patches
and shader files, and nothing done in it reaches the standard table."""
import numpy as np
import pytest

import dmmlive
from dmmlive import Machine, PatchSession, UnknownType
from dmmlive.core.registry import STANDARD, Types
from dmmlive.gfx import load_shader_types, reload_shader
from dmmlive.patch import PatchError, parse


def _dc(state, rate, level):
    """Test type: outputs its level."""
    return level.copy()


def table_with(name: str) -> Types:
    """A copy of the standard table with one audio test type `name` (out = level)."""
    t = STANDARD.copy()
    t.neuron_type(name, kind="audio", inputs={"level": 1.0}, batched=True)(_dc)
    return t


# ---- a copy is a table of its own ------------------------------------------------------------

def test_a_copy_has_the_standard_types_and_a_type_added_to_it_stays_there():
    table = table_with("test_reg_only_here")
    assert isinstance(table, Types) and set(STANDARD) < set(table)
    assert "test_reg_only_here" in table and "test_reg_only_here" not in STANDARD
    assert table.get_type("test_reg_only_here").inputs["level"].default == 1.0
    with pytest.raises(UnknownType, match="unknown neuron type 'test_reg_only_here'"):
        STANDARD.get_type("test_reg_only_here")
    again = table.copy()  # a copy of a copy has its types, and is again its own
    again.neuron_type("test_reg_second", kind="audio", inputs={"level": 1.0}, batched=True)(_dc)
    assert "test_reg_only_here" in again and "test_reg_second" not in table


def test_a_copy_shares_the_python_types_and_owns_its_shader_definitions():
    table = STANDARD.copy()
    shader_types = {d.name for d in STANDARD.shaders.values()}
    assert shader_types and shader_types <= set(table)
    for n in STANDARD:
        if n in shader_types:  # a definition (and type object) of the copy's own
            assert table[n] is not STANDARD[n] and table[n].fn.shader is not STANDARD[n].fn.shader
            assert table[n].fn.shader.src.body == STANDARD[n].fn.shader.src.body
        else:
            assert table[n] is STANDARD[n]


LEVEL = """// Flat gray at level.
uniform float level;  // default 0.25
vec4 effect(vec2 uv) { return vec4(vec3(level), 1.0); }
"""


def test_a_shader_file_loaded_in_a_copy_is_not_in_the_standard_table(tmp_path):
    f = tmp_path / "gfxtest_reg_level.frag"
    f.write_text(LEVEL)
    table = STANDARD.copy()
    assert load_shader_types(tmp_path, types=table) == ["gfxtest_reg_level"]
    assert "gfxtest_reg_level" in table and "gfxtest_reg_level" not in STANDARD
    assert f.resolve() in table.shaders and f.resolve() not in STANDARD.shaders
    f.write_text(LEVEL.replace("vec4 effect", "uniform float gain;  // default 1\nvec4 effect"))
    t = reload_shader(f, types=table)
    assert t is table["gfxtest_reg_level"] and list(t.inputs) == ["level", "gain"]
    assert "gfxtest_reg_level" not in STANDARD and f.resolve() not in STANDARD.shaders


def test_a_shader_reloaded_in_a_copy_leaves_the_standard_type_and_source_untouched(tmp_path, monkeypatch):
    # a shader file of the standard table, as a library one is (put there for this test only:
    # monkeypatch takes it out again)
    f = tmp_path / "gfxtest_reg_std.frag"
    f.write_text(LEVEL)
    scratch = STANDARD.copy()
    load_shader_types(tmp_path, types=scratch)
    monkeypatch.setitem(STANDARD, "gfxtest_reg_std", scratch["gfxtest_reg_std"])
    monkeypatch.setitem(STANDARD.shaders, f.resolve(), scratch.shaders[f.resolve()])
    std = STANDARD["gfxtest_reg_std"]
    std_def = std.fn.shader

    table = STANDARD.copy()
    mine = table["gfxtest_reg_std"]
    assert mine is not std and mine.fn.shader is not std_def

    # the body changes, the ports stay: the copy keeps its type object, with the new source
    f.write_text(LEVEL.replace("vec3(level)", "vec3(level * 2.0)"))
    assert reload_shader(f, types=table) is mine
    assert mine.fn.shader.src.body == f.read_text()
    assert STANDARD["gfxtest_reg_std"] is std and std.fn.shader is std_def
    assert std_def.src.body == LEVEL and STANDARD.shaders[f.resolve()] is std_def

    # the ports change: a new type in the copy only
    f.write_text(LEVEL.replace("vec4 effect", "uniform float gain;  // default 1\nvec4 effect"))
    t = reload_shader(f, types=table)
    assert t is table["gfxtest_reg_std"] and t is not mine and list(t.inputs) == ["level", "gain"]
    assert STANDARD["gfxtest_reg_std"] is std and list(std.inputs) == ["level"]
    assert std_def.src.body == LEVEL and STANDARD.shaders[f.resolve()] is std_def


# ---- machines and patches declare the types of their table -----------------------------------

def test_two_machines_with_different_tables_each_declare_only_their_own_type():
    a_types, b_types = table_with("test_reg_a"), table_with("test_reg_b")
    a, b = Machine(types=a_types), Machine(types=b_types)
    assert a.types is a_types and b.types is b_types and Machine().types is STANDARD
    a.add("x", "test_reg_a")
    b.add("x", "test_reg_b")
    with pytest.raises(UnknownType, match="unknown neuron type 'test_reg_b'"):
        a.add("y", "test_reg_b")
    with pytest.raises(UnknownType, match="unknown neuron type 'test_reg_a'"):
        b.add("y", "test_reg_a")
    with pytest.raises(UnknownType):
        Machine().add("y", "test_reg_a")
    a.connect("x.level", "one", 0.5)
    a.tick()
    assert np.all(a.output("x") == 0.5)
    assert a.neurons["x"] == "test_reg_a" and "y" not in a.neurons and "y" not in b.neurons


def test_a_patch_parses_against_its_table_and_not_against_the_standard_one(tmp_path):
    table = table_with("test_reg_patch")
    text = "a = test_reg_patch(level=0.25)\nout = a\n"
    p = parse(text, "reg.dmm", types=table)
    assert p.neurons["a"].type == "test_reg_patch"
    assert p.defaults == {} and p.rows[("a", "level")] == {("one", "out"): 0.25}
    with pytest.raises(PatchError) as e:
        parse(text, "reg.dmm")
    assert (e.value.path, e.value.line, e.value.col) == ("reg.dmm", 1, 5)
    assert e.value.message == "unknown neuron type 'test_reg_patch'"
    with pytest.raises(PatchError, match="unknown neuron type 'test_reg_patch'"):
        parse(text, "reg.dmm", types=STANDARD)

    # a session parses with its machine's table; load builds a machine with the one given
    m = Machine(types=table)
    PatchSession(m, "reg.dmm").apply(text, now=True)
    m.tick()
    assert m.neurons["a"] == "test_reg_patch" and np.all(m.output("a") == 0.25)
    f = tmp_path / "reg.dmm"
    f.write_text(text)
    assert dmmlive.load(f, types=table).types is table
    with pytest.raises(PatchError, match="unknown neuron type 'test_reg_patch'"):
        dmmlive.load(f)
