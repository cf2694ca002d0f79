"""V-values of one shape are summed as flat lists of leaves (`vv.flat_sum`): the same to
the bit, and in the same key order, as the dict walk. A twin machine with the flat path
off is the reference, over random networks whose V-values change shape now and then."""
import json

from hypothesis import given, settings, strategies as st

from dmmlive import Machine, vv
from dmmlive.core.registry import STANDARD

TYPES = STANDARD.copy()


@TYPES.neuron_type("test_flat_shift", inputs={"x": "vvalue"}, outputs={"x": "vvalue"}, args={"every": 3})
def _shift(inputs, state):
    """Test type: its input, scaled by 0.9, with a key added or dropped every few ticks
    (a V-value whose shape changes)."""
    state["t"] = state.get("t", 0) + 1
    x = vv.scale(inputs.get("x", {}), 0.9)
    if state["t"] % state["args"]["every"] == 0:
        x = vv.add(x, {f"new{state['t'] % 5}": 1.0})
    if state["t"] % (2 * state["args"]["every"]) == 1 and x:
        x = {k: v for k, v in list(x.items())[1:]}
    return {"x": x}


def exact(v):
    """A V-value with its key order, as text: equal only if equal to the bit, in order."""
    return json.dumps(v, allow_nan=True)


def machines(data):
    n = data.draw(st.integers(3, 9), label="n")
    schedule = data.draw(st.sampled_from(["synchronous", "ordered"]), label="schedule")
    ms = [Machine(schedule=schedule, types=TYPES) for _ in range(2)]
    leaves = st.floats(-4, 4, allow_nan=False).filter(lambda x: x != 0)
    for i in range(n):
        kind = data.draw(st.sampled_from(["identity", "identity", "shift", "accum"]), label="type")
        start = {f"k{j}": data.draw(leaves, label="leaf") for j in range(data.draw(st.integers(1, 4), label="w"))}
        if data.draw(st.booleans(), label="nested"):
            start["deep"] = {"a": data.draw(leaves, label="leaf"), "b": {"c": 1.5}}
        every = data.draw(st.integers(2, 4), label="every")
        for m in ms:
            if kind == "identity":
                m.add(f"u{i}", "identity")
                m.set_output(f"u{i}", "x", start)
            elif kind == "shift":
                m.add(f"u{i}", "test_flat_shift", every=every)
                m.set_output(f"u{i}", "x", start)
            else:
                m.add(f"u{i}", "accum")
    ports = {}  # the port each neuron is read at and written from
    for i in range(n):
        t = ms[0].neurons[f"u{i}"]
        ports[i] = ("accum", "single") if t == "accum" else ("x", "x")
    weights = st.sampled_from([0.5, -0.25, 1.0, 0.125, 3.0, -1.0, 1e-300])
    for i in range(n):
        for j in data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4, unique=True), label="srcs"):
            w = data.draw(weights, label="weight")
            for m in ms:
                m.connect(f"u{i}.{ports[i][0]}", f"u{j}.{ports[j][1]}", w)
    return ms, n, ports


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_flat_sums_equal_the_dict_walk_value_for_value(data):
    ms, n, ports = machines(data)
    flat, walk = ms
    walk._vflat = _NoFlat()
    for _ in range(data.draw(st.integers(5, 30), label="ticks")):
        for m in ms:
            m.tick()
        for i in range(n):
            assert exact(flat.input(f"u{i}", ports[i][0])) == exact(walk.input(f"u{i}", ports[i][0]))
            assert exact(flat.output(f"u{i}", ports[i][1])) == exact(walk.output(f"u{i}", ports[i][1]))


class _NoFlat(vv.FlatCache):
    """The dict walk alone: every V-value is taken as one that cannot be summed flat."""

    def get(self, v):
        return (v, None, None, False)


def test_a_network_of_one_shape_takes_the_flat_path():
    m = Machine(schedule="synchronous")
    for i in range(4):
        m.add(f"u{i}", "identity")
        m.set_output(f"u{i}", "x", {"a": 1.0 + i, "b": {"c": 2.0}})
    for i in range(4):
        m.connect(f"u{i}.x", f"u{i}.x", 0.5)
        m.connect(f"u{i}.x", f"u{(i + 1) % 4}.x", 0.25)
    m.tick(3)
    x = m.output("u0", "x")
    assert list(x) == ["a", "b"] and x["b"] == {"c": 2.0 * 0.75 ** 3}
    e = m._vflat.cur
    assert any(entry[1] is not None and entry[3] for entry in e.values())   # flat, clean sums made


