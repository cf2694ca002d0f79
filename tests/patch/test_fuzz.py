"""Fuzzing the parser: any text gives a Patch or a PatchError placed inside the text, nothing else.

The generators here are shared with benchmarks/fuzz_parser.py (which runs many more texts);
they take a `random.Random`, which hypothesis supplies (and shrinks) in the tests below.
"""
import math
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.core.registry import TYPES, compatible
from dmmlive.neurons import control  # noqa: F401  (knob)
from dmmlive.patch import Patch, PatchError, parse

SEEDS = [
    """\
# patches/demo.dmm
fade(0.05)
tempo(120)
lfo    = sine(freq=0.2)
bass   = saw(freq=55 + 3*lfo)
filt   = lowpass(bass, cutoff=400 + 300*lfo, q=0.8)
echo   = delay(filt + 0.45*echo, time=0.375, max=2.0)   # a cycle: feedback
out    = 0.3*filt + 0.2*echo
out.right += 0.1*bass
level  = rms(filt)
vol    = knob("/1/fader1", default=0.5, lag=0.02)
""",
    """\
size(1280, 720)
fps(60)
seed(3)
schedule("synchronous")
t = timer(timer=t)
u = identity(x=u.x + 0.5*t.timer, y=self.matrix)
self.delta += 0.001*u.x
a = accum(accum=a.single, delta=const(value={"a": 1.0}))
""",
    """\
kick = sample(clock(bpm=120), file="kick.wav")
tone = sine(freq=110 + 20*sine(freq=0.3) + 200*knob("/2/x", lag=0), amp=0.3*adsr(clock(bpm=240)))
f = lowpass(in_=tone + 0.5*kick, cutoff=300 + 1000*rms(kick), q=0.7)
out.left = f
out.right = 0.9*f - 0.1*delay(f, time=1/4)
out += -0.05*tone / 2
""",
]

NAMES = ["a", "b", "lfo", "out", "screen", "self", "one", "edits", "x1", "é", "in", "fade", "sine"]
PORTS = ["freq", "amp", "in", "in_", "cutoff", "q", "time", "left", "right", "x", "delta", "matrix",
         "out", "timer", "single", "phase", "max", "address", "default", "lag", "trig", "file"]
NUMBERS = ["0", "1", "-3", "0.5", "1e999", "1e308", "9" * 40, "1/0", "2**3", "1j", "True", "None",
           "'s'", "0x10", "1_000", ".5", "-0.0", "1e-320", "(1)", "[1, 2]", "{'a': 1}"]
SETTING_NAMES = ["fade", "tempo", "size", "fps", "seed", "schedule", "fadee", "sync"]
JUNK = ["import os", "def f(): pass", "for i in range(3): pass", "if a: b = 1", "del a", "pass",
        "a[0] = 1", "a, b = 1, 2", "lambda: 1", "x: int = 3", "with a: pass", "@d\ndef g(): pass",
        "class C: pass", "try:\n  a = 1\nexcept: pass", "a = b = c()", "\"doc\"", "...", "a.b.c = 1",
        "while 1: pass", "a := 1", "print(1)", "global a", "assert a", "raise a", "return 1"]
CHARS = "()[]{}.,=+-*/#'\"\n\t \\:;@%&|^~<>!?0123456789abcxyz_é€\u2028\x00\r\ufeff\x0c\ud800"


def type_names():
    return sorted(n for n in TYPES if not n.startswith(("test_", "bench_"))) + ["sinee", "nosuch"]


def identifier(rnd) -> str:
    first = "abcdefghijklmnopqrstuvwxyz_éΩ"
    return rnd.choice(first) + "".join(rnd.choice(first + "0123456789") for _ in range(rnd.randrange(6)))


def number(rnd) -> str:
    r = rnd.random()
    if r < 0.5:
        return rnd.choice(NUMBERS)
    if r < 0.8:
        return repr(round(rnd.uniform(-1000, 1000), rnd.randrange(6)))
    return repr(rnd.choice([0.0, 1e-300, 1e300, 2.0 ** 1000, float(rnd.randrange(10 ** 6))]))


def name(rnd) -> str:
    return rnd.choice(NAMES) if rnd.random() < 0.7 else identifier(rnd)


def ref(rnd) -> str:
    n = name(rnd)
    return f"{n}.{rnd.choice(PORTS)}" if rnd.random() < 0.3 else n


def call(rnd, depth: int) -> str:
    t = rnd.choice(type_names())
    args = []
    for _ in range(rnd.randrange(4)):
        if rnd.random() < 0.3:
            args.append(expr(rnd, depth + 1))
        elif rnd.random() < 0.2:
            args.append(f"{rnd.choice(PORTS)}={rnd.choice(NUMBERS + ['[1, 2]', repr('/a/b')])}")
        else:
            args.append(f"{rnd.choice(PORTS)}={expr(rnd, depth + 1)}")
    return f"{t}({', '.join(args)})"


def expr(rnd, depth: int = 0) -> str:
    r = rnd.random()
    if depth > 3 or r < 0.3:
        return ref(rnd) if rnd.random() < 0.6 else number(rnd)
    if r < 0.6:
        op = rnd.choice(["+", "-", "*", "*", "/", "+", "**", "%"])
        return f"{expr(rnd, depth + 1)} {op} {expr(rnd, depth + 1)}"
    if r < 0.7:
        return f"({expr(rnd, depth + 1)})"
    if r < 0.8:
        return f"-{expr(rnd, depth + 1)}"
    if r < 0.95:
        return call(rnd, depth + 1)
    return rnd.choice(["a[0]", "lambda: 1", "'str'", "a.b.c", "f(*x)", "[a]", "a if b else c", "a < b"])


