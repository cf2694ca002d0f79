"""A save scales with the change: incremental parse == fresh parse, fast diff == full diff.

`parse(text, path, previous=p)` must give exactly what `parse(text, path)` gives (the same
declarations with their positions, rows in the same order, defaults, settings, knobs, W),
or raise the same PatchError; `diff` must give exactly `diff_full`'s (ΔW, declare), with a
running W that the network or OSC wrote into and running declarations that differ.
"""
import pickle
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dmmlive
from dmmlive import vv
from dmmlive.patch import Patch, PatchError, parse
from dmmlive.core.errors import DmmError
from dmmlive.patch.diff import diff, diff_full
from dmmlive.patch.incremental import PatchChange, change_of
from dmmlive.patch.live import EMPTY_PATCH, PatchSession, running_decls
from dmmlive.patch.grammar import full_matrix

from .test_fuzz import SEEDS, expr, identifier, mutate, statement, type_names

EXAMPLES = [p.read_text() for p in sorted((Path(__file__).parents[2] / "patches").glob("*.dmm"))]
GENERATED = "fade(0.05)\n" + "".join(f"s{i} = sine(freq={110 + 7 * i}, amp=0.5)\n" for i in range(30)) + \
    "out = " + " + ".join(f"0.03*s{i}" for i in range(30)) + "\nout.left += 0.1*sine(freq=3)\n"
# a long sum of every form a term takes (weights before and after, divisions, unary signs,
# ports, constants, a name twice), for edits inside it
TERMS = [f"0.0{i % 9 + 1}*s{i}" for i in range(30)] + [
    "s1/4", "-s2", "2*-s3", "s4.out*0.5", "- 0.25 * s5", "1e-3*s6", ".5", "3", "s7*2*3", "+s8", "s1"]
LONG = "fade(0.05)\n" + "".join(f"s{i} = sine(freq={110 + 7 * i}, amp=0.5)\n" for i in range(30)) + \
    "out.left = " + " + ".join(TERMS) + "  # the mix\n\nout.right -= 0.5*s0 - s1\n"
STARTS = EXAMPLES + SEEDS + [GENERATED, LONG]


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
        assert not isinstance(inc, PatchError) and inc.stmts is not None and inc.base_serial == previous.serial
    if isinstance(fresh, PatchError):
        assert isinstance(inc, PatchError), text
        assert (str(inc), inc.line, inc.col, inc.message) == (str(fresh), fresh.line, fresh.col, fresh.message)
        return inc
    assert not isinstance(inc, PatchError), (str(inc), text)
    assert snapshot(inc) == snapshot(fresh)
    assert inc == fresh
    if inc.spans is not None:  # what the next save's region parse reads: the statements' places
        src, offs = inc.spans
        assert src == text.lstrip("\ufeff") and len(offs) == len(inc.stmts) + 1 and offs[-1] == len(src)
        assert "".join(st.text for st in inc.stmts) == src[offs[0]:]
        for st, o in zip(inc.stmts, offs):
            assert src.startswith(st.text, o) and st.line == 1 + src.count("\n", 0, o)
        assert Counter(st.text for st in inc.stmts) == {t: len(c) for t, c in inc.stmt_cache.items()}
    full = full_matrix(fresh.rows, fresh.defaults)
    assert inc.matrix() == full and inc.to_matrix() == fresh.to_matrix()
    if inc.changes is not None:  # the W built from the base's and the rows that changed
        base = previous.matrix()
        rebuilt = {**base, **{d: s for d, s in inc.changes.items() if s}}
        for d, s in inc.changes.items():
            if not s:
                rebuilt.pop(d, None)
        assert rebuilt == full
        for (d, p), edits in inc.entry_changes.items():  # entries told apart from the rest of the row
            assert edits and all(vv.path(full, d, p, src, o) == (w or {}) for (src, o), w in edits.items())
            assert all(vv.path(base, d, p, src, o) != (w or {}) for (src, o), w in edits.items())
            assert {k for k, w in fresh.rows[(d, p)].items() if previous.rows[(d, p)].get(k) != w} | \
                (previous.rows[(d, p)].keys() - fresh.rows[(d, p)].keys()) == edits.keys()
        assert_change_rebuilds(inc, previous, fresh, full)
    return inc


