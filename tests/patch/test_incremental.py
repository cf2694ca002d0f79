"""A save scales with the change: incremental parse == fresh parse, fast diff == full diff.

`parse(text, path, previous=p)` must give exactly what `parse(text, path)` gives (the same
declarations with their positions, rows in the same order, defaults, settings, knobs, W),
or raise the same PatchError; `diff` must give exactly `diff_full`'s (ΔW, declare), with a
running W that the network or OSC wrote into and running declarations that differ.
"""
import pickle
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import vv
from dmmlive.patch import Patch, PatchError, parse
from dmmlive.patch.diff import diff, diff_full
from dmmlive.patch.live import EMPTY_PATCH, PatchSession, running_decls
from dmmlive.patch.parse import _full_matrix

from .test_fuzz import SEEDS, expr, identifier, mutate, statement, type_names

EXAMPLES = [p.read_text() for p in sorted((Path(__file__).parents[2] / "patches").glob("*.dmm"))]
GENERATED = "fade(0.05)\n" + "".join(f"s{i} = sine(freq={110 + 7 * i}, amp=0.5)\n" for i in range(30)) + \
    "out = " + " + ".join(f"0.03*s{i}" for i in range(30)) + "\nout.left += 0.1*sine(freq=3)\n"
STARTS = EXAMPLES + SEEDS + [GENERATED]


def snapshot(p: Patch):
    """Everything a Patch holds, in order (dict order included)."""
    return (p.path,
            [(n, d.type, d.args, d.line, d.col) for n, d in p.neurons.items()],
            [(k, list(r.items())) for k, r in p.rows.items()],
            list(p.defaults.items()), list(p.settings.items()), list(p.knobs.items()))


def outcome(text, previous=None):
    try:
        return parse(text, "live.dmm", previous=previous)
    except PatchError as e:
        return e


def assert_same(text, previous, reused=False):
    """Incremental against `previous` == fresh; returns the incremental result. `reused`: it
    must have come from the incremental path (not the full parse it falls back on)."""
    fresh, inc = outcome(text), outcome(text, previous)
    if reused:
        assert not isinstance(inc, PatchError) and inc._stmts is not None and inc._base == previous._serial
    if isinstance(fresh, PatchError):
        assert isinstance(inc, PatchError), text
        assert (str(inc), inc.line, inc.col, inc.message) == (str(fresh), fresh.line, fresh.col, fresh.message)
        return inc
    assert not isinstance(inc, PatchError), (str(inc), text)
    assert snapshot(inc) == snapshot(fresh)
    assert inc == fresh
    full = _full_matrix(fresh.rows, fresh.defaults)
    assert inc.matrix() == full and inc.to_matrix() == fresh.to_matrix()
    if inc._changes is not None:  # the W built from the base's and the rows that changed
        base = previous.matrix()
        rebuilt = {**base, **{d: s for d, s in inc._changes.items() if s}}
        for d, s in inc._changes.items():
            if not s:
                rebuilt.pop(d, None)
        assert rebuilt == full
    return inc


# ---- edits -------------------------------------------------------------------------------------
def line_edit(text: str, rnd: random.Random) -> str:
    """A statement-level edit: insert, delete, change, duplicate or swap lines, a number or a
    name, an anonymous call under a shared target, an error introduced or a comment."""
    lines = text.split("\n")
    i = rnd.randrange(len(lines))
    r = rnd.random()
    if r < 0.15:
        lines.insert(rnd.randrange(len(lines) + 1), statement(rnd))
    elif r < 0.25:
        del lines[i]
    elif r < 0.35:
        j = rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif r < 0.45:
        lines.insert(rnd.randrange(len(lines) + 1), lines[i])
    elif r < 0.6:  # change a number in one line
        nums = list(re.finditer(r"\d+(\.\d+)?", lines[i]))
        if nums:
            m = rnd.choice(nums)
            lines[i] = lines[i][:m.start()] + repr(round(rnd.uniform(0, 500), 2)) + lines[i][m.end():]
    elif r < 0.7:  # anonymous calls: counted per target and type in source order
        target = rnd.choice(["out.left", "out.right", "out", "screen", "a.freq"])
        lines.insert(rnd.randrange(len(lines) + 1),
                     f"{target} {rnd.choice(['+=', '-=', '='])} 0.1*{rnd.choice(['sine', 'saw', 'tri'])}(freq={rnd.randrange(1, 9)})")
    elif r < 0.78:  # a declaration's type changes under the lines that read it
        lines[i] = re.sub(r"=\s*(\w+)\(", lambda m: f"= {rnd.choice(type_names())}(", lines[i], count=1)
    elif r < 0.84:
        lines.insert(rnd.randrange(len(lines) + 1), f"{identifier(rnd)} = sine(freq={expr(rnd)})")
    elif r < 0.9:
        lines.insert(rnd.randrange(len(lines) + 1), "# " + identifier(rnd))
    elif r < 0.95:
        lines[i] = "    " + lines[i]  # indented: an error, or part of the statement above
    else:
        lines.insert(i, rnd.choice(["a = (1 +", ")", "'''", "x = \\", "b = sine(freq=2,", "  freq=3)"]))
    return "\n".join(lines)


