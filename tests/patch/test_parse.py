"""The patch language: declarations, rows, defaults, anonymous names, settings and knobs."""
import math

import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.core.machine import Machine
from dmmlive.core.registry import STANDARD
from dmmlive.neurons import control
from dmmlive.patch import Declared, Patch, PatchError, parse

# The design's example patch (docs: design section 4), audio part.
DEMO = """\
# patches/demo.dmm
fade(0.05)
tempo(120)
lfo    = sine(freq=0.2)
bass   = saw(freq=55 + 3*lfo)
filt   = lowpass(bass, cutoff=400 + 300*lfo, q=0.8)
echo   = delay(filt + 0.45*echo, time=0.375, max=2.0)   # a cycle: feedback
out    = 0.3*filt + 0.2*echo                            # both channels
out.right += 0.1*bass
level  = rms(filt)
vol    = knob("/1/fader1", default=0.5, lag=0.02)
"""

# Stand-ins with the ports of the real types, used only where a real type is missing.
STAND_INS = {
    "sine": dict(kind="audio", inputs={"freq": 220.0, "amp": 1.0, "phase": "audio"}),
    "saw": dict(kind="audio", inputs={"freq": 220.0, "amp": 1.0}),
    "lowpass": dict(kind="audio", inputs={"in": "audio", "cutoff": 1000.0, "q": 0.707}),
    "delay": dict(kind="audio", inputs={"in": "audio", "time": 0.25}, args={"max": 2.0}),
    "rms": dict(inputs={"in": "audio"}, outputs={"out": "number"}),
}


def _fn(state, rate, **inputs):
    """Test stand-in."""
    return 0.0


# This module's table: the standard types, the stand-ins of any missing, and two test
# types with known defaults, for exact values. Every parse and machine here uses it.
TYPES = STANDARD.copy()
for _n in STAND_INS:
    if _n not in TYPES:
        TYPES.neuron_type(_n, batched=True, **STAND_INS[_n])(_fn)
TYPES.neuron_type("test_patch_osc", kind="audio", inputs={"freq": 220.0, "amp": 0.5, "fm": "audio"},
                  batched=True)(_fn)
TYPES.neuron_type("test_patch_num", kind="number", inputs={"x": 2.0}, batched=True,
                  args={"mode": "a", "n": 3, "k": 1.5, "on": False, "v": [0.0]})(_fn)


def default(t, port):
    return TYPES[t].inputs[port].default


def test_demo_parses_to_its_rows_declarations_and_settings():
    p = parse(DEMO, "patches/demo.dmm")
    assert isinstance(p, Patch) and p.path == "patches/demo.dmm"
    assert list(p.neurons) == ["lfo", "bass", "filt", "echo", "level", "vol"]
    assert p.neurons["lfo"] == Declared("sine", {}, 4, 1)
    assert p.neurons["filt"] == Declared("lowpass", {}, 6, 1)
    assert p.neurons["echo"] == Declared("delay", {"max": 2.0}, 7, 1)
    assert p.neurons["vol"] == Declared("knob", {"address": "/1/fader1", "default": 0.5, "lag": 0.02}, 11, 1)
    one = ("one", "out")
    assert p.rows == {
        ("lfo", "freq"): {one: 0.2},
        ("bass", "freq"): {one: 55.0, ("lfo", "out"): 3.0},
        ("filt", "in"): {("bass", "out"): 1.0},
        ("filt", "cutoff"): {one: 400.0, ("lfo", "out"): 300.0},
        ("filt", "q"): {one: 0.8},
        ("echo", "in"): {("filt", "out"): 1.0, ("echo", "out"): 0.45},
        ("echo", "time"): {one: 0.375},
        ("out", "left"): {("filt", "out"): 0.3, ("echo", "out"): 0.2},
        ("out", "right"): {("filt", "out"): 0.3, ("echo", "out"): 0.2, ("bass", "out"): 0.1},
        ("level", "in"): {("filt", "out"): 1.0},
    }
    # ports with a default that the patch leaves alone get it from `one`
    mentioned = set(p.rows)
    want = {(n, port): x.default for n, d in p.neurons.items()
            for port, x in TYPES[d.type].inputs.items() if x.default and (n, port) not in mentioned}
    assert p.defaults == want
    assert ("lfo", "amp") in want and ("filt", "q") not in want and ("echo", "time") not in want
    assert p.settings == {"fade": 0.05, "tempo": 120.0, "size": (640, 360), "fps": 30.0, "seed": 0,
                          "schedule": "ordered", "meter": 4, "quant": None, "netfade": 0.005, "max_neurons": 1024}
    assert p.knobs == {"/1/fader1": "vol"}