def statement(rnd) -> str:
    r = rnd.random()
    if r < 0.35:
        return f"{name(rnd)} = {call(rnd, 0)}"
    if r < 0.55:
        return f"{ref(rnd)} {rnd.choice(['=', '+=', '-=', '*='])} {expr(rnd)}"
    if r < 0.7:
        s = rnd.choice(SETTING_NAMES)
        args = ", ".join(number(rnd) if rnd.random() < 0.8 else repr(rnd.choice(["ordered", "synchronous", "x"]))
                         for _ in range(rnd.choice([1, 1, 2, 0, 3])))
        return f"{s}({args})"
    if r < 0.8:
        return "# " + identifier(rnd)
    if r < 0.9:
        return ""
    return rnd.choice(JUNK)


def random_patch(rnd) -> str:
    return "\n".join(statement(rnd) for _ in range(rnd.randrange(1, 12))) + rnd.choice(["", "\n", "\r\n"])


def mutate(text: str, rnd) -> str:
    """One random edit: delete, insert, swap or replace tokens, numbers or lines."""
    r = rnd.random()
    n = len(text)
    if r < 0.2 and n:
        i = rnd.randrange(n)
        return text[:i] + text[i + rnd.randrange(1, 8):]
    if r < 0.4:
        i = rnd.randrange(n + 1)
        if rnd.random() < 0.8:
            s = "".join(rnd.choice(CHARS) for _ in range(rnd.randrange(1, 4)))
        else:  # any code point, surrogates and private use included
            s = chr(rnd.randrange(0x110000))
        return text[:i] + s + text[i:]
    toks = re.findall(r"\w+|\s+|.", text, re.S)
    if r < 0.55 and len(toks) > 1:
        i, j = rnd.randrange(len(toks)), rnd.randrange(len(toks))
        toks[i], toks[j] = toks[j], toks[i]
        return "".join(toks)
    if r < 0.7 and toks:
        words = [i for i, t in enumerate(toks) if re.match(r"[^\W\d]\w*$", t)]
        if words:
            toks[rnd.choice(words)] = rnd.choice([identifier(rnd), rnd.choice(type_names()), rnd.choice(PORTS)])
            return "".join(toks)
    if r < 0.85 and toks:
        nums = [i for i, t in enumerate(toks) if t[:1].isdigit()]
        if nums:
            toks[rnd.choice(nums)] = number(rnd)
            return "".join(toks)
    lines = text.split("\n")
    i = rnd.randrange(len(lines))
    k = rnd.random()
    if k < 0.3:
        lines.insert(rnd.randrange(len(lines) + 1), lines[i])
    elif k < 0.6:
        j = rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif k < 0.8:
        lines.insert(i, statement(rnd))
    else:
        del lines[i]
    return "\n".join(lines)


def make_text(rnd) -> str:
    """A valid patch, a generated one or garbage, then 0-4 mutations."""
    r = rnd.random()
    if r < 0.45:
        text = rnd.choice(SEEDS)
    elif r < 0.9:
        text = random_patch(rnd)
    else:
        text = "".join(rnd.choice(CHARS + "abcdefgh=()") for _ in range(rnd.randrange(60)))
    for _ in range(rnd.choice([0, 1, 1, 2, 3, 4])):
        text = mutate(text, rnd)
    return text


BUILTIN = {"self", "one", "edits"}


def check(text: str) -> str:
    """Parse `text`; 'ok' or 'error' when the outcome is well formed, else an AssertionError."""
    try:
        p = parse(text, "fuzz.dmm")
    except PatchError as e:
        body = text[1:] if text.startswith("\ufeff") else text
        lines = re.split(r"\r\n|\r|\n", body)
        assert 1 <= e.line <= len(lines), (e.line, len(lines))
        assert 1 <= e.col <= len(lines[e.line - 1]) + 1, (e.line, e.col, lines[e.line - 1])
        assert str(e).startswith(f"fuzz.dmm:{e.line}:{e.col}: {e.message}")
        assert e.message
        return "error"
    assert isinstance(p, Patch)
    W, declare = p.to_matrix()
    sinks = {n for n, t in TYPES.items() if t.pinned and not t.outputs}
    for dst, ins in W.items():
        assert dst in declare or dst in BUILTIN or dst in sinks, dst
        dt = TYPES[declare[dst][0]] if dst in declare else TYPES[dst]
        for port, srcs in ins.items():
            assert dt.input_kind(port) is not None, (dst, port)
            for src, outs in srcs.items():
                assert src in declare or src in BUILTIN, src
                st_ = TYPES[declare[src][0]] if src in declare else TYPES[src]
                for out, w in outs.items():
                    assert isinstance(w, float) and math.isfinite(w) and w != 0.0, w
                    assert compatible(dt.input_kind(port), st_.output_kind(out)), (dst, port, src, out)
    for n, (t, args) in declare.items():
        assert t in TYPES and not TYPES[t].pinned
    assert set(p.knobs.values()) <= set(declare)
    return "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_generated_and_mutated_patches_parse_or_fail_cleanly(rnd):
    check(make_text(rnd))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_text_parses_or_fails_cleanly(text):
    check(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(CHARS) + NAMES + PORTS + NUMBERS + ["sine(", "out", " = "]),
                max_size=40).map("".join))
def test_token_soup_parses_or_fails_cleanly(text):
    check(text)


def test_the_seed_patches_are_valid():
    for text in SEEDS:
        assert check(text) == "ok", text


def test_mutations_give_both_outcomes():
    rnd = random.Random(1)
    outcomes = {check(make_text(rnd)) for _ in range(300)}
    assert outcomes == {"ok", "error"}
