"""The Machine API: schedules, the active set, the compiled plan, and bad input."""
import copy

import numpy as np
import pytest

import dmmlive
from dmmlive import (BadArgument, DmmError, DuplicateName, KindMismatch, Machine, MalformedDelta, UnknownNeuron,
                     UnknownPort, UnknownType, vv)
from dmmlive.core.registry import STANDARD

TYPES = STANDARD.copy()  # the standard types and this module's test types (their machines use it)
CALLS = []


@TYPES.neuron_type("test_gain", kind="audio", inputs={"in": 0.0, "g": 1.0}, batched=True, state={"calls": 0.0})
def _gain(state, rate, **x):
    """Test type: out = g * in; counts its calls."""
    CALLS.append(state.n)
    state.calls += 1
    return x["g"] * x["in"]


@TYPES.neuron_type("test_count", kind="number", inputs={"in": 0.0}, batched=True, state={"c": 0.0})
def _count(state, rate, **x):
    """Test type: a number neuron that outputs in + how many times it fired."""
    state.c += 1
    return x["in"] + state.c


def chain(schedule):
    m = Machine(schedule=schedule)
    m.add("c", "const", value={"v": 1.0})
    for k in (1, 2, 3):
        m.add(f"i{k}", "identity")
    m.connect("i1.x", "c.out")
    m.connect("i2.x", "i1.x")
    m.connect("i3.x", "i2.x")
    return m


def test_feed_forward_chain_adds_no_delay_when_ordered():
    m = chain("ordered")
    m.tick()
    assert m.output("i3", "x") == {"v": 1.0}


def test_every_link_adds_a_tick_when_synchronous():
    m = chain("synchronous")
    seen = []
    for _ in range(5):
        m.tick()
        seen.append(m.output("i3", "x"))
    assert seen == [{}, {}, {}, {"v": 1.0}, {"v": 1.0}]


@pytest.mark.parametrize("schedule,first", [("ordered", 1.0), ("synchronous", 0.0)])
def test_a_cycle_adds_exactly_one_tick(schedule, first):
    m = Machine(schedule=schedule)
    m.add("k", "const", value={"step": 1.0})
    m.add("acc", "accum")
    m.connect("acc.accum", "acc.single")
    m.connect("acc.delta", "k.out")
    for t in range(1, 6):
        m.tick()
        assert m.output("acc", "single") == vv.number(0) | ({"step": t - 1 + first} if t - 1 + first else {})


def test_ordered_two_neuron_cycle_reads_the_previous_tick():
    m = Machine(schedule="ordered", types=TYPES)
    m.add("a", "test_count")
    m.add("b", "test_count")
    m.connect("b.in", "a")
    m.connect("a.in", "b")   # cycle a -> b -> a: one of the links reads last tick
    vals = []
    for _ in range(4):
        m.tick()
        vals.append((m.output("a"), m.output("b")))
    # depth first from the sinks over inputs, the cycle is cut at the link that closes it:
    # starting at a, b is reached through a's input, so b reads a's previous output
    a, b = 0.0, 0.0
    for t, (ga, gb) in enumerate(vals, 1):
        b = a + t
        a = b + t
        assert (ga, gb) == (a, b)


def test_up_movement_is_one_call_per_type_and_level():
    m = Machine(schedule="synchronous", block=16, types=TYPES)
    for i in range(10):
        m.add(f"g{i}", "test_gain")
        m.connect(f"g{i}.in", "one.out", float(i))
    CALLS.clear()
    m.tick(5)
    assert len(CALLS) == 5
    np.testing.assert_allclose(m.output("g7"), np.full(16, 7.0))
    m = Machine(schedule="ordered", block=16, types=TYPES)
    for i in range(10):
        m.add(f"g{i}", "test_gain")
        m.connect(f"g{i}.in", "one.out" if i < 5 else f"g{i - 5}", 2.0)
    CALLS.clear()
    m.tick(3)
    assert len(CALLS) == 6  # two levels: g0..g4, then g5..g9
    np.testing.assert_allclose(m.output("g8"), np.full(16, 4.0))


def test_plan_compiles_only_when_w_changes():
    m = chain("synchronous")
    m.tick()
    n = m.compiles
    m.tick(20)
    assert m.compiles == n
    m.connect("i3.x", "i1.x", 0.5)
    m.tick(3)
    assert m.compiles == n + 1
    m.edit({"i3": {"x": {"i1": {"x": 0.25}}}})
    m.tick(4)  # a weight W has already changes in place: no recompile
    assert m.compiles == n + 1
    assert vv.path(m.matrix, "i3", "x", "i1", "x") == 0.75
    m.edit({"i3": {"x": {"c": {"out": 0.25}}}})
    m.tick(4)  # a new link: the plan's structure changes
    assert m.compiles == n + 2


