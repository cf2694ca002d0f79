"""The engine side of the OSC address space: each command's effect on a running machine."""
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmmlive import Machine, vv
from dmmlive.core.registry import STANDARD
from dmmlive.control import ERROR, VALUE, Controller, tick_for_time
from dmmlive.neurons import control as _knobs  # noqa: F401  (the knob type)

BLOCK = 64
RATE = 48000


TYPES = STANDARD.copy()  # the standard types and this file's own


@TYPES.neuron_type("test_dc_ctl", kind="audio", inputs={"level": 1.0}, batched=True)
def _dc(state, rate, level):
    """Test type: outputs its level."""
    return level.copy()


@TYPES.neuron_type("test_num_ctl", kind="number", inputs={"x": 0.0}, batched=True)
def _num(state, rate, x):
    """Test type: a number that passes its input on."""
    return x.copy()


@TYPES.neuron_type("test_tagged_ctl", kind="audio", inputs={"level": 1.0}, args={"label": "", "scale": 1.0},
             batched=True)
def _tagged(state, rate, level):
    """Test type: level times its `scale` argument (a `label` names it)."""
    return (level * state.args["scale"]).astype(np.float32)


def machine(**kw):
    m = Machine(types=TYPES, block=BLOCK, rate=RATE, **kw)
    m.add("d", "test_dc_ctl")
    m.connect("out.left", "d", 0.2)
    m.tick()
    return m


def w(m, dst, inp, src, out):
    x = vv.path(m.matrix, dst, inp, src, out)
    return x if vv.is_number(x) else 0.0


def left(m):
    return m.input("out", "left").astype(np.float64)


def errors(replies):
    return [r for r in replies if r[0] == ERROR]


# ---- set / add / value -------------------------------------------------------------------
def test_set_glides_over_the_fade_to_the_new_weight():
    m = machine()
    c = Controller(m, fade=200 / RATE)  # 200 samples: a glide over 3+ blocks
    assert c.execute("set", ["out.left", "d.out", 0.8]) == ok("set", ["out.left", "d.out", 0.8])
    seen = []
    for _ in range(8):
        m.tick()
        seen.append(left(m))
    x = np.concatenate(seen)
    assert w(m, "out", "left", "d", "out") == pytest.approx(0.8)
    inside = x[(x > 0.2 + 1e-6) & (x < 0.8 - 1e-6)]
    assert len(inside) >= 150                      # it glided, sample by sample
    assert np.all(np.diff(x) >= -1e-7)             # monotonically
    assert x[-1] == pytest.approx(0.8, abs=1e-6)


def test_set_twice_before_a_tick_ends_at_the_last_value_not_the_sum():
    m = machine()
    c = Controller(m, fade=0.0)
    c.execute("set", ["out.left", "d.out", 0.5])
    c.execute("set", ["out.left", "d.out", 0.7])
    m.tick(3)
    assert w(m, "out", "left", "d", "out") == pytest.approx(0.7)
    assert left(m)[-1] == pytest.approx(0.7)


def test_set_with_default_ports_and_to_the_same_value_is_no_edit():
    m = machine()
    c = Controller(m, fade=0.0)
    assert c.execute("set", ["out", "d", 0.2]) == ok("set", ["out", "d", 0.2])   # out's first input is left, d's output out
    assert m._queue == []
    assert c.execute("set", ["out", "d", 0.6]) == ok("set", ["out", "d", 0.6])
    m.tick(2)
    assert w(m, "out", "left", "d", "out") == pytest.approx(0.6)


def test_add_changes_a_weight_at_once():
    m = machine()
    c = Controller(m, fade=1.0)  # a long fade: add must not use it
    c.execute("add", ["out.left", "d.out", 0.25])
    c.execute("add", ["out.left", "d.out", 0.25])
    m.tick()   # ordered: in W at the end of this tick
    m.tick()
    assert w(m, "out", "left", "d", "out") == pytest.approx(0.7)
    assert np.all(left(m) == np.float32(0.7))  # no glide: the whole block at once


