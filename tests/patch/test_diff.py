"""Patch texts applied in sequence to a running machine: the matrix and the sound."""
import numpy as np
import pytest

import dmmlive
from dmmlive import vv
from dmmlive.patch import PatchError
from dmmlive.patch.live import PatchSession, load


def session(text, **kw):
    m = dmmlive.Machine(block=64, **kw)
    s = PatchSession(m, "live.dmm")
    s.apply(text, now=True)
    return m, s


def run(m, ticks):
    out = []
    for _ in range(ticks):
        m.tick()
        out.append(m.sound()[:, 0].copy())
    return np.concatenate(out)


def test_first_text_builds_the_network_with_defaults():
    m, _ = session("a = sine(freq=330)\nout = 0.5*a\n")
    W = m.matrix
    assert vv.path(W, "a", "freq") == {"one": {"out": 330.0}}
    assert vv.path(W, "a", "amp") == {"one": {"out": 1.0}}      # a default, from `one`
    assert vv.path(W, "out", "left") == {"a": {"out": 0.5}} == vv.path(W, "out", "right")
    assert vv.path(W, "self", "delta") == {"edits": {"delta": 1.0}}


def test_a_changed_constant_is_one_edit_and_the_oscillators_keep_their_phase():
    text = "fade(0)\na = sine(freq=330)\nb = sine(freq=110)\nout = 0.5*a + 0.25*b\n"
    m, s = session(text)
    twin, _ = session(text)
    run(m, 10), run(twin, 10)
    s.apply(text.replace("0.5*a", "0.3*a"))
    n = m.compiles
    for t in range(6):
        m.tick(), twin.tick()
        a, b = twin.output("a"), twin.output("b")
        np.testing.assert_array_equal(m.output("a"), a)  # kept neurons keep their state
        gain = 0.5 if t == 0 else 0.3  # ordered: in W at the end of the first tick
        np.testing.assert_allclose(m.sound()[:, 0], gain * a + 0.25 * b, atol=1e-7)
    assert m.compiles == n  # a number changed: the plan takes it in place
    assert vv.path(m.matrix, "out", "left", "a", "out") == pytest.approx(0.3)


def test_type_change_crossfades_removed_neuron_retires_and_rows_follow():
    m, s = session("fade(0.01)\na = sine(freq=220)\nb = saw(freq=110)\nout = 0.3*a + 0.3*b\n")
    run(m, 4)
    s.apply("fade(0.01)\na = tri(freq=220)\nout = 0.3*a\n")
    run(m, 2)
    assert m.neurons["a"] == "tri" and m.neurons["a~1"] == "sine"
    run(m, 10)  # 0.01 s = 480 samples = 7.5 blocks
    assert "a~1" not in m.neurons and "b" not in m.neurons
    assert vv.path(m.matrix, "out", "left") == {"a": {"out": 0.3}}
    assert vv.path(m.matrix, "b") == {}


def test_a_bad_text_changes_nothing_and_the_next_good_one_applies():
    m, s = session("a = sine(freq=220)\nout = 0.3*a\n")
    run(m, 3)
    before = (m.matrix, dict(m.neurons), len(m._queue))
    with pytest.raises(PatchError) as e:
        s.apply("a = sine(freq=220)\nout = 0.3*a + 0.2*b\n")
    assert str(e.value).startswith("live.dmm:2:19: undeclared name 'b'")
    with pytest.raises(PatchError, match=r"live.dmm:1:5: unknown neuron type 'sinee'"):
        s.apply("a = sinee(freq=220)\nout = a\n")
    assert (m.matrix, dict(m.neurons), len(m._queue)) == before
    s.apply("a = sine(freq=440)\nout = 0.3*a\n")
    run(m, 3)
    assert vv.path(m.matrix, "a", "freq", "one", "out") == 440.0


def test_rows_the_patch_does_not_mention_are_left_alone():
    m, s = session("a = sine()\nb = sine(freq=3)\nout = 0.3*a\n")
    m.edit({"a": {"amp": {"b": {"out": 0.5}}}})  # e.g. an OSC edit on a row the patch leaves to its default...
    run(m, 2)
    s.apply("a = sine(freq=330)\nb = sine(freq=3)\nout = 0.3*a\n")
    run(m, 2)
    # the patch owns a.amp (its default row), so the outside term goes; freq follows the text
    assert vv.path(m.matrix, "a", "amp") == {"one": {"out": 1.0}}
    m.edit({"b": {"phase": {"a": {"out": 0.25}}}})  # a row neither text mentions
    run(m, 2)
    s.apply("a = sine(freq=331)\nb = sine(freq=3)\nout = 0.3*a\n")
    run(m, 2)
    assert vv.path(m.matrix, "b", "phase", "a", "out") == 0.25


def test_self_delta_rows_keep_the_edits_link():
    m, s = session("a = sine()\nout = 0.2*a\nself.delta = pulse(value={}, period=1)\n")
    assert vv.path(m.matrix, "self", "delta") == {"edits": {"delta": 1.0}, "self:delta/pulse#1": {"out": 1.0}}
    s.apply("a = sine()\nout = 0.2*a\n")
    run(m, 2)
    assert vv.path(m.matrix, "self", "delta") == {"edits": {"delta": 1.0}}


def test_schedule_and_tempo_settings_apply():
    m, s = session("a = sine()\nout = a\n")
    assert m.schedule == "ordered" and m.tempo == 120
    s.apply('schedule("synchronous")\ntempo(90)\na = sine()\nout = a\n')
    assert m.schedule == "synchronous" and m.tempo == 90


def test_load_reads_a_file_and_reports_errors_with_positions(tmp_path):
    p = tmp_path / "x.dmm"
    p.write_text("seed(7)\nfps(25)\na = noise()\nout = 0.1*a\n")
    m = load(p)
    assert m.seed == 7 and m.fps == 25 and m.neurons["a"] == "noise"
    p.write_text("a = noise(\n")
    with pytest.raises(PatchError, match=r"x.dmm:1:10: syntax error"):
        load(p)
    with pytest.raises(dmmlive.DmmError, match=r"cannot read patch .*nope.dmm"):
        load(tmp_path / "nope.dmm")


GLIDE = "fade(0.005)\na = sine(freq=330)\nb = sine(freq=110)\nout = 0.5*a + 0.25*b\n"  # 4 ticks of 64


def test_a_glide_whose_weights_stay_in_w_ends_without_a_recompile():
    m, s = session(GLIDE)
    twin, s2 = session(GLIDE)
    run(m, 5), run(twin, 5)
    new = GLIDE.replace("0.5*a", "0.3*a")
    s.apply(new), s2.apply(new)
    n = m.compiles
    for _ in range(12):
        m.tick()
        twin._dirty = True  # the twin's plan is compiled afresh every tick: the reference
        twin.tick()
        np.testing.assert_array_equal(m.sound(), twin.sound())
    assert m.compiles == n  # the plan takes the new weight and the glide in place
    assert twin.compiles >= n + 12


def test_a_glide_that_takes_a_weight_to_zero_recompiles_at_its_end():
    m, s = session(GLIDE)
    run(m, 5)
    s.apply(GLIDE.replace(" + 0.25*b", "").replace("b = sine(freq=110)\n", ""))  # b removed
    n = m.compiles
    run(m, 3)
    assert "b" in m.active  # gliding out
    run(m, 9)
    assert m.compiles == n + 2 and "b" not in m.active  # and then retired