def test_down_movement_matches_a_dense_numpy_reference():
    rng = np.random.default_rng(3)
    m = Machine(schedule="synchronous", block=8, types=TYPES)
    n = 40
    names = [f"g{i}" for i in range(n)]
    for nm in names:
        m.add(nm, "test_gain")
        m.connect(f"{nm}.g", "one.out", 0.5)
    W = np.where(rng.random((n, n)) < 0.1, rng.normal(size=(n, n)), 0.0)
    for i in range(n):
        for j in range(n):
            if W[i, j]:
                m.connect(f"{names[i]}.in", names[j], W[i, j])
        m.connect(f"{names[i]}.in", "one.out", float(i % 3))
    m.tick(3)
    Y = np.stack([m.output(nm) for nm in names])
    m.tick()
    X = np.stack([m.input(nm) for nm in names])
    ref = W @ Y + (np.arange(n) % 3)[:, None]
    np.testing.assert_allclose(X, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.stack([m.output(nm) for nm in names]), 0.5 * ref, rtol=1e-5, atol=1e-5)


def test_number_feeds_audio_by_broadcast():
    m = Machine(block=4, types=TYPES)
    m.add("n", "test_count")
    m.add("g", "test_gain")
    m.connect("g.in", "n", 2.0)
    m.tick(3)
    np.testing.assert_array_equal(m.input("g", "in"), np.full(4, 6.0, np.float32))


def test_retired_neuron_frees_its_state_and_comes_back_fresh():
    m = Machine(schedule="synchronous")
    m.add("c", "timer")
    m.connect("c.timer", "c.timer")
    m.tick(5)
    assert m.output("c", "timer") == {":number": 5.0}
    m.connect("c.timer", "c.timer", 0.0)
    m.tick()
    assert "c" not in m.neurons and "c" not in m.active
    m.add("c", "timer")
    m.connect("c.timer", "c.timer")
    m.tick(2)
    assert m.output("c", "timer") == {":number": 2.0}


def test_kept_neurons_keep_their_state_across_recompiles():
    m = Machine(block=4, types=TYPES)
    m.add("a", "test_count")
    m.add("b", "test_count")
    m.connect("b.in", "a")
    m.tick(3)
    m.add("z", "test_count")   # a recompile that reorders rows
    m.connect("z.in", "b")
    m.tick()
    assert m.output("a") == 4.0 and m.output("b") == 8.0 and m.output("z") == 9.0


def test_nan_from_a_neuron_is_muted_and_reported():
    # a neuron producing NaN at run time: inf * 0 inside the function
    m = Machine(block=4, types=TYPES)
    m.add("a", "test_gain")
    m.add("b", "test_gain")
    m.connect("a.in", "one.out", 1e38)
    m.connect("a.g", "one.out", 1e38)   # overflows to inf in float32
    m.connect("b.in", "a")
    m.tick(3)
    assert np.all(m.output("a") == 0.0) and np.all(np.isfinite(m.input("b")))
    assert any("a (test_gain) output out went non-finite" in r for r in m.reports)


# ---- bad input ----------------------------------------------------------------------
def snapshot(m):
    return (m.matrix, dict(m.neurons), len(m._queue), copy.deepcopy(m._Yv), m.t)


def test_errors_name_what_is_wrong():
    m = Machine(types=TYPES)
    m.add("acc", "accum")
    m.add("g", "test_gain")
    with pytest.raises(UnknownType, match=r"unknown neuron type 'identiti' \(did you mean 'identity'\?\)"):
        m.add("x", "identiti")
    with pytest.raises(UnknownPort, match=r"'acc' \(accum\) has no input port 'delt' \(did you mean 'delta'\?\); "
                                         r"inputs: accum, delta"):
        m.connect("acc.delt", "acc.single")
    with pytest.raises(KindMismatch, match=r"kind mismatch: g.in is audio but acc.single is vvalue"):
        m.connect("g.in", "acc.single")
    with pytest.raises(KindMismatch, match=r"out.left is audio but acc.single is vvalue"):
        m.edit({"out": {"left": {"acc": {"single": 1.0}}}})
    with pytest.raises(DuplicateName, match=r"neuron 'acc' is declared already"):
        m.add("acc", "timer")
    with pytest.raises(UnknownNeuron, match=r"unknown neuron 'ac' \(did you mean 'acc'\?\)"):
        m.connect("ac.accum", "acc.single")
    with pytest.raises(MalformedDelta, match=r"depth 3"):
        m.edit({"acc": {"accum": {"acc": 1.0}}})
    with pytest.raises(MalformedDelta, match=r"not a finite number"):
        m.edit({"acc": {"accum": {"acc": {"single": float("nan")}}}})
    with pytest.raises(MalformedDelta, match=r"'x'"):
        m.edit({"acc": {"accum": {"acc": {"single": "x"}}}})
    assert all(issubclass(e, DmmError) for e in (UnknownType, UnknownPort, KindMismatch, DuplicateName,
                                                 MalformedDelta, UnknownNeuron))