def test_value_sets_the_weight_from_one():
    m = machine()
    c = Controller(m, fade=0.0)
    c.execute("value", ["d.level", 0.3])
    m.tick(2)
    assert w(m, "d", "level", "one", "out") == pytest.approx(0.3)
    assert left(m)[-1] == pytest.approx(0.2 * 0.3)
    c.execute("value", ["d.level", 0.0])  # to zero: the entry goes away
    m.tick(2)
    assert vv.path(m.matrix, "d", "level") == {}


def test_value_glides_like_set():
    m = machine()
    c = Controller(m, fade=256 / RATE)
    c.execute("value", ["d.level", 0.0])
    xs = []
    for _ in range(6):
        m.tick()
        xs.append(left(m))
    x = np.concatenate(xs)
    assert np.any((x > 1e-4) & (x < 0.2 - 1e-4))
    assert x[-1] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("op,args,why", [
    ("set", ["out.left", "nope.out", 0.5], "unknown neuron 'nope'"),
    ("set", ["out.left", "d.nope", 0.5], "no output port 'nope'"),
    ("set", ["out.left", "d.out", float("nan")], "finite number"),
    ("set", ["out.left", "d.out", "0.5"], "finite number"),
    ("set", ["out.left", "d.out"], "expected dst.port src.port w"),
    ("add", ["out.left", "d.out", 1.0, 2.0], "expected dst.port src.port dw"),
    ("add", ["out.left", 3, 1.0], "non-empty string"),
    ("value", ["d.level"], "expected name.port x"),
    ("value", ["out.left.x", 1.0], "no input port"),
    ("set", ["self.delta", "d.out", 1.0], "kind mismatch"),
    ("frobnicate", [], "unknown command 'frobnicate'"),
    ("remove", ["nope"], "unknown neuron 'nope'"),
    ("remove", ["one"], "built in"),
    ("neuron", ["x"], "expected name type"),
    ("neuron", ["x", "test_dc_ctll"], "did you mean 'test_dc_ctl'"),
    ("neuron", ["x", "test_dc_ctl", "colour", 1.0], "no argument or input 'colour'"),
    ("neuron", ["x", "test_dc_ctl", "level"], "expected name type"),
    ("neuron", ["x.y", "test_dc_ctl"], "bad neuron name"),
    ("get", ["nope"], "unknown neuron"),
    ("get", ["d.nope"], "no port 'nope'"),
    ("record", ["pause"], "'start' [path] or 'stop'"),
    ("record", ["start"], "no recorder"),
    ("knob", ["/1/fader9", 0.5], "no knob listens to /1/fader9"),
    ("knob", ["/1/fader9"], "expected one value"),
])
def test_bad_commands_reply_an_error_and_change_nothing(op, args, why):
    m = machine()
    c = Controller(m, fade=0.0)
    before, neurons = m.matrix, set(m.neurons)
    replies = c.execute(op, args)
    assert len(replies) == 1
    address, (where, reason) = replies[0]
    assert address == ERROR
    assert where == (args[0] if op == "knob" else f"/dmm/{op}")
    assert why in reason
    assert m._queue == []
    m.tick(3)
    assert vv.equal(m.matrix, before)
    assert set(m.neurons) == neurons


@settings(max_examples=200, deadline=None)
@given(op=st.sampled_from(["set", "add", "value", "neuron", "remove", "code", "load", "record", "get",
                           "knob", "x"]),
       args=st.lists(st.one_of(st.text(max_size=12), st.floats(allow_nan=True), st.integers(),
                               st.none(), st.booleans(), st.binary(max_size=4)), max_size=6))
def test_any_arguments_give_replies_never_an_exception(op, args):
    m = Machine(types=TYPES, block=16)
    m.add("d", "test_dc_ctl")
    m.connect("out.left", "d", 0.2)
    c = Controller(m, fade=0.0, load_root=os.path.dirname(__file__))
    replies = c.execute(op, args)
    assert isinstance(replies, list)
    for address, rargs in replies:
        assert address in (ERROR, VALUE)
        assert all(isinstance(a, (str, float)) for a in rargs)
    m.tick()


