"""Edits compose: patch texts, OSC commands and network-written deltas, applied with any
number of ticks between them (none included), end in the W that the same changes give
applied one tick apart; applying the same text twice is the same as applying it once.

A text (and an OSC `set` or `value`) makes rows equal to a target: it is diffed against W
with every queued edit in (`Machine.pending_matrix`), so a second change before the next
tick builds on the first instead of counting it again, and Self adds the queued edits one
at a time, so the floats come out the same to the bit. Network-written deltas and OSC
`add` are additive: they commute. (A network delta and an absolute set landing in the same
tick on the same row cannot see each other; the sequences keep them on separate rows.)
"""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from dmmlive import Machine, PatchSession, vv
from dmmlive.control import Controller
from dmmlive.core.plan import entries
from dmmlive.core.registry import STANDARD
from dmmlive.patch import PatchError, parse

ROOT = Path(__file__).resolve().parents[1]
SOUND = ["bass", "drone", "drums", "schedules", "bell", "wave"]  # the example patches without images
# wave.dmm owns Self's input row, so its text takes the test's network link out of it: a
# network delta is absorbed or not by when the text lands. The mixed sequences leave it out.
MIXED = [n for n in SOUND if n != "wave"]
TEXTS = {n: (ROOT / "patches" / f"{n}.dmm").read_text() for n in SOUND}
QUEUES: dict = {}
DYADIC = [k / 8 for k in range(-16, 17)]  # additive changes of these commute to the bit
TYPES = STANDARD.copy()  # the standard types and test_net (the machines here are made with it)


@TYPES.neuron_type("test_net", outputs={"delta": "vvalue"}, args={"key": ""})
def _net(inputs, state):
    """Test type: emits, once each, the ΔW a test queued for it (a network-written delta)."""
    q = QUEUES.get(state["args"]["key"])
    return {"delta": q.pop(0) if q else {}}


def machine(schedule, key):
    m = Machine(schedule=schedule, block=64, types=TYPES)
    session = PatchSession(m, "patch.dmm")
    ctl = Controller(m, session=session)
    m.add("z", "sine")                 # rows no patch owns: OSC `add` and the network write them
    m.add("net", "test_net", key=key)
    m.connect("self.delta", "net.delta", 1.0)
    QUEUES[key] = []
    return m, session, ctl


def apply(m, session, ctl, change, key):
    kind, arg = change
    if kind == "text":
        session.apply(arg)
    elif kind == "code":
        assert ctl.execute("code", [arg]) == ok("code", [arg])
    elif kind == "net":
        QUEUES[key].append(arg)
    else:
        assert ctl.execute(kind, arg) == ok(kind, arg), (kind, arg)


def final(m):
    m.tick(4)  # every edit lands
    while m.gliding:  # every glide ends (drone.dmm fades over 0.3 s)
        m.tick()
    m.tick(2)  # neurons faded out retire
    return m.matrix, m.neurons


def play(changes, gaps, schedule, key):
    m, session, ctl = machine(schedule, key)
    for change, gap in zip(changes, gaps):
        apply(m, session, ctl, change, key)
        m.tick(gap)
    return final(m)


def assert_same_matrix(a, b):
    """The same entries with the same weights, to the bit."""
    ea = {e[:4]: e[4] for e in entries(a)}
    eb = {e[:4]: e[4] for e in entries(b)}
    assert ea.keys() == eb.keys()
    for k in ea:
        assert ea[k] == eb[k], k


def mutate(text, data):
    """The text with one number replaced (a weight, a setting or a construction argument)."""
    spots = [m for m in re.finditer(r"(?<![\w.])\d+(\.\d+)?", text)]
    m = data.draw(st.sampled_from(spots), label="number")
    out = text[:m.start()] + repr(data.draw(st.sampled_from(DYADIC[17:]), label="to")) + text[m.end():]
    try:
        parse(out, types=TYPES)
    except PatchError:  # a constant out of its port's range (a reverb size past 1): not a patch
        assume(False)
    return out