def test_a_rejected_edit_leaves_the_machine_exactly_as_it_was():
    def build():
        m = ex_machine()
        m.tick(3)
        return m

    def ex_machine():
        m = Machine(schedule="synchronous")
        m.add("k", "const", value={"step": 1.0})
        m.add("acc", "accum")
        m.connect("acc.accum", "acc.single")
        m.connect("acc.delta", "k.out")
        return m

    m, twin = build(), build()
    before = snapshot(m)
    bad = [
        dict(delta={"acc": {"delta": {"new": {"x": 1.0}}}, "bad": {"x": {"acc": {"single": 1.0}}}},
             declare={"new": "identity"}),                      # second part names an unknown neuron
        dict(delta={"acc": {"delta": {"n2": {"out": 1.0}}}}, declare={"n2": "const", "n3": "nosuch"}),
        dict(delta={"acc": {"delta": {"k": {"out": 1.0}}}}, declare={"acc": "timer"}),
        dict(delta={"acc": {"delta": {"k": {"nope": 1.0}}}}),
        dict(delta=[1, 2]),
    ]
    for b in bad:
        with pytest.raises(DmmError):
            m.edit(**b)
        assert snapshot(m) == before
    with pytest.raises(DmmError):
        m.connect("acc.delta", "k.out", float("inf"))
    with pytest.raises(DmmError):
        m.set_output("acc", "single", {"a": "x"})
    assert snapshot(m) == before
    for _ in range(5):
        m.tick(), twin.tick()
        assert m.output("acc", "single") == twin.output("acc", "single")
    assert m.matrix == twin.matrix


def test_machine_arguments_are_checked():
    with pytest.raises(DmmError, match="schedule must be one of"):
        Machine(schedule="async")
    with pytest.raises(DmmError, match="has no argument 'vlaue'"):
        Machine().add("c", "const", vlaue=1)


def test_invalid_entries_written_into_w_by_the_network_are_ignored_and_reported():
    m = Machine(schedule="synchronous")
    m.add("u", "identity")
    m.connect("u.x", "u.x")
    m.set_output("u", "x", {"self": {"delta": {"ghost": {"x": 1.0}}}})
    m.connect("self.delta", "u.x")
    m.tick(4)
    assert vv.path(m.matrix, "self", "delta", "ghost", "x") > 0   # W holds it (Self just adds)
    assert any("self.delta.ghost.x ignored: no neuron 'ghost'" in r for r in m.reports)


def test_research_types():
    m = Machine(schedule="synchronous")
    m.add("a", "const", value={"p": 3.0, "q": -5.0})
    m.add("b", "const", value={"p": 2.0, "r": 1.0})
    for n, t in [("mx", "max_norm"), ("d", "dot"), ("cmp", "compare")]:
        m.add(n, t)
    m.connect("mx.dict", "a.out")
    m.connect("d.dict-1", "a.out")
    m.connect("d.dict-2", "b.out")
    m.connect("cmp.dict-1", "mx.norm")
    m.connect("cmp.dict-2", "d.dot")
    m.tick(3)
    assert m.output("mx", "norm") == {":number": 5.0}
    assert m.output("d", "dot") == {":number": 4.0}   # 6, clipped to [-4, 4] as DMM Lite's
    assert m.output("cmp", "true") == {":number": 1.0} and m.output("cmp", "false") == {}


def test_types_have_docs_and_ports():
    for name in ("identity", "accum", "max_norm", "dot", "compare", "const", "timer", "self", "one", "edits", "out"):
        t = dmmlive.TYPES[name]
        assert t.doc.strip(), name
    assert dmmlive.TYPES["identity"].variadic == "vvalue"
    assert list(dmmlive.TYPES["compare"].outputs) == ["true", "false"]


def test_a_neuron_name_follows_one_rule_from_outside_and_from_the_network():
    # ':' starts W's sections (':declare'): no neuron may be called so, from any path
    m = Machine()
    for bad in (":x", ":declare", "a.b", "a b", ""):
        with pytest.raises(BadArgument, match="not starting with ':'"):
            m.edit(declare={bad: "sine"})
        with pytest.raises(BadArgument, match="not starting with ':'"):
            m.add(bad, "sine")
    m.edit(declare={"out:left/sine#1": "sine"})  # (a patch's anonymous names hold ':' inside)
    m.tick(3)
    assert "out:left/sine#1" in m.neurons