# ---- neuron / remove -----------------------------------------------------------------------
def test_a_declared_neuron_plays_once_a_weight_reaches_out():
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, fade=0.0)
    assert c.execute("neuron", ["s", "test_tagged_ctl", "label", "bass", "scale", 2.0, "level", 0.25]) == ok("neuron", ["s", "test_tagged_ctl", "label", "bass", "scale", 2.0, "level", 0.25])
    assert c.execute("set", ["out.left", "s.out", 1.0]) == ok("set", ["out.left", "s.out", 1.0])   # before the declaration is absorbed
    m.tick(3)
    assert m.neurons["s"] == "test_tagged_ctl"
    assert m._decls["s"].args == {"label": "bass", "scale": 2.0}
    assert w(m, "s", "level", "one", "out") == pytest.approx(0.25)
    assert left(m)[-1] == pytest.approx(0.5)


def test_a_declared_neuron_gets_its_defaults_where_nothing_is_written():
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, fade=0.0)
    c.execute("neuron", ["s", "test_dc_ctl"])
    c.execute("set", ["out.left", "s", 1.0])
    m.tick(3)
    assert w(m, "s", "level", "one", "out") == pytest.approx(1.0)
    # declaring it again changes nothing (same type and arguments: kept with its state)
    assert c.execute("neuron", ["s", "test_dc_ctl"]) == ok("neuron", ["s", "test_dc_ctl"])
    m.tick(2)
    assert w(m, "s", "level", "one", "out") == pytest.approx(1.0)


def test_neuron_with_a_new_type_crossfades_and_keeps_the_rows():
    m = machine()
    c = Controller(m, fade=128 / RATE)
    c.execute("value", ["d.level", 0.5])
    m.tick(5)
    assert c.execute("replace", ["d", "test_tagged_ctl", "scale", 3.0]) == ok("replace", ["d", "test_tagged_ctl", "scale", 3.0])
    m.tick(10)
    assert m.neurons["d"] == "test_tagged_ctl"
    assert w(m, "d", "level", "one", "out") == pytest.approx(0.5)   # not doubled by a default
    assert left(m)[-1] == pytest.approx(0.2 * 0.5 * 3.0)
    assert not any(n.startswith("d~") for n in m.neurons)           # the old one is retired


def test_neuron_refuses_a_taken_name_and_replace_takes_it():
    m = machine()  # `d` is a test_dc_ctl
    c = Controller(m, fade=0.0)
    before = m.matrix
    (addr, (where, why)), = c.execute("neuron", ["d", "test_tagged_ctl", "scale", 3.0])
    assert (addr, where) == (ERROR, "/dmm/neuron")
    assert "a neuron 'd' exists already (test_dc_ctl)" in why and "/dmm/replace d test_tagged_ctl" in why
    m.tick(3)
    assert m.neurons["d"] == "test_dc_ctl" and m.matrix == before  # nothing changed
    assert c.execute("neuron", ["d", "test_dc_ctl"]) == ok("neuron", ["d", "test_dc_ctl"])            # the same again: kept
    assert c.execute("replace", ["d", "test_tagged_ctl", "scale", 3.0]) == ok("replace", ["d", "test_tagged_ctl", "scale", 3.0])
    m.tick(3)
    assert m.neurons["d"] == "test_tagged_ctl"


@pytest.mark.parametrize("fade", [0.0, 256 / RATE])
def test_set_and_value_land_exactly_on_the_value_whatever_came_before(fade):
    m = machine()
    c = Controller(m, fade=fade)
    for x in (1e17, 2.0, -3e-9, 1e300, 0.25):
        assert c.execute("value", ["d.level", x]) == ok("value", ["d.level", x])
        assert c.execute("set", ["out.left", "d", -x]) == ok("set", ["out.left", "d", -x])
        m.tick(3)
        assert w(m, "d", "level", "one", "out") == x
        assert w(m, "out", "left", "d", "out") == -x
    m.tick(10)  # the glides end where they were going
    assert c.execute("get", ["d.level", "one"]) == [(VALUE, ["d.level", "one", 0.25])]