def test_to_matrix_is_the_full_w_with_defaults_and_the_declarations():
    p = parse(DEMO)
    W, declare = p.to_matrix()
    assert W["bass"]["freq"] == {"one": {"out": 55.0}, "lfo": {"out": 3.0}}
    assert W["echo"]["in"] == {"filt": {"out": 1.0}, "echo": {"out": 0.45}}
    assert W["out"] == {"left": {"filt": {"out": 0.3}, "echo": {"out": 0.2}},
                        "right": {"filt": {"out": 0.3}, "echo": {"out": 0.2}, "bass": {"out": 0.1}}}
    assert W["lfo"]["amp"] == {"one": {"out": default("sine", "amp")}}
    assert declare == {"lfo": ("sine", {}), "bass": ("saw", {}), "filt": ("lowpass", {}),
                       "echo": ("delay", {"max": 2.0}), "level": ("rms", {}),
                       "vol": ("knob", {"address": "/1/fader1", "default": 0.5, "lag": 0.02})}


def test_the_matrix_loads_into_a_machine_and_runs():
    W, declare = parse("a = test_patch_osc(fm=b)\nb = test_patch_osc(freq=3 + 2*a)\n"
                       "n = test_patch_num(x=n + 1, mode='z')\nout = 0.5*a + n\n", types=TYPES).to_matrix()
    m = Machine(rate=48000, block=64, types=TYPES)
    m.apply(W, declare, defaults=False)
    m.tick(3)
    assert m.matrix == {"self": {"delta": {"edits": {"delta": 1.0}}}, **W}
    assert {k: m.neurons[k] for k in declare} == {"a": "test_patch_osc", "b": "test_patch_osc",
                                                  "n": "test_patch_num"}


def test_defaults_come_from_one_unless_the_port_is_mentioned():
    p = parse("a = test_patch_osc()\n"
              "b = test_patch_osc(freq=330)\n"
              "c = test_patch_osc()\n"
              "c.amp = 0\n"           # mentioned, even if it cancels: no default
              "d = test_patch_osc()\n"
              "d.freq += 5\n",       # += mentions the port too
              types=TYPES)
    assert p.defaults == {("a", "freq"): 220.0, ("a", "amp"): 0.5, ("b", "amp"): 0.5,
                          ("c", "freq"): 220.0, ("d", "amp"): 0.5}
    assert p.rows == {("b", "freq"): {("one", "out"): 330.0}, ("c", "amp"): {},
                      ("d", "freq"): {("one", "out"): 5.0}}
    W, _ = p.to_matrix()
    assert W["a"] == {"freq": {"one": {"out": 220.0}}, "amp": {"one": {"out": 0.5}}}
    assert "amp" not in W.get("c", {}) and W["c"]["freq"] == {"one": {"out": 220.0}}


def test_linear_expressions_fold_constants_and_merge_refs():
    p = parse("a = test_patch_osc()\n"
              "b = test_patch_osc(freq=2*0.5 + 1/4 - -3 + a/4 + (a + 2)*3 - a.out + 0*a, fm=-a)\n",
              types=TYPES)
    assert p.rows[("b", "freq")] == {("one", "out"): 1 + 0.25 + 3 + 6, ("a", "out"): 0.25 + 3 - 1}
    assert p.rows[("b", "fm")] == {("a", "out"): -1.0}
    p = parse("a = test_patch_osc()\nb = test_patch_osc(freq=a - a, fm=3 - 3)\n", types=TYPES)
    assert p.rows[("b", "freq")] == {} and p.rows[("b", "fm")] == {}


def test_port_statements_set_and_add_rows():
    p = parse("a = test_patch_osc(freq=100)\n"
              "a.freq = 200 + a\n"      # replaces the declaration's row
              "a.freq += 10\n"
              "a.fm += a\n"
              "a.fm -= 0.5*a\n", types=TYPES)
    assert p.rows[("a", "freq")] == {("one", "out"): 210.0, ("a", "out"): 1.0}
    assert p.rows[("a", "fm")] == {("a", "out"): 0.5}


def test_a_port_statement_wins_over_the_declaration_wherever_it_stands():
    p = parse("a.freq = 7\na = test_patch_osc(freq=100)\n", types=TYPES)
    assert p.rows[("a", "freq")] == {("one", "out"): 7.0}