def edit(text: str, rnd: random.Random) -> str:
    return line_edit(text, rnd) if rnd.random() < 0.7 else mutate(text, rnd)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_incremental_parse_equals_fresh_over_edit_sequences(rnd):
    text = rnd.choice(STARTS)
    if rnd.random() < 0.2:
        text = text.replace("\n", "\r\n")
    prev = assert_same(text, EMPTY_PATCH)
    if isinstance(prev, PatchError):
        prev = EMPTY_PATCH
    for _ in range(rnd.randrange(1, 8)):
        text = edit(text, rnd)
        got = assert_same(text, prev)
        if not isinstance(got, PatchError):  # as the app: the next save is parsed against the last good one
            prev = got if rnd.random() < 0.9 else pickle.loads(pickle.dumps(got))


def test_statements_that_did_not_change_are_reused_and_positions_shift():
    p1 = parse(GENERATED, "g.dmm", previous=EMPTY_PATCH)
    text = "# a comment\n\n" + GENERATED.replace("s7 = sine(freq=159,", "s7 = sine(freq=160,")
    p2 = assert_same(text, p1, reused=True)
    assert p2.rows[("s3", "freq")] is p1.rows[("s3", "freq")]        # reused, not re-parsed
    assert p2.rows[("out", "right")] is p1.rows[("out", "right")]  # (out.left has a +=: summed anew)
    assert p2.rows[("s7", "freq")] == {("one", "out"): 160.0}
    assert (p1.neurons["s3"].line, p2.neurons["s3"].line) == (5, 7)  # two lines inserted above
    assert (p2.neurons["out:left/sine#1"].line, p2.neurons["out:left/sine#1"].col) == (35, 17)
    assert p2._base == p1._serial and p2._changes == {"s7": {"freq": {"one": {"out": 160.0}}, "amp": {"one": {"out": 0.5}}}}


def test_anonymous_names_follow_the_order_of_calls_under_a_target():
    text = "a = sine()\nout.left = 0.1*sine(freq=1)\nout.left += 0.2*sine(freq=2)\n"
    p1 = parse(text, "x.dmm", previous=EMPTY_PATCH)
    assert p1.neurons["out:left/sine#2"].line == 3
    text2 = "a = sine()\nout.left = 0.3*sine(freq=5)\n" + text.split("\n", 1)[1]
    p2 = assert_same(text2, p1, reused=True)
    assert [(n, d.line) for n, d in p2.neurons.items() if n.startswith("out:left/")] == [
        ("out:left/sine#1", 2), ("out:left/sine#2", 3), ("out:left/sine#3", 4)]
    assert p2.rows[("out", "left")] == {("out:left/sine#2", "out"): 0.1, ("out:left/sine#3", "out"): 0.2}
    assert p2.neurons["out:left/sine#2"].args == p1.neurons["out:left/sine#1"].args
    p3 = assert_same(text.replace("out.left = 0.1*sine(freq=1)\n", ""), p1, reused=True)  # #2 becomes #1
    assert list(p3.neurons) == ["a", "out:left/sine#1"] and p3.neurons["out:left/sine#1"].line == 2
    assert p3.rows[("out", "left")] == {("out:left/sine#1", "out"): 0.2}


def test_a_changed_declaration_reaches_the_lines_that_read_it():
    text = "a = sine(freq=2)\nb = lowpass(a, cutoff=300)\nout = b\n"
    p1 = parse(text, "x.dmm", previous=EMPTY_PATCH)
    bad = assert_same(text.replace("a = sine(freq=2)", 'a = const(value={"x": 1.0})'), p1)  # line 2 unchanged
    assert str(bad).startswith("live.dmm:2:13: kind mismatch: b.in is audio but a.out is vvalue")
    assert assert_same(text.replace("a = sine", "a = saw"), p1, reused=True).rows[("b", "in")] == {("a", "out"): 1.0}


def test_errors_are_the_fresh_parse_s_and_the_fix_is_incremental_again():
    p1 = parse(GENERATED, "live.dmm", previous=EMPTY_PATCH)
    broken = GENERATED.replace("s4 = sine(freq=138,", "s4 = sinee(freq=138,")
    e = assert_same(broken, p1)
    assert str(e).startswith("live.dmm:6:6: unknown neuron type 'sinee' (did you mean 'sine'?)")
    e = assert_same(GENERATED.replace("s4 = sine(freq=138, amp=0.5)\n", "s4 = sine(freq=138, amp=0.5\n"), p1)
    assert e.message.startswith("syntax error")
    fixed = assert_same(GENERATED.replace("freq=138", "freq=139"), p1, reused=True)
    assert fixed.rows[("s0", "freq")] is p1.rows[("s0", "freq")]