def test_get_with_two_refs_reads_a_weight():
    m = machine()
    c = Controller(m, fade=0.0)
    assert c.execute("get", ["out.left", "d"]) == [(VALUE, ["out.left", "d", pytest.approx(0.2)])]
    assert c.execute("set", ["out.left", "d", 0.35]) == ok("set", ["out.left", "d", 0.35])
    # as it will be once the queued edit is in: the value just set, before a tick
    assert c.execute("get", ["out.left", "d.out"]) == [(VALUE, ["out.left", "d.out", 0.35])]
    assert c.execute("get", ["out.right", "d"]) == [(VALUE, ["out.right", "d", 0.0])]
    (addr, (where, why)), = c.execute("get", ["out.left", "nope"])
    assert addr == ERROR and "unknown neuron 'nope'" in why


def test_remove_fades_a_neuron_out_and_retires_it():
    m = machine()
    m.add("n", "test_num_ctl")
    m.connect("n.x", "one.out", 1.0)
    m.connect("d.level", "n.out", 1.0)
    m.tick(3)
    c = Controller(m, fade=256 / RATE)
    assert c.execute("remove", ["d"]) == ok("remove", ["d"])
    xs = []
    for _ in range(10):
        m.tick()
        xs.append(left(m))
    x = np.concatenate(xs)
    assert np.any((x > 1e-4) & (x < 0.2 - 1e-4))      # it faded
    assert x[-1] == 0.0
    assert "d" not in m.neurons
    assert not any("d" in (dst, src) for dst, _, src, _, _ in _entries(m.matrix))
    assert "n" in m.neurons and w(m, "n", "x", "one", "out") == 1.0   # only d went


def _entries(W):
    for dst, ins in W.items():
        for inp, srcs in ins.items():
            for src, outs in srcs.items():
                for out, x in outs.items():
                    yield dst, inp, src, out, x


# ---- code / load -----------------------------------------------------------------------------
GOOD = "fade(0)\nd = test_dc_ctl(level=0.5)\nout = 0.4*d\n"
BAD = "fade(0)\nd = test_dc_ctl(level=0.5)\nout = 0.4*dd\n"


def test_code_applies_a_patch_text():
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m)
    assert c.execute("code", [GOOD]) == ok("code", [GOOD])
    m.tick(3)
    assert m.neurons["d"] == "test_dc_ctl"
    assert left(m)[-1] == pytest.approx(0.2)
    assert c.fade == 0.0   # the patch's fade() is the glide time of later commands


def test_a_bad_patch_text_replies_file_line_col_and_changes_nothing():
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m)
    c.execute("code", [GOOD])
    m.tick(3)
    before = m.matrix
    replies = c.execute("code", [BAD])
    assert len(replies) == 1 and replies[0][0] == ERROR
    where, reason = replies[0][1]
    assert where == "/dmm/code"
    assert reason.startswith("<osc>:3:11: ") and "'dd'" in reason
    assert vv.equal(m.matrix, before)
    m.tick(3)
    assert vv.equal(m.matrix, before)
    assert left(m)[-1] == pytest.approx(0.2)


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "patches"
    (root / "sub").mkdir(parents=True)
    (root / "good.dmm").write_text(GOOD)
    (root / "sub" / "bad.dmm").write_text(BAD)
    outside = tmp_path / "outside.dmm"
    outside.write_text(GOOD)
    (root / "link.dmm").symlink_to(outside)
    (root / "sub" / "up").symlink_to(tmp_path)
    return root, outside


def test_load_reads_a_patch_under_the_root(roots):
    root, _ = roots
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, load_root=root)
    assert c.execute("load", ["good.dmm"]) == ok("load", ["good.dmm"])
    m.tick(3)
    assert left(m)[-1] == pytest.approx(0.2)
    assert c.execute("load", [str(root / "good.dmm")]) == ok("load", [str(root / "good.dmm")])   # absolute, but inside


def test_load_reports_a_bad_file_with_its_path_line_and_column(roots):
    root, _ = roots
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, load_root=root)
    before = m.matrix
    [(address, (where, reason))] = c.execute("load", ["sub/bad.dmm"])
    assert address == ERROR and where == "/dmm/load"
    assert reason.startswith(f"{os.path.realpath(root / 'sub' / 'bad.dmm')}:3:11: ")
    assert vv.equal(m.matrix, before)