def test_out_sets_both_channels_and_out_port_one():
    p = parse("a = test_patch_osc()\nout = 0.5*a\nout.left = a\nout += 0.25", types=TYPES)
    assert p.rows[("out", "left")] == {("a", "out"): 1.0, ("one", "out"): 0.25}
    assert p.rows[("out", "right")] == {("a", "out"): 0.5, ("one", "out"): 0.25}
    assert "out" not in p.neurons


def test_references_may_come_before_declarations_and_cycles_are_fine():
    p = parse("a = test_patch_osc(fm=b)\nb = test_patch_osc(fm=a + b)\n", types=TYPES)
    assert p.rows[("a", "fm")] == {("b", "out"): 1.0}
    assert p.rows[("b", "fm")] == {("a", "out"): 1.0, ("b", "out"): 1.0}
    assert list(p.neurons) == ["a", "b"]


def test_nested_calls_are_anonymous_neurons_named_by_where_they_stand():
    p = parse("x = test_patch_osc(fm=test_patch_osc(freq=3) + 2*test_patch_osc(fm=test_patch_osc()))\n"
              "out = 0.1*test_patch_osc(freq=5)\n"
              "out.left += test_patch_osc()\n"
              "x.fm += test_patch_osc()\n", types=TYPES)
    assert list(p.neurons) == ["x", "x/test_patch_osc#1", "x/test_patch_osc#2", "x/test_patch_osc#3",
                               "out/test_patch_osc#1", "out:left/test_patch_osc#1", "x:fm/test_patch_osc#1"]
    assert p.neurons["x/test_patch_osc#2"] == Declared("test_patch_osc", {}, 1, 50)
    assert p.rows[("x", "fm")] == {("x/test_patch_osc#1", "out"): 1.0, ("x/test_patch_osc#2", "out"): 2.0,
                                   ("x:fm/test_patch_osc#1", "out"): 1.0}
    assert p.rows[("x/test_patch_osc#2", "fm")] == {("x/test_patch_osc#3", "out"): 1.0}
    assert p.rows[("x/test_patch_osc#1", "freq")] == {("one", "out"): 3.0}
    assert p.rows[("out", "right")] == {("out/test_patch_osc#1", "out"): 0.1}
    assert p.defaults[("out/test_patch_osc#1", "amp")] == 0.5


def test_anonymous_names_survive_edits_of_other_lines():
    v1 = parse("a = test_patch_osc(fm=test_patch_osc(freq=2))\n"
               "out = test_patch_osc(fm=a) + 0.5*test_patch_osc()\n", types=TYPES)
    v2 = parse("# a comment moves everything down\n"
               "z = test_patch_osc(fm=test_patch_osc() + test_patch_osc())\n"
               "a = test_patch_osc(fm=test_patch_osc(freq=3))\n"
               "out = test_patch_osc(fm=a) + 0.5*test_patch_osc()\n", types=TYPES)
    for name in ("a/test_patch_osc#1", "out/test_patch_osc#1", "out/test_patch_osc#2"):
        assert name in v1.neurons and name in v2.neurons
    assert v1.rows[("out/test_patch_osc#1", "fm")] == v2.rows[("out/test_patch_osc#1", "fm")]
    assert v1.rows[("a/test_patch_osc#1", "freq")] == {("one", "out"): 2.0}
    assert v2.rows[("a/test_patch_osc#1", "freq")] == {("one", "out"): 3.0}


def test_construction_arguments_are_literals_checked_against_their_defaults():
    p = parse("a = test_patch_num(mode='b', n=4, k=2, on=True, v=[1, 2.5])\n"
              "b = test_patch_num(k=1/4, v=(1, -2))\n", types=TYPES)
    assert p.neurons["a"].args == {"mode": "b", "n": 4, "k": 2.0, "on": True, "v": [1, 2.5]}
    assert p.neurons["b"].args == {"mode": "a", "n": 3, "k": 0.25, "on": False, "v": (1, -2)}
    assert p.defaults == {("a", "x"): 2.0, ("b", "x"): 2.0}


def test_keyword_ports_may_be_written_with_a_trailing_underscore():
    p = parse("a = test_patch_osc()\nf = lowpass(in_=a)\nf.in_ += 0.5*a\n", types=TYPES)
    assert p.rows[("f", "in")] == {("a", "out"): 1.5}


