"""PatchError: the exact text and position of every kind of rejected patch."""
import pickle

import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.core.errors import DmmError
from dmmlive.core.registry import STANDARD, ranged
from dmmlive.neurons import control  # noqa: F401  (knob)
from dmmlive.patch import PatchError, parse


def _fn(state, rate, **inputs):
    """Test type."""
    return 0.0


# This module's table: the standard types (a stand-in sine where it is missing) and the
# test types. Every patch here is parsed against it.
TYPES = STANDARD.copy()
if "sine" not in TYPES:
    TYPES.neuron_type("sine", kind="audio", inputs={"freq": 220.0, "amp": 1.0}, batched=True)(_fn)
TYPES.neuron_type("test_perr_osc", kind="audio", inputs={"freq": 220.0, "amp": 0.5}, batched=True)(_fn)
TYPES.neuron_type("test_perr_dly", kind="audio", inputs={"in": "audio", "time": 0.25}, args={"max": 2.0},
                  batched=True)(_fn)
TYPES.neuron_type("test_perr_vec", inputs={"v": "vvalue"}, outputs={"out": "vvalue"})(_fn)
TYPES.neuron_type("test_perr_num", kind="number", inputs={"x": 0.0}, batched=True)(_fn)
TYPES.neuron_type("test_perr_rng", kind="audio", args={"max": 2.0}, batched=True,
                  inputs={"in": 0.0, "time": ranged(0.25, 0, "max", "s"), "cutoff": ranged(1000.0, 0, 1e5, "Hz")})(_fn)


def error(text, path="<patch>", types=TYPES) -> PatchError:
    with pytest.raises(PatchError) as e:
        parse(text, path, types=types)
    return e.value


def test_the_error_names_file_line_column_and_shows_a_caret():
    e = error("fade(0.05)\n\nlfo = sinee(freq=0.2)\n", "patches/a.dmm")
    assert isinstance(e, DmmError)
    assert (e.path, e.line, e.col) == ("patches/a.dmm", 3, 7)
    assert e.message == "unknown neuron type 'sinee' (did you mean 'sine'?)"
    assert str(e) == ("patches/a.dmm:3:7: unknown neuron type 'sinee' (did you mean 'sine'?)\n"
                      "    lfo = sinee(freq=0.2)\n"
                      "          ^")


def test_the_caret_keeps_tabs_and_columns_count_characters():
    e = error("a = test_perr_osc(freq=1,\n\t\tamp=bb)")
    assert (e.line, e.col) == (2, 7)
    assert str(e).splitlines()[1:] == ["    \t\tamp=bb)", "    \t\t    ^"]
    e = error("é = test_perr_osc(freq=ü)")  # é is two bytes in UTF-8, one column
    assert (e.line, e.col, e.message) == (1, 24, "undeclared name 'ü'")


def test_errors_pickle_and_compare_by_their_fields():
    e = error("a = 2*b", "p.dmm")
    f = pickle.loads(pickle.dumps(e))
    assert (f.path, f.line, f.col, f.message, str(f)) == (e.path, e.line, e.col, e.message, str(e))