@pytest.mark.parametrize("path", ["../outside.dmm", "sub/../../outside.dmm", "link.dmm",
                                  "sub/up/outside.dmm", "/etc/passwd", "OUTSIDE"])
def test_load_refuses_paths_outside_the_root(roots, path):
    root, outside = roots
    path = str(outside) if path == "OUTSIDE" else path
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, load_root=root)
    before = m.matrix
    [(address, (where, reason))] = c.execute("load", [path])
    assert address == ERROR and "outside the folder patches may be loaded from" in reason
    assert vv.equal(m.matrix, before) and m._queue == []


def test_load_anywhere_when_allowed(roots):
    root, outside = roots
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m, load_root=root, allow_load_anywhere=True)
    assert c.execute("load", ["../outside.dmm"]) == ok("load", ["../outside.dmm"])


@pytest.mark.parametrize("path,why", [("missing.dmm", "no such file"), ("sub", "is a folder")])
def test_load_of_what_is_not_a_patch_file(roots, path, why):
    root, _ = roots
    c = Controller(Machine(types=TYPES, block=BLOCK), load_root=root)
    [(address, (_, reason))] = c.execute("load", [path])
    assert address == ERROR and why in reason


# ---- get ---------------------------------------------------------------------------------------
def test_get_replies_number_audio_and_vvalue_readings():
    m = machine()
    m.add("n", "test_num_ctl")
    m.connect("n.x", "one.out", 0.75)
    m.connect("out.right", "n.out", 1.0)   # so n is active
    m.add("k", "const", value={":number": 2.5, "a": 1.0})
    m.add("i", "identity")
    m.connect("i.v", "k.out", 1.0)
    m.tick(3)
    c = Controller(m)
    assert c.execute("get", ["n.out"]) == [(VALUE, ["n.out", 0.75])]
    assert c.execute("get", ["n"]) == [(VALUE, ["n", 0.75])]
    assert c.execute("get", ["n.x"]) == [(VALUE, ["n.x", 0.75])]        # an input
    assert c.execute("get", ["out.left"]) == [(VALUE, ["out.left", pytest.approx(0.2)])]  # block mean
    assert c.execute("get", ["k.out"]) == [(VALUE, ["k.out", 2.5])]     # the ":number" part
    assert c.execute("get", ["i.v"]) == [(VALUE, ["i.v", 2.5])]
    for _, (_, x) in c.execute("get", ["d.out"]):
        assert isinstance(x, float)


def test_get_of_a_neuron_not_yet_absorbed_is_zero():
    m = Machine(types=TYPES, block=BLOCK)
    c = Controller(m)
    c.execute("neuron", ["s", "test_dc_ctl"])
    assert c.execute("get", ["s"]) == [(VALUE, ["s", 0.0])]


# ---- knobs ---------------------------------------------------------------------------------------
def test_knob_values_set_the_knob_neurons_listening_there():
    m = Machine(types=TYPES, block=BLOCK)
    m.add("vol", "knob", address="/1/fader1", default=0.5, lag=0.0)
    m.add("px", "knob", address="/1/xy1/x", default=0.0, lag=0.0)
    m.add("py", "knob", address="/1/xy1/y", default=0.0, lag=0.0)
    m.add("d", "test_dc_ctl")
    m.connect("out.left", "d", 1.0)
    m.connect("d.level", "one.out", 0.0)   # the knob alone drives the level
    m.connect("d.level", "vol", 1.0)
    m.connect("out.right", "px", 1.0)
    m.connect("out.right", "py", 10.0)
    m.tick(2)
    c = Controller(m)
    assert c.knob_addresses() == {"/1/fader1", "/1/xy1/x", "/1/xy1/y"}
    assert left(m)[-1] == pytest.approx(0.5)
    assert c.execute("knob", ["/1/fader1", 0.8]) == ok("knob", ["/1/fader1", 0.8])
    assert c.execute("knob", ["/1/xy1", 0.25, 0.5]) == ok("knob", ["/1/xy1", 0.25, 0.5])
    m.tick(2)
    assert left(m)[-1] == pytest.approx(0.8)
    assert m.input("out", "right")[-1] == pytest.approx(0.25 + 5.0)
    [(address, (where, reason))] = c.execute("knob", ["/1/fader1", 0.1, 0.2])
    assert address == ERROR and where == "/1/fader1" and "/1/fader1/x or /1/fader1/y" in reason