# ---- the diff -------------------------------------------------------------------------------
def perturbed_running(rnd, patch, names):
    """A running (W, decls) as the patch left it, then written by the network or OSC."""
    W = vv.add_into(dict(patch.matrix()), {"self": {"delta": {"edits": {"delta": 1.0}}}})
    for _ in range(rnd.randrange(4)):
        d = rnd.choice(names + ["out", "self"])
        p = rnd.choice(["freq", "amp", "left", "in", "delta", "cutoff"])
        W = vv.add_into(W, {d: {p: {rnd.choice(names + ["one"]): {"out": rnd.choice([0.5, -1.0, 1e-17])}}}})
    decls = {n: (d.type, dict(d.args)) for n, d in patch.neurons.items()}
    for n in list(decls)[:rnd.randrange(3)]:
        if rnd.random() < 0.5:
            del decls[n]
        else:
            decls[n] = ("saw" if decls[n][0] != "saw" else "tri", {})
    return W, decls


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_fast_diff_equals_full_diff(rnd):
    text = rnd.choice(STARTS)
    old = outcome(text, EMPTY_PATCH)
    if isinstance(old, PatchError):
        return
    for _ in range(rnd.randrange(1, 5)):
        new_text = edit(text, rnd)
        new = outcome(new_text, old)
        if isinstance(new, PatchError):
            continue
        names = list(old.neurons) or ["a"]
        W, decls = perturbed_running(rnd, old, names)
        want = diff_full(W, decls, old, new)
        assert diff(W, decls, old, new) == want
        # as in the engine: both patches pickled across, the old one with its W rebuilt there
        e_old, e_new = pickle.loads(pickle.dumps(old)), pickle.loads(pickle.dumps(new))
        e_old.matrix()
        assert diff(W, decls, e_old, e_new) == want
        assert e_new.matrix() == new.matrix()
        assert diff(W, decls, None, new) == diff_full(W, decls, None, new)
        old, text = new, new_text


def test_the_diff_resets_a_row_osc_wrote_even_when_the_save_leaves_it():
    m = dmmlive.Machine(block=64)
    s = PatchSession(m, "x.dmm")
    text = "a = sine(freq=330)\nb = sine(freq=110)\nout = 0.3*a + 0.1*b\n"
    s.apply(text, now=True)
    m.apply({"a": {"freq": {"one": {"out": 170.0}}}})           # as /dmm/set: a.freq = 500
    old = s.patch
    new = parse(text.replace("0.1*b", "0.2*b"), "x.dmm", previous=old)
    assert new._changes.keys() == {"out"}
    delta, declare = diff(m.pending_matrix(), running_decls(m), old, new)
    assert delta == {"a": {"freq": {"one": {"out": -170.0}}},
                     "out": {"left": {"b": {"out": 0.1}}, "right": {"b": {"out": 0.1}}}}
    assert declare == {}
    assert (delta, declare) == diff_full(m.pending_matrix(), running_decls(m), old, new)


def test_session_applies_in_sequence_match_a_machine_given_the_full_diffs():
    """Two machines, one driven by PatchSession (fast diff, incremental parse), one by the full
    diff of fresh parses: the same W and declarations after every text."""
    texts = [GENERATED, GENERATED.replace("0.03*s4", "0.05*s4"),
             GENERATED.replace("s9 = sine(freq=173,", "s9 = saw(freq=173,"),
             "c = tri(freq=5)\n" + GENERATED, GENERATED.replace("s2 = sine(freq=124, amp=0.5)\n", "").replace("0.03*s2 + ", "")]
    m1, m2 = dmmlive.Machine(block=64), dmmlive.Machine(block=64)
    s = PatchSession(m1, "g.dmm")
    old = None
    for i, t in enumerate(texts):
        s.apply(t, now=(i == 0))
        new = parse(t, "g.dmm")
        delta, declare = diff_full(m2.pending_matrix(), running_decls(m2), old, new)
        if i == 0:
            m2.apply(delta, declare, defaults=False)
        else:
            m2.edit(delta, declare, fade=0.05, replace=True, defaults=False,
                    retire=[n for n in old.neurons if n not in new.neurons])
        old = new
        for m in (m1, m2):
            m.tick()
        assert m1.matrix == m2.matrix
        assert {n: (d.type.name, d.args) for n, d in m1.pending_decls().items()} == \
            {n: (d.type.name, d.args) for n, d in m2.pending_decls().items()}