def cluster(data):
    """Two machines with one cluster of identity neurons (one shape), the second made to walk."""
    n = data.draw(st.integers(32, 48), label="n")
    keys = ["a", "b", "c"][:data.draw(st.integers(1, 3), label="keys")]
    nested = data.draw(st.booleans(), label="nested")
    leaves = st.sampled_from([0.5, 1.5, 2.0, 0.25, 3.0, 0.75, 1.25] * 3 + [-1.5, -0.75])
    ms = [Machine(schedule="synchronous") for _ in range(2)]
    for i in range(n):
        v = {k: data.draw(leaves, label="leaf") for k in keys}
        if nested:
            v = {"deep": v, "top": data.draw(leaves, label="leaf")}
        for m in ms:
            m.add(f"u{i}", "identity")
            m.set_output(f"u{i}", "x", v)
    # mostly sums that stay clear of zero; now and then one that cancels or overflows
    weights = st.sampled_from([0.5, 0.3, 0.7, 0.25, 1.0, -0.6, 0.45, 0.15] * 4 + [-1.0, -0.5, 1e200])
    for i in range(n):
        for j in data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4, unique=True), label="srcs"):
            w = data.draw(weights, label="w")
            for m in ms:
                m.connect(f"u{i}.x", f"u{j}.x", w)
    ms[1]._vflat = _NoFlat()
    return ms, n


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_cluster_of_identities_runs_as_an_array_value_for_value(data):
    """Over ticks, outside reads, outputs set from outside, weights changed in place, links
    added (a compile), sums that cancel to zero and overflow: the same V-values, to the bit
    and in key order, as the dict walk."""
    (flat, walk), n = cluster(data)
    for _ in range(data.draw(st.integers(3, 25), label="steps")):
        op = data.draw(st.sampled_from(["tick", "tick", "tick", "read", "set", "bump", "link"]), label="op")
        i = data.draw(st.integers(0, n - 1), label="i")
        if op == "set":
            v = {"a": data.draw(st.sampled_from([1.0, -2.0]), label="v")}
            for m in (flat, walk):
                m.set_output(f"u{i}", "x", v)
        elif op == "bump":
            j = data.draw(st.integers(0, n - 1), label="j")
            for m in (flat, walk):
                if vv.path(m.matrix, f"u{i}", "x", f"u{j}", "x"):
                    m.edit(delta={f"u{i}": {"x": {f"u{j}": {"x": 0.125}}}})
        elif op == "link":
            j = data.draw(st.integers(0, n - 1), label="j")
            for m in (flat, walk):
                m.connect(f"u{i}.x", f"u{j}.x", -0.5)
        elif op == "read":
            assert exact(flat.output(f"u{i}", "x")) == exact(walk.output(f"u{i}", "x"))
        else:
            for m in (flat, walk):
                m.tick()
    for k in range(n):
        assert exact(flat.output(f"u{k}", "x")) == exact(walk.output(f"u{k}", "x")), k
        assert exact(flat.input(f"u{k}", "x")) == exact(walk.input(f"u{k}", "x")), k


def ring(n: int = 40) -> Machine:
    """n identities in a ring, each keeping half of its V-value and passing a quarter on
    (one shape: a cluster the array program takes)."""
    m = Machine(schedule="synchronous")
    for i in range(n):
        m.add(f"u{i}", "identity")
        m.set_output(f"u{i}", "x", {"a": 1.0 + i, "b": 2.0})
    for i in range(n):
        m.connect(f"u{i}.x", f"u{i}.x", 0.5)
        m.connect(f"u{i}.x", f"u{(i + 1) % n}.x", 0.25)
    return m


def test_the_array_program_takes_a_cluster_and_ends_where_it_must():
    m = ring()
    m.tick(3)
    assert m._flatv is not None and len(m._flatv.units) == 40   # found, and running
    x = m.output("u0", "x")                                      # read: made a dict, still running
    assert list(x) == ["a", "b"] and m._flatv is not None
    m.connect("u0.x", "u5.x", 0.1)                               # a new link: a compile ends it
    m.tick()
    assert m._flatv is None
    m.tick(20)
    assert m._flatv is not None                                  # found again