# ---- record ---------------------------------------------------------------------------------------
def test_record_calls_the_hook():
    calls = []
    c = Controller(Machine(types=TYPES, block=BLOCK), on_record=lambda cmd, path: calls.append((cmd, path)))
    assert c.execute("record", ["start", "take1.mp4"]) == ok("record", ["start", "take1.mp4"])
    assert c.execute("record", ["stop"]) == ok("record", ["stop"])
    assert c.execute("record", ["start"]) == ok("record", ["start"])
    assert calls == [("start", "take1.mp4"), ("stop", None), ("start", None)]
    [(address, (_, reason))] = c.execute("record", ["stop", "x.mp4"])
    assert address == ERROR and "takes no path" in reason


def test_a_failing_record_hook_is_an_error_reply():
    def hook(cmd, path):
        raise OSError("disk full")
    c = Controller(Machine(types=TYPES, block=BLOCK), on_record=hook)
    [(address, (_, reason))] = c.execute("record", ["start", "a.mp4"])
    assert address == ERROR and "disk full" in reason


# ---- time ---------------------------------------------------------------------------------------
def test_tick_for_time_closed_form():
    clock = (100, 1000.0)  # tick 100 is heard at t = 1000 s
    period = BLOCK / RATE
    assert tick_for_time(1000.0, clock, RATE, BLOCK) == 100
    assert tick_for_time(1000.0 + period, clock, RATE, BLOCK) == 101
    assert tick_for_time(1000.0 + 0.5 * period, clock, RATE, BLOCK) == 101
    assert tick_for_time(1000.0 + 1.0, clock, RATE, BLOCK) == 100 + math.ceil(RATE / BLOCK)
    assert tick_for_time(1000.0 - 2.5 * period, clock, RATE, BLOCK) == 98


@settings(max_examples=300, deadline=None)
@given(tick0=st.integers(0, 10**7), dt=st.floats(-100.0, 100.0), rate=st.sampled_from([44100, 48000, 96000]),
       block=st.sampled_from([32, 64, 128, 256]))
def test_tick_for_time_is_the_first_tick_heard_at_or_after_t(tick0, dt, rate, block):
    time0 = 1.7e9
    k = tick_for_time(time0 + dt, (tick0, time0), rate, block)
    period = block / rate
    heard = lambda j: (j - tick0) * period  # noqa: E731
    assert heard(k) >= dt - 1e-6
    assert heard(k - 1) < dt + 1e-6


def test_scheduled_commands_run_at_their_tick_not_before():
    c = Controller(Machine(types=TYPES, block=BLOCK))
    c.schedule("add", ["out.left", "d.out", 1.0], 10, tag="a")
    c.schedule("add", ["out.left", "d.out", 2.0], 7, tag="b")
    c.schedule("get", ["d"], 10, tag="c")
    assert c.due(6) == []
    assert c.due(7) == [("add", ["out.left", "d.out", 2.0], "b")]
    assert c.due(9) == []
    assert c.due(12) == [("add", ["out.left", "d.out", 1.0], "a"), ("get", ["d"], "c")]
    assert c.waiting == 0