additive = st.one_of(
    st.tuples(st.just("add"), st.tuples(st.sampled_from(["z.freq", "z.amp"]), st.just("one.out"),
                                        st.sampled_from(DYADIC))).map(lambda t: (t[0], list(t[1]))),
    st.builds(lambda port, w: ("net", {"z": {port: {"one": {"out": w}}}}),
              st.sampled_from(["freq", "amp"]), st.sampled_from(DYADIC)),
)


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@settings(max_examples=30, deadline=None)
@given(changes=st.lists(additive, min_size=1, max_size=12), data=st.data())
def test_additive_changes_compose_exactly(schedule, changes, data):
    gaps = data.draw(st.lists(st.integers(0, 2), min_size=len(changes), max_size=len(changes)), label="gaps")
    a = play(changes, gaps, schedule, "a")
    b = play(changes, [1] * len(changes), schedule, "b")
    assert_same_matrix(a[0], b[0])
    assert a[1] == b[1]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_texts_osc_and_network_deltas_compose(data):
    schedule = data.draw(st.sampled_from(["ordered", "synchronous"]), label="schedule")
    changes = []
    for _ in range(data.draw(st.integers(1, 7), label="n")):
        kind = data.draw(st.sampled_from(["text", "text", "code", "mutated", "set", "value", "additive"]),
                         label="kind")
        if kind in ("text", "code"):
            changes.append((kind, TEXTS[data.draw(st.sampled_from(MIXED), label="patch")]))
        elif kind == "mutated":
            changes.append(("text", mutate(TEXTS[data.draw(st.sampled_from(MIXED), label="patch")], data)))
        elif kind == "additive":
            changes.append(data.draw(additive, label="additive"))
        else:  # an absolute set on a row the example patches own
            ref = data.draw(st.sampled_from(["out.left", "out.right"]), label="dst")
            w = data.draw(st.sampled_from(DYADIC), label="w")
            changes.append((kind, [ref, w] if kind == "value" else [ref, "one.out", w]))
    gaps = data.draw(st.lists(st.integers(0, 2), min_size=len(changes), max_size=len(changes)), label="gaps")
    a = play(changes, gaps, schedule, "a")
    b = play(changes, [1] * len(changes), schedule, "b")
    assert a[1] == b[1]
    assert_same_matrix(a[0], b[0])


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@pytest.mark.parametrize("name", SOUND)
def test_a_text_applied_twice_is_applied_once(name, schedule):
    text = TEXTS[name].replace("0.", "0.1", 1)
    results = []
    for twice in (False, True):
        m, session, ctl = machine(schedule, f"twice{twice}")
        session.apply(TEXTS["drone"])
        m.tick(3)
        session.apply(text)
        if twice:
            session.apply(text)
        results.append(final(m))
    assert results[0][1] == results[1][1]
    assert_same_matrix(results[0][0], results[1][0])


def test_two_saves_between_two_ticks_count_the_change_once():
    m, session, _ = machine("ordered", "t")
    session.apply("a = sine(freq=220)\nout = 0.1*a\n")
    m.tick(2)
    session.apply("a = sine(freq=330)\nout = 0.1*a\n")
    session.apply("a = sine(freq=330)\nout = 0.1*a\n")
    m.tick(2)
    assert vv.path(m.matrix, "a", "freq", "one", "out") == 330.0


def test_a_set_and_a_save_in_one_tick_compose():
    m, session, ctl = machine("synchronous", "s")
    session.apply("a = sine(freq=220)\nout = 0.1*a\n")
    m.tick(3)
    ctl.execute("set", ["a.phase", "one.out", 0.5])  # a row the patch leaves alone (no default)
    session.apply("a = sine(freq=440)\nout = 0.1*a\n")
    ctl.execute("set", ["a.freq", "one.out", 110.0])  # a row the patch owns, set after it
    m.tick(80)
    assert vv.path(m.matrix, "a", "phase", "one", "out") == 0.5
    assert vv.path(m.matrix, "a", "freq", "one", "out") == 110.0
    assert np.isfinite(m.sound()).all()


def ok(op, args):
    """The reply to a command that succeeded: /dmm/ok with its address and arguments (none
    for code); a knob is not answered."""
    from dmmlive import commands
    if op == "knob":
        return []
    return [("/dmm/ok", [commands.address_of(op, args)] + ([] if op == "code" else list(args)))]