CASES = [
    # syntax errors come from ast, with its position
    ("a = test_perr_osc(", 1, 18, "syntax error: '(' was never closed"),
    ("a = test_perr_osc(freq=)", 1, 24, "syntax error: invalid syntax"),
    ("a = test_perr_osc()\n\tb = 1", 2, 1, "syntax error: unexpected indent"),
    ("a = 1\0", 1, 6, "syntax error: source code string cannot contain null bytes"),
    # unknown types
    ("x = sinee(freq=1)", 1, 5, "unknown neuron type 'sinee' (did you mean 'sine'?)"),
    ("x = zzzz()", 1, 5, "unknown neuron type 'zzzz'"),
    ("a = out()", 1, 5, "type 'out' is built in and cannot be declared again"),
    ("a = fade(1)", 1, 5, "fade is a setting, not a neuron type: write fade(...) on a line of its own"),
    ("a = np.sin(1)", 1, 5, "a neuron type is a plain name such as sine, not an attribute"),
    # unknown ports: the type is named and its ports listed
    ("a = test_perr_osc(frq=1)", 1, 19,
     "test_perr_osc has no input 'frq' (did you mean 'freq'?); inputs: freq, amp"),
    ("a = test_perr_dly(mx=1)", 1, 19, "test_perr_dly has no input 'mx'; inputs: in, time; arguments: max"),
    ("a = test_perr_osc()\na.frq = 1", 2, 3,
     "'a' (test_perr_osc) has no input 'frq' (did you mean 'freq'?); inputs: freq, amp"),
    ("a = test_perr_osc()\nb = test_perr_osc(freq=a.phase)", 2, 26,
     "'a' (test_perr_osc) has no output 'phase'; outputs: out"),
    ("one.out = 1", 1, 5, "'one' (one) has no input 'out'; inputs: none"),
    # products and quotients of streams
    ("a = test_perr_osc()\nb = test_perr_osc(freq=a*a)", 2, 24,
     "a product of two streams is not linear: use mul(a, b)"),
    ("a = test_perr_osc()\nb = test_perr_osc(freq=3 + (a + 1)*(2 + a))", 2, 28,
     "a product of two streams is not linear: use mul(a, b)"),
    ("a = test_perr_osc()\nb = test_perr_osc(freq=1/a)", 2, 24,
     "dividing by a stream is not linear: divide by a constant"),
    ("a = test_perr_osc()\nb = test_perr_osc(freq=a/(1 - 1))", 2, 27, "division by zero"),
    # kinds: both ports and kinds are named
    ("v = test_perr_vec()\na = test_perr_osc(freq=v)", 2, 24,
     "kind mismatch: a.freq is audio but v.out is vvalue"),
    ("a = test_perr_osc()\nv = test_perr_vec(v=2*a)", 2, 23, "kind mismatch: v.v is vvalue but a.out is audio"),
    ("v = test_perr_vec(v=1)", 1, 21, "kind mismatch: v.v is vvalue but a constant (one.out) is number"),
    ("n = test_perr_num(x=test_perr_osc())", 1, 21,
     "kind mismatch: n.x is number but n/test_perr_osc#1.out is audio; an audio stream gives a number "
     "through rms(...) or peak(...), and the control-rate oscillators sine_kr, saw_kr, tri_kr, "
     "square_kr and noise_kr are numbers to begin with"),
    ("u = identity(x=1)", 1, 16, "kind mismatch: u.x is vvalue but a constant (one.out) is number"),
    # bad constants
    ("a = test_perr_osc(freq=1e999)", 1, 24, "not a finite number: inf"),
    ("a = test_perr_osc(freq=2*1e308*10)", 1, 24, "not a finite number: this arithmetic overflows"),
    ("a = test_perr_osc(freq=\"440\")", 1, 24, "expected a number or a stream, got the string '440'"),
    ("a = test_perr_osc(freq=True)", 1, 24, "expected a number or a stream, got True"),
    ("a = test_perr_osc(freq=None)", 1, 24, "expected a number or a stream, got None"),
    ("a = test_perr_osc(freq=1j)", 1, 24, "expected a number or a stream, got 1j"),
    ("a = test_perr_dly(max=\"two\")", 1, 23, "argument 'max' of test_perr_dly must be a number, got 'two'"),
    ("a = test_perr_dly(max=x)", 1, 23,
     "argument 'max' of test_perr_dly must be a constant (a number, string, list or dict), not a name"),
    ("a = test_perr_dly(max=[1e999])", 1, 23, "argument 'max' of test_perr_dly: not a finite number: inf"),
    # input constants out of their ports' ranges: at the constant that sets them
    ("d = test_perr_rng(time=5)", 1, 24, "test_perr_rng time = 5 is out of range: 0 to 2 s (max=2.0)"),
    ("d = test_perr_rng(max=4,\n    time=-0.375)", 2, 10,
     "test_perr_rng time = -0.375 is out of range: 0 to 4 s (max=4.0)"),
    ("d = test_perr_rng(cutoff=-100)", 1, 26, "test_perr_rng cutoff = -100 is out of range: 0 to 100000 Hz"),
    ("d = test_perr_rng()\nd.cutoff = 900 - 1000 + 0*d", 2, 12,
     "test_perr_rng cutoff = -100 is out of range: 0 to 100000 Hz"),
    ("d = test_perr_rng(cutoff=50)\nd.cutoff -= 60", 2, 13,
     "test_perr_rng cutoff = -10 is out of range: 0 to 100000 Hz"),
    ("out = test_perr_rng(test_perr_osc(), time=3)", 1, 43,
     "test_perr_rng time = 3 is out of range: 0 to 2 s (max=2.0)"),
    # settings out of range
    ("fade(-1)", 1, 6, "fade must be a number of seconds from 0 to 30, got -1"),
    ("fade(50)", 1, 6, "fade must be a number of seconds from 0 to 30, got 50"),
    ("fade(\"slow\")", 1, 6, "fade must be a number of seconds from 0 to 30, got 'slow'"),
    ("fade(1e999)", 1, 6, "not a finite number: inf"),
    ("tempo(0)", 1, 7, "tempo must be a number of beats per minute > 0 and <= 1000, got 0"),
    ("tempo(2000)", 1, 7, "tempo must be a number of beats per minute > 0 and <= 1000, got 2000"),
    ("quant(-1)", 1, 7, "quant must be a number of beats from 0 (immediate) to 1024, got -1"),
    ("meter(2.5)", 1, 7, "meter must be a whole number of beats per bar from 1 to 64, got 2.5"),
    ("size(640)", 1, 1, "size takes 2 arguments (w, h), got 1"),
    ("size(0, 360)", 1, 6, "size must be two whole numbers of pixels from 1 to 8192, got 0"),
    ("size(640.0, 360)", 1, 6, "size must be two whole numbers of pixels from 1 to 8192, got 640.0"),
    ("size(640, 9000)", 1, 11, "size must be two whole numbers of pixels from 1 to 8192, got 9000"),
    ("fps(-30)", 1, 5, "fps must be a number of frames per second > 0, got -30"),
    ("seed(1.5)", 1, 6, "seed must be a whole number from 0 to 2**63-1, got 1.5"),
    ("seed(-1)", 1, 6, "seed must be a whole number from 0 to 2**63-1, got -1"),
    ("schedule(\"ordred\")", 1, 10,
     "schedule must be 'ordered' or 'synchronous', got 'ordred' (did you mean 'ordered'?)"),
    ("fade(0.1)\nfade(0.2)", 2, 1, "fade is set twice (first on line 1)"),
    ("fade(seconds=1)", 1, 6, "fade takes no keyword arguments: write fade(seconds)"),
    ("fade(x)", 1, 6, "expected a constant here, not a name"),
    # unknown settings
    ("fadee(1)", 1, 1,
     "unknown setting 'fadee' (did you mean 'fade'?); settings: fade, tempo, size, fps, seed, schedule, meter, quant, netfade, max_neurons"),
    ("tmepo(1)", 1, 1,
     "unknown setting 'tmepo' (did you mean 'tempo'?); settings: fade, tempo, size, fps, seed, schedule, meter, quant, netfade, max_neurons"),
    ("test_perr_osc(freq=1)", 1, 1,
     "test_perr_osc(...) on its own declares nothing: give it a name, as in `x = test_perr_osc(...)`"),
    # duplicate names
    ("a = test_perr_osc()\na = test_perr_osc(freq=2)", 2, 1, "duplicate name 'a': already declared on line 1"),
    ("a = knob(\"/x\")\nb = knob(\"/x\")", 2, 5, "knob address '/x' is used already by 'a' (line 1)"),
    # undeclared names
    ("a = test_perr_osc(freq=lfoo)\nlfo = test_perr_osc()", 1, 24, "undeclared name 'lfoo' (did you mean 'lfo'?)"),
    ("a = test_perr_osc()\na.freq = x", 2, 10, "undeclared name 'x'"),
    ("b.freq = 1", 1, 1, "undeclared name 'b'"),
    ("a = test_perr_osc(freq=test_perr_osc)", 1, 24,
     "undeclared name 'test_perr_osc' (test_perr_osc is a neuron type: write test_perr_osc(...) to make one)"),
    # sinks are destinations only
    ("a = test_perr_osc(freq=out)", 1, 24, "'out' is a sink: it has no outputs to read (use the streams that feed it)"),
    ("level = rms(out.left)", 1, 13, "'out' is a sink: it has no outputs to read (use the streams that feed it)"),
    # what is not part of the language
    ("import os", 1, 1, "an import is not part of the patch language: a patch holds only `name = type(...)`, "
     "`name.port = expr`, `name.port += expr` and settings such as `fade(0.05)`"),
    ("for i in range(3): pass", 1, 1, "a loop is not part of the patch language: a patch holds only "
     "`name = type(...)`, `name.port = expr`, `name.port += expr` and settings such as `fade(0.05)`"),
    ("\"doc\"", 1, 1, "a string on its own is not part of a patch: write comments with #"),
    ("a = test_perr_osc(freq=b[0])", 1, 24, "a subscript is not allowed in a stream expression: write sums of weight*name"),
    ("a = test_perr_osc(freq=lambda: 1)", 1, 24,
     "a lambda is not allowed in a stream expression: write sums of weight*name"),
    ("a = test_perr_osc(freq=2**3)", 1, 24,
     "'**' is not allowed in a patch: streams combine with +, - and * or / by a constant"),
    ("a = test_perr_osc(freq=not b)", 1, 24,
     "'not' is not allowed in a patch: streams combine with +, - and * or / by a constant"),
    ("a = test_perr_osc(freq=b.c.d)", 1, 24, "only `name` or `name.port` can be read: attribute chains go no deeper"),
    ("a.b.c = 1", 1, 1, "only `name.port` can be assigned: attribute chains go no deeper"),
    ("a[0] = 1", 1, 1, "cannot assign to a subscript: assign to `name` or `name.port`"),
    ("a = b = test_perr_osc()", 1, 5, "one target per statement: `a = b = ...` is not allowed"),
    ("a = 2*b", 1, 7, "undeclared name 'b'"),   # a named sum: of streams that exist
    ("a = 3", 1, 5, "`a = ...` names no stream: declare a neuron with a call, such as `a = sine(freq=220)`, "
                    "or name a sum of streams, such as `a = 0.5*a + 0.5*b`"),
    ("a = test_perr_vec()\nb = 2*a", 2, 5, "`b = ...` names a sum of vvalue streams, which has no neuron "
                                         "type: feed the sum straight into the input that takes it"),
    # a row given twice: the second `=` would silently win
    ("a = test_perr_osc()\nout = 0.2*a\nout = 0.3*a", 3, 1,
     "out is set twice (first on line 2): write `out += ...` to add to it"),
    ("a = test_perr_osc(freq=3)\na.freq = 4\na.freq = 5", 3, 1,
     "a.freq is set twice (first on line 2): write `a.freq += ...` to add to it"),
    ("a = test_perr_osc()\nb = test_perr_dly()\nb.in_ = a\nb.in_ = 0.5*a", 4, 1,
     "b.in_ is set twice (first on line 3): write `b.in_ += ...` to add to it"),
    ("a = test_perr_osc()\na += 1", 2, 1, "`a += ...` needs a port: write `a.freq += ...`"),
    ("a = test_perr_osc()\na *= 2", 2, 1, "*= is not allowed: a row is changed with `=`, `+=` or `-=`"),
    ("one = test_perr_osc()", 1, 1, "'one' is built in: it cannot be declared or assigned"),
    ("a = test_perr_osc(1, 2, 3)", 1, 25, "test_perr_osc takes at most 2 positional inputs (freq, amp), got 3"),
    ("a = test_perr_osc(1, freq=2)", 1, 22, "input 'freq' of test_perr_osc is given twice"),
    ("a = test_perr_osc(freq=1, freq=2)", 1, 27, "input 'freq' of test_perr_osc is given twice"),
    ("a = test_perr_osc(*b)", 1, 19, "`*` unpacking is not allowed in a patch"),
    ("a = test_perr_osc(**b)", 1, 19, "`**` unpacking is not allowed in a patch"),
    ("u = identity(1)", 1, 14, "identity has no positional inputs: name each port, as in identity(x=...)"),
    ("u = identity(x=u.x)\na = test_perr_osc(freq=u)", 2, 24,
     "'u' (identity) has no default output: name the port, as in u.x"),
    ("a = knob(\"/x\", 0.5, 0.02, 3)", 1, 27, "knob takes 3 positional arguments (address, default, lag), got 4"),
    ("a = knob(\"x\")", 1, 10, "knob address must be a string starting with '/', got 'x'"),
]