def test_a_timed_command_is_reflected_first_at_the_tick_of_its_time():
    for schedule in ("ordered", "synchronous"):
        m = Machine(types=TYPES, block=BLOCK, schedule=schedule)
        m.add("d", "test_dc_ctl")
        m.connect("out.left", "d", 0.2)
        m.tick()
        t0 = 5000.0
        c = Controller(m, fade=0.0, clock=(m.t + 1, t0))   # the next tick is heard at t0
        when = t0 + 12.5 * BLOCK / RATE                    # between ticks: the later one counts
        target = m.t + 1 + 13
        assert c.submit("add", ["out.left", "d.out", 0.5], timetag=when, tag="x") == []
        assert c.waiting == 1
        first, acks = None, []
        while m.t < target + 3:
            acks += [(m.t, r) for r in c.run_due()]
            m.tick()
            if first is None and left(m)[0] > 0.5:
                first = m.t
        assert first == target, schedule
        # acknowledged when it runs, to the tag it came with
        assert [r for _, r in acks] == [("/dmm/ok", ["/dmm/add", "out.left", "d.out", 0.5], "x")]
        assert target - c.lead - 1 <= acks[0][0] < target  # when it ran, not when it came


def test_a_past_or_immediate_timetag_runs_at_once():
    m = machine()
    c = Controller(m, fade=0.0, clock=(m.t + 1, 5000.0))
    c.submit("add", ["out.left", "d.out", 0.5], timetag=4000.0)
    c.submit("add", ["out.left", "d.out", 0.5], timetag=None)
    assert c.waiting == 0 and len(m._queue) == 2
    Controller(m).submit("add", ["out.left", "d.out", 0.5], timetag=9e9)  # no clock: at once
    assert len(m._queue) == 3


def test_timed_commands_are_bounded_and_replies_carry_their_tag():
    m = machine()
    c = Controller(m, max_scheduled=3, clock=(m.t + 1, 0.0))
    far = 1e6
    for _ in range(3):
        assert c.submit("get", ["d"], timetag=far, tag=("h", 1)) == []
    [(address, (where, reason), tag)] = c.submit("get", ["d"], timetag=far, tag=("h", 2))
    assert address == ERROR and where == "/dmm/get" and "too many timed commands" in reason
    assert tag == ("h", 2)
    assert c.submit("get", ["d"], tag="now") == [(VALUE, ["d", pytest.approx(0.2 * 0 + 1.0)], "now")]


def ok(op, args):
    """The reply to a command that succeeded: /dmm/ok with its address and arguments (none
    for code); a knob is not answered."""
    from dmmlive import commands
    if op == "knob":
        return []
    return [("/dmm/ok", [commands.address_of(op, args)] + ([] if op == "code" else list(args)))]


def test_a_constant_out_of_its_ports_range_is_refused_with_the_range():
    m = machine()
    c = Controller(m, fade=0.0)
    assert c.execute("neuron", ["e", "delay", "time", 0.5]) == ok("neuron", ["e", "delay", "time", 0.5])
    m.tick(2)
    before = m.matrix
    for op, args, why in [
            ("value", ["e.time", 5.0], "e.time = 5 is out of range: 0 to 2 s (max=2.0)"),
            ("value", ["e.time", -0.375], "e.time = -0.375 is out of range: 0 to 2 s (max=2.0)"),
            ("set", ["e.feedback", "one", 1.5], "e.feedback = 1.5 is out of range: -1 to 1"),
            ("add", ["e.time", "one.out", 1.75], "e.time = 2.25 is out of range: 0 to 2 s (max=2.0)"),
            ("neuron", ["f", "lowpass", "cutoff", -100.0], "f.cutoff = -100 is out of range: 0 to 100000 Hz"),
            ("neuron", ["g", "delay", "max", 1.0, "time", 1.5], "g.time = 1.5 is out of range: 0 to 1 s (max=1.0)")]:
        assert c.execute(op, args) == [(ERROR, [f"/dmm/{op}", why])], (op, args)
    m.tick(2)
    assert m.matrix == before and "f" not in m.neurons and "g" not in m.neurons  # nothing changed
    # at the edge, and a weight from another neuron (not a constant), pass
    assert c.execute("value", ["e.time", 2.0]) == ok("value", ["e.time", 2.0])
    assert c.execute("set", ["e.time", "d", 50.0]) == ok("set", ["e.time", "d", 50.0])
    m.tick(2)
    assert w(m, "e", "time", "one", "out") == 2.0 and w(m, "e", "time", "d", "out") == 50.0