def test_builtins_are_sources_and_self_delta_a_destination():
    p = parse("t = timer(timer=t)\nself.delta = 0.5*t.timer\na = test_patch_osc(freq=220*one)\n",
              types=TYPES)
    assert p.rows[("self", "delta")] == {("t", "timer"): 0.5}
    assert p.rows[("a", "freq")] == {("one", "out"): 220.0}
    p = parse("u = identity(x=u.x, y=self.matrix)\n")
    assert p.rows == {("u", "x"): {("u", "x"): 1.0}, ("u", "y"): {("self", "matrix"): 1.0}}


def test_a_number_may_feed_audio():
    p = parse("n = test_patch_num()\na = test_patch_osc(fm=n)\nout = n\n", types=TYPES)
    assert p.rows[("a", "fm")] == {("n", "out"): 1.0}
    assert p.rows[("out", "left")] == {("n", "out"): 1.0}


def test_settings_and_their_defaults():
    p = parse("fade(0)\ntempo(90)\nsize(1280, 720)\nfps(60)\nseed(7)\nschedule('synchronous')\n"
              "meter(3)\nquant(1.5)\n")
    assert p.settings == {"fade": 0.0, "tempo": 90.0, "size": (1280, 720), "fps": 60.0, "seed": 7,
                          "schedule": "synchronous", "meter": 3, "quant": 1.5, "netfade": 0.005, "max_neurons": 1024}
    assert parse("").settings == {"fade": 0.05, "tempo": 120.0, "size": (640, 360), "fps": 30.0,
                                  "seed": 0, "schedule": "ordered", "meter": 4, "quant": None, "netfade": 0.005, "max_neurons": 1024}
    assert parse("fade(1/20)\nsize(2*640, 360)").settings["size"] == (1280, 360)
    assert parse("fade(1/20)").settings["fade"] == 0.05


def test_comments_blank_lines_and_line_endings():
    p = parse("\ufeff# a patch\r\n\r\na = test_patch_osc()  # a comment\rb = test_patch_osc(fm=a)\n\n",
              types=TYPES)
    assert p.neurons["b"].line == 4 and p.rows[("b", "fm")] == {("a", "out"): 1.0}
    assert parse("").neurons == {} and parse("# only a comment\n").rows == {}


def test_knobs_are_collected_anonymous_ones_too():
    p = parse('vol = knob("/1/fader1")\n'
              'a = test_patch_osc(freq=200 + 100*knob("/1/fader2", default=0.25, lag=0))\n', types=TYPES)
    assert p.knobs == {"/1/fader1": "vol", "/1/fader2": "a/knob#1"}
    assert p.neurons["vol"].args == {"address": "/1/fader1", "default": 0.5, "lag": 0.02}
    assert p.neurons["a/knob#1"].args == {"address": "/1/fader2", "default": 0.25, "lag": 0.0}
    assert p.rows[("a", "freq")] == {("one", "out"): 200.0, ("a/knob#1", "out"): 100.0}


def test_parse_never_executes_the_text(tmp_path):
    target = tmp_path / "touched"
    with pytest.raises(PatchError):
        parse(f"import os\nos.mkdir({str(target)!r})\n")
    with pytest.raises(PatchError):
        parse(f"a = test_patch_osc(freq=__import__('os').mkdir({str(target)!r}))\n", types=TYPES)
    assert not target.exists()


# ---- the knob type --------------------------------------------------------------------------

def knob_machine(text, rate=48000, block=64):
    W, declare = parse(text, types=TYPES).to_matrix()
    m = Machine(rate=rate, block=block, types=TYPES)
    m.apply(W, declare, defaults=False)
    return m