@pytest.mark.parametrize("text,line,col,message", CASES, ids=[c[3][:50] for c in CASES])
def test_error_text_and_position(text, line, col, message):
    e = error(text, "p.dmm")
    assert (e.message, e.line, e.col) == (message, line, col)
    assert str(e).startswith(f"p.dmm:{line}:{col}: {message}")


def test_a_constant_out_of_range_is_the_same_error_read_afresh_or_by_change():
    from dmmlive.patch.grammar import Patch
    good = parse("d = test_perr_rng(time=1)\nout = d\n", "p.dmm", previous=Patch(), types=TYPES)
    assert good.rows[("d", "time")] == {("one", "out"): 1.0}  # in range: read
    bad = "d = test_perr_rng(time=2.5)\nout = d\n"
    with pytest.raises(PatchError) as e:
        parse(bad, "p.dmm", previous=good, types=TYPES)  # the incremental reading
    assert (e.value.line, e.value.col) == (1, 24) and e.value.message == error(bad).message
    ok = parse("d = test_perr_rng(max=3, time=2.5)\nout = d\n", "p.dmm", previous=good, types=TYPES)
    assert ok.rows[("d", "time")] == {("one", "out"): 2.5}  # within its own max


def test_an_unknown_sink_is_named():
    no_screen = TYPES.copy()  # as where the image layer is not loaded
    no_screen.pop("screen", None)
    e = error("a = test_perr_osc()\nscreen = a", types=no_screen)
    assert (e.line, e.col, e.message) == (2, 1, "unknown sink 'screen': no 'screen' type is loaded")


def test_an_unknown_type_is_reported_where_it_is_written_even_when_used_earlier():
    e = error("a = test_perr_osc(freq=b)\nb = nosuchtype()")
    assert (e.line, e.col, e.message) == (2, 5, "unknown neuron type 'nosuchtype'")


def test_the_first_error_in_source_order_is_reported():
    e = error("a = test_perr_osc(freq=x)\nfadee(1)\n")
    assert (e.line, e.message) == (1, "undeclared name 'x'")


def test_huge_and_deep_input_is_an_error_not_a_crash():
    e = error("a = test_perr_osc(freq=" + "9" * 4000 + ")")
    assert e.message == "not a finite number: an integer of about 4000 digits"
    e = error("seed(" + "9" * 4000 + "*" + "9" * 4000 + ")")
    assert e.message.startswith("seed must be a whole number from 0 to 2**63-1, got an integer of about")
    e = error("a = test_perr_osc(freq=" + "-" * 5000 + "1)")
    assert e.line == 1
    p = parse("a = test_perr_osc(freq=" + " + ".join(["1"] * 500) + ")", types=TYPES)  # long sums are fine
    assert p.rows[("a", "freq")] == {("one", "out"): 500.0}
