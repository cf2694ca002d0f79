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