def test_knob_starts_at_its_default_and_glides_to_a_set_value_by_one_pole():
    rate, block, lag = 48000, 64, 0.02
    m = knob_machine('vol = knob("/1/fader1", default=0.5, lag=0.02)\nout = 0.1*vol\n', rate, block)
    m.tick(5)
    assert m.output("vol") == pytest.approx(0.5, abs=1e-12)
    assert control.set_knob(m, "vol", 1.0) is True
    for k in range(1, 40):
        m.tick()
        want = 1.0 + (0.5 - 1.0) * math.exp(-k * block / (rate * lag))
        assert m.output("vol") == pytest.approx(want, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(m.input("out", "left"), 0.1 * m.output("vol"), rtol=1e-6)


def test_knob_with_no_lag_jumps_and_knobs_of_a_group_are_independent():
    m = knob_machine('a = knob("/a", lag=0)\nb = knob("/b", lag=0)\nout.left = a\nout.right = b\n')
    m.tick()
    control.set_knob(m, "b", -2.0)
    m.tick()
    assert (m.output("a"), m.output("b")) == (0.5, -2.0)


def test_set_knob_rejects_unknown_names_and_bad_values_and_skips_idle_knobs():
    m = knob_machine('vol = knob("/v")\nidle = knob("/i")\nx = test_patch_osc()\nout = vol + x\n')
    with pytest.raises(dmmlive.DmmError, match="unknown knob 'voll' \\(did you mean 'vol'\\?\\)"):
        control.set_knob(m, "voll", 1.0)
    with pytest.raises(dmmlive.DmmError, match="'x' is a test_patch_osc, not a knob"):
        control.set_knob(m, "x", 1.0)
    with pytest.raises(dmmlive.DmmError, match="value must be a finite number"):
        control.set_knob(m, "vol", float("nan"))
    assert control.set_knob(m, "idle", 1.0) is False  # nothing reads it: not running


def test_a_knob_set_before_it_runs_starts_from_that_value():
    m = knob_machine('vol = knob("/v")\nidle = knob("/i", lag=0.5)\nout = vol\n')
    m.tick()
    assert control.set_knob(m, "idle", 0.8) is False
    m.apply({"out": {"right": {"idle": {"out": 1.0}}}})
    m.tick()
    assert m.output("idle") == 0.8 and m.output("vol") == 0.5


def test_knob_arguments_are_checked():
    with pytest.raises(PatchError) as e:
        parse('k = knob("fader")')
    assert (e.value.line, e.value.col) == (1, 10)
    assert e.value.message == "knob address must be a string starting with '/', got 'fader'"
    with pytest.raises(PatchError) as e:
        parse('k = knob("/f", lag=-1)')
    assert e.value.message == "knob lag must be a number of seconds >= 0, got -1.0"


def test_a_named_sum_is_a_neuron_fed_its_combination_with_no_delay(tmp_path):
    """`mix = 0.5*a + 0.5*b` declares `mix` (a `sum`: audio) fed that combination; in the
    ordered schedule it runs in the level after its terms, so `out = mix` is sample for
    sample `out = 0.5*a + 0.5*b`. A sum of numbers is a `sum_kr`. Named before or after."""
    named = "out = 0.8*mix\nmix = 0.5*a + 0.25*b\na = sine(freq=220)\nb = saw(freq=110)\n"
    p = parse(named, "n.dmm")
    assert p.neurons["mix"].type == "sum" and (p.neurons["mix"].line, p.neurons["mix"].col) == (2, 1)
    assert p.rows[("mix", "in")] == {("a", "out"): 0.5, ("b", "out"): 0.25}
    assert p.rows[("out", "left")] == {("mix", "out"): 0.8}
    assert parse(named, "n.dmm", previous=Patch()).rows == p.rows        # the incremental reading agrees
    assert parse("l = sine_kr(freq=0.2)\nd = 5 + 2*l\n").neurons["d"].type == "sum_kr"
    from dmmlive.patch.live import load
    sound = []
    for text in (named, "out = 0.8*(0.5*a + 0.25*b)\na = sine(freq=220)\nb = saw(freq=110)\n"):
        f = tmp_path / "p.dmm"
        f.write_text(text)
        m = load(str(f))
        blocks = []
        for _ in range(20):
            m.tick()
            blocks.append(m.sound().copy())
        sound.append(np.concatenate(blocks))
    assert np.abs(sound[0]).max() > 0.1
    # the same to float32 rounding (0.8*(0.5a + 0.25b) is rounded once more): no block of delay
    np.testing.assert_allclose(sound[0], sound[1], rtol=0, atol=1e-7)



def test_named_sums_are_read_by_change_too():
    """A save of a patch with named sums is read statement by statement like any other,
    and gives what a fresh reading gives, types of sums included."""
    text = "a = sine(freq=220)\nl = sine_kr(freq=0.5)\nmix = 0.5*a + 0.5*a\nd = 1 + l\nout = mix\n"
    p1 = parse(text, "s.dmm", previous=Patch())
    for new in (text.replace("freq=220", "freq=330"),         # a term's neuron changes
                text.replace("a = sine(freq=220)", "a = sine_kr(freq=220)"),  # mix becomes numbers
                text + "out.left += 0.1*d\n"):
        got = parse(new, "s.dmm", previous=p1)
        want = parse(new, "s.dmm")
        assert got.stmts is not None and got.base_serial == p1.serial  # read by change
        assert (got.neurons, got.rows) == (want.neurons, want.rows)
    assert parse(text.replace("a = sine(", "a = sine_kr("), "s.dmm", previous=p1).neurons["mix"].type == "sum_kr"