def assert_change_rebuilds(inc, previous, fresh, full):
    """What the app sends the engine (a PatchChange, pickled) rebuilds `inc` on the engine's copy
    of `previous` (pickled, its W built there), change record included, and nothing elsewhere."""
    sent = change_of(inc)
    assert isinstance(sent, PatchChange)
    sent = pickle.loads(pickle.dumps(sent))
    engine_base = pickle.loads(pickle.dumps(previous))
    engine_base.matrix()
    got = sent.patch(engine_base)
    assert got == fresh and got.serial == inc.serial and got.base_serial == previous.serial
    assert got.matrix() == full and got.changes == inc.changes and got.entry_changes == inc.entry_changes
    assert got.decl_changes == inc.decl_changes and got.dropped == inc.dropped
    assert got.dropped == [n for n in previous.neurons if n not in fresh.neurons]
    assert sent.patch(pickle.loads(pickle.dumps(inc))) is None  # another base: nothing


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


ODD_TERMS = ["2*3*s1", "-s2", "s3/2", "1e308*1e308*s1", "s0*s1", "s99", "0.5", "out", "s1.freq", "s1.out",
             "1e-5*s1.out", "s1 / 0", "007", "if", "None", "s2*-2", "1.5e3*s4", "-0.0*s5", "s6-s6", "one"]


def term_edit(text: str, rnd: random.Random) -> str:
    """An edit inside a one-line sum: a weight changed, a term added, dropped, moved or doubled,
    a sign flipped, an odd term (an error, a constant, an overflow, a name twice)."""
    lines = text.split("\n")
    sums = [i for i, ln in enumerate(lines) if re.match(r"\w+(\.\w+)? *[-+]?= *[^(]* [-+] ", ln)]
    if not sums:
        return line_edit(text, rnd)
    i = rnd.choice(sums)
    head, rhs = re.match(r"(\w+(?:\.\w+)? *[-+]?= *)(.*)", lines[i]).groups()
    parts = re.split(r"( [-+] )", rhs)
    terms, signs = parts[0::2], parts[1::2]
    k = rnd.randrange(len(terms))
    r = rnd.random()
    if r < 0.35:
        nums = list(re.finditer(r"\d+(\.\d+)?", terms[k]))
        if nums:
            m = rnd.choice(nums)
            terms[k] = terms[k][:m.start()] + repr(round(rnd.uniform(0, 5), 3)) + terms[k][m.end():]
    elif r < 0.5:
        terms.insert(k, rnd.choice(ODD_TERMS + terms))
        signs.insert(min(k, len(signs)), rnd.choice([" + ", " - "]))
    elif r < 0.65 and len(terms) > 1:
        del terms[k]
        del signs[min(k, len(signs) - 1)]
    elif r < 0.75 and signs:
        j = rnd.randrange(len(signs))
        signs[j] = " - " if signs[j] == " + " else " + "
    elif r < 0.85:
        j = rnd.randrange(len(terms))
        terms[k], terms[j] = terms[j], terms[k]
    else:
        terms[k] = rnd.choice(ODD_TERMS)
    rhs = terms[0] + "".join(sg + t for sg, t in zip(signs, terms[1:]))
    lines[i] = head + rhs
    return "\n".join(lines)


def edit(text: str, rnd: random.Random) -> str:
    r = rnd.random()
    return line_edit(text, rnd) if r < 0.5 else term_edit(text, rnd) if r < 0.75 else mutate(text, rnd)


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
    assert p2.base_serial == p1.serial and p2.changes == {"s7": {"freq": {"one": {"out": 160.0}}, "amp": {"one": {"out": 0.5}}}}


def test_anonymous_names_follow_the_order_of_calls_under_a_target():
    text = "a = sine()\nout.left = 0.1*sine(freq=1)\nout.left += 0.2*sine(freq=2)\n"
    p1 = parse(text, "x.dmm", previous=EMPTY_PATCH)
    assert p1.neurons["out:left/sine#2"].line == 3
    # (a second `out.left =` is an error: the line that was first now adds)
    text2 = "a = sine()\nout.left = 0.3*sine(freq=5)\n" + text.split("\n", 1)[1].replace("left = 0.1", "left += 0.1")
    p2 = assert_same(text2, p1)
    assert [(n, d.line) for n, d in p2.neurons.items() if n.startswith("out:left/")] == [
        ("out:left/sine#1", 2), ("out:left/sine#2", 3), ("out:left/sine#3", 4)]
    assert p2.rows[("out", "left")] == {("out:left/sine#1", "out"): 0.3, ("out:left/sine#2", "out"): 0.1,
                                        ("out:left/sine#3", "out"): 0.2}
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
    assert new.changes.keys() == {"out"}
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


# ---- inside a statement: sums term by term, rows entry by entry, the engine sent the change -----
def test_a_gain_changed_in_a_long_sum_reuses_the_other_terms_and_records_the_entry():
    p1 = parse(LONG, "l.dmm", previous=EMPTY_PATCH)
    text = LONG.replace("0.05*s4 +", "0.07*s4 +").replace(" + s1/4", "")
    p2 = assert_same(text, p1, reused=True)
    t1, t2 = p1.sums["out.left"][2], p2.sums["out.left"][2]
    assert t2.keys() == t1.keys() - {"s1/4", "0.05*s4"} | {"0.07*s4"}
    assert all(t2[k] is t1[k] for k in t2 if k != "0.07*s4")  # read once, in p1
    assert p2.rows[("out", "left")][("s4", "out")] == 0.07 + 0.5  # and `s4.out*0.5`
    assert p2.rows[("out", "left")][("s1", "out")] == 0.02 + 1.0  # `0.02*s1` and `s1` remain
    assert p1.rows[("out", "left")][("s1", "out")] == 0.02 + 0.25 + 1.0
    assert p2.entry_changes == {("out", "left"): {("s4", "out"): 0.07 + 0.5, ("s1", "out"): 0.02 + 1.0}}
    assert p2.changes.keys() == {"out"} and p2.record[3] == {} and p2.decl_changes == {}


def test_a_sum_edit_with_an_error_gives_the_fresh_parse_s_error():
    p1 = parse(LONG, "l.dmm", previous=EMPTY_PATCH)
    e = assert_same(LONG.replace("0.05*s4 +", "0.05*s4*s5 +"), p1)
    assert str(e).startswith("live.dmm:32:") and "a product of two streams is not linear" in str(e)
    e = assert_same(LONG.replace("- 0.25 * s5", "- 0.25 * s55"), p1)
    assert "undeclared name 's55'" in str(e)
    e = assert_same(LONG.replace(" + .5 +", " + 1e308*1e308 +"), p1)
    assert "not a finite number" in str(e)


def test_a_patch_change_is_what_the_engine_unpickles():
    p1 = parse(GENERATED, "g.dmm", previous=EMPTY_PATCH)
    p2 = parse(GENERATED.replace("0.03*s4", "0.05*s4"), "g.dmm", previous=p1)
    sent = change_of(p2)
    assert (sent.set_rows, sent.set_dflt, sent.decl, sent.moved, sent.order, sent.dropped) == ({}, {}, {}, {}, None, [])
    assert sent.edits == {("out", "left"): {("s4", "out"): 0.05}, ("out", "right"): {("s4", "out"): 0.05}}
    assert len(pickle.dumps(sent)) < len(pickle.dumps(p2)) / 10
    assert change_of(p1) is p1  # a first parse has no base: the Patch itself
    engine = PatchSession(dmmlive.Machine(block=64), "g.dmm")
    engine.apply(GENERATED, now=True, parsed=pickle.loads(pickle.dumps(p1)))
    got = engine.apply("", parsed=pickle.loads(pickle.dumps(sent)))  # the text is not read
    assert got == p2 and got.serial == p2.serial
    p3 = parse(GENERATED.replace("0.03*s5", "0.05*s5"), "g.dmm", previous=p1)  # not what it holds
    text3 = GENERATED.replace("0.03*s5", "0.05*s5")
    got = engine.apply(text3, parsed=pickle.loads(pickle.dumps(change_of(p3))))  # parsed there
    assert got == parse(text3, "g.dmm") and got.base_serial == p2.serial


def _session_with_edits(text):
    m = dmmlive.Machine(block=64)
    s = PatchSession(m, "g.dmm")
    s.apply(text, now=True)
    m.tick()
    sent = []
    m.osc_edit = real = m.edit
    m.edit = lambda delta, declare, **kw: (sent.append((delta, declare)), real(delta, declare, **kw))
    return m, s, sent


def test_what_the_last_apply_left_is_walked_only_where_it_changed():
    m, s, sent = _session_with_edits(GENERATED)
    s.apply(GENERATED.replace("0.03*s4", "0.05*s4"))
    m.tick()
    assert sent[-1] == ({"out": {"left": {"s4": {"out": 0.05 - 0.03}}, "right": {"s4": {"out": 0.05 - 0.03}}}}, {})
    m.apply({"s3": {"freq": {"one": {"out": 5.0}}}})  # as OSC: the next save puts it back
    s.apply(GENERATED.replace("0.03*s4", "0.05*s4").replace("0.03*s7", "0.04*s7"))
    assert sent[-1] == ({"s3": {"freq": {"one": {"out": -5.0}}},
                         "out": {"left": {"s7": {"out": 0.04 - 0.03}}, "right": {"s7": {"out": 0.04 - 0.03}}}}, {})
    m.tick()
    s.apply(GENERATED.replace("0.03*s7", "0.04*s7").replace("s9 = sine(freq=173,", "s9 = saw(freq=173,"))
    assert sent[-1] == ({"out": {"left": {"s4": {"out": 0.03 - 0.05}}, "right": {"s4": {"out": 0.03 - 0.05}}}},
                        {"s9": ("saw", {})})


def _osc_write(m, rnd):
    """A weight written as OSC or the network would: an entry of W, or a new one from one."""
    W = m.pending_matrix()
    rows = [(d, p, src, o) for d, ins in W.items() if d != "self" and isinstance(ins, dict)
            for p, srcs in ins.items() if isinstance(srcs, dict)
            for src, outs in srcs.items() if isinstance(outs, dict) for o in outs]
    if not rows:
        return
    d, p, src, o = rnd.choice(rows)
    if rnd.random() < 0.3:
        src, o = "one", "out"
    try:
        (m.apply if rnd.random() < 0.5 else m.osc_edit)({d: {p: {src: {o: rnd.choice([0.1, -0.3, 1e-9])}}}})
    except DmmError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_session_diffs_equal_full_diffs_as_the_engine_runs_them(rnd):
    """A PatchSession fed PatchChanges (as the engine is), with OSC and network writes and ticks
    between saves: each edit it sends is diff_full's for the W and declarations of that moment."""
    text = rnd.choice(STARTS)
    first = outcome(text, EMPTY_PATCH)
    if isinstance(first, PatchError):
        return
    m, s, sent = _session_with_edits("")
    try:
        s.apply(text, parsed=pickle.loads(pickle.dumps(first)))
    except DmmError:
        return
    app_last = first
    for _ in range(rnd.randrange(1, 7)):
        for _ in range(rnd.choice([0, 0, 1, 2])):
            _osc_write(m, rnd)
        for _ in range(rnd.choice([0, 1, 1, 3])):
            m.tick()
        new_text = term_edit(text, rnd) if rnd.random() < 0.5 else edit(text, rnd)
        new = outcome(new_text, app_last)
        if isinstance(new, PatchError):
            continue
        # as the app sends it: the changes against its last Patch, or the Patch itself where
        # the text was read whole (a piece the incremental parse leaves to the full one)
        arrived = pickle.loads(pickle.dumps(change_of(new)))
        if isinstance(arrived, PatchChange):
            arrived = arrived.patch(s.patch)
        assert arrived is not None and arrived == new
        want = diff_full(m.pending_matrix(), running_decls(m), s.patch, arrived)
        n = len(sent)
        try:
            s.apply(new_text, parsed=arrived)
        except DmmError:
            continue
        assert len(sent) == n + 1 and sent[-1] == want
        app_last, text = new, new_text


def test_ranges_are_checked_where_rows_or_declarations_changed_with_the_fresh_parse_s_error():
    text = ("s = sine(freq=3)\nd = delay(s, time=0.5, max=1)\nf = lowpass(d, cutoff=300)\n"
            "g = lowpass(s, cutoff=400)\nout = f + g\n")
    p1 = parse(text, "live.dmm", previous=EMPTY_PATCH)
    # the time row is as it was; the declaration's max makes it out of range
    bad = assert_same(text.replace("max=1", "max=0.25"), p1)
    assert isinstance(bad, PatchError) and (bad.line, bad.col) == (2, 19) and "time" in bad.message
    # two constants out of range in one save: the first row's error, as a fresh parse words it
    two = text.replace("cutoff=400", "cutoff=-4").replace("cutoff=300", "cutoff=-3")
    bad = assert_same(two, p1)
    assert isinstance(bad, PatchError) and bad.line == 3
    ok = assert_same(text.replace("cutoff=400", "cutoff=500"), p1, reused=True)  # and a good one passes
    assert ok.rows[("g", "cutoff")] == {("one", "out"): 500.0}


def test_a_declaration_changed_under_a_named_sum_reaches_the_sum_s_readers():
    text = "a = sine(freq=2)\nb = saw(freq=3)\nmix = a + b\nf = lowpass(mix, cutoff=300)\nout = f\n"
    p1 = parse(text, "x.dmm", previous=EMPTY_PATCH)
    p2 = assert_same(text.replace("a = sine(freq=2)", "a = saw(freq=2)"), p1, reused=True)
    assert p2.rows[("f", "in")] == {("mix", "out"): 1.0}
    bad = assert_same(text.replace("a = sine(freq=2)", 'a = const(value={"x": 1.0})'), p2)
    assert isinstance(bad, PatchError)
